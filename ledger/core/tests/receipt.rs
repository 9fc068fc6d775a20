//! C2SP tlog-proof receipts. There are no published receipt vectors, so receipts are
//! assembled here line by line from the spec's format, with audit paths from
//! `rfc6962.json` (transparency-dev) and signed checkpoints from `signed_note.json`;
//! the crate must parse, re-serialize byte for byte and verify them, and must refuse
//! every tampered variant.

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ledger_core::checkpoint::{Checkpoint, CheckpointError};
use ledger_core::hash::Hash;
use ledger_core::note::{NoteError, NoteSigner, NoteVerifier};
use ledger_core::proof::{inclusion_proof, ProofError};
use ledger_core::receipt::{Receipt, ReceiptError, FILE_EXTENSION, RECEIPT_HEADER};
use ledger_core::tree::MemoryTree;
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    let manifest = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    );
    manifest
        .ancestors()
        .map(|d| d.join("shared").join("vectors"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| panic!("no shared/vectors above {}", manifest.display()))
}

fn load(name: &str) -> Value {
    let path = vectors_dir().join("merkle").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn hex_hash(s: &str) -> Hash {
    Hash::from_slice(&hex::decode(s).expect("hex")).expect("32 bytes")
}

/// One receipt case from the vectors.
struct Case {
    index: u64,
    size: u64,
    leaf_data: Vec<u8>,
    leaf: Hash,
    path: Vec<Hash>,
    note: String,
}

impl Case {
    /// The receipt text, assembled from tlog-proof §Format.
    fn text(&self) -> String {
        let mut t = format!("c2sp.org/tlog-proof@v1\nindex {}\n", self.index);
        for h in &self.path {
            t.push_str(&STANDARD.encode(h.0));
            t.push('\n');
        }
        t.push('\n');
        t.push_str(&self.note);
        t
    }
}

struct Fixture {
    cases: Vec<Case>,
    log: NoteVerifier,
    signer: NoteSigner,
    notes: Vec<(u64, String)>,
    cosigned8: String,
}

fn fixture() -> Fixture {
    let notes_json = load("signed_note.json");
    let g = &notes_json["generated_checkpoints"];
    let rfc = load("rfc6962.json");
    let notes: Vec<(u64, String)> = g["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["tree_size"].as_u64().unwrap(),
                c["signed_note"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let leaves: Vec<Vec<u8>> = rfc["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| hex::decode(l.as_str().unwrap()).unwrap())
        .collect();
    let mut cases = Vec::new();
    for p in rfc["inclusion_proofs"].as_array().unwrap() {
        let size = p["tree_size"].as_u64().unwrap();
        let Some((_, note)) = notes.iter().find(|(s, _)| *s == size) else {
            continue;
        };
        let index = p["leaf_index"].as_u64().unwrap();
        cases.push(Case {
            index,
            size,
            leaf_data: leaves[index as usize].clone(),
            leaf: hex_hash(p["leaf_hash"].as_str().unwrap()),
            path: p["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| hex_hash(h.as_str().unwrap()))
                .collect(),
            note: note.clone(),
        });
    }
    // Sizes 1, 7 and 8 have signed checkpoints: 1 + 7 + 8 receipts.
    assert_eq!(cases.len(), 16);
    Fixture {
        cases,
        log: NoteVerifier::parse(g["vkey"].as_str().unwrap()).unwrap(),
        signer: NoteSigner::parse(g["skey"].as_str().unwrap()).unwrap(),
        notes,
        cosigned8: g["size8_with_extra_unknown_signature"]
            .as_str()
            .unwrap()
            .to_owned(),
    }
}

#[test]
fn receipts_from_the_vectors_parse_round_trip_and_verify() {
    let f = fixture();
    assert_eq!(RECEIPT_HEADER, "c2sp.org/tlog-proof@v1");
    assert_eq!(FILE_EXTENSION, "tlog-proof");
    for c in &f.cases {
        let text = c.text();
        let receipt = Receipt::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}\n{e}"));
        assert_eq!(receipt.index(), c.index);
        assert_eq!(receipt.proof(), c.path.as_slice());
        assert_eq!(receipt.checkpoint_note(), c.note);
        assert_eq!(receipt.extra(), None);
        assert_eq!(receipt.unverified_checkpoint().size, c.size);
        assert_eq!(receipt.to_text(), text);
        assert_eq!(
            Receipt::new(c.index, c.path.clone(), &c.note).unwrap(),
            receipt
        );

        let verified = receipt.verify(&c.leaf, &f.log).unwrap();
        assert_eq!(verified.index(), c.index);
        assert_eq!(verified.leaf_hash(), &c.leaf);
        assert_eq!(verified.checkpoint().size(), c.size);
        assert_eq!(verified.checkpoint().as_str(), c.note);
        let by_entry = receipt.verify_entry(&c.leaf_data, &f.log).unwrap();
        assert_eq!(by_entry, verified);
    }
}

#[test]
fn every_bit_flip_of_every_proof_hash_fails() {
    let f = fixture();
    let mut checked = 0;
    for c in &f.cases {
        for k in 0..c.path.len() {
            for byte in 0..32 {
                for bit in 0..8 {
                    let mut path = c.path.clone();
                    path[k].0[byte] ^= 1 << bit;
                    let receipt = Receipt::new(c.index, path, &c.note).unwrap();
                    let err = receipt.verify(&c.leaf, &f.log).unwrap_err();
                    assert!(matches!(err, ReceiptError::NotIncluded(_)), "{err:?}");
                    assert!(err.is_verification_failure());
                    // The same through the text format.
                    let parsed = Receipt::parse(receipt.to_text().as_bytes()).unwrap();
                    assert!(parsed.verify(&c.leaf, &f.log).is_err());
                    checked += 1;
                }
            }
        }
    }
    // Sizes 7 and 8 have 20 + 24 audit path hashes, 256 bits each.
    assert_eq!(checked, 44 * 256);
}

#[test]
fn every_bit_flip_of_the_receipt_text_fails() {
    let f = fixture();
    // One receipt per tree size keeps the run short: about 3,000 flips each.
    for c in f.cases.iter().filter(|c| c.index == c.size - 1) {
        let text = c.text().into_bytes();
        for i in 0..text.len() {
            for bit in 0..8 {
                let mut t = text.clone();
                t[i] ^= 1 << bit;
                let result = Receipt::parse(&t).and_then(|r| r.verify(&c.leaf, &f.log));
                assert!(result.is_err(), "size {} byte {i} bit {bit}", c.size);
            }
        }
    }
}

#[test]
fn wrong_leaf_or_changed_index_fails() {
    let f = fixture();
    for c in &f.cases {
        let receipt = Receipt::parse(c.text().as_bytes()).unwrap();
        let other = Hash([0x42; 32]);
        assert!(matches!(
            receipt.verify(&other, &f.log),
            Err(ReceiptError::NotIncluded(_))
        ));
        let mut data = c.leaf_data.clone();
        data.push(0);
        assert!(receipt.verify_entry(&data, &f.log).is_err());
        // The right entry at any other index: refused when parsed or when verified.
        for index in [
            c.index + 1,
            c.index.wrapping_sub(1),
            c.index ^ 2,
            c.index + c.size,
        ] {
            if index == c.index {
                continue;
            }
            let text = c.text().replacen(
                &format!("index {}\n", c.index),
                &format!("index {index}\n"),
                1,
            );
            let result = Receipt::parse(text.as_bytes()).and_then(|r| r.verify(&c.leaf, &f.log));
            assert!(result.is_err(), "index {} as {index}", c.index);
        }
    }
}

#[test]
fn index_not_below_the_tree_size_is_refused() {
    let f = fixture();
    let c = f
        .cases
        .iter()
        .find(|c| c.size == 8 && c.index == 7)
        .unwrap();
    let text = c.text().replacen("index 7\n", "index 8\n", 1);
    assert_eq!(
        Receipt::parse(text.as_bytes()),
        Err(ReceiptError::IndexOutOfRange { index: 8, size: 8 })
    );
    // No receipt can point into the empty tree.
    let (_, empty) = f.notes.iter().find(|(s, _)| *s == 0).unwrap();
    let text = format!("{RECEIPT_HEADER}\nindex 0\n\n{empty}");
    assert_eq!(
        Receipt::parse(text.as_bytes()),
        Err(ReceiptError::IndexOutOfRange { index: 0, size: 0 })
    );
}

#[test]
fn truncated_receipts_fail() {
    let f = fixture();
    for c in &f.cases {
        let text = c.text();
        for cut in 0..text.len() {
            assert!(
                Receipt::parse(&text.as_bytes()[..cut]).is_err(),
                "size {} index {} cut at {cut}",
                c.size,
                c.index
            );
        }
    }
}

#[test]
fn extra_or_changed_lines_fail() {
    let f = fixture();
    let c = f
        .cases
        .iter()
        .find(|c| c.size == 7 && c.index == 4)
        .unwrap();
    let text = c.text();
    assert!(Receipt::parse(text.as_bytes()).is_ok());
    let first_hash = format!("{}\n", STANDARD.encode(c.path[0].0));
    let index_line = format!("index {}\n", c.index);
    let bad = [
        text.replacen(RECEIPT_HEADER, "c2sp.org/tlog-proof@v2", 1),
        text.replacen(RECEIPT_HEADER, "c2sp.org/tlog-proof@v1 ", 1),
        format!("\n{text}"),
        format!(" {text}"),
        text.replacen(&index_line, &format!("{index_line}{index_line}"), 1),
        text.replacen(&index_line, &format!("comment\n{index_line}"), 1),
        text.replacen(&index_line, &format!("{index_line}comment\n"), 1),
        text.replacen(&index_line, "index 04\n", 1),
        text.replacen(&index_line, "index +4\n", 1),
        text.replacen(&index_line, "index  4\n", 1),
        text.replacen(&index_line, "index 4 \n", 1),
        text.replacen(&index_line, "Index 4\n", 1),
        text.replacen(&index_line, "", 1),
        text.replacen(&index_line, "extra AAAA\nextra AAAA\nindex 4\n", 1),
        text.replacen(&index_line, "extra \nindex 4\n", 1),
        text.replacen(&index_line, "extra AAB=\nindex 4\n", 1), // non-canonical
        text.replacen(&index_line, "index 4\nextra AAAA\n", 1),
        // One more, one fewer, a duplicated or a blank-separated proof hash.
        text.replacen(&first_hash, &format!("{first_hash}{first_hash}"), 1),
        text.replacen(&first_hash, "", 1),
        text.replacen(&first_hash, &format!("\n{first_hash}"), 1),
        // Bad base64 for a hash: unpadded, short, long, URL alphabet, trailing bits.
        text.replacen(&first_hash, &format!("{}\n", &first_hash[..43]), 1),
        text.replacen(&first_hash, &format!("{}\n", STANDARD.encode([7u8; 31])), 1),
        text.replacen(&first_hash, &format!("{}\n", STANDARD.encode([7u8; 33])), 1),
        text.replacen(&first_hash, &format!("{}\n", "_".repeat(43) + "="), 1),
        text.replacen(&first_hash, &format!("{}\n", "A".repeat(42) + "B="), 1),
        // Blank line doubled, lines with CR, anything after the checkpoint.
        text.replacen("\n\n", "\n\n\n", 1),
        text.replace('\n', "\r\n"),
        format!("{text}\n"),
        format!("{text}more\n"),
        format!("{text}\u{2014} {}", &c.note.lines().last().unwrap()[4..]),
    ];
    for (i, b) in bad.iter().enumerate() {
        assert_ne!(b, &text, "case {i} did not change the text");
        assert!(Receipt::parse(b.as_bytes()).is_err(), "case {i}:\n{b}");
    }
    // A wrong extra hash line is a length error naming the expected length.
    let extra_hash = text.replacen(&first_hash, &format!("{first_hash}{first_hash}"), 1);
    assert!(matches!(
        Receipt::parse(extra_hash.as_bytes()),
        Err(ReceiptError::WrongProofLength {
            got: 4,
            expected: 3,
            ..
        })
    ));
}

#[test]
fn extra_data_round_trips_and_is_not_authenticated() {
    let f = fixture();
    let c = f
        .cases
        .iter()
        .find(|c| c.size == 8 && c.index == 3)
        .unwrap();
    let index_line = format!("index {}\n", c.index);
    let with_extra = c.text().replacen(
        &index_line,
        &format!("extra {}\n{index_line}", STANDARD.encode(b"vrf proof")),
        1,
    );
    let receipt = Receipt::parse(with_extra.as_bytes()).unwrap();
    assert_eq!(receipt.extra(), Some(b"vrf proof".as_slice()));
    assert_eq!(receipt.to_text(), with_extra);
    assert!(receipt.verify(&c.leaf, &f.log).is_ok());
    let built = Receipt::new(c.index, c.path.clone(), &c.note)
        .unwrap()
        .with_extra(b"vrf proof".to_vec())
        .unwrap();
    assert_eq!(built, receipt);
    assert!(Receipt::new(c.index, c.path.clone(), &c.note)
        .unwrap()
        .with_extra(vec![])
        .is_err());
}

#[test]
fn wrong_log_key_fails() {
    let f = fixture();
    let c = f
        .cases
        .iter()
        .find(|c| c.size == 8 && c.index == 5)
        .unwrap();
    let receipt = Receipt::parse(c.text().as_bytes()).unwrap();
    // Same name, another key: its key ID differs, so the log signature is unknown.
    let impostor = NoteSigner::new(f.log.name(), &[0x11; 32])
        .unwrap()
        .verifier();
    let err = receipt.verify(&c.leaf, &impostor).unwrap_err();
    assert_eq!(
        err,
        ReceiptError::Checkpoint(CheckpointError::Note(NoteError::NoVerifiedSignature {
            unknown: 1
        }))
    );
    assert!(err.is_verification_failure());
    // Another name: the origin is not that key's name, and the signature is unknown.
    let other = NoteSigner::new("example.com/other-log", &[0x12; 32])
        .unwrap()
        .verifier();
    assert!(receipt.verify(&c.leaf, &other).is_err());
}

#[test]
fn checkpoint_from_another_tree_fails() {
    let f = fixture();
    for c in f.cases.iter().filter(|c| c.size == 7) {
        // The size-8 checkpoint of the same log: a different root, and for most indexes
        // a different audit path length.
        let (_, note8) = f.notes.iter().find(|(s, _)| *s == 8).unwrap();
        let text = c.text().replacen(&c.note, note8, 1);
        let result = Receipt::parse(text.as_bytes()).and_then(|r| r.verify(&c.leaf, &f.log));
        assert!(result.is_err(), "index {}", c.index);
    }
    // A genuine signature over a checkpoint of the same size and another root.
    let c = f
        .cases
        .iter()
        .find(|c| c.size == 8 && c.index == 2)
        .unwrap();
    let forged_tree = Checkpoint {
        origin: f.log.name().to_owned(),
        size: 8,
        root: Hash([0x99; 32]),
        extensions: vec![],
    }
    .sign(&f.signer)
    .unwrap();
    let receipt = Receipt::new(c.index, c.path.clone(), forged_tree.as_str()).unwrap();
    match receipt.verify(&c.leaf, &f.log) {
        Err(ReceiptError::NotIncluded(evidence)) => {
            assert_eq!(evidence.root, Hash([0x99; 32]));
            assert_eq!(evidence.size, 8);
            assert_eq!(evidence.index, c.index);
            assert_eq!(evidence.leaf, c.leaf);
            assert_eq!(evidence.proof, c.path);
            assert!(matches!(evidence.source, ProofError::RootMismatch { .. }));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn cosigned_checkpoint_is_carried_verbatim() {
    let f = fixture();
    let c = f
        .cases
        .iter()
        .find(|c| c.size == 8 && c.index == 6)
        .unwrap();
    let text = c.text().replacen(&c.note, &f.cosigned8, 1);
    let receipt = Receipt::parse(text.as_bytes()).unwrap();
    assert_eq!(receipt.to_text(), text);
    let verified = receipt.verify(&c.leaf, &f.log).unwrap();
    assert_eq!(verified.checkpoint().as_str(), f.cosigned8);
    assert_eq!(
        verified.checkpoint().note().unverified_signatures()[0].name(),
        "EnochRoot"
    );
    // Cutting the cosignature line off leaves a well-formed note still signed by the
    // log, so that truncation parses and verifies: only the log's signature counts.
    let cut = text.len() - f.cosigned8.lines().last().unwrap().len() - 1;
    let truncated = Receipt::parse(&text.as_bytes()[..cut]).unwrap();
    assert!(truncated.verify(&c.leaf, &f.log).is_ok());
    assert!(truncated.to_text().len() < text.len());
}

#[test]
fn receipts_for_a_larger_tree() {
    // Round trip on a 1,000-entry tree signed with the vector key: proofs from the
    // crate's generator, checked by the verifier and by the text format.
    let f = fixture();
    let mut tree = MemoryTree::new();
    for i in 0..1000u32 {
        tree.push_entry(format!("record {i}").as_bytes());
    }
    let signed = Checkpoint {
        origin: f.log.name().to_owned(),
        size: tree.size(),
        root: tree.root(),
        extensions: vec![],
    }
    .sign(&f.signer)
    .unwrap();
    for index in [0u64, 1, 255, 256, 511, 512, 998, 999] {
        let proof = inclusion_proof(&tree, index, tree.size()).unwrap();
        let receipt = Receipt::new(index, proof, signed.as_str()).unwrap();
        let parsed = Receipt::parse(receipt.to_text().as_bytes()).unwrap();
        assert_eq!(parsed, receipt);
        let entry = format!("record {index}");
        assert!(parsed.verify_entry(entry.as_bytes(), &f.log).is_ok());
        let neighbour = format!("record {}", (index + 1) % 1000);
        assert!(parsed.verify_entry(neighbour.as_bytes(), &f.log).is_err());
    }
}
