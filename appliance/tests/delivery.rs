//! Delivery against a real ledgerd on 127.0.0.1: a long outage, key rotation, a hostile
//! server (garbage, wrong proofs, foreign checkpoints: nothing marked delivered), a
//! forked or rolled-back log (alarm with saved evidence), the check-in heartbeat against
//! a server without the fleet API, and retention.

mod common;

use std::time::Duration;

use appliance::outbox::now_ms;
use appliance::{Agent, AgentError, Config, InputKind, Outbox, RunOptions};
use common::*;

fn until_drained() -> RunOptions {
    RunOptions {
        until_drained: true,
    }
}

async fn drain(agent: &mut Agent) -> appliance::RunSummary {
    tokio::time::timeout(
        Duration::from_secs(60),
        appliance::run(agent, until_drained(), std::future::pending()),
    )
    .await
    .expect("drained within 60 s")
    .expect("drained without error")
}

/// Runs the uploader for `secs` seconds (it keeps retrying bad answers).
async fn run_for(agent: &mut Agent, secs: u64) -> Result<appliance::RunSummary, AgentError> {
    appliance::run(
        agent,
        RunOptions::default(),
        tokio::time::sleep(Duration::from_secs(secs)),
    )
    .await
}

fn record_n(agent: &mut Agent, from: u64, n: u64) {
    for i in from..from + n {
        agent
            .record_json(InputKind::Evidence, evidence_json(i).as_bytes())
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_outage_then_every_record_delivered_once_in_order() {
    let sdir = tempfile::tempdir().unwrap();
    let adir = tempfile::tempdir().unwrap();
    let server = Server::start(sdir.path()).await;
    let addrs = (server.http_addr, server.grpc_addr);
    let mut agent = enrolled_agent(adir.path(), &server, "grpc").await;
    let credential = agent.credential().unwrap();
    record_n(&mut agent, 0, 5);
    assert_eq!(drain(&mut agent).await.delivered, 5);
    server.stop().await;

    // Days offline, compressed: records pile up, including an escalated healing record.
    record_n(&mut agent, 5, 100);
    agent
        .record_json(InputKind::Healing, healing_json("escalated").as_bytes())
        .unwrap();
    record_n(&mut agent, 105, 49);
    let data_dir = agent.config().data_dir.clone();
    let runner = tokio::spawn(async move {
        let r = tokio::time::timeout(
            Duration::from_secs(90),
            appliance::run(&mut agent, until_drained(), std::future::pending()),
        )
        .await;
        (agent, r)
    });
    // The uploader keeps failing (connection refused) with backoff for a while.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let stats = Outbox::open(&data_dir).unwrap().stats(now_ms()).unwrap();
    assert_eq!(
        stats.outbox_depth, 150,
        "nothing delivered while the server is down"
    );
    assert!(
        stats.last_error.is_some(),
        "the failure is visible in status"
    );
    assert!(!runner.is_finished());

    let server = Server::start_at(sdir.path(), Some(addrs)).await;
    let (agent, result) = runner.await.unwrap();
    let summary = result.expect("drained within 90 s").expect("no error");
    assert_eq!(summary.delivered, 150);
    assert!(summary.failed_attempts > 0);
    let stats = agent.outbox().stats(now_ms()).unwrap();
    assert_eq!(stats.outbox_depth, 0);
    assert!(stats.last_error.is_none());
    let logged = server.chain(&credential, 155).await;
    assert_chain_matches(&agent, &logged);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_goes_through_the_log_and_later_records_use_the_new_key() {
    let sdir = tempfile::tempdir().unwrap();
    let adir = tempfile::tempdir().unwrap();
    let server = Server::start(sdir.path()).await;
    let mut agent = enrolled_agent(adir.path(), &server, "http").await;
    let credential = agent.credential().unwrap();
    let old = agent.outbox().active_key_id().unwrap().unwrap();
    record_n(&mut agent, 0, 3);
    let (new, rotation) = agent.rotate().unwrap();
    assert_eq!(rotation.sequence, 4);
    assert_ne!(old, new);
    assert_eq!(agent.outbox().active_key_id().unwrap(), Some(new));
    record_n(&mut agent, 3, 3);
    assert_eq!(drain(&mut agent).await.delivered, 7);
    let logged = server.chain(&credential, 7).await;
    assert_chain_matches(&agent, &logged);
    for (seq, _, bytes) in &logged {
        let r = ledger_record::Record::decode(bytes).unwrap();
        let want = if *seq <= 4 { old } else { new };
        assert_eq!(r.key_id(), want, "sequence {seq}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_answers_mark_nothing_delivered() {
    let sdir = tempfile::tempdir().unwrap();
    let odir = tempfile::tempdir().unwrap();
    let adir = tempfile::tempdir().unwrap();
    let server = Server::start(sdir.path()).await;
    // A second log with its own key: its checkpoints are genuine notes, but not signed
    // by the pinned key.
    let other = Server::start(odir.path()).await;
    let other_note = reqwest::get(format!("{}/checkpoint", other.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let proxy = Proxy::start(&server.http).await;
    let text = config_text(
        adir.path(),
        &server.log_key().await,
        &proxy.url,
        &server.grpc,
        "http",
    );
    let mut agent = Agent::open(Config::parse(&text).unwrap()).unwrap();
    agent
        .enrol(&server.token(SITE, APPLIANCE).await)
        .await
        .unwrap();
    let credential = agent.credential().unwrap();
    // One batch (batch_size 16), so every hostile round forwards the same records.
    record_n(&mut agent, 0, 16);

    for mode in [
        Mode::Garbage,
        Mode::WrongShape,
        Mode::TamperProof,
        Mode::WrongRecordHash,
        Mode::ForeignCheckpoint(other_note.clone()),
    ] {
        proxy.set(mode.clone());
        let summary = run_for(&mut agent, 2)
            .await
            .expect("bad answers are not alarms");
        assert_eq!(summary.delivered, 0, "{mode:?}");
        assert!(summary.failed_attempts > 0, "{mode:?}");
        let stats = agent.outbox().stats(now_ms()).unwrap();
        assert_eq!(stats.outbox_depth, 16, "{mode:?}: nothing marked delivered");
        assert!(stats.last_error.is_some(), "{mode:?}");
        assert!(stats.trusting_log, "{mode:?}: not an alarm");
    }

    // The tampering proxy did forward the records, so the server has them; an honest
    // answer now is "duplicate", with the original index, and nothing is logged twice.
    proxy.set(Mode::Honest);
    let size_before = server.tree_size().await;
    assert_eq!(drain(&mut agent).await.delivered, 16);
    assert_eq!(
        server.tree_size().await,
        size_before,
        "retries appended nothing"
    );
    let logged = server.chain(&credential, 16).await;
    assert_chain_matches(&agent, &logged);
    other.stop().await;
    server.stop().await;
}

/// Two logs with the same key but different contents: the agent trusts one, then is
/// shown the other's checkpoint.
async fn split_view(bigger: bool) {
    let adir_s = tempfile::tempdir().unwrap();
    let bdir_s = tempfile::tempdir().unwrap();
    let adir = tempfile::tempdir().unwrap();
    let a = Server::start(adir_s.path()).await;
    std::fs::copy(adir_s.path().join("log.key"), bdir_s.path().join("log.key")).unwrap();
    let b = Server::start(bdir_s.path()).await;
    assert_eq!(a.log_key().await, b.log_key().await, "same log key");
    let proxy = Proxy::start(&a.http).await;
    let text = config_text(adir.path(), &a.log_key().await, &proxy.url, &a.grpc, "grpc");
    let mut agent = Agent::open(Config::parse(&text).unwrap()).unwrap();
    agent.enrol(&a.token(SITE, APPLIANCE).await).await.unwrap();
    record_n(&mut agent, 0, 5);
    drain(&mut agent).await;
    let trusted = agent.outbox().checkpoint().unwrap().unwrap();
    let a_size = a.tree_size().await;
    if bigger {
        // B grows past A with other appliances' enrolments: a different history.
        for i in 0..(a_size + 3) {
            let token = b.token("elsewhere", &format!("box-{i}")).await;
            let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
            let r = reqwest::Client::new()
                .post(format!("{}/v1/enrol", b.http))
                .json(&serde_json::json!({"token": token, "public_key": hex::encode(key.verifying_key().as_bytes())}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        assert!(b.tree_size().await > a_size);
    } else {
        assert!(b.tree_size().await < a_size);
    }
    proxy.set(Mode::ReadsFrom(b.http.clone()));
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        appliance::run(&mut agent, until_drained(), std::future::pending()),
    )
    .await
    .expect("stops within 30 s")
    .expect_err("must raise an alarm");
    let AgentError::Inconsistent {
        evidence_dir,
        message,
    } = &err
    else {
        panic!("expected an alarm, got {err}");
    };
    assert!(
        message.contains(if bigger {
            "not consistent"
        } else {
            "already seen"
        }),
        "{message}"
    );
    // Evidence: both checkpoints and the proof, as files.
    let saved_trusted = std::fs::read_to_string(evidence_dir.join("trusted.checkpoint")).unwrap();
    let presented = std::fs::read_to_string(evidence_dir.join("presented.checkpoint")).unwrap();
    let b_note = reqwest::get(format!("{}/checkpoint", b.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(saved_trusted, trusted);
    assert_eq!(presented, b_note);
    assert!(evidence_dir.join("consistency.proof").exists());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(evidence_dir.join("alarm.json")).unwrap())
            .unwrap();
    assert_eq!(summary["trusted"]["size"].as_u64(), Some(a_size));
    // Status shows it, and the agent no longer talks to that log.
    let stats = agent.outbox().stats(now_ms()).unwrap();
    assert!(!stats.trusting_log);
    assert_eq!(stats.alarms.len(), 1);
    record_n(&mut agent, 5, 1);
    proxy.set(Mode::Honest);
    let again = appliance::run(&mut agent, until_drained(), std::future::pending()).await;
    assert!(matches!(again, Err(AgentError::Untrusted(_))), "{again:?}");
    assert_eq!(
        agent.outbox().stats(now_ms()).unwrap().outbox_depth,
        1,
        "nothing uploaded"
    );
    // The CLI's status reports the alarm with exit code 3.
    let config_file = adir.path().join("agent.toml");
    std::fs::write(&config_file, &text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ledger-agent"))
        .args(["--config", config_file.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ALARM"));
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forked_log_raises_alarm_with_evidence() {
    split_view(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolled_back_log_raises_alarm_with_evidence() {
    split_view(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkin_body_follows_the_contract_and_404_is_tolerated() {
    let sdir = tempfile::tempdir().unwrap();
    let adir = tempfile::tempdir().unwrap();
    let server = Server::start(sdir.path()).await;
    let proxy = Proxy::start(&server.http).await;
    let text = config_text(
        adir.path(),
        &server.log_key().await,
        &proxy.url,
        &server.grpc,
        "grpc",
    );
    let mut agent = Agent::open(Config::parse(&text).unwrap()).unwrap();
    agent
        .enrol(&server.token(SITE, APPLIANCE).await)
        .await
        .unwrap();
    let credential = agent.credential().unwrap();
    record_n(&mut agent, 0, 10);
    // Runs 3.5 s with a 1 s check-in interval against a server without the fleet API.
    let summary = run_for(&mut agent, 3).await.unwrap();
    assert_eq!(summary.delivered, 10, "404 check-ins do not stop delivery");
    let checkins = proxy.checkins.lock().unwrap().clone();
    assert!(
        checkins.len() >= 2,
        "check-ins continue after a 404: {}",
        checkins.len()
    );
    for (auth, body) in &checkins {
        assert_eq!(
            auth.as_deref(),
            Some(format!("Bearer {credential}").as_str())
        );
        assert_eq!(body["agent_version"], env!("CARGO_PKG_VERSION"));
        assert!(body["outbox_depth"].is_u64());
        assert!(
            body["oldest_undelivered_age_secs"].is_u64()
                || body["oldest_undelivered_age_secs"].is_null()
        );
        assert!(body["last_receipt_index"].is_u64() || body["last_receipt_index"].is_null());
        assert!(body["last_checkpoint_size"].is_u64() || body["last_checkpoint_size"].is_null());
        assert!(["ok", "degraded", "alarm"].contains(&body["health"].as_str().unwrap()));
        assert!(body["alarms"].is_array());
    }
    let last = &checkins.last().unwrap().1;
    assert_eq!(last["outbox_depth"], 0);
    assert_eq!(last["health"], "ok");
    assert!(last["last_receipt_index"].as_u64().is_some());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_delivered_records_only() {
    let sdir = tempfile::tempdir().unwrap();
    let adir = tempfile::tempdir().unwrap();
    let server = Server::start(sdir.path()).await;
    let mut agent = enrolled_agent(adir.path(), &server, "grpc").await;
    record_n(&mut agent, 0, 6);
    drain(&mut agent).await;
    record_n(&mut agent, 6, 2);
    let day = 86_400_000;
    let now = now_ms();
    agent.outbox().backdate_deliveries(now - 31 * day).unwrap();
    // Within retention: nothing goes.
    assert_eq!(
        agent
            .outbox_mut()
            .prune(now, Duration::from_secs(40 * 86_400))
            .unwrap(),
        0
    );
    assert_eq!(
        agent
            .outbox_mut()
            .prune(now, Duration::from_secs(30 * 86_400))
            .unwrap(),
        6
    );
    let stats = agent.outbox().stats(now).unwrap();
    assert_eq!(stats.records_kept, 2);
    assert_eq!(
        stats.outbox_depth, 2,
        "undelivered records are never pruned"
    );
    assert_eq!(stats.head_sequence, 8);
    // The chain continues after pruning and the server accepts it.
    record_n(&mut agent, 8, 1);
    assert_eq!(drain(&mut agent).await.delivered, 3);
    server.stop().await;
}
