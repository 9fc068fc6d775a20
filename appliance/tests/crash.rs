//! SIGKILL of `ledger-agent` at random moments while it records and uploads, against a
//! real ledgerd on 127.0.0.1. After every round the outbox must still open; at the end
//! every record whose `record` command acknowledged it is delivered, nothing is logged
//! twice, and the logged chain is exactly the outbox's, in order, with valid receipts.
//!
//! Short form (run by `cargo test`): 6 kills. Long form: `AGENT_CRASH_KILLS=60 cargo test
//! --workspace --test crash -- --nocapture`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use appliance::outbox::now_ms;
use appliance::{Agent, Config};
use common::*;
use rand::Rng;

fn agent_cmd(config: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ledger-agent"));
    c.arg("--config")
        .arg(config)
        .env("LEDGER_AGENT_LOG", "warn");
    c
}

/// Reads the sequences a killed `record` child acknowledged.
fn acknowledged(child: Child) -> Vec<u64> {
    let out = child.wait_with_output().unwrap();
    BufReader::new(&out.stdout[..])
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| {
            l.strip_prefix("recorded sequence ")
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse().ok())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_recording_and_upload_loses_and_duplicates_nothing() {
    let kills: usize = std::env::var("AGENT_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let sdir = tempfile::tempdir().unwrap();
    let adir = tempfile::tempdir().unwrap();
    let server = Server::start(sdir.path()).await;
    let text = config_text(
        adir.path(),
        &server.log_key().await,
        &server.http,
        &server.grpc,
        "grpc",
    );
    let config_file = adir.path().join("agent.toml");
    std::fs::write(&config_file, &text).unwrap();
    let input = adir.path().join("evidence.json");
    std::fs::write(&input, evidence_json(1)).unwrap();
    let token = server.token(SITE, APPLIANCE).await;
    let out = agent_cmd(&config_file)
        .args(["enrol", "--token", &token])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut acked = Vec::new();
    let mut rng = rand::thread_rng();
    let mut killed = 0;
    let mut round = 0;
    while killed < kills {
        round += 1;
        let recorder = agent_cmd(&config_file)
            .args(["record", "evidence"])
            .arg(&input)
            .args(["--repeat", "100000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut uploader = agent_cmd(&config_file)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut recorder = Some(recorder);
        // Kill the two at independent random moments.
        let t_rec = rng.gen_range(20..400u64);
        let t_up = rng.gen_range(20..600u64);
        let (first, second) = if t_rec <= t_up {
            (t_rec, t_up)
        } else {
            (t_up, t_rec)
        };
        tokio::time::sleep(Duration::from_millis(first)).await;
        let kill_rec = |r: &mut Option<Child>, acked: &mut Vec<u64>| {
            if let Some(mut c) = r.take() {
                c.kill().unwrap(); // SIGKILL
                acked.extend(acknowledged(c));
            }
        };
        let recorder_first = t_rec <= t_up;
        if recorder_first {
            kill_rec(&mut recorder, &mut acked);
        } else {
            uploader.kill().unwrap();
        }
        killed += 1;
        tokio::time::sleep(Duration::from_millis(second - first)).await;
        if recorder_first {
            uploader.kill().unwrap();
        } else {
            kill_rec(&mut recorder, &mut acked);
        }
        uploader.wait().unwrap();
        killed += 1;
        // The outbox opens and its figures are consistent after every kill.
        let stats = appliance::Outbox::open(&adir.path().join("agent"))
            .unwrap()
            .stats(now_ms())
            .unwrap();
        assert!(
            stats.outbox_depth <= stats.head_sequence,
            "round {round}: {stats:?}"
        );
    }

    // Deliver the rest.
    let out = agent_cmd(&config_file)
        .args(["run", "--until-drained"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let agent = Agent::open(Config::parse(&text).unwrap()).unwrap();
    let stats = agent.outbox().stats(now_ms()).unwrap();
    assert_eq!(stats.outbox_depth, 0);
    let head = stats.head_sequence;
    assert!(head > 0, "something was recorded");
    acked.sort_unstable();
    acked.dedup();
    assert!(
        acked.iter().all(|s| *s >= 1 && *s <= head),
        "every acknowledged record is in the outbox (head {head})"
    );
    let logged = server.chain(&agent.credential().unwrap(), head).await;
    assert_eq!(
        logged.len() as u64,
        head,
        "nothing lost, nothing duplicated"
    );
    assert_chain_matches(&agent, &logged);
    println!(
        "{killed} kills in {round} rounds; {head} records, {} acknowledged before a kill, all delivered once",
        acked.len()
    );
    server.stop().await;
}
