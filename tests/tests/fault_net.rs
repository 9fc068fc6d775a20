//! Fault matrix, a stalled server and a flaky network (docs/RELIABILITY.md):
//! - `ledgerd` frozen with SIGSTOP for longer than the agent's timeouts while real
//!   `ledger-agent run` processes deliver, then resumed with SIGCONT;
//! - a TCP fault proxy between the agents and `ledgerd` that delays, drops, resets
//!   (RST), holds connections half-open and truncates answers, switched during the run.
//!
//! Afterwards every record is delivered exactly once, in order (the log, read offline
//! after `fsck`, holds each appliance's outbox as one unbroken chain 1..n), and every
//! receipt the agents kept verifies against the log key.
//!
//! Short form (CI): `cargo test -p e2e --test fault_net` after the binaries are built
//! (`cargo test --workspace` builds them; alone: `cargo build -p api -p appliance --bins`).
//! The two tests run side by side; each waits out the agent's 60 s request timeout once.
//! Long form: `FAULT_STALL_ROUNDS=3 FAULT_PROXY_CYCLES=6 cargo test -p e2e --release
//! --test fault_net -- --nocapture` (after `cargo build --release -p api -p appliance
//! --bins`). `FAULT_SEED` repeats a run.

use std::time::{Duration, Instant};

use e2e::chains::{check_stopped_log, compare_with_outbox, verify_receipts, Tally};
use e2e::env_count;
use e2e::fault_proxy::{Fault, FaultProxy};
use e2e::fleet::{delivered, AgentBox};
use e2e::procs::{origin_of, Ledgerd};
use ledger_core::note::NoteVerifier;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The agent's per-request timeout (appliance/src/client.rs, `REQUEST_TIMEOUT`): a
/// stall must outlast it for the agent to give up on the stalled request.
const AGENT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a delivering agent logs when an attempt failed.
const UPLOAD_FAILED: &str = "upload failed";

fn seeded() -> (u64, StdRng) {
    let seed = env_count("FAULT_SEED", rand::random::<u32>() as u64);
    (seed, StdRng::seed_from_u64(seed))
}

/// Keeps recording `per_tick` records per appliance every `tick` for `span`.
async fn record_for(boxes: &mut [AgentBox], span: Duration, tick: Duration, per_tick: u64) {
    let until = Instant::now() + span;
    while Instant::now() < until {
        for b in boxes.iter_mut() {
            b.record(per_tick);
        }
        tokio::time::sleep(tick).await;
    }
}

/// Waits until every outbox is empty (the agents keep running), at most `limit`.
async fn wait_drained(boxes: &[AgentBox], limit: Duration) {
    let started = Instant::now();
    while boxes.iter().any(|b| b.stats().outbox_depth > 0) {
        assert!(
            started.elapsed() < limit,
            "outboxes not drained within {limit:?}: {:?}",
            boxes
                .iter()
                .map(|b| (b.stats().outbox_depth, b.stats().last_error))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Drains, stops everything and checks the log offline: each appliance's chain is its
/// outbox exactly, every receipt verifies. Returns (records, receipts verified).
async fn final_check(
    server: &mut Ledgerd,
    log_key_text: &str,
    boxes: &mut [AgentBox],
    drain_limit: Duration,
    tally: &mut Tally,
) -> (u64, u64) {
    wait_drained(boxes, drain_limit).await;
    for b in boxes.iter() {
        let stats = b.stats();
        assert!(stats.trusting_log, "{}: {stats:?}", b.name);
    }
    for b in boxes.iter_mut() {
        b.kill();
    }
    server.kill();
    let (dir, origin) = (server.dir.clone(), origin_of(log_key_text));
    let facts = tokio::task::spawn_blocking(move || check_stopped_log(&dir, &origin))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("log check: {e}"));
    tally.add_findings(&facts.findings);
    let log_key = NoteVerifier::parse(log_key_text).unwrap();
    let mut receipts = 0;
    for b in boxes.iter() {
        compare_with_outbox(facts.chain(&b.name), &b.records(), true, tally);
        receipts += verify_receipts(b, &log_key).unwrap_or_else(|e| panic!("{e}"));
    }
    let records = boxes
        .iter()
        .map(|b| facts.chain(&b.name).len() as u64)
        .sum();
    (records, receipts)
}

fn report(what: &str, records: u64, receipts: u64, tally: &Tally, started: Instant) {
    println!(
        "{what}: {records} records delivered, {receipts} receipts verified against the log key, lost {}, duplicates {}, forks {}, other {}, {:.1} s",
        tally.lost,
        tally.duplicates,
        tally.forks,
        tally.other,
        started.elapsed().as_secs_f64()
    );
}

/// Whether every agent logged a failed upload since the log offsets in `from`.
fn all_gave_up(boxes: &[AgentBox], from: &[usize]) -> bool {
    boxes
        .iter()
        .zip(from)
        .all(|(b, &from)| b.log_text()[from..].contains(UPLOAD_FAILED))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_longer_than_agent_timeouts_then_sigcont() {
    let rounds = env_count("FAULT_STALL_ROUNDS", 1);
    let stall = Duration::from_secs(env_count("FAULT_STALL_SECS", 65));
    assert!(
        stall > AGENT_TIMEOUT,
        "a stall must outlast the agent's timeout"
    );
    let root = tempfile::tempdir().unwrap();
    let mut server = Ledgerd::start(&root.path().join("server")).await;
    let key_text = server.log_key().await;
    let mut boxes = Vec::new();
    for (i, transport) in ["grpc", "http"].into_iter().enumerate() {
        let urls = (server.http(), server.grpc());
        let name = format!("box-{i}");
        boxes.push(
            AgentBox::enrol(root.path(), &name, transport, &server, (&urls.0, &urls.1)).await,
        );
    }
    boxes.iter_mut().for_each(AgentBox::start);
    let started = Instant::now();
    for round in 1..=rounds {
        record_for(
            &mut boxes,
            Duration::from_secs(3),
            Duration::from_millis(100),
            8,
        )
        .await;
        let logs_before: Vec<usize> = boxes.iter().map(|b| b.log_text().len()).collect();
        server.freeze();
        let frozen_at = Instant::now();
        // Records keep coming while the server is frozen.
        record_for(&mut boxes, stall, Duration::from_millis(500), 4).await;
        // An agent that was checking the checkpoint when the server froze waits out that
        // request first, and only its next upload attempt times out: the server stays
        // frozen until every agent gave an attempt up, for at most two more timeouts.
        let limit = Instant::now() + AGENT_TIMEOUT * 2;
        while Instant::now() < limit && !all_gave_up(&boxes, &logs_before) {
            record_for(
                &mut boxes,
                Duration::from_secs(1),
                Duration::from_millis(500),
                4,
            )
            .await;
        }
        // Read before thawing: while frozen the server cannot even close a connection,
        // so every attempt that ended meanwhile ended by the agent's own timeout.
        let during: Vec<String> = boxes
            .iter()
            .zip(&logs_before)
            .map(|(b, &from)| b.log_text()[from..].to_owned())
            .collect();
        let frozen_for = frozen_at.elapsed();
        server.thaw();
        for (b, text) in boxes.iter().zip(&during) {
            let failures: Vec<&str> = text.lines().filter(|l| l.contains(UPLOAD_FAILED)).collect();
            let gave_up = failures.len();
            println!(
                "stall {round}: {:.0?} frozen; {} ({}) gave up on {gave_up} stalled attempts: {}",
                frozen_for,
                b.name,
                b.transport,
                failures
                    .first()
                    .map_or("", |l| l.split_once(UPLOAD_FAILED).map_or(*l, |x| x.1))
            );
            assert!(
                gave_up > 0,
                "stall {round}: {} ({}) never timed out while the server was frozen; its log:\n{text}",
                b.name,
                b.transport
            );
        }
    }
    record_for(
        &mut boxes,
        Duration::from_secs(2),
        Duration::from_millis(100),
        8,
    )
    .await;
    let mut tally = Tally::default();
    let drain = AGENT_TIMEOUT * 3;
    let (records, receipts) =
        final_check(&mut server, &key_text, &mut boxes, drain, &mut tally).await;
    report(
        &format!("SIGSTOP/SIGCONT: {rounds} stalls of {stall:?}"),
        records,
        receipts,
        &tally,
        started,
    );
    assert!(tally.is_clean(), "{tally:?}");
}

/// One cycle of the proxy's schedule after the hold: delay, drop, reset and truncate,
/// with passes between, in an order and with lengths and sizes drawn from `rng`.
fn schedule(rng: &mut StdRng) -> Vec<(Fault, Duration)> {
    let mut faults = vec![
        Fault::Delay(Duration::from_millis(rng.gen_range(10..80))),
        Fault::Drop,
        Fault::Reset,
        Fault::Truncate(rng.gen_range(20..3000)),
    ];
    // Fisher-Yates with the seeded generator, so a seed repeats the order.
    for i in (1..faults.len()).rev() {
        faults.swap(i, rng.gen_range(0..=i));
    }
    let mut out = Vec::new();
    for f in faults {
        out.push((f, Duration::from_millis(rng.gen_range(800..2500))));
        out.push((Fault::Pass, Duration::from_millis(rng.gen_range(500..1500))));
    }
    out
}

/// Holds every connection half-open while uploads are under way, then passes again and
/// waits until every agent has delivered more (it must give the held connection up by
/// its own timeout). Returns how long the recovery took.
async fn hold_then_recover(
    proxies: [&FaultProxy; 2],
    boxes: &mut [AgentBox],
    hold: Duration,
) -> Duration {
    for b in boxes.iter_mut() {
        b.record(1000);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxies.iter().for_each(|p| p.set(Fault::HalfOpen));
    record_for(boxes, hold, Duration::from_millis(200), 3).await;
    proxies.iter().for_each(|p| p.set(Fault::Pass));
    let marks = delivered(boxes);
    let passed = Instant::now();
    // A gRPC stream held midway is given up after 60 s; the HTTP fallback that follows
    // may then meet a pooled HTTP connection that was held too, another 60 s.
    let limit = AGENT_TIMEOUT * 3;
    loop {
        let now = delivered(boxes);
        if now.iter().zip(&marks).all(|(n, m)| n > m) {
            return passed.elapsed();
        }
        assert!(
            passed.elapsed() < limit,
            "an agent did not recover from a half-open connection within {limit:?}: {marks:?} -> {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_network_through_fault_proxy() {
    let cycles = env_count("FAULT_PROXY_CYCLES", 1);
    let (seed, mut rng) = seeded();
    println!("fault proxy: {cycles} cycles, seed {seed}");
    let root = tempfile::tempdir().unwrap();
    let mut server = Ledgerd::start(&root.path().join("server")).await;
    let key_text = server.log_key().await;
    let http_proxy = FaultProxy::start(server.http_addr).await;
    let grpc_proxy = FaultProxy::start(server.grpc_addr).await;
    let mut boxes = Vec::new();
    for (i, transport) in ["grpc", "http"].into_iter().enumerate() {
        let name = format!("box-{i}");
        let urls = (http_proxy.url(), grpc_proxy.url());
        boxes.push(
            AgentBox::enrol(root.path(), &name, transport, &server, (&urls.0, &urls.1)).await,
        );
    }
    boxes.iter_mut().for_each(AgentBox::start);
    let started = Instant::now();
    for cycle in 1..=cycles {
        // The hold comes first: in the first cycle the gRPC agent still uploads over
        // gRPC (the later faults send it to its HTTP fallback for a while), so a gRPC
        // stream is held half-open midway too.
        let hold = Duration::from_millis(rng.gen_range(1000..3000));
        let recovery = hold_then_recover([&http_proxy, &grpc_proxy], &mut boxes, hold).await;
        for (fault, span) in schedule(&mut rng) {
            http_proxy.set(fault);
            grpc_proxy.set(fault);
            record_for(&mut boxes, span, Duration::from_millis(200), 3).await;
        }
        println!(
            "cycle {cycle}: held half-open {hold:?}, every agent delivering again {recovery:?} later; connections [accepted, delayed, dropped, reset, held, truncated] http {:?} grpc {:?}",
            http_proxy.counters.snapshot(),
            grpc_proxy.counters.snapshot()
        );
    }
    http_proxy.set(Fault::Pass);
    grpc_proxy.set(Fault::Pass);
    // Every fault met the agents' connections (HTTP carries both agents' check-ins and
    // checkpoint reads, and the gRPC agent's uploads after a fallback).
    let [accepted, delayed, dropped, reset, held, truncated] = http_proxy.counters.snapshot();
    assert!(
        accepted > 0 && delayed > 0 && dropped > 0 && reset > 0 && held > 0 && truncated > 0,
        "some fault never met a connection: {:?}",
        http_proxy.counters.snapshot()
    );
    let held_grpc = grpc_proxy.counters.snapshot()[4];
    assert!(held_grpc > 0, "no gRPC connection was held half-open");
    let mut tally = Tally::default();
    // Held connections are only given up by the agent's own timeout.
    let drain = AGENT_TIMEOUT * 4;
    let (records, receipts) =
        final_check(&mut server, &key_text, &mut boxes, drain, &mut tally).await;
    report(
        &format!("fault proxy: {cycles} cycles of half-open, delay, drop, reset, truncate"),
        records,
        receipts,
        &tally,
        started,
    );
    assert!(tally.is_clean(), "{tally:?}");
}
