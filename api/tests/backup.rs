//! Online backup under load: `ledgerd backup --to DIR` is taken
//! while appliances keep appending over HTTP on 127.0.0.1; the copy is restored into a
//! fresh directory and opened by a second `ledgerd` (which checks the tree against the
//! signed checkpoint on open), and the restored log is verified with `ledger-verify`:
//! receipts from the restored server (which verify the restored checkpoint's signature
//! with the live log's key and each record's inclusion), and the consistency of the
//! restored checkpoint with a checkpoint fetched from the live server after the backup.
//!
//! `ledger-verify` is a binary of another package; it is looked up next to `ledgerd` in
//! the same target directory (`cargo test --workspace` builds both).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestServer;
use serde_json::{json, Value};

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

fn ledger_verify() -> Command {
    let path = Path::new(env!("CARGO_BIN_EXE_ledgerd")).with_file_name("ledger-verify");
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    Command::new(path)
}

/// Runs a command and returns (exit code, stdout + stderr).
fn run(mut c: Command) -> (i32, String) {
    let out = c.output().expect("command runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// (size, base64 root) from a checkpoint note.
fn size_and_root(note: &str) -> (u64, String) {
    let mut lines = note.lines();
    let _origin = lines.next().expect("origin line");
    let size = lines.next().expect("size line").parse().expect("size");
    let root = lines.next().expect("root line").to_string();
    (size, root)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            // std::fs::copy keeps the permission bits (the key files stay 0600).
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A `ledgerd serve` child on ephemeral 127.0.0.1 ports; killed on drop.
struct Child {
    child: std::process::Child,
    http: String,
}

impl Child {
    fn serve(dir: &Path) -> Child {
        let mut child = ledgerd()
            .args([
                "serve",
                "--http-listen",
                "127.0.0.1:0",
                "--grpc-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let http = loop {
            let line = lines
                .next()
                .expect("ledgerd printed 'listening' before exiting")
                .unwrap();
            if let Some(rest) = line.strip_prefix("listening: http ") {
                break format!("http://{}", rest.split(' ').next().unwrap());
            }
        };
        Child { child, http }
    }

    /// SIGTERM and wait for a clean exit.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "restored ledgerd exit status {status}");
                return;
            }
            assert!(Instant::now() < deadline, "restored ledgerd did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Appends records of one appliance until `stop` is set or `max` records were
/// answered; returns (index, record bytes) of every record the server acknowledged.
async fn append_until(
    client: reqwest::Client,
    url: String,
    mut appliance: common::Appliance,
    stop: Arc<AtomicBool>,
    max: usize,
) -> Vec<(u64, Vec<u8>)> {
    let mut acked = Vec::new();
    while !stop.load(Ordering::Relaxed) && acked.len() < max {
        let bytes = appliance.next_evidence().encode();
        let r = client
            .post(&url)
            .bearer_auth(&appliance.credential)
            .header("content-type", "application/cbor")
            .body(bytes.clone())
            .send()
            .await
            .expect("append request");
        assert_eq!(r.status().as_u16(), 200, "append refused");
        let v: Value = r.json().await.unwrap();
        acked.push((v["index"].as_u64().unwrap(), bytes));
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_load_restores_and_verifies_with_ledger_verify() {
    let dir = tempfile::tempdir().unwrap();
    let live_dir = dir.path().join("live");
    let live = TestServer::start(&live_dir).await;
    let log_key = live.get_text("/log-key").await.trim().to_string();

    // Load: six appliances on two sites, each appending one record per request.
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let mut first_appliance = None;
    for i in 0..6 {
        let appliance = live
            .enrol(&format!("site-{}", i % 2), &format!("box-{i}"))
            .await;
        if first_appliance.is_none() {
            first_appliance = Some((appliance.chain.clone(), appliance.credential.clone()));
        }
        tasks.push(tokio::spawn(append_until(
            live.client.clone(),
            live.url("/v1/records"),
            appliance,
            stop.clone(),
            5_000,
        )));
    }
    let (first_chain, first_credential) = first_appliance.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while live.tree_size().await < 300 {
        assert!(
            Instant::now() < deadline,
            "the load did not reach 300 entries"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The backup, mid-load, through the CLI.
    let size_before = live.tree_size().await;
    let backup_dir = dir.path().join("backup");
    let admin_file = live_dir.join("admin.token");
    let (code, out) = {
        let mut c = ledgerd();
        c.arg("backup")
            .arg("--to")
            .arg(&backup_dir)
            .args(["--server", &live.http])
            .arg("--admin-token-file")
            .arg(&admin_file);
        tokio::task::spawn_blocking(move || run(c)).await.unwrap()
    };
    assert_eq!(code, 0, "ledgerd backup: {out}");
    let size_after = live.tree_size().await;
    let backup_note = out
        .split_once('\n')
        .map(|(_, rest)| rest.to_string())
        .expect("the checkpoint follows the first line");
    let (backup_size, backup_root) = size_and_root(&backup_note);
    assert!(
        out.starts_with(&format!(
            "backup written to {} at tree size {backup_size}",
            backup_dir.display()
        )),
        "{out}"
    );
    assert!(
        size_before <= backup_size && backup_size <= size_after,
        "backup size {backup_size} outside {size_before}..={size_after}"
    );

    // Let the load run on past the backup, then stop it.
    while live.tree_size().await < backup_size + 200 {
        assert!(
            Instant::now() < deadline,
            "the load stopped after the backup"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    acked.sort();
    assert!(acked.iter().any(|(i, _)| *i < backup_size));
    assert!(acked.iter().any(|(i, _)| *i >= backup_size));
    let live_note = live.get_text("/checkpoint").await;
    let (live_size, live_root) = size_and_root(&live_note);
    assert!(live_size > backup_size);
    println!(
        "tree size {size_before} before the backup request, {backup_size} in the backup, \
         {size_after} when it answered, {live_size} at the end; {} records acknowledged",
        acked.len()
    );

    // Restore: copy the backup into a fresh data directory and start a second ledgerd
    // on it. The admin credential file is the operator's, not part of the backup.
    assert!(!backup_dir.join("admin.token").exists());
    assert!(!backup_dir.join("index.sqlite").exists());
    let restored_dir = dir.path().join("restored");
    copy_dir(&backup_dir, &restored_dir);
    std::fs::copy(&admin_file, restored_dir.join("admin.token")).unwrap();
    let restored = tokio::task::spawn_blocking({
        let d = restored_dir.clone();
        move || Child::serve(&d)
    })
    .await
    .unwrap();
    let get = |url: String| {
        let client = live.client.clone();
        async move {
            let r = client.get(&url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, restored_note) = get(format!("{}/checkpoint", restored.http)).await;
    assert_eq!(status, 200);
    assert_eq!(
        restored_note, backup_note,
        "the restored log starts at the backup"
    );
    let (_, restored_key) = get(format!("{}/log-key", restored.http)).await;
    assert_eq!(restored_key.trim(), log_key);

    // The credential database came along: the admin and an appliance authenticate.
    let admin = live.admin.clone();
    let r = live
        .client
        .post(format!("{}/v1/admin/read-tokens", restored.http))
        .bearer_auth(&admin)
        .json(&json!({ "sites": ["site-0"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "admin credential on the restored server"
    );
    let own = acked
        .iter()
        .find(|(i, bytes)| {
            *i < backup_size && ledger_record::Record::decode(bytes).unwrap().chain() == first_chain
        })
        .expect("a record of the first appliance before the backup");
    let r = live
        .client
        .get(format!("{}/v1/records/{}", restored.http, own.0))
        .bearer_auth(&first_credential)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "appliance credential on the restored server"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), own.1.as_slice());

    // ledger-verify: receipts from the restored server for records before the backup,
    // checked with the live log's key (this verifies the restored checkpoint's
    // signature and each inclusion).
    let work = dir.path().join("verify");
    std::fs::create_dir(&work).unwrap();
    let before: Vec<&(u64, Vec<u8>)> = acked.iter().filter(|(i, _)| *i < backup_size).collect();
    let samples = [
        before[0],
        before[before.len() / 2],
        before[before.len() - 1],
    ];
    for (n, (index, bytes)) in samples.iter().enumerate() {
        let (status, receipt) = get(format!("{}/receipt/{index}", restored.http)).await;
        assert_eq!(status, 200, "receipt {index}: {receipt}");
        assert!(
            receipt.ends_with(&backup_note),
            "receipt against the restored checkpoint"
        );
        let receipt_file = work.join(format!("r{n}.tlog-proof"));
        let entry_file = work.join(format!("r{n}.cbor"));
        std::fs::write(&receipt_file, &receipt).unwrap();
        std::fs::write(&entry_file, bytes).unwrap();
        let mut c = ledger_verify();
        c.arg("receipt")
            .arg(&receipt_file)
            .arg("--entry")
            .arg(&entry_file)
            .args(["--key", &log_key]);
        let (code, out) = run(c);
        assert_eq!(code, 0, "ledger-verify receipt {index}: {out}");
    }
    // A receipt for a different record's bytes must fail: the check can fail.
    let mut c = ledger_verify();
    c.arg("receipt")
        .arg(work.join("r0.tlog-proof"))
        .arg("--entry")
        .arg(work.join("r1.cbor"))
        .args(["--key", &log_key]);
    assert_eq!(run(c).0, 1, "a receipt must not verify for another entry");
    // Records appended after the backup are not in the restored log.
    let (status, _) = get(format!("{}/receipt/{backup_size}", restored.http)).await;
    assert_eq!(status, 404);

    // The live checkpoint fetched after the backup is signed by the same key (a live
    // receipt of a record appended after the backup verifies) ...
    let (after_index, after_bytes) = acked.iter().find(|(i, _)| *i >= backup_size).unwrap();
    let (status, receipt) =
        get(live.url(&format!("/receipt/{after_index}?size={live_size}"))).await;
    assert_eq!(status, 200);
    std::fs::write(work.join("live.tlog-proof"), &receipt).unwrap();
    std::fs::write(work.join("live.cbor"), after_bytes).unwrap();
    let mut c = ledger_verify();
    c.arg("receipt")
        .arg(work.join("live.tlog-proof"))
        .arg("--entry")
        .arg(work.join("live.cbor"))
        .args(["--key", &log_key]);
    let (code, out) = run(c);
    assert_eq!(code, 0, "ledger-verify receipt (live): {out}");
    // ... and the restored checkpoint is consistent with it (RFC 9162 §2.1.4).
    let (status, proof) = get(live.url(&format!(
        "/proof/consistency?from={backup_size}&to={live_size}"
    )))
    .await;
    assert_eq!(status, 200);
    std::fs::write(work.join("consistency"), &proof).unwrap();
    let consistency = |root1: &str| {
        let mut c = ledger_verify();
        c.arg("consistency")
            .args(["--size1", &backup_size.to_string(), "--root1", root1])
            .args(["--size2", &live_size.to_string(), "--root2", &live_root])
            .arg("--proof")
            .arg(work.join("consistency"));
        run(c)
    };
    let (code, out) = consistency(&backup_root);
    assert_eq!(code, 0, "ledger-verify consistency: {out}");
    // Another root at the backup's size must fail: the check can fail.
    let (code, _) = consistency(&live_root);
    assert_eq!(code, 1, "a wrong first root must not be consistent");

    // Stop the restored server, then re-verify the whole restored log offline and
    // compare every acknowledged record before the backup byte for byte.
    tokio::task::spawn_blocking(move || restored.stop())
        .await
        .unwrap();
    live.stop().await;
    let restored_dir_c: PathBuf = restored_dir.clone();
    let acked_c = acked.clone();
    tokio::task::spawn_blocking(move || {
        let log = ledger::Log::open(ledger::LogConfig::new(
            &restored_dir_c,
            "evidence-ledger.local/log",
        ))
        .expect("the restored log opens");
        assert_eq!(log.latest().size, backup_size);
        log.fsck().expect("fsck of the restored log");
        for (index, bytes) in acked_c.iter().filter(|(i, _)| *i < backup_size) {
            assert_eq!(&log.entry(*index).unwrap(), bytes, "entry {index}");
        }
        assert!(log.entry(backup_size).is_err());
    })
    .await
    .unwrap();

    // The complete check: an evidence package of both sites exported from the restored
    // data directory verifies with ledger-verify (every signature, every appliance chain
    // without gaps, one multiproof of every entry, the checkpoint signature), and holds
    // every acknowledged record from before the backup.
    let package = dir.path().join("restored-package");
    let mut c = ledgerd();
    c.args(["export", "--sites", "site-0,site-1", "--data-dir"])
        .arg(&restored_dir)
        .arg("--out")
        .arg(&package);
    let (code, out) = run(c);
    assert_eq!(code, 0, "ledgerd export of the restored log: {out}");
    let mut c = ledger_verify();
    c.arg("--json")
        .arg("package")
        .arg(&package)
        .args(["--key", &log_key]);
    let (code, out) = run(c);
    assert_eq!(code, 0, "ledger-verify package of the restored log: {out}");
    // The package's records, segment by segment (format version 2).
    let pkg = verifier::package::SegmentedPackage::open(&package).unwrap();
    let mut entries = std::collections::BTreeMap::new();
    for n in 0..pkg.segments {
        let (file, _) = pkg.segment(n).unwrap();
        entries.extend(file.iter().map(|(i, b)| (i, b.to_vec())));
    }
    for (index, bytes) in acked.iter().filter(|(i, _)| *i < backup_size) {
        assert_eq!(
            entries.get(index),
            Some(bytes),
            "entry {index} in the package"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_refuses_bad_targets_and_other_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let live = TestServer::start(&dir.path().join("live")).await;
    let appliance = live.enrol("site-0", "box-0").await;
    let target = dir.path().join("b");
    let target_s = target.display().to_string();

    let (status, _) = live
        .post_json("/v1/admin/backup", None, json!({ "to": target_s }))
        .await;
    assert_eq!(status, 401);
    let (status, v) = live
        .post_json(
            "/v1/admin/backup",
            Some(&appliance.credential),
            json!({ "to": target_s }),
        )
        .await;
    assert_eq!(status, 403, "{v}");
    let admin = live.admin.clone();
    for (body, code) in [
        (json!({ "to": "relative/dir" }), "invalid_backup_target"),
        (
            json!({ "to": dir.path().join("no/parent").display().to_string() }),
            "invalid_backup_target",
        ),
        (json!({ "to": target_s, "colour": 1 }), "invalid_json"),
    ] {
        let (status, v) = live.post_json("/v1/admin/backup", Some(&admin), body).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["code"], code, "{v}");
    }
    assert!(!target.exists(), "refused requests wrote nothing");

    let (status, v) = live
        .post_json("/v1/admin/backup", Some(&admin), json!({ "to": target_s }))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["files"],
        json!(["db", "log.key", "operator.key", "ledgerd.sqlite"])
    );
    for name in ["log.key", "operator.key", "ledgerd.sqlite"] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(target.join(name)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o077, 0, "{name} is readable by others: {mode:o}");
    }
    // A second backup into the same directory is refused (through the CLI too).
    let (status, v) = live
        .post_json("/v1/admin/backup", Some(&admin), json!({ "to": target_s }))
        .await;
    assert_eq!(status, 400, "{v}");
    let mut c = ledgerd();
    c.arg("backup")
        .arg("--to")
        .arg(&target)
        .args(["--server", &live.http])
        .arg("--admin-token-file")
        .arg(dir.path().join("live/admin.token"));
    let (code, out) = tokio::task::spawn_blocking(move || run(c)).await.unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("already exists"), "{out}");
    live.stop().await;
}
