//! The stateless read replica (`ledgerd replica`): serves the log's public read side —
//! checkpoint, hash tiles, receipts, consistency proofs and, when entry bundles are
//! published, receipts by record hash — from the publisher's S3 bucket alone, with a
//! local cache. No RocksDB, no sequencer, no signing key: any number of replicas can
//! run beside one primary (`docs/REPLICAS.md`).
//!
//! Trust: the bucket is untrusted; only the log key given on the command line is. A
//! checkpoint is served only after its signature verifies with that key, the bucket's
//! tiles recompute its root, and a consistency proof built from those tiles links it to
//! the checkpoint served before. Anything else is refused: the previous checkpoint
//! stays, the reason is logged and shown on `/healthz`. Every receipt is verified
//! against the served root before it is answered, so a tampered tile is an error, never
//! a wrong proof.
//!
//! The rooms: `cache.rs` (memory LRU and disk cache of immutable objects),
//! `source.rs` (subtree hashes from tiles for `ledger-core`'s proof code),
//! `follow.rs` (reading and checking the bucket's checkpoint), `reads.rs` (tiles,
//! receipts and proofs), `hashes.rs` (the record-hash table built from entry bundles).

mod cache;
mod follow;
mod hashes;
mod reads;
mod source;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use ledger_core::hash::Hash;
use ledger_core::note::NoteVerifier;
use tokio::sync::watch;

use crate::config::PublishSettings;
use crate::publish::{Bucket, PublishError};

pub use follow::Refusal;

/// Default bound of the memory cache.
pub const DEFAULT_MEMORY_CACHE_BYTES: usize = 256 << 20;

/// Checkpoints kept for `?size=` requests besides the current one.
const HISTORY: usize = 1024;

/// What a replica needs: the bucket (the publisher's settings, whose `entry_bundles` and
/// `interval` are unused), the one key it trusts, and its cache.
#[derive(Debug, Clone)]
pub struct ReplicaSettings {
    pub bucket: PublishSettings,
    /// The log's verifier key, `name+hex(keyid)+base64(0x01||pubkey)`.
    pub log_key: String,
    pub cache_dir: Option<PathBuf>,
    /// How often the bucket's checkpoint is read.
    pub refresh: Duration,
    pub memory_cache_bytes: usize,
}

/// Why a replica read failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReplicaError {
    /// The bucket did not answer or refused a request.
    #[error("{0}")]
    Bucket(#[from] PublishError),
    /// A request the replica cannot answer (size unknown, index past the tree, …).
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// The bucket's objects do not agree with the verified checkpoint.
    #[error("the bucket's objects do not match the verified checkpoint: {0}")]
    Corrupt(String),
    #[error("replica storage: {0}")]
    Storage(String),
}

/// A verified checkpoint the replica serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub size: u64,
    pub root: Hash,
    /// The note verbatim; empty before the first verified checkpoint.
    pub note: Bytes,
}

/// The replica's counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct ReplicaMetrics {
    pub bucket_reads: AtomicU64,
    pub memory_hits: AtomicU64,
    pub disk_hits: AtomicU64,
    pub refused: AtomicU64,
    pub adopted: AtomicU64,
    pub receipts: AtomicU64,
    pub tiles_served: AtomicU64,
}

/// One replica: the bucket, the trusted key, what it serves and its cache.
pub struct Replica {
    bucket: Bucket,
    verifier: NoteVerifier,
    current: RwLock<Arc<Served>>,
    history: Mutex<BTreeMap<u64, Arc<Served>>>,
    refusal: Mutex<Option<Refusal>>,
    memory: cache::MemoryCache,
    disk: Option<cache::DiskCache>,
    hashes: Arc<hashes::HashTable>,
    pub metrics: ReplicaMetrics,
    pub refresh: Duration,
}

const ORDER: Ordering = Ordering::Relaxed;

impl Replica {
    /// Opens the bucket client and the cache directory (blocking for the credentials
    /// file and the hash table, on the pool).
    pub async fn open(settings: ReplicaSettings) -> Result<Arc<Replica>, ReplicaError> {
        let verifier = NoteVerifier::parse(&settings.log_key)
            .map_err(|e| ReplicaError::BadRequest(format!("--log-key: {e}")))?;
        let bucket = crate::publish::open(&settings.bucket)
            .await?
            .ok_or_else(|| ReplicaError::BadRequest("--bucket is required".into()))?;
        let dir = settings.cache_dir.clone();
        let hashes = crate::blocking::blocking(move || hashes::HashTable::open(dir.as_deref()))
            .await
            .map_err(|e| ReplicaError::Storage(e.to_string()))??;
        Ok(Arc::new(Replica {
            bucket,
            verifier,
            current: RwLock::new(Arc::new(Served {
                size: 0,
                root: Hash::empty_root(),
                note: Bytes::new(),
            })),
            history: Mutex::new(BTreeMap::new()),
            refusal: Mutex::new(None),
            memory: cache::MemoryCache::new(settings.memory_cache_bytes),
            disk: settings.cache_dir.as_deref().map(cache::DiskCache::new),
            hashes: Arc::new(hashes),
            metrics: ReplicaMetrics::default(),
            refresh: settings.refresh,
        }))
    }

    /// The checkpoint served now (size 0 and an empty note before the first one).
    pub fn current(&self) -> Arc<Served> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The trusted log key, as given.
    pub fn verifier_key(&self) -> String {
        self.verifier.verifier_key()
    }

    /// The log's origin, the trusted key's name.
    pub fn origin(&self) -> &str {
        self.verifier.name()
    }

    /// The last refusal of the bucket's checkpoint, while it is still the bucket's.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Bytes held by the memory cache.
    pub fn memory_cache_bytes(&self) -> usize {
        self.memory.bytes()
    }

    /// Entries in the record-hash table, `None` when the bucket has no entry bundles.
    pub fn hashed_size(&self) -> Option<u64> {
        self.hashes.indexed_size()
    }

    /// The checkpoint of `size` if this replica served it.
    fn served_at(&self, size: u64) -> Option<Arc<Served>> {
        let current = self.current();
        if current.size == size {
            return Some(current);
        }
        self.history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&size)
            .cloned()
    }

    /// Serves `next` from now on, keeping the one before for `?size=` requests.
    fn adopt(&self, next: Served) {
        let next = Arc::new(next);
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|p| p.into_inner()),
            next.clone(),
        );
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if old.size > 0 {
            history.insert(old.size, old);
        }
        history.remove(&next.size);
        while history.len() > HISTORY {
            history.pop_first();
        }
        *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.metrics.adopted.fetch_add(1, ORDER);
    }
}

/// The background task: reads the bucket's checkpoint every refresh interval until
/// `stop`, and brings the record-hash table up to the served size.
pub async fn run(replica: Arc<Replica>, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let step = async {
            replica.follow().await;
            replica.index_hashes().await;
        };
        tokio::select! {
            _ = step => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        tokio::select! {
            _ = tokio::time::sleep(replica.refresh) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
}
