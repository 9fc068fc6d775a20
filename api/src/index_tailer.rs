//! Keeps the query index ([`ledger_index`]) up to date while the server runs: every
//! polling interval it hands the index's blocking catch-up to the blocking pool, so
//! neither SQLite nor the RocksDB reads ever run on an async worker thread. The index
//! itself decides what is missing; this loop only owns the timing and the shutdown.

use std::sync::Arc;
use std::time::Duration;

use ledger::Log;
use ledger_index::QueryIndex;

/// Tails the log until `shutdown` changes, indexing new entries every `interval`.
pub async fn run_indexer(
    index: Arc<QueryIndex>,
    log: Arc<Log>,
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let (index, log) = (index.clone(), log.clone());
        match crate::blocking::blocking(move || index.catch_up(&log)).await {
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
