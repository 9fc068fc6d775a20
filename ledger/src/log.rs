//! [`Log`]: one log's public face. It opens the store, checks the tree against the last
//! signed checkpoint, runs the sequencer thread, and serves reads and proofs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError};
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::proof::{self, SubtreeSource};
use parking_lot::{Mutex, RwLock};

use crate::derived::{Deriver, StateWrites};
use crate::error::LedgerError;
use crate::key::LogKey;
use crate::sequencer::{self, Appended, Reply, Request, SequencerConfig};
use crate::space::DiskReserve;
use crate::store::{ProofReader, Store, StoreOptions, MAX_ENTRY_SIZE};
use crate::tree_state::TreeState;

/// Everything needed to open a log.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Data directory: holds `db/` (RocksDB) and `log.key`.
    pub dir: PathBuf,
    /// The checkpoint origin line and signing key name, e.g. `ledger.example.org/log/2026`.
    pub origin: String,
    pub sequencer: SequencerConfig,
    pub store: StoreOptions,
    /// Derived state written with every batch (see [`crate::derived`]); `None` writes
    /// none and leaves any existing derived state stale.
    pub deriver: Option<Deriver>,
}

impl LogConfig {
    pub fn new(dir: impl Into<PathBuf>, origin: impl Into<String>) -> LogConfig {
        LogConfig {
            dir: dir.into(),
            origin: origin.into(),
            sequencer: SequencerConfig::default(),
            store: StoreOptions::default(),
            deriver: None,
        }
    }
}

/// A signed checkpoint as the log produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointInfo {
    pub size: u64,
    pub root: Hash,
    /// The C2SP signed note, verbatim.
    pub note: Vec<u8>,
}

/// Counters for the metrics endpoint.
#[derive(Debug, Default)]
pub struct Metrics {
    pub batches: AtomicU64,
    pub batched_entries: AtomicU64,
    pub largest_batch: AtomicU64,
    pub rejected_busy: AtomicU64,
    /// Requests refused because the disk reserve was not free.
    pub rejected_no_space: AtomicU64,
    /// Time the sequencer spent deduplicating, extending the tree and signing.
    pub sequence_nanos: AtomicU64,
    /// Time the writer spent in synced RocksDB writes.
    pub commit_nanos: AtomicU64,
    /// Durations of the synced group-commit writes, one count per batch.
    pub commit_times: CommitHistogram,
}

/// Buckets of a latency histogram: four per doubling, from 1 µs to about 17 minutes.
pub const COMMIT_BUCKETS: usize = 120;

/// A histogram of group-commit durations with quarter-octave buckets (about ±9% of the
/// value), so a percentile of any interval can be read from two snapshots.
#[derive(Debug)]
pub struct CommitHistogram {
    counts: [AtomicU64; COMMIT_BUCKETS],
}

impl Default for CommitHistogram {
    fn default() -> Self {
        CommitHistogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl CommitHistogram {
    fn bucket(micros: f64) -> usize {
        ((micros.max(1.0).log2() * 4.0) as usize).min(COMMIT_BUCKETS - 1)
    }

    /// The upper bound of bucket `i`, in microseconds.
    pub fn upper_micros(i: usize) -> f64 {
        2f64.powf((i + 1) as f64 / 4.0)
    }

    pub fn observe(&self, elapsed: std::time::Duration) {
        let micros = elapsed.as_secs_f64() * 1e6;
        self.counts[Self::bucket(micros)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts of every bucket now.
    pub fn snapshot(&self) -> [u64; COMMIT_BUCKETS] {
        std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed))
    }

    /// The `q` quantile (0..=1) of the commits between snapshots `before` and `after`,
    /// as the upper bound of its bucket in microseconds; `None` without commits.
    pub fn quantile_between(
        before: &[u64; COMMIT_BUCKETS],
        after: &[u64; COMMIT_BUCKETS],
        q: f64,
    ) -> Option<f64> {
        let deltas: Vec<u64> = (0..COMMIT_BUCKETS).map(|i| after[i] - before[i]).collect();
        let total: u64 = deltas.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in deltas.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Self::upper_micros(i));
            }
        }
        None
    }
}

impl Metrics {
    pub(crate) fn record_batch(&self, n: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batched_entries.fetch_add(n as u64, Ordering::Relaxed);
        self.largest_batch.fetch_max(n as u64, Ordering::Relaxed);
    }
}

pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) signer: LogKey,
    pub(crate) config: LogConfig,
    pub(crate) metrics: Metrics,
    pub(crate) reserve: DiskReserve,
    latest: RwLock<Arc<CheckpointInfo>>,
    stopped: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn latest(&self) -> Arc<CheckpointInfo> {
        self.latest.read().clone()
    }

    pub(crate) fn publish(&self, info: Arc<CheckpointInfo>) {
        *self.latest.write() = info;
    }

    /// Records why writing stopped; the first reason wins.
    pub(crate) fn stop(&self, reason: String) {
        self.stopped.lock().get_or_insert(reason);
    }

    pub(crate) fn stop_reason(&self) -> String {
        self.stopped
            .lock()
            .clone()
            .unwrap_or_else(|| "the log is closed".into())
    }
}

/// An open log. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Log {
    shared: Arc<Shared>,
    tx: Mutex<Option<Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    capacity: usize,
}

impl Log {
    /// Opens the log in `config.dir`, creating the directory, the store and the log key
    /// on first start. Refuses to start when the stored tree does not match the last
    /// signed checkpoint, when that checkpoint's signature does not verify with the log
    /// key, or when the key file is damaged. Nothing is ever repaired silently.
    pub fn open(config: LogConfig) -> Result<Log, LedgerError> {
        std::fs::create_dir_all(&config.dir).map_err(|source| LedgerError::Io {
            path: config.dir.display().to_string(),
            source,
        })?;
        let store = Store::open(&config.dir.join("db"), &config.store)?;
        let key_path = config.dir.join("log.key");
        if !key_path.exists() && store.latest_checkpoint()?.is_some() {
            // A fresh key could not verify the checkpoints already signed: refuse rather
            // than start a second history under the same origin.
            return Err(LedgerError::KeyFile {
                path: key_path.display().to_string(),
                problem: "missing, but the store already holds signed checkpoints; restore the key file from backup".into(),
            });
        }
        let key = LogKey::load_or_create(&key_path, &config.origin)?;
        let size = store.size()?;
        let state = TreeState::load(&store, size)?;
        let latest = match store.latest_checkpoint()? {
            None if size == 0 => {
                // A new log publishes the checkpoint of the empty tree, so readers always
                // have a signed tree head. Crash here: the next open signs it again.
                let note = key.sign_checkpoint(0, &Hash::empty_root())?;
                let info = CheckpointInfo {
                    size: 0,
                    root: Hash::empty_root(),
                    note,
                };
                store.commit(&crate::store::Commit {
                    new_size: 0,
                    checkpoint: info.note.clone(),
                    state: config.deriver.as_ref().map(|_| StateWrites::new()),
                    ..Default::default()
                })?;
                info
            }
            None => {
                return Err(LedgerError::corrupt(format!(
                    "the store holds {size} entries but no signed checkpoint"
                )))
            }
            Some((cp_size, note)) => {
                let (signed_size, signed_root) = key.verify_checkpoint(&note)?;
                if signed_size != cp_size || cp_size != size {
                    return Err(LedgerError::corrupt(format!(
                        "stored size {size}, latest checkpoint stored under size {cp_size} says size {signed_size}"
                    )));
                }
                let computed = state.root();
                if computed != signed_root {
                    return Err(LedgerError::CheckpointMismatch {
                        size,
                        checkpoint_root: signed_root,
                        computed_root: computed,
                    });
                }
                CheckpointInfo {
                    size,
                    root: signed_root,
                    note,
                }
            }
        };
        let capacity = config.sequencer.queue_capacity;
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let reserve = DiskReserve::new(&config.dir, config.store.min_free_bytes);
        let shared = Arc::new(Shared {
            store,
            reserve,
            signer: key,
            config,
            metrics: Metrics::default(),
            latest: RwLock::new(Arc::new(latest)),
            stopped: Mutex::new(None),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("ledger-sequencer".into())
                .spawn(move || sequencer::run(shared, state, rx))
                .map_err(|source| LedgerError::Io {
                    path: "sequencer thread".into(),
                    source,
                })?
        };
        Ok(Log {
            shared,
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            capacity,
        })
    }

    pub fn origin(&self) -> &str {
        &self.shared.config.origin
    }

    pub fn dir(&self) -> &Path {
        &self.shared.config.dir
    }

    /// The C2SP verifier key string of the log key (`name+hex+base64`).
    pub fn verifier_key(&self) -> String {
        self.shared.signer.verifier_key()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Requests waiting for the sequencer right now.
    pub fn queue_depth(&self) -> usize {
        self.tx.lock().as_ref().map_or(0, |tx| tx.len())
    }

    /// The latest signed checkpoint.
    pub fn latest(&self) -> Arc<CheckpointInfo> {
        self.shared.latest()
    }

    /// Checks and hashes entries before they reach the sequencer, on the caller's thread.
    pub fn prepare(entries: Vec<Vec<u8>>) -> Result<Vec<(Vec<u8>, Hash)>, LedgerError> {
        entries
            .into_iter()
            .map(|e| {
                if e.is_empty() {
                    return Err(LedgerError::EmptyEntry);
                }
                if e.len() > MAX_ENTRY_SIZE {
                    return Err(LedgerError::EntryTooLarge { len: e.len() });
                }
                let leaf = leaf_hash(&e);
                Ok((e, leaf))
            })
            .collect()
    }

    /// Queues entries without waiting. `reply` is called once, from the sequencer
    /// thread, after the batch holding them is durable and covered by a signed
    /// checkpoint (or with the error). A full queue answers `Busy` at once and does not
    /// call `reply`.
    pub fn submit(&self, entries: Vec<Vec<u8>>, reply: Reply) -> Result<(), LedgerError> {
        let entries = Self::prepare(entries)?;
        self.submit_prepared(entries, reply)
    }

    /// [`Log::submit`] for entries already checked and hashed by [`Log::prepare`].
    pub fn submit_prepared(
        &self,
        entries: Vec<(Vec<u8>, Hash)>,
        reply: Reply,
    ) -> Result<(), LedgerError> {
        if let Some(reason) = self.shared.stopped.lock().clone() {
            return Err(LedgerError::Stopped { reason });
        }
        // Refused here, before the hand-over, like a full queue: a caller may treat
        // everything it handed over as on its way into the log (the server advances
        // its chain heads on hand-over). What is already queued is written; the
        // reserve is the room for it.
        if let Err(e) = self.shared.reserve.check() {
            self.shared
                .metrics
                .rejected_no_space
                .fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        let guard = self.tx.lock();
        let Some(tx) = guard.as_ref() else {
            return Err(LedgerError::Stopped {
                reason: "the log is closed".into(),
            });
        };
        match tx.try_send(Request { entries, reply }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.shared
                    .metrics
                    .rejected_busy
                    .fetch_add(1, Ordering::Relaxed);
                Err(LedgerError::Busy {
                    capacity: self.capacity,
                })
            }
            Err(TrySendError::Disconnected(_)) => Err(LedgerError::Stopped {
                reason: self
                    .shared
                    .stopped
                    .lock()
                    .clone()
                    .unwrap_or_else(|| "the sequencer has exited".into()),
            }),
        }
    }

    /// Appends entries and blocks until they are durable and signed.
    pub fn append_batch(&self, entries: Vec<Vec<u8>>) -> Result<Vec<Appended>, LedgerError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.submit(
            entries,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )?;
        rx.recv().map_err(|_| LedgerError::Stopped {
            reason: "the sequencer exited before answering".into(),
        })?
    }

    /// Appends one entry and blocks until it is durable and signed.
    pub fn append(&self, entry: Vec<u8>) -> Result<Appended, LedgerError> {
        let mut v = self.append_batch(vec![entry])?;
        v.pop().ok_or_else(|| LedgerError::Stopped {
            reason: "the sequencer answered without an entry".into(),
        })
    }

    /// Stops the sequencer after it has answered everything queued; reads keep working.
    pub fn close(&self) {
        self.tx.lock().take();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }

    fn check_size(&self, size: u64) -> Result<(), LedgerError> {
        let latest = self.latest().size;
        if size > latest {
            return Err(LedgerError::NotFound {
                what: format!("tree size {size} (latest signed size is {latest})"),
            });
        }
        Ok(())
    }

    pub fn entry(&self, index: u64) -> Result<Vec<u8>, LedgerError> {
        self.check_index(index)?;
        self.shared
            .store
            .entry(index)?
            .ok_or_else(|| LedgerError::corrupt(format!("entry {index} is missing")))
    }

    fn check_index(&self, index: u64) -> Result<(), LedgerError> {
        let size = self.latest().size;
        if index >= size {
            return Err(LedgerError::NotFound {
                what: format!("entry {index} (tree size is {size})"),
            });
        }
        Ok(())
    }

    /// Most entries one [`Log::entries`] call answers.
    pub const MAX_ENTRIES_PER_READ: u64 = 4096;

    /// Entries `start..end`, at most [`Log::MAX_ENTRIES_PER_READ`] per call.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, LedgerError> {
        if end < start || end - start > Self::MAX_ENTRIES_PER_READ {
            return Err(LedgerError::InvalidRequest(format!(
                "range {start}..{end}: at most 4096 entries per read"
            )));
        }
        if end > start {
            self.check_index(end - 1)?;
        }
        self.shared.store.entries(start, end)
    }

    /// Reads entries `start..end` in order, at most [`Log::MAX_ENTRIES_PER_READ`] at a
    /// time, and hands each chunk to `visit` with the index of its first entry. Stops at
    /// the first error, the log's or `visit`'s. For scans of the whole log that must not
    /// hold it in memory at once (index rebuild, export, the server's intake state).
    pub fn for_each_chunk<E: From<LedgerError>>(
        &self,
        start: u64,
        end: u64,
        mut visit: impl FnMut(u64, Vec<Vec<u8>>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut at = start;
        while at < end {
            let upto = end.min(at.saturating_add(Self::MAX_ENTRIES_PER_READ));
            visit(at, self.entries(at, upto)?)?;
            at = upto;
        }
        Ok(())
    }

    /// The index of the entry with this leaf hash, if logged.
    pub fn find_leaf(&self, leaf: &Hash) -> Result<Option<u64>, LedgerError> {
        self.shared.store.find_leaf(leaf, self.latest().size)
    }

    pub fn leaf_hash_at(&self, index: u64) -> Result<Hash, LedgerError> {
        self.check_index(index)?;
        self.shared.store.subtree_hash(0, index)
    }

    /// The signed checkpoint of exactly this size, if the log signed one.
    pub fn checkpoint(&self, size: u64) -> Result<Vec<u8>, LedgerError> {
        self.shared
            .store
            .checkpoint(size)?
            .ok_or_else(|| LedgerError::NotFound {
                what: format!("signed checkpoint of size {size}"),
            })
    }

    /// The root of the tree at any size up to the latest.
    pub fn root_at(&self, size: u64) -> Result<Hash, LedgerError> {
        self.check_size(size)?;
        proof::tree_hash(&ProofReader::new(&self.shared.store), size)
    }

    /// Inclusion proof of `index` in the tree of `size` leaves (any earlier size).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_size(size)?;
        proof::inclusion_proof(&ProofReader::new(&self.shared.store), index, size)
    }

    /// Inclusion proofs of many entries in the tree of `size` leaves: the size is checked
    /// once and the stored tiles read for one proof are reused by the next, so the
    /// proofs of a batch's neighbouring entries read each tile about once.
    pub fn inclusion_prover(&self, size: u64) -> Result<InclusionProver<'_>, LedgerError> {
        self.check_size(size)?;
        Ok(InclusionProver {
            reader: ProofReader::new(&self.shared.store),
            size,
        })
    }

    /// Consistency proof between two tree sizes (0 < size1 ≤ size2 ≤ latest).
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_size(size2)?;
        proof::consistency_proof(&ProofReader::new(&self.shared.store), size1, size2)
    }

    /// The tree size the derived state covers (see [`crate::derived`]), `None` when it
    /// was never written. Equal to [`Log::size`] when every batch was written with a
    /// deriver.
    pub fn state_size(&self) -> Result<Option<u64>, LedgerError> {
        self.shared.store.state_size()
    }

    /// The derived-state pairs whose key starts with `prefix`, in key order.
    pub fn state_scan<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), LedgerError>> + 'a {
        self.shared.store.state_scan(prefix)
    }

    /// Replaces the derived state with `writes`, built from the first `size` entries.
    /// For a rebuild at start-up or by fsck: call it before anything is appended (it
    /// refuses when the log no longer has `size` entries).
    pub fn replace_state(&self, writes: &StateWrites, size: u64) -> Result<(), LedgerError> {
        self.shared.store.replace_state(writes, size)
    }

    /// Why the log stopped taking appends (a failed synced write, a failed signature),
    /// or `None` while it runs. A stopped log serves reads; only a restart resumes
    /// writing, after the store is checked against its last signed checkpoint.
    pub fn stopped(&self) -> Option<String> {
        self.shared.stopped.lock().clone()
    }

    /// Whether the disk reserve is free now (`Err` says how much is free and the reserve).
    pub fn check_space(&self) -> Result<(), LedgerError> {
        self.shared.reserve.check()
    }

    /// Direct access to the store for tile serving, fsck and tests.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    pub fn key(&self) -> &LogKey {
        &self.shared.signer
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.close();
    }
}

impl Log {
    /// Re-verifies the whole log; see [`crate::fsck::fsck`].
    pub fn fsck(&self) -> Result<crate::fsck::FsckReport, LedgerError> {
        crate::fsck::fsck(&self.shared.store, &self.shared.signer)
    }
}

/// Inclusion proofs against one tree size, sharing the tiles they read
/// ([`Log::inclusion_prover`]).
pub struct InclusionProver<'a> {
    reader: ProofReader<'a>,
    size: u64,
}

impl InclusionProver<'_> {
    /// The audit path of entry `index` (RFC 9162 §2.1.3.1).
    pub fn proof(&self, index: u64) -> Result<Vec<Hash>, LedgerError> {
        proof::inclusion_proof(&self.reader, index, self.size)
    }

    /// The audit path of entry `index` in the earlier tree of `size` leaves (at most the
    /// prover's size), reusing the same tiles.
    pub fn proof_at(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        if size > self.size {
            return Err(LedgerError::NotFound {
                what: format!("tree size {size}"),
            });
        }
        proof::inclusion_proof(&self.reader, index, size)
    }

    /// The tree size the proofs lead to.
    pub fn size(&self) -> u64 {
        self.size
    }
}

#[cfg(test)]
mod histogram_tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn quantiles_come_from_the_interval_between_snapshots() {
        let h = CommitHistogram::default();
        h.observe(Duration::from_millis(100));
        let before = h.snapshot();
        for _ in 0..99 {
            h.observe(Duration::from_micros(1000));
        }
        h.observe(Duration::from_millis(20));
        let after = h.snapshot();
        let p50 = CommitHistogram::quantile_between(&before, &after, 0.5).unwrap();
        assert!((1000.0..1200.0).contains(&p50), "{p50}");
        // The slowest commit of the interval is the 100th of 100; the one before the
        // first snapshot does not count.
        let max = CommitHistogram::quantile_between(&before, &after, 1.0).unwrap();
        assert!((20_000.0..24_000.0).contains(&max), "{max}");
        assert_eq!(
            CommitHistogram::quantile_between(&after, &after, 0.99),
            None
        );
    }
}
