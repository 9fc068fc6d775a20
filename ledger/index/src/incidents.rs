//! Incidents: the healing records of one incident id at one site, grouped by the tailer
//! into the `incidents` table. Search with filters and cursor pagination (newest first,
//! by the log index of the first record), and one incident's detail with the log indexes
//! of its records.

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension, Row};
use serde::Serialize;

use crate::codes::{outcome_name, tier_name};
use crate::sql::{integer, stored_to_u64, text, unsigned, FilteredQuery};
use crate::{IndexError, Page, QueryIndex, Scope};

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

const INCIDENT_COLUMNS: &str =
    "SELECT site, incident, appliance, check_type, pattern, tier, outcome,
    started_ms, ended_ms, records, first_idx, last_idx FROM incidents";

impl QueryIndex {
    /// Incidents in scope matching `f`, newest first (by the log index of their first
    /// record).
    pub fn search_incidents(
        &self,
        scope: &Scope,
        f: &IncidentFilter,
    ) -> Result<Page<Incident>, IndexError> {
        let query = incident_search(scope, f);
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&query.sql)?;
        let items = stmt
            .query_map(params_from_iter(query.args), incident_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_one_extra(items, f.limit, |h| {
            h.first_index.to_string()
        }))
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
            .map(|r| r.map(stored_to_u64))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((found, indexes)))
    }
}

/// The incident search as SQL: the scope, every filter present, and one row more than
/// the page holds.
fn incident_search(scope: &Scope, f: &IncidentFilter) -> FilteredQuery {
    let mut q = FilteredQuery::new(INCIDENT_COLUMNS);
    q.push(" WHERE ");
    q.scope(scope, "site");
    q.bind_if(" AND appliance = ?", text(f.appliance.as_deref()));
    q.bind_if(" AND check_type = ?", text(f.check_type.as_deref()));
    q.bind_if(" AND tier = ?", integer(f.tier));
    q.bind_if(" AND outcome = ?", integer(f.outcome));
    q.bind_if(" AND ended_ms >= ?", unsigned(f.from_ms));
    q.bind_if(" AND started_ms < ?", unsigned(f.to_ms));
    q.bind_if(" AND first_idx < ?", unsigned(f.before));
    q.bind(
        " ORDER BY first_idx DESC LIMIT ?",
        Value::Integer(f.limit as i64 + 1),
    );
    q
}

fn incident_row(r: &Row<'_>) -> rusqlite::Result<Incident> {
    Ok(Incident {
        site_id: r.get(0)?,
        incident_id: r.get(1)?,
        appliance_id: r.get(2)?,
        check_type: r.get(3)?,
        pattern_signature: r.get(4)?,
        tier: tier_name(r.get(5)?),
        outcome: outcome_name(r.get(6)?),
        started_at_ms: stored_to_u64(r.get(7)?),
        ended_at_ms: stored_to_u64(r.get(8)?),
        records: stored_to_u64(r.get(9)?),
        first_index: stored_to_u64(r.get(10)?),
        last_index: stored_to_u64(r.get(11)?),
    })
}
