//! The `ledgerd` binary's commands: `check-config` reports every problem at once and
//! exits 2, `key` prints a stable verifier key, and `serve` stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ledgerd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ledgerd"));
    c.env("LEDGERD_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k.starts_with("LEDGERD_") && k != "LEDGERD_LOG" {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn check_config_reports_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "origin = \"two words\"\nhttp_listen = \"nowhere\"\nsequencer_max_batch = 0\ncolour = \"red\"\n",
    )
    .unwrap();
    let out = ledgerd()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    // Unknown keys, and every bad value, in one run.
    for needle in [
        "unknown setting `colour`",
        "`origin`",
        "`http_listen`",
        "`sequencer_max_batch`",
    ] {
        assert!(err.contains(needle), "{needle} missing from: {err}");
    }

    std::fs::write(
        &path,
        "origin = \"two words\"\nhttp_listen = \"nowhere\"\nsequencer_max_batch = 0\n",
    )
    .unwrap();
    // Flags and environment variables override the file.
    let out = ledgerd()
        .args(["check-config", "--config"])
        .arg(&path)
        .args(["--origin", "ok.example/log", "--http-listen", "127.0.0.1:9"])
        .env("LEDGERD_SEQUENCER_MAX_BATCH", "10")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn key_prints_the_same_verifier_key_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = ledgerd()
            .arg("key")
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let a = run();
    let b = run();
    assert_eq!(a, b);
    let v = ledger_core::note::NoteVerifier::parse(&a).expect("a C2SP verifier key");
    assert_eq!(v.name(), "evidence-ledger.local/log");
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = ledgerd()
        .args([
            "serve",
            "--http-listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("log key: evidence-ledger.local/log+"),
        "{first}"
    );
    for line in lines.by_ref() {
        if line.unwrap().starts_with("listening:") {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(Instant::now() < deadline, "ledgerd did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}
