//! `Log::for_each_chunk`: whole-log scans in reads of at most `MAX_ENTRIES_PER_READ`
//! entries, in order, with every entry exactly once and errors passed through.

use std::time::Duration;

use ledger::{LedgerError, Log, LogConfig, SequencerConfig};

const CHUNK: u64 = Log::MAX_ENTRIES_PER_READ;

fn entry(i: u64) -> Vec<u8> {
    format!("entry number {i}").into_bytes()
}

/// A log of `size` entries, appended in a few large batches.
fn log_of(dir: &std::path::Path, size: u64) -> Log {
    let mut config = LogConfig::new(dir, "test.example/chunks");
    config.sequencer = SequencerConfig {
        max_batch: 2048,
        max_delay: Duration::from_millis(1),
        queue_capacity: 64,
    };
    config.store.block_cache_bytes = 8 << 20;
    let log = Log::open(config).unwrap();
    let mut next = 0;
    while next < size {
        let upto = size.min(next + 2000);
        log.append_batch((next..upto).map(entry).collect()).unwrap();
        next = upto;
    }
    assert_eq!(log.latest().size, size);
    log
}

/// Every chunk as (first index, number of entries), checking each entry's bytes.
fn chunks(log: &Log, start: u64, end: u64) -> Result<Vec<(u64, u64)>, LedgerError> {
    let mut seen = Vec::new();
    log.for_each_chunk(start, end, |first, entries| {
        for (offset, bytes) in entries.iter().enumerate() {
            assert_eq!(*bytes, entry(first + offset as u64));
        }
        seen.push((first, entries.len() as u64));
        Ok::<(), LedgerError>(())
    })?;
    Ok(seen)
}

#[test]
fn visits_every_entry_once_in_order_in_bounded_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let size = 2 * CHUNK + 5;
    let log = log_of(dir.path(), size);
    assert_eq!(
        chunks(&log, 0, size).unwrap(),
        vec![(0, CHUNK), (CHUNK, CHUNK), (2 * CHUNK, 5)]
    );
    // From an index inside the log, and ending on a chunk boundary.
    assert_eq!(chunks(&log, 3, CHUNK + 3).unwrap(), vec![(3, CHUNK)]);
    assert_eq!(
        chunks(&log, 3, CHUNK + 4).unwrap(),
        vec![(3, CHUNK), (CHUNK + 3, 1)]
    );
    // Empty ranges visit nothing.
    assert_eq!(chunks(&log, 7, 7).unwrap(), vec![]);
    assert_eq!(chunks(&log, size, size).unwrap(), vec![]);
}

#[test]
fn ranges_beyond_the_log_fail() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), 10);
    let e = chunks(&log, 0, 11).unwrap_err();
    assert!(matches!(e, LedgerError::NotFound { .. }), "{e:?}");
}

#[test]
fn an_error_from_the_visitor_stops_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let size = CHUNK + 1;
    let log = log_of(dir.path(), size);
    #[derive(Debug, PartialEq)]
    enum Stop {
        Here(u64),
        Log,
    }
    impl From<LedgerError> for Stop {
        fn from(_: LedgerError) -> Stop {
            Stop::Log
        }
    }
    let mut calls = 0;
    let result = log.for_each_chunk(0, size, |first, _| {
        calls += 1;
        Err(Stop::Here(first))
    });
    assert_eq!(result, Err(Stop::Here(0)));
    assert_eq!(calls, 1);
}
