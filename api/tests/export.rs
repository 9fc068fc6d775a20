//! Evidence packages end to end: records of several appliances through a real
//! ledgerd on 127.0.0.1 with local calendars, a stamped and confirmed checkpoint,
//! export over HTTP, with `ledgerd export --server` and from the stopped server's data
//! directory, offline verification with the verifier; then every tampering of the
//! acceptance list on copies of the package, each with its specific finding.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use anchor::local_calendar::LocalCalendar;
use anchor::HeaderSet;
use api::config::AnchorSettings;
use common::*;
use ed25519_dalek::{Signer as _, SigningKey};
use ledger_core::note::NoteVerifier;
use ledger_record::Record;
use serde_json::{json, Value};
use verifier::package::{
    verify_package, EntryFile, Package, PackageFiles, SignatureMode, VerifyOptions, RECORDS_MAGIC,
};

/// What `ledger-verify package` decides: exit code and the JSON report.
fn verify(files: &PackageFiles, log: &NoteVerifier, headers: &HeaderSet) -> (i32, Value) {
    let pkg = match Package::parse(files.clone()) {
        Ok(p) => p,
        Err(e) => return (2, json!({ "error": e.to_string() })),
    };
    let mut opts = VerifyOptions::new(log);
    opts.headers = Some(headers);
    opts.signatures = SignatureMode::Batch;
    let report = verify_package(&pkg, &opts);
    let code = if report.valid { 0 } else { 1 };
    (code, serde_json::to_value(&report).unwrap())
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

fn records_of(files: &PackageFiles) -> Vec<(u64, Vec<u8>)> {
    EntryFile::parse(files.records.clone(), &RECORDS_MAGIC, "records.bin")
        .unwrap()
        .iter()
        .map(|(i, b)| (i, b.to_vec()))
        .collect()
}

fn with_records(files: &PackageFiles, records: &[(u64, Vec<u8>)]) -> PackageFiles {
    let mut f = files.clone();
    f.records = EntryFile::encode(
        &RECORDS_MAGIC,
        records.iter().map(|(i, b)| (*i, b.as_slice())),
    )
    .unwrap();
    f
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

    // Export over HTTP with a read token for clinic-1.
    let (status, v) = server
        .post_json(
            "/v1/admin/read-tokens",
            Some(&server.admin),
            json!({ "sites": ["clinic-1"] }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let reader = v["token"].as_str().unwrap().to_string();
    let r = server
        .client
        .get(server.url("/v1/export?sites=clinic-1"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-tar");
    let files = api::export::from_tar(&r.bytes().await.unwrap()).expect("a package archive");
    let manifest: Value = serde_json::from_slice(&files.manifest).unwrap();
    assert_eq!(manifest["checkpoint_size"], size, "{manifest}");
    assert!(files.timestamp.is_some());
    let (code, report) = verify(&files, &log, &headers);
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

    // One export at a time: while another holds the export slot, 503 with Retry-After
    // (and nothing half-built); once it is free, the same request succeeds.
    let held = server.state().exports.clone().try_acquire_owned().unwrap();
    let r = server
        .client
        .get(server.url("/v1/export?sites=clinic-1"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "busy", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("being exported"),
        "{body}"
    );
    drop(held);
    let r = server
        .client
        .get(server.url("/v1/export?sites=clinic-1"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

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
    let from_cli = PackageFiles::read_dir(&cli_pkg).unwrap();
    assert_eq!(from_cli.records, files.records);
    assert_eq!(verify(&from_cli, &log, &headers).0, 0);

    // Offline, from the stopped server's data directory: the same package.
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
    let off = PackageFiles::read_dir(&offline).unwrap();
    assert_eq!(off.records, files.records);
    assert_eq!(off.keys, files.keys);
    assert_eq!(off.proof, files.proof);
    assert_eq!(off.checkpoint, files.checkpoint);
    assert_eq!(off.timestamp, files.timestamp);
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

    // Tampering, each on a copy.
    let recs = records_of(&files);
    let decoded: Vec<Record> = recs
        .iter()
        .map(|(_, b)| Record::decode(b).unwrap())
        .collect();

    // 1. A flipped bit in a record.
    let mut t = recs.clone();
    let mid = t[4].1.len() / 2;
    t[4].1[mid] ^= 0x04;
    let (code, r) = verify(&with_records(&files, &t), &log, &headers);
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

    // 2. A dropped record (one in the middle of box-2's chain).
    let victim = decoded
        .iter()
        .position(|d| d.appliance_id().as_str() == "box-2" && d.sequence() == 3)
        .unwrap();
    let mut t = recs.clone();
    t.remove(victim);
    let (code, r) = verify(&with_records(&files, &t), &log, &headers);
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
    let tmp = t[a].1.clone();
    t[a].1 = t[b].1.clone();
    t[b].1 = tmp;
    let (code, r) = verify(&with_records(&files, &t), &log, &headers);
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
    let (code, r) = verify(&with_records(&files, &t), &log, &headers);
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
    let mut m: Value = manifest.clone();
    m["record_count"] = Value::from(t.len());
    for c in m["chains"].as_array_mut().unwrap() {
        if c["appliance_id"] == "box-3" {
            c["last_sequence"] = Value::from(box3.seq + 1);
        }
    }
    let mut f = with_records(&files, &t);
    f.manifest = serde_json::to_vec(&m).unwrap();
    let (code, r) = verify(&f, &log, &headers);
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
    let note = String::from_utf8(files.checkpoint.clone()).unwrap();
    let body = ledger_core::note::Note::parse(note.as_bytes())
        .unwrap()
        .text()
        .to_string();
    let impostor = ledger_core::note::NoteSigner::new(log.name(), &[9; 32]).unwrap();
    let mut f = files.clone();
    f.checkpoint = impostor.sign(&body).unwrap().into_bytes();
    let (code, r) = verify(&f, &log, &headers);
    assert_eq!(code, 1);
    assert_eq!(codes(&r), vec!["checkpoint_signature".to_owned()], "{r:#}");

    // 7. A stamp for another checkpoint: a complete, well-formed stamp of another body
    // from the same calendar.
    let mut f = files.clone();
    f.timestamp = Some(other_stamp(
        &alice.calendar,
        b"another checkpoint\n1\nAAAA\n",
    ));
    let (code, r) = verify(&f, &log, &headers);
    assert_eq!(code, 1);
    assert_eq!(codes(&r), vec!["stamp_digest".to_owned()], "{r:#}");

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
