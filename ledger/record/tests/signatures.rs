//! Signing and verification: right key, wrong key, bad signatures, malleated signatures,
//! missing domain separation, and batch verification agreeing with single verification.

mod common;

use common::*;
use ed25519_dalek::Signer;
use ledger_record::{
    verify_batch, Body, Hash, KeyId, Record, RecordError, UnsignedRecord, VerifyingKey,
};

/// Encodes `u` with an arbitrary 64-byte signature (decoding does not check it).
fn with_signature(u: &UnsignedRecord, sig: [u8; 64]) -> Record {
    Record::decode(&m(naive_entries(u, Some(&sig))).enc()).unwrap()
}

fn healing(sequence: u64, prev: Hash) -> UnsignedRecord {
    unsigned(sequence, prev, Body::Healing(healing_body()))
}

#[test]
fn records_verify_with_their_key() {
    let signers = [
        key(1),
        key(1),
        key(1),
        key(1),
        key(9),
        key(9),
        key(9),
        key(9),
        key(9),
        key(9),
        key(9),
        key(9),
        key(1),
    ];
    for (record, signer) in one_of_each_kind().iter().zip(&signers) {
        record.verify(&signer.verifying_key()).unwrap();
    }
}

#[test]
fn wrong_key_is_a_key_id_mismatch() {
    let record = Record::sign(healing(1, Hash([0; 32])), &key(1)).unwrap();
    let other = key(2).verifying_key();
    let err = record.verify(&other).unwrap_err();
    assert_eq!(
        err,
        RecordError::KeyIdMismatch {
            record: KeyId::of(&key(1).verifying_key()),
            key: KeyId::of(&other),
        }
    );
    assert!(err.is_verification_failure());
}

#[test]
fn signing_with_a_key_the_record_does_not_name_is_refused() {
    let err = Record::sign(healing(1, Hash([0; 32])), &key(2)).unwrap_err();
    assert!(matches!(err, RecordError::KeyIdMismatch { .. }));
}

#[test]
fn bad_signatures() {
    let u = healing(1, Hash([0; 32]));
    let public = key(1).verifying_key();
    let good = Record::sign(u.clone(), &key(1))
        .unwrap()
        .signature()
        .to_bytes();

    let mut flipped = good;
    flipped[10] ^= 0x01;
    // Signed by another key while naming key(1).
    let by_other = key(2).sign(&u.signing_message()).to_bytes();
    // Signed over the envelope without the domain-separation prefix.
    let undomained = {
        let msg = u.signing_message();
        let prefix = b"evidence-ledger/record/v1\x00".len();
        key(1).sign(&msg[prefix..]).to_bytes()
    };
    // The same signature with s replaced by s + L (RFC 8032 §5.1.7 requires s < L).
    let malleated = {
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x10,
        ];
        let mut sig = good;
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = sig[32 + i] as u16 + l[i] as u16 + carry;
            sig[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        sig
    };
    for (what, sig) in [
        ("flipped bit", flipped),
        ("other key", by_other),
        ("no domain separation", undomained),
        ("s + L", malleated),
        ("all zero", [0u8; 64]),
    ] {
        let record = with_signature(&u, sig);
        let err = record.verify(&public).unwrap_err();
        assert_eq!(
            err,
            RecordError::BadSignature {
                key_id: KeyId::of(&public),
                record_hash: record.hash(),
            },
            "{what}"
        );
    }
    // The unmodified signature verifies through the same path.
    with_signature(&u, good).verify(&public).unwrap();
}

#[test]
fn batch_agrees_with_single_verification() {
    // Twelve records of three appliances' keys, some valid, some not, in every pattern
    // of a few kinds of damage.
    let signers = [key(1), key(2), key(3)];
    let mut records = Vec::new();
    for i in 0..12u64 {
        let s = &signers[(i % 3) as usize];
        let mut u = healing(1, Hash([0; 32]));
        u.key_id = KeyId::of(&s.verifying_key());
        u.time_ms += i;
        records.push(Record::sign(u, s).unwrap());
    }
    let publics: Vec<VerifyingKey> = signers.iter().map(|s| s.verifying_key()).collect();
    let broken = |r: &Record| {
        let mut sig = r.signature().to_bytes();
        sig[0] ^= 0x80;
        with_signature(r.unsigned(), sig)
    };
    for pattern in 0u32..64 {
        let mut batch: Vec<(Record, VerifyingKey)> = records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.clone(), publics[i % 3]))
            .collect();
        // Bits 0..4 damage the signature of records 0, 3, 6, 9, 11; bit 5 pairs record 4
        // with the wrong key.
        for (bit, index) in [(0, 0), (1, 3), (2, 6), (3, 9), (4, 11)] {
            if pattern & (1 << bit) != 0 {
                batch[index].0 = broken(&batch[index].0);
            }
        }
        if pattern & (1 << 5) != 0 {
            batch[4].1 = publics[0];
        }
        let pairs: Vec<(&Record, &VerifyingKey)> = batch.iter().map(|(r, k)| (r, k)).collect();
        let single: Vec<(usize, RecordError)> = pairs
            .iter()
            .enumerate()
            .filter_map(|(i, (r, k))| r.verify(k).err().map(|e| (i, e)))
            .collect();
        match verify_batch(&pairs) {
            Ok(()) => assert!(single.is_empty(), "pattern {pattern}: batch passed"),
            Err(failures) => assert_eq!(failures, single, "pattern {pattern}"),
        }
        assert_eq!(single.is_empty(), pattern == 0);
    }
    assert_eq!(verify_batch(&[]), Ok(()));
}
