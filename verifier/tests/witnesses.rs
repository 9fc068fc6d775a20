//! Witness policies through the `ledger-verify` binary: real checkpoints signed with a
//! log key and cosigned (cosignature/v1) by three test witnesses, judged by a
//! tlog-policy of "2 of 3". The `checkpoint`, `receipt`, `package` and
//! `inclusion --tiles` commands each take `--policy`: a met quorum exits 0 and names the
//! cosigners, a missed one exits 1 naming the quorum, a tampered cosignature of a known
//! witness exits 1, an unknown extra cosigner is ignored, and a policy that does not
//! parse exits 2 with its line.

mod support;

use std::path::{Path, PathBuf};

use ledger_core::checkpoint::Checkpoint;
use ledger_core::cosignature::CosignatureSigner;
use ledger_core::note::{Note, NoteSigner};
use ledger_core::proof::inclusion_proof;
use ledger_core::receipt::Receipt;
use ledger_core::tree::MemoryTree;
use serde_json::Value;
use support::*;

const ORIGIN: &str = "example.com/evidence-log";
/// Cosignature timestamps: 2024-11-14T22:13:20Z and the seconds after it.
const T0: u64 = 1_731_622_400;

fn witness(i: u8) -> CosignatureSigner {
    CosignatureSigner::new(&format!("w{i}.example"), &[i; 32]).unwrap()
}

/// A policy with witnesses w1..w3 and a quorum of any two, under the name `two`.
fn policy_text() -> String {
    let mut s = String::from("# test witnesses\n");
    for i in 1..=3 {
        s.push_str(&format!(
            "witness W{i} {} https://w{i}.example/\n",
            witness(i).verifier().verifier_key()
        ));
    }
    s.push_str("group two 2 W1 W2 W3\nquorum two\n");
    s
}

fn log_signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, &[42; 32]).unwrap()
}

/// `note` with a cosignature by each of `signers` appended, at T0, T0 + 1, ...
fn cosign(note: &str, signers: &[CosignatureSigner]) -> String {
    let mut parsed = Note::parse(note.as_bytes()).unwrap();
    let body = parsed.text().to_owned();
    for (i, s) in signers.iter().enumerate() {
        let c = s.cosign(&body, T0 + i as u64).unwrap();
        parsed.push_signature(c.to_note_signature()).unwrap();
    }
    parsed.to_text()
}

/// A log of `n` entries and its signed (not yet cosigned) checkpoint note.
fn log_of(n: u64) -> (Vec<Vec<u8>>, MemoryTree, String) {
    let mut tree = MemoryTree::new();
    let entries: Vec<Vec<u8>> = (0..n).map(|i| format!("entry {i}").into_bytes()).collect();
    for e in &entries {
        tree.push_entry(e);
    }
    let cp = Checkpoint {
        origin: ORIGIN.to_owned(),
        size: tree.size(),
        root: tree.root(),
        extensions: vec![],
    };
    let note = cp.sign(&log_signer()).unwrap().as_str().to_owned();
    (entries, tree, note)
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }

    fn write(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `checkpoint FILE --key K --policy P` with `--json`: (code, output, stderr).
fn checkpoint_cmd(note: &str, policy: &str) -> (i32, Value, String) {
    let d = Dir::new();
    let note = d.write("checkpoint", note);
    let policy = d.write("policy", policy);
    let vkey = log_signer().verifier_key();
    let (code, out, err) = run(&[
        "--json",
        "checkpoint",
        s(&note),
        "--key",
        &vkey,
        "--policy",
        s(&policy),
    ]);
    assert!(!err.contains("panicked"), "{err}");
    (code, serde_json::from_str(&out).unwrap_or(Value::Null), err)
}

fn cosigners(v: &Value) -> Vec<String> {
    v["witnesses"]["cosigned_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn two_of_three_meets_the_quorum() {
    let (_, _, note) = log_of(5);
    let note = cosign(&note, &[witness(1), witness(3)]);
    let (code, v, err) = checkpoint_cmd(&note, &policy_text());
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["valid"], true);
    assert_eq!(v["origin"], ORIGIN);
    assert_eq!(v["size"], 5);
    assert_eq!(v["witnesses"]["quorum"], "two");
    assert_eq!(v["witnesses"]["quorum_met"], true);
    assert_eq!(cosigners(&v), ["W1", "W3"]);
    let second = &v["witnesses"]["cosigned_by"][1];
    assert_eq!(second["timestamp"], T0 + 1);
    assert_eq!(second["time_utc"], "2024-11-14T22:13:21Z");

    // The text form names the same cosigners with UTC times.
    let d = Dir::new();
    let (n, p) = (d.write("cp", &note), d.write("policy", policy_text()));
    let vkey = log_signer().verifier_key();
    let (code, out, _) = run(&["checkpoint", s(&n), "--key", &vkey, "--policy", s(&p)]);
    assert_eq!(code, 0);
    assert!(out.contains("tree size 5"), "{out}");
    assert!(out.contains("quorum \"two\" met"), "{out}");
    assert!(out.contains("W3 at 2024-11-14T22:13:21Z"), "{out}");
}

#[test]
fn one_of_three_misses_the_quorum() {
    let (_, _, note) = log_of(5);
    let note = cosign(&note, &[witness(2)]);
    let (code, v, err) = checkpoint_cmd(&note, &policy_text());
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["valid"], false);
    assert_eq!(v["witnesses"]["quorum_met"], false);
    assert_eq!(cosigners(&v), ["W2"]);
    assert!(err.contains("quorum \"two\""), "{err}");
    assert!(err.contains("1 of 3"), "{err}");

    // No cosignature at all: the log's signature alone is not enough either.
    let (_, _, bare) = log_of(5);
    let (code, v, _) = checkpoint_cmd(&bare, &policy_text());
    assert_eq!(code, 1);
    assert!(cosigners(&v).is_empty());
    // Without --policy the same checkpoint is valid: cosignatures are not required.
    let d = Dir::new();
    let n = d.write("cp", &bare);
    let (code, _, err) = run(&["checkpoint", s(&n), "--key", &log_signer().verifier_key()]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_tampered_cosignature_of_a_known_witness_is_invalid() {
    let (_, _, note) = log_of(5);
    // W2's line is a real cosignature, but of another checkpoint body: it is W2's key
    // and name, and its signature does not hold over this body.
    let (_, _, other) = log_of(6);
    let other_body = Note::parse(other.as_bytes()).unwrap().text().to_owned();
    let forged = witness(2).cosign(&other_body, T0).unwrap();
    let mut parsed = Note::parse(cosign(&note, &[witness(1), witness(3)]).as_bytes()).unwrap();
    parsed.push_signature(forged.to_note_signature()).unwrap();
    let (code, v, err) = checkpoint_cmd(&parsed.to_text(), &policy_text());
    assert_eq!(code, 1, "{v:#}");
    assert!(err.contains("W2"), "{err}");
    assert!(err.contains("invalid cosignature"), "{err}");

    // A flipped bit in a genuine line: same outcome.
    let good = cosign(&note, &[witness(1), witness(2)]);
    let last = good.trim_end().rsplit('\n').next().unwrap();
    let b64 = last.rsplit(' ').next().unwrap();
    let mut chars: Vec<char> = b64.chars().collect();
    chars[20] = if chars[20] == 'A' { 'B' } else { 'A' };
    let flipped = good.replace(b64, &chars.into_iter().collect::<String>());
    let (code, _, err) = checkpoint_cmd(&flipped, &policy_text());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("W2"), "{err}");
}

#[test]
fn an_unknown_extra_cosigner_is_ignored() {
    let (_, _, note) = log_of(5);
    let stranger = CosignatureSigner::new("w9.example", &[9; 32]).unwrap();
    let note2 = cosign(&note, &[witness(1), stranger.clone(), witness(2)]);
    let (code, v, err) = checkpoint_cmd(&note2, &policy_text());
    assert_eq!(code, 0, "{err}");
    assert_eq!(cosigners(&v), ["W1", "W2"]);
    // It does not count toward the quorum either.
    let note1 = cosign(&note, &[witness(1), stranger]);
    let (code, v, _) = checkpoint_cmd(&note1, &policy_text());
    assert_eq!(code, 1);
    assert_eq!(cosigners(&v), ["W1"]);
}

#[test]
fn a_bad_policy_exits_2_with_its_line() {
    let (_, _, note) = log_of(5);
    let note = cosign(&note, &[witness(1), witness(2)]);
    let bad = policy_text().replace("group two 2", "group two 4");
    let (code, _, err) = checkpoint_cmd(&note, &bad);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 5"), "{err}");
    let (code, _, err) = checkpoint_cmd(&note, "witness W1 not-a-key\nquorum W1\n");
    assert_eq!(code, 2);
    assert!(err.contains("line 1"), "{err}");
    let (code, _, err) = checkpoint_cmd(&note, "# no quorum line\n");
    assert_eq!(code, 2);
    assert!(err.contains("no quorum line"), "{err}");
    // A missing policy file is unreadable input: exit 2 too.
    let d = Dir::new();
    let n = d.write("cp", &note);
    let missing = d.path().join("nope");
    let vkey = log_signer().verifier_key();
    let (code, _, err) = run(&["checkpoint", s(&n), "--key", &vkey, "--policy", s(&missing)]);
    assert_eq!(code, 2, "{err}");
}

/// A receipt for entry `index` of `entries` against `note`.
fn receipt_text(tree: &MemoryTree, index: u64, note: &str) -> String {
    let proof = inclusion_proof(tree, index, tree.size()).unwrap();
    Receipt::new(index, proof, note).unwrap().to_text()
}

#[test]
fn receipts_with_a_policy() {
    let (entries, tree, note) = log_of(7);
    let d = Dir::new();
    let entry = d.write("entry", &entries[3]);
    let policy = d.write("policy", policy_text());
    let vkey = log_signer().verifier_key();
    let check = |note: &str| {
        let r = d.write("r.tlog-proof", receipt_text(&tree, 3, note));
        let args = [
            "--json",
            "receipt",
            s(&r),
            "--entry",
            s(&entry),
            "--key",
            &vkey,
            "--policy",
            s(&policy),
        ];
        let (code, out, err) = run(&args);
        (code, serde_json::from_str::<Value>(&out).unwrap(), err)
    };
    let (code, v, err) = check(&cosign(&note, &[witness(2), witness(3)]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["index"], 3);
    assert_eq!(v["witnesses"]["quorum_met"], true);
    assert_eq!(cosigners(&v), ["W2", "W3"]);

    let (code, v, err) = check(&cosign(&note, &[witness(3)]));
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["valid"], false);
    assert!(err.contains("quorum \"two\""), "{err}");

    // The receipt's own checks still come first: a wrong entry is invalid whatever the
    // witnesses say.
    let r = d.write(
        "r2",
        receipt_text(&tree, 3, &cosign(&note, &[witness(1), witness(2)])),
    );
    let wrong = d.write("wrong", &entries[4]);
    let (code, _, _) = run(&[
        "receipt",
        s(&r),
        "--entry",
        s(&wrong),
        "--key",
        &vkey,
        "--policy",
        s(&policy),
    ]);
    assert_eq!(code, 1);
}

#[test]
fn packages_with_a_policy() {
    let mut sim = LogSim::new(ORIGIN);
    let c = chain("clinic-1", "box-1");
    sim.enrol(&c);
    for n in 0..6 {
        sim.append_record(&c, n);
    }
    let d = Dir::new();
    let policy = d.write("policy", policy_text());
    let vkey = sim.vkey();
    let mut case = 0;
    let mut verify = |signers: &[CosignatureSigner]| {
        let mut files = package_files(&sim, &["clinic-1"], None, None);
        let note = String::from_utf8(files.checkpoint.clone()).unwrap();
        files.checkpoint = cosign(&note, signers).into_bytes();
        case += 1;
        let dir = d.path().join(format!("pkg-{case}"));
        files.write_dir(&dir).unwrap();
        let (code, out, err) = run(&[
            "--json",
            "package",
            s(&dir),
            "--key",
            &vkey,
            "--policy",
            s(&policy),
        ]);
        assert!(!err.contains("panicked"), "{err}");
        (code, serde_json::from_str::<Value>(&out).unwrap(), err)
    };
    let (code, v, err) = verify(&[witness(1), witness(2), witness(3)]);
    assert_eq!(code, 0, "{err}\n{v:#}");
    assert_eq!(v["witnesses"]["quorum_met"], true);
    assert_eq!(cosigners(&v), ["W1", "W2", "W3"]);

    let (code, v, err) = verify(&[witness(1)]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["valid"], false);
    assert_eq!(v["witnesses"]["quorum_met"], false);
    assert!(err.contains("quorum \"two\""), "{err}");

    // A tampered cosignature of a known witness makes the package invalid, reported
    // beside the package's own (clean) findings.
    let forged = {
        let other = LogSim::new("example.com/other-log").checkpoint();
        let body = Note::parse(other.as_bytes()).unwrap().text().to_owned();
        witness(3).cosign(&body, T0).unwrap()
    };
    let mut files = package_files(&sim, &["clinic-1"], None, None);
    let mut note = Note::parse(&files.checkpoint).unwrap();
    for w in [witness(1), witness(2)] {
        let body = note.text().to_owned();
        note.push_signature(w.cosign(&body, T0).unwrap().to_note_signature())
            .unwrap();
    }
    note.push_signature(forged.to_note_signature()).unwrap();
    files.checkpoint = note.to_text().into_bytes();
    let dir = d.path().join("pkg-forged");
    files.write_dir(&dir).unwrap();
    let (code, out, err) = run(&["package", s(&dir), "--key", &vkey, "--policy", s(&policy)]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("Witnesses: INVALID"), "{out}");
    assert!(out.contains("Overall: INVALID"), "{out}");
    assert!(err.contains("W3"), "{err}");
}

/// Writes `note` and every hash tile of `tree` under `dir`, as a tlog-tiles mirror.
fn write_mirror(dir: &Path, tree: &MemoryTree, note: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("checkpoint"), note).unwrap();
    for tile in ledger_core::tiles::tiles_for_size(tree.size()) {
        let bytes = ledger_core::tiles::tile_contents(tree, tree.size(), &tile).unwrap();
        let file = dir.join(tile.path());
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, bytes).unwrap();
    }
}

#[test]
fn inclusion_from_a_tiles_mirror_takes_the_policy() {
    let (entries, tree, note) = log_of(300);
    let d = Dir::new();
    let policy = d.write("policy", policy_text());
    let entry = d.write("entry", &entries[260]);
    let vkey = log_signer().verifier_key();
    let verify = |mirror: &Path| {
        let (code, out, err) = run(&[
            "--json",
            "inclusion",
            "--tiles",
            s(mirror),
            "--key",
            &vkey,
            "--index",
            "260",
            "--entry",
            s(&entry),
            "--policy",
            s(&policy),
        ]);
        (
            code,
            serde_json::from_str::<Value>(&out).unwrap_or(Value::Null),
            err,
        )
    };

    let met = d.path().join("met");
    write_mirror(&met, &tree, &cosign(&note, &[witness(1), witness(2)]));
    let (code, v, err) = verify(&met);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["size"], 300);
    assert_eq!(v["index"], 260);
    assert_eq!(v["witnesses"]["quorum_met"], true);
    assert_eq!(cosigners(&v), ["W1", "W2"]);

    // The same tiles with a checkpoint cosigned by one witness: the proof holds, the
    // quorum does not.
    let missed = d.path().join("missed");
    write_mirror(&missed, &tree, &cosign(&note, &[witness(3)]));
    let (code, v, err) = verify(&missed);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["valid"], false);
    assert_eq!(v["witnesses"]["quorum_met"], false);
    assert!(err.contains("quorum \"two\""), "{err}");
}
