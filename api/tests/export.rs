//! Evidence packages (format version 2) end to end: records of several appliances
//! through a real ledgerd on 127.0.0.1 with local calendars, a stamped and confirmed
//! checkpoint, export over HTTP (the streamed tar archive unpacked into a directory),
//! with `ledgerd export --server` and from the stopped server's data directory, offline
//! verification with the verifier library and the `ledger-verify` binary; then every
//! tampering of the acceptance list on copies of the package directory, each with its
//! specific finding. Further: a package much larger than the server's channel is
//! streamed (no Content-Length, the export still running while the client holds the
//! first bytes) and arrives intact; exports beyond the slots wait instead of failing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anchor::local_calendar::LocalCalendar;
use anchor::HeaderSet;
use api::auth::Principal;
use api::config::AnchorSettings;
use api::state::EXPORT_SLOTS;
use common::*;
use ed25519_dalek::{Signer as _, SigningKey};
use ledger_core::note::NoteVerifier;
use ledger_record::{Body, EvidenceBody, EvidenceItem, Id, Record, Status};
use serde_json::{json, Value};
use verifier::package::{
    segment_name, verify_segmented, EntryFile, SegmentedPackage, SignatureMode, VerifyOptions,
    RECORDS_MAGIC,
};

/// What `ledger-verify package` decides for a package directory, through the library:
/// exit code (0 valid, 1 findings, 2 unreadable) and the JSON report.
fn verify(dir: &Path, log: &NoteVerifier, headers: &HeaderSet) -> (i32, Value) {
    let pkg = match SegmentedPackage::open(dir) {
        Ok(p) => p,
        Err(e) => return (2, json!({ "error": e.to_string() })),
    };
    let mut opts = VerifyOptions::new(log);
    opts.headers = Some(headers);
    opts.signatures = SignatureMode::Batch;
    match verify_segmented(&pkg, &opts) {
        Ok(report) => (
            if report.valid { 0 } else { 1 },
            serde_json::to_value(&report).unwrap(),
        ),
        Err(e) => (2, json!({ "error": e.to_string() })),
    }
}

/// `ledger-verify` is a binary of another package; it is looked up next to `ledgerd` in
/// the same target directory (`cargo test -p api -p verifier` builds both).
fn ledger_verify() -> Command {
    let path = Path::new(env!("CARGO_BIN_EXE_ledgerd")).with_file_name("ledger-verify");
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build -p verifier)",
        path.display()
    );
    Command::new(path)
}

/// `ledger-verify --json package DIR --key KEY [--block-headers FILE]`: exit code and
/// the printed report.
fn verify_with_binary(dir: &Path, key: &str, headers: Option<&Path>) -> (i32, Value) {
    let mut c = ledger_verify();
    c.args(["--json", "package"]).arg(dir).args(["--key", key]);
    if let Some(h) = headers {
        c.arg("--block-headers").arg(h);
    }
    let out = c.output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        json!({
            "stdout": String::from_utf8_lossy(&out.stdout),
            "stderr": String::from_utf8_lossy(&out.stderr),
        })
    });
    (out.status.code().unwrap_or(-1), report)
}

fn codes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["code"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn finding<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code} finding in {report:#}"))
}

/// Every file of a package directory, by name.
fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn manifest_of(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("package.json")).unwrap()).unwrap()
}

/// A copy of the package directory `from`, to tamper with.
fn copy_of(from: &Path, name: &str) -> PathBuf {
    let to = from.with_file_name(name);
    std::fs::create_dir(&to).unwrap();
    for (file, bytes) in files_of(from) {
        std::fs::write(to.join(file), bytes).unwrap();
    }
    to
}

/// The records of segment `n`: (log index, bytes).
fn segment_records(dir: &Path, n: u64) -> Vec<(u64, Vec<u8>)> {
    let name = segment_name(n);
    EntryFile::parse(
        std::fs::read(dir.join(&name)).unwrap(),
        &RECORDS_MAGIC,
        &name,
    )
    .unwrap()
    .iter()
    .map(|(i, b)| (i, b.to_vec()))
    .collect()
}

/// Replaces segment `n`'s records (its multiproof is left as exported).
fn write_segment(dir: &Path, n: u64, records: &[(u64, Vec<u8>)]) {
    let bytes = EntryFile::encode(
        &RECORDS_MAGIC,
        records.iter().map(|(i, b)| (*i, b.as_slice())),
    )
    .unwrap();
    std::fs::write(dir.join(segment_name(n)), bytes).unwrap();
}

/// A copy of the package whose only segment holds `records`.
fn with_records(pkg: &Path, name: &str, records: &[(u64, Vec<u8>)]) -> PathBuf {
    let copy = copy_of(pkg, name);
    write_segment(&copy, 0, records);
    copy
}

/// GET `path` with `bearer`, the archive unpacked into the new directory `out`.
async fn export_http(server: &TestServer, path: &str, bearer: &str, out: &Path) -> u16 {
    let r = server
        .client
        .get(server.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status == 200 {
        assert_eq!(r.headers()["content-type"], "application/x-tar");
        let bytes = r.bytes().await.unwrap();
        api::export::unpack_stream(&mut &bytes[..], out).expect("a package archive");
    }
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_verify_and_detect_every_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let alice = LocalCalendar::spawn().await.unwrap();
    let bob = LocalCalendar::spawn().await.unwrap();
    let anchor = AnchorSettings {
        enabled: true,
        calendars: vec![alice.url.clone(), bob.url.clone()],
        min_calendars: 2,
        interval: Duration::from_millis(300),
        every_entries: 10_000_000,
        upgrade_interval: Duration::from_millis(300),
        pending_alarm: Duration::from_secs(3600),
        timeout: Duration::from_secs(2),
        bitcoin_api: None,
    };
    let server = TestServer::start_with(&data, |c| c.anchor = anchor).await;
    let log = server.log_verifier().await;

    // Three appliances in clinic-1, one in clinic-2; evidence and healing interleaved,
    // a rotation, and an appliance whose key is revoked after its records.
    let mut boxes = [
        server.enrol("clinic-1", "box-1").await,
        server.enrol("clinic-1", "box-2").await,
        server.enrol("clinic-1", "box-3").await,
        server.enrol("clinic-2", "box-9").await,
    ];
    for round in 0..6u64 {
        for b in boxes.iter_mut() {
            let r = if round % 3 == 2 {
                b.next(healing_body(round))
            } else {
                b.next_evidence()
            };
            let (status, a) = server.append_http(Some(&b.credential), r.encode()).await;
            assert_eq!(status, 200, "{a}");
        }
        if round == 3 {
            let rot = boxes[0].rotate();
            let (status, a) = server
                .append_http(Some(&boxes[0].credential), rot.encode())
                .await;
            assert_eq!(status, 200, "{a}");
        }
    }
    let revoked_key = boxes[2].key.clone();
    let (status, v) = server
        .post_json(
            "/v1/admin/appliances/clinic-1/box-3/revoke",
            Some(&server.admin),
            json!({ "reason": "key_compromise" }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let revoked_at = v["revocation"]["index"].as_u64().unwrap();
    // clinic-2 keeps recording after the revocation.
    for _ in 0..2 {
        let r = boxes[3].next_evidence();
        let (status, _) = server
            .append_http(Some(&boxes[3].credential), r.encode())
            .await;
        assert_eq!(status, 200);
    }
    let size = server.tree_size().await;

    // Stamp and confirm the latest checkpoint.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v: Value = server
            .client
            .get(server.url(&format!("/v1/anchors/{size}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        if v["status"] == "pending" {
            break;
        }
        assert!(Instant::now() < deadline, "no stamp of size {size}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (height, header) = alice
        .calendar
        .confirm((now_ms() / 1000) as u32)
        .unwrap()
        .unwrap();
    // Only alice confirms: two local calendars both start their synthetic chains at the
    // same height, and the auditor supplies one chain of headers. Bob's attestation
    // stays pending, which is not a finding.
    let headers = HeaderSet::from_headers([(height, header)]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v: Value = server
            .client
            .get(server.url(&format!("/v1/anchors/{size}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["status"] == "complete" {
            break;
        }
        assert!(Instant::now() < deadline, "stamp never completed: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A record of another site after the stamped checkpoint: clinic-1's package still
    // uses the stamped checkpoint (the newest complete stamp covering its records).
    let late = boxes[3].next_evidence();
    let (status, _) = server
        .append_http(Some(&boxes[3].credential), late.encode())
        .await;
    assert_eq!(status, 200);

    // Export over HTTP with a read token for clinic-1, unpacked into a directory.
    let (status, v) = server
        .post_json(
            "/v1/admin/read-tokens",
            Some(&server.admin),
            json!({ "sites": ["clinic-1"] }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let reader = v["token"].as_str().unwrap().to_string();
    let pkg = dir.path().join("pkg-http");
    assert_eq!(
        export_http(&server, "/v1/export?sites=clinic-1", &reader, &pkg).await,
        200
    );
    let manifest = manifest_of(&pkg);
    assert_eq!(manifest["version"], 2, "{manifest}");
    assert_eq!(manifest["checkpoint_size"], size, "{manifest}");
    // A small package is one segment (tampering below edits segment 0).
    assert_eq!(manifest["segments"], 1, "{manifest}");
    assert!(pkg.join("checkpoint.ots").exists());
    let (code, report) = verify(&pkg, &log, &headers);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["anchor"]["status"], "verified", "{report:#}");
    let chains: Vec<String> = manifest["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}/{}",
                c["site_id"].as_str().unwrap(),
                c["appliance_id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        chains,
        ["clinic-1/box-1", "clinic-1/box-2", "clinic-1/box-3"]
    );

    // The same verdict from the `ledger-verify` binary, with the auditor's headers.
    let headers_file = dir.path().join("headers.txt");
    std::fs::write(
        &headers_file,
        format!("{height} {}\n", hex::encode(header.as_bytes())),
    )
    .unwrap();
    let log_key = manifest["log_verifier_key"].as_str().unwrap().to_owned();
    let (code, report) = verify_with_binary(&pkg, &log_key, Some(&headers_file));
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["valid"], true, "{report:#}");
    assert_eq!(report["findings"].as_array().map_or(0, Vec::len), 0);

    // Scope: clinic-2 with a clinic-1 token is 404 and no data; unknown site 404.
    for q in ["sites=clinic-2", "sites=clinic-1,clinic-2"] {
        let r = server
            .client
            .get(server.url(&format!("/v1/export?{q}")))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{q}");
        assert!(!r.text().await.unwrap().contains("box-9"));
    }
    for (q, status) in [
        ("", 400),
        ("sites=bad%20id", 400),
        ("sites=clinic-1&from_ms=9&to_ms=1", 400),
        ("sites=nowhere", 404),
    ] {
        let r = server
            .client
            .get(server.url(&format!("/v1/export?{q}")))
            .bearer_auth(&server.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{q}");
    }
    let r = server
        .client
        .get(server.url("/v1/export?sites=clinic-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // While every export slot is taken, a request waits (no 503) and is served once a
    // slot frees up.
    let held = server
        .state()
        .exports
        .clone()
        .acquire_many_owned(EXPORT_SLOTS as u32)
        .await
        .unwrap();
    let waiting = {
        let client = server.client.clone();
        let url = server.url("/v1/export?sites=clinic-1");
        let reader = reader.clone();
        tokio::spawn(async move {
            let r = client.get(url).bearer_auth(reader).send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().len())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "an export answered while every slot was taken"
    );
    drop(held);
    let (status, len) = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the waiting export is served once a slot is free")
        .unwrap();
    assert_eq!(status, 200);
    assert!(len > 1024);

    // Twice as many exports at once as there are slots: every one is served, each the
    // same package.
    let runs: Vec<_> = (0..2 * EXPORT_SLOTS)
        .map(|k| {
            let client = server.client.clone();
            let url = server.url("/v1/export?sites=clinic-1");
            let reader = reader.clone();
            let out = dir.path().join(format!("pkg-concurrent-{k}"));
            tokio::spawn(async move {
                let r = client.get(url).bearer_auth(reader).send().await.unwrap();
                let status = r.status().as_u16();
                let bytes = r.bytes().await.unwrap();
                if status == 200 {
                    api::export::unpack_stream(&mut &bytes[..], &out).unwrap();
                }
                (status, out)
            })
        })
        .collect();
    for run in runs {
        let (status, out) = run.await.unwrap();
        assert_eq!(status, 200, "a concurrent export was refused");
        assert_eq!(segment_records(&out, 0), segment_records(&pkg, 0));
        assert_eq!(verify(&out, &log, &headers).0, 0);
    }

    // The CLI against the running server.
    let token_file = dir.path().join("reader.token");
    std::fs::write(&token_file, &reader).unwrap();
    let cli_pkg = dir.path().join("pkg-cli");
    let out = Command::new(env!("CARGO_BIN_EXE_ledgerd"))
        .args([
            "export",
            "--sites",
            "clinic-1",
            "--server",
            &server.http,
            "--token-file",
        ])
        .arg(&token_file)
        .arg("--out")
        .arg(&cli_pkg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("verify with: ledger-verify package"),
        "{stdout}"
    );
    assert_eq!(segment_records(&cli_pkg, 0), segment_records(&pkg, 0));
    assert_eq!(verify(&cli_pkg, &log, &headers).0, 0);

    // Offline, from the stopped server's data directory: the same package (all files
    // but the manifest byte for byte; the manifest differs only in `exported_at_ms`).
    server.stop().await;
    let offline = dir.path().join("pkg-offline");
    let out = Command::new(env!("CARGO_BIN_EXE_ledgerd"))
        .args(["export", "--sites", "clinic-1", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&offline)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut online_files, mut offline_files) = (files_of(&pkg), files_of(&offline));
    let (mut m_on, mut m_off) = (manifest_of(&pkg), manifest_of(&offline));
    online_files.remove("package.json");
    offline_files.remove("package.json");
    assert_eq!(online_files, offline_files);
    m_on.as_object_mut().unwrap().remove("exported_at_ms");
    m_off.as_object_mut().unwrap().remove("exported_at_ms");
    assert_eq!(m_on, m_off);
    // An existing output directory is refused and left alone.
    let out = Command::new(env!("CARGO_BIN_EXE_ledgerd"))
        .args(["export", "--sites", "clinic-1", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&offline)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    // A period: only records with appliance time inside it; an empty period is an error.
    let out = Command::new(env!("CARGO_BIN_EXE_ledgerd"))
        .args([
            "export",
            "--sites",
            "clinic-1",
            "--from-ms",
            "1",
            "--to-ms",
            "2",
            "--data-dir",
        ])
        .arg(&data)
        .arg("--out")
        .arg(dir.path().join("pkg-empty"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no records"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("pkg-empty").exists());

    // Tampering, each on a copy of the package directory.
    let recs = segment_records(&pkg, 0);
    let decoded: Vec<Record> = recs
        .iter()
        .map(|(_, b)| Record::decode(b).unwrap())
        .collect();

    // 1. A flipped bit in a record of the segment.
    let mut t = recs.clone();
    let mid = t[4].1.len() / 2;
    t[4].1[mid] ^= 0x04;
    let flipped = with_records(&pkg, "t-flipped", &t);
    let (code, r) = verify(&flipped, &log, &headers);
    assert_eq!(code, 1, "{r:#}");
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(
                |f| (f["code"] == "record_malformed" || f["code"] == "record_signature")
                    && f["log_index"] == recs[4].0
            ),
        "{r:#}"
    );
    // The segment's multiproof no longer matches its leaves either.
    assert!(codes(&r).contains(&"inclusion".to_owned()), "{r:#}");
    // The binary exits 1 on it.
    let (code, r) = verify_with_binary(&flipped, &log_key, Some(&headers_file));
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["valid"], false, "{r:#}");

    // 2. A dropped record (one in the middle of box-2's chain).
    let victim = decoded
        .iter()
        .position(|d| d.appliance_id().as_str() == "box-2" && d.sequence() == 3)
        .unwrap();
    let mut t = recs.clone();
    t.remove(victim);
    let (code, r) = verify(&with_records(&pkg, "t-dropped", &t), &log, &headers);
    assert_eq!(code, 1);
    let gap = finding(&r, "chain_gap");
    assert_eq!(gap["chain"], "clinic-1/box-2");
    assert_eq!(gap["sequence"], 3);

    // 3. Two records of one chain swapped (bytes exchanged, log indexes kept).
    let a = decoded
        .iter()
        .position(|d| d.appliance_id().as_str() == "box-1" && d.sequence() == 1)
        .unwrap();
    let b = decoded
        .iter()
        .position(|d| d.appliance_id().as_str() == "box-1" && d.sequence() == 2)
        .unwrap();
    let mut t = recs.clone();
    t.swap(a, b);
    let (ia, ib) = (recs[a].0, recs[b].0);
    t[a].0 = ia;
    t[b].0 = ib;
    let (code, r) = verify(&with_records(&pkg, "t-swapped", &t), &log, &headers);
    assert_eq!(code, 1);
    assert_eq!(finding(&r, "chain_reordered")["chain"], "clinic-1/box-1");

    // 4. A forged signature: a valid Ed25519 signature of the same message by another key.
    let attacker = SigningKey::from_bytes(&[7; 32]);
    let mut t = recs.clone();
    let original = &decoded[6];
    let mut forged = original.encode();
    let at = forged.len() - 64;
    forged[at..].copy_from_slice(&attacker.sign(&original.signing_message()).to_bytes());
    t[6].1 = forged;
    let (code, r) = verify(&with_records(&pkg, "t-forged", &t), &log, &headers);
    assert_eq!(code, 1);
    assert_eq!(finding(&r, "record_signature")["log_index"], recs[6].0);

    // 5. A record signed by the revoked key (box-3), slipped in after the revocation at
    // the log index of a clinic-2 record; the manifest adjusted to match.
    let box3 = &boxes[2];
    let rogue = box3.make(
        box3.seq + 1,
        box3.prev,
        now_ms(),
        evidence_body(77),
        &revoked_key,
    );
    let mut t = recs.clone();
    t.push((revoked_at + 1, rogue.encode()));
    t.sort_by_key(|(i, _)| *i);
    let rogue_pkg = with_records(&pkg, "t-revoked", &t);
    let mut m: Value = manifest.clone();
    m["record_count"] = Value::from(t.len());
    for c in m["chains"].as_array_mut().unwrap() {
        if c["appliance_id"] == "box-3" {
            c["last_sequence"] = Value::from(box3.seq + 1);
        }
    }
    std::fs::write(
        rogue_pkg.join("package.json"),
        serde_json::to_vec(&m).unwrap(),
    )
    .unwrap();
    let (code, r) = verify(&rogue_pkg, &log, &headers);
    assert_eq!(code, 1, "{r:#}");
    let k = finding(&r, "record_key");
    assert_eq!(k["chain"], "clinic-1/box-3");
    assert_eq!(k["log_index"], revoked_at + 1);
    assert!(
        k["message"]
            .as_str()
            .unwrap()
            .contains(&format!("revoked at log index {revoked_at}")),
        "{k}"
    );

    // 6. A wrong checkpoint signature: signed by another key under the log's name.
    let checkpoint = std::fs::read(pkg.join("checkpoint")).unwrap();
    let body = ledger_core::note::Note::parse(&checkpoint)
        .unwrap()
        .text()
        .to_string();
    let impostor = ledger_core::note::NoteSigner::new(log.name(), &[9; 32]).unwrap();
    let resigned = copy_of(&pkg, "t-checkpoint");
    std::fs::write(
        resigned.join("checkpoint"),
        impostor.sign(&body).unwrap().into_bytes(),
    )
    .unwrap();
    let (code, r) = verify(&resigned, &log, &headers);
    assert_eq!(code, 1);
    assert_eq!(codes(&r), vec!["checkpoint_signature".to_owned()], "{r:#}");

    // 7. A stamp for another checkpoint: a complete, well-formed stamp of another body
    // from the same calendar.
    let restamped = copy_of(&pkg, "t-stamp");
    std::fs::write(
        restamped.join("checkpoint.ots"),
        other_stamp(&alice.calendar, b"another checkpoint\n1\nAAAA\n"),
    )
    .unwrap();
    let (code, r) = verify(&restamped, &log, &headers);
    assert_eq!(code, 1);
    assert_eq!(codes(&r), vec!["stamp_digest".to_owned()], "{r:#}");

    // 8. A missing segment: the package cannot be read (exit 2), not "valid".
    let missing = copy_of(&pkg, "t-missing");
    std::fs::remove_file(missing.join(segment_name(0))).unwrap();
    assert_eq!(verify(&missing, &log, &headers).0, 2);
    assert_eq!(verify_with_binary(&missing, &log_key, None).0, 2);

    alice.stop().await.unwrap();
    bob.stop().await.unwrap();
}

/// A complete, well-formed stamp of `data` from the local calendar (another block).
fn other_stamp(calendar: &LocalCalendar, data: &[u8]) -> Vec<u8> {
    let mut stamp = anchor::DetachedTimestamp::for_data(anchor::HashOp::Sha256, data);
    let answer = calendar.submit(&stamp.digest).unwrap();
    let ts = anchor::Timestamp::parse(&answer, &stamp.digest).unwrap();
    stamp.timestamp.merge(ts);
    let pending = stamp.pending_commitments().unwrap();
    calendar.confirm(1_800_000_000).unwrap().unwrap();
    let upgrade = calendar.answer(&pending[0].commitment).unwrap();
    let upgrade = anchor::Timestamp::parse(&upgrade, &pending[0].commitment).unwrap();
    stamp
        .merge_upgrade(&pending[0].commitment, upgrade)
        .unwrap();
    stamp.to_bytes().unwrap()
}

/// Evidence of `items` items with `details` of almost the maximum length: a record of
/// about 60 KB.
fn large_body(n: u64, items: usize) -> Body {
    let items = (0..items)
        .map(|i| EvidenceItem {
            check_type: Id::new("file_integrity").unwrap(),
            host: Id::new(format!("host-{i}")).unwrap(),
            status: Status::Pass,
            observed_at_ms: 1_700_000_000_000 + n,
            details: format!("{n:08}-{i:04}-{}", "x".repeat(4000)),
            controls: vec!["HIPAA:164.312(c)(1)".into()],
        })
        .collect();
    Body::Evidence(EvidenceBody::inline(items).unwrap())
}

/// A package far larger than what sits between the export and the client (two pieces
/// in the server's channel, the sockets' buffers): the response has no Content-Length,
/// the client holds the first bytes while the export is still running (it is held back
/// by the unread body, and keeps its slot), and the whole package arrives intact, in
/// several segments, and verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_export_streams_with_back_pressure() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data")).await;
    let log = server.log_verifier().await;
    let mut boxes = [
        server.enrol("clinic-big", "box-1").await,
        server.enrol("clinic-big", "box-2").await,
    ];
    // 1,200 records of about 60 KB: about 70 MB of records.
    const RECORDS: u64 = 1_200;
    let intake = server.state().intake.clone();
    for round in 0..(RECORDS / 50) {
        let b = &mut boxes[(round % 2) as usize];
        let raw: Vec<Vec<u8>> = (0..50)
            .map(|i| b.next(large_body(round * 50 + i, 14)).encode())
            .collect();
        assert!(raw.iter().all(|r| r.len() > 55_000 && r.len() < 65_535));
        let outcomes = intake
            .append(&Principal::Appliance(b.chain.clone()), raw)
            .await
            .unwrap();
        assert!(outcomes.iter().all(|o| o.is_ok()), "{outcomes:?}");
    }

    let started = Instant::now();
    let mut r = server
        .client
        .get(server.url("/v1/export?sites=clinic-big"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("content-length").is_none(),
        "a streamed body has no Content-Length: {:?}",
        r.headers()
    );
    let first = r.chunk().await.unwrap().expect("a first piece");
    let mut body = first.to_vec();
    // Not reading further: the export stays blocked behind the unread body and keeps
    // its slot.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        server.state().exports.available_permits(),
        EXPORT_SLOTS - 1,
        "the export finished before the client read past its first {} bytes",
        first.len()
    );
    while let Some(piece) = r.chunk().await.unwrap() {
        body.extend_from_slice(&piece);
    }
    let elapsed = started.elapsed();
    assert!(body.len() > 60 << 20, "{} bytes", body.len());
    let pkg = dir.path().join("pkg");
    api::export::unpack_stream(&mut &body[..], &pkg).unwrap();
    let manifest = manifest_of(&pkg);
    assert_eq!(manifest["record_count"], RECORDS, "{manifest}");
    assert!(manifest["segments"].as_u64().unwrap() >= 8, "{manifest}");
    let pkg_open = SegmentedPackage::open(&pkg).unwrap();
    let report = verify_segmented(&pkg_open, &VerifyOptions::new(&log)).unwrap();
    assert!(report.valid, "{}", serde_json::to_value(&report).unwrap());
    // Once the body has been read to its end, the slot is free again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.state().exports.available_permits() != EXPORT_SLOTS {
        assert!(
            Instant::now() < deadline,
            "the export never gave its slot back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "exported {} bytes in {:.1} s",
        body.len(),
        elapsed.as_secs_f64()
    );
    server.stop().await;
}
