//! Evidence items per UTC day and status, the dashboard's compliance trend. A site's
//! days come from the `daily_status` aggregate (a few rows per day); one appliance's
//! from its per-record `record_checks` rows (few per appliance).

use ledger_record::utc::format_day;
use rusqlite::params_from_iter;
use rusqlite::types::Value;
use serde::Serialize;

use crate::sql::{stored_to_u64, FilteredQuery};
use crate::{IndexError, QueryIndex, Scope, DAY_MS};

/// Evidence items of one day, by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DayCounts {
    pub day: String,
    pub pass: u64,
    pub warning: u64,
    pub fail: u64,
    pub error: u64,
}

impl DayCounts {
    /// Adds `items` evidence items of the stored status `status`.
    fn add(&mut self, status: i64, items: u64) {
        match status {
            0 => self.pass += items,
            1 => self.warning += items,
            2 => self.fail += items,
            3 => self.error += items,
            _ => {}
        }
    }
}

/// One row of the day query: items of one status on one day.
struct DayStatusItems {
    day: i64,
    status: i64,
    items: i64,
}

impl QueryIndex {
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
        let query = daily_query(scope, appliance, check_type, from_day, to_day);
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&query.sql)?;
        let rows = stmt
            .query_map(params_from_iter(query.args), |r| {
                Ok(DayStatusItems {
                    day: r.get(0)?,
                    status: r.get(1)?,
                    items: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut days: Vec<DayCounts> = (from_day..=to_day)
            .map(|d| DayCounts {
                day: format_day(d),
                ..DayCounts::default()
            })
            .collect();
        for row in rows {
            let slot = usize::try_from(row.day - from_day)
                .ok()
                .and_then(|k| days.get_mut(k));
            if let Some(slot) = slot {
                slot.add(row.status, stored_to_u64(row.items));
            }
        }
        Ok(days)
    }
}

/// The day query: per appliance from the per-record rows, per site from the daily
/// aggregate, grouped by day and status.
fn daily_query(
    scope: &Scope,
    appliance: Option<&str>,
    check_type: Option<&str>,
    from_day: i64,
    to_day: i64,
) -> FilteredQuery {
    let mut q = match appliance {
        Some(a) => {
            let mut q = FilteredQuery::new(
                "SELECT time_ms / 86400000 AS day, status, SUM(items) FROM record_checks WHERE ",
            );
            q.scope(scope, "site");
            q.push(" AND appliance = ? AND time_ms >= ? AND time_ms < ? AND status >= 0");
            q.args.push(Value::Text(a.to_string()));
            q.args
                .push(Value::Integer(from_day.saturating_mul(DAY_MS as i64)));
            q.args.push(Value::Integer(
                (to_day.saturating_add(1)).saturating_mul(DAY_MS as i64),
            ));
            q
        }
        None => {
            let mut q =
                FilteredQuery::new("SELECT day, status, SUM(items) FROM daily_status WHERE ");
            q.scope(scope, "site");
            q.push(" AND day >= ? AND day <= ?");
            q.args.push(Value::Integer(from_day));
            q.args.push(Value::Integer(to_day));
            q
        }
    };
    if let Some(c) = check_type {
        q.bind(" AND check_type = ?", Value::Text(c.to_string()));
    }
    q.push(" GROUP BY 1, 2");
    q
}
