//! Hostile-input tests: every truncation and single-byte change of every
//! vector file must give `Ok` or `Err`, never a panic; whatever parses must
//! re-serialize and parse back to the same value; and no single bit flip of
//! hello-world.txt.ots can make it prove a different digest.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use anchor::{BlockHeader, DetachedTimestamp, HeaderSet, Timestamp};
use common::*;

/// Runs every parser on `input` and checks the round-trip property.
fn exercise(input: &[u8], bare_root: &[u8], headers: &HeaderSet) {
    if let Ok(stamp) = DetachedTimestamp::parse(input) {
        let bytes = stamp.to_bytes().expect("a parsed stamp must serialize");
        assert_eq!(DetachedTimestamp::parse(&bytes).as_ref(), Ok(&stamp));
        // Replaying the tree and verifying must not fail on a parsed stamp.
        stamp.attestations().expect("a parsed stamp must replay");
        stamp
            .verify_bitcoin(headers)
            .expect("a parsed stamp must verify or report");
    }
    for root in [bare_root, &[0u8; 32][..], &[0u8; 20][..]] {
        if let Ok(t) = Timestamp::parse(input, root) {
            let bytes = t.to_bytes(root).expect("a parsed timestamp must serialize");
            assert_eq!(Timestamp::parse(&bytes, root).as_ref(), Ok(&t));
            t.pending_commitments(root)
                .expect("a parsed timestamp must replay");
        }
    }
}

fn headers() -> HeaderSet {
    let text = String::from_utf8(read("headers/358391.hex")).unwrap();
    HeaderSet::from_headers([(358_391, BlockHeader::from_hex(&text).unwrap())]).unwrap()
}

fn root_for(file: &str) -> Vec<u8> {
    if file.starts_with("calendar_responses/") && file.ends_with(".bin") {
        bare_root_for(file)
    } else {
        vec![0x55; 32]
    }
}

fn check(file: &str, what: &str, input: &[u8], root: &[u8], headers: &HeaderSet) {
    let outcome = catch_unwind(AssertUnwindSafe(|| exercise(input, root, headers)));
    assert!(outcome.is_ok(), "{file}: panic on {what}");
}

#[test]
fn every_truncation_of_every_vector_file_is_handled() {
    let headers = headers();
    let files = all_ots_vector_files();
    assert!(files.len() >= 20, "{files:?}");
    let mut cases = 0usize;
    for file in &files {
        let bytes = read(file);
        let root = root_for(file);
        for len in 0..bytes.len() {
            check(
                file,
                &format!("truncation to {len}"),
                &bytes[..len],
                &root,
                &headers,
            );
            cases += 1;
        }
    }
    assert!(cases > 4000, "only {cases} truncations");
}

#[test]
fn every_single_byte_change_of_every_vector_file_is_handled() {
    let headers = headers();
    let mut cases = 0usize;
    for file in all_ots_vector_files() {
        let bytes = read(&file);
        let root = root_for(&file);
        for pos in 0..bytes.len() {
            let original = bytes[pos];
            let replacements = [
                original ^ 0x01,
                original ^ 0x80,
                original ^ 0xff,
                0x00,
                0xff,
            ];
            for value in replacements {
                if value == original {
                    continue;
                }
                let mut mutated = bytes.clone();
                mutated[pos] = value;
                check(
                    &file,
                    &format!("byte {pos} := {value:02x}"),
                    &mutated,
                    &root,
                    &headers,
                );
                cases += 1;
            }
        }
    }
    assert!(cases > 15_000, "only {cases} mutations");
}

#[test]
fn no_bit_flip_of_hello_world_proves_another_digest() {
    let headers = headers();
    let bytes = read("hello-world.txt.ots");
    let original = DetachedTimestamp::parse(&bytes).unwrap();
    assert!(original.verify_bitcoin(&headers).unwrap().has_verified());
    let mut still_verifying = Vec::new();
    for pos in 0..bytes.len() {
        for bit in 0..8 {
            let mut mutated = bytes.clone();
            mutated[pos] ^= 1 << bit;
            let Ok(stamp) = DetachedTimestamp::parse(&mutated) else {
                continue;
            };
            if stamp.verify_bitcoin(&headers).unwrap().has_verified() {
                // Some flips are harmless: where Bitcoin's Merkle tree pairs
                // a node with itself (odd count), `append X` and `prepend X`
                // give the same result. Such a proof must still be a proof
                // of the same file.
                assert_eq!(
                    stamp.digest, original.digest,
                    "flipping bit {bit} of byte {pos} proves another digest"
                );
                still_verifying.push((pos, bit));
            }
        }
    }
    // Only op-tag flips between append (f0) and prepend (f1) can be harmless.
    for (pos, bit) in &still_verifying {
        assert_eq!(*bit, 0);
        assert!(matches!(bytes[*pos], 0xf0 | 0xf1), "byte {pos}");
    }
}
