//! The query index: a SQLite file (`<data_dir>/index.sqlite`) mapping record hashes and
//! (site, appliance, sequence) to log indexes, for receipts by record hash and an
//! appliance's records by sequence range.
//!
//! The index is derived from the log and nothing else: a background task tails the log
//! and indexes every new entry, storing how far it got in the same transaction as the
//! rows. It is written with `synchronous=NORMAL`: a crash may lose the last transactions
//! but never corrupts the file, and the next start indexes the missing tail again.
//! Deleting the file rebuilds it from the log.
//!
//! The index may trail the log by one polling interval; lookups of a record appended a
//! moment ago can miss it (the append answer already carried its receipt).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ledger::Log;
use ledger_core::hash::Hash;
use ledger_record::{ChainId, Record};
use rusqlite::{params, Connection, OptionalExtension};

/// Why the index could not be read or written; an internal error for clients.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("query index: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("query index: reading the log: {0}")]
    Log(#[from] ledger::LedgerError),
}

/// Entries read from the log per transaction.
const CHUNK: u64 = 4096;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    idx INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    appliance TEXT NOT NULL,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    kind INTEGER NOT NULL,
    time_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS records_chain ON records (site, appliance, seq);
CREATE INDEX IF NOT EXISTS records_hash ON records (hash);
";

pub struct QueryIndex {
    conn: Mutex<Connection>,
}

/// One indexed record of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEntry {
    pub sequence: u64,
    pub index: u64,
}

impl QueryIndex {
    pub fn open(data_dir: &Path) -> Result<QueryIndex, IndexError> {
        let conn = Connection::open(data_dir.join("index.sqlite"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(QueryIndex {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many log entries are indexed.
    pub fn indexed_size(&self) -> Result<u64, IndexError> {
        let v: Option<i64> = self
            .conn()
            .query_row(
                "SELECT value FROM meta WHERE key = 'indexed_size'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.unwrap_or(0).max(0) as u64)
    }

    /// Indexes every entry of the latest signed tree not yet indexed. Blocking.
    pub fn catch_up(&self, log: &Log) -> Result<u64, IndexError> {
        let size = log.latest().size;
        let mut done = self.indexed_size()?;
        while done < size {
            let end = size.min(done + CHUNK);
            let entries = log.entries(done, end)?;
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR REPLACE INTO records (idx, site, appliance, seq, hash, kind, time_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for (offset, bytes) in entries.iter().enumerate() {
                    // Entries that are not records are not indexed; the log accepts any
                    // bytes, the intake only records.
                    let Ok(record) = Record::decode(bytes) else {
                        continue;
                    };
                    insert.execute(params![
                        (done + offset as u64) as i64,
                        record.site_id().as_str(),
                        record.appliance_id().as_str(),
                        record.sequence().min(i64::MAX as u64) as i64,
                        record.hash().as_bytes().to_vec(),
                        record.kind().code() as i64,
                        record.time_ms().min(i64::MAX as u64) as i64,
                    ])?;
                }
            }
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('indexed_size', ?1)",
                params![end as i64],
            )?;
            tx.commit()?;
            done = end;
        }
        Ok(done)
    }

    /// The log index of the record with this record hash (SHA-256 of its bytes).
    pub fn find_by_hash(&self, hash: &Hash) -> Result<Option<u64>, IndexError> {
        let v: Option<i64> = self
            .conn()
            .query_row(
                "SELECT idx FROM records WHERE hash = ?1 ORDER BY idx LIMIT 1",
                params![hash.as_bytes().to_vec()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.map(|i| i.max(0) as u64))
    }

    /// The records of `chain` with sequence numbers `from..=to`, at most `limit`.
    pub fn chain_range(
        &self,
        chain: &ChainId,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<ChainEntry>, IndexError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, idx FROM records WHERE site = ?1 AND appliance = ?2 AND seq >= ?3 AND seq <= ?4
             ORDER BY seq, idx LIMIT ?5",
        )?;
        let rows = stmt.query_map(
            params![
                chain.site_id.as_str(),
                chain.appliance_id.as_str(),
                from.min(i64::MAX as u64) as i64,
                to.min(i64::MAX as u64) as i64,
                limit as i64
            ],
            |r| {
                Ok(ChainEntry {
                    sequence: r.get::<_, i64>(0)?.max(0) as u64,
                    index: r.get::<_, i64>(1)?.max(0) as u64,
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

/// Tails the log until `shutdown` resolves, indexing new entries every `interval`.
pub async fn run_indexer(
    index: Arc<QueryIndex>,
    log: Arc<Log>,
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if index.indexed_size().ok() != Some(log.latest().size) {
            let (i, l) = (index.clone(), log.clone());
            match tokio::task::spawn_blocking(move || i.catch_up(&l)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!("indexing failed: {e}"),
                Err(e) => tracing::error!("indexer task failed: {e}"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}
