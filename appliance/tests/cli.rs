//! The `ledger-agent` command line: `check-config` (the contract the NixOS module relies
//! on) and a table of bad input to every command: each gives a clear error, its exit
//! code, and changes nothing (outbox, key files and credential are compared before and
//! after).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

fn agent(config: Option<&Path>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ledger-agent"));
    c.env_remove("LEDGER_AGENT_CONFIG")
        .env("LEDGER_AGENT_LOG", "warn");
    if let Some(p) = config {
        c.arg("--config").arg(p);
    }
    c
}

/// Something that breaks the key file.
type Breaker<'a> = Box<dyn Fn() + 'a>;

fn run(mut c: Command, stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(data) = stdin {
        let _ = pipe.write_all(data);
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// Everything under `dir` (paths, sizes, contents hash), to prove "nothing changed".
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The outbox's logical content (SQLite files may be touched by a reader's open).
fn outbox_state(data_dir: &Path) -> (u64, u64, Vec<appliance::KeptRecord>) {
    let o = appliance::Outbox::open(data_dir).unwrap();
    let s = o.stats(appliance::outbox::now_ms()).unwrap();
    (s.head_sequence, s.outbox_depth, o.all_records().unwrap())
}

#[test]
fn check_config_contract() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "server_url = \"http://127.0.0.1:8080\"\ngrpc_url = \"http://127.0.0.1:8081\"\nlog_key_file = \"/nonexistent/log.pub\"\nsite_id = \"s\"\nappliance_id = \"a\"\n",
    )
    .unwrap();
    let out = run(
        {
            let mut c = agent(Some(&good));
            c.arg("check-config");
            c
        },
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "configuration is valid\n"
    );

    // The environment variable works too.
    let mut c = agent(None);
    c.env("LEDGER_AGENT_CONFIG", &good).arg("check-config");
    assert_eq!(run(c, None).status.code(), Some(0));

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "server_url = \"nope\"\nbatch_size = 5000\ncolour = 1\ntransport = \"grpc\"\n",
    )
    .unwrap();
    let mut c = agent(Some(&bad));
    c.arg("check-config");
    let out = run(c, None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "server_url",
        "batch_size: 5000",
        "unknown key `colour`",
        "grpc_url: required",
        "log_key_file: required",
        "site_id: required",
        "appliance_id: required",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in {err}");
    }
    assert!(out.stdout.is_empty());

    let mut c = agent(Some(&dir.path().join("missing.toml")));
    c.arg("check-config");
    assert_eq!(run(c, None).status.code(), Some(2));
    let mut c = agent(None);
    c.arg("check-config");
    assert_eq!(
        run(c, None).status.code(),
        Some(2),
        "no configuration at all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_to_every_command_changes_nothing() {
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
    let config = adir.path().join("agent.toml");
    std::fs::write(&config, &text).unwrap();
    let data_dir = adir.path().join("agent");

    // Enrolment with a wrong token: refused by the server, no key, no credential.
    let mut c = agent(Some(&config));
    c.args(["enrol", "--token", "tok1.bm90LWEtcmVhbC10b2tlbg"]);
    let out = run(c, None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the enrolment"));
    assert!(!data_dir.join("credential").exists());
    assert!(snapshot(&data_dir.join("keys")).is_empty());
    // No token at all.
    let mut c = agent(Some(&config));
    c.arg("enrol");
    assert_eq!(run(c, None).status.code(), Some(2));
    // Recording before enrolment.
    let ev = adir.path().join("ev.json");
    std::fs::write(&ev, evidence_json(1)).unwrap();
    let mut c = agent(Some(&config));
    c.args(["record", "evidence"]).arg(&ev);
    let out = run(c, None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not enrolled"));

    // Enrol for real, record one record, then the table.
    let token = server.token(SITE, APPLIANCE).await;
    let mut c = agent(Some(&config));
    c.args(["enrol", "--token", &token]);
    let out = run(c, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The token works once.
    let mut c = agent(Some(&config));
    c.args(["enrol", "--token", &token]);
    assert_eq!(run(c, None).status.code(), Some(2), "already enrolled");
    let mut c = agent(Some(&config));
    c.args(["record", "evidence"]).arg(&ev);
    let out = run(c, None);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("recorded sequence 1 "));

    let big_details = "x".repeat(4000);
    let too_big_record = format!(
        "{{\"items\": [{}]}}",
        (0..40)
            .map(|i| format!(
                "{{\"check_type\": \"c\", \"host\": \"h{i}\", \"status\": \"pass\", \"observed_at\": 1, \"details\": \"{big_details}\"}}"
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    let oversize = vec![b' '; 2 << 20];
    let e = |s: &str| s.as_bytes().to_vec();
    // (name, kind, stdin bytes, expected exit code, expected words in stderr)
    let cases: Vec<(&str, &str, Vec<u8>, i32, &str)> = vec![
        ("malformed JSON", "evidence", e("{\"items\": ["), 2, "line"),
        ("not an object", "evidence", e("[1, 2]"), 2, "evidence JSON"),
        (
            "empty bundle",
            "evidence",
            e("{\"items\": []}"),
            2,
            "at least one item",
        ),
        (
            "unknown field",
            "evidence",
            e(r#"{"items": [], "colour": 1}"#),
            2,
            "unknown field",
        ),
        (
            "bad status",
            "evidence",
            e(
                r#"{"items": [{"check_type": "c", "host": "h", "status": "meh", "observed_at": 1}]}"#,
            ),
            2,
            "unknown variant",
        ),
        (
            "bad control",
            "evidence",
            e(
                r#"{"items": [{"check_type": "c", "host": "h", "status": "pass", "observed_at": 1, "controls": ["nocolon"]}]}"#,
            ),
            2,
            "items[0].controls[0]",
        ),
        (
            "bad id",
            "evidence",
            e(
                r#"{"items": [{"check_type": "c", "host": "has space", "status": "pass", "observed_at": 1}]}"#,
            ),
            2,
            "items[0].host",
        ),
        (
            "record too large",
            "evidence",
            e(&too_big_record),
            2,
            "65535-byte limit",
        ),
        ("oversize input", "evidence", oversize, 2, "at most"),
        (
            "healing wrong schema",
            "healing",
            e(&evidence_json(1)),
            2,
            "healing JSON",
        ),
        (
            "healing ends before start",
            "healing",
            e(&healing_json("success").replace("1700000005000", "1600000000000")),
            2,
            "ended_at",
        ),
        (
            "healing bad outcome",
            "healing",
            e(&healing_json("maybe")),
            2,
            "unknown variant",
        ),
        ("empty input", "healing", Vec::new(), 2, "healing JSON"),
    ];
    let before = outbox_state(&data_dir);
    let files_before = snapshot(&data_dir.join("keys"));
    for (name, kind, input, code, words) in &cases {
        let mut c = agent(Some(&config));
        c.args(["record", kind, "-"]);
        let out = run(c, Some(input));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{name}: {err}");
        assert!(err.contains(words), "{name}: expected {words:?} in {err}");
        assert!(out.stdout.is_empty(), "{name}");
        assert_eq!(outbox_state(&data_dir), before, "{name}: outbox changed");
    }
    // Missing input file, unknown kind, unknown command.
    for args in [
        vec!["record", "evidence", "/nonexistent.json"],
        vec!["record", "telemetry", "-"],
        vec!["frobnicate"],
    ] {
        let mut c = agent(Some(&config));
        c.args(&args);
        let out = run(c, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(outbox_state(&data_dir), before, "{args:?}");
    }

    // A tampered, truncated, group-readable or missing key file stops signing.
    let key_file = std::fs::read_dir(data_dir.join("keys"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let good = std::fs::read(&key_file).unwrap();
    let mut tampered = good.clone();
    tampered[40] ^= 1;
    use std::os::unix::fs::PermissionsExt;
    let key_cases: Vec<(&str, Breaker, &str)> = vec![
        (
            "tampered",
            Box::new(|| std::fs::write(&key_file, &tampered).unwrap()),
            "integrity check",
        ),
        (
            "truncated",
            Box::new(|| std::fs::write(&key_file, &good[..good.len() - 10]).unwrap()),
            "truncated",
        ),
        (
            "group-readable",
            Box::new(|| {
                std::fs::write(&key_file, &good).unwrap();
                std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640))
                    .unwrap();
            }),
            "must be 600",
        ),
        (
            "missing",
            Box::new(|| std::fs::remove_file(&key_file).unwrap()),
            "cannot read",
        ),
    ];
    for (name, break_it, words) in &key_cases {
        break_it();
        for cmd in [
            vec!["record", "evidence", ev.to_str().unwrap()],
            vec!["rotate"],
        ] {
            let mut c = agent(Some(&config));
            c.args(&cmd);
            let out = run(c, None);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{name} {cmd:?}: {err}");
            assert!(
                err.contains("signing key file") && err.contains(words),
                "{name}: {err}"
            );
            assert_eq!(outbox_state(&data_dir), before, "{name}: outbox changed");
        }
    }
    // Restored, signing works again.
    std::fs::write(&key_file, &good).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(snapshot(&data_dir.join("keys")), files_before);
    let mut c = agent(Some(&config));
    c.args(["record", "healing", "-"]);
    let out = run(c, Some(healing_json("escalated").as_bytes()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // status --json is machine-readable and says what is pending.
    let mut c = agent(Some(&config));
    c.args(["status", "--json"]);
    let out = run(c, None);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outbox_depth"], 2);
    assert_eq!(v["head_sequence"], 2);
    assert_eq!(v["trusting_log"], true);
    let mut c = agent(Some(&config));
    c.args(["run", "--until-drained"]);
    let out = run(c, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut c = agent(Some(&config));
    c.arg("status");
    let out = run(c, None);
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(human.contains("outbox depth:         0"), "{human}");
    assert!(human.contains("alarms:               none"), "{human}");
    server.stop().await;
}
