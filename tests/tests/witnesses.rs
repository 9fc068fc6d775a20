//! Witnessing over real sockets: `ledgerd` with three real `ledger-witness` processes
//! and a 2-of-3 policy, a real `ledger-agent` delivering. Receipts carry a quorum of
//! cosignatures; one witness lost changes nothing; two lost stops fail-closed receipts
//! (the agent keeps its records and retries) and turns fail-open receipts into log-only
//! ones; restarting brings the quorum back, with the witnesses' sizes recovered
//! through `409` after a ledgerd restart.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::fleet::{delivered, AgentBox};
use e2e::procs::Ledgerd;
use e2e::witnesses::{policy, WitnessProc};
use ledger_core::note::{Note, NoteVerifier};
use ledger_core::policy::Policy;
use ledger_core::receipt::Receipt;
use serde_json::Value;

/// Waits (bounded) until `cond` holds; panics with `what` otherwise.
async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A log, its key and three started witnesses trusting it, with the 2-of-3 policy file
/// written under `root`.
struct Setup {
    log_dir: std::path::PathBuf,
    log_vkey: String,
    witnesses: Vec<WitnessProc>,
    policy_file: std::path::PathBuf,
    policy: Policy,
}

async fn setup(root: &Path) -> Setup {
    let log_dir = root.join("ledger");
    // A first start creates the log key, which the witnesses must trust.
    let mut first = Ledgerd::start(&log_dir).await;
    let log_vkey = first.log_key().await;
    first.kill();
    let mut witnesses: Vec<WitnessProc> = (1..=3)
        .map(|i| WitnessProc::create(root, &format!("w{i}.witness.test"), &log_vkey))
        .collect();
    for w in &mut witnesses {
        w.start();
    }
    let text = policy(&log_vkey, &witnesses.iter().collect::<Vec<_>>(), 2);
    let policy_file = root.join("witnesses.policy");
    std::fs::write(&policy_file, &text).expect("policy file");
    Setup {
        log_dir,
        log_vkey,
        witnesses,
        policy_file,
        policy: Policy::parse(text.as_bytes()).expect("policy parses"),
    }
}

/// How many policy witnesses cosigned the checkpoint of each delivered receipt of
/// sequences `from..=to`.
fn cosigners(agent: &AgentBox, s: &Setup, from: u64, to: u64) -> Vec<usize> {
    let log = NoteVerifier::parse(&s.log_vkey).expect("log key");
    (from..=to)
        .map(|seq| {
            let (_, _, receipt) = agent.delivery(seq).expect("delivered");
            let receipt = Receipt::parse(receipt.as_bytes()).expect("receipt parses");
            let verdict = s
                .policy
                .check(receipt.checkpoint_note().as_bytes(), Some(&log))
                .expect("the checkpoint verifies");
            assert_eq!(verdict.quorum_met, verdict.cosigned_by.len() >= 2);
            verdict.cosigned_by.len()
        })
        .collect()
}

async fn metric(server: &Ledgerd, name: &str, labels: &str) -> Option<f64> {
    let text = reqwest::get(format!("{}/metrics", server.http()))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let prefix = format!("{name}{labels} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

async fn healthz(server: &Ledgerd) -> Value {
    reqwest::get(format!("{}/healthz", server.http()))
        .await
        .expect("healthz")
        .json()
        .await
        .expect("healthz json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fail_closed_receipts_wait_for_the_quorum_and_resume_after_restarts() {
    let root = tempfile::tempdir().unwrap();
    let mut s = setup(root.path()).await;
    let policy_arg = s.policy_file.display().to_string();
    let args = ["--witness-policy", &policy_arg, "--witness-fail-closed", "true"];
    let mut server = Ledgerd::start_with(&s.log_dir, &args).await;
    let urls = (server.http(), server.grpc());
    let mut agent = AgentBox::enrol(root.path(), "app-1", "http", &server, (&urls.0, &urls.1)).await;
    agent.record(20);
    agent.start();
    let boxes = std::slice::from_ref(&agent);
    wait_for("20 deliveries", Duration::from_secs(60), || delivered(boxes) == [20]).await;
    assert!(cosigners(&agent, &s, 1, 20).iter().all(|&n| n >= 2));
    let log_only = reqwest::get(format!("{}/checkpoint/log", server.http()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(Note::parse(log_only.as_bytes()).unwrap().signatures().len(), 1);

    // One witness lost: the other two still make the quorum.
    s.witnesses[0].kill();
    agent.record(20);
    let boxes = std::slice::from_ref(&agent);
    wait_for("40 deliveries", Duration::from_secs(60), || delivered(boxes) == [40]).await;
    assert!(cosigners(&agent, &s, 21, 40).iter().all(|&n| n == 2));

    // Two lost: appends are logged but not answered; the agent keeps its records.
    s.witnesses[1].kill();
    agent.record(10);
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(delivered(std::slice::from_ref(&agent)), [40]);
    assert_eq!(healthz(&server).await["witnesses"]["quorum_met"], false);
    assert!(agent.stats().outbox_depth >= 10);

    // Both back and ledgerd restarted: it knows no witness's size, learns each from a
    // 409, and the agent's retries get their receipts.
    s.witnesses[0].start();
    s.witnesses[1].start();
    server.kill();
    server.restart().await;
    let boxes = std::slice::from_ref(&agent);
    wait_for("50 deliveries", Duration::from_secs(90), || delivered(boxes) == [50]).await;
    assert!(cosigners(&agent, &s, 41, 50).iter().all(|&n| n >= 2));
    let mut recovered = 0.0;
    for w in &s.witnesses {
        let labels = format!("{{witness=\"{}\",outcome=\"conflict_recovered\"}}", w.name);
        recovered += metric(&server, "ledger_witness_requests_total", &labels)
            .await
            .unwrap_or(0.0);
        let size = metric(&server, "ledger_witness_size", &format!("{{witness=\"{}\"}}", w.name))
            .await
            .unwrap_or(0.0);
        assert!(size >= 50.0, "witness {} at size {size}", w.name);
    }
    assert!(recovered >= 3.0, "409 recoveries after the restart: {recovered}");
    agent.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fail_open_receipts_fall_back_to_the_log_signature_without_a_quorum() {
    let root = tempfile::tempdir().unwrap();
    let mut s = setup(root.path()).await;
    let policy_arg = s.policy_file.display().to_string();
    let server = Ledgerd::start_with(&s.log_dir, &["--witness-policy", &policy_arg]).await;
    let urls = (server.http(), server.grpc());
    let mut agent = AgentBox::enrol(root.path(), "app-2", "grpc", &server, (&urls.0, &urls.1)).await;
    agent.record(10);
    agent.start();
    let boxes = std::slice::from_ref(&agent);
    wait_for("10 deliveries", Duration::from_secs(60), || delivered(boxes) == [10]).await;
    assert!(cosigners(&agent, &s, 1, 10).iter().all(|&n| n >= 2));

    s.witnesses[0].kill();
    s.witnesses[1].kill();
    agent.record(10);
    let started = Instant::now();
    let boxes = std::slice::from_ref(&agent);
    wait_for("20 deliveries", Duration::from_secs(60), || delivered(boxes) == [20]).await;
    // The first answers may still wait for the round that finds the quorum gone; once
    // it is known to be gone nothing waits.
    assert!(started.elapsed() < Duration::from_secs(30));
    // No round can meet the quorum for these entries: every receipt is log-only.
    let counts = cosigners(&agent, &s, 11, 20);
    assert!(counts.iter().all(|&n| n == 0), "cosigners per receipt: {counts:?}");
    assert_eq!(healthz(&server).await["witnesses"]["quorum_met"], false);
    agent.kill();
}
