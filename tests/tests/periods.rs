//! A real `ledger-agent` moves to the log of the next period without losing its chain:
//! it delivers to the 2026 log, keeps recording while that log is frozen (`ledgerd period
//! freeze`; its appends are refused with `log_frozen` and stay in the outbox), and once
//! pointed at the 2027 log (`ledgerd period start`) it delivers the rest there, with the
//! same key and credential, continuing its sequence numbers and hash chain; the receipts
//! of the new records verify with the new log's key.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::chains::chain_via_api;
use e2e::fleet::{delivered, AgentBox};
use e2e::procs::{ledgerd_bin, Ledgerd};
use ledger_core::note::NoteVerifier;
use ledger_core::receipt::Receipt;
use ledger_record::Record;

const NEW_ORIGIN: &str = "e2e.example/log/2027";

fn ledgerd(data_dir: &Path, settings: &[&str], args: &[&str]) {
    let out = Command::new(ledgerd_bin())
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--anchor-enabled", "false"])
        .args(settings)
        .args(args)
        .output()
        .expect("running ledgerd");
    assert!(
        out.status.success(),
        "ledgerd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits (bounded) until the box has delivered `n` records.
async fn wait_delivered(agent: &AgentBox, n: u64) {
    let started = Instant::now();
    while delivered(std::slice::from_ref(agent))[0] < n {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} delivered {:?} of {n}; agent log:\n{}",
            agent.name,
            delivered(std::slice::from_ref(agent)),
            agent.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Points the agent's configuration at `server` and its log key.
async fn repoint(agent: &AgentBox, server: &Ledgerd) {
    let text = std::fs::read_to_string(&agent.config_file).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let line = if line.starts_with("server_url") {
            format!("server_url = {:?}", server.http())
        } else if line.starts_with("grpc_url") {
            format!("grpc_url = {:?}", server.grpc())
        } else {
            line.to_owned()
        };
        out.push_str(&line);
        out.push('\n');
    }
    std::fs::write(&agent.config_file, out).unwrap();
    let key_file = agent.config_file.with_file_name("log.pub");
    std::fs::write(key_file, server.log_key().await).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_continues_its_chain_in_the_next_periods_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (old_dir, new_dir) = (tmp.path().join("2026"), tmp.path().join("2027"));
    let mut old = Ledgerd::start(&old_dir).await;
    let urls = (old.http(), old.grpc());
    let mut agent = AgentBox::enrol(tmp.path(), "box-1", "grpc", &old, (&urls.0, &urls.1)).await;
    agent.record(20);
    agent.start();
    wait_delivered(&agent, 20).await;
    let last_old = agent.delivery(20).expect("record 20 delivered").0;

    // The period ends: freeze, and the frozen log refuses what the agent records next.
    old.kill();
    let handoff = tmp.path().join("handoff.json");
    ledgerd(
        &old_dir,
        &[],
        &["period", "freeze", "--out", handoff.to_str().unwrap()],
    );
    old.restart().await;
    agent.record(10);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        delivered(std::slice::from_ref(&agent))[0],
        20,
        "the frozen log took nothing"
    );
    assert_eq!(
        agent.stats().outbox_depth,
        10,
        "the records wait in the outbox"
    );
    assert!(agent.log_text().contains("frozen"), "{}", agent.log_text());

    // The next period's log, and the agent pointed at it.
    ledgerd(
        &new_dir,
        &["--origin", NEW_ORIGIN],
        &[
            "period",
            "start",
            "--from",
            handoff.to_str().unwrap(),
            "--period",
            "2027",
        ],
    );
    let new = Ledgerd::start_with(&new_dir, &["--origin", NEW_ORIGIN]).await;
    agent.kill();
    repoint(&agent, &new).await;
    agent.start();
    wait_delivered(&agent, 30).await;

    let logged = chain_via_api(&new.http(), &new.admin, "box-1", 10).await;
    assert_eq!(
        logged.iter().map(|l| l.sequence).collect::<Vec<_>>(),
        (21..=30).collect::<Vec<_>>()
    );
    let first = Record::decode(&logged[0].bytes).unwrap();
    assert_eq!(
        *first.prev_hash(),
        Record::decode(&last_old).unwrap().hash(),
        "the first record in the new log links to the last one in the old log"
    );
    let new_key = NoteVerifier::parse(new.log_key().await.trim()).unwrap();
    for seq in 21..=30 {
        let (bytes, index, receipt) = agent.delivery(seq).expect("delivered");
        let receipt = Receipt::parse(receipt.as_bytes()).unwrap();
        let checked = receipt
            .verify_entry(&bytes, &new_key)
            .expect("receipt verifies");
        assert_eq!(checked.index(), index);
    }
    agent.kill();
}
