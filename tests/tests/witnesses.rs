//! Witnessing over real sockets: `ledgerd` with three real `ledger-witness` processes
//! and a 2-of-3 policy, a real `ledger-agent` delivering. Receipts carry a quorum of
//! cosignatures; one witness lost changes nothing; two lost stops fail-closed receipts
//! (the agent keeps its records and retries) and turns fail-open receipts into log-only
//! ones; restarting brings the quorum back, with the witnesses' sizes recovered
//! through `409` after a ledgerd restart.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::fleet::{delivered, AgentBox};
use e2e::procs::{locate, origin_of, Ledgerd};
use e2e::witnesses::{policy, WitnessProc};
use ledger::key::LogKey;
use ledger_core::checkpoint::SignedCheckpoint;
use ledger_core::hash::Hash;
use ledger_core::note::{Note, NoteVerifier};
use ledger_core::policy::Policy;
use ledger_core::receipt::Receipt;
use ledger_core::witness::AddCheckpoint;
use serde_json::Value;

/// Waits (bounded) until `cond` holds; panics with `what` otherwise.
async fn wait_for(what: &str, limit: Duration, cond: impl FnMut() -> bool) {
    assert!(
        wait_until(limit, cond).await,
        "timed out waiting for {what}"
    );
}

/// Waits (bounded) until `cond` holds; whether it did.
async fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
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

/// A fail-closed `ledgerd` with the setup's policy, and an HTTP agent `name` that has
/// delivered `n` records through it.
async fn fail_closed_with_agent(root: &Path, s: &Setup, name: &str, n: u64) -> (Ledgerd, AgentBox) {
    let policy_arg = s.policy_file.display().to_string();
    let args = [
        "--witness-policy",
        &policy_arg,
        "--witness-fail-closed",
        "true",
    ];
    let server = Ledgerd::start_with(&s.log_dir, &args).await;
    let urls = (server.http(), server.grpc());
    let mut agent = AgentBox::enrol(root, name, "http", &server, (&urls.0, &urls.1)).await;
    agent.record(n);
    agent.start();
    let boxes = std::slice::from_ref(&agent);
    wait_for(&format!("{n} deliveries"), Duration::from_secs(60), || {
        delivered(boxes) == [n]
    })
    .await;
    (server, agent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fail_closed_receipts_wait_for_the_quorum_and_resume_after_restarts() {
    let root = tempfile::tempdir().unwrap();
    let mut s = setup(root.path()).await;
    let (mut server, mut agent) = fail_closed_with_agent(root.path(), &s, "app-1", 20).await;
    assert!(cosigners(&agent, &s, 1, 20).iter().all(|&n| n >= 2));
    let log_only = reqwest::get(format!("{}/checkpoint/log", server.http()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        Note::parse(log_only.as_bytes()).unwrap().signatures().len(),
        1
    );

    // One witness lost: the other two still make the quorum.
    s.witnesses[0].kill();
    agent.record(20);
    let boxes = std::slice::from_ref(&agent);
    wait_for("40 deliveries", Duration::from_secs(60), || {
        delivered(boxes) == [40]
    })
    .await;
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
    wait_for("50 deliveries", Duration::from_secs(90), || {
        delivered(boxes) == [50]
    })
    .await;
    assert!(cosigners(&agent, &s, 41, 50).iter().all(|&n| n >= 2));
    let mut recovered = 0.0;
    for w in &s.witnesses {
        let labels = format!("{{witness=\"{}\",outcome=\"conflict_recovered\"}}", w.name);
        recovered += metric(&server, "ledger_witness_requests_total", &labels)
            .await
            .unwrap_or(0.0);
        let size = metric(
            &server,
            "ledger_witness_size",
            &format!("{{witness=\"{}\"}}", w.name),
        )
        .await
        .unwrap_or(0.0);
        assert!(size >= 50.0, "witness {} at size {size}", w.name);
    }
    assert!(
        recovered >= 3.0,
        "409 recoveries after the restart: {recovered}"
    );
    agent.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fail_open_receipts_fall_back_to_the_log_signature_and_policy_clients_refuse_them() {
    let root = tempfile::tempdir().unwrap();
    let mut s = setup(root.path()).await;
    let policy_arg = s.policy_file.display().to_string();
    let server = Ledgerd::start_with(&s.log_dir, &["--witness-policy", &policy_arg]).await;
    let urls = (server.http(), server.grpc());
    let mut plain =
        AgentBox::enrol(root.path(), "app-2", "grpc", &server, (&urls.0, &urls.1)).await;
    let requiring = format!("witness_policy = {policy_arg:?}\n");
    let mut strict = AgentBox::enrol_with(
        root.path(),
        "app-3",
        "http",
        &server,
        (&urls.0, &urls.1),
        &requiring,
    )
    .await;
    for agent in [&mut plain, &mut strict] {
        agent.record(10);
        agent.start();
    }
    wait_for("10 deliveries each", Duration::from_secs(60), || {
        delivered(std::slice::from_ref(&plain)) == [10]
            && delivered(std::slice::from_ref(&strict)) == [10]
    })
    .await;
    // Fail-open answers at once: the plain agent's receipts are cosigned or log-only
    // (every one verifies); the agent that requires the policy accepted only cosigned
    // ones.
    let _ = cosigners(&plain, &s, 1, 10);
    let strict_counts = cosigners(&strict, &s, 1, 10);
    assert!(strict_counts.iter().all(|&n| n >= 2), "{strict_counts:?}");

    s.witnesses[0].kill();
    s.witnesses[1].kill();
    plain.record(10);
    strict.record(10);
    let started = Instant::now();
    let boxes = std::slice::from_ref(&plain);
    let got = wait_until(Duration::from_secs(60), || delivered(boxes) == [20]).await;
    assert!(got, "20 deliveries; agent log:\n{}", plain.log_text());
    // Nothing waits for the witnesses.
    assert!(started.elapsed() < Duration::from_secs(30));
    // No round can meet the quorum for these entries: every receipt is log-only.
    let counts = cosigners(&plain, &s, 11, 20);
    assert!(
        counts.iter().all(|&n| n == 0),
        "cosigners per receipt: {counts:?}"
    );
    assert_eq!(healthz(&server).await["witnesses"]["quorum_met"], false);
    // /checkpoint never answers below a log-only checkpoint already handed out: a
    // client that trusts the newest receipt would call a smaller one a rollback.
    let log = NoteVerifier::parse(&s.log_vkey).unwrap();
    let (_, _, newest) = plain.delivery(20).expect("delivered");
    let newest = Receipt::parse(newest.as_bytes()).expect("receipt parses");
    let handed_out = SignedCheckpoint::verify(newest.checkpoint_note().as_bytes(), &log)
        .expect("receipt checkpoint verifies")
        .size();
    let served = http_text(&format!("{}/checkpoint", server.http())).await;
    let served = SignedCheckpoint::verify(served.as_bytes(), &log).expect("checkpoint verifies");
    assert!(
        served.size() >= handed_out,
        "/checkpoint has size {}, a receipt was given over size {handed_out}",
        served.size()
    );
    // A receipt fetched now for an entry the last cosigned checkpoint covers is still
    // over that checkpoint, although /checkpoint serves a newer log-only one.
    let (_, early, _) = strict.delivery(1).expect("delivered");
    let text = http_text(&format!("{}/receipt/{early}", server.http())).await;
    let receipt = Receipt::parse(text.as_bytes()).expect("receipt parses");
    let verdict = s
        .policy
        .check(receipt.checkpoint_note().as_bytes(), Some(&log))
        .unwrap();
    assert!(verdict.quorum_met, "receipt of entry {early}: {verdict:?}");
    // The agent that requires the policy keeps its records: logged, not accepted.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(delivered(std::slice::from_ref(&strict)), [10]);
    assert!(strict.stats().outbox_depth >= 10);
    // ledger-verify with the policy refuses a log-only receipt.
    let (record, _, receipt) = plain.delivery(15).expect("delivered");
    let verdict = verify_receipt_with_policy(root.path(), &s, &record, &receipt);
    assert_eq!(verdict.0, Some(1), "ledger-verify: {}", verdict.1);

    // The quorum back: the strict agent's retries get cosigned receipts.
    s.witnesses[0].start();
    s.witnesses[1].start();
    let boxes = std::slice::from_ref(&strict);
    wait_for("strict agent's 20", Duration::from_secs(90), || {
        delivered(boxes) == [20]
    })
    .await;
    assert!(cosigners(&strict, &s, 11, 20).iter().all(|&n| n >= 2));
    plain.kill();
    strict.kill();
}

/// Runs `ledger-verify receipt` with the setup's policy on `receipt`: exit code and
/// output.
fn verify_receipt_with_policy(
    root: &Path,
    s: &Setup,
    record: &[u8],
    receipt: &str,
) -> (Option<i32>, String) {
    let file = root.join("receipt.tlog-proof");
    std::fs::write(&file, receipt).expect("receipt file");
    let entry = root.join("record.bin");
    std::fs::write(&entry, record).expect("record file");
    let key = root.join("log.vkey");
    std::fs::write(&key, format!("{}\n", s.log_vkey)).expect("log key file");
    let out = std::process::Command::new(locate("LEDGER_VERIFY_BIN", "ledger-verify"))
        .arg("receipt")
        .arg(&file)
        .arg("--entry")
        .arg(&entry)
        .arg("--key")
        .arg(format!("@{}", key.display()))
        .arg("--policy")
        .arg(&s.policy_file)
        .output()
        .expect("running ledger-verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// A split view drilled: a second history signed with the log's real key is offered to
/// every witness. None cosigns it (same size, another root: 409; a larger size without a
/// valid proof: 422), their stored checkpoints stay the real ones, and a client with the
/// policy finds no quorum on the forked checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forked_checkpoint_signed_by_the_log_gets_no_cosignature() {
    let root = tempfile::tempdir().unwrap();
    let s = setup(root.path()).await;
    let (mut server, mut agent) = fail_closed_with_agent(root.path(), &s, "app-4", 12).await;
    agent.kill();
    let published = http_text(&format!("{}/checkpoint", server.http())).await;
    server.kill();
    let log = NoteVerifier::parse(&s.log_vkey).unwrap();
    let real = SignedCheckpoint::verify(published.as_bytes(), &log).expect("published checkpoint");
    let (size, real_root) = (real.size(), *real.root());

    let key = LogKey::load(&s.log_dir.join("log.key"), &origin_of(&s.log_vkey)).unwrap();
    let same_size = key.sign_checkpoint(size, &Hash([7; 32])).unwrap();
    let larger = key.sign_checkpoint(size + 5, &Hash([9; 32])).unwrap();
    let bogus_proof = vec![Hash([1; 32]), Hash([2; 32]), Hash([3; 32])];
    let client = reqwest::Client::new();
    for w in &s.witnesses {
        let stored_before = http_text(&format!("{}/checkpoint", w.url())).await;
        let answer = |old, proof: Vec<Hash>, note: &[u8]| {
            let body = AddCheckpoint {
                old,
                proof,
                checkpoint: note.to_vec(),
            }
            .to_body();
            client
                .post(format!("{}/add-checkpoint", w.url()))
                .body(body)
                .send()
        };
        let fork = answer(size, Vec::new(), &same_size).await.unwrap();
        assert_eq!(
            fork.status().as_u16(),
            409,
            "witness {}: same size, other root",
            w.name
        );
        let grown = answer(size, bogus_proof.clone(), &larger).await.unwrap();
        assert_eq!(
            grown.status().as_u16(),
            422,
            "witness {}: no valid proof",
            w.name
        );
        let from_zero = answer(0, Vec::new(), &same_size).await.unwrap();
        assert_eq!(from_zero.status().as_u16(), 409);
        assert_eq!(from_zero.text().await.unwrap(), format!("{size}\n"));
        let stored = http_text(&format!("{}/checkpoint", w.url())).await;
        assert_eq!(stored, stored_before, "witness {} state changed", w.name);
        let kept = SignedCheckpoint::verify(stored.as_bytes(), &log).unwrap();
        assert_eq!((kept.size(), *kept.root()), (size, real_root));
    }
    // The forked note has only the log's signature: no quorum for a policy client.
    let verdict = s
        .policy
        .check(&same_size, Some(&log))
        .expect("signed by the log");
    assert!(!verdict.quorum_met && verdict.cosigned_by.is_empty());
    let real_verdict = s.policy.check(published.as_bytes(), Some(&log)).unwrap();
    assert!(real_verdict.quorum_met);
    let file = root.path().join("forked.checkpoint");
    std::fs::write(&file, &same_size).unwrap();
    let key_file = root.path().join("log.vkey");
    std::fs::write(&key_file, format!("{}\n", s.log_vkey)).unwrap();
    let out = std::process::Command::new(locate("LEDGER_VERIFY_BIN", "ledger-verify"))
        .arg("checkpoint")
        .arg(&file)
        .arg("--key")
        .arg(format!("@{}", key_file.display()))
        .arg("--policy")
        .arg(&s.policy_file)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

async fn http_text(url: &str) -> String {
    let response = reqwest::get(url).await.expect(url);
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.text().await.expect(url)
}
