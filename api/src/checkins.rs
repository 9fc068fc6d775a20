//! Agent check-ins (`POST /v1/checkin`): validating the heartbeat an agent sends and
//! keeping the latest one of each appliance.
//!
//! Check-ins are heartbeats, not log records: they are not signed by the appliance key
//! and prove nothing to an auditor, so they do not go into the log. They are kept in
//! the state database ([`crate::state_db`], table `checkins`) rather than in the query
//! index, because the index is rebuilt from the log alone and would lose them. Only the
//! latest check-in of each appliance is kept, with a count.
//!
//! Online or stale: an appliance is `stale` when its last check-in is older than
//! `checkin_interval_secs × stale_after_missed_checkins`, `online` otherwise, and
//! `never` when it has not checked in since the server has kept check-ins.

use std::sync::Arc;

use ledger_record::ChainId;
use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error_code::ErrorCode;
use crate::state_db::StateDb;

/// Longest accepted `agent_version`.
const MAX_VERSION_LEN: usize = 64;
/// Most alarms in one check-in and longest alarm text.
const MAX_ALARMS: usize = 64;
const MAX_ALARM_LEN: usize = 256;

/// A validated check-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkin {
    pub agent_version: String,
    pub outbox_depth: u64,
    pub oldest_undelivered_age_secs: Option<u64>,
    pub last_receipt_index: Option<u64>,
    pub last_checkpoint_size: Option<u64>,
    /// `ok`, `degraded` or `alarm`.
    pub health: String,
    pub alarms: Vec<String>,
}

/// A check-in body that was refused; the message names every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidCheckin(pub String);

impl InvalidCheckin {
    /// The stable machine-readable code of the answer.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidCheckin
    }
}

fn invalid(message: impl Into<String>) -> InvalidCheckin {
    InvalidCheckin(message.into())
}

/// A `u64` for an SQLite integer column, saturating at `i64::MAX`.
fn to_sql(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

/// An SQLite integer column as `u64` (negative values, which are never written, as 0).
fn from_sql(v: i64) -> u64 {
    v.max(0) as u64
}

fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

impl Checkin {
    /// Validates a check-in body. Unknown fields are ignored (newer agents may send
    /// more); known fields must have their documented types and ranges; every problem
    /// found is reported in one message.
    pub fn from_json(body: &[u8]) -> Result<Checkin, InvalidCheckin> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| invalid(format!("request body is not JSON: {e}")))?;
        let Some(obj) = v.as_object() else {
            return Err(invalid("the check-in must be a JSON object"));
        };
        let mut problems = Vec::new();
        let agent_version = agent_version(obj, &mut problems);
        let outbox_depth = match obj.get("outbox_depth").and_then(Value::as_u64) {
            Some(n) => n,
            None => {
                problems.push("`outbox_depth` must be a non-negative integer".to_string());
                0
            }
        };
        let mut optional = |name: &str| match obj.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) if n <= i64::MAX as u64 => Some(n),
                _ => {
                    problems.push(format!("`{name}` must be a non-negative integer or null"));
                    None
                }
            },
        };
        let oldest = optional("oldest_undelivered_age_secs");
        let receipt = optional("last_receipt_index");
        let checkpoint = optional("last_checkpoint_size");
        let health = match obj.get("health").and_then(Value::as_str) {
            Some(h @ ("ok" | "degraded" | "alarm")) => h.to_string(),
            _ => {
                problems.push("`health` must be one of ok, degraded, alarm".to_string());
                String::new()
            }
        };
        let alarms = alarms(obj, &mut problems);
        if outbox_depth > i64::MAX as u64 {
            problems.push("`outbox_depth` is out of range".to_string());
        }
        if !problems.is_empty() {
            return Err(invalid(problems.join("; ")));
        }
        Ok(Checkin {
            agent_version,
            outbox_depth,
            oldest_undelivered_age_secs: oldest,
            last_receipt_index: receipt,
            last_checkpoint_size: checkpoint,
            health,
            alarms,
        })
    }
}

fn agent_version(obj: &Map<String, Value>, problems: &mut Vec<String>) -> String {
    match obj.get("agent_version") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_VERSION_LEN && printable(s) => {
            s.clone()
        }
        _ => {
            problems.push(format!(
                "`agent_version` must be a string of 1 to {MAX_VERSION_LEN} printable characters"
            ));
            String::new()
        }
    }
}

fn alarms(obj: &Map<String, Value>, problems: &mut Vec<String>) -> Vec<String> {
    match obj.get("alarms") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) if list.len() <= MAX_ALARMS => {
            let mut out = Vec::new();
            for a in list {
                match a.as_str() {
                    Some(s) if !s.is_empty() && s.len() <= MAX_ALARM_LEN && printable(s) => {
                        out.push(s.to_string())
                    }
                    _ => {
                        problems.push(format!(
                                "each alarm must be a string of 1 to {MAX_ALARM_LEN} printable characters"
                            ));
                        break;
                    }
                }
            }
            out
        }
        Some(_) => {
            problems.push(format!(
                "`alarms` must be a list of at most {MAX_ALARMS} strings"
            ));
            Vec::new()
        }
    }
}

/// The latest check-in of an appliance as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredCheckin {
    pub received_at_ms: u64,
    pub checkins: u64,
    #[serde(flatten)]
    pub checkin: Checkin,
}

/// Why the check-in store failed; an internal error for clients.
#[derive(Debug, thiserror::Error)]
pub enum CheckinStoreError {
    #[error("check-in database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("check-in database holds an invalid row: {0}")]
    Invalid(String),
}

/// The check-in table of the state database.
pub struct CheckinStore {
    db: Arc<StateDb>,
}

impl CheckinStore {
    /// The check-in table of `db`.
    pub fn new(db: Arc<StateDb>) -> CheckinStore {
        CheckinStore { db }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.conn()
    }

    /// Stores `checkin` as the latest of `chain`, received at `now_ms`.
    pub fn record(
        &self,
        chain: &ChainId,
        checkin: &Checkin,
        now_ms: u64,
    ) -> Result<(), CheckinStoreError> {
        let alarms = serde_json::to_string(&checkin.alarms)
            .map_err(|e| CheckinStoreError::Invalid(e.to_string()))?;
        // Crash note: one synced statement; the agent gets 204 only after it, and an
        // agent that gets no answer simply checks in again next period.
        self.conn().execute(
            "INSERT INTO checkins (site, appliance, received_ms, agent_version, outbox_depth,
                oldest_undelivered_age_secs, last_receipt_index, last_checkpoint_size, health, alarms, checkins)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1)
             ON CONFLICT (site, appliance) DO UPDATE SET
               received_ms = excluded.received_ms, agent_version = excluded.agent_version,
               outbox_depth = excluded.outbox_depth,
               oldest_undelivered_age_secs = excluded.oldest_undelivered_age_secs,
               last_receipt_index = excluded.last_receipt_index,
               last_checkpoint_size = excluded.last_checkpoint_size,
               health = excluded.health, alarms = excluded.alarms, checkins = checkins + 1",
            params![
                chain.site_id.as_str(),
                chain.appliance_id.as_str(),
                to_sql(now_ms),
                checkin.agent_version,
                to_sql(checkin.outbox_depth),
                checkin.oldest_undelivered_age_secs.map(to_sql),
                checkin.last_receipt_index.map(to_sql),
                checkin.last_checkpoint_size.map(to_sql),
                checkin.health,
                alarms,
            ],
        )?;
        Ok(())
    }

    /// The latest check-in of every appliance of `site`: (appliance id, check-in).
    pub fn site(&self, site: &str) -> Result<Vec<(String, StoredCheckin)>, CheckinStoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT appliance, received_ms, agent_version, outbox_depth, oldest_undelivered_age_secs,
                    last_receipt_index, last_checkpoint_size, health, alarms, checkins
             FROM checkins WHERE site = ?1 ORDER BY appliance",
        )?;
        let rows = stmt
            .query_map(params![site], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, i64>(9)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(
                |(a, rec, ver, depth, oldest, receipt, cp, health, alarms, n)| {
                    let alarms: Vec<String> = serde_json::from_str(&alarms)
                        .map_err(|e| CheckinStoreError::Invalid(e.to_string()))?;
                    Ok((
                        a,
                        StoredCheckin {
                            received_at_ms: from_sql(rec),
                            checkins: from_sql(n),
                            checkin: Checkin {
                                agent_version: ver,
                                outbox_depth: from_sql(depth),
                                oldest_undelivered_age_secs: oldest.map(from_sql),
                                last_receipt_index: receipt.map(from_sql),
                                last_checkpoint_size: cp.map(from_sql),
                                health,
                                alarms,
                            },
                        },
                    ))
                },
            )
            .collect()
    }
}

/// `online`, `stale` or `never` for a last check-in at `last_ms` (if any).
pub fn liveness(last_ms: Option<u64>, now_ms: u64, stale_after_ms: u64) -> &'static str {
    match last_ms {
        None => "never",
        Some(t) if now_ms.saturating_sub(t) > stale_after_ms => "stale",
        Some(_) => "online",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_example_is_accepted_and_unknown_fields_ignored() {
        let c = Checkin::from_json(
            br#"{"agent_version": "0.1.0", "outbox_depth": 12, "oldest_undelivered_age_secs": 40,
                 "last_receipt_index": 1234, "last_checkpoint_size": 1300,
                 "health": "ok", "alarms": [], "future_field": {"x": 1}}"#,
        )
        .unwrap();
        assert_eq!(c.outbox_depth, 12);
        assert_eq!(c.last_checkpoint_size, Some(1300));
        let c = Checkin::from_json(
            br#"{"agent_version": "0.1.0", "outbox_depth": 0, "oldest_undelivered_age_secs": null,
                 "last_receipt_index": null, "last_checkpoint_size": null,
                 "health": "alarm", "alarms": ["outbox_stuck"]}"#,
        )
        .unwrap();
        assert_eq!(c.oldest_undelivered_age_secs, None);
        assert_eq!(c.alarms, vec!["outbox_stuck".to_string()]);
    }

    #[test]
    fn every_problem_is_reported() {
        let e = Checkin::from_json(
            br#"{"agent_version": "", "outbox_depth": -1, "last_receipt_index": "x",
                 "health": "fine", "alarms": [1]}"#,
        )
        .unwrap_err();
        assert_eq!(e.code(), "invalid_checkin");
        for needle in [
            "agent_version",
            "outbox_depth",
            "last_receipt_index",
            "health",
            "alarm",
        ] {
            assert!(e.0.contains(needle), "{needle} in {}", e.0);
        }
        assert!(Checkin::from_json(b"[]").is_err());
        assert!(Checkin::from_json(b"not json").is_err());
    }

    #[test]
    fn liveness_uses_the_threshold() {
        assert_eq!(liveness(None, 1000, 10), "never");
        assert_eq!(liveness(Some(990), 1000, 10), "online");
        assert_eq!(liveness(Some(989), 1000, 10), "stale");
    }
}
