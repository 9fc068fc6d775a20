//! Keeps the query index ([`ledger_index`]) up to date while the server runs: every
//! polling interval it hands the index's blocking catch-up to the blocking pool, so
//! neither SQLite nor the RocksDB reads ever run on an async worker thread. The index
//! itself decides what is missing; this loop only owns the timing and the shutdown.
//! The server starts serving before the index has caught up (a full rebuild of a large
//! log takes minutes); until then queries answer from the entries indexed so far and
//! `ledger_index_lag_entries` says how many are missing.

use std::sync::Arc;
use std::time::Duration;

use ledger::Log;
use ledger_index::QueryIndex;

use crate::progress::ProgressLog;

/// A backlog from which a catch-up is logged with its progress.
const LONG_CATCH_UP: u64 = 100_000;

/// Tails the log until `shutdown` changes, indexing new entries every `interval`.
pub async fn run_indexer(
    index: Arc<QueryIndex>,
    log: Arc<Log>,
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let (index, log) = (index.clone(), log.clone());
        match crate::blocking::blocking(move || catch_up(&index, &log)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!("indexing failed: {e}"),
            Err(e) => tracing::error!("indexer task failed: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One catch-up; when the index is far behind (a rebuild after the index file was
/// removed, or a long downtime) it logs its progress.
fn catch_up(index: &QueryIndex, log: &Log) -> Result<u64, ledger_index::IndexError> {
    let target = log.latest().size;
    let behind = target.saturating_sub(index.indexed_size()?);
    if behind < LONG_CATCH_UP {
        return index.catch_up(log);
    }
    tracing::info!("query index is {behind} entries behind the log: indexing them");
    let started = std::time::Instant::now();
    let mut progress = ProgressLog::new("indexing the log", target);
    let done = index.catch_up_reporting(log, &mut |done, _| progress.report(done))?;
    tracing::info!(
        "query index caught up to {done} entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(done)
}
