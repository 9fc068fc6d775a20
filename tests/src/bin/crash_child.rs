//! Child process of the crash test: appends to a log under load from several threads
//! and prints one line per acknowledged append, flushed before the next append starts:
//!
//! `ACK <index> <entry hex> <checkpoint size> <checkpoint root>`
//!
//! The parent kills it with SIGKILL at a random moment; every complete ACK line it
//! read is an append the log acknowledged and must still hold after reopening.

use std::io::Write;
use std::time::Duration;

use ledger::{Log, LogConfig, SequencerConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: crash_child DIR RUN THREADS");
    let run: u64 = args.next().and_then(|s| s.parse().ok()).expect("RUN");
    let threads: u64 = args.next().and_then(|s| s.parse().ok()).expect("THREADS");
    let mut config = LogConfig::new(&dir, "crash.test/log");
    config.sequencer = SequencerConfig {
        max_batch: 64,
        max_delay: Duration::from_millis(2),
        queue_capacity: 1024,
    };
    config.store.block_cache_bytes = 8 << 20;
    // Small memtables: flushes and compactions (O_DIRECT where supported) run during
    // the kills, not only WAL writes.
    config.store.write_buffer_bytes = Some(e2e::CRASH_WRITE_BUFFER);
    let log = match Log::open(config) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("open failed: {e}");
            std::process::exit(3);
        }
    };
    let stdout = std::sync::Mutex::new(std::io::stdout());
    {
        let mut out = stdout.lock().unwrap();
        writeln!(out, "READY {}", log.latest().size).unwrap();
        out.flush().unwrap();
    }
    std::thread::scope(|s| {
        for t in 0..threads {
            let log = &log;
            let stdout = &stdout;
            s.spawn(move || {
                for n in 0u64.. {
                    // Every fifth entry repeats an earlier one of this run, so dedup is
                    // exercised across kills as well.
                    let k = if n % 5 == 4 { n / 2 } else { n };
                    let entry = format!(
                        "run {run} thread {t} entry {k} padding {}",
                        "x".repeat((k % 97) as usize)
                    );
                    let batch: Vec<Vec<u8>> = if n % 3 == 0 {
                        vec![
                            entry.clone().into_bytes(),
                            format!("{entry} second").into_bytes(),
                        ]
                    } else {
                        vec![entry.into_bytes()]
                    };
                    let answers = match log.append_batch(batch.clone()) {
                        Ok(a) => a,
                        Err(e) if e.is_retryable() => {
                            std::thread::sleep(Duration::from_millis(1));
                            continue;
                        }
                        Err(e) => {
                            eprintln!("append failed: {e}");
                            std::process::exit(4);
                        }
                    };
                    let mut out = stdout.lock().unwrap();
                    for (a, e) in answers.iter().zip(&batch) {
                        let hex: String = e.iter().map(|b| format!("{b:02x}")).collect();
                        writeln!(
                            out,
                            "ACK {} {} {} {}",
                            a.index, hex, a.checkpoint.size, a.checkpoint.root
                        )
                        .unwrap();
                    }
                    out.flush().unwrap();
                }
            });
        }
    });
}
