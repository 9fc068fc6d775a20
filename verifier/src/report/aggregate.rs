//! The audit report's aggregates, collected in the verification's own pass over the
//! records (as a [`RecordObserver`]): per appliance, evidence bundles per UTC day and
//! check results per check type and status; healing incidents by tier and outcome and
//! the most recent ones in full.
//!
//! Memory is bounded by the number of appliances × days × check types and the capped
//! incident list, never by the number of records: each counted cell keeps its count and
//! the log indexes of its first and last record, which the report cites.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use ledger_record::{Body, ChainId, Outcome, Record, Tier};

use crate::package::RecordObserver;

/// Milliseconds in a UTC day.
pub const DAY_MS: u64 = 86_400_000;

/// Healing incidents kept in full for the report's table: the most recent ones.
pub const DEFAULT_INCIDENT_ROWS: usize = 200;

/// How many records a cell counts, and the first and last of them (log indexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub count: u64,
    pub first: u64,
    pub last: u64,
}

impl Span {
    fn new(index: u64) -> Span {
        Span {
            count: 1,
            first: index,
            last: index,
        }
    }

    /// Counts one more record; records arrive in log order.
    fn add(&mut self, index: u64) {
        self.count += 1;
        self.last = index;
    }

    /// Counts `index` into an optional span.
    pub fn bump(slot: &mut Option<Span>, index: u64) {
        match slot {
            Some(s) => s.add(index),
            None => *slot = Some(Span::new(index)),
        }
    }

    /// The cell's citations: its first and last record (once if they are the same).
    pub fn indexes(&self) -> Vec<u64> {
        if self.first == self.last {
            vec![self.first]
        } else {
            vec![self.first, self.last]
        }
    }
}

/// Check results of one check type, per status (pass, warning, fail, error).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub by_status: [Option<Span>; 4],
}

/// The statuses in the order of [`StatusCounts::by_status`].
pub const STATUSES: [&str; 4] = ["pass", "warning", "fail", "error"];

/// One appliance's records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainAgg {
    /// Evidence bundles per UTC day of the record's appliance time (day number).
    pub days: BTreeMap<i64, Span>,
    /// Inline evidence items per check type.
    pub checks: BTreeMap<String, StatusCounts>,
    /// Evidence bundles that commit to their items without showing them.
    pub committed: Option<Span>,
    /// Healing records.
    pub healing: Option<Span>,
    /// Every record of the chain in the package.
    pub all: Option<Span>,
}

/// One healing incident as the report's table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub index: u64,
    pub chain: String,
    pub time_ms: u64,
    pub incident_id: String,
    pub check_type: String,
    pub tier: Tier,
    pub runbook_id: String,
    pub action: String,
    pub outcome: Outcome,
    pub started_at_ms: u64,
    pub ended_at_ms: u64,
}

/// Everything the report counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregates {
    /// Earliest and latest appliance time among the records, with their log indexes.
    pub earliest: Option<(u64, u64)>,
    pub latest: Option<(u64, u64)>,
    pub chains: BTreeMap<ChainId, ChainAgg>,
    /// Every record of the package, and every healing record.
    pub all: Option<Span>,
    pub healing_all: Option<Span>,
    /// Healing records by (tier, outcome).
    pub healing: BTreeMap<(u64, u64), Span>,
    /// The most recent incidents, oldest first; at most `incident_rows`.
    pub incidents: VecDeque<Incident>,
    pub incidents_total: u64,
    pub incident_rows: usize,
}

/// The observer handed to the verification.
pub struct Collector {
    state: Mutex<Aggregates>,
}

impl Collector {
    pub fn new(incident_rows: usize) -> Collector {
        Collector {
            state: Mutex::new(Aggregates {
                incident_rows,
                ..Aggregates::default()
            }),
        }
    }

    /// The aggregates collected so far.
    pub fn into_aggregates(self) -> Aggregates {
        self.state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl RecordObserver for Collector {
    fn observe(&self, index: u64, record: &Record) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.add(index, record);
    }
}

impl Aggregates {
    fn add(&mut self, index: u64, record: &Record) {
        let time = record.time_ms();
        if self.earliest.is_none_or(|(t, _)| time < t) {
            self.earliest = Some((time, index));
        }
        if self.latest.is_none_or(|(t, _)| time > t) {
            self.latest = Some((time, index));
        }
        Span::bump(&mut self.all, index);
        let chain = self.chains.entry(record.chain()).or_default();
        Span::bump(&mut chain.all, index);
        match record.body() {
            Body::Evidence(e) => {
                let day = (time / DAY_MS) as i64;
                match chain.days.get_mut(&day) {
                    Some(s) => s.add(index),
                    None => {
                        chain.days.insert(day, Span::new(index));
                    }
                }
                let Some(items) = e.items() else {
                    Span::bump(&mut chain.committed, index);
                    return;
                };
                for item in items {
                    let counts = match chain.checks.get_mut(item.check_type.as_str()) {
                        Some(c) => c,
                        None => chain.checks.entry(item.check_type.to_string()).or_default(),
                    };
                    let slot = item.status.code() as usize;
                    Span::bump(&mut counts.by_status[slot.min(3)], index);
                }
            }
            Body::Healing(h) => {
                Span::bump(&mut chain.healing, index);
                Span::bump(&mut self.healing_all, index);
                match self.healing.get_mut(&(h.tier.code(), h.outcome.code())) {
                    Some(s) => s.add(index),
                    None => {
                        self.healing
                            .insert((h.tier.code(), h.outcome.code()), Span::new(index));
                    }
                }
                self.add_incident(index, record, h);
            }
            Body::Key(_) | Body::Release(_) | Body::Rollout(_) | Body::Update(_) => {}
        }
    }

    /// Keeps the incident if it is among the most recent `incident_rows` (records
    /// arrive in log order, so the newest is always kept and the oldest dropped).
    fn add_incident(&mut self, index: u64, record: &Record, h: &ledger_record::HealingBody) {
        self.incidents_total += 1;
        if self.incident_rows == 0 {
            return;
        }
        if self.incidents.len() == self.incident_rows {
            self.incidents.pop_front();
        }
        self.incidents.push_back(Incident {
            index,
            chain: record.chain().to_string(),
            time_ms: record.time_ms(),
            incident_id: h.incident_id.to_string(),
            check_type: h.check_type.to_string(),
            tier: h.tier,
            runbook_id: h.runbook_id.to_string(),
            action: h.action.clone(),
            outcome: h.outcome,
            started_at_ms: h.started_at_ms,
            ended_at_ms: h.ended_at_ms,
        });
    }
}
