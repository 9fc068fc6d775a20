//! Behaviour of an open log: appends, dedup, group commit, proofs for every earlier
//! size against an in-memory reference tree, tiles, back-pressure and reopen.

use std::sync::mpsc;
use std::time::Duration;

use ledger::{LedgerError, Log, LogConfig, SequencerConfig};
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::note::NoteVerifier;
use ledger_core::proof::{verify_consistency, verify_inclusion};
use ledger_core::tree::MemoryTree;

const ORIGIN: &str = "test.example/log";

fn config(dir: &std::path::Path) -> LogConfig {
    let mut c = LogConfig::new(dir, ORIGIN);
    c.sequencer = SequencerConfig {
        max_batch: 16,
        max_delay: Duration::from_millis(1),
        queue_capacity: 64,
    };
    c.store.block_cache_bytes = 8 << 20;
    c
}

fn entry(i: u64) -> Vec<u8> {
    format!("entry number {i}").into_bytes()
}

#[test]
fn appends_prove_against_reference_tree_at_every_size() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    let verifier = NoteVerifier::parse(&log.verifier_key()).unwrap();
    assert_eq!(verifier.name(), ORIGIN);
    let mut reference = MemoryTree::new();
    // Batches of varying sizes so stratum tiles are rewritten across commit boundaries.
    let mut next = 0u64;
    for batch in [1usize, 2, 3, 15, 16, 17, 40, 1, 100, 7] {
        let entries: Vec<Vec<u8>> = (next..next + batch as u64).map(entry).collect();
        let answers = log.append_batch(entries.clone()).unwrap();
        for (i, a) in answers.iter().enumerate() {
            assert_eq!(a.index, next + i as u64);
            assert!(!a.duplicate);
            assert_eq!(a.leaf, leaf_hash(&entries[i]));
            reference.push_entry(&entries[i]);
            assert!(a.checkpoint.size > a.index);
        }
        next += batch as u64;
        let latest = log.latest();
        assert_eq!(latest.size, next);
        assert_eq!(latest.root, reference.root());
        let note = ledger_core::note::Note::parse(&latest.note).unwrap();
        note.open(&[&verifier]).unwrap();
    }
    let size = log.latest().size;
    for s in 1..=size {
        let root = log.root_at(s).unwrap();
        assert_eq!(root, reference.root_at(s).unwrap(), "root at size {s}");
        for i in (0..s).step_by(7) {
            let p = log.inclusion_proof(i, s).unwrap();
            verify_inclusion(&reference.leaf(i).unwrap(), i, s, &p, &root).unwrap();
        }
        let p = log.consistency_proof(s, size).unwrap();
        verify_consistency(s, size, &p, &root, &log.latest().root).unwrap();
    }
    assert!(matches!(
        log.inclusion_proof(0, size + 1),
        Err(LedgerError::NotFound { .. })
    ));
    assert!(matches!(
        log.consistency_proof(0, size),
        Err(LedgerError::Proof(_))
    ));
    for i in 0..size {
        assert_eq!(log.entry(i).unwrap(), entry(i));
    }
    assert_eq!(
        log.entries(10, 20).unwrap(),
        (10..20).map(entry).collect::<Vec<_>>()
    );
    let report = log.fsck().unwrap();
    assert_eq!(report.size, size);
    assert_eq!(report.root, reference.root());
}

#[test]
fn identical_bytes_return_the_original_index() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    let first = log.append(b"alpha".to_vec()).unwrap();
    log.append(b"beta".to_vec()).unwrap();
    let again = log.append(b"alpha".to_vec()).unwrap();
    assert_eq!(again.index, first.index);
    assert!(again.duplicate);
    // Duplicates inside one batch share the first occurrence's new index.
    let answers = log
        .append_batch(vec![b"gamma".to_vec(), b"gamma".to_vec(), b"beta".to_vec()])
        .unwrap();
    assert_eq!(answers[0].index, 2);
    assert!(!answers[0].duplicate);
    assert_eq!(answers[1].index, 2);
    assert!(answers[1].duplicate);
    assert_eq!(answers[2].index, 1);
    assert_eq!(log.latest().size, 3);
    assert_eq!(log.find_leaf(&leaf_hash(b"beta")).unwrap(), Some(1));
    assert_eq!(log.find_leaf(&leaf_hash(b"delta")).unwrap(), None);
    // Only duplicates: no new checkpoint, the answer carries the current one.
    let before = log.latest();
    let dup = log.append(b"gamma".to_vec()).unwrap();
    assert_eq!(dup.checkpoint.size, before.size);
    assert_eq!(log.latest().note, before.note);
    drop(log);
    let log = Log::open(config(dir.path())).unwrap();
    let after_reopen = log.append(b"alpha".to_vec()).unwrap();
    assert_eq!(after_reopen.index, 0);
    assert!(after_reopen.duplicate);
    log.fsck().unwrap();
}

#[test]
fn oversize_and_empty_entries_are_rejected_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(config(dir.path())).unwrap();
    log.append(b"one".to_vec()).unwrap();
    let before = log.latest();
    let err = log.append(vec![7u8; 65_536]).unwrap_err();
    assert!(
        matches!(err, LedgerError::EntryTooLarge { len: 65_536 }),
        "{err}"
    );
    let err = log.append(Vec::new()).unwrap_err();
    assert!(matches!(err, LedgerError::EmptyEntry), "{err}");
    // A batch with one bad entry is refused whole.
    let err = log
        .append_batch(vec![b"fine".to_vec(), vec![0u8; 70_000]])
        .unwrap_err();
    assert!(matches!(err, LedgerError::EntryTooLarge { len: 70_000 }));
    assert_eq!(log.latest(), before);
    // The largest allowed entry goes in and comes back out of a bundle.
    let big = vec![0xabu8; 65_535];
    let a = log.append(big.clone()).unwrap();
    assert_eq!(log.entry(a.index).unwrap(), big);
}

#[test]
fn full_queue_answers_busy() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.sequencer.queue_capacity = 2;
    c.sequencer.max_batch = 1;
    let log = Log::open(c).unwrap();
    // The first reply blocks the writer thread until we let it go; the sequencer then
    // fills its small pipeline and stops taking requests, so the queue fills up.
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    log.submit(
        vec![b"blocker".to_vec()],
        Box::new(move |r| {
            r.unwrap();
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        }),
    )
    .unwrap();
    started_rx.recv().unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let mut accepted = 0u64;
    let mut busy = None;
    // Bounded: capacity 2 plus a pipeline of a few batches is far below 50.
    for i in 0..50 {
        let done = done_tx.clone();
        match log.submit(
            vec![entry(i)],
            Box::new(move |r| done.send(r.map(|v| v[0].index)).unwrap()),
        ) {
            Ok(()) => accepted += 1,
            Err(e) => {
                busy = Some(e);
                break;
            }
        }
        // Give the sequencer time to take what it can, so only a truly full queue says busy.
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = busy.expect("a full queue must answer Busy");
    assert!(matches!(err, LedgerError::Busy { capacity: 2 }), "{err}");
    assert!(err.is_retryable());
    assert!(accepted >= 2, "the queue itself holds two requests");
    assert_eq!(
        log.metrics()
            .rejected_busy
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    release_tx.send(()).unwrap();
    let mut got: Vec<u64> = (0..accepted)
        .map(|_| done_rx.recv().unwrap().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, (1..=accepted).collect::<Vec<_>>());
    assert_eq!(log.latest().size, accepted + 1);
    // The rejected entry was not logged; after the pause it goes in normally.
    let a = log.append(entry(1000)).unwrap();
    assert_eq!(a.index, accepted + 1);
}

#[test]
fn tiles_and_bundles_match_the_reference_tree() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.sequencer.max_batch = 128;
    let log = Log::open(c).unwrap();
    let n = 600u64;
    let entries: Vec<Vec<u8>> = (0..n).map(entry).collect();
    for chunk in entries.chunks(97) {
        log.append_batch(chunk.to_vec()).unwrap();
    }
    let reference = MemoryTree::from_leaf_hashes(entries.iter().map(|e| leaf_hash(e)));
    use ledger_core::proof::SubtreeSource;
    // Level 0: two full tiles and a partial one of 88.
    for (index, width) in [(0u64, 256u64), (1, 256), (2, 88), (2, 1)] {
        let tile = log.hash_tile(0, index, width).unwrap();
        assert_eq!(tile.len() as u64, width * 32);
        for (k, chunk) in tile.chunks(32).enumerate() {
            let expect = reference.subtree_hash(0, index * 256 + k as u64).unwrap();
            assert_eq!(Hash::from_slice(chunk).unwrap(), expect);
        }
    }
    // Level 1 (Merkle level 8): a partial tile of 2 hashes.
    let tile = log.hash_tile(1, 0, 2).unwrap();
    for (k, chunk) in tile.chunks(32).enumerate() {
        assert_eq!(
            Hash::from_slice(chunk).unwrap(),
            reference.subtree_hash(8, k as u64).unwrap()
        );
    }
    assert!(matches!(
        log.hash_tile(1, 0, 3),
        Err(LedgerError::NotFound { .. })
    ));
    assert!(matches!(
        log.hash_tile(2, 0, 3),
        Err(LedgerError::NotFound { .. })
    ));
    assert!(matches!(
        log.hash_tile(0, 2, 89),
        Err(LedgerError::NotFound { .. })
    ));
    assert!(matches!(
        log.hash_tile(0, 0, 0),
        Err(LedgerError::InvalidRequest(_))
    ));
    let bundle = log.entry_bundle(2, 88).unwrap();
    let mut rest = &bundle[..];
    for i in 512..600u64 {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        assert_eq!(&rest[2..2 + len], &entry(i)[..]);
        rest = &rest[2 + len..];
    }
    assert!(rest.is_empty());
    assert!(matches!(
        log.entry_bundle(2, 89),
        Err(LedgerError::NotFound { .. })
    ));
}

#[test]
fn reopen_keeps_everything_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let key_string;
    {
        let log = Log::open(config(dir.path())).unwrap();
        key_string = log.verifier_key();
        for i in 0..50 {
            log.append(entry(i)).unwrap();
        }
    }
    let log = Log::open(config(dir.path())).unwrap();
    assert_eq!(log.verifier_key(), key_string, "the key survives a restart");
    assert_eq!(log.latest().size, 50);
    let a = log.append(entry(50)).unwrap();
    assert_eq!(a.index, 50);
    let reference = MemoryTree::from_leaf_hashes((0..51).map(|i| leaf_hash(&entry(i))));
    assert_eq!(log.latest().root, reference.root());
    let report = log.fsck().unwrap();
    assert_eq!(report.size, 51);
    assert!(report.checkpoints >= 2);
}

#[test]
fn duplicates_of_batches_still_in_flight_get_the_same_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.sequencer.max_batch = 1; // every request is its own batch, several in flight
    c.sequencer.queue_capacity = 512;
    let log = Log::open(c).unwrap();
    let (tx, rx) = mpsc::channel();
    let total = 200u64;
    for i in 0..total {
        let tx = tx.clone();
        // Ten distinct entries, each submitted twenty times back to back.
        log.submit(
            vec![entry(i / 20)],
            Box::new(move |r| tx.send((i / 20, r.unwrap()[0].index)).unwrap()),
        )
        .unwrap();
    }
    let mut index_of = std::collections::HashMap::new();
    for _ in 0..total {
        let (k, index) = rx.recv().unwrap();
        let first = *index_of.entry(k).or_insert(index);
        assert_eq!(first, index, "entry {k} got two indexes");
    }
    assert_eq!(log.latest().size, 10);
    assert_eq!(log.fsck().unwrap().size, 10);
}

/// A deriver that records, per first byte of an entry, the index of its latest entry.
fn last_index_by_first_byte() -> ledger::Deriver {
    ledger::Deriver::new(|index, entry, out| {
        out.push((entry[..1].to_vec(), index.to_be_bytes().to_vec()));
    })
}

fn derived(log: &Log) -> Vec<(Vec<u8>, u64)> {
    log.state_scan(b"")
        .map(|item| {
            let (k, v) = item.unwrap();
            (k, u64::from_be_bytes(v.as_slice().try_into().unwrap()))
        })
        .collect()
}

#[test]
fn derived_state_is_written_with_its_batch_and_goes_stale_without_a_deriver() {
    let dir = tempfile::tempdir().unwrap();
    let mut with = config(dir.path());
    with.deriver = Some(last_index_by_first_byte());
    {
        let log = Log::open(with.clone()).unwrap();
        assert_eq!(log.state_size().unwrap(), Some(0));
        log.append_batch(vec![b"a1".to_vec(), b"b1".to_vec(), b"a2".to_vec()])
            .unwrap();
        // A duplicate derives nothing: "a1" stays at index 0, "a" at its latest, 2.
        log.append(b"a1".to_vec()).unwrap();
        assert_eq!(log.state_size().unwrap(), Some(3));
        assert_eq!(derived(&log), vec![(b"a".to_vec(), 2), (b"b".to_vec(), 1)]);
        assert_eq!(log.state_scan(b"b").count(), 1);
    }
    {
        // Appends without a deriver leave the covered size behind the log's.
        let log = Log::open(config(dir.path())).unwrap();
        log.append(b"c1".to_vec()).unwrap();
        assert_eq!(log.latest().size, 4);
        assert_eq!(log.state_size().unwrap(), Some(3));
    }
    let log = Log::open(with).unwrap();
    assert_eq!(log.state_size().unwrap(), Some(3));
    // A rebuild for another size than the log's is refused and changes nothing.
    let rebuilt = vec![(b"c".to_vec(), 3u64.to_be_bytes().to_vec())];
    assert!(log.replace_state(&rebuilt, 3).is_err());
    assert_eq!(derived(&log).len(), 2);
    // A rebuild for the log's size replaces every old pair.
    log.replace_state(&rebuilt, 4).unwrap();
    assert_eq!(log.state_size().unwrap(), Some(4));
    assert_eq!(derived(&log), vec![(b"c".to_vec(), 3)]);
    log.append(b"d1".to_vec()).unwrap();
    assert_eq!(log.state_size().unwrap(), Some(5));
    assert_eq!(derived(&log), vec![(b"c".to_vec(), 3), (b"d".to_vec(), 4)]);
}
