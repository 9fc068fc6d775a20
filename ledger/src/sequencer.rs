//! The single writer of a log. Appends queue up in a bounded channel; one thread takes
//! them in batches (closed at `max_batch` entries or `max_delay` after the first),
//! gives them indexes, derives the caller's state from the new entries (if the log has
//! a [`crate::Deriver`]) and signs the new checkpoint; a second thread writes each batch
//! with one synced `WriteBatch` together with that checkpoint, in order, and only then
//! answers every waiter. The two overlap, so the next batch is prepared while the disk
//! syncs the previous one.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use ledger_core::hash::Hash;

use crate::error::LedgerError;
use crate::log::{CheckpointInfo, Shared};
use crate::store::{Commit, LeafLookup};
use crate::tree_state::TreeState;

/// How the sequencer forms batches and how much it queues.
#[derive(Debug, Clone)]
pub struct SequencerConfig {
    /// A batch closes once it holds at least this many entries (a single request is
    /// never split, so one large request may exceed it).
    pub max_batch: usize,
    /// A batch closes this long after its first request arrived.
    pub max_delay: Duration,
    /// Requests waiting for the sequencer; beyond this, submit answers `Busy`.
    pub queue_capacity: usize,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        SequencerConfig {
            max_batch: 1024,
            max_delay: Duration::from_millis(5),
            queue_capacity: 4096,
        }
    }
}

/// The answer for one appended entry.
#[derive(Debug, Clone)]
pub struct Appended {
    pub index: u64,
    pub leaf: Hash,
    /// True when identical bytes were logged before: `index` is the original one.
    pub duplicate: bool,
    /// The signed checkpoint that covers `index`.
    pub checkpoint: Arc<CheckpointInfo>,
}

/// Called once with the outcome of a request, from the sequencer thread; it must not block.
pub type Reply = Box<dyn FnOnce(Result<Vec<Appended>, LedgerError>) + Send>;

pub(crate) struct Request {
    pub(crate) entries: Vec<(Vec<u8>, Hash)>,
    pub(crate) reply: Reply,
}

/// Each request's reply with, per entry, (index, leaf hash, duplicate).
type Answers = Vec<(Reply, Vec<(u64, Hash, bool)>)>;

/// A batch that stage A has sequenced and signed, waiting for stage B to write it.
struct Prepared {
    /// None when the batch held only duplicates: nothing to write, but the answers must
    /// still wait until every earlier batch is durable.
    commit: Option<(Commit, Arc<CheckpointInfo>)>,
    answers: Answers,
}

/// How many sequenced batches may wait for the writer. Two keep the disk busy while the
/// next batch is prepared; more would only hold memory.
const PIPELINE_DEPTH: usize = 2;

/// Runs the sequencer until every sender is gone or a write fails.
///
/// Two stages overlap: this thread (stage A) batches, deduplicates, extends the tree and
/// signs; a writer thread (stage B) performs the synced write of the previous batch and
/// answers its waiters. Batches are written strictly in order, so a batch is answered
/// only when it and every batch before it are durable.
pub(crate) fn run(shared: Arc<Shared>, mut state: TreeState, rx: Receiver<Request>) {
    let config = shared.config.sequencer.clone();
    let (to_writer, writer_rx) = crossbeam_channel::bounded::<Prepared>(PIPELINE_DEPTH);
    let (durable_tx, durable_rx) = crossbeam_channel::unbounded::<u64>();
    let writer = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || write_loop(&shared, writer_rx, durable_tx))
    };
    let writer = match writer {
        Ok(w) => w,
        Err(e) => {
            let reason = format!("cannot start the writer thread: {e}");
            shared.stop(reason.clone());
            drain(&rx, &reason);
            return;
        }
    };
    let mut inflight = InFlight::default();
    loop {
        let Ok(first) = rx.recv() else {
            break;
        };
        let deadline = Instant::now() + config.max_delay;
        let mut count = first.entries.len();
        let mut requests = vec![first];
        while count < config.max_batch {
            match rx.recv_deadline(deadline) {
                Ok(r) => {
                    count += r.entries.len();
                    requests.push(r);
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        shared.metrics.record_batch(count);
        while let Ok(size) = durable_rx.try_recv() {
            inflight.durable_up_to(size);
        }
        let started = Instant::now();
        let sequenced = sequence(&shared, &mut state, &mut inflight, requests);
        shared
            .metrics
            .sequence_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let prepared = match sequenced {
            Ok(p) => p,
            Err(reason) => {
                shared.stop(reason.clone());
                break;
            }
        };
        if let Err(crossbeam_channel::SendError(p)) = to_writer.send(prepared) {
            // The writer stopped after a failed write; it recorded why.
            let reason = shared.stop_reason();
            fail_answers(p.answers, &reason);
            break;
        }
    }
    drop(to_writer);
    let _ = writer.join();
    // Whatever is still queued is failed, not dropped.
    let reason = shared.stop_reason();
    drain(&rx, &reason);
}

fn drain(rx: &Receiver<Request>, reason: &str) {
    while let Ok(r) = rx.try_recv() {
        (r.reply)(Err(LedgerError::Stopped {
            reason: reason.to_string(),
        }));
    }
}

/// Stage B: writes prepared batches in order, then publishes and answers.
fn write_loop(shared: &Shared, rx: Receiver<Prepared>, durable: crossbeam_channel::Sender<u64>) {
    while let Ok(p) = rx.recv() {
        let checkpoint = match &p.commit {
            Some((commit, info)) => {
                let started = Instant::now();
                let written = shared.store.commit(commit);
                let elapsed = started.elapsed();
                shared
                    .metrics
                    .commit_nanos
                    .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
                shared.metrics.commit_times.observe(elapsed);
                if let Err(e) = written {
                    // The store may or may not hold this batch ("failed but persisted"
                    // is possible with any fsync error). Stop taking writes; a restart
                    // recomputes the tree from disk and checks it against the last signed
                    // checkpoint. This batch and every later one are failed, not dropped.
                    let reason = format!("group commit of size {} failed: {e}", info.size);
                    shared.stop(reason.clone());
                    fail_answers(p.answers, &reason);
                    while let Ok(later) = rx.try_recv() {
                        fail_answers(later.answers, &reason);
                    }
                    return;
                }
                shared.publish(info.clone());
                let _ = durable.send(info.size);
                info.clone()
            }
            None => shared.latest(),
        };
        for (reply, entries) in p.answers {
            let answers = entries
                .into_iter()
                .map(|(index, leaf, duplicate)| Appended {
                    index,
                    leaf,
                    duplicate,
                    checkpoint: checkpoint.clone(),
                })
                .collect();
            reply(Ok(answers));
        }
    }
}

/// Leaves and dedup values of batches sequenced but not yet durable, so the next batch
/// deduplicates against them too (RocksDB does not have them yet).
#[derive(Default)]
struct InFlight {
    leaves: HashMap<Hash, u64>,
    prefixes: HashMap<[u8; 8], Vec<u64>>,
    /// (tree size after the batch, its new leaves), oldest first.
    batches: std::collections::VecDeque<(u64, Vec<Hash>)>,
}

impl InFlight {
    fn durable_up_to(&mut self, size: u64) {
        while let Some((end, _)) = self.batches.front() {
            if *end > size {
                break;
            }
            let (_, leaves) = self.batches.pop_front().expect("front exists");
            for leaf in leaves {
                self.leaves.remove(&leaf);
                let prefix = prefix_of(&leaf);
                if let Some(v) = self.prefixes.get(&prefix) {
                    // Keep the value while a later in-flight batch still adds to it.
                    if v.last().is_some_and(|last| *last < size) {
                        self.prefixes.remove(&prefix);
                    }
                }
            }
        }
    }
}

fn prefix_of(leaf: &Hash) -> [u8; 8] {
    let mut p = [0u8; 8];
    p.copy_from_slice(&leaf.0[..8]);
    p
}

/// Stage A for one batch: dedup, index assignment, tree extension and signing.
fn sequence(
    shared: &Shared,
    state: &mut TreeState,
    inflight: &mut InFlight,
    requests: Vec<Request>,
) -> Result<Prepared, String> {
    let size0 = state.size();
    let leaves: Vec<Hash> = requests
        .iter()
        .flat_map(|r| r.entries.iter().map(|(_, leaf)| *leaf))
        .collect();
    let lookups = match shared.store.lookup_leaves(&leaves, size0) {
        Ok(l) => l,
        Err(e) => {
            let reason = format!("dedup lookup failed: {e}");
            fail_answers(
                requests
                    .into_iter()
                    .map(|r| (r.reply, Vec::new()))
                    .collect(),
                &reason,
            );
            return Err(reason);
        }
    };

    // Assign indexes. Identical bytes get the index of their first occurrence, whether
    // durable (RocksDB), in flight (an earlier batch not yet written) or in this batch.
    let mut new_dedup: HashMap<[u8; 8], Vec<u64>> = HashMap::new();
    let mut new_entries: Vec<(Vec<u8>, Hash)> = Vec::new();
    let mut answers = Vec::with_capacity(requests.len());
    let mut lookup_iter = lookups.into_iter();
    for r in requests {
        let mut out = Vec::with_capacity(r.entries.len());
        for (entry, leaf) in r.entries {
            let lookup = lookup_iter.next().expect("one lookup per leaf");
            if let LeafLookup::Found(index) = lookup {
                out.push((index, leaf, true));
                continue;
            }
            if let Some(&index) = inflight.leaves.get(&leaf) {
                out.push((index, leaf, true));
                continue;
            }
            let index = size0 + new_entries.len() as u64;
            inflight.leaves.insert(leaf, index);
            let prefix = prefix_of(&leaf);
            let slot = new_dedup.entry(prefix).or_insert_with(|| {
                inflight
                    .prefixes
                    .get(&prefix)
                    .cloned()
                    .unwrap_or_else(|| match &lookup {
                        LeafLookup::Absent { prefix_indexes } => prefix_indexes.clone(),
                        LeafLookup::Found(_) => Vec::new(),
                    })
            });
            slot.push(index);
            out.push((index, leaf, false));
            new_entries.push((entry, leaf));
        }
        answers.push((r.reply, out));
    }

    if new_entries.is_empty() {
        return Ok(Prepared {
            commit: None,
            answers,
        });
    }
    let new_leaves: Vec<Hash> = new_entries.iter().map(|(_, leaf)| *leaf).collect();
    let derived = shared
        .config
        .deriver
        .as_ref()
        .map(|d| d.derive(size0, new_entries.iter().map(|(entry, _)| entry.as_slice())));
    let tiles = state.append(new_leaves.iter().copied());
    let new_size = state.size();
    let root = state.root();
    let note = match shared.signer.sign_checkpoint(new_size, &root) {
        Ok(n) => n,
        Err(e) => {
            let reason = format!("signing checkpoint {new_size} failed: {e}");
            fail_answers(answers, &reason);
            return Err(reason);
        }
    };
    for (prefix, indexes) in &new_dedup {
        inflight.prefixes.insert(*prefix, indexes.clone());
    }
    inflight.batches.push_back((new_size, new_leaves));
    let info = Arc::new(CheckpointInfo {
        size: new_size,
        root,
        note: note.clone(),
    });
    // Sorted, so the writer's memtable inserts walk the skiplist in key order.
    let mut dedup: Vec<([u8; 8], Vec<u64>)> = new_dedup.into_iter().collect();
    dedup.sort_unstable_by_key(|(prefix, _)| *prefix);
    let commit = Commit {
        first_index: size0,
        entries: new_entries,
        dedup,
        tiles,
        new_size,
        checkpoint: note,
        state: derived,
    };
    Ok(Prepared {
        commit: Some((commit, info)),
        answers,
    })
}

fn fail_answers(answers: Answers, reason: &str) {
    for (reply, _) in answers {
        reply(Err(LedgerError::Stopped {
            reason: reason.to_string(),
        }));
    }
}
