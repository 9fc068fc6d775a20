//! Reading and writing [`StampRecord`]s in the log's RocksDB (column family `anchors`),
//! with an in-memory summary (status and creation time by tree size) for the schedule,
//! metrics and lists. Calls from async code run on tokio's blocking pool, so a synced
//! write never holds up an async worker.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ledger::Log;

use super::record::{decode_record, encode_record, StampRecord, StampStatus};
use super::AnchorError;

/// Status and creation time (Unix ms) of every stamp, by tree size.
pub type Summary = BTreeMap<u64, (StampStatus, u64)>;

/// The stored stamps of one log.
pub struct StampStore {
    log: Arc<Log>,
    summary: Mutex<Summary>,
}

impl StampStore {
    /// Reads every stored record once to build the summary. Blocking.
    pub fn open(log: Arc<Log>) -> Result<StampStore, AnchorError> {
        let mut summary = BTreeMap::new();
        for item in log.store().anchors(0, false) {
            let (size, bytes) = item?;
            let record = decode_record(size, &bytes)?;
            summary.insert(size, (record.status, record.created_ms));
        }
        Ok(StampStore {
            log,
            summary: Mutex::new(summary),
        })
    }

    /// The summary, also after a panic elsewhere (it is rebuilt from whole records).
    pub fn summary(&self) -> MutexGuard<'_, Summary> {
        self.summary.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stamp of the checkpoint of exactly this size. Blocking.
    pub fn get(&self, size: u64) -> Result<Option<StampRecord>, AnchorError> {
        match self.log.store().anchor(size)? {
            Some(bytes) => decode_record(size, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// [`StampStore::get`] on the blocking pool.
    pub async fn get_off_worker(&self, size: u64) -> Result<Option<StampRecord>, AnchorError> {
        let log = self.log.clone();
        let bytes = off_worker(move || Ok(log.store().anchor(size)?)).await?;
        bytes.map(|b| decode_record(size, &b)).transpose()
    }

    /// Up to `limit` stamps, newest first, with tree size at most `before`. Blocking.
    pub fn list(&self, before: u64, limit: usize) -> Result<Vec<StampRecord>, AnchorError> {
        let mut out = Vec::new();
        for item in self.log.store().anchors(before, true).take(limit) {
            let (size, bytes) = item?;
            out.push(decode_record(size, &bytes)?);
        }
        Ok(out)
    }

    /// Stores `record` whole (synced), on the blocking pool, then updates the summary.
    pub async fn put(&self, record: &StampRecord) -> Result<(), AnchorError> {
        let bytes = encode_record(record)?;
        let log = self.log.clone();
        let size = record.tree_size;
        // Crash consistency: the record replaces its predecessor in one synced write. If
        // the process dies before it, the previous record (or none) is what the next
        // start loads: a lost submission is made again at the next interval, a lost
        // upgrade round is asked again.
        off_worker(move || Ok(log.store().put_anchor(size, &bytes)?)).await?;
        self.summary()
            .insert(record.tree_size, (record.status, record.created_ms));
        Ok(())
    }
}

/// Runs a storage call through [`crate::blocking::blocking`], off the async workers.
async fn off_worker<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, AnchorError> + Send + 'static,
) -> Result<T, AnchorError> {
    crate::blocking::blocking(call)
        .await
        .map_err(|e| AnchorError::Task(e.to_string()))?
}
