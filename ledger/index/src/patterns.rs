//! Pattern statistics: how often each healing pattern signature occurred, with which
//! outcomes, tiers and check types, and how long successful healings took. Without a
//! day range the all-time `pattern_totals` answer (a few rows per pattern); with one,
//! `pattern_daily` (by the UTC day the healing started).

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{params_from_iter, Row};
use serde::Serialize;

use crate::sql::{integer, stored_to_u64, text, FilteredQuery};
use crate::{IndexError, QueryIndex, Scope};

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

/// One row of the pattern query: a pattern at one tier.
struct PatternTierRow {
    pattern: String,
    tier: i64,
    occurrences: u64,
    successes: u64,
    failures: u64,
    escalations: u64,
    resolve_ms_sum: u64,
    /// The distinct check types, comma-separated (SQLite's `group_concat`).
    check_types: Option<String>,
}

/// A pattern's statistics while its tiers are summed.
struct PatternTotals {
    stats: PatternStats,
    resolve_ms_sum: u64,
    check_types: BTreeSet<String>,
}

impl PatternTotals {
    fn new(pattern: String) -> PatternTotals {
        PatternTotals {
            stats: PatternStats {
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
            resolve_ms_sum: 0,
            check_types: BTreeSet::new(),
        }
    }

    fn add(&mut self, row: &PatternTierRow) {
        let s = &mut self.stats;
        s.occurrences += row.occurrences;
        s.successes += row.successes;
        s.failures += row.failures;
        s.escalations += row.escalations;
        self.resolve_ms_sum += row.resolve_ms_sum;
        match row.tier {
            1 => s.tiers.L1 += row.occurrences,
            2 => s.tiers.L2 += row.occurrences,
            _ => s.tiers.L3 += row.occurrences,
        }
        for check_type in row.check_types.iter().flat_map(|c| c.split(',')) {
            self.check_types.insert(check_type.to_string());
        }
    }

    /// The statistics with their rates and means.
    fn finish(self) -> PatternStats {
        let mut s = self.stats;
        if s.occurrences > 0 {
            s.success_rate = s.successes as f64 / s.occurrences as f64;
        }
        if s.successes > 0 {
            s.mean_time_to_resolve_ms = Some(self.resolve_ms_sum as f64 / s.successes as f64);
        }
        s.check_types = self.check_types.into_iter().collect();
        s
    }
}

impl QueryIndex {
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
        let query = pattern_query(scope, check_type, tier, from_day, to_day);
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&query.sql)?;
        let rows = stmt
            .query_map(params_from_iter(query.args), pattern_tier_row)?
            .collect::<Result<Vec<_>, _>>()?;
        let mut by_pattern: BTreeMap<String, PatternTotals> = BTreeMap::new();
        for row in rows {
            by_pattern
                .entry(row.pattern.clone())
                .or_insert_with(|| PatternTotals::new(row.pattern.clone()))
                .add(&row);
        }
        let mut out: Vec<PatternStats> = by_pattern
            .into_values()
            .map(PatternTotals::finish)
            .collect();
        out.sort_by(|a, b| {
            b.occurrences
                .cmp(&a.occurrences)
                .then_with(|| a.pattern_signature.cmp(&b.pattern_signature))
        });
        Ok(out)
    }
}

/// The pattern query: sums per pattern and tier from the totals or the daily table.
fn pattern_query(
    scope: &Scope,
    check_type: Option<&str>,
    tier: Option<i64>,
    from_day: Option<i64>,
    to_day: Option<i64>,
) -> FilteredQuery {
    let mut q = FilteredQuery::new(
        "SELECT pattern, tier, SUM(occurrences), SUM(successes), SUM(failures), SUM(escalations),
                    SUM(resolve_ms_sum), group_concat(DISTINCT check_type)
             FROM ",
    );
    // Without a day range the all-time totals answer (a few rows per pattern).
    q.push(if from_day.is_none() && to_day.is_none() {
        "pattern_totals WHERE "
    } else {
        "pattern_daily WHERE "
    });
    q.scope(scope, "site");
    q.bind_if(" AND check_type = ?", text(check_type));
    q.bind_if(" AND tier = ?", integer(tier));
    q.bind_if(" AND day >= ?", integer(from_day));
    q.bind_if(" AND day <= ?", integer(to_day));
    q.push(" GROUP BY pattern, tier");
    q
}

fn pattern_tier_row(r: &Row<'_>) -> rusqlite::Result<PatternTierRow> {
    Ok(PatternTierRow {
        pattern: r.get(0)?,
        tier: r.get(1)?,
        occurrences: stored_to_u64(r.get(2)?),
        successes: stored_to_u64(r.get(3)?),
        failures: stored_to_u64(r.get(4)?),
        escalations: stored_to_u64(r.get(5)?),
        resolve_ms_sum: stored_to_u64(r.get(6)?),
        check_types: r.get(7)?,
    })
}
