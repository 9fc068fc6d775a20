//! C2SP signed-note and tlog-checkpoint against `shared/vectors/merkle/signed_note.json`:
//! Go's `sumdb/note` goldens signed byte for byte, its must-fail cases, the C2SP
//! examples, checkpoint bodies, and the signed checkpoints of the RFC 6962 test tree.
//! Expected values come from the vectors (made with Go, Python `cryptography` and the
//! Rust `signed_note` crate), never from this crate.

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ledger_core::checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint};
use ledger_core::hash::Hash;
use ledger_core::note::{
    ed25519_key_id, is_valid_key_name, open, Note, NoteError, NoteSigner, NoteVerifier,
    MAX_SIGNATURES,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `<workspace root>/../shared/vectors`, found by walking up from this crate.
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

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {key} is not a string: {v}"))
}

fn hex32(s: &str) -> [u8; 32] {
    hex::decode(s).expect("hex").try_into().expect("32 bytes")
}

fn key_id_of(hex_id: &str) -> u32 {
    u32::from_str_radix(hex_id, 16).expect("hex key id")
}

fn vectors() -> Value {
    load("signed_note.json")
}

fn vector(name_prefix: &str) -> Value {
    vectors()["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| s(v, "name").starts_with(name_prefix))
        .unwrap_or_else(|| panic!("no vector {name_prefix}"))
        .clone()
}

fn generated() -> Value {
    vectors()["generated_checkpoints"].clone()
}

#[test]
fn key_id_matches_the_published_preimage_and_ids() {
    let v = vector("go-x-mod-note PeterNeumann");
    // Independent oracle: the vector's preimage hashed with SHA-256 directly.
    let preimage = hex::decode(s(&v, "key_id_preimage_hex")).unwrap();
    let mut expected_preimage = s(&v, "key_name").as_bytes().to_vec();
    expected_preimage.extend_from_slice(&[0x0a, 0x01]);
    expected_preimage.extend_from_slice(&hex32(s(&v, "ed25519_public_key_hex")));
    assert_eq!(preimage, expected_preimage);
    let digest = Sha256::digest(&preimage);
    assert_eq!(hex::encode(&digest[..4]), s(&v, "key_id_hex"));

    for v in vectors()["vectors"].as_array().unwrap() {
        let vkey = s(v, "vkey");
        let name = vkey.split('+').next().unwrap();
        let public = hex32(s(v, "ed25519_public_key_hex"));
        assert_eq!(
            ed25519_key_id(name, &public),
            key_id_of(s(v, "key_id_hex")),
            "{}",
            s(v, "name")
        );
    }
    let g = generated();
    assert_eq!(
        ed25519_key_id(s(&g, "origin"), &hex32(s(&g, "ed25519_public_key_hex"))),
        key_id_of(s(&g, "key_id_hex"))
    );
}

#[test]
fn verifier_keys_parse_and_format_back() {
    let mut all: Vec<Value> = vectors()["vectors"].as_array().unwrap().clone();
    all.push(generated());
    for v in &all {
        let vkey = s(v, "vkey");
        let verifier = NoteVerifier::parse(vkey).unwrap_or_else(|e| panic!("{vkey}: {e}"));
        assert_eq!(verifier.key_id(), key_id_of(s(v, "key_id_hex")));
        assert_eq!(verifier.public_key(), hex32(s(v, "ed25519_public_key_hex")));
        assert_eq!(verifier.verifier_key(), vkey);
        assert_eq!(verifier.to_string(), vkey);
        assert_eq!(vkey.parse::<NoteVerifier>().unwrap(), verifier);
        assert!(vkey.starts_with(&format!("{}+", verifier.name())));
    }
}

#[test]
fn signer_keys_parse_format_back_and_match_seeds() {
    let mut all: Vec<Value> = vectors()["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v.get("skey").is_some())
        .cloned()
        .collect();
    all.push(generated());
    assert_eq!(all.len(), 3);
    for v in &all {
        let skey = s(v, "skey");
        let signer = NoteSigner::parse(skey).unwrap_or_else(|e| panic!("{skey}: {e}"));
        assert_eq!(signer.signer_key(), skey);
        assert_eq!(signer.verifier_key(), s(v, "vkey"));
        assert_eq!(signer.key_id(), key_id_of(s(v, "key_id_hex")));
        assert_eq!(signer.public_key(), hex32(s(v, "ed25519_public_key_hex")));
        let from_seed = NoteSigner::new(signer.name(), &hex32(s(v, "ed25519_seed_hex"))).unwrap();
        assert_eq!(from_seed.signer_key(), skey);
        // The secret seed must not leak through Debug.
        let debug = format!("{signer:?}");
        let seed_b64 = skey.rsplit('+').next().unwrap();
        assert!(!debug.contains(seed_b64), "{debug}");
        assert!(!debug.contains(s(v, "ed25519_seed_hex")), "{debug}");
    }
}

#[test]
fn go_golden_note_is_signed_byte_for_byte_and_opens() {
    let v = vector("go-x-mod-note PeterNeumann");
    let signer = NoteSigner::parse(s(&v, "skey")).unwrap();
    let signed = signer.sign(s(&v, "text")).unwrap();
    assert_eq!(signed, s(&v, "signed_note"));
    assert_eq!(
        signed.as_bytes(),
        hex::decode(s(&v, "signed_note_hex")).unwrap()
    );

    let sig = signer.signature(s(&v, "text")).unwrap();
    assert_eq!(hex::encode(sig.signature()), s(&v, "signature_hex"));

    let verifier = NoteVerifier::parse(s(&v, "vkey")).unwrap();
    let opened = open(signed.as_bytes(), &[&verifier]).unwrap();
    assert_eq!(opened.text(), s(&v, "text"));
    assert_eq!(opened.verified_signatures().len(), 1);
    assert_eq!(opened.verified_signatures()[0].name(), "PeterNeumann");
    assert!(opened.unverified_signatures().is_empty());
    assert_eq!(opened.note().to_text(), signed);
}

#[test]
fn cosigning_reproduces_the_go_doubly_signed_note() {
    let peter = vector("go-x-mod-note PeterNeumann");
    let enoch = vector("go-x-mod-note EnochRoot");
    let enoch_signer = NoteSigner::parse(s(&enoch, "skey")).unwrap();
    assert_eq!(
        enoch_signer.public_key(),
        hex32(s(&enoch, "ed25519_public_key_hex"))
    );

    // Go's ExampleSign_add_signatures: parse Peter's note and add Enoch's signature.
    let mut note = Note::parse(s(&peter, "signed_note").as_bytes()).unwrap();
    note.add_signature(&enoch_signer).unwrap();
    assert_eq!(note.to_text(), s(&enoch, "signed_note"));
    assert_eq!(
        note.to_text().as_bytes(),
        hex::decode(s(&enoch, "signed_note_hex")).unwrap()
    );
    // Re-signing with the same key replaces its line instead of adding a second one.
    note.add_signature(&enoch_signer).unwrap();
    assert_eq!(note.to_text(), s(&enoch, "signed_note"));

    let peter_v = NoteVerifier::parse(s(&peter, "vkey")).unwrap();
    let enoch_v = NoteVerifier::parse(s(&enoch, "vkey")).unwrap();
    let both = open(s(&enoch, "signed_note").as_bytes(), &[&peter_v, &enoch_v]).unwrap();
    assert_eq!(both.verified_signatures().len(), 2);
    assert!(both.unverified_signatures().is_empty());

    // With only Enoch's key, Peter's signature is kept, in order, and ignored.
    let only_enoch = open(s(&enoch, "signed_note").as_bytes(), &[&enoch_v]).unwrap();
    assert_eq!(only_enoch.verified_signatures().len(), 1);
    assert_eq!(only_enoch.verified_signatures()[0].name(), "EnochRoot");
    assert_eq!(only_enoch.unverified_signatures().len(), 1);
    assert_eq!(only_enoch.unverified_signatures()[0].name(), "PeterNeumann");
    assert_eq!(
        only_enoch.unverified_signatures()[0].key_id(),
        key_id_of(s(&peter, "key_id_hex"))
    );
    assert_eq!(only_enoch.note().to_text(), s(&enoch, "signed_note"));
}

#[test]
fn c2sp_spec_example_opens() {
    let v = vector("C2SP signed-note.md example");
    let verifier = NoteVerifier::parse(s(&v, "vkey")).unwrap();
    assert_eq!(verifier.name(), "example.com/foo");
    let opened = open(s(&v, "signed_note").as_bytes(), &[&verifier]).unwrap();
    assert_eq!(opened.text(), s(&v, "text"));
    assert_eq!(
        s(&v, "signed_note").as_bytes(),
        hex::decode(s(&v, "signed_note_hex")).unwrap()
    );
}

#[test]
fn upstream_negative_cases_fail_as_expected() {
    let cases = vectors()["negative_cases"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 11);
    let peter = NoteVerifier::parse(s(&vector("go-x-mod-note PeterNeumann"), "vkey")).unwrap();
    let enoch = NoteVerifier::parse(s(&vector("go-x-mod-note EnochRoot"), "vkey")).unwrap();
    let other = NoteVerifier::parse(s(&generated(), "vkey")).unwrap();
    for case in &cases {
        let desc = s(case, "desc");
        let expect = s(case, "expect");
        let msg: Option<Vec<u8>> = if let Some(m) = case.get("msg") {
            Some(m.as_str().unwrap().as_bytes().to_vec())
        } else {
            case.get("msg_hex")
                .map(|h| hex::decode(h.as_str().unwrap()).unwrap())
        };
        match expect {
            "malformed note" => {
                let err = Note::parse(msg.as_deref().unwrap()).unwrap_err();
                assert!(matches!(err, NoteError::Malformed(_)), "{desc}: {err:?}");
                assert!(!err.is_verification_failure());
                // The full pipeline refuses it too, whatever keys are known.
                assert!(open(msg.as_deref().unwrap(), &[&peter, &enoch]).is_err());
            }
            "NewVerifier error" => {
                let err = NoteVerifier::parse(s(case, "vkey")).unwrap_err();
                assert!(
                    matches!(err, NoteError::MalformedVerifierKey(_)),
                    "{desc}: {err:?}"
                );
            }
            "note has no verifiable signatures" => {
                let msg = msg.unwrap();
                let note = Note::parse(&msg).unwrap();
                for known in [vec![], vec![&other]] {
                    let err = note.open(&known).unwrap_err();
                    assert_eq!(err, NoteError::NoVerifiedSignature { unknown: 2 }, "{desc}");
                    assert!(err.is_verification_failure());
                }
            }
            e if e.starts_with("invalid signature for key") => {
                let verifier = NoteVerifier::parse(s(case, "vkey")).unwrap();
                let err = open(&msg.unwrap(), &[&verifier]).unwrap_err();
                assert_eq!(
                    err,
                    NoteError::InvalidSignature {
                        name: "PeterNeumann".into(),
                        key_id: 0xc74f20a3
                    },
                    "{desc}"
                );
                assert_eq!(err.to_string(), expect);
                assert!(err.is_verification_failure());
            }
            other => panic!("unknown expectation {other} in {desc}"),
        }
    }
}

#[test]
fn every_substring_of_a_key_string_fails_or_is_the_key() {
    let g = generated();
    let peter = vector("go-x-mod-note PeterNeumann");
    for vkey in [s(&g, "vkey"), s(&peter, "vkey")] {
        let full = NoteVerifier::parse(vkey).unwrap();
        let mut parsed = 0;
        for i in 0..=vkey.len() {
            for j in i..=vkey.len() {
                if let Ok(v) = NoteVerifier::parse(&vkey[i..j]) {
                    assert_eq!(v, full, "substring {i}..{j} parsed to another key");
                    parsed += 1;
                }
            }
        }
        assert_eq!(parsed, 1, "only the whole string parses: {vkey}");
    }
    for skey in [s(&g, "skey"), s(&peter, "skey")] {
        let full = NoteSigner::parse(skey).unwrap();
        let mut parsed = 0;
        for i in 0..=skey.len() {
            for j in i..=skey.len() {
                if let Ok(k) = NoteSigner::parse(&skey[i..j]) {
                    assert_eq!(k.signer_key(), full.signer_key(), "substring {i}..{j}");
                    parsed += 1;
                }
            }
        }
        assert_eq!(parsed, 1, "only the whole string parses: {skey}");
    }
}

#[test]
fn key_strings_with_a_wrong_part_are_refused() {
    let g = generated();
    let vkey = s(&g, "vkey");
    let skey = s(&g, "skey");
    // Uppercase hex ID, wrong ID, wrong name, a private key where a public one goes.
    for bad in [
        vkey.replace("bdce588f", "BDCE588F"),
        vkey.replace("bdce588f", "bdce5880"),
        vkey.replace("example.com/rfc6962-test-log", "example.com/other"),
        vkey.replace("ASgNb", "AigNb"),
        format!("{vkey}="),
        format!(" {vkey}"),
        skey.replace("PRIVATE+KEY+", ""),
    ] {
        assert!(NoteVerifier::parse(&bad).is_err(), "{bad}");
    }
    for bad in [
        skey.replace("PRIVATE", "private"),
        skey.replace("bdce588f", "00000000"),
        skey.replace("+AQ", "+Ag"),
        vkey.to_owned(),
        format!("PRIVATE+KEY+{vkey}"),
    ] {
        assert!(NoteSigner::parse(&bad).is_err(), "{bad}");
    }
    // A small-order public key is refused even with a matching key ID.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert!(NoteVerifier::new("weak", &identity).is_err());
}

#[test]
fn key_names_follow_the_spec() {
    for good in ["example.com/log", "PeterNeumann", "a", "é/ü"] {
        assert!(is_valid_key_name(good), "{good}");
    }
    for bad in [
        "",
        "a b",
        "a+b",
        "a\tb",
        "a\u{a0}b",
        "a\u{2028}b",
        "a\u{3000}b",
        "a\u{1}b",
    ] {
        assert!(!is_valid_key_name(bad), "{bad:?}");
        assert!(matches!(
            NoteSigner::new(bad, &[7u8; 32]),
            Err(NoteError::InvalidKeyName(_))
        ));
    }
}

#[test]
fn note_text_rules_are_enforced_when_signing() {
    let signer = NoteSigner::new("example.com/test", &[9u8; 32]).unwrap();
    for bad in ["", "no final newline", "tab\there\n", "cr\r\n", "nul\0\n"] {
        assert!(
            matches!(signer.sign(bad), Err(NoteError::Malformed(_))),
            "{bad:?}"
        );
    }
    // Texts with empty lines, even a final one, survive: the last blank line separates.
    let verifier = signer.verifier();
    for text in ["\n", "a\n\nb\n", "a\n\n", "ünïcödé — text\n"] {
        let signed = signer.sign(text).unwrap();
        let opened = open(signed.as_bytes(), &[&verifier]).unwrap();
        assert_eq!(opened.text(), text);
        assert_eq!(opened.note().to_text(), signed);
    }
}

/// The PeterNeumann golden with its signature block replaced by `block`.
fn with_block(block: &str) -> Vec<u8> {
    let v = vector("go-x-mod-note PeterNeumann");
    format!("{}\n{block}", s(&v, "text")).into_bytes()
}

#[test]
fn signature_block_edge_cases() {
    let v = vector("go-x-mod-note PeterNeumann");
    let peter = NoteVerifier::parse(s(&v, "vkey")).unwrap();
    let line = s(&v, "signed_note")
        .split('\n')
        .find(|l| l.starts_with('\u{2014}'))
        .unwrap()
        .to_owned();
    let b64 = line.rsplit(' ').next().unwrap();
    let sig_bytes = STANDARD.decode(b64).unwrap();

    // An unknown signature that shares only the name, or only the key ID, is ignored.
    let mut other_id = sig_bytes.clone();
    other_id[3] ^= 1;
    let same_name = format!("— PeterNeumann {}", STANDARD.encode(&other_id));
    let same_id = format!("— PeterNeumannX {b64}");
    let msg = with_block(&format!("{same_name}\n{same_id}\n{line}\n"));
    let opened = open(&msg, &[&peter]).unwrap();
    assert_eq!(opened.verified_signatures().len(), 1);
    assert_eq!(opened.unverified_signatures().len(), 2);

    // A second, bad signature line of the known key rejects the note.
    let mut bad_sig = sig_bytes.clone();
    bad_sig[10] ^= 0x80;
    let bad_line = format!("— PeterNeumann {}", STANDARD.encode(&bad_sig));
    for block in [
        format!("{line}\n{bad_line}\n"),
        format!("{bad_line}\n{line}\n"),
    ] {
        assert!(matches!(
            open(&with_block(&block), &[&peter]),
            Err(NoteError::InvalidSignature { .. })
        ));
    }
    // A known key's signature of the wrong length is a bad signature, not unknown.
    let short = format!("— PeterNeumann {}", STANDARD.encode(&sig_bytes[..40]));
    assert!(matches!(
        open(&with_block(&format!("{short}\n")), &[&peter]),
        Err(NoteError::InvalidSignature { .. })
    ));

    // An extra blank line before the signatures moves into the text, which the
    // signature then does not cover.
    assert!(matches!(
        open(&with_block(&format!("\n{line}\n")), &[&peter]),
        Err(NoteError::InvalidSignature { .. })
    ));

    // Malformed signature lines.
    for block in [
        "— PeterNeumann AAAAAA==\n".to_owned(), // 4 bytes: key ID without signature
        "— PeterNeumann \n".to_owned(),
        "— PeterNeumann\n".to_owned(),
        "—PeterNeumann AAAAAAA=\n".to_owned(),
        "- PeterNeumann AAAAAAA=\n".to_owned(),
        "— Peter+Neumann AAAAAAA=\n".to_owned(),
        "—  PeterNeumann AAAAAAA=\n".to_owned(),
        "— PeterNeumann AAAAAAB=\n".to_owned(), // non-canonical trailing bits
        "— PeterNeumann AAAAAAA\n".to_owned(),  // unpadded
        format!("{line}\r\n"),
        format!("{line}\n\n"),
        format!("{line} \n"),
    ] {
        assert!(
            matches!(
                Note::parse(&with_block(&block)),
                Err(NoteError::Malformed(_))
            ),
            "{block:?}"
        );
    }
}

#[test]
fn signature_count_is_bounded_at_one_hundred() {
    let v = vector("go-x-mod-note PeterNeumann");
    let peter = NoteVerifier::parse(s(&v, "vkey")).unwrap();
    let line = s(&v, "signed_note")
        .split('\n')
        .find(|l| l.starts_with('\u{2014}'))
        .unwrap()
        .to_owned();
    let unknown: Vec<String> = (0..MAX_SIGNATURES)
        .map(|i| format!("— witness{i}.example AAAAAAA=\n"))
        .collect();
    // 99 unknown signatures and the real one: exactly the limit, accepted.
    let block = format!("{}{line}\n", unknown[..MAX_SIGNATURES - 1].concat());
    let opened = open(&with_block(&block), &[&peter]).unwrap();
    assert_eq!(opened.unverified_signatures().len(), MAX_SIGNATURES - 1);
    // One more line is refused before any signature is checked.
    let block = format!("{}{line}\n", unknown.concat());
    assert_eq!(
        Note::parse(&with_block(&block)),
        Err(NoteError::TooManySignatures(MAX_SIGNATURES + 1))
    );
}

#[test]
fn ambiguous_verifiers_are_refused() {
    let v = vector("go-x-mod-note PeterNeumann");
    let peter = NoteVerifier::parse(s(&v, "vkey")).unwrap();
    let err = open(s(&v, "signed_note").as_bytes(), &[&peter, &peter]).unwrap_err();
    assert!(matches!(err, NoteError::AmbiguousVerifiers { .. }));
}

#[test]
fn every_bit_flip_of_a_signed_note_is_rejected() {
    let v = vector("go-x-mod-note PeterNeumann");
    let peter = NoteVerifier::parse(s(&v, "vkey")).unwrap();
    let msg = s(&v, "signed_note").as_bytes().to_vec();
    assert!(open(&msg, &[&peter]).is_ok());
    for i in 0..msg.len() {
        for bit in 0..8 {
            let mut m = msg.clone();
            m[i] ^= 1 << bit;
            assert!(open(&m, &[&peter]).is_err(), "byte {i} bit {bit}");
        }
    }
}

#[test]
fn checkpoint_spec_example_parses() {
    let ex = &vectors()["checkpoint_spec_example"];
    let note = Note::parse(s(ex, "signed_note").as_bytes()).unwrap();
    assert_eq!(note.to_text(), s(ex, "signed_note"));
    let cp = Checkpoint::parse(note.text()).unwrap();
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.size, 20852163);
    assert_eq!(
        cp.root.as_bytes().as_slice(),
        STANDARD
            .decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
            .unwrap()
    );
    assert!(cp.extensions.is_empty());
    assert_eq!(cp.to_text(), note.text());
    assert_eq!(note.signatures()[0].name(), cp.origin);
}

#[test]
fn checkpoint_body_goldens() {
    let goldens = vectors()["checkpoint_body_goldens"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(goldens.len(), 9);
    for g in &goldens {
        let body = s(g, "body");
        let valid = g["valid"].as_bool().unwrap();
        match Checkpoint::parse(body) {
            Ok(cp) => {
                assert!(valid, "accepted invalid body {body:?}: {:?}", g.get("why"));
                assert_eq!(cp.to_text(), body);
                assert_eq!(Checkpoint::parse(&cp.to_text()).unwrap(), cp);
            }
            Err(e) => {
                assert!(!valid, "refused valid body {body:?}: {e}");
                assert!(matches!(e, CheckpointError::Malformed(_)));
            }
        }
    }
    // The first golden in detail; its root is SHA-256(0x00 || "hello world").
    let first = &goldens[0];
    let cp = Checkpoint::parse(s(first, "body")).unwrap();
    assert_eq!(cp.origin, s(first, "origin"));
    assert_eq!(cp.size, first["size"].as_u64().unwrap());
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(b"hello world");
    assert_eq!(cp.root, Hash(h.finalize().into()));
    assert_eq!(STANDARD.encode(cp.root.as_bytes()), s(first, "root_b64"));
    assert_eq!(cp.extensions, ["abc", "def"]);
}

#[test]
fn more_malformed_checkpoint_bodies() {
    let root = "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=";
    for body in [
        String::new(),
        "o\n1\n".to_owned(),
        format!("o\n1\n{root}"), // no final newline
        format!("o\n+1\n{root}\n"),
        format!("o\n-1\n{root}\n"),
        format!("o\n 1\n{root}\n"),
        format!("o\n1 \n{root}\n"),
        format!("o\n\n{root}\n"),
        format!("o\n1\n{root}\n\n"),        // empty extension line
        format!("o\n1\n{}\n", &root[..40]), // 30 bytes
        format!("o\n1\n{root}AAAA\n"),      // 35 bytes
        "o\n1\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb1=\n".to_owned(), // trailing bits
        format!("o\n1\n{}\n", root.replace('+', "-")), // URL alphabet
        format!("o\r\n1\n{root}\n"),
        format!("o\n1\n{root}\nextension\twith tab\n"),
    ] {
        assert!(Checkpoint::parse(&body).is_err(), "{body:?}");
    }
    // The largest u64 size is fine; zero is written "0".
    let max = format!("o\n18446744073709551615\n{root}\n");
    assert_eq!(Checkpoint::parse(&max).unwrap().size, u64::MAX);
    assert_eq!(
        Checkpoint::parse(&format!("o\n0\n{root}\n")).unwrap().size,
        0
    );
}

#[test]
fn generated_checkpoints_are_reproduced_and_verified() {
    let g = generated();
    let rfc = load("rfc6962.json");
    let signer = NoteSigner::parse(s(&g, "skey")).unwrap();
    assert_eq!(signer.public_key(), hex32(s(&g, "ed25519_public_key_hex")));
    // The seed is SHA-256("merkle-log test key 1"), as the vector says.
    let seed: [u8; 32] = Sha256::digest(b"merkle-log test key 1").into();
    assert_eq!(hex::encode(seed), s(&g, "ed25519_seed_hex"));
    let verifier = NoteVerifier::parse(s(&g, "vkey")).unwrap();
    let checkpoints = g["checkpoints"].as_array().unwrap();
    let sizes: Vec<u64> = checkpoints
        .iter()
        .map(|c| c["tree_size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [0, 1, 7, 8]);
    for c in checkpoints {
        let size = c["tree_size"].as_u64().unwrap();
        let root = Hash(hex32(s(c, "root_hex")));
        // The roots are those of the RFC 6962 vector tree.
        assert_eq!(
            s(c, "root_hex"),
            rfc["roots"][size.to_string()].as_str().unwrap()
        );
        let cp = Checkpoint {
            origin: s(&g, "origin").to_owned(),
            size,
            root,
            extensions: vec![],
        };
        assert_eq!(cp.to_text(), s(c, "body"));
        let signed = cp.sign(&signer).unwrap();
        assert_eq!(signed.as_str(), s(c, "signed_note"), "size {size}");
        assert_eq!(
            signed.as_bytes(),
            hex::decode(s(c, "signed_note_hex")).unwrap()
        );

        let verified = SignedCheckpoint::verify(s(c, "signed_note").as_bytes(), &verifier).unwrap();
        assert_eq!(verified.checkpoint(), &cp);
        assert_eq!(verified.size(), size);
        assert_eq!(verified.root(), &root);
        assert_eq!(verified.origin(), s(&g, "origin"));
        assert_eq!(verified.body(), s(c, "body"));
        assert_eq!(verified.as_str(), s(c, "signed_note"));
        assert_eq!(verified, signed);
    }
}

#[test]
fn cosigned_checkpoint_keeps_the_unknown_signature_verbatim() {
    let g = generated();
    let verifier = NoteVerifier::parse(s(&g, "vkey")).unwrap();
    let note = s(&g, "size8_with_extra_unknown_signature");
    let verified = SignedCheckpoint::verify(note.as_bytes(), &verifier).unwrap();
    assert_eq!(verified.size(), 8);
    assert_eq!(verified.as_str(), note);
    assert_eq!(verified.note().unverified_signatures().len(), 1);
    assert_eq!(
        verified.note().unverified_signatures()[0].name(),
        "EnochRoot"
    );
    // Known to be EnochRoot's key, that signature is over this body and valid too.
    let enoch = NoteVerifier::parse(s(&vector("go-x-mod-note EnochRoot"), "vkey")).unwrap();
    let both = open(note.as_bytes(), &[&verifier, &enoch]).unwrap();
    assert_eq!(both.verified_signatures().len(), 2);
}

#[test]
fn checkpoint_verification_failures() {
    let g = generated();
    let verifier = NoteVerifier::parse(s(&g, "vkey")).unwrap();
    let signer = NoteSigner::parse(s(&g, "skey")).unwrap();
    let size8 = g["checkpoints"][3]["signed_note"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another key entirely.
    let peter = NoteVerifier::parse(s(&vector("go-x-mod-note PeterNeumann"), "vkey")).unwrap();
    let err = SignedCheckpoint::verify(size8.as_bytes(), &peter).unwrap_err();
    assert!(matches!(
        err,
        CheckpointError::Note(NoteError::NoVerifiedSignature { .. })
    ));
    assert!(err.is_verification_failure());

    // Same name, different key: a different key ID, so the signature is unknown.
    let impostor = NoteSigner::new(s(&g, "origin"), &[1u8; 32]).unwrap();
    assert!(SignedCheckpoint::verify(size8.as_bytes(), &impostor.verifier()).is_err());

    // A changed size or root breaks the log's signature.
    for tampered in [
        size8.replacen("\n8\n", "\n9\n", 1),
        size8.replacen("Xcna", "Xcnb", 1),
    ] {
        let err = SignedCheckpoint::verify(tampered.as_bytes(), &verifier).unwrap_err();
        assert!(
            matches!(
                err,
                CheckpointError::Note(NoteError::InvalidSignature { .. })
            ),
            "{err:?}"
        );
    }

    // The origin must be the key name, unless the caller names the origin explicitly.
    let err = SignedCheckpoint::verify_for_origin(size8.as_bytes(), &verifier, "example.com/x")
        .unwrap_err();
    assert!(matches!(err, CheckpointError::WrongOrigin { .. }));
    assert!(err.is_verification_failure());
    let foreign = Checkpoint {
        origin: "example.com/another-log".into(),
        size: 8,
        root: Hash([5u8; 32]),
        extensions: vec![],
    }
    .sign(&signer)
    .unwrap();
    let err = SignedCheckpoint::verify(foreign.as_bytes(), &verifier).unwrap_err();
    assert_eq!(
        err,
        CheckpointError::WrongOrigin {
            origin: "example.com/another-log".into(),
            expected: s(&g, "origin").into()
        }
    );
    let ok = SignedCheckpoint::verify_for_origin(
        foreign.as_bytes(),
        &verifier,
        "example.com/another-log",
    )
    .unwrap();
    assert_eq!(ok.size(), 8);

    // A well-signed note whose text is not a checkpoint is malformed.
    let not_cp = signer.sign("hello\n").unwrap();
    let err = SignedCheckpoint::verify(not_cp.as_bytes(), &verifier).unwrap_err();
    assert!(matches!(err, CheckpointError::Malformed(_)));
    assert!(!err.is_verification_failure());
}

#[test]
fn checkpoints_with_unserializable_fields_are_not_signed() {
    let signer = NoteSigner::new("example.com/log", &[3u8; 32]).unwrap();
    for cp in [
        Checkpoint {
            origin: "example.com/log\n5".into(),
            size: 1,
            root: Hash([0u8; 32]),
            extensions: vec![],
        },
        Checkpoint {
            origin: String::new(),
            size: 1,
            root: Hash([0u8; 32]),
            extensions: vec![],
        },
        Checkpoint {
            origin: "example.com/log".into(),
            size: 1,
            root: Hash([0u8; 32]),
            extensions: vec![String::new()],
        },
        Checkpoint {
            origin: "example.com/log".into(),
            size: 1,
            root: Hash([0u8; 32]),
            extensions: vec!["a\nb".into()],
        },
    ] {
        assert!(cp.sign(&signer).is_err(), "{cp:?}");
    }
    // Extension lines are signed and verified like the rest of the body.
    let cp = Checkpoint {
        origin: "example.com/log".into(),
        size: 1,
        root: Hash([0u8; 32]),
        extensions: vec!["ext one".into(), "two".into()],
    };
    let signed = cp.sign(&signer).unwrap();
    let back = SignedCheckpoint::verify(signed.as_bytes(), &signer.verifier()).unwrap();
    assert_eq!(back.checkpoint(), &cp);
}
