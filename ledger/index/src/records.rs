//! Record lookups: the log index of a record by its hash (receipts), a chain's records
//! by sequence range, and the dashboard's record search with filters and cursor
//! pagination (newest log index first).

use ledger_core::hash::Hash;
use ledger_record::ChainId;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::codes::{kind_name, outcome_name, status_name, tier_name};
use crate::sql::{integer, stored_to_u64, text, u64_to_stored, unsigned, FilteredQuery};
use crate::{IndexError, Page, QueryIndex, Scope};

/// One indexed record of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEntry {
    pub sequence: u64,
    pub index: u64,
}

/// Filters of the record search; every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub appliance: Option<String>,
    pub kind: Option<i64>,
    /// Appliance time, `from_ms <= time < to_ms`.
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    pub check_type: Option<String>,
    pub status: Option<i64>,
    pub incident: Option<String>,
    pub tier: Option<i64>,
    pub outcome: Option<i64>,
    /// Only records with a log index below this (the previous page's `next_cursor`).
    pub before: Option<u64>,
    pub limit: usize,
}

/// One check type and status found in an evidence record, with its number of items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckCount {
    pub check_type: String,
    pub status: &'static str,
    pub items: u64,
}

/// A record found by a search: where it is in the log and what it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordHit {
    pub index: u64,
    pub site_id: String,
    pub appliance_id: String,
    pub sequence: u64,
    pub kind: &'static str,
    pub time_ms: u64,
    pub record_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// Evidence records: the check types and statuses of their inline items.
    pub checks: Vec<CheckCount>,
}

impl QueryIndex {
    /// The log index of the record with this record hash (SHA-256 of its bytes).
    pub fn find_by_hash(&self, hash: &Hash) -> Result<Option<u64>, IndexError> {
        let v: Option<i64> = self
            .reader()?
            .query_row(
                "SELECT idx FROM records WHERE hash = ?1 ORDER BY idx LIMIT 1",
                params![hash.as_bytes().to_vec()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.map(stored_to_u64))
    }

    /// The records of `chain` with sequence numbers `from..=to`, at most `limit`.
    pub fn chain_range(
        &self,
        chain: &ChainId,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<ChainEntry>, IndexError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT seq, idx FROM records WHERE site = ?1 AND appliance = ?2 AND seq >= ?3 AND seq <= ?4
             ORDER BY seq, idx LIMIT ?5",
        )?;
        let rows = stmt.query_map(
            params![
                chain.site_id.as_str(),
                chain.appliance_id.as_str(),
                u64_to_stored(from),
                u64_to_stored(to),
                limit as i64
            ],
            |r| {
                Ok(ChainEntry {
                    sequence: stored_to_u64(r.get::<_, i64>(0)?),
                    index: stored_to_u64(r.get::<_, i64>(1)?),
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Records in scope matching `f`, newest log index first.
    pub fn search_records(
        &self,
        scope: &Scope,
        f: &RecordFilter,
    ) -> Result<Page<RecordHit>, IndexError> {
        let query = record_search(scope, f);
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&query.sql)?;
        let hits = stmt
            .query_map(params_from_iter(query.args), record_hit)?
            .collect::<Result<Vec<_>, _>>()?;
        let mut page = Page::from_one_extra(hits, f.limit, |h| h.index.to_string());
        attach_checks(&conn, &mut page.items)?;
        Ok(page)
    }
}

/// The record search as SQL: the scope, every filter present, and one row more than the
/// page holds (to learn whether another page follows).
fn record_search(scope: &Scope, f: &RecordFilter) -> FilteredQuery {
    let mut q = FilteredQuery::new(
        "SELECT r.idx, r.site, r.appliance, r.seq, r.kind, r.time_ms, r.hash, r.incident, r.check_type, r.tier, r.outcome
             FROM records r WHERE ",
    );
    q.scope(scope, "r.site");
    q.bind_if(" AND r.appliance = ?", text(f.appliance.as_deref()));
    q.bind_if(" AND r.kind = ?", integer(f.kind));
    q.bind_if(" AND r.time_ms >= ?", unsigned(f.from_ms));
    q.bind_if(" AND r.time_ms < ?", unsigned(f.to_ms));
    q.bind_if(" AND r.incident = ?", text(f.incident.as_deref()));
    q.bind_if(" AND r.tier = ?", integer(f.tier));
    q.bind_if(" AND r.outcome = ?", integer(f.outcome));
    q.bind_if(" AND r.idx < ?", unsigned(f.before));
    if f.check_type.is_some() || f.status.is_some() {
        q.push(" AND EXISTS (SELECT 1 FROM record_checks c WHERE c.idx = r.idx");
        q.bind_if(" AND c.check_type = ?", text(f.check_type.as_deref()));
        q.bind_if(" AND c.status = ?", integer(f.status));
        q.push(")");
    }
    q.bind(
        " ORDER BY r.idx DESC LIMIT ?",
        Value::Integer(f.limit as i64 + 1),
    );
    q
}

/// A row of [`record_search`]; the checks are attached afterwards.
fn record_hit(r: &Row<'_>) -> rusqlite::Result<RecordHit> {
    Ok(RecordHit {
        index: stored_to_u64(r.get(0)?),
        site_id: r.get(1)?,
        appliance_id: r.get(2)?,
        sequence: stored_to_u64(r.get(3)?),
        kind: kind_name(r.get(4)?),
        time_ms: stored_to_u64(r.get(5)?),
        record_hash: hex::encode(r.get::<_, Vec<u8>>(6)?),
        incident_id: r.get(7)?,
        check_type: r.get(8)?,
        tier: r.get::<_, Option<i64>>(9)?.map(tier_name),
        outcome: r.get::<_, Option<i64>>(10)?.map(outcome_name),
        checks: Vec::new(),
    })
}

/// Fills in the check types and statuses of the evidence records among `hits`.
fn attach_checks(conn: &Connection, hits: &mut [RecordHit]) -> Result<(), IndexError> {
    let mut checks = conn.prepare_cached(
        "SELECT check_type, status, items FROM record_checks WHERE idx = ?1 AND status >= 0
             ORDER BY check_type, status",
    )?;
    for hit in hits.iter_mut().filter(|h| h.kind == "evidence") {
        hit.checks = checks
            .query_map(params![u64_to_stored(hit.index)], |r| {
                Ok(CheckCount {
                    check_type: r.get(0)?,
                    status: status_name(r.get(1)?),
                    items: stored_to_u64(r.get(2)?),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
    }
    Ok(())
}
