//! The transparency-dev/merkle verifier probes (`merkle/probes/`): every inclusion and
//! consistency probe must pass or fail with our verifiers exactly as its `wantErr` says.
//!
//! Our verifiers take typed 32-byte [`Hash`]es, so a probe value of another length (an
//! empty root, "WrongRoot", an empty "garbage" proof element) cannot reach them as is:
//! [`Hash::from_slice`] must refuse it, and that refusal is our rejection of the probe.
//! Go's verifier (where the probes come from) checks the length of the leaf hash but
//! only compares roots for equal sizes, so it accepts one probe with two equal 12-byte
//! "roots"; our typed API refuses it, a deliberate and stricter divergence that the test
//! names and bounds to that one probe.
//!
//! So that such probes still exercise the verifier logic, each is also run with an
//! injective 32-byte stand-in (SHA-256 of a tag and the bytes) for every malformed value:
//! equal byte strings stay equal, different ones stay different, and a garbage element
//! still makes the proof one element too long. The stand-in run must agree with
//! `wantErr` too, except where only a length check can tell (a leaf hash and root that
//! are the same malformed bytes).

mod common;

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::vectors_dir;
use ledger_core::hash::Hash;
use ledger_core::proof::{verify_consistency, verify_inclusion};
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionProbe {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsistencyProbe {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

/// Every `.json` file below `dir`, sorted, found by walking the directory tree.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("listing {}: {e}", d.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// One decoded probe value: the typed hash when it is 32 bytes long, and the stand-in
/// used for the logic check otherwise.
struct Value {
    typed: Option<Hash>,
    stand_in: Hash,
}

/// Decodes one base64 probe value. A 32-byte value is its own stand-in; any other length
/// must be refused by `Hash::from_slice`.
fn value(b64: &str) -> Value {
    let bytes = STANDARD
        .decode(b64)
        .unwrap_or_else(|e| panic!("bad base64 {b64:?}: {e}"));
    let typed = Hash::from_slice(&bytes);
    assert_eq!(
        typed.is_some(),
        bytes.len() == 32,
        "Hash::from_slice on {} bytes",
        bytes.len()
    );
    let stand_in = typed.unwrap_or_else(|| {
        let mut h = Sha256::new();
        h.update(b"probe stand-in for a value that is not 32 bytes:");
        h.update(&bytes);
        Hash(h.finalize().into())
    });
    Value { typed, stand_in }
}

fn values(proof: &Option<Vec<String>>) -> Vec<Value> {
    proof.iter().flatten().map(|s| value(s)).collect()
}

/// All typed hashes, or `None` when any value is malformed (the typed boundary refuses).
fn typed(vals: &[&Value]) -> Option<Vec<Hash>> {
    vals.iter().map(|v| v.typed).collect()
}

fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> T {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Tallies of one probe family, so the test can require both kinds of probe.
#[derive(Default)]
struct Tally {
    positive: usize,
    negative: usize,
    malformed: usize,
    failures: Vec<String>,
    divergences: Vec<PathBuf>,
}

impl Tally {
    fn finish(self, family: &str) {
        assert!(
            self.failures.is_empty(),
            "{family} probe failures:\n{}",
            self.failures.join("\n")
        );
        // Both kinds must be present, or the test checks only half of the contract.
        assert!(
            self.positive >= 5,
            "only {} positive {family} probes",
            self.positive
        );
        assert!(
            self.negative >= 80,
            "only {} negative {family} probes",
            self.negative
        );
        assert!(
            self.malformed > 0,
            "no malformed-length {family} values seen"
        );
    }
}

#[test]
fn inclusion_probes() {
    let dir = vectors_dir()
        .join("merkle")
        .join("probes")
        .join("inclusion");
    let files = json_files(&dir);
    // 98 files when this test was written; fewer means the directory went missing.
    assert!(files.len() >= 98, "only {} inclusion probes", files.len());
    let mut t = Tally::default();
    for path in &files {
        let p: InclusionProbe = read(path);
        let label = format!("{} ({})", path.display(), p.desc);
        if p.want_err {
            t.negative += 1;
        } else {
            t.positive += 1;
        }
        let leaf = value(&p.leaf_hash);
        let root = value(&p.root);
        let proof = values(&p.proof);
        let all: Vec<&Value> = [&leaf, &root].into_iter().chain(&proof).collect();

        // The stand-in run checks the verifier's logic on every probe.
        let stand_ins: Vec<Hash> = proof.iter().map(|v| v.stand_in).collect();
        let logic = verify_inclusion(
            &leaf.stand_in,
            p.leaf_idx,
            p.tree_size,
            &stand_ins,
            &root.stand_in,
        );
        let only_length_tells = leaf.typed.is_none() && p.leaf_hash == p.root;
        if logic.is_err() != p.want_err && !only_length_tells {
            t.failures
                .push(format!("{label}: wantErr {} but got {logic:?}", p.want_err));
        }

        match typed(&all) {
            Some(hashes) => {
                let (leaf, root, proof) = (hashes[0], hashes[1], &hashes[2..]);
                let result = verify_inclusion(&leaf, p.leaf_idx, p.tree_size, proof, &root);
                if result.is_err() != p.want_err {
                    t.failures.push(format!(
                        "{label}: wantErr {} but got {result:?}",
                        p.want_err
                    ));
                }
            }
            None => {
                // Refused at the typed boundary; Go refuses every such inclusion probe.
                t.malformed += 1;
                if !p.want_err {
                    t.failures
                        .push(format!("{label}: accepted upstream, refused here"));
                }
            }
        }
    }
    assert!(t.divergences.is_empty());
    t.finish("inclusion");
}

#[test]
fn consistency_probes() {
    let dir = vectors_dir()
        .join("merkle")
        .join("probes")
        .join("consistency");
    let files = json_files(&dir);
    assert!(files.len() >= 98, "only {} consistency probes", files.len());
    let mut t = Tally::default();
    for path in &files {
        let p: ConsistencyProbe = read(path);
        let label = format!("{} ({})", path.display(), p.desc);
        if p.want_err {
            t.negative += 1;
        } else {
            t.positive += 1;
        }
        let root1 = value(&p.root1);
        let root2 = value(&p.root2);
        let proof = values(&p.proof);
        let all: Vec<&Value> = [&root1, &root2].into_iter().chain(&proof).collect();

        let stand_ins: Vec<Hash> = proof.iter().map(|v| v.stand_in).collect();
        let logic = verify_consistency(
            p.size1,
            p.size2,
            &stand_ins,
            &root1.stand_in,
            &root2.stand_in,
        );
        if logic.is_err() != p.want_err {
            t.failures
                .push(format!("{label}: wantErr {} but got {logic:?}", p.want_err));
        }

        match typed(&all) {
            Some(hashes) => {
                let (root1, root2, proof) = (hashes[0], hashes[1], &hashes[2..]);
                let result = verify_consistency(p.size1, p.size2, proof, &root1, &root2);
                if result.is_err() != p.want_err {
                    t.failures.push(format!(
                        "{label}: wantErr {} but got {result:?}",
                        p.want_err
                    ));
                }
            }
            None => {
                t.malformed += 1;
                if !p.want_err {
                    // Go accepts equal sizes with byte-equal roots of any length; our
                    // typed roots cannot be 12 bytes long. The stand-in run above showed
                    // the equal-size rule itself accepts it.
                    assert_eq!(p.size1, p.size2, "{label}");
                    assert_eq!(p.root1, p.root2, "{label}");
                    t.divergences.push(path.clone());
                }
            }
        }
    }
    assert!(
        t.divergences.len() <= 1,
        "more than the one known divergence: {:?}",
        t.divergences
    );
    t.finish("consistency");
}
