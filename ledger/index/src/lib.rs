//! The query index: a SQLite file (`<data_dir>/index.sqlite`) projected from the log for
//! receipts by record hash, an appliance's records by sequence range, and the dashboard
//! queries (fleet, healing, record search).
//!
//! The index is derived from the log and sees nothing else: the tailer reads the log in
//! order and indexes every new entry, storing how far it got (`indexed_size`) in the same
//! transaction as the rows, so a restart resumes exactly there. It is written with
//! `synchronous=NORMAL`: a crash may lose the last transactions but never corrupts the
//! file, and the next start indexes the missing tail again. Deleting the file rebuilds it
//! from the log; so does a file written by another schema version ([`SCHEMA_VERSION`]).
//! Agent check-ins are not log records and therefore do not live here (the server keeps
//! them in its own database).
//!
//! What is indexed, per entry that decodes as a record (docs/RECORDS.md):
//! - `records`: index, site, appliance, sequence, record hash, kind, appliance time, and
//!   for healing records the incident, check type, tier and outcome;
//! - `record_checks`: per evidence record, one row per distinct (check type, status) of
//!   its inline items with the number of items (committed bundles reveal no items);
//!   per healing record one row with its check type and no status;
//! - `daily_status`: evidence items per (site, UTC day, check type, status);
//! - `incidents`: healing records grouped by (site, incident id): first and last record,
//!   latest tier and outcome, earliest start and latest end;
//! - `pattern_daily`: healing records per (site, UTC day of start, pattern signature,
//!   check type, tier) with outcome counts and the summed resolve time of successes;
//! - `pattern_totals`: the same without the day, for all-time statistics;
//! - `appliances`: per chain the number of records, last sequence, index and time;
//! - `chain_alarms`: completeness alarms, a record whose sequence is not the chain's last
//!   + 1 (a gap, or a repeated or reordered sequence);
//! - `keys`: appliance keys from `key` records (enrolment, rotation, revocation).
//!
//! Aggregates (`daily_status`, `pattern_daily`, `appliances`, `incidents`) are summed in
//! memory per chunk and written once per chunk, which keeps tailing well above the
//! sequencer's rate. Every write depends only on the log contents and their order, so a
//! rebuild produces the same answers.
//!
//! Every query takes a [`Scope`] (the sites the caller may read) and never returns a row
//! outside it. Every returned record carries its log index, so its receipt can be fetched
//! and every number traced back to ledger records.
//!
//! What it deliberately does not do: HTTP, JSON beyond `Serialize` on its answers, or
//! async. Every call blocks on SQLite (and the tailer on RocksDB reads); the server runs
//! them on its blocking pool and owns the polling loop. The index may trail the log by
//! one polling interval; lookups of a record appended a moment ago can miss it (the
//! append answer already carried its receipt).
//!
//! Map: `connections` ([`QueryIndex`]: the file, one writer and a pool of readers),
//! `schema` (tables and the rebuild rule), `tailer` (log entries to rows), `records`
//! (lookups by hash and sequence, record search), `daily` (evidence per day),
//! `incidents`, `patterns`, `fleet` (per-chain facts, keys, completeness alarms),
//! `export` (an evidence package's selection, page by page), `scope` ([`Scope`]), `codes` (stored codes and their names), `error`
//! ([`IndexError`]), `sql` (integer conversions, filtered statements).

mod codes;
mod connections;
mod daily;
mod error;
mod export;
mod fleet;
mod incidents;
mod patterns;
mod records;
mod schema;
mod scope;
mod sql;
mod tailer;

pub use codes::{
    kind_code, kind_name, outcome_code, outcome_name, status_code, status_name, tier_code,
    tier_name,
};
pub use connections::{QueryIndex, Reader};
pub use daily::DayCounts;
pub use error::IndexError;
pub use export::{ExportChain, SiteRecord};
pub use fleet::{ChainFacts, ClockStep, CompletenessAlarm, KeyRow};
pub use incidents::{Incident, IncidentFilter};
pub use patterns::{PatternStats, TierCounts};
pub use records::{ChainEntry, CheckCount, RecordFilter, RecordHit};
pub use schema::SCHEMA_VERSION;
pub use scope::Scope;

use serde::Serialize;

/// Milliseconds in a UTC day; days are counted from the Unix epoch (the day numbers of
/// `ledger_record::utc`).
pub const DAY_MS: u64 = 86_400_000;

/// A page of results and the cursor of the next page (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The first `limit` of `items`, which were fetched with one row more than `limit` to
    /// learn whether another page follows; the cursor is that of the last item kept.
    pub(crate) fn from_one_extra(
        mut items: Vec<T>,
        limit: usize,
        cursor: impl Fn(&T) -> String,
    ) -> Page<T> {
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = more.then(|| items.last().map(&cursor)).flatten();
        Page { items, next_cursor }
    }
}
