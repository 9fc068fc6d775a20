//! What the index knows about a site's appliances for the fleet view: per chain the
//! number of records, the last sequence, log index and appliance time, the completeness
//! alarms, the steps back of the appliance clock between consecutive records, and every
//! key from the log's key records. Check-ins are not log records; the
//! server joins them in from its own database.

use rusqlite::{params, Row};
use serde::Serialize;

use crate::sql::stored_to_u64;
use crate::{IndexError, QueryIndex};

/// The index's facts about one appliance chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChainFacts {
    pub records: u64,
    pub last_sequence: Option<u64>,
    pub last_record_index: Option<u64>,
    pub last_record_time_ms: Option<u64>,
    pub completeness_alarms: u64,
}

/// One appliance key from the log's key records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRow {
    pub key_id: String,
    pub public_key: String,
    /// `enrolment` or `rotation`.
    pub introduced_by: String,
    pub introduced_at_index: u64,
    pub ended_at_index: Option<u64>,
    /// `rotated` or `revoked:<reason>`.
    pub end_reason: Option<String>,
    pub replaced_by: Option<String>,
}

/// A sequence number that did not follow the chain's last one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompletenessAlarm {
    pub index: u64,
    pub expected_sequence: u64,
    pub sequence: u64,
    /// `gap` (sequence numbers skipped) or `out_of_order` (repeated or lower).
    pub kind: &'static str,
}

/// A step back of an appliance's clock larger than this between two consecutive records
/// of its chain is reported: NTP corrections are seconds, a clock reset or an appliance
/// restored with an old clock is hours.
pub const CLOCK_STEP_BACK_MS: u64 = 600_000;
/// How many of a chain's latest records the clock check reads (bounded work per view).
pub const CLOCK_CHECK_RECORDS: usize = 10_000;

/// A record whose appliance time is more than [`CLOCK_STEP_BACK_MS`] before that of the
/// chain's previous record: the appliance's clock went back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockStep {
    pub index: u64,
    pub sequence: u64,
    pub time_ms: u64,
    pub previous_time_ms: u64,
}

impl QueryIndex {
    /// The steps back of one chain's appliance clock among its latest
    /// [`CLOCK_CHECK_RECORDS`] records, newest first (at most `limit`).
    pub fn clock_steps_back(
        &self,
        site: &str,
        appliance: &str,
        limit: usize,
    ) -> Result<Vec<ClockStep>, IndexError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT idx, seq, time_ms, prev FROM (
                 SELECT idx, seq, time_ms, LAG(time_ms) OVER (ORDER BY seq) AS prev
                 FROM (SELECT idx, seq, time_ms FROM records WHERE site = ?1 AND appliance = ?2
                       ORDER BY seq DESC LIMIT ?3))
             WHERE prev IS NOT NULL AND prev - time_ms > ?4
             ORDER BY seq DESC LIMIT ?5",
        )?;
        let rows = stmt
            .query_map(
                params![
                    site,
                    appliance,
                    CLOCK_CHECK_RECORDS as i64,
                    CLOCK_STEP_BACK_MS as i64,
                    limit as i64
                ],
                |r| {
                    Ok(ClockStep {
                        index: stored_to_u64(r.get(0)?),
                        sequence: stored_to_u64(r.get(1)?),
                        time_ms: stored_to_u64(r.get(2)?),
                        previous_time_ms: stored_to_u64(r.get(3)?),
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Every site the index knows: sites with logged records or enrolled keys, sorted.
    pub fn sites(&self) -> Result<Vec<String>, IndexError> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached("SELECT site FROM appliances UNION SELECT site FROM keys ORDER BY 1")?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Facts of every indexed chain of `site`: (appliance id, facts).
    pub fn site_chains(&self, site: &str) -> Result<Vec<(String, ChainFacts)>, IndexError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT a.appliance, a.records, a.last_seq, a.last_idx, a.last_time_ms,
                    (SELECT COUNT(*) FROM chain_alarms c WHERE c.site = a.site AND c.appliance = a.appliance)
             FROM appliances a WHERE a.site = ?1 ORDER BY a.appliance",
        )?;
        let rows = stmt
            .query_map(params![site], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    ChainFacts {
                        records: stored_to_u64(r.get(1)?),
                        last_sequence: Some(stored_to_u64(r.get(2)?)),
                        last_record_index: Some(stored_to_u64(r.get(3)?)),
                        last_record_time_ms: Some(stored_to_u64(r.get(4)?)),
                        completeness_alarms: stored_to_u64(r.get(5)?),
                    },
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The keys of every appliance of `site`: (appliance id, keys oldest first).
    pub fn site_keys(&self, site: &str) -> Result<Vec<(String, KeyRow)>, IndexError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT appliance, key_id, public_key, introduced_by, introduced_idx, ended_idx, end_reason, replaced_by
             FROM keys WHERE site = ?1 ORDER BY appliance, introduced_idx",
        )?;
        let rows = stmt
            .query_map(params![site], |r| {
                Ok((r.get::<_, String>(0)?, key_row(r, 1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The completeness alarms of one chain, in log order (at most `limit`).
    pub fn chain_alarms(
        &self,
        site: &str,
        appliance: &str,
        limit: usize,
    ) -> Result<Vec<CompletenessAlarm>, IndexError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT idx, expected_seq, seq FROM chain_alarms WHERE site = ?1 AND appliance = ?2
             ORDER BY idx LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(params![site, appliance, limit as i64], |r| {
                let expected = stored_to_u64(r.get(1)?);
                let seq = stored_to_u64(r.get(2)?);
                Ok(CompletenessAlarm {
                    index: stored_to_u64(r.get(0)?),
                    expected_sequence: expected,
                    sequence: seq,
                    kind: if seq > expected {
                        "gap"
                    } else {
                        "out_of_order"
                    },
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// A [`KeyRow`] from the columns of a `keys` row starting at column `at`.
fn key_row(r: &Row<'_>, at: usize) -> rusqlite::Result<KeyRow> {
    Ok(KeyRow {
        key_id: r.get(at)?,
        public_key: r.get(at + 1)?,
        introduced_by: r.get(at + 2)?,
        introduced_at_index: stored_to_u64(r.get(at + 3)?),
        ended_at_index: r.get::<_, Option<i64>>(at + 4)?.map(stored_to_u64),
        end_reason: r.get(at + 5)?,
        replaced_by: r.get(at + 6)?,
    })
}
