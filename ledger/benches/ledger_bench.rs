//! One-run benchmark of the log, printing every figure of docs/PERFORMANCE.md:
//! durable appends/s with group commit at batch 1, 64 and 1024 (512-byte entries),
//! inclusion and consistency proofs/s on a 1,000,000-entry log, and bytes on disk per
//! entry. Run: `cargo bench -p ledger --bench ledger_bench` (add `-- --entries N` to
//! change the log size; `--quick` for a short smoke run).
//!
//! Every append is acknowledged only after its batch is in a synced RocksDB WriteBatch
//! together with a newly signed checkpoint, exactly as in production.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::{Log, LogConfig, SequencerConfig};
use ledger_core::proof::{verify_consistency, verify_inclusion};
use rand::{Rng, RngCore, SeedableRng};

const ENTRY_SIZE: usize = 512;

fn random_entries(rng: &mut rand::rngs::StdRng, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| {
            let mut e = vec![0u8; ENTRY_SIZE];
            rng.fill_bytes(&mut e);
            e
        })
        .collect()
}

fn open(dir: &std::path::Path, batch: usize) -> Log {
    let mut c = LogConfig::new(dir, "bench.example/log");
    c.sequencer = SequencerConfig {
        max_batch: batch,
        max_delay: Duration::from_millis(2),
        queue_capacity: 1 << 14,
    };
    Log::open(c).expect("open log")
}

/// Appends `total` entries with `clients` threads, each submitting requests of
/// `request` entries and keeping `in_flight` requests outstanding. Returns entries/s.
/// The random entries are generated before the clock starts; leaf hashing stays in the
/// timed part because the server does it for every real append.
fn drive(
    log: &Log,
    total: u64,
    request: usize,
    clients: usize,
    in_flight: usize,
    seed: u64,
) -> f64 {
    let per_client = total / clients as u64;
    let workloads: Vec<Vec<Vec<Vec<u8>>>> = (0..clients)
        .map(|c| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed * 1000 + c as u64);
            let mut requests = Vec::new();
            let mut left = per_client;
            while left > 0 {
                let n = (request as u64).min(left) as usize;
                requests.push(random_entries(&mut rng, n));
                left -= n as u64;
            }
            requests
        })
        .collect();
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    std::thread::scope(|s| {
        for requests in workloads {
            let done = done.clone();
            s.spawn(move || {
                let (tx, rx) = crossbeam_channel::unbounded::<usize>();
                let mut pending: std::collections::VecDeque<_> = requests.into();
                let mut outstanding = 0usize;
                while !pending.is_empty() || outstanding > 0 {
                    while outstanding < in_flight {
                        let Some(entries) = pending.pop_front() else {
                            break;
                        };
                        let prepared = Log::prepare(entries).expect("valid entries");
                        let tx = tx.clone();
                        // The queue holds far more requests than clients × in_flight,
                        // so Busy cannot happen here; if it does, the bench fails.
                        match log.submit_prepared(
                            prepared,
                            Box::new(move |r| {
                                let n = r.expect("append").len();
                                let _ = tx.send(n);
                            }),
                        ) {
                            Ok(()) => outstanding += 1,
                            Err(e) => panic!("submit: {e}"),
                        }
                    }
                    if outstanding > 0 {
                        let n = rx.recv().expect("reply");
                        done.fetch_add(n as u64, Ordering::Relaxed);
                        outstanding -= 1;
                    }
                }
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(path) {
        for e in rd.flatten() {
            let m = e.metadata().unwrap();
            total += if m.is_dir() {
                dir_bytes(&e.path())
            } else {
                m.len()
            };
        }
    }
    total
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let entries: u64 = args
        .windows(2)
        .find(|w| w[0] == "--entries")
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(if quick { 20_000 } else { 1_000_000 });
    let base = std::env::var("BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let work = tempfile::Builder::new()
        .prefix("ledger-bench")
        .tempdir_in(base)
        .expect("temp dir");
    println!(
        "machine: {} cores; entry size {ENTRY_SIZE} bytes; data in {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        work.path().display()
    );

    // Baseline in the same run: raw synced 512-byte writes per second on this disk.
    {
        use std::io::Write;
        let p = work.path().join("fsync-probe");
        let mut f = std::fs::File::create(&p).unwrap();
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < Duration::from_secs(1) {
            f.write_all(&[0u8; 512]).unwrap();
            f.sync_data().unwrap();
            n += 1;
        }
        println!(
            "baseline: {:.0} fdatasync'd 512-byte file writes/s",
            n as f64 / start.elapsed().as_secs_f64()
        );
    }

    // Group commit at batch 1 and 64: separate logs, short runs.
    for (batch, total, request, clients, in_flight) in [
        (
            1usize,
            if quick { 300 } else { 2_000 },
            1usize,
            4usize,
            8usize,
        ),
        (64, if quick { 20_000 } else { 100_000 }, 64, 4, 4),
    ] {
        let d = work.path().join(format!("batch{batch}"));
        let log = open(&d, batch);
        let rate = drive(&log, total, request, clients, in_flight, batch as u64);
        let m = log.metrics();
        let batches = m.batches.load(Ordering::Relaxed);
        println!(
            "durable appends, batch {batch:>4}: {rate:>10.0} entries/s ({total} entries, {batches} batches, mean {:.1} entries/batch)",
            m.batched_entries.load(Ordering::Relaxed) as f64 / batches.max(1) as f64
        );
        drop(log);
        let _ = std::fs::remove_dir_all(&d);
    }

    // Batch 1024 builds the big log used for the proof and disk figures.
    let d = work.path().join("batch1024");
    let log = open(&d, 1024);
    let rate = drive(&log, entries, 1024, 2, 4, 1024);
    let m = log.metrics();
    let batches = m.batches.load(Ordering::Relaxed);
    println!(
        "durable appends, batch 1024: {rate:>10.0} entries/s ({entries} entries, {batches} batches, mean {:.1} entries/batch)",
        m.batched_entries.load(Ordering::Relaxed) as f64 / batches.max(1) as f64
    );
    println!(
        "  per batch: sequencer {:.2} ms (dedup, tree, signing), writer {:.2} ms (synced RocksDB write)",
        m.sequence_nanos.load(Ordering::Relaxed) as f64 / 1e6 / batches.max(1) as f64,
        m.commit_nanos.load(Ordering::Relaxed) as f64 / 1e6 / batches.max(1) as f64
    );
    let size = log.latest().size;
    assert_eq!(size, entries);
    let root = log.latest().root;

    // Inclusion proofs: generate and verify at random indexes against the full size.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let indexes: Vec<u64> = (0..200_000).map(|_| rng.gen_range(0..size)).collect();
    let leaves: Vec<_> = indexes[..1000]
        .iter()
        .map(|&i| log.leaf_hash_at(i).unwrap())
        .collect();
    for (k, &i) in indexes[..1000].iter().enumerate() {
        let p = log.inclusion_proof(i, size).unwrap();
        verify_inclusion(&leaves[k], i, size, &p, &root).expect("proof verifies");
    }
    for threads in [1usize, 2] {
        let n = if quick { 20_000 } else { 200_000 };
        let start = Instant::now();
        std::thread::scope(|s| {
            for t in 0..threads {
                let log = &log;
                let idx = &indexes;
                s.spawn(move || {
                    for &i in idx[..n].iter().skip(t).step_by(threads) {
                        std::hint::black_box(log.inclusion_proof(i, size).unwrap());
                    }
                });
            }
        });
        println!(
            "inclusion proofs ({threads} thread{}): {:>10.0} proofs/s (log of {size})",
            if threads > 1 { "s" } else { "" },
            n as f64 / start.elapsed().as_secs_f64()
        );
    }

    // Consistency proofs between random earlier sizes and the latest.
    let pairs: Vec<(u64, u64)> = (0..100_000)
        .map(|_| {
            let a = rng.gen_range(1..size);
            let b = rng.gen_range(a..=size);
            (a, b)
        })
        .collect();
    for &(a, b) in &pairs[..200] {
        let p = log.consistency_proof(a, b).unwrap();
        verify_consistency(a, b, &p, &log.root_at(a).unwrap(), &log.root_at(b).unwrap())
            .expect("consistency verifies");
    }
    for threads in [1usize, 2] {
        let n = if quick { 10_000 } else { 100_000 };
        let start = Instant::now();
        std::thread::scope(|s| {
            for t in 0..threads {
                let log = &log;
                let pairs = &pairs;
                s.spawn(move || {
                    for &(a, b) in pairs[..n].iter().skip(t).step_by(threads) {
                        std::hint::black_box(log.consistency_proof(a, b).unwrap());
                    }
                });
            }
        });
        println!(
            "consistency proofs ({threads} thread{}): {:>10.0} proofs/s (log of {size})",
            if threads > 1 { "s" } else { "" },
            n as f64 / start.elapsed().as_secs_f64()
        );
    }

    // Disk: live SST bytes after a flush and full compaction, and the whole directory.
    log.store().compact().unwrap();
    let sst = log.store().sst_bytes().unwrap();
    let sst_total: u64 = sst.iter().map(|(_, b)| b).sum();
    let detail: Vec<String> = sst
        .iter()
        .map(|(n, b)| format!("{n} {:.1}", *b as f64 / size as f64))
        .collect();
    println!(
        "disk: {:.1} bytes/entry in SST files ({}), entry size {ENTRY_SIZE}, overhead {:.1} bytes/entry",
        sst_total as f64 / size as f64,
        detail.join(", "),
        sst_total as f64 / size as f64 - ENTRY_SIZE as f64
    );
    drop(log);
    let whole = dir_bytes(&d);
    println!(
        "disk: {:.1} bytes/entry for the whole data directory after close (SST + WAL + manifest + key)",
        whole as f64 / size as f64
    );
}
