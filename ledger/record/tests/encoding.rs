//! Round trips for every kind, and the encoding, signing message, record hash and key id
//! checked against an independent rendering of docs/RECORDS.md.

mod common;

use common::*;
use ledger_record::{
    Body, EvidenceBody, Hash, Kind, Record, RecordError, UnsignedRecord, MAX_RECORD_LEN,
};
use sha2::{Digest, Sha256};

#[test]
fn every_kind_round_trips() {
    let records = one_of_each_kind();
    assert_eq!(records.len(), 13);
    for record in &records {
        let bytes = record.encode();
        let decoded = Record::decode(&bytes).unwrap();
        assert_eq!(&decoded, record);
        assert_eq!(decoded.encode(), bytes);
        assert_eq!(decoded.hash(), record.hash());
    }
    let kinds: Vec<Kind> = records.iter().map(Record::kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::Evidence,
            Kind::Evidence,
            Kind::Healing,
            Kind::Key,
            Kind::Key,
            Kind::Key,
            Kind::Key,
            Kind::Release,
            Kind::Release,
            Kind::Release,
            Kind::Rollout,
            Kind::Rollout,
            Kind::Update
        ]
    );
}

#[test]
fn encoding_matches_the_specification() {
    for record in one_of_each_kind() {
        assert_eq!(
            record.encode(),
            naive_record(&record),
            "{:?} record",
            record.kind()
        );
    }
}

#[test]
fn signing_message_matches_the_specification() {
    for record in one_of_each_kind() {
        let mut want = b"evidence-ledger/record/v1\x00".to_vec();
        want.extend(m(naive_entries(record.unsigned(), None)).enc());
        assert_eq!(record.signing_message(), want);
        assert_eq!(record.unsigned().signing_message(), want);
    }
}

#[test]
fn record_hash_is_sha256_of_the_encoding() {
    for record in one_of_each_kind() {
        let want: [u8; 32] = Sha256::digest(record.encode()).into();
        assert_eq!(record.hash(), Hash(want));
    }
}

#[test]
fn key_id_is_truncated_domain_separated_sha256() {
    for n in [1u8, 2, 77] {
        let public = key(n).verifying_key();
        let mut input = b"evidence-ledger/key/v1".to_vec();
        input.push(0);
        input.extend_from_slice(public.as_bytes());
        let digest = Sha256::digest(&input);
        assert_eq!(ledger_record::KeyId::of(&public).0, digest[..8]);
    }
}

#[test]
fn a_hand_assembled_record_decodes() {
    // Built byte by byte from docs/RECORDS.md, not by the crate: a healing record.
    let signer = key(1);
    let u = unsigned(1, Hash([0; 32]), Body::Healing(healing_body()));
    let mut msg = b"evidence-ledger/record/v1\x00".to_vec();
    msg.extend(m(naive_entries(&u, None)).enc());
    let sig = ed25519_dalek::Signer::sign(&signer, &msg).to_bytes();
    let bytes = m(naive_entries(&u, Some(&sig))).enc();
    let record = Record::decode(&bytes).unwrap();
    assert_eq!(record.unsigned(), &u);
    record.verify(&signer.verifying_key()).unwrap();
}

#[test]
fn chained_records_link_by_record_hash() {
    let signer = key(1);
    let first = Record::sign(
        unsigned(1, Hash([0; 32]), Body::Healing(healing_body())),
        &signer,
    )
    .unwrap();
    let second = Record::sign(
        unsigned(2, first.hash(), Body::Healing(healing_body())),
        &signer,
    )
    .unwrap();
    assert_eq!(second.prev_hash(), &first.hash());
    assert_eq!(Record::decode(&second.encode()).unwrap(), second);
}

#[test]
fn sequence_and_prev_hash_rules() {
    let signer = key(1);
    let body = || Body::Healing(healing_body());
    let cases: Vec<(UnsignedRecord, &str)> = vec![
        (unsigned(0, Hash([0; 32]), body()), "record.sequence"),
        (unsigned(1, Hash([1; 32]), body()), "record.prev_hash"),
        (unsigned(2, Hash([0; 32]), body()), "record.prev_hash"),
    ];
    for (u, field) in cases {
        // Refused when signing, and refused when decoding a record signed anyway.
        assert!(matches!(
            Record::sign(u.clone(), &signer),
            Err(RecordError::InvalidValue { field: f, .. }) if f == field
        ));
        let mut msg = b"evidence-ledger/record/v1\x00".to_vec();
        msg.extend(m(naive_entries(&u, None)).enc());
        let sig = ed25519_dalek::Signer::sign(&signer, &msg).to_bytes();
        let bytes = m(naive_entries(&u, Some(&sig))).enc();
        assert!(matches!(
            Record::decode(&bytes),
            Err(RecordError::InvalidValue { field: f, .. }) if f == field
        ));
    }
}

#[test]
fn largest_inline_bundle_fits_and_one_more_item_does_not() {
    // Grow an inline bundle until signing reports TooLarge; the last one that signed must
    // decode and be at most 65,535 bytes.
    let signer = key(1);
    let mut n = 1;
    let mut last_ok = None;
    loop {
        let body = Body::Evidence(EvidenceBody::inline(items(n)).unwrap());
        match Record::sign(unsigned(1, Hash([0; 32]), body), &signer) {
            Ok(r) => {
                last_ok = Some(r);
                n += 1;
            }
            Err(RecordError::TooLarge { len, max }) => {
                assert_eq!(max, MAX_RECORD_LEN);
                assert!(len > MAX_RECORD_LEN);
                break;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    let last = last_ok.unwrap();
    assert!(last.encode().len() <= MAX_RECORD_LEN);
    assert_eq!(Record::decode(&last.encode()).unwrap(), last);
}
