//! Interop bytes: requests written byte for byte as C2SP tlog-witness and
//! signed-note describe them (hand-built key IDs, signature lines and proof lines,
//! not ledger-core's serializers), and the answer read back with
//! `Cosignature::parse_line` and checked against the cosignature/v1 signed message
//! (tlog-cosignature §Ed25519 signed message) with the raw Ed25519 key.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::WitnessProc;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use ledger_core::cosignature::Cosignature;
use ledger_core::tree::MemoryTree;
use sha2::{Digest, Sha256};

const ORIGIN: &str = "example.org/interop-log";

/// signed-note §Format: key ID = SHA-256(name || 0x0A || type || public key)[:4].
fn key_id(name: &str, ty: u8, pk: &[u8; 32]) -> [u8; 4] {
    let d = Sha256::digest([name.as_bytes(), b"\n", &[ty], pk].concat());
    [d[0], d[1], d[2], d[3]]
}

/// The log's verifier key string, by hand.
fn log_vkey(key: &SigningKey) -> String {
    let pk = key.verifying_key().to_bytes();
    let id = key_id(ORIGIN, 0x01, &pk);
    let typed = [&[0x01u8][..], &pk].concat();
    format!(
        "{ORIGIN}+{:08x}+{}",
        u32::from_be_bytes(id),
        STANDARD.encode(typed)
    )
}

/// A signed checkpoint note, by hand: text, blank line, `— <name> base64(id || sig)`.
fn note(key: &SigningKey, tree: &MemoryTree) -> (String, Vec<u8>) {
    let text = format!(
        "{ORIGIN}\n{}\n{}\n",
        tree.size(),
        STANDARD.encode(tree.root().0)
    );
    let sig = key.sign(text.as_bytes()).to_bytes();
    let id = key_id(ORIGIN, 0x01, &key.verifying_key().to_bytes());
    let line = format!(
        "\u{2014} {ORIGIN} {}\n",
        STANDARD.encode([&id[..], &sig].concat())
    );
    let note = format!("{text}\n{line}").into_bytes();
    (text, note)
}

/// Checks a 200 answer by hand against the witness's vkey and the checkpoint text.
fn check_answer(w: &WitnessProc, text: &str, answer: &common::Answer) {
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.text();
    let line = body.strip_suffix('\n').expect("newline-terminated");
    let cosig = Cosignature::parse_line(line).expect("a cosignature/v1 line");
    assert_eq!(cosig.name(), w.name);
    // vkey: <name>+<hex id>+base64(0x04 || pk)
    let mut parts = w.vkey.splitn(3, '+');
    let (name, id_hex, key_b64) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    assert_eq!(name, w.name);
    let typed = STANDARD.decode(key_b64).unwrap();
    assert_eq!(typed[0], 0x04, "cosignature/v1 key type");
    let pk: [u8; 32] = typed[1..].try_into().unwrap();
    assert_eq!(format!("{:08x}", cosig.key_id()), id_hex);
    assert_eq!(cosig.key_id(), u32::from_be_bytes(key_id(name, 0x04, &pk)));
    // The line's bytes after the key ID: timestamp (u64 BE) || Ed25519 signature.
    let raw = STANDARD.decode(line.rsplit(' ').next().unwrap()).unwrap();
    assert_eq!(raw.len(), 4 + 8 + 64);
    let ts = u64::from_be_bytes(raw[4..12].try_into().unwrap());
    assert_eq!(ts, cosig.timestamp());
    assert!(ts > 1_600_000_000, "a real clock, not zero");
    let msg = format!("cosignature/v1\ntime {ts}\n{text}");
    let sig = Signature::from_bytes(&raw[12..].try_into().unwrap());
    VerifyingKey::from_bytes(&pk)
        .unwrap()
        .verify(msg.as_bytes(), &sig)
        .expect("cosignature verifies over the spec's signed message");
}

#[test]
fn hand_built_requests_are_accepted_and_answers_verify() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[42; 32]);
    let mut w = WitnessProc::create(dir.path(), "witness.example.org", &[log_vkey(&key)]);
    w.start();
    let mut tree = MemoryTree::new();
    for i in 0..5u32 {
        tree.push_entry(&i.to_be_bytes());
    }
    let (text5, note5) = note(&key, &tree);
    // old 0: no proof lines, then the empty line, then the note.
    let body = [b"old 0\n\n".as_slice(), &note5].concat();
    check_answer(&w, &text5, &w.add(&body));

    for i in 5..11u32 {
        tree.push_entry(&i.to_be_bytes());
    }
    let proof = ledger_core::proof::consistency_proof(&tree, 5, 11).unwrap();
    let (text11, note11) = note(&key, &tree);
    let mut body = b"old 5\n".to_vec();
    for h in &proof {
        body.extend_from_slice(STANDARD.encode(h.0).as_bytes());
        body.push(b'\n');
    }
    body.push(b'\n');
    body.extend_from_slice(&note11);
    check_answer(&w, &text11, &w.add(&body));
}

/// The request example of C2SP tlog-witness §add-checkpoint, verbatim. This witness
/// does not trust that log, so getting past parsing to the origin check (404) shows
/// the bytes are read as the spec means them.
#[test]
fn the_spec_example_body_is_read_up_to_the_origin_check() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[42; 32]);
    let mut w = WitnessProc::create(dir.path(), "witness.example.org", &[log_vkey(&key)]);
    w.start();
    let body = "old 20852014\n\
        PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
        jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\
        \n\
        example.com/behind-the-sofa\n\
        20852163\n\
        CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
        \n\
        \u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
    let answer = w.add(body.as_bytes());
    assert_eq!(answer.status, 404, "{}", answer.text());
    assert!(answer.text().contains("example.com/behind-the-sofa"));
}

/// A request recorded in torchwood's litewitness tests
/// (`cmd/litewitness/testdata/multi-cosigs-ed25519.txt`): a Sigsum log (Ed25519 key
/// `52c05eda…`, origin `sigsum.org/v1/tree/<hex SHA-256 of the key>`) sending its first
/// checkpoint from old size 0. Accepting it shows this witness reads another
/// implementation's bytes and checks its log signature as that witness does.
#[test]
fn a_request_recorded_from_litewitness_tests_is_cosigned() {
    const LOG_KEY: &str = "52c05edad1bf5feffa81354faae59a655d9a9a1a793ed2f62c39c26c0be2aecd";
    const ORIGIN: &str =
        "sigsum.org/v1/tree/985ea163f5af026723561354f51f2ebcdcf2af809ce254ccfb64aa9aadd80f90";
    let pk: [u8; 32] = (0..32)
        .map(|i| u8::from_str_radix(&LOG_KEY[2 * i..2 * i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .try_into()
        .unwrap();
    let key_hash: String = Sha256::digest(pk)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(format!("sigsum.org/v1/tree/{key_hash}"), ORIGIN);
    let vkey = format!(
        "{ORIGIN}+{:08x}+{}",
        u32::from_be_bytes(key_id(ORIGIN, 0x01, &pk)),
        STANDARD.encode([&[0x01u8][..], &pk].concat())
    );
    let dir = tempfile::tempdir().unwrap();
    let mut w = WitnessProc::create(dir.path(), "example.com/witness", &[vkey]);
    w.start();
    let text = format!("{ORIGIN}\n1\nKgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
    let body = format!(
        "old 0\n\n{text}\n\u{2014} {ORIGIN} 7BKT0gOfNZ1J0So9unY3BZtm2YkPIoNYM/dce0Z2avJDs8dxN6ts9bOSwwrVrbjm6P9K3ZxpK6jJngOG6YvGGzV/lwo=\n"
    );
    check_answer(&w, &text, &w.add(body.as_bytes()));
    // litewitness then reports size 1 for the log; so does this witness.
    let stale = w.add(body.as_bytes());
    assert_eq!(stale.status, 409);
    assert_eq!(stale.text(), "1\n");
}
