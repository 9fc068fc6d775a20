//! Crash test: a child process appends under load and is killed with SIGKILL at random
//! moments. After every kill the log is reopened here and must hold every acknowledged
//! entry at its acknowledged index, recompute to its last signed checkpoint, and have
//! every checkpoint consistent with every earlier one (fsck), including the checkpoints
//! the child was handed.
//!
//! Short form (CI): `cargo test -p e2e --test crash` (8 kills).
//! Long form: `CRASH_ITERATIONS=200 cargo test -p e2e --release --test crash -- --nocapture`
//! (docs/RELIABILITY.md); `CRASH_SEED` repeats a run's kill moments.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ledger::{Log, LogConfig};
use ledger_core::hash::Hash;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Small deterministic generator so a failing run can be repeated from its seed.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let iterations: u64 = std::env::var("CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("crash test: {iterations} kills, seed {seed}");
    let mut rng = XorShift(seed);
    let dir = tempfile::tempdir().unwrap();
    let child_bin = env!("CARGO_BIN_EXE_crash_child");
    // index -> entry bytes of every acknowledged append so far.
    let mut acked: HashMap<u64, Vec<u8>> = HashMap::new();
    // Every (size, root) handed to the child as a covering checkpoint.
    let mut acked_checkpoints: HashMap<u64, Hash> = HashMap::new();
    let started = Instant::now();
    let mut killed_mid_stream = 0;
    for run in 0..iterations {
        let mut child = Command::new(child_bin)
            .arg(dir.path())
            .arg(run.to_string())
            .arg("4")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("child starts");
        assert!(first.starts_with("READY "), "child said {first}");
        let delay = Duration::from_millis(20 + rng.next() % 300);
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let mut this_run = 0;
        for line in rx.try_iter() {
            // `lines()` only yields complete lines, so a half-written ACK never counts.
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts[0], "ACK", "unexpected child output {line}");
            let index: u64 = parts[1].parse().unwrap();
            let entry = unhex(parts[2]);
            let size: u64 = parts[3].parse().unwrap();
            let root = Hash::from_slice(&unhex(parts[4])).unwrap();
            assert!(index < size);
            if let Some(prev) = acked.insert(index, entry.clone()) {
                assert_eq!(
                    prev, entry,
                    "index {index} acknowledged for two different entries"
                );
            }
            if let Some(prev) = acked_checkpoints.insert(size, root) {
                assert_eq!(prev, root, "two roots acknowledged for size {size}");
            }
            this_run += 1;
        }
        if this_run > 0 {
            killed_mid_stream += 1;
        }

        // Reopen in this process and check everything.
        let mut config = LogConfig::new(dir.path(), "crash.test/log");
        config.store.block_cache_bytes = 8 << 20;
        config.store.write_buffer_bytes = Some(e2e::CRASH_WRITE_BUFFER);
        let log = Log::open(config).unwrap_or_else(|e| panic!("reopen after kill {run}: {e}"));
        let report = log
            .fsck()
            .unwrap_or_else(|e| panic!("fsck after kill {run}: {e}"));
        for (index, entry) in &acked {
            assert_eq!(
                &log.entry(*index)
                    .unwrap_or_else(|e| panic!("acked entry {index} lost: {e}")),
                entry,
                "acknowledged entry {index} changed"
            );
        }
        for (size, root) in &acked_checkpoints {
            assert_eq!(
                log.root_at(*size).unwrap(),
                *root,
                "acknowledged checkpoint at size {size} is not a prefix of the log"
            );
        }
        println!(
            "kill {run}: after {delay:?}, {this_run} acks this run, log size {}, {} checkpoints verified",
            report.size, report.checkpoints
        );
    }
    // The small memtables made RocksDB flush tables while the child was being killed,
    // so the kills hit flushes and compactions too, not only WAL writes.
    let tables = std::fs::read_dir(dir.path().join("db"))
        .expect("the store directory")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "sst"))
        .count();
    println!(
        "crash test done: {iterations} SIGKILLs ({killed_mid_stream} while acknowledging), {} acknowledged entries all present, {} acknowledged checkpoints all consistent, {tables} table files, {:.1} s",
        acked.len(),
        acked_checkpoints.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        tables > 0,
        "no memtable was ever flushed; the test missed flushes"
    );
    assert!(
        !acked.is_empty(),
        "the child never got an append acknowledged"
    );
}
