//! Anchoring: OpenTimestamps stamps of the log's checkpoints.
//!
//! The rooms:
//! - `schedule.rs` — the background task: when to stamp, and the upgrade rounds.
//! - `stamper.rs` — submitting the latest checkpoint's digest to the calendars.
//! - `upgrader.rs` — fetching calendar upgrades of pending stamps, merging them into a
//!   checked copy, deciding when a stamp is `complete`.
//! - `headers.rs` — the optional check of Bitcoin attestations against the block
//!   headers of `anchor_bitcoin_api`.
//! - `record.rs` and `store.rs` — the stored [`StampRecord`] of each stamped checkpoint
//!   (JSON in the log's RocksDB, column family `anchors`, keyed by tree size, synced on
//!   every change), and an in-memory summary of them.
//! - `metrics.rs` — the anchoring lines of `/metrics`.
//!
//! Nothing is deleted for being old; stamps pending longer than
//! `anchor_pending_alarm_secs` are flagged `overdue`.
//!
//! What it does not do without `anchor_bitcoin_api`: check Bitcoin attestations against
//! block headers; auditors do that with `ledger-verify` and headers they trust, in every
//! case. A calendar that is down, slow or answers garbage only produces errors recorded
//! in the stamp record and metrics; appends never wait for anchoring. The HTTP side is
//! `anchor_http`; this module knows nothing of HTTP.

mod headers;
mod metrics;
mod record;
mod schedule;
mod stamper;
mod store;
mod upgrader;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anchor::client::{CalendarClient, ClientConfig};
use anchor::header_source::HeaderSource;
use anchor::OtsError;
use ledger::Log;

use crate::config::AnchorSettings;

use headers::HeaderCheck;
use store::StampStore;

pub use metrics::AnchorCounters;
pub use record::{StampRecord, StampStatus, VerifiedBlock};
pub use schedule::run;
pub use stamper::checkpoint_digest;

/// Why anchoring state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("anchor store: {0}")]
    Ledger(#[from] ledger::LedgerError),
    #[error("anchor record for tree size {size} is unreadable: {reason}")]
    Record { size: u64, reason: String },
    #[error("anchoring: {0}")]
    Ots(#[from] OtsError),
    /// A storage call on the blocking pool panicked or was cancelled at shutdown.
    #[error("anchor store: the storage task did not finish: {0}")]
    Task(String),
}

/// The anchoring service of one log.
pub struct Anchoring {
    log: Arc<Log>,
    settings: AnchorSettings,
    client: Option<CalendarClient>,
    /// The header check of Bitcoin attestations (`anchor_bitcoin_api`), if configured.
    headers: Option<HeaderCheck>,
    pub counters: AnchorCounters,
    /// The stored stamps and their summary.
    store: StampStore,
    /// Set by [`Anchoring::request_stamp`]: end the current interval now.
    stamp_requested: AtomicBool,
    /// With witnesses: stamps are made over the latest checkpoint that met the quorum.
    witnessed: std::sync::OnceLock<crate::witness::Gate>,
}

pub use crate::clock::now_ms;

impl Anchoring {
    /// Makes stamps over the checkpoints `gate` publishes (those that met the witness
    /// quorum) instead of the log's latest. Set once, before the anchoring loop runs.
    pub fn set_witness_gate(&self, gate: crate::witness::Gate) {
        let _ = self.witnessed.set(gate);
    }

    /// The checkpoint that stamps and packages are made over: the latest that met the
    /// witness quorum when there are witnesses, else the log's latest.
    pub fn published(&self) -> Arc<ledger::CheckpointInfo> {
        self.witnessed
            .get()
            .and_then(|g| g.latest())
            .unwrap_or_else(|| self.log.latest())
    }

    /// Loads the stored stamps' summary; builds the calendar client when enabled.
    /// Blocking (reads every stored stamp once).
    pub fn open(log: Arc<Log>, settings: AnchorSettings) -> Result<Anchoring, AnchorError> {
        let client = if settings.enabled {
            let calendars: Vec<&str> = settings.calendars.iter().map(String::as_str).collect();
            let mut config = ClientConfig::new(&calendars);
            config.min_successes = settings.min_calendars;
            config.timeout = settings.timeout;
            Some(CalendarClient::new(config)?)
        } else {
            None
        };
        let headers = match (&settings.bitcoin_api, settings.enabled) {
            (Some(api), true) => Some(HeaderCheck::new(HeaderSource::new(api, settings.timeout)?)),
            _ => None,
        };
        let store = StampStore::open(log.clone())?;
        Ok(Anchoring {
            witnessed: std::sync::OnceLock::new(),
            log,
            settings,
            client,
            headers,
            counters: AnchorCounters::default(),
            store,
            stamp_requested: AtomicBool::new(false),
        })
    }

    /// Ends the current interval now: the schedule stamps the latest checkpoint on its
    /// next tick if the log has grown since the previous stamp (or that stamp failed).
    /// For operators closing a period (`POST /v1/admin/anchors/stamp-now`) and tests.
    pub fn request_stamp(&self) {
        self.stamp_requested.store(true, Ordering::SeqCst);
    }

    pub fn settings(&self) -> &AnchorSettings {
        &self.settings
    }

    /// The stamp of the checkpoint of exactly this size. Blocking.
    pub fn stamp(&self, size: u64) -> Result<Option<StampRecord>, AnchorError> {
        self.store.get(size)
    }

    /// Up to `limit` stamps, newest first, with tree size at most `before` (inclusive).
    /// Blocking.
    pub fn list(&self, before: u64, limit: usize) -> Result<Vec<StampRecord>, AnchorError> {
        self.store.list(before, limit)
    }

    /// The newest complete stamp whose checkpoint covers log index `index`, else the
    /// newest pending one covering it. Blocking.
    pub fn best_covering(&self, index: u64) -> Result<Option<StampRecord>, AnchorError> {
        let candidates: Vec<(u64, StampStatus)> = self
            .store
            .summary()
            .range(index.saturating_add(1)..)
            .rev()
            .map(|(size, (status, _))| (*size, *status))
            .collect();
        for wanted in [StampStatus::Complete, StampStatus::Pending] {
            if let Some((size, _)) = candidates.iter().find(|(_, s)| *s == wanted) {
                return self.stamp(*size);
            }
        }
        Ok(None)
    }

    /// Counts by status and the creation time of the oldest pending stamp.
    pub fn status_counts(&self) -> (BTreeMap<StampStatus, u64>, Option<u64>) {
        let summary = self.store.summary();
        let mut counts = BTreeMap::new();
        let mut oldest_pending = None;
        for (status, created) in summary.values() {
            *counts.entry(*status).or_insert(0) += 1;
            if *status == StampStatus::Pending {
                oldest_pending = Some(oldest_pending.map_or(*created, |o: u64| o.min(*created)));
            }
        }
        (counts, oldest_pending)
    }
}
