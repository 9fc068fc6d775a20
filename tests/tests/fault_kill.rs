//! Fault matrix, process kills (docs/RELIABILITY.md): SIGKILL of the real `ledgerd`
//! while real `ledger-agent run` processes deliver, and SIGKILL of `ledger-agent` in the
//! middle of its deliveries.
//!
//! After every kill the log is checked: with the server dead, its data directory is
//! opened here, `fsck` re-verifies every entry, stored hash and signed checkpoint, and
//! every chain of the log is checked (1..n, prev-hash links, each record once); with the
//! server alive, each appliance's chain is read through the query API and checked the
//! same way. Every record an agent marked delivered (it verified a receipt for it) must be
//! in the log at that receipt's index. At the end every agent drains its outbox and each
//! appliance's chain in the log is exactly its outbox, once each, in order, with every
//! stored receipt verified against the log key.
//!
//! Short form (CI): `cargo test -p e2e --test fault_kill` after the binaries are built
//! (`cargo test --workspace` builds them; alone: `cargo build -p api -p appliance --bins`).
//! Long form: `FAULT_LEDGERD_KILLS=50 FAULT_AGENT_KILLS=50 cargo test -p e2e --release
//! --test fault_kill -- --nocapture` (after `cargo build --release -p api -p appliance
//! --bins`). `FAULT_SEED` repeats a run's kill moments.

use std::time::{Duration, Instant};

use e2e::chains::{
    chain_via_api, check_chain, check_stopped_log, compare_with_outbox, verify_receipts, LogFacts,
    Tally,
};
use e2e::env_count;
use e2e::fleet::{delivered, AgentBox};
use e2e::procs::{origin_of, Ledgerd};
use ledger_core::note::NoteVerifier;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Records each appliance has waiting at the start of a round: more than an agent
/// delivers in one round, so the kills find deliveries under way.
const BACKLOG: u64 = 1000;

fn seeded() -> (u64, StdRng) {
    let seed = env_count("FAULT_SEED", rand::random::<u32>() as u64);
    (seed, StdRng::seed_from_u64(seed))
}

fn top_up(boxes: &mut [AgentBox]) {
    for b in boxes {
        let depth = b.stats().outbox_depth;
        b.record(BACKLOG.saturating_sub(depth));
    }
}

/// The offline check of a stopped server's log against every outbox.
async fn check_offline(
    server: &Ledgerd,
    origin: &str,
    boxes: &[AgentBox],
    complete: bool,
    tally: &mut Tally,
) -> LogFacts {
    let (dir, origin) = (server.dir.clone(), origin.to_owned());
    let facts = tokio::task::spawn_blocking(move || check_stopped_log(&dir, &origin))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("log check: {e}"));
    tally.add_findings(&facts.findings);
    for b in boxes {
        compare_with_outbox(facts.chain(&b.name), &b.records(), complete, tally);
    }
    facts
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
                .map(|b| b.stats().outbox_depth)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The final check: everything delivered once, in order, receipts verified.
async fn final_check(
    server: &mut Ledgerd,
    origin: &str,
    log_key: &NoteVerifier,
    boxes: &mut [AgentBox],
    tally: &mut Tally,
) -> (u64, u64) {
    boxes.iter_mut().for_each(AgentBox::start);
    wait_drained(boxes, Duration::from_secs(300)).await;
    for b in boxes.iter_mut() {
        b.kill();
    }
    server.kill();
    let facts = check_offline(server, origin, boxes, true, tally).await;
    let mut receipts = 0;
    for b in boxes.iter() {
        receipts += verify_receipts(b, log_key).unwrap_or_else(|e| panic!("{e}"));
    }
    let records = boxes
        .iter()
        .map(|b| facts.chain(&b.name).len() as u64)
        .sum();
    (records, receipts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledgerd_sigkill_while_agents_deliver() {
    let target = env_count("FAULT_LEDGERD_KILLS", 3);
    let (seed, mut rng) = seeded();
    println!("ledgerd SIGKILL: {target} kills while delivering wanted, seed {seed}");
    let root = tempfile::tempdir().unwrap();
    let mut server = Ledgerd::start(&root.path().join("server")).await;
    let key_text = server.log_key().await;
    let log_key = NoteVerifier::parse(&key_text).unwrap();
    let origin = origin_of(&key_text);
    let mut boxes = Vec::new();
    for (i, transport) in ["grpc", "http", "grpc"].into_iter().enumerate() {
        let urls = (server.http(), server.grpc());
        let b = AgentBox::enrol(
            root.path(),
            &format!("box-{i}"),
            transport,
            &server,
            (&urls.0, &urls.1),
        )
        .await;
        boxes.push(b);
    }
    top_up(&mut boxes);
    boxes.iter_mut().for_each(AgentBox::start);
    let mut tally = Tally::default();
    let (mut kills, mut while_delivering, mut last_size) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    while while_delivering < target && kills < target * 3 {
        let before = delivered(&boxes);
        let up = Duration::from_millis(rng.gen_range(300..1200));
        tokio::time::sleep(up).await;
        server.kill();
        kills += 1;
        let facts = check_offline(&server, &origin, &boxes, false, &mut tally).await;
        assert!(tally.is_clean(), "after kill {kills}: {tally:?}");
        let after = delivered(&boxes);
        let waiting = boxes.iter().any(|b| b.stats().outbox_depth > 0);
        // A kill counts as one during delivery when the log grew while the server was
        // up and records were still waiting when it died.
        if facts.size > last_size && waiting {
            while_delivering += 1;
        }
        println!(
            "kill {kills}: after {up:?} up, log size {} ({} new), {} checkpoints verified by fsck, delivered per appliance {before:?} -> {after:?}",
            facts.size,
            facts.size - last_size,
            facts.checkpoints
        );
        last_size = facts.size;
        top_up(&mut boxes);
        server.restart().await;
    }
    let (records, receipts) =
        final_check(&mut server, &origin, &log_key, &mut boxes, &mut tally).await;
    println!(
        "ledgerd SIGKILL done: {kills} kills ({while_delivering} while delivering), {records} records of {} appliances delivered, {receipts} receipts verified, {} acknowledged-record checks: lost {}, duplicates {}, forks {}, other {}, {:.1} s",
        boxes.len(),
        tally.acknowledged,
        tally.lost,
        tally.duplicates,
        tally.forks,
        tally.other,
        started.elapsed().as_secs_f64()
    );
    assert!(tally.is_clean(), "{tally:?}");
    assert!(
        while_delivering >= target,
        "only {while_delivering} of {kills} kills hit deliveries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_sigkill_mid_delivery() {
    let target = env_count("FAULT_AGENT_KILLS", 4);
    let (seed, mut rng) = seeded();
    println!("ledger-agent SIGKILL: {target} kills mid-delivery wanted, seed {seed}");
    let root = tempfile::tempdir().unwrap();
    let mut server = Ledgerd::start(&root.path().join("server")).await;
    let key_text = server.log_key().await;
    let log_key = NoteVerifier::parse(&key_text).unwrap();
    let origin = origin_of(&key_text);
    let mut boxes = Vec::new();
    for (i, transport) in ["grpc", "http"].into_iter().enumerate() {
        let urls = (server.http(), server.grpc());
        let b = AgentBox::enrol(
            root.path(),
            &format!("box-{i}"),
            transport,
            &server,
            (&urls.0, &urls.1),
        )
        .await;
        boxes.push(b);
    }
    let mut tally = Tally::default();
    let (mut kills, mut mid_delivery) = (0u64, 0u64);
    let started = Instant::now();
    while mid_delivery < target && kills < target * 3 {
        top_up(&mut boxes);
        let before = delivered(&boxes);
        boxes.iter_mut().for_each(AgentBox::start);
        // Each agent dies at its own random moment.
        let mut moments: Vec<(u64, usize)> = (0..boxes.len())
            .map(|i| (rng.gen_range(200..1500), i))
            .collect();
        moments.sort_unstable();
        let mut slept = 0;
        for (at, i) in moments {
            tokio::time::sleep(Duration::from_millis(at - slept)).await;
            slept = at;
            assert!(boxes[i].kill(), "the agent was running");
            kills += 1;
        }
        let after = delivered(&boxes);
        for (i, b) in boxes.iter().enumerate() {
            // The outbox opens after the kill and its figures are consistent.
            let stats = b.stats();
            assert!(stats.outbox_depth <= stats.head_sequence, "{stats:?}");
            if after[i] > before[i] && stats.outbox_depth > 0 {
                mid_delivery += 1;
            }
            let logged = chain_via_api(&server.http(), &server.admin, &b.name, after[i]).await;
            tally.add_findings(&check_chain(&logged));
            compare_with_outbox(&logged, &b.records(), false, &mut tally);
        }
        assert!(tally.is_clean(), "after kill {kills}: {tally:?}");
        println!("kills {kills}: delivered per appliance {before:?} -> {after:?}, chains checked through the query API");
    }
    let (records, receipts) =
        final_check(&mut server, &origin, &log_key, &mut boxes, &mut tally).await;
    println!(
        "ledger-agent SIGKILL done: {kills} kills ({mid_delivery} mid-delivery), {records} records of {} appliances delivered, {receipts} receipts verified, {} acknowledged-record checks: lost {}, duplicates {}, forks {}, other {}, {:.1} s",
        boxes.len(),
        tally.acknowledged,
        tally.lost,
        tally.duplicates,
        tally.forks,
        tally.other,
        started.elapsed().as_secs_f64()
    );
    assert!(tally.is_clean(), "{tally:?}");
    assert!(
        mid_delivery >= target,
        "only {mid_delivery} of {kills} kills hit deliveries"
    );
}
