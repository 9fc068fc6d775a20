//! The dashboard queries over the query index ([`crate::index`]): record search with
//! cursor pagination, evidence counts per day by status, incident search and detail,
//! pattern statistics and promotion candidates, and the per-appliance facts of the fleet
//! view.
//!
//! Every query takes a [`Scope`] (the sites the caller may read) and never returns a row
//! outside it; the HTTP layer turns "outside the scope" into 404 before a query runs.
//! Every returned record carries its log index, so its receipt can be fetched and every
//! number traced back to ledger records. Queries are blocking (SQLite); the HTTP layer
//! runs them on the blocking pool.

use std::collections::BTreeSet;

use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, OptionalExtension};
use serde::Serialize;

use crate::index::{i, u, IndexError, QueryIndex, DAY_MS};
use ledger_record::utc::format_day;

/// The sites a caller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every site (the admin credential).
    All,
    /// These sites only (read and partner tokens).
    Sites(BTreeSet<String>),
}

impl Scope {
    /// Whether `site` is inside the scope.
    pub fn allows(&self, site: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Sites(s) => s.contains(site),
        }
    }

    /// Narrows the scope to one site the caller asked for, or `None` when that site is
    /// outside it.
    pub fn narrow(&self, site: Option<&str>) -> Option<Scope> {
        match site {
            None => Some(self.clone()),
            Some(s) if self.allows(s) => Some(Scope::Sites([s.to_string()].into())),
            Some(_) => None,
        }
    }

    /// An SQL condition on `column` with its parameters appended to `args`.
    fn clause(&self, column: &str, args: &mut Vec<Sql>) -> String {
        match self {
            Scope::All => "1".to_string(),
            Scope::Sites(sites) => {
                let marks = vec!["?"; sites.len()].join(", ");
                args.extend(sites.iter().map(|s| Sql::Text(s.clone())));
                if sites.is_empty() {
                    "0".to_string()
                } else {
                    format!("{column} IN ({marks})")
                }
            }
        }
    }
}

/// Names of the stored codes (docs/RECORDS.md §3, §5).
pub fn kind_name(code: i64) -> &'static str {
    match code {
        1 => "evidence",
        2 => "healing",
        3 => "key",
        _ => "unknown",
    }
}

pub fn status_name(code: i64) -> &'static str {
    match code {
        0 => "pass",
        1 => "warning",
        2 => "fail",
        3 => "error",
        _ => "none",
    }
}

pub fn tier_name(code: i64) -> &'static str {
    match code {
        1 => "L1",
        2 => "L2",
        3 => "L3",
        _ => "unknown",
    }
}

pub fn outcome_name(code: i64) -> &'static str {
    match code {
        0 => "success",
        1 => "failure",
        2 => "escalated",
        _ => "unknown",
    }
}

/// Parses `evidence|healing|key`.
pub fn kind_code(s: &str) -> Option<i64> {
    Some(match s {
        "evidence" => 1,
        "healing" => 2,
        "key" => 3,
        _ => return None,
    })
}

/// Parses `pass|warning|fail|error`.
pub fn status_code(s: &str) -> Option<i64> {
    Some(match s {
        "pass" => 0,
        "warning" => 1,
        "fail" => 2,
        "error" => 3,
        _ => return None,
    })
}

/// Parses `L1|L2|L3`.
pub fn tier_code(s: &str) -> Option<i64> {
    Some(match s {
        "L1" => 1,
        "L2" => 2,
        "L3" => 3,
        _ => return None,
    })
}

/// Parses `success|failure|escalated`.
pub fn outcome_code(s: &str) -> Option<i64> {
    Some(match s {
        "success" => 0,
        "failure" => 1,
        "escalated" => 2,
        _ => return None,
    })
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

/// A page of results and the cursor of the next page (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Evidence items of one day, by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DayCounts {
    pub day: String,
    pub pass: u64,
    pub warning: u64,
    pub fail: u64,
    pub error: u64,
}

/// Filters of the incident search.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub appliance: Option<String>,
    pub check_type: Option<String>,
    pub tier: Option<i64>,
    pub outcome: Option<i64>,
    /// Incidents active in `[from_ms, to_ms)`: ended at or after `from_ms`, started
    /// before `to_ms`.
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    /// Only incidents whose first record's log index is below this.
    pub before: Option<u64>,
    pub limit: usize,
}

/// An incident: the healing records of one incident id at one site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub site_id: String,
    pub incident_id: String,
    pub appliance_id: String,
    pub check_type: String,
    pub pattern_signature: String,
    /// Tier and outcome of the latest record.
    pub tier: &'static str,
    pub outcome: &'static str,
    pub started_at_ms: u64,
    pub ended_at_ms: u64,
    pub records: u64,
    pub first_index: u64,
    pub last_index: u64,
}

/// Statistics of one pattern signature.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatternStats {
    pub pattern_signature: String,
    pub occurrences: u64,
    pub successes: u64,
    pub failures: u64,
    pub escalations: u64,
    /// successes / occurrences.
    pub success_rate: f64,
    pub tiers: TierCounts,
    /// Mean of `ended_at - started_at` over successful records, milliseconds; `None`
    /// when nothing succeeded.
    pub mean_time_to_resolve_ms: Option<f64>,
    pub check_types: Vec<String>,
}

/// Occurrences per tier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[allow(non_snake_case)]
pub struct TierCounts {
    pub L1: u64,
    pub L2: u64,
    pub L3: u64,
}

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

impl QueryIndex {
    /// Records in scope matching `f`, newest log index first.
    pub fn search_records(
        &self,
        scope: &Scope,
        f: &RecordFilter,
    ) -> Result<Page<RecordHit>, IndexError> {
        let mut args = Vec::new();
        let mut sql = String::from(
            "SELECT r.idx, r.site, r.appliance, r.seq, r.kind, r.time_ms, r.hash, r.incident, r.check_type, r.tier, r.outcome
             FROM records r WHERE ",
        );
        sql.push_str(&scope.clause("r.site", &mut args));
        let mut cond = |sql: &mut String, text: &str, v: Option<Sql>| {
            if let Some(v) = v {
                sql.push_str(text);
                args.push(v);
            }
        };
        cond(
            &mut sql,
            " AND r.appliance = ?",
            f.appliance.clone().map(Sql::Text),
        );
        cond(&mut sql, " AND r.kind = ?", f.kind.map(Sql::Integer));
        cond(
            &mut sql,
            " AND r.time_ms >= ?",
            f.from_ms.map(|v| Sql::Integer(i(v))),
        );
        cond(
            &mut sql,
            " AND r.time_ms < ?",
            f.to_ms.map(|v| Sql::Integer(i(v))),
        );
        cond(
            &mut sql,
            " AND r.incident = ?",
            f.incident.clone().map(Sql::Text),
        );
        cond(&mut sql, " AND r.tier = ?", f.tier.map(Sql::Integer));
        cond(&mut sql, " AND r.outcome = ?", f.outcome.map(Sql::Integer));
        cond(
            &mut sql,
            " AND r.idx < ?",
            f.before.map(|v| Sql::Integer(i(v))),
        );
        if f.check_type.is_some() || f.status.is_some() {
            sql.push_str(" AND EXISTS (SELECT 1 FROM record_checks c WHERE c.idx = r.idx");
            if let Some(c) = &f.check_type {
                sql.push_str(" AND c.check_type = ?");
                args.push(Sql::Text(c.clone()));
            }
            if let Some(s) = f.status {
                sql.push_str(" AND c.status = ?");
                args.push(Sql::Integer(s));
            }
            sql.push(')');
        }
        sql.push_str(" ORDER BY r.idx DESC LIMIT ?");
        args.push(Sql::Integer(f.limit as i64 + 1));
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut hits = stmt
            .query_map(params_from_iter(args), |r| {
                Ok(RecordHit {
                    index: u(r.get(0)?),
                    site_id: r.get(1)?,
                    appliance_id: r.get(2)?,
                    sequence: u(r.get(3)?),
                    kind: kind_name(r.get(4)?),
                    time_ms: u(r.get(5)?),
                    record_hash: hex::encode(r.get::<_, Vec<u8>>(6)?),
                    incident_id: r.get(7)?,
                    check_type: r.get(8)?,
                    tier: r.get::<_, Option<i64>>(9)?.map(tier_name),
                    outcome: r.get::<_, Option<i64>>(10)?.map(outcome_name),
                    checks: Vec::new(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let more = hits.len() > f.limit;
        hits.truncate(f.limit);
        let mut checks = conn.prepare_cached(
            "SELECT check_type, status, items FROM record_checks WHERE idx = ?1 AND status >= 0
             ORDER BY check_type, status",
        )?;
        for h in hits.iter_mut().filter(|h| h.kind == "evidence") {
            h.checks = checks
                .query_map(params![i(h.index)], |r| {
                    Ok(CheckCount {
                        check_type: r.get(0)?,
                        status: status_name(r.get(1)?),
                        items: u(r.get(2)?),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
        }
        let next_cursor = more
            .then(|| hits.last().map(|h| h.index.to_string()))
            .flatten();
        Ok(Page {
            items: hits,
            next_cursor,
        })
    }

    /// Evidence items per UTC day and status for days `from_day..=to_day`, every day of
    /// the range present (zeros included).
    pub fn daily_status(
        &self,
        scope: &Scope,
        appliance: Option<&str>,
        check_type: Option<&str>,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<DayCounts>, IndexError> {
        let mut args = Vec::new();
        let mut sql = match appliance {
            // Per appliance from the per-record rows (few per appliance), per site from
            // the daily aggregate (a few rows per day).
            Some(a) => {
                let mut s = String::from(
                    "SELECT time_ms / 86400000 AS day, status, SUM(items) FROM record_checks WHERE ",
                );
                s.push_str(&scope.clause("site", &mut args));
                s.push_str(" AND appliance = ? AND time_ms >= ? AND time_ms < ? AND status >= 0");
                args.push(Sql::Text(a.to_string()));
                args.push(Sql::Integer(from_day.saturating_mul(DAY_MS as i64)));
                args.push(Sql::Integer(
                    (to_day.saturating_add(1)).saturating_mul(DAY_MS as i64),
                ));
                s
            }
            None => {
                let mut s = String::from("SELECT day, status, SUM(items) FROM daily_status WHERE ");
                s.push_str(&scope.clause("site", &mut args));
                s.push_str(" AND day >= ? AND day <= ?");
                args.push(Sql::Integer(from_day));
                args.push(Sql::Integer(to_day));
                s
            }
        };
        if let Some(c) = check_type {
            sql.push_str(" AND check_type = ?");
            args.push(Sql::Text(c.to_string()));
        }
        sql.push_str(" GROUP BY 1, 2");
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params_from_iter(args), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut days: Vec<DayCounts> = (from_day..=to_day)
            .map(|d| DayCounts {
                day: format_day(d),
                ..DayCounts::default()
            })
            .collect();
        for (day, status, n) in rows {
            let Some(slot) = usize::try_from(day - from_day)
                .ok()
                .and_then(|k| days.get_mut(k))
            else {
                continue;
            };
            let n = u(n);
            match status {
                0 => slot.pass += n,
                1 => slot.warning += n,
                2 => slot.fail += n,
                3 => slot.error += n,
                _ => {}
            }
        }
        Ok(days)
    }

    /// Incidents in scope matching `f`, newest first (by the log index of their first
    /// record).
    pub fn search_incidents(
        &self,
        scope: &Scope,
        f: &IncidentFilter,
    ) -> Result<Page<Incident>, IndexError> {
        let mut args = Vec::new();
        let mut sql = String::from(INCIDENT_COLUMNS);
        sql.push_str(" WHERE ");
        sql.push_str(&scope.clause("site", &mut args));
        let mut cond = |sql: &mut String, text: &str, v: Option<Sql>| {
            if let Some(v) = v {
                sql.push_str(text);
                args.push(v);
            }
        };
        cond(
            &mut sql,
            " AND appliance = ?",
            f.appliance.clone().map(Sql::Text),
        );
        cond(
            &mut sql,
            " AND check_type = ?",
            f.check_type.clone().map(Sql::Text),
        );
        cond(&mut sql, " AND tier = ?", f.tier.map(Sql::Integer));
        cond(&mut sql, " AND outcome = ?", f.outcome.map(Sql::Integer));
        cond(
            &mut sql,
            " AND ended_ms >= ?",
            f.from_ms.map(|v| Sql::Integer(i(v))),
        );
        cond(
            &mut sql,
            " AND started_ms < ?",
            f.to_ms.map(|v| Sql::Integer(i(v))),
        );
        cond(
            &mut sql,
            " AND first_idx < ?",
            f.before.map(|v| Sql::Integer(i(v))),
        );
        sql.push_str(" ORDER BY first_idx DESC LIMIT ?");
        args.push(Sql::Integer(f.limit as i64 + 1));
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut items = stmt
            .query_map(params_from_iter(args), incident_row)?
            .collect::<Result<Vec<_>, _>>()?;
        let more = items.len() > f.limit;
        items.truncate(f.limit);
        let next_cursor = more
            .then(|| items.last().map(|h| h.first_index.to_string()))
            .flatten();
        Ok(Page { items, next_cursor })
    }

    /// One incident and the log indexes of its healing records, in log order.
    pub fn incident(
        &self,
        site: &str,
        incident: &str,
    ) -> Result<Option<(Incident, Vec<u64>)>, IndexError> {
        let conn = self.reader()?;
        let found = conn
            .query_row(
                &format!("{INCIDENT_COLUMNS} WHERE site = ?1 AND incident = ?2"),
                params![site, incident],
                incident_row,
            )
            .optional()?;
        let Some(found) = found else {
            return Ok(None);
        };
        let mut stmt = conn.prepare_cached(
            "SELECT idx FROM records WHERE site = ?1 AND incident = ?2 ORDER BY idx",
        )?;
        let indexes = stmt
            .query_map(params![site, incident], |r| r.get::<_, i64>(0))?
            .map(|r| r.map(u))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((found, indexes)))
    }

    /// Statistics per pattern signature over the healing records in scope whose start
    /// falls on days `from_day..=to_day` (all days when `None`), optionally only one
    /// check type or one tier, most frequent first.
    pub fn pattern_stats(
        &self,
        scope: &Scope,
        check_type: Option<&str>,
        tier: Option<i64>,
        from_day: Option<i64>,
        to_day: Option<i64>,
    ) -> Result<Vec<PatternStats>, IndexError> {
        let mut args = Vec::new();
        let mut sql = String::from(
            "SELECT pattern, tier, SUM(occurrences), SUM(successes), SUM(failures), SUM(escalations),
                    SUM(resolve_ms_sum), group_concat(DISTINCT check_type)
             FROM ",
        );
        // Without a day range the all-time totals answer (a few rows per pattern).
        sql.push_str(if from_day.is_none() && to_day.is_none() {
            "pattern_totals WHERE "
        } else {
            "pattern_daily WHERE "
        });
        sql.push_str(&scope.clause("site", &mut args));
        if let Some(c) = check_type {
            sql.push_str(" AND check_type = ?");
            args.push(Sql::Text(c.to_string()));
        }
        if let Some(t) = tier {
            sql.push_str(" AND tier = ?");
            args.push(Sql::Integer(t));
        }
        if let Some(d) = from_day {
            sql.push_str(" AND day >= ?");
            args.push(Sql::Integer(d));
        }
        if let Some(d) = to_day {
            sql.push_str(" AND day <= ?");
            args.push(Sql::Integer(d));
        }
        sql.push_str(" GROUP BY pattern, tier");
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params_from_iter(args), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    [
                        u(r.get(2)?),
                        u(r.get(3)?),
                        u(r.get(4)?),
                        u(r.get(5)?),
                        u(r.get(6)?),
                    ],
                    r.get::<_, Option<String>>(7)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut by_pattern: std::collections::BTreeMap<
            String,
            (PatternStats, u64, BTreeSet<String>),
        > = std::collections::BTreeMap::new();
        for (pattern, tier, c, checks) in rows {
            let entry = by_pattern.entry(pattern.clone()).or_insert_with(|| {
                (
                    PatternStats {
                        pattern_signature: pattern,
                        occurrences: 0,
                        successes: 0,
                        failures: 0,
                        escalations: 0,
                        success_rate: 0.0,
                        tiers: TierCounts::default(),
                        mean_time_to_resolve_ms: None,
                        check_types: Vec::new(),
                    },
                    0,
                    BTreeSet::new(),
                )
            });
            let s = &mut entry.0;
            s.occurrences += c[0];
            s.successes += c[1];
            s.failures += c[2];
            s.escalations += c[3];
            entry.1 += c[4];
            match tier {
                1 => s.tiers.L1 += c[0],
                2 => s.tiers.L2 += c[0],
                _ => s.tiers.L3 += c[0],
            }
            for ct in checks.iter().flat_map(|c| c.split(',')) {
                entry.2.insert(ct.to_string());
            }
        }
        let mut out: Vec<PatternStats> = by_pattern
            .into_values()
            .map(|(mut s, resolve_sum, checks)| {
                if s.occurrences > 0 {
                    s.success_rate = s.successes as f64 / s.occurrences as f64;
                }
                if s.successes > 0 {
                    s.mean_time_to_resolve_ms = Some(resolve_sum as f64 / s.successes as f64);
                }
                s.check_types = checks.into_iter().collect();
                s
            })
            .collect();
        out.sort_by(|a, b| {
            b.occurrences
                .cmp(&a.occurrences)
                .then_with(|| a.pattern_signature.cmp(&b.pattern_signature))
        });
        Ok(out)
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
                        records: u(r.get(1)?),
                        last_sequence: Some(u(r.get(2)?)),
                        last_record_index: Some(u(r.get(3)?)),
                        last_record_time_ms: Some(u(r.get(4)?)),
                        completeness_alarms: u(r.get(5)?),
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
                let expected = u(r.get(1)?);
                let seq = u(r.get(2)?);
                Ok(CompletenessAlarm {
                    index: u(r.get(0)?),
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

const INCIDENT_COLUMNS: &str =
    "SELECT site, incident, appliance, check_type, pattern, tier, outcome,
    started_ms, ended_ms, records, first_idx, last_idx FROM incidents";

fn incident_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Incident> {
    Ok(Incident {
        site_id: r.get(0)?,
        incident_id: r.get(1)?,
        appliance_id: r.get(2)?,
        check_type: r.get(3)?,
        pattern_signature: r.get(4)?,
        tier: tier_name(r.get(5)?),
        outcome: outcome_name(r.get(6)?),
        started_at_ms: u(r.get(7)?),
        ended_at_ms: u(r.get(8)?),
        records: u(r.get(9)?),
        first_index: u(r.get(10)?),
        last_index: u(r.get(11)?),
    })
}

fn key_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<KeyRow> {
    Ok(KeyRow {
        key_id: r.get(at)?,
        public_key: r.get(at + 1)?,
        introduced_by: r.get(at + 2)?,
        introduced_at_index: u(r.get(at + 3)?),
        ended_at_index: r.get::<_, Option<i64>>(at + 4)?.map(u),
        end_reason: r.get(at + 5)?,
        replaced_by: r.get(at + 6)?,
    })
}
