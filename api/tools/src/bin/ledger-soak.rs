//! `ledger-soak`: builds a large log in a `ledgerd` data directory through the real
//! sequencer (512-byte random entries, as in the ledger bench; the server's deriver runs
//! on every batch) and reports, every `--report-every` entries: the append rate of that
//! stretch, the p99 group-commit time, disk per entry and the process's RSS. At the end:
//! inclusion and consistency proofs/s, then the real `ledgerd` binary on the directory:
//! time to ready after a clean stop and after SIGKILL, the query index's rebuild rate,
//! and `ledgerd fsck`'s rates.
//!
//! Not for CI: a 100M-entry run writes about 60 GB and takes the better part of an hour
//! on two cores. Bounded: it stops after `--entries`; every process it starts listens on
//! 127.0.0.1 only and is stopped before it exits.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use ledger::{CommitHistogram, Log};
use rand::{Rng, RngCore, SeedableRng};

const ENTRY_SIZE: usize = 512;

#[derive(Parser, Debug)]
#[command(name = "ledger-soak", about = "Builds a large log and measures it")]
struct Args {
    /// Data directory (created; an existing log is extended).
    #[arg(long)]
    dir: PathBuf,
    /// Tree size to reach.
    #[arg(long, default_value_t = 100_000_000)]
    entries: u64,
    /// Report every this many entries.
    #[arg(long, default_value_t = 10_000_000)]
    report_every: u64,
    /// Appending threads, entries per request and requests outstanding per thread.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    #[arg(long, default_value_t = 64)]
    request: usize,
    #[arg(long, default_value_t = 16)]
    in_flight: usize,
    /// The `ledgerd` binary (default: beside this one).
    #[arg(long)]
    ledgerd: Option<PathBuf>,
    /// Stop filling early when the data directory's file system has less than this
    /// many GiB free (a 100M-entry log needs about 60 GB).
    #[arg(long, default_value_t = 8)]
    min_free_gib: u64,
    /// How long to let the query index rebuild before its rate is taken.
    #[arg(long, default_value_t = 120)]
    index_secs: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ledgerd = match &args.ledgerd {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("ledgerd"),
    };
    if !ledgerd.exists() {
        bail!(
            "{} not found: build it (cargo build --release -p api) or pass --ledgerd",
            ledgerd.display()
        );
    }
    std::fs::create_dir_all(&args.dir)?;
    let config = api::config::Config::for_dir(&args.dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let size = {
        let log = Log::open(api::state::log_config(&config)).context("opening the log")?;
        // What `ledgerd` does on open: the derived intake state must cover the log
        // before anything is appended, so the deriver's output is the whole state.
        if !api::intake::derived::is_current(&log)? {
            api::intake::derived::rebuild_and_store(&log, &mut |_| {})?;
        }
        fill(&log, &args)?;
        proofs(&log);
        log.latest().size
    };
    println!("log closed at {size} entries");
    restarts(&ledgerd, &args.dir, args.index_secs)?;
    fsck(&ledgerd, &args.dir)
}

/// Appends until the tree has `args.entries` entries, reporting each stretch.
fn fill(log: &Log, args: &Args) -> anyhow::Result<()> {
    let mut size = log.latest().size;
    println!(
        "filling {} from {size} to {} entries of {ENTRY_SIZE} bytes ({} clients × {} requests of {})",
        args.dir.display(),
        args.entries,
        args.clients,
        args.in_flight,
        args.request
    );
    let seed = rand::thread_rng().gen::<u64>();
    while size < args.entries {
        let free = free_gib(&args.dir)?;
        if free < args.min_free_gib {
            println!("stopping at {size} entries: {free} GiB free on the data directory's file system (--min-free-gib {})", args.min_free_gib);
            break;
        }
        let target = (size + args.report_every).min(args.entries);
        let before = log.metrics().commit_times.snapshot();
        let started = Instant::now();
        drive(log, target - size, args, seed ^ size);
        let secs = started.elapsed().as_secs_f64();
        let after = log.metrics().commit_times.snapshot();
        let appended = log.latest().size - size;
        size = log.latest().size;
        let p99 = CommitHistogram::quantile_between(&before, &after, 0.99).unwrap_or(0.0);
        println!(
            "at {size}: {:.0} appends/s over the last {appended}, p99 group commit {:.2} ms, disk {:.1} B/entry, RSS {} MB",
            appended as f64 / secs,
            p99 / 1000.0,
            dir_bytes(&args.dir.join("db")) as f64 / size.max(1) as f64,
            rss_kib(std::process::id()).unwrap_or(0) / 1024
        );
    }
    Ok(())
}

/// Appends `total` new entries with the configured clients, each entry unique (a
/// counter from the seed in its first bytes, random bytes after).
fn drive(log: &Log, total: u64, args: &Args, seed: u64) {
    let next = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        for client in 0..args.clients {
            let next = next.clone();
            s.spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ ((client as u64) << 48));
                let (tx, rx) = std::sync::mpsc::channel::<Result<usize, String>>();
                let mut outstanding = 0usize;
                loop {
                    while outstanding < args.in_flight {
                        let start = next.fetch_add(args.request as u64, Ordering::Relaxed);
                        if start >= total {
                            break;
                        }
                        let n = (args.request as u64).min(total - start);
                        let entries = (0..n).map(|i| entry(&mut rng, seed, start + i)).collect();
                        let tx = tx.clone();
                        log.submit(
                            entries,
                            Box::new(move |r| {
                                let _ = tx.send(r.map(|a| a.len()).map_err(|e| e.to_string()));
                            }),
                        )
                        .expect("the queue holds every client's requests");
                        outstanding += 1;
                    }
                    if outstanding == 0 {
                        break;
                    }
                    rx.recv().expect("reply").expect("append");
                    outstanding -= 1;
                }
            });
        }
    });
}

fn entry(rng: &mut impl RngCore, seed: u64, n: u64) -> Vec<u8> {
    let mut e = vec![0u8; ENTRY_SIZE];
    rng.fill_bytes(&mut e);
    e[..8].copy_from_slice(&seed.to_be_bytes());
    e[8..16].copy_from_slice(&n.to_be_bytes());
    e
}

/// Inclusion and consistency proofs per second for random positions, one thread each,
/// two seconds each.
fn proofs(log: &Log) {
    let size = log.latest().size;
    if size < 2 {
        return;
    }
    let mut rng = rand::thread_rng();
    let measure = |f: &mut dyn FnMut()| {
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < Duration::from_secs(2) {
            f();
            n += 1;
        }
        n as f64 / started.elapsed().as_secs_f64()
    };
    let inclusion = measure(&mut || {
        std::hint::black_box(log.inclusion_proof(rng.gen_range(0..size), size).unwrap());
    });
    let mut rng = rand::thread_rng();
    let consistency = measure(&mut || {
        let a = rng.gen_range(1..size);
        std::hint::black_box(log.consistency_proof(a, size).unwrap());
    });
    println!("at {size}: {inclusion:.0} inclusion proofs/s, {consistency:.0} consistency proofs/s (one thread)");
}

/// A `ledgerd serve` on `dir`, with the time it took to print its addresses.
struct Served {
    child: Child,
    http: String,
    ready: Duration,
}

fn serve(ledgerd: &Path, dir: &Path) -> anyhow::Result<Served> {
    let started = Instant::now();
    let mut child = Command::new(ledgerd)
        .args([
            "serve",
            "--http-listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "127.0.0.1:0",
        ])
        .args(["--anchor-enabled", "false", "--data-dir"])
        .arg(dir)
        .env("LEDGERD_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting ledgerd")?;
    let lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    for line in lines {
        let line = line?;
        if let Some(rest) = line.strip_prefix("listening: http ") {
            let http = rest.split(' ').next().unwrap_or_default().to_string();
            return Ok(Served {
                child,
                http,
                ready: started.elapsed(),
            });
        }
    }
    let _ = child.kill();
    bail!("ledgerd exited before it listened")
}

fn stop(mut served: Served, signal: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let status = Command::new("kill")
        .args([signal, &served.child.id().to_string()])
        .status()?;
    if !status.success() {
        bail!("kill {signal} failed");
    }
    served.child.wait()?;
    Ok(started.elapsed())
}

/// Start, index for a while, clean stop; start again; SIGKILL; start again.
fn restarts(ledgerd: &Path, dir: &Path, index_secs: u64) -> anyhow::Result<()> {
    let first = serve(ledgerd, dir)?;
    println!(
        "ledgerd ready in {:.2} s (first start on this log)",
        first.ready.as_secs_f64()
    );
    index_rate(&first.http, index_secs)?;
    let pid = first.child.id();
    let hwm = rss_hwm_kib(pid).unwrap_or(0);
    let took = stop(first, "-TERM")?;
    println!(
        "ledgerd stopped cleanly in {:.2} s; its peak RSS {} MB",
        took.as_secs_f64(),
        hwm / 1024
    );
    let second = serve(ledgerd, dir)?;
    println!(
        "ledgerd ready in {:.2} s after a clean stop",
        second.ready.as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(5));
    stop(second, "-KILL")?;
    let third = serve(ledgerd, dir)?;
    println!(
        "ledgerd ready in {:.2} s after SIGKILL",
        third.ready.as_secs_f64()
    );
    stop(third, "-TERM")?;
    Ok(())
}

/// Polls `/metrics` while the query index rebuilds and prints its rate.
fn index_rate(http: &str, secs: u64) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let started = Instant::now();
        let mut first: Option<(u64, Instant)> = None;
        let mut last = (0u64, 0u64);
        while started.elapsed() < Duration::from_secs(secs) {
            let text = client
                .get(format!("http://{http}/metrics"))
                .send()
                .await?
                .text()
                .await?;
            let (indexed, lag) = (
                metric(&text, "ledger_index_size"),
                metric(&text, "ledger_index_lag_entries"),
            );
            first.get_or_insert((indexed, Instant::now()));
            last = (indexed, lag);
            if lag == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let (from, at) = first.unwrap_or((0, Instant::now()));
        let rate = last.0.saturating_sub(from) as f64 / at.elapsed().as_secs_f64().max(1e-3);
        println!(
            "query index rebuild: {rate:.0} entries/s ({} indexed, {} still to go when measured)",
            last.0, last.1
        );
        Ok(())
    })
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

fn fsck(ledgerd: &Path, dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let out = Command::new(ledgerd)
        .args(["fsck", "--data-dir"])
        .arg(dir)
        .env("LEDGERD_LOG", "warn")
        .output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    println!(
        "ledgerd fsck exited {:?} after {:.1} s",
        out.status.code(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Free space on the file system holding `dir`, from `df` (POSIX output, KiB).
fn free_gib(dir: &Path) -> anyhow::Result<u64> {
    let out = Command::new("df").arg("-Pk").arg(dir).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: u64 = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .context("reading free space from df")?;
    Ok(kib >> 20)
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(path) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

fn rss_hwm_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}
