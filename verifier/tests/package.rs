//! Evidence packages end to end through the binary: a package built with pure code
//! (three appliances on two sites, operator enrolments, a signed checkpoint, a stamp of
//! its body with a synthetic Bitcoin header) verifies; each tampering of a copy is
//! detected with a specific finding and exit code 1; malformed packages exit 2.

mod support;

use std::path::{Path, PathBuf};

use ledger_record::{Record, SigningKey};
use serde_json::Value;
use support::*;
use verifier::package::{EntryFile, PackageFiles, KEYS_MAGIC, RECORDS_MAGIC};

const HEIGHT: u64 = 840_000;
const TIME: u32 = 1_713_571_767;

struct Fixture {
    sim: LogSim,
    files: PackageFiles,
    headers: String,
    dir: tempfile::TempDir,
}

/// Three appliances (two at clinic-1, one at clinic-2), 12 records each, interleaved.
fn scenario() -> LogSim {
    let mut sim = LogSim::new("example.com/evidence-log");
    let chains = [
        chain("clinic-1", "box-1"),
        chain("clinic-1", "box-2"),
        chain("clinic-2", "box-3"),
    ];
    for c in &chains {
        sim.enrol(c);
    }
    for n in 0..12 {
        for c in &chains {
            sim.append_record(c, n);
        }
    }
    sim
}

fn fixture_for(sim: LogSim, sites: &[&str]) -> Fixture {
    let body = body_of(&sim.checkpoint());
    let (ots, headers) = stamp(body.as_bytes(), HEIGHT, TIME);
    let files = package_files(&sim, sites, Some(&ots), None);
    Fixture {
        sim,
        files,
        headers,
        dir: tempfile::tempdir().unwrap(),
    }
}

fn fixture() -> Fixture {
    fixture_for(scenario(), &["clinic-1", "clinic-2"])
}

impl Fixture {
    /// Writes `files` as a new package directory and returns its path.
    fn write(&self, name: &str, files: &PackageFiles) -> PathBuf {
        let p = self.dir.path().join(name);
        files.write_dir(&p).unwrap();
        p
    }

    fn headers_file(&self) -> PathBuf {
        let p = self.dir.path().join("trusted-headers.txt");
        std::fs::write(&p, &self.headers).unwrap();
        p
    }

    /// Runs `package --json` with the trusted headers; returns (code, report).
    fn verify(&self, pkg: &Path) -> (i32, Value) {
        let headers = self.headers_file();
        let vkey = self.sim.vkey();
        let (code, out, err) = run(&[
            "--json",
            "package",
            pkg.to_str().unwrap(),
            "--key",
            &vkey,
            "--block-headers",
            headers.to_str().unwrap(),
        ]);
        assert!(!err.contains("panicked"), "{err}");
        (code, serde_json::from_str(&out).unwrap_or(Value::Null))
    }
}

fn codes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

fn finding<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code} finding in {report:#}"))
}

/// The records of a package as `(index, bytes)`.
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

#[test]
fn valid_package_verifies_with_summary() {
    let fx = fixture();
    let dir = fx.write("good", &fx.files);
    let (code, r) = fx.verify(&dir);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["valid"], true);
    assert!(codes(&r).is_empty());
    assert_eq!(r["anchor"]["status"], "verified");
    assert_eq!(r["anchor"]["height"], HEIGHT);
    assert_eq!(r["anchor"]["time"], TIME);
    assert_eq!(r["log"]["origin"], "example.com/evidence-log");
    assert_eq!(r["log"]["checkpoint_size"], 3 + 36);
    assert_eq!(r["log"]["signature_valid"], true);
    assert_eq!(r["counts"]["records"], 36);
    assert_eq!(r["counts"]["key_records"], 3);
    // body(n): even n healing, odd n evidence; n = 0..12 per appliance.
    assert_eq!(r["counts"]["by_kind"]["healing"], 18);
    assert_eq!(r["counts"]["by_kind"]["evidence"], 18);
    assert_eq!(r["signatures"]["checked"], 36);
    assert_eq!(r["signatures"]["valid"], 36);
    let apps = r["appliances"].as_array().unwrap();
    assert_eq!(apps.len(), 3);
    for a in apps {
        assert_eq!(
            (a["first_sequence"].as_u64(), a["last_sequence"].as_u64()),
            (Some(1), Some(12))
        );
    }
    // The human summary says the same in sentences.
    let vkey = fx.sim.vkey();
    let headers = fx.headers_file();
    let (code, text, _) = run(&[
        "package",
        dir.to_str().unwrap(),
        "--key",
        &vkey,
        "--block-headers",
        headers.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(text.contains("VALID"), "{text}");
    assert!(text.contains(&format!("Bitcoin block {HEIGHT}")), "{text}");
    assert!(text.contains("clinic-1/box-2"), "{text}");
    // Strict signature mode agrees.
    let (code, out, _) = run(&[
        "--json",
        "package",
        dir.to_str().unwrap(),
        "--key",
        &vkey,
        "--strict-signatures",
    ]);
    assert_eq!(code, 0);
    let strict: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(strict["signatures"]["method"], "strict");
    // Without trusted headers the anchor is unchecked but the package is still valid.
    assert_eq!(strict["anchor"]["status"], "unverified");
}

#[test]
fn flipped_bit_in_a_record_is_detected() {
    let fx = fixture();
    let mut recs = records_of(&fx.files);
    let (index, bytes) = &mut recs[7];
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x04;
    let index = *index;
    let dir = fx.write("flipped", &with_records(&fx.files, &recs));
    let (code, r) = fx.verify(&dir);
    assert_eq!(code, 1, "{r:#}");
    let c = codes(&r);
    let specific = r["findings"].as_array().unwrap().iter().find(|f| {
        (f["code"] == "record_malformed" || f["code"] == "record_signature")
            && f["log_index"] == index
    });
    assert!(specific.is_some(), "no finding at log index {index}: {c:?}");
    assert!(c.contains(&"inclusion".to_owned()), "{c:?}");
}

#[test]
fn dropped_record_is_detected_as_a_gap() {
    let fx = fixture();
    let mut recs = records_of(&fx.files);
    let (dropped_index, dropped) = recs.remove(10);
    let dropped = Record::decode(&dropped).unwrap();
    let dir = fx.write("dropped", &with_records(&fx.files, &recs));
    let (code, r) = fx.verify(&dir);
    assert_eq!(code, 1, "{r:#}");
    let gap = finding(&r, "chain_gap");
    assert_eq!(gap["chain"], dropped.chain().to_string());
    assert_eq!(gap["sequence"], dropped.sequence());
    assert!(gap["message"]
        .as_str()
        .unwrap()
        .contains(&format!("sequence {} is missing", dropped.sequence())));
    // The records on either side are named; the one after is logged after the drop.
    assert!(gap["log_index"].as_u64().unwrap() > dropped_index);
    let c = codes(&r);
    assert!(
        c.contains(&"manifest_mismatch".to_owned()) && c.contains(&"inclusion".to_owned()),
        "{c:?}"
    );
}

#[test]
fn dropped_last_record_is_detected_against_the_declared_range() {
    let fx = fixture();
    let mut recs = records_of(&fx.files);
    let (_, last) = recs.pop().unwrap();
    let last = Record::decode(&last).unwrap();
    let mut files = with_records(&fx.files, &recs);
    // Even with the manifest's count adjusted, the declared range exposes the drop.
    let mut m: Value = serde_json::from_slice(&files.manifest).unwrap();
    m["record_count"] = Value::from(recs.len());
    files.manifest = serde_json::to_vec(&m).unwrap();
    let dir = fx.write("dropped-last", &files);
    let (code, r) = fx.verify(&dir);
    assert_eq!(code, 1);
    let f = finding(&r, "chain_bounds");
    assert_eq!(f["chain"], last.chain().to_string());
    assert_eq!(f["sequence"], last.sequence());
}

#[test]
fn swapped_records_are_detected_as_reordering() {
    let fx = fixture();
    let mut recs = records_of(&fx.files);
    // Records 0 and 3 of the package are sequences 1 and 2 of the same appliance
    // (three appliances, interleaved); swap their bytes, keeping the log indexes.
    let a = Record::decode(&recs[0].1).unwrap();
    let b = Record::decode(&recs[3].1).unwrap();
    assert_eq!(a.chain(), b.chain());
    let tmp = recs[0].1.clone();
    recs[0].1 = recs[3].1.clone();
    recs[3].1 = tmp;
    let dir = fx.write("swapped", &with_records(&fx.files, &recs));
    let (code, r) = fx.verify(&dir);
    assert_eq!(code, 1, "{r:#}");
    let f = finding(&r, "chain_reordered");
    assert_eq!(f["chain"], a.chain().to_string());
    assert_eq!(f["sequence"], a.sequence());
    assert_eq!(f["log_index"], recs[3].0);
    assert!(codes(&r).contains(&"inclusion".to_owned()));
}

/// The record's signature replaced by a valid Ed25519 signature of the same message by
/// another key (the key id field still names the appliance's key).
fn forge(record: &Record, attacker: &SigningKey) -> Vec<u8> {
    use ed25519_dalek::Signer as _;
    let bytes = record.encode();
    let sig = attacker.sign(&record.signing_message()).to_bytes();
    let mut forged = bytes.clone();
    let at = forged.len() - 64;
    assert_eq!(&forged[at..], &record.signature().to_bytes()[..]);
    forged[at..].copy_from_slice(&sig);
    forged
}

#[test]
fn forged_signature_is_detected() {
    // On a copy: the record's bytes replaced by the forgery.
    let fx = fixture();
    let mut recs = records_of(&fx.files);
    let original = Record::decode(&recs[5].1).unwrap();
    recs[5].1 = forge(&original, &key("attacker"));
    let dir = fx.write("forged", &with_records(&fx.files, &recs));
    let (code, r) = fx.verify(&dir);
    assert_eq!(code, 1);
    let f = finding(&r, "record_signature");
    assert_eq!(f["log_index"], recs[5].0);
    assert_eq!(f["chain"], original.chain().to_string());

    // In the log itself (proofs valid): the signature is the only finding.
    let mut sim = scenario();
    let c = chain("clinic-1", "box-1");
    let real = sim.appliance_key(&c);
    let rec = sim.next_record_signed_by(&c, 99, &real);
    let index = sim.append_bytes(forge(&rec, &key("attacker")));
    let fx = fixture_for(sim, &["clinic-1", "clinic-2"]);
    let dir = fx.write("forged-in-log", &fx.files);
    let (code, r) = fx.verify(&dir);
    assert_eq!(code, 1);
    // The chain links by record hash, and the forgery's hash differs from the signed
    // record's, but it is the chain's last record so nothing links to it.
    assert_eq!(codes(&r), vec!["record_signature".to_owned()], "{r:#}");
    assert_eq!(finding(&r, "record_signature")["log_index"], index);
}

#[test]
fn record_signed_by_a_revoked_key_is_detected() {
    let mut sim = scenario();
    let c = chain("clinic-1", "box-2");
    let revoked_at = sim.revoke(&c);
    // The log (misbehaving) accepts a record signed by the revoked key afterwards.
    let old = sim.appliance_key(&c);
    let rec = sim.next_record_signed_by(&c, 50, &old);
    let index = sim.append_bytes(rec.encode());
    let fx = fixture_for(sim, &["clinic-1", "clinic-2"]);
    let dir = fx.write("revoked", &fx.files);
    let (code, r) = fx.verify(&dir);
    assert_eq!(code, 1);
    assert_eq!(codes(&r), vec!["record_key".to_owned()], "{r:#}");
    let f = finding(&r, "record_key");
    assert_eq!(f["log_index"], index);
    assert_eq!(f["chain"], "clinic-1/box-2");
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("revoked at log index {revoked_at}")),
        "{msg}"
    );
}

#[test]
fn wrong_checkpoint_signature_is_detected() {
    let fx = fixture();
    let note = String::from_utf8(fx.files.checkpoint.clone()).unwrap();
    // A signature byte changed (the base64 stays valid).
    let mut flipped = note.clone().into_bytes();
    let at = note.rfind(' ').unwrap() + 20;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    // A signature by another key under the log's name.
    let body = body_of(&note);
    let impostor =
        ledger_core::note::NoteSigner::new("example.com/evidence-log", &[9; 32]).unwrap();
    let other = impostor.sign(&body).unwrap().into_bytes();
    for (name, checkpoint) in [("cp-flipped", flipped), ("cp-impostor", other)] {
        let mut files = fx.files.clone();
        files.checkpoint = checkpoint;
        let dir = fx.write(name, &files);
        let (code, r) = fx.verify(&dir);
        assert_eq!(code, 1, "{name}");
        assert_eq!(
            codes(&r),
            vec!["checkpoint_signature".to_owned()],
            "{name}: {r:#}"
        );
        assert_eq!(r["log"]["signature_valid"], false);
    }
}

#[test]
fn stamp_for_another_checkpoint_is_detected() {
    let fx = fixture();
    // A perfectly good stamp, with a matching header, of another checkpoint body.
    let other_body = "example.com/evidence-log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let (ots, header) = stamp(other_body.as_bytes(), HEIGHT, TIME);
    let mut files = fx.files.clone();
    files.timestamp = Some(ots);
    let dir = fx.write("other-stamp", &files);
    let headers = fx.dir.path().join("other-headers.txt");
    std::fs::write(&headers, header).unwrap();
    let vkey = fx.sim.vkey();
    let (code, out, _) = run(&[
        "--json",
        "package",
        dir.to_str().unwrap(),
        "--key",
        &vkey,
        "--block-headers",
        headers.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(codes(&r), vec!["stamp_digest".to_owned()], "{r:#}");
    assert_eq!(r["anchor"]["status"], "invalid");

    // A stamp whose attestation contradicts the trusted header.
    let mut hb = hex::decode(fx.headers.split_whitespace().nth(1).unwrap()).unwrap();
    hb[50] ^= 0x80;
    std::fs::write(fx.headers_file(), format!("{HEIGHT} {}\n", hex::encode(hb))).unwrap();
    let good = fx.write("good-stamp", &fx.files);
    let (code, out, _) = run(&[
        "--json",
        "package",
        good.to_str().unwrap(),
        "--key",
        &vkey,
        "--block-headers",
        fx.dir.path().join("trusted-headers.txt").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(codes(&r), vec!["stamp_header_mismatch".to_owned()], "{r:#}");
}

#[test]
fn missing_declared_stamp_and_package_headers() {
    let fx = fixture();
    let mut files = fx.files.clone();
    files.timestamp = None;
    let dir = fx.write("no-stamp", &files);
    let (code, r) = fx.verify(&dir);
    assert_eq!(code, 1);
    assert_eq!(codes(&r), vec!["stamp_missing".to_owned()]);

    // Headers shipped in the package are used, but reported as not independently trusted.
    let sim = scenario();
    let body = body_of(&sim.checkpoint());
    let (ots, headers) = stamp(body.as_bytes(), HEIGHT, TIME);
    let files = package_files(&sim, &["clinic-1", "clinic-2"], Some(&ots), Some(&headers));
    let dir = fx.write("package-headers", &files);
    let vkey = sim.vkey();
    let (code, out, _) = run(&["--json", "package", dir.to_str().unwrap(), "--key", &vkey]);
    assert_eq!(code, 0, "{out}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["anchor"]["status"], "package_headers");
    assert_eq!(r["anchor"]["height"], HEIGHT);
}

#[test]
fn one_site_and_a_window_starting_mid_chain() {
    let sim = scenario();
    let body = body_of(&sim.checkpoint());
    let (ots, headers) = stamp(body.as_bytes(), HEIGHT, TIME);
    // clinic-1 only, from log index 15 on: each chain starts mid-way.
    let files = package_files_with(&sim, &["clinic-1"], |i, _| i >= 15, Some(&ots), None);
    let m: Value = serde_json::from_slice(&files.manifest).unwrap();
    let chains = m["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 2);
    assert!(chains
        .iter()
        .all(|c| c["first_sequence"].as_u64().unwrap() > 1));
    let fx = Fixture {
        sim,
        files,
        headers,
        dir: tempfile::tempdir().unwrap(),
    };
    let dir = fx.write("window", &fx.files);
    let (code, r) = fx.verify(&dir);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["appliances"].as_array().unwrap().len(), 2);

    // Dropping the window's first record of a chain is a gap, not a new start.
    let mut recs = records_of(&fx.files);
    let (_, first) = recs.remove(0);
    let first = Record::decode(&first).unwrap();
    let mut files = with_records(&fx.files, &recs);
    let mut m: Value = serde_json::from_slice(&files.manifest).unwrap();
    m["record_count"] = Value::from(recs.len());
    files.manifest = serde_json::to_vec(&m).unwrap();
    let dir = fx.write("window-dropped", &files);
    let (code, r) = fx.verify(&dir);
    assert_eq!(code, 1);
    let gap = finding(&r, "chain_gap");
    assert_eq!(gap["sequence"], first.sequence());
    assert_eq!(gap["chain"], first.chain().to_string());

    // A record of another site slipped in is out of scope.
    let mut recs = records_of(&fx.files);
    let foreign_index = (0..fx.sim.entries.len() as u64)
        .find(|&i| {
            i >= 15
                && Record::decode(&fx.sim.entries[i as usize])
                    .unwrap()
                    .site_id()
                    .as_str()
                    == "clinic-2"
        })
        .unwrap();
    recs.push((
        foreign_index,
        fx.sim.entries[foreign_index as usize].clone(),
    ));
    recs.sort_by_key(|r| r.0);
    let dir = fx.write("foreign", &with_records(&fx.files, &recs));
    let (code, r) = fx.verify(&dir);
    assert_eq!(code, 1);
    let c = codes(&r);
    assert!(
        c.contains(&"out_of_scope".to_owned()) && c.contains(&"undeclared_chain".to_owned()),
        "{c:?}"
    );
}

#[test]
fn dropped_revocation_breaks_the_operator_chain() {
    let mut sim = scenario();
    let c = chain("clinic-1", "box-2");
    sim.revoke(&c);
    sim.enrol(&chain("clinic-2", "box-4"));
    let fx = fixture_for(sim, &["clinic-1", "clinic-2"]);
    let keys = EntryFile::parse(fx.files.keys.clone(), &KEYS_MAGIC, "keys.bin").unwrap();
    let mut entries: Vec<(u64, Vec<u8>)> = keys.iter().map(|(i, b)| (i, b.to_vec())).collect();
    assert_eq!(entries.len(), 5);
    entries.remove(3);
    let mut files = fx.files.clone();
    files.keys =
        EntryFile::encode(&KEYS_MAGIC, entries.iter().map(|(i, b)| (*i, b.as_slice()))).unwrap();
    let dir = fx.write("no-revocation", &files);
    let (code, r) = fx.verify(&dir);
    assert_eq!(code, 1);
    let gap = finding(&r, "chain_gap");
    assert_eq!(gap["chain"], "operator/ledger-operator");
    assert_eq!(gap["sequence"], 4);
}

#[test]
fn citations_round_trip() {
    let fx = fixture();
    let dir = fx.write("cite", &fx.files);
    let vkey = fx.sim.vkey();
    let recs = records_of(&fx.files);
    let index = recs[4].0.to_string();
    let (code, out, _) = run(&[
        "--json",
        "package",
        dir.to_str().unwrap(),
        "--key",
        &vkey,
        "--cite",
        &index,
    ]);
    assert_eq!(code, 0);
    let r: Value = serde_json::from_str(&out).unwrap();
    let citation = r["citation"].as_str().unwrap().to_owned();
    assert!(
        citation.starts_with(&format!(
            "evidence-ledger:v1:example.com/evidence-log:{index}:39:"
        )),
        "{citation}"
    );
    let (code, out, err) = run(&[
        "cite",
        &citation,
        "--package",
        dir.to_str().unwrap(),
        "--key",
        &vkey,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Citation valid"), "{out}");
    let (code, out, _) = run(&[
        "--json",
        "cite",
        &citation,
        "--package",
        dir.to_str().unwrap(),
        "--key",
        &vkey,
    ]);
    assert_eq!(code, 0);
    let j: Value = serde_json::from_str(&out).unwrap();
    let expected = Record::decode(&recs[4].1).unwrap();
    assert_eq!(j["chain"], expected.chain().to_string());
    assert_eq!(j["sequence"], expected.sequence());

    // A citation of another root, another index, or against a tampered package fails.
    let other_root = format!(
        "{}{}",
        &citation[..citation.len() - 1],
        if citation.ends_with('A') { "Q" } else { "A" }
    );
    assert_eq!(
        run(&[
            "cite",
            &other_root,
            "--package",
            dir.to_str().unwrap(),
            "--key",
            &vkey
        ])
        .0,
        1
    );
    let not_in = citation.replace(&format!(":{index}:"), ":0:");
    assert_eq!(
        run(&[
            "cite",
            &not_in,
            "--package",
            dir.to_str().unwrap(),
            "--key",
            &vkey
        ])
        .0,
        0,
        "index 0 is a key record, which the package proves too"
    );
    // A package of clinic-1 only does not hold clinic-2's records.
    let clinic1 = fx.write(
        "cite-clinic-1",
        &package_files(&fx.sim, &["clinic-1"], None, None),
    );
    let clinic2_index = (0..fx.sim.entries.len())
        .find(|&i| {
            Record::decode(&fx.sim.entries[i])
                .unwrap()
                .site_id()
                .as_str()
                == "clinic-2"
        })
        .unwrap();
    let missing = citation.replace(&format!(":{index}:"), &format!(":{clinic2_index}:"));
    let (code, _, err) = run(&[
        "cite",
        &missing,
        "--package",
        clinic1.to_str().unwrap(),
        "--key",
        &vkey,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no record at log index"), "{err}");
    let mut tampered = records_of(&fx.files);
    let mid = tampered[4].1.len() / 2;
    tampered[4].1[mid] ^= 1;
    let bad_dir = fx.write("cite-tampered", &with_records(&fx.files, &tampered));
    assert_eq!(
        run(&[
            "cite",
            &citation,
            "--package",
            bad_dir.to_str().unwrap(),
            "--key",
            &vkey
        ])
        .0,
        1
    );
    assert_eq!(
        run(&[
            "cite",
            "evidence-ledger:v1:x",
            "--package",
            dir.to_str().unwrap(),
            "--key",
            &vkey
        ])
        .0,
        2
    );
    // --cite of an index the package does not hold is a usage error.
    assert_eq!(
        run(&[
            "package",
            dir.to_str().unwrap(),
            "--key",
            &vkey,
            "--cite",
            "1000"
        ])
        .0,
        2
    );
}

#[test]
fn malformed_packages_exit_2() {
    let fx = fixture();
    let vkey = fx.sim.vkey();
    let check = |name: &str, files: &PackageFiles, expect_in_err: &str| {
        let dir = fx.write(name, files);
        let (code, out, err) = run(&["package", dir.to_str().unwrap(), "--key", &vkey]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(expect_in_err), "{name}: {err}");
        assert!(!err.contains("panicked"));
    };
    let mut f = fx.files.clone();
    f.manifest = b"{not json".to_vec();
    check("bad-json", &f, "package.json");
    let mut m: Value = serde_json::from_slice(&fx.files.manifest).unwrap();
    m["surprise"] = Value::from(1);
    let mut f = fx.files.clone();
    f.manifest = serde_json::to_vec(&m).unwrap();
    check("unknown-field", &f, "surprise");
    let mut m: Value = serde_json::from_slice(&fx.files.manifest).unwrap();
    m["version"] = Value::from(2);
    let mut f = fx.files.clone();
    f.manifest = serde_json::to_vec(&m).unwrap();
    check("version-2", &f, "version 2");
    let mut f = fx.files.clone();
    f.records.truncate(f.records.len() - 3);
    check("truncated-records", &f, "records.bin");
    let mut f = fx.files.clone();
    f.proof.push(0);
    check("odd-proof", &f, "proof.bin");
    let mut f = fx.files.clone();
    f.checkpoint = b"not a note".to_vec();
    check("bad-checkpoint", &f, "checkpoint");
    // Entries out of log order are a format violation, not a finding.
    let mut recs = records_of(&fx.files);
    recs.swap(0, 1);
    let mut raw = RECORDS_MAGIC.to_vec();
    raw.extend_from_slice(&(recs.len() as u64).to_be_bytes());
    for (i, b) in &recs {
        raw.extend_from_slice(&i.to_be_bytes());
        raw.extend_from_slice(&(b.len() as u32).to_be_bytes());
        raw.extend_from_slice(b);
    }
    let mut f = fx.files.clone();
    f.records = raw;
    check("unordered", &f, "strictly increasing");
    // A missing file.
    let dir = fx.write("missing-keys", &fx.files);
    std::fs::remove_file(dir.join("keys.bin")).unwrap();
    let (code, _, err) = run(&["package", dir.to_str().unwrap(), "--key", &vkey]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("keys.bin"), "{err}");
}

/// The chunked, pipelined record checks give the same report whatever the chunk size,
/// on a valid package and on one with findings in several chunks.
#[test]
fn chunk_size_does_not_change_the_report() {
    use verifier::package::{verify_package, Package, VerifyOptions};
    let fx = fixture();
    let mut recs = records_of(&fx.files);
    recs.remove(20);
    let original = Record::decode(&recs[3].1).unwrap();
    recs[3].1 = forge(&original, &key("attacker"));
    let tampered = with_records(&fx.files, &recs);
    let log_key = ledger_core::note::NoteVerifier::parse(&fx.sim.vkey()).unwrap();
    for files in [&fx.files, &tampered] {
        let pkg = Package::parse(files.clone()).unwrap();
        let reports: Vec<_> = [1usize, 2, 5, 7, 1000]
            .into_iter()
            .map(|chunk| {
                let mut opts = VerifyOptions::new(&log_key);
                opts.chunk_size = chunk;
                verify_package(&pkg, &opts)
            })
            .collect();
        for r in &reports[1..] {
            assert_eq!(r, &reports[0]);
        }
        assert_eq!(reports[0].valid, std::ptr::eq(files, &fx.files));
    }
}
