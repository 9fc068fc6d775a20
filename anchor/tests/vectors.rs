//! The shared OpenTimestamps vectors (`shared/vectors/ots/`, see its README):
//! parsing, byte-identical re-serialization, commitments, upgrade merging,
//! Bitcoin verification and rejection of the invalid files.

mod common;

use anchor::{
    Attestation, BlockHeader, DetachedTimestamp, HashOp, HeaderSet, Limit, OtsError, Timestamp,
};
use common::*;
use sha2::{Digest, Sha256};

const ALICE: &str = "https://alice.btc.calendar.opentimestamps.org";
const BOB: &str = "https://bob.btc.calendar.opentimestamps.org";
const FINNEY: &str = "https://finney.calendar.eternitywall.com";

fn parse(file: &str) -> DetachedTimestamp {
    DetachedTimestamp::parse(&read(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn header_358391() -> BlockHeader {
    let text = String::from_utf8(read("headers/358391.hex")).unwrap();
    let header = BlockHeader::from_hex(&text).unwrap();
    assert_eq!(header.as_bytes()[..], read("headers/358391.bin")[..]);
    header
}

#[test]
fn every_valid_detached_vector_parses_and_reserializes_byte_identically() {
    let files = valid_detached_files();
    // hello-world, incomplete, upgraded, two-calendars, merkle1..3 and the
    // two notary files: nine in all.
    assert_eq!(files.len(), 9, "{files:?}");
    for file in files {
        let bytes = read(&file);
        let stamp = parse(&file);
        assert_eq!(stamp.file_hash_op, HashOp::Sha256, "{file}");
        assert_eq!(
            stamp.to_bytes().unwrap(),
            bytes,
            "{file} did not round-trip"
        );
    }
}

#[test]
fn every_calendar_capture_parses_as_a_bare_timestamp_and_round_trips() {
    let files = bare_files();
    assert_eq!(files.len(), 5, "{files:?}");
    for file in files {
        let bytes = read(&file);
        let root = bare_root_for(&file);
        let t = Timestamp::parse(&bytes, &root).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            t.to_bytes(&root).unwrap(),
            bytes,
            "{file} did not round-trip"
        );
        let leaves = t.attestations_with_messages(&root).unwrap();
        assert_eq!(leaves.len(), 1, "{file}");
        let expected = if file.contains("POST_digest") {
            // Each POST answer ends in one pending attestation naming the
            // calendar that will hold it (the a.pool aggregator forwards to alice).
            let uri = match file.rsplit('_').next().unwrap() {
                "alice.bin" | "a.pool.bin" => ALICE,
                "bob.bin" => BOB,
                "finney.bin" => FINNEY,
                other => panic!("unexpected capture {other}"),
            };
            Attestation::Pending { uri: uri.into() }
        } else {
            // The README: the GET answer ends in a Bitcoin attestation at block 428648.
            Attestation::Bitcoin { height: 428_648 }
        };
        assert_eq!(leaves[0].attestation, &expected, "{file}");
    }
}

#[test]
fn file_digest_is_sha256_of_the_stamped_file() {
    let mut checked = 0;
    for file in valid_detached_files() {
        let name = file.rsplit('/').next().unwrap();
        let data_name = name
            .trim_end_matches(".ots")
            .trim_end_matches(".upgraded")
            .to_string();
        let data = read(&data_name);
        let stamp = parse(&file);
        assert_eq!(stamp.digest, Sha256::digest(&data).to_vec(), "{file}");
        assert!(stamp.matches_data(&data));
        assert!(!stamp.matches_data(b"something else"));
        checked += 1;
    }
    assert_eq!(checked, 9);
}

#[test]
fn hello_world_verifies_at_block_358391() {
    let stamp = parse("hello-world.txt.ots");
    let header = header_358391();
    // Values from the vectors README.
    assert_eq!(
        header.merkle_root_display(),
        "8a1b66ecb7cbd07d8139a7e7d7f2c41aab1f5009b8364aaf61d03ad245e47e00"
    );
    assert_eq!(header.time(), 1_432_827_678);
    // A real mined header satisfies its own proof-of-work target.
    header.check_pow(358_391).unwrap();

    let text = format!(
        "# block 358391\n\n358391 {}\n",
        hex::encode(header.as_bytes())
    );
    let headers = HeaderSet::parse(&text).unwrap();
    assert_eq!(headers.get(358_391), Some(&header));

    let report = stamp.verify_bitcoin(&headers).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(report.pending.is_empty());
    assert_eq!(report.verified.len(), 1);
    let v = &report.verified[0];
    assert_eq!(v.height, 358_391);
    assert_eq!(v.time, 1_432_827_678);
    assert_eq!(
        v.merkle_root_display,
        "8a1b66ecb7cbd07d8139a7e7d7f2c41aab1f5009b8364aaf61d03ad245e47e00"
    );
    assert_eq!(report.earliest(), Some(v));

    // The listing gives the message at the attestation: the header's Merkle
    // root in internal byte order, no reversal.
    let leaves = stamp.attestations().unwrap();
    assert_eq!(leaves.len(), 1);
    assert_eq!(
        leaves[0].attestation,
        &Attestation::Bitcoin { height: 358_391 }
    );
    assert_eq!(leaves[0].message, header.merkle_root().to_vec());
}

#[test]
fn hello_world_fails_against_a_wrong_or_missing_header() {
    let stamp = parse("hello-world.txt.ots");
    let real = header_358391();

    let mut bytes = *real.as_bytes();
    bytes[40] ^= 0x01; // inside the Merkle root
    let wrong = BlockHeader::from_bytes(&bytes).unwrap();
    let report = stamp
        .verify_bitcoin(&HeaderSet::from_headers([(358_391, wrong)]).unwrap())
        .unwrap();
    assert!(report.verified.is_empty());
    assert_eq!(report.failed.len(), 1);
    match &report.failed[0].error {
        OtsError::MerkleRootMismatch {
            height,
            message,
            merkle_root,
        } => {
            assert_eq!(*height, 358_391);
            assert_eq!(message, &real.merkle_root().to_vec());
            assert_eq!(merkle_root, &wrong.merkle_root());
        }
        other => panic!("unexpected {other:?}"),
    }

    // A header for another height does not help.
    let report = stamp
        .verify_bitcoin(&HeaderSet::from_headers([(358_390, real)]).unwrap())
        .unwrap();
    assert!(report.verified.is_empty());
    assert_eq!(
        report.failed[0].error,
        OtsError::MissingHeader { height: 358_391 }
    );
}

#[test]
fn incomplete_pending_commitment_is_the_readme_value() {
    let stamp = parse("incomplete.txt.ots");
    let pending = stamp.pending_commitments().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].uri, ALICE);
    assert_eq!(
        hex::encode(&pending[0].commitment),
        INCOMPLETE_COMMITMENT_HEX
    );
    assert!(!stamp.is_complete().unwrap());
    let report = stamp.verify_bitcoin(&HeaderSet::default()).unwrap();
    assert_eq!(report.pending, pending);
    assert!(report.verified.is_empty() && report.failed.is_empty());
}

#[test]
fn merging_alice_answer_yields_the_upgraded_file() {
    let mut stamp = parse("incomplete.txt.ots");
    let commitment = hex::decode(INCOMPLETE_COMMITMENT_HEX).unwrap();
    let answer = Timestamp::parse(
        &read("calendar_responses/alice_GET_timestamp_57cfa5c4.bin"),
        &commitment,
    )
    .unwrap();
    assert_eq!(stamp.merge_upgrade(&commitment, answer), Ok(1));
    assert_eq!(
        stamp.to_bytes().unwrap(),
        read("calendar_responses/incomplete.txt.upgraded.ots")
    );
    assert!(stamp.is_complete().unwrap());
    let kinds: Vec<_> = stamp
        .attestations()
        .unwrap()
        .into_iter()
        .map(|a| a.attestation.clone())
        .collect();
    assert_eq!(
        kinds,
        vec![
            Attestation::Pending { uri: ALICE.into() },
            Attestation::Bitcoin { height: 428_648 }
        ]
    );
}

#[test]
fn an_answer_for_another_commitment_is_refused() {
    let mut stamp = parse("incomplete.txt.ots");
    let before = stamp.clone();
    let wrong = hex::decode(POST_DIGEST_HEX).unwrap();
    let answer = Timestamp::parse(
        &read("calendar_responses/alice_GET_timestamp_57cfa5c4.bin"),
        &wrong,
    )
    .unwrap();
    assert!(matches!(
        stamp.merge_upgrade(&wrong, answer),
        Err(OtsError::UnknownCommitment { .. })
    ));
    assert_eq!(stamp, before);
}

#[test]
fn invalid_files_are_rejected_with_specific_errors() {
    assert!(matches!(
        DetachedTimestamp::parse(&read("invalid/bad-major-version.ots")),
        Err(OtsError::UnsupportedVersion { version }) if version != 1
    ));
    // sha256 digest (32 bytes), hexlify seven times (4096 bytes), then
    // append 16 bytes: 4112 > 4096.
    match DetachedTimestamp::parse(&read("invalid/exceeds-max-msg-length.ots")) {
        Err(OtsError::LimitExceeded {
            limit: Limit::OpResult,
            offset: Some(_),
            actual,
            max,
        }) => {
            assert_eq!(actual, 4112);
            assert_eq!(max, 4096);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn structural_rejections() {
    let good = read("hello-world.txt.ots");
    let mut bad_magic = good.clone();
    bad_magic[5] ^= 0x20;
    assert_eq!(
        DetachedTimestamp::parse(&bad_magic),
        Err(OtsError::BadMagic)
    );
    assert_eq!(
        DetachedTimestamp::parse(&good[..10]),
        Err(OtsError::BadMagic)
    );
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(
        DetachedTimestamp::parse(&trailing),
        Err(OtsError::TrailingBytes { offset: good.len() })
    );
    let mut not_hash = good.clone();
    not_hash[32] = 0xf0; // the file-hash op byte, after magic and version
    assert!(matches!(
        DetachedTimestamp::parse(&not_hash),
        Err(OtsError::NotAHashOp {
            offset: 32,
            tag: 0xf0
        })
    ));
    assert!(matches!(
        DetachedTimestamp::parse(&good[..good.len() - 1]),
        Err(OtsError::Truncated { .. })
    ));
}

#[test]
fn notary_and_fork_vectors() {
    let unknown = parse("unknown-notary.txt.ots");
    let leaves = unknown.attestations().unwrap();
    assert_eq!(leaves.len(), 1);
    match leaves[0].attestation {
        Attestation::Unknown { tag, payload } => {
            assert_eq!(tag, &[1, 2, 3, 4, 5, 6, 7, 8]);
            assert!(!payload.is_empty() && payload.iter().all(|&b| b == b'x'));
        }
        other => panic!("unexpected {other:?}"),
    }

    let mixed = parse("known-and-unknown-notary.txt.ots");
    let kinds: Vec<_> = mixed
        .attestations()
        .unwrap()
        .into_iter()
        .map(|a| matches!(a.attestation, Attestation::Pending { .. }))
        .collect();
    assert_eq!(kinds.len(), 2);
    assert_eq!(kinds.iter().filter(|p| **p).count(), 1);

    for file in [
        "two-calendars.txt.ots",
        "merkle1.txt.ots",
        "merkle2.txt.ots",
        "merkle3.txt.ots",
    ] {
        let stamp = parse(file);
        let mut uris: Vec<_> = stamp
            .pending_commitments()
            .unwrap()
            .into_iter()
            .map(|p| p.uri)
            .collect();
        uris.sort();
        assert_eq!(uris, vec![ALICE.to_string(), BOB.to_string()], "{file}");
    }
}
