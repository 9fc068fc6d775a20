//! A log per period, end to end with the real binaries: a log is frozen
//! (`ledgerd period freeze`), the next log starts from the hand-off (`ledgerd period
//! start`), appliances continue their chains there with the same keys and credentials,
//! the frozen log refuses appends and keeps serving reads, `GET /v1/logs` lists both,
//! and `ledger-verify package --previous` verifies packages of both logs together — and
//! refuses a link that does not match the previous log.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::{json, Value};

const NEW_ORIGIN: &str = "test.example/log/2027";

fn ledgerd(data_dir: &Path, settings: &[&str], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledgerd"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--anchor-enabled", "false"])
        .args(settings)
        .args(args)
        .output()
        .unwrap()
}

/// `ledgerd period start --from HANDOFF --period 2027` for the log in `data_dir`.
fn period_start(data_dir: &Path, settings: &[&str], handoff: &str) -> Output {
    ledgerd(
        data_dir,
        settings,
        &["period", "start", "--from", handoff, "--period", "2027"],
    )
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ledger-verify`, next to `ledgerd` in the same target directory.
fn ledger_verify(args: &[&str]) -> (i32, Value, String) {
    let path = Path::new(env!("CARGO_BIN_EXE_ledgerd")).with_file_name("ledger-verify");
    assert!(
        path.exists(),
        "{} is missing: build it first",
        path.display()
    );
    let out = Command::new(path)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ledger-verify package NEW --key K --previous OLD --previous-key K_OLD`.
fn verify_across(new: &str, key: &str, old: &str, old_key: &str) -> (i32, Value, String) {
    ledger_verify(&[
        "package",
        new,
        "--key",
        key,
        "--previous",
        old,
        "--previous-key",
        old_key,
    ])
}

fn export(data_dir: &Path, settings: &[&str], out: &Path) {
    let out = out.to_str().unwrap();
    ok(&ledgerd(
        data_dir,
        settings,
        &["export", "--sites", "clinic-1", "--out", out],
    ));
}

async fn append_ok(server: &TestServer, appliance: &mut Appliance) {
    let record = appliance.next_evidence();
    let (status, body) = server
        .append_http(Some(&appliance.credential), record.as_bytes().to_vec())
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Offers the appliance's next record without advancing its chain.
async fn offer_next(server: &TestServer, a: &Appliance) -> (u16, Value) {
    let record = a.make(
        a.seq + 1,
        a.prev,
        now_ms(),
        evidence_body(a.seq + 1),
        &a.key.clone(),
    );
    server
        .append_http(Some(&a.credential), record.as_bytes().to_vec())
        .await
}

async fn logs(server: &TestServer) -> Vec<Value> {
    let v: Value = serde_json::from_str(&server.get_text("/v1/logs").await).unwrap();
    v["logs"].as_array().unwrap().clone()
}

/// Period 2026: two appliances with records, a third whose key is revoked.
async fn first_period(dir: &Path) -> (Appliance, Appliance, Appliance, String) {
    let server = TestServer::start(dir).await;
    let mut a = server.enrol("clinic-1", "box-1").await;
    let mut b = server.enrol("clinic-1", "box-2").await;
    let mut gone = server.enrol("clinic-1", "box-3").await;
    for _ in 0..3 {
        append_ok(&server, &mut a).await;
        append_ok(&server, &mut b).await;
    }
    append_ok(&server, &mut gone).await;
    let (status, body) = server
        .post_json(
            "/v1/admin/appliances/clinic-1/box-3/revoke",
            Some(&server.admin),
            json!({"reason": "decommissioned"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let key = server.log_verifier().await.verifier_key();
    server.stop().await;
    (a, b, gone, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_continue_into_the_next_period_and_both_packages_verify_across_the_link() {
    let tmp = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("2026"), tmp.path().join("2027"));
    let handoff = tmp.path().join("handoff.json");
    let (mut a, mut b, gone, old_key) = first_period(&old).await;

    let printed = ok(&ledgerd(
        &old,
        &[],
        &[
            "period",
            "freeze",
            "--out",
            handoff.to_str().unwrap(),
            "--period",
            "2026",
        ],
    ));
    assert!(printed.contains("2 chains handed off"), "{printed}");
    let h: Value = serde_json::from_slice(&std::fs::read(&handoff).unwrap()).unwrap();
    let chains = h["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 2, "the revoked box-3 is not carried: {h:#}");
    assert_eq!(chains[0]["appliance_id"], "box-1");
    assert_eq!(chains[0]["sequence"], 3);
    assert_eq!(chains[0]["head_hash"], hex::encode(a.prev.0));
    assert_eq!(chains[0]["credential_sha256"].as_array().unwrap().len(), 1);
    // Freezing again hands off the same thing.
    let again = tmp.path().join("again.json");
    ok(&ledgerd(
        &old,
        &[],
        &["period", "freeze", "--out", again.to_str().unwrap()],
    ));
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&handoff).unwrap()
    );

    // The frozen log refuses appends with a specific, retryable error and serves reads.
    let server = TestServer::start(&old).await;
    let size = server.tree_size().await;
    let (status, body) = offer_next(&server, &a).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "log_frozen", "{body}");
    assert_eq!(server.tree_size().await, size, "nothing appended");
    let listed = logs(&server).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "frozen");
    assert_eq!(listed[0]["period"], "2026");
    assert_eq!(listed[0]["final_size"], size);
    server.stop().await;
    let old_pkg = tmp.path().join("pkg-2026");
    export(&old, &[], &old_pkg);

    // Period 2027: the new log starts from the hand-off.
    let new_settings = ["--origin", NEW_ORIGIN];
    let printed = ok(&period_start(
        &new,
        &new_settings,
        handoff.to_str().unwrap(),
    ));
    assert!(
        printed.contains("1 link entries carry 2 chains"),
        "{printed}"
    );
    let twice = period_start(&new, &new_settings, handoff.to_str().unwrap());
    assert_eq!(twice.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already holds entries"));

    let server = TestServer::start_with(&new, |c| c.origin = NEW_ORIGIN.into()).await;
    let new_log = server.log_verifier().await;
    // box-1 and box-2 continue their chains with the same keys and credentials.
    for _ in 0..2 {
        let record = a.next_evidence();
        let (status, body) = server
            .append_http(Some(&a.credential), record.as_bytes().to_vec())
            .await;
        assert_eq!(status, 200, "{body}");
        verify_answer(&body, record.as_bytes(), &new_log);
    }
    assert_eq!(a.seq, 5);
    append_ok(&server, &mut b).await;
    // A chain cannot start over in the new log, and the revoked appliance is not carried.
    let restart = b.make(
        1,
        ledger_core::hash::Hash([0; 32]),
        now_ms(),
        evidence_body(1),
        &b.key.clone(),
    );
    let (status, body) = server
        .append_http(Some(&b.credential), restart.as_bytes().to_vec())
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = offer_next(&server, &gone).await;
    assert_eq!(status, 401, "box-3's credential was not carried");
    let listed = logs(&server).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["status"], "frozen");
    assert_eq!(listed[0]["key"], old_key.as_str());
    assert_eq!(listed[0]["period"], "2026");
    assert_eq!(listed[0]["final_size"], size);
    assert_eq!(listed[1]["status"], "active");
    assert_eq!(listed[1]["origin"], NEW_ORIGIN);
    assert_eq!(listed[1]["period"], "2027");
    let new_key = new_log.verifier_key();
    server.stop().await;
    let new_pkg = tmp.path().join("pkg-2027");
    export(&new, &new_settings, &new_pkg);

    let (code, report, stderr) = verify_across(
        new_pkg.to_str().unwrap(),
        &new_key,
        old_pkg.to_str().unwrap(),
        &old_key,
    );
    assert_eq!(code, 0, "{report:#} {stderr}");
    let succession = &report["succession"];
    assert_eq!(succession["valid"], true, "{succession:#}");
    assert_eq!(succession["carried"], 2);
    assert_eq!(succession["chains_checked"], 2);
    assert_eq!(succession["previous_size"], size);
    assert_eq!(report["previous"]["valid"], true);

    // The previous package under another key is refused.
    let (code, report, _) = verify_across(
        new_pkg.to_str().unwrap(),
        &new_key,
        old_pkg.to_str().unwrap(),
        &new_key,
    );
    assert_eq!(code, 1, "{report:#}");

    forged_link_fails(tmp.path(), &handoff, &a, &old_pkg, &old_key).await;
}

/// A log started from a hand-off whose head of box-1 was altered verifies on its own,
/// but not as the successor of the real previous log.
async fn forged_link_fails(
    tmp: &Path,
    handoff: &Path,
    a: &Appliance,
    old_pkg: &Path,
    old_key: &str,
) {
    let mut h: Value = serde_json::from_slice(&std::fs::read(handoff).unwrap()).unwrap();
    let forged_head = [7u8; 32];
    h["chains"][0]["head_hash"] = json!(hex::encode(forged_head));
    let forged_handoff = tmp.join("forged.json");
    std::fs::write(&forged_handoff, serde_json::to_vec(&h).unwrap()).unwrap();
    let dir = tmp.join("forged");
    let settings = ["--origin", "test.example/log/forged"];
    ok(&period_start(
        &dir,
        &settings,
        forged_handoff.to_str().unwrap(),
    ));
    let server =
        TestServer::start_with(&dir, |c| c.origin = "test.example/log/forged".into()).await;
    // Someone holding box-1's key continues the forged head.
    let record = a.make(
        4,
        ledger_core::hash::Hash(forged_head),
        now_ms(),
        evidence_body(4),
        &a.key.clone(),
    );
    let (status, body) = server
        .append_http(Some(&a.credential), record.as_bytes().to_vec())
        .await;
    assert_eq!(status, 200, "{body}");
    let key = server.log_verifier().await.verifier_key();
    server.stop().await;
    let pkg = tmp.join("pkg-forged");
    export(&dir, &settings, &pkg);
    let (code, report, _) = ledger_verify(&["package", pkg.to_str().unwrap(), "--key", &key]);
    assert_eq!(
        code, 0,
        "on its own the forged log is consistent: {report:#}"
    );
    let (code, report, _) = verify_across(
        pkg.to_str().unwrap(),
        &key,
        old_pkg.to_str().unwrap(),
        old_key,
    );
    assert_eq!(code, 1, "{report:#}");
    let findings = report["succession"]["findings"].to_string();
    assert!(
        findings.contains("clinic-1/box-1") && findings.contains("previous log ends it"),
        "{findings}"
    );
}

/// A hand-off whose final checkpoint is not signed by the key it names starts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_off_with_a_bad_checkpoint_is_refused_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("2026");
    let (_, _, _, _) = first_period(&old).await;
    let handoff = tmp.path().join("handoff.json");
    ok(&ledgerd(
        &old,
        &[],
        &["period", "freeze", "--out", handoff.to_str().unwrap()],
    ));
    let mut h: Value = serde_json::from_slice(&std::fs::read(&handoff).unwrap()).unwrap();
    let checkpoint = h["final_checkpoint"].as_str().unwrap().to_owned();
    // Change the tree size line: the signature no longer covers the text.
    let mut lines: Vec<String> = checkpoint.split('\n').map(str::to_owned).collect();
    lines[1] = format!("{}", lines[1].parse::<u64>().unwrap() + 1);
    h["final_checkpoint"] = json!(lines.join("\n"));
    std::fs::write(&handoff, serde_json::to_vec(&h).unwrap()).unwrap();
    let new = tmp.path().join("2027");
    let out = period_start(&new, &["--origin", NEW_ORIGIN], handoff.to_str().unwrap());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("final_checkpoint is not signed"),
        "{stderr}"
    );
    assert!(!new.join("db").exists(), "no log was created");
    // The same origin as the previous log is refused too.
    h["final_checkpoint"] = json!(checkpoint);
    std::fs::write(&handoff, serde_json::to_vec(&h).unwrap()).unwrap();
    let out = period_start(&new, &[], handoff.to_str().unwrap());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is the previous log's"));
}
