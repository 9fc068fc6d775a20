//! `ledgerd fsck`: the offline check of a stopped server's data directory. It
//! re-verifies the whole log (`ledger::fsck`: every entry, stored hash, dedup key and
//! signed checkpoint) and cross-checks the persisted intake state against a rebuild
//! from every entry; with `rebuild_state` it replaces a state that differs (or does not
//! cover the log) with the rebuild.

use std::time::Instant;

use ledger::fsck::FsckReport;
use ledger::{LedgerError, Log};

use crate::config::Config;
use crate::intake::derived::{self, StateDiff};
use crate::intake::IntakeOpenError;
use crate::progress::ProgressLog;

/// What `ledgerd fsck` found.
#[derive(Debug)]
pub struct FsckSummary {
    pub log: FsckReport,
    pub log_secs: f64,
    pub state: StateCheck,
}

/// The intake-state cross-check.
#[derive(Debug)]
pub struct StateCheck {
    /// Whether the persisted state claimed to cover the whole log in the current layout.
    pub was_current: bool,
    /// Chains and key records of the rebuild.
    pub chains: usize,
    pub key_records: usize,
    /// Entries that are not records.
    pub skipped: u64,
    pub secs: f64,
    /// The persisted state against the rebuild.
    pub diff: StateDiff,
    /// Whether the persisted state was replaced by the rebuild.
    pub rebuilt: bool,
}

impl StateCheck {
    /// Whether the data directory's intake state is right after the check.
    pub fn ok(&self) -> bool {
        self.rebuilt || (self.was_current && self.diff.is_empty())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FsckError {
    #[error("{0} holds no log (no db/ directory); nothing to check")]
    NoLog(String),
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    #[error("{0}")]
    State(#[from] IntakeOpenError),
}

/// Checks the data directory of `config`; the server must be stopped (RocksDB allows
/// one process). Blocking: reads every entry twice.
pub fn run(config: &Config, rebuild_state: bool) -> Result<FsckSummary, FsckError> {
    if !config.data_dir.join("db").is_dir() {
        return Err(FsckError::NoLog(config.data_dir.display().to_string()));
    }
    let log = Log::open(crate::state::log_config(config))?;
    let started = Instant::now();
    let report = log.fsck()?;
    let log_secs = started.elapsed().as_secs_f64();
    let state = check_state(&log, rebuild_state)?;
    Ok(FsckSummary {
        log: report,
        log_secs,
        state,
    })
}

fn check_state(log: &Log, rebuild_state: bool) -> Result<StateCheck, FsckError> {
    let was_current = derived::is_current(log)?;
    let size = log.latest().size;
    let started = Instant::now();
    let mut progress = ProgressLog::new("rebuilding the intake state", size);
    let (expected, skipped) = derived::rebuild(log, size, &mut |done| progress.report(done))?;
    let diff = StateDiff::of(&expected, &derived::stored(log)?);
    let secs = started.elapsed().as_secs_f64();
    let rebuilt = rebuild_state && !(was_current && diff.is_empty());
    let (chains, key_records) = derived::count(&expected);
    if rebuilt {
        derived::store(log, expected, size)?;
    }
    Ok(StateCheck {
        was_current,
        chains,
        key_records,
        skipped,
        secs,
        diff,
        rebuilt,
    })
}
