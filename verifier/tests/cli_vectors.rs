//! Every shared vector through the `ledger-verify` binary: RFC 6962 proofs, the
//! transparency-dev probes, receipts built from the signed checkpoint vectors, and the
//! OpenTimestamps files. Exit codes: 0 valid, 1 checked and invalid, 2 malformed.
//!
//! Policy for the probes (documented in `hashes.rs` and docs/EVIDENCE_PACKAGE.md §10):
//! a hash that is not base64 of exactly 32 bytes is malformed input (exit 2), as is a
//! consistency check from size 0 or a negative number; everything else follows the
//! probe's `wantErr` (exit 1 or 0). One upstream probe is affected in the stricter
//! direction: "sizes are equal (one) and proof is empty" with 12-byte "roots", which Go
//! accepts because equal sizes need no hashing.

mod support;

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;
use support::{run, vectors_dir};

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write(dir: &Path, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

fn hex_to_b64(h: &str) -> String {
    STANDARD.encode(hex::decode(h).unwrap())
}

fn proof_text(hashes_b64: &[String]) -> String {
    hashes_b64.iter().map(|h| format!("{h}\n")).collect()
}

fn inclusion(
    dir: &Path,
    leaf: &str,
    index: &str,
    size: &str,
    root: &str,
    proof: &[String],
) -> (i32, String, String) {
    let p = write(dir, "proof", proof_text(proof));
    run(&[
        "inclusion",
        "--leaf-hash",
        leaf,
        "--index",
        index,
        "--size",
        size,
        "--root",
        root,
        "--proof",
        p.to_str().unwrap(),
    ])
}

fn consistency(
    dir: &Path,
    s1: &str,
    r1: &str,
    s2: &str,
    r2: &str,
    proof: &[String],
) -> (i32, String, String) {
    let p = write(dir, "proof", proof_text(proof));
    run(&[
        "consistency",
        "--size1",
        s1,
        "--root1",
        r1,
        "--size2",
        s2,
        "--root2",
        r2,
        "--proof",
        p.to_str().unwrap(),
    ])
}

fn flip_b64(h: &str, bit: usize) -> String {
    let mut b = STANDARD.decode(h).unwrap();
    b[bit / 8] ^= 1 << (bit % 8);
    STANDARD.encode(b)
}

#[test]
fn rfc6962_inclusion_proofs_verify_and_bit_flips_fail() {
    let v = json(&vectors_dir().join("merkle/rfc6962.json"));
    let d = tmp();
    let proofs = v["inclusion_proofs"].as_array().unwrap();
    assert_eq!(proofs.len(), 36);
    for p in proofs {
        let leaf = hex_to_b64(p["leaf_hash"].as_str().unwrap());
        let root = hex_to_b64(p["root"].as_str().unwrap());
        let index = p["leaf_index"].to_string();
        let size = p["tree_size"].to_string();
        let path: Vec<String> = p["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hex_to_b64(h.as_str().unwrap()))
            .collect();
        let (code, out, err) = inclusion(d.path(), &leaf, &index, &size, &root, &path);
        assert_eq!(code, 0, "{p}: {out}{err}");
        assert!(out.contains("Inclusion proof valid"), "{out}");
        for k in 0..path.len() {
            let mut bad = path.clone();
            bad[k] = flip_b64(&bad[k], 100);
            let (code, _, err) = inclusion(d.path(), &leaf, &index, &size, &root, &bad);
            assert_eq!(code, 1, "flipped hash {k} of {p}: {err}");
        }
        let (code, _, _) = inclusion(d.path(), &flip_b64(&leaf, 3), &index, &size, &root, &path);
        assert_eq!(code, 1);
        let mut longer = path.clone();
        longer.push(root.clone());
        assert_eq!(
            inclusion(d.path(), &leaf, &index, &size, &root, &longer).0,
            1
        );
    }
}

#[test]
fn rfc6962_consistency_proofs_verify_and_bit_flips_fail() {
    let v = json(&vectors_dir().join("merkle/rfc6962.json"));
    let d = tmp();
    let proofs = v["consistency_proofs"].as_array().unwrap();
    assert_eq!(proofs.len(), 36);
    for p in proofs {
        let r1 = hex_to_b64(p["root1"].as_str().unwrap());
        let r2 = hex_to_b64(p["root2"].as_str().unwrap());
        let s1 = p["size1"].to_string();
        let s2 = p["size2"].to_string();
        let path: Vec<String> = p["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hex_to_b64(h.as_str().unwrap()))
            .collect();
        let (code, out, err) = consistency(d.path(), &s1, &r1, &s2, &r2, &path);
        assert_eq!(code, 0, "{p}: {out}{err}");
        for k in 0..path.len() {
            let mut bad = path.clone();
            bad[k] = flip_b64(&bad[k], 200);
            assert_eq!(
                consistency(d.path(), &s1, &r1, &s2, &r2, &bad).0,
                1,
                "{p} flip {k}"
            );
        }
        assert_eq!(
            consistency(d.path(), &s1, &flip_b64(&r1, 0), &s2, &r2, &path).0,
            1
        );
    }
    // Consistency from size 0 is refused as a usage error, whatever the roots.
    let empty = hex_to_b64(v["empty_tree_root"].as_str().unwrap());
    let (code, _, err) = consistency(d.path(), "0", &empty, "0", &empty, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("size 0"), "{err}");
}

fn is_hash_b64(v: &Value) -> bool {
    v.as_str()
        .and_then(|s| STANDARD.decode(s).ok())
        .is_some_and(|b| b.len() == 32)
}

fn probe_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            probe_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

fn proof_list(v: &Value) -> Vec<Value> {
    v["proof"].as_array().cloned().unwrap_or_default()
}

#[test]
fn inclusion_probes() {
    let mut files = Vec::new();
    probe_files(&vectors_dir().join("merkle/probes/inclusion"), &mut files);
    assert!(files.len() >= 90, "found {} probes", files.len());
    let d = tmp();
    let (mut ok, mut invalid, mut malformed) = (0, 0, 0);
    for f in files {
        let v = json(&f);
        let proof = proof_list(&v);
        let well_formed = is_hash_b64(&v["leafHash"])
            && is_hash_b64(&v["root"])
            && proof.iter().all(is_hash_b64)
            && v["leafIdx"].as_u64().is_some()
            && v["treeSize"].as_u64().is_some();
        let expected = match (well_formed, v["wantErr"].as_bool().unwrap()) {
            (false, _) => 2,
            (true, true) => 1,
            (true, false) => 0,
        };
        let proof: Vec<String> = proof
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        let (code, out, err) = inclusion(
            d.path(),
            v["leafHash"].as_str().unwrap(),
            &v["leafIdx"].to_string(),
            &v["treeSize"].to_string(),
            v["root"].as_str().unwrap(),
            &proof,
        );
        assert_eq!(code, expected, "{}: {out}{err}", f.display());
        assert!(!err.contains("panicked"), "{err}");
        match code {
            0 => ok += 1,
            1 => invalid += 1,
            _ => malformed += 1,
        }
    }
    assert!(
        ok > 0 && invalid > 0 && malformed > 0,
        "{ok} {invalid} {malformed}"
    );
}

#[test]
fn consistency_probes() {
    let mut files = Vec::new();
    probe_files(&vectors_dir().join("merkle/probes/consistency"), &mut files);
    assert!(files.len() >= 90, "found {} probes", files.len());
    let d = tmp();
    let mut stricter = Vec::new();
    for f in files {
        let v = json(&f);
        let proof = proof_list(&v);
        let well_formed = is_hash_b64(&v["root1"])
            && is_hash_b64(&v["root2"])
            && proof.iter().all(is_hash_b64)
            && v["size1"].as_u64().is_some()
            && v["size2"].as_u64().is_some();
        let want_err = v["wantErr"].as_bool().unwrap();
        let expected = if !well_formed || v["size1"].as_u64() == Some(0) {
            2
        } else if want_err {
            1
        } else {
            0
        };
        if expected == 2 && !want_err {
            stricter.push(f.file_name().unwrap().to_string_lossy().into_owned());
        }
        let proof: Vec<String> = proof
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        let (code, out, err) = consistency(
            d.path(),
            &v["size1"].to_string(),
            v["root1"].as_str().unwrap(),
            &v["size2"].to_string(),
            v["root2"].as_str().unwrap(),
            &proof,
        );
        assert_eq!(code, expected, "{}: {out}{err}", f.display());
        assert!(!err.contains("panicked"), "{err}");
    }
    // Exactly the documented deviation, and only it.
    assert_eq!(
        stricter,
        vec!["sizes-are-equal-one-and-proof-is-empty.json".to_owned()]
    );
}

/// Receipts (C2SP tlog-proof) assembled from the RFC 6962 proofs and the signed
/// checkpoints of the same tree in signed_note.json.
#[test]
fn receipts_from_signed_checkpoint_vectors() {
    let tree = json(&vectors_dir().join("merkle/rfc6962.json"));
    let notes = json(&vectors_dir().join("merkle/signed_note.json"));
    let gen = &notes["generated_checkpoints"];
    let vkey = gen["vkey"].as_str().unwrap();
    let d = tmp();
    let key_file = write(d.path(), "log.vkey", format!("{vkey}\n"));
    let key_arg = format!("@{}", key_file.display());
    let leaves: Vec<Vec<u8>> = tree["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| hex::decode(l.as_str().unwrap()).unwrap())
        .collect();
    let mut checked = 0;
    for cp in gen["checkpoints"].as_array().unwrap() {
        let size = cp["tree_size"].as_u64().unwrap();
        let note = cp["signed_note"].as_str().unwrap();
        for p in tree["inclusion_proofs"].as_array().unwrap() {
            if p["tree_size"].as_u64() != Some(size) {
                continue;
            }
            let index = p["leaf_index"].as_u64().unwrap();
            let mut receipt = format!("c2sp.org/tlog-proof@v1\nindex {index}\n");
            for h in p["path"].as_array().unwrap() {
                receipt.push_str(&hex_to_b64(h.as_str().unwrap()));
                receipt.push('\n');
            }
            receipt.push('\n');
            receipt.push_str(note);
            let rf = write(d.path(), "r.tlog-proof", &receipt);
            let entry = write(d.path(), "entry", &leaves[index as usize]);
            let (rf, entry) = (rf.to_str().unwrap(), entry.to_str().unwrap());
            for key in [vkey, key_arg.as_str()] {
                let (code, out, err) = run(&["receipt", rf, "--entry", entry, "--key", key]);
                assert_eq!(code, 0, "size {size} index {index}: {out}{err}");
                assert!(
                    out.contains(&format!(
                        "index {index} of log example.com/rfc6962-test-log, tree size {size}"
                    )),
                    "{out}"
                );
            }
            let (code, out, _) = run(&["--json", "receipt", rf, "--entry", entry, "--key", vkey]);
            assert_eq!(code, 0);
            let j: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(j["valid"], true);
            assert_eq!(j["index"], index);
            assert_eq!(j["tree_size"], size);
            // Another entry's bytes: checked and invalid.
            let other = write(
                d.path(),
                "other",
                &leaves[(index as usize + 1) % leaves.len()],
            );
            let (code, _, err) = run(&[
                "receipt",
                rf,
                "--entry",
                other.to_str().unwrap(),
                "--key",
                vkey,
            ]);
            assert_eq!(code, 1, "{err}");
            // A key of another log: no verifiable signature, invalid.
            let foreign = notes["vectors"][0]["vkey"].as_str().unwrap();
            assert_eq!(
                run(&["receipt", rf, "--entry", entry, "--key", foreign]).0,
                1
            );
            // A corrupted signature: invalid.
            let sig_at = receipt.rfind(' ').unwrap() + 10;
            let mut bad = receipt.clone().into_bytes();
            bad[sig_at] = if bad[sig_at] == b'A' { b'B' } else { b'A' };
            let bf = write(d.path(), "bad.tlog-proof", &bad);
            assert_eq!(
                run(&[
                    "receipt",
                    bf.to_str().unwrap(),
                    "--entry",
                    entry,
                    "--key",
                    vkey
                ])
                .0,
                1
            );
            // Malformed receipts and keys: exit 2.
            let mf = write(
                d.path(),
                "m.tlog-proof",
                receipt.replacen("tlog-proof@v1", "tlog-proof@v2", 1),
            );
            assert_eq!(
                run(&[
                    "receipt",
                    mf.to_str().unwrap(),
                    "--entry",
                    entry,
                    "--key",
                    vkey
                ])
                .0,
                2
            );
            let cut = write(d.path(), "c.tlog-proof", &receipt[..receipt.len() / 2]);
            assert_eq!(
                run(&[
                    "receipt",
                    cut.to_str().unwrap(),
                    "--entry",
                    entry,
                    "--key",
                    vkey
                ])
                .0,
                2
            );
            assert_eq!(
                run(&["receipt", rf, "--entry", entry, "--key", "not-a-key"]).0,
                2
            );
            checked += 1;
        }
    }
    // Sizes 1, 7 and 8 have 1 + 7 + 8 leaves; size 0 has none.
    assert_eq!(checked, 16);
}

fn ots_dir() -> PathBuf {
    vectors_dir().join("ots")
}

fn ots_info(file: &Path) -> (i32, Value, String) {
    let (code, out, err) = run(&["--json", "ots", "info", file.to_str().unwrap()]);
    (code, serde_json::from_str(&out).unwrap_or(Value::Null), err)
}

#[test]
fn ots_info_known_facts() {
    let (code, j, err) = ots_info(&ots_dir().join("hello-world.txt.ots"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        j,
        serde_json::json!({
            "file_hash_op": "sha256",
            "file_digest": hex::encode(sha256(&std::fs::read(ots_dir().join("hello-world.txt")).unwrap())),
            "attestations": [{"type": "bitcoin", "height": 358391,
                "merkle_root": "8a1b66ecb7cbd07d8139a7e7d7f2c41aab1f5009b8364aaf61d03ad245e47e00"}]
        })
    );
    let (code, j, _) = ots_info(&ots_dir().join("incomplete.txt.ots"));
    assert_eq!(code, 0);
    let a = j["attestations"].as_array().unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["type"], "pending");
    assert_eq!(
        a[0]["commitment"],
        "57cfa5c46716df9bd9e83595bce439c58108d8fcc1678f30d4c6731c3f1fa6c79ed712c66fb1ac8d4e4eb0e7"
    );
    assert!(a[0]["uri"].as_str().unwrap().starts_with("https://"));
    // The upgraded file keeps the pending attestation and gains Bitcoin block 428648.
    let (code, j, _) = ots_info(&ots_dir().join("calendar_responses/incomplete.txt.upgraded.ots"));
    assert_eq!(code, 0);
    let types: Vec<(&str, Option<u64>)> = j["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["type"].as_str().unwrap(), a["height"].as_u64()))
        .collect();
    assert!(types.contains(&("pending", None)), "{types:?}");
    assert!(types.contains(&("bitcoin", Some(428648))), "{types:?}");
}

fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).to_vec()
}

/// Every valid upstream `.ots` file lists its stamped file's SHA-256 and at least one
/// attestation of the documented JSON shape.
#[test]
fn ots_info_every_vector() {
    let mut seen_types = std::collections::BTreeSet::new();
    let mut files = 0;
    for e in std::fs::read_dir(ots_dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "ots") {
            continue;
        }
        files += 1;
        let (code, j, err) = ots_info(&p);
        assert_eq!(code, 0, "{}: {err}", p.display());
        let target = p.with_extension("");
        assert_eq!(j["file_hash_op"], "sha256");
        assert_eq!(
            j["file_digest"],
            hex::encode(sha256(&std::fs::read(&target).unwrap())),
            "{}",
            p.display()
        );
        let atts = j["attestations"].as_array().unwrap();
        assert!(!atts.is_empty());
        for a in atts {
            let t = a["type"].as_str().unwrap();
            seen_types.insert(t.to_owned());
            let keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
            let expected: &[&str] = match t {
                "bitcoin" | "litecoin" => &["height", "merkle_root", "type"],
                "ethereum" => &["height", "type"],
                "pending" => &["commitment", "type", "uri"],
                "unknown" => &["tag", "type"],
                other => panic!("unexpected type {other}"),
            };
            assert_eq!(keys, expected);
            if t == "unknown" {
                assert_eq!(a["tag"].as_str().unwrap().len(), 16);
            }
        }
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("two-calendars") {
            assert_eq!(atts.iter().filter(|a| a["type"] == "pending").count(), 2);
        }
        if name.starts_with("unknown-notary") || name.starts_with("known-and-unknown") {
            assert!(atts.iter().any(|a| a["type"] == "unknown"), "{name}");
        }
    }
    assert_eq!(files, 8);
    assert!(
        seen_types.contains("unknown")
            && seen_types.contains("pending")
            && seen_types.contains("bitcoin")
    );
}

#[test]
fn ots_invalid_files_are_malformed() {
    for name in ["bad-major-version.ots", "exceeds-max-msg-length.ots"] {
        let p = ots_dir().join("invalid").join(name);
        let (code, out, err) = run(&["ots", "info", p.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.starts_with("error: "), "{err}");
        assert!(!err.contains("panicked"));
    }
    // Truncations of a valid file are malformed too, never a panic.
    let bytes = std::fs::read(ots_dir().join("hello-world.txt.ots")).unwrap();
    let d = tmp();
    for cut in [0, 10, 31, 32, 33, 60, bytes.len() - 1] {
        let p = write(d.path(), "cut.ots", &bytes[..cut]);
        let (code, _, err) = run(&["--json", "ots", "info", p.to_str().unwrap()]);
        assert_eq!(code, 2, "cut {cut}: {err}");
    }
}

#[test]
fn ots_verify_hello_world() {
    let d = tmp();
    let header = std::fs::read_to_string(ots_dir().join("headers/358391.hex")).unwrap();
    let headers = write(
        d.path(),
        "headers.txt",
        format!("358391 {}\n", header.trim()),
    );
    let ots = ots_dir().join("hello-world.txt.ots");
    let target = ots_dir().join("hello-world.txt");
    let args = |t: &Path, h: &Path| {
        vec![
            "ots".to_owned(),
            "verify".into(),
            ots.to_str().unwrap().into(),
            "--target".into(),
            t.to_str().unwrap().into(),
            "--block-headers".into(),
            h.to_str().unwrap().into(),
        ]
    };
    let call = |a: Vec<String>| run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, out, err) = call(args(&target, &headers));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("358391") && out.contains("1432827678"),
        "{out}"
    );
    let mut j = args(&target, &headers);
    j.insert(0, "--json".into());
    let (code, out, _) = call(j);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["height"].as_u64(), v["time"].as_u64()),
        (Some(358391), Some(1432827678))
    );

    // Another target: the digest does not match.
    let other = ots_dir().join("incomplete.txt");
    assert_eq!(call(args(&other, &headers)).0, 1);
    // A header whose Merkle root differs by one bit.
    let mut hb = hex::decode(header.trim()).unwrap();
    hb[40] ^= 1;
    let wrong = write(
        d.path(),
        "wrong.txt",
        format!("358391 {}\n", hex::encode(&hb)),
    );
    let (code, _, err) = call(args(&target, &wrong));
    assert_eq!(code, 1, "{err}");
    // No header for the attested block.
    let elsewhere = write(d.path(), "else.txt", format!("358392 {}\n", header.trim()));
    assert_eq!(call(args(&target, &elsewhere)).0, 1);
    // A pending-only stamp cannot be valid.
    let pending = ots_dir().join("incomplete.txt.ots");
    let mut a = args(&other, &headers);
    a[2] = pending.to_str().unwrap().into();
    assert_eq!(call(a).0, 1);
    // Malformed headers file and missing files: exit 2.
    let garbage = write(d.path(), "garbage.txt", "358391 zz\n");
    assert_eq!(call(args(&target, &garbage)).0, 2);
    assert_eq!(call(args(&d.path().join("missing"), &headers)).0, 2);
}

#[test]
fn malformed_command_lines_and_files() {
    let d = tmp();
    let good = STANDARD.encode([0u8; 32]);
    let proof = write(d.path(), "p", format!("{good}\n"));
    let p = proof.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["inclusion"],
        vec!["nonsense"],
        vec![
            "inclusion",
            "--leaf-hash",
            &good,
            "--index",
            "-1",
            "--size",
            "2",
            "--root",
            &good,
            "--proof",
            p,
        ],
        vec![
            "inclusion",
            "--leaf-hash",
            "AAAA",
            "--index",
            "0",
            "--size",
            "2",
            "--root",
            &good,
            "--proof",
            p,
        ],
        vec![
            "inclusion",
            "--leaf-hash",
            &good,
            "--index",
            "0",
            "--size",
            "2",
            "--root",
            &good,
            "--proof",
            "/nonexistent/proof",
        ],
        vec![
            "receipt",
            "/nonexistent.tlog-proof",
            "--entry",
            p,
            "--key",
            "x",
        ],
        vec![
            "package",
            "/nonexistent/package",
            "--key",
            "example.com/rfc6962-test-log+bdce588f+ASgNb/RP6DimuucjwneE/yy6IjIyC+W7hrWHPcF2p3do",
        ],
        vec![
            "cite",
            "not-a-citation",
            "--package",
            "/nonexistent",
            "--key",
            "x",
        ],
    ];
    for args in cases {
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!err.is_empty(), "{args:?} printed no reason");
    }
    // --json also reports malformed input as JSON on stdout.
    let (code, out, _) = run(&["--json", "ots", "info", "/nonexistent.ots"]);
    assert_eq!(code, 2);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["error_kind"], "malformed_or_unreadable");
}
