//! The record-hash table of a replica: record hash (SHA-256 of the encoded record, as
//! the primary's query index keys it) to log index, built from the bucket's entry
//! bundles as the replica follows the log, in SQLite (`<cache_dir>/hashes.sqlite`, or in
//! memory without a cache directory). Each bundle's entries are checked against the
//! level-0 hash tile before they are indexed, and every receipt found through the table
//! is verified against the served root like any other. Without published bundles the
//! lookup answers that it cannot be done.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::tiles::{parse_entry_bundle, EntryBundle, Tile, TilePath, TILE_WIDTH};
use ledger_record::Record;
use rusqlite::{params, Connection, OptionalExtension as _};
use sha2::{Digest as _, Sha256};

use super::{Replica, ReplicaError};

/// Bundles read and indexed per refresh, so a large log is indexed in steps.
const BUNDLES_PER_STEP: u64 = 64;

const UNKNOWN: u8 = 0;
const PUBLISHED: u8 = 1;
const ABSENT: u8 = 2;

/// The table and how far it covers the log.
pub struct HashTable {
    conn: Mutex<Connection>,
    indexed: AtomicU64,
    bundles: AtomicU8,
}

fn storage(e: rusqlite::Error) -> ReplicaError {
    ReplicaError::Storage(e.to_string())
}

impl HashTable {
    /// Opens (or creates) the table. Blocking.
    pub fn open(dir: Option<&Path>) -> Result<HashTable, ReplicaError> {
        let conn = match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    ReplicaError::Storage(format!("creating {}: {e}", dir.display()))
                })?;
                Connection::open(dir.join("hashes.sqlite")).map_err(storage)?
            }
            None => Connection::open_in_memory().map_err(storage)?,
        };
        if dir.is_some() {
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(storage)?;
        }
        // The table is rebuilt from the bucket if lost, so `synchronous = NORMAL` is enough.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(storage)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS records (hash BLOB PRIMARY KEY, idx INTEGER NOT NULL) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
        )
        .map_err(storage)?;
        let indexed: i64 = conn
            .query_row("SELECT value FROM meta WHERE key = 'indexed'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(storage)?
            .unwrap_or(0);
        Ok(HashTable {
            conn: Mutex::new(conn),
            indexed: AtomicU64::new(indexed as u64),
            bundles: AtomicU8::new(UNKNOWN),
        })
    }

    /// Entries indexed, `None` when the bucket has no entry bundles.
    pub fn indexed_size(&self) -> Option<u64> {
        (self.bundles.load(Ordering::Relaxed) != ABSENT)
            .then(|| self.indexed.load(Ordering::Relaxed))
    }

    /// Adds rows and the new covered size in one transaction. Blocking.
    fn add(&self, rows: &[(Hash, u64)], indexed: u64) -> Result<(), ReplicaError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction().map_err(storage)?;
        {
            let mut insert = tx
                .prepare_cached("INSERT OR IGNORE INTO records (hash, idx) VALUES (?1, ?2)")
                .map_err(storage)?;
            for (hash, index) in rows {
                insert
                    .execute(params![hash.as_bytes().to_vec(), *index as i64])
                    .map_err(storage)?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('indexed', ?1)",
                params![indexed as i64],
            )
            .map_err(storage)?;
        }
        // Crash before the commit: the rows and the size are lost together and the
        // bundles are read again on the next start.
        tx.commit().map_err(storage)?;
        self.indexed.store(indexed, Ordering::Relaxed);
        Ok(())
    }

    /// The first index of the record with this hash. Blocking.
    fn find(&self, hash: &Hash) -> Result<Option<u64>, ReplicaError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.query_row(
            "SELECT idx FROM records WHERE hash = ?1",
            params![hash.as_bytes().to_vec()],
            |r| r.get::<_, i64>(0),
        )
        .optional()
        .map(|v| v.map(|i| i as u64))
        .map_err(storage)
    }
}

impl Replica {
    /// Indexes the entry bundles of the served tree not indexed yet, a step at a time.
    pub async fn index_hashes(&self) {
        let size = self.current().size;
        let table = &self.hashes;
        if size == 0 || table.bundles.load(Ordering::Relaxed) == ABSENT {
            return;
        }
        let width = u64::from(TILE_WIDTH);
        let from = table.indexed.load(Ordering::Relaxed);
        let last = (size - 1) / width;
        for b in (from / width..=last).take(BUNDLES_PER_STEP as usize) {
            let start = table.indexed.load(Ordering::Relaxed);
            if start >= size {
                return;
            }
            if let Err(e) = self.index_bundle(b, size, start).await {
                tracing::error!("replica: record-hash table: {e}");
                return;
            }
            if table.bundles.load(Ordering::Relaxed) == ABSENT {
                return;
            }
        }
    }

    async fn index_bundle(&self, b: u64, size: u64, start: u64) -> Result<(), ReplicaError> {
        let width = (size - b * u64::from(TILE_WIDTH)).min(u64::from(TILE_WIDTH)) as u16;
        let bundle =
            EntryBundle::new(b, width).map_err(|e| ReplicaError::Corrupt(e.to_string()))?;
        let bytes = match self.object(TilePath::Entries(bundle)).await {
            Ok(found) => found,
            Err(ReplicaError::NotFound(_)) if b == 0 => {
                tracing::info!(
                    "replica: the bucket has no entry bundles; lookups by record hash are off"
                );
                self.hashes.bundles.store(ABSENT, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.hashes.bundles.store(PUBLISHED, Ordering::Relaxed);
        let tile = Tile::new(0, b, width).map_err(|e| ReplicaError::Corrupt(e.to_string()))?;
        let leaves = self.object(TilePath::Hashes(tile)).await?;
        let entries = parse_entry_bundle(&bytes.bytes, &bundle)
            .map_err(|e| ReplicaError::Corrupt(format!("{}: {e}", bundle.path())))?;
        let base = b * u64::from(TILE_WIDTH);
        let mut rows = Vec::new();
        for (k, entry) in entries.iter().enumerate() {
            if leaves.levels[0].get(k) != Some(&leaf_hash(entry)) {
                return Err(ReplicaError::Corrupt(format!(
                    "entry {} of {} does not match tile {}",
                    base + k as u64,
                    bundle.path(),
                    tile.path()
                )));
            }
            let index = base + k as u64;
            if index >= start && Record::decode(entry).is_ok() {
                rows.push((Hash(Sha256::digest(entry).into()), index));
            }
        }
        let covered = base + u64::from(width);
        let replica_hashes = self.hashes.clone();
        crate::blocking::blocking(move || replica_hashes.add(&rows, covered))
            .await
            .map_err(|e| ReplicaError::Storage(e.to_string()))?
    }

    /// The log index of the record with this hash, when entry bundles are published.
    pub async fn index_of_hash(&self, hash: Hash) -> Result<u64, ReplicaError> {
        let Some(indexed) = self.hashes.indexed_size() else {
            return Err(ReplicaError::NotFound(
                "the bucket holds no entry bundles (the primary publishes them only with publish_entry_bundles), so this replica cannot find records by hash; ask the primary".into(),
            ));
        };
        let table = self.hashes.clone();
        let found = crate::blocking::blocking(move || table.find(&hash))
            .await
            .map_err(|e| ReplicaError::Storage(e.to_string()))??;
        found.ok_or_else(|| {
            ReplicaError::NotFound(format!(
                "record {hash} is not among the {indexed} entries this replica has indexed"
            ))
        })
    }
}
