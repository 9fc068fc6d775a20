//! Key history scenarios: enrolment, rotation, revocation, and every refusal.

mod common;

use std::collections::BTreeMap;

use common::*;
use ledger_record::{
    Body, ChainId, EvidenceBody, Hash, KeyBody, KeyEndReason, KeyHistory, KeyHistoryError, KeyId,
    Record, RecordError, RevocationReason, SigningKey, UnsignedRecord, VerifyingKey,
};

/// Writes records with correct per-chain sequence numbers and prev hashes.
struct Writer {
    heads: BTreeMap<ChainId, (u64, Hash)>,
}

impl Writer {
    fn new() -> Writer {
        Writer {
            heads: BTreeMap::new(),
        }
    }

    fn write(&mut self, chain: &ChainId, signer: &SigningKey, body: Body) -> Record {
        let (seq, prev) = self
            .heads
            .get(chain)
            .map_or((1, Hash([0; 32])), |(s, h)| (s + 1, *h));
        let u = UnsignedRecord {
            site_id: chain.site_id.clone(),
            appliance_id: chain.appliance_id.clone(),
            sequence: seq,
            prev_hash: prev,
            time_ms: 1_700_000_000_000 + seq,
            key_id: KeyId::of(&signer.verifying_key()),
            body,
        };
        let record = Record::sign(u, signer).unwrap();
        self.heads.insert(chain.clone(), (seq, record.hash()));
        record
    }
}

fn operator_chain() -> ChainId {
    chain("operator", "ledger-operator")
}

fn box1() -> ChainId {
    chain("clinic-1", "box-1")
}

fn box2() -> ChainId {
    chain("clinic-2", "box-2")
}

fn enrol(subject: ChainId, key: VerifyingKey) -> Body {
    Body::Key(KeyBody::Enrolment {
        subject,
        public_key: key,
        enrolment_token_id: id("tok-1"),
    })
}

fn rotate(old: &SigningKey, new: VerifyingKey) -> Body {
    Body::Key(KeyBody::Rotation {
        old_key_id: KeyId::of(&old.verifying_key()),
        new_public_key: new,
    })
}

fn revoke(subject: ChainId, key: &SigningKey) -> Body {
    Body::Key(KeyBody::Revocation {
        subject,
        key_id: KeyId::of(&key.verifying_key()),
        reason: RevocationReason::KeyCompromise,
    })
}

fn evidence() -> Body {
    Body::Evidence(EvidenceBody::inline(items(1)).unwrap())
}

fn kid(k: &SigningKey) -> KeyId {
    KeyId::of(&k.verifying_key())
}

#[test]
fn enrol_use_rotate_revoke() {
    let (op, k1, k2) = (key(9), key(1), key(2));
    let mut w = Writer::new();
    let mut h = KeyHistory::new(op.verifying_key());

    let r0 = w.write(&operator_chain(), &op, enrol(box1(), k1.verifying_key()));
    assert_eq!(h.apply(0, &r0).unwrap(), vec![kid(&k1)]);
    let r1 = w.write(&box1(), &k1, evidence());
    h.verify_record(1, &r1).unwrap();
    let r2 = w.write(&box1(), &k1, rotate(&k1, k2.verifying_key()));
    h.verify_record(2, &r2).unwrap();
    assert_eq!(h.apply(2, &r2).unwrap(), vec![kid(&k2)]);
    let r3 = w.write(&box1(), &k2, evidence());
    h.verify_record(3, &r3).unwrap();
    let r4 = w.write(&operator_chain(), &op, revoke(box1(), &k2));
    assert_eq!(h.apply(4, &r4).unwrap(), vec![kid(&k2)]);
    let r5 = w.write(&box1(), &k2, evidence());

    // Which key was valid where: a key record takes effect after its own index.
    let at = |i| h.key_at(&box1(), i).map(|k| k.key_id);
    assert_eq!(at(0), None);
    assert_eq!(at(1), Some(kid(&k1)));
    assert_eq!(at(2), Some(kid(&k1)));
    assert_eq!(at(3), Some(kid(&k2)));
    assert_eq!(at(4), Some(kid(&k2)));
    assert_eq!(at(5), None);
    assert_eq!(h.key_at(&box2(), 3), None);

    // Earlier records still verify at their own positions, and only there.
    h.verify_record(1, &r1).unwrap();
    h.verify_record(3, &r3).unwrap();
    h.verify_record(0, &r0).unwrap();
    h.verify_record(4, &r4).unwrap();
    assert_eq!(
        h.verify_record(5, &r5),
        Err(KeyHistoryError::NotCurrentKey {
            log_index: 5,
            chain: box1(),
            key_id: kid(&k2),
            current: None
        })
    );
    assert_eq!(
        h.verify_record(3, &r1),
        Err(KeyHistoryError::NotCurrentKey {
            log_index: 3,
            chain: box1(),
            key_id: kid(&k1),
            current: Some(kid(&k2))
        })
    );

    let k1_entry = h.key(&kid(&k1)).unwrap();
    assert_eq!(k1_entry.introduced_at, 0);
    let end = k1_entry.ended.unwrap();
    assert_eq!(end.log_index, 2);
    assert_eq!(
        end.reason,
        KeyEndReason::Rotated {
            new_key_id: kid(&k2)
        }
    );
    let k2_end = h.key(&kid(&k2)).unwrap().ended.unwrap();
    assert_eq!(
        (k2_end.log_index, k2_end.reason),
        (
            4,
            KeyEndReason::Revoked {
                reason: RevocationReason::KeyCompromise
            }
        )
    );
    assert_eq!(h.keys().len(), 2);

    // Re-enrolment after revocation is allowed, with a new key.
    let k3 = key(3);
    let r6 = w.write(&operator_chain(), &op, enrol(box1(), k3.verifying_key()));
    h.apply(6, &r6).unwrap();
    assert_eq!(h.key_at(&box1(), 7).map(|k| k.key_id), Some(kid(&k3)));
}

/// A history with box-1 enrolled with key(1) at 0 and rotated to key(2) at 1.
fn rotated() -> (KeyHistory, Writer) {
    let (op, k1, k2) = (key(9), key(1), key(2));
    let mut w = Writer::new();
    let mut h = KeyHistory::new(op.verifying_key());
    h.apply(
        0,
        &w.write(&operator_chain(), &op, enrol(box1(), k1.verifying_key())),
    )
    .unwrap();
    h.apply(1, &w.write(&box1(), &k1, rotate(&k1, k2.verifying_key())))
        .unwrap();
    (h, w)
}

#[test]
fn rotation_signed_by_a_non_current_key_is_refused() {
    let (mut h, mut w) = rotated();
    let (k1, k3) = (key(1), key(3));
    let before = h.keys().to_vec();
    // The rotated-away key tries to rotate again.
    let r = w.write(&box1(), &k1, rotate(&k1, k3.verifying_key()));
    assert_eq!(
        h.apply(5, &r).unwrap_err(),
        KeyHistoryError::NotCurrentKey {
            log_index: 5,
            chain: box1(),
            key_id: kid(&k1),
            current: Some(kid(&key(2)))
        }
    );
    // A never-enrolled appliance tries to rotate.
    let r = w.write(&box2(), &k3, rotate(&k3, key(4).verifying_key()));
    assert!(matches!(
        h.apply(6, &r),
        Err(KeyHistoryError::NotCurrentKey { current: None, .. })
    ));
    // A failed apply changes nothing.
    assert_eq!(h.keys(), &before[..]);
}

#[test]
fn rotation_with_a_bad_signature_is_refused() {
    let (mut h, mut w) = rotated();
    let k2 = key(2);
    let good = w.write(&box1(), &k2, rotate(&k2, key(3).verifying_key()));
    let mut sig = good.signature().to_bytes();
    sig[5] ^= 4;
    let bad = Record::decode(&m(naive_entries(good.unsigned(), Some(&sig))).enc()).unwrap();
    assert!(matches!(
        h.apply(2, &bad),
        Err(KeyHistoryError::Signature {
            log_index: 2,
            error: RecordError::BadSignature { .. }
        })
    ));
}

#[test]
fn rotation_to_a_known_key_is_refused() {
    let (mut h, mut w) = rotated();
    let k2 = key(2);
    let r = w.write(&box1(), &k2, rotate(&k2, key(1).verifying_key()));
    assert_eq!(
        h.apply(2, &r).unwrap_err(),
        KeyHistoryError::KeyIdInUse {
            log_index: 2,
            key_id: kid(&key(1))
        }
    );
}

#[test]
fn revocation_refusals() {
    let (mut h, mut w) = rotated();
    let op = key(9);
    // Unknown key.
    let r = w.write(&operator_chain(), &op, revoke(box1(), &key(7)));
    assert_eq!(
        h.apply(2, &r).unwrap_err(),
        KeyHistoryError::UnknownKey {
            log_index: 2,
            key_id: kid(&key(7))
        }
    );
    // Key of another appliance.
    let r = w.write(&operator_chain(), &op, revoke(box2(), &key(2)));
    assert_eq!(
        h.apply(3, &r).unwrap_err(),
        KeyHistoryError::KeyOwnerMismatch {
            log_index: 3,
            key_id: kid(&key(2)),
            owner: box1(),
            named: box2()
        }
    );
    // A key already rotated away.
    let r = w.write(&operator_chain(), &op, revoke(box1(), &key(1)));
    assert_eq!(
        h.apply(4, &r).unwrap_err(),
        KeyHistoryError::KeyNotActive {
            log_index: 4,
            key_id: kid(&key(1))
        }
    );
    // Revoked twice.
    let r = w.write(&operator_chain(), &op, revoke(box1(), &key(2)));
    h.apply(5, &r).unwrap();
    let r = w.write(&operator_chain(), &op, revoke(box1(), &key(2)));
    assert!(matches!(
        h.apply(6, &r),
        Err(KeyHistoryError::KeyNotActive { .. })
    ));
    // Signed by an appliance key instead of the operator's.
    let k2 = key(2);
    let r = w.write(&box1(), &k2, revoke(box1(), &k2));
    assert_eq!(
        h.apply(7, &r).unwrap_err(),
        KeyHistoryError::NotOperatorKey {
            log_index: 7,
            key_id: kid(&k2),
            operator_key_id: kid(&key(9))
        }
    );
}

#[test]
fn enrolment_refusals() {
    let (op, k1) = (key(9), key(1));
    let mut w = Writer::new();
    let mut h = KeyHistory::new(op.verifying_key());
    // Not signed by the operator.
    let r = w.write(&box1(), &k1, enrol(box1(), k1.verifying_key()));
    assert!(matches!(
        h.apply(0, &r),
        Err(KeyHistoryError::NotOperatorKey { .. })
    ));
    // Naming the operator key but signed by another key.
    let forged = {
        let mut u = r.unsigned().clone();
        u.key_id = kid(&op);
        let sig = ed25519_dalek::Signer::sign(&k1, &u.signing_message()).to_bytes();
        Record::decode(&m(naive_entries(&u, Some(&sig))).enc()).unwrap()
    };
    assert!(matches!(
        h.apply(0, &forged),
        Err(KeyHistoryError::Signature {
            error: RecordError::BadSignature { .. },
            ..
        })
    ));
    assert!(h.keys().is_empty());

    h.apply(
        1,
        &w.write(&operator_chain(), &op, enrol(box1(), k1.verifying_key())),
    )
    .unwrap();
    // A second key for an appliance that has one.
    let r = w.write(
        &operator_chain(),
        &op,
        enrol(box1(), key(2).verifying_key()),
    );
    assert_eq!(
        h.apply(2, &r).unwrap_err(),
        KeyHistoryError::AlreadyEnrolled {
            log_index: 2,
            chain: box1(),
            current: kid(&k1)
        }
    );
    // The same key for another appliance.
    let r = w.write(&operator_chain(), &op, enrol(box2(), k1.verifying_key()));
    assert_eq!(
        h.apply(3, &r).unwrap_err(),
        KeyHistoryError::KeyIdInUse {
            log_index: 3,
            key_id: kid(&k1)
        }
    );
    // The operator's own key for an appliance.
    let r = w.write(&operator_chain(), &op, enrol(box2(), op.verifying_key()));
    assert!(matches!(
        h.apply(4, &r),
        Err(KeyHistoryError::KeyIdInUse { .. })
    ));
}

#[test]
fn misuse_is_reported() {
    let (mut h, mut w) = rotated();
    let op = key(9);
    let r = w.write(
        &operator_chain(),
        &op,
        enrol(box2(), key(5).verifying_key()),
    );
    assert_eq!(
        h.apply(1, &r).unwrap_err(),
        KeyHistoryError::LogIndexNotIncreasing {
            previous: 1,
            got: 1
        }
    );
    let r = w.write(&box1(), &key(2), evidence());
    assert!(matches!(
        h.apply(9, &r),
        Err(KeyHistoryError::NotAKeyRecord { log_index: 9, .. })
    ));
}

#[test]
fn a_record_before_enrolment_has_no_key() {
    let (h, mut w) = rotated();
    let r = w.write(&box1(), &key(1), evidence());
    assert!(matches!(
        h.verify_record(0, &r),
        Err(KeyHistoryError::NotCurrentKey { current: None, .. })
    ));
}

fn link(chains: &[(ChainId, u64, &SigningKey)]) -> Body {
    let chains: Vec<_> = chains
        .iter()
        .map(|(c, s, k)| (c.clone(), *s, k.verifying_key()))
        .collect();
    Body::Key(link_body(&chains))
}

/// A log that succeeds another starts with links: the carried keys are valid from the
/// entry after the link, and the chains may rotate and be revoked like enrolled ones.
#[test]
fn links_carry_keys_from_the_previous_log() {
    let (op, k1, k2) = (key(9), key(1), key(2));
    let mut w = Writer::new();
    let mut h = KeyHistory::new(op.verifying_key());
    let l0 = w.write(&operator_chain(), &op, link(&[(box1(), 7, &k1)]));
    assert_eq!(h.apply(0, &l0).unwrap(), vec![kid(&k1)]);
    let l1 = w.write(&operator_chain(), &op, link(&[(box2(), 3, &k2)]));
    h.verify_record(1, &l1).unwrap();
    assert_eq!(h.apply(1, &l1).unwrap(), vec![kid(&k2)]);
    assert_eq!(h.link().unwrap().links, 2);
    assert_eq!(h.link().unwrap().period, "2027");
    assert!(h.key_at(&box1(), 1).is_some(), "valid after the first link");
    assert!(h.key_at(&box1(), 0).is_none(), "not at the link itself");
    assert_eq!(h.key_at(&box2(), 2).unwrap().key_id, kid(&k2));
    let r = w.write(&operator_chain(), &op, revoke(box1(), &k1));
    h.apply(2, &r).unwrap();
    assert!(h.key_at(&box1(), 3).is_none());
}

#[test]
fn links_elsewhere_or_disagreeing_are_refused() {
    let (op, k1, k2, k3) = (key(9), key(1), key(2), key(3));
    let mut w = Writer::new();
    let mut h = KeyHistory::new(op.verifying_key());
    // Not at index 0.
    let l = w.write(&operator_chain(), &op, link(&[(box1(), 7, &k1)]));
    assert_eq!(
        h.apply(1, &l).unwrap_err(),
        KeyHistoryError::LinkNotAtStart { log_index: 1 }
    );
    h.apply(0, &l).unwrap();
    // After another key record.
    let e = w.write(&operator_chain(), &op, enrol(box2(), k2.verifying_key()));
    h.apply(1, &e).unwrap();
    let late = w.write(&operator_chain(), &op, link(&[(chain("c", "b"), 1, &k3)]));
    assert_eq!(
        h.apply(2, &late).unwrap_err(),
        KeyHistoryError::LinkNotAtStart { log_index: 2 }
    );

    // A second link naming another previous checkpoint.
    let mut h = KeyHistory::new(op.verifying_key());
    h.apply(0, &l).unwrap();
    let Body::Key(KeyBody::Link(mut other)) = link(&[(box2(), 1, &k2)]) else {
        unreachable!()
    };
    other.previous_checkpoint = previous_log(101).1;
    let other = w.write(&operator_chain(), &op, Body::Key(KeyBody::Link(other)));
    assert_eq!(
        h.apply(1, &other).unwrap_err(),
        KeyHistoryError::LinkMismatch { log_index: 1 }
    );
    // The same chain carried twice, and a key carried twice.
    let twice = w.write(&operator_chain(), &op, link(&[(box1(), 7, &k2)]));
    assert!(matches!(
        h.apply(1, &twice).unwrap_err(),
        KeyHistoryError::ChainCarriedTwice { log_index: 1, .. }
    ));
    let reused = w.write(&operator_chain(), &op, link(&[(box2(), 7, &k1)]));
    assert!(matches!(
        h.apply(1, &reused).unwrap_err(),
        KeyHistoryError::KeyIdInUse { log_index: 1, .. }
    ));
    // Signed by an appliance instead of the operator.
    let mut h = KeyHistory::new(op.verifying_key());
    let forged = w.write(&operator_chain(), &k1, link(&[(box1(), 7, &k2)]));
    assert!(matches!(
        h.apply(0, &forged).unwrap_err(),
        KeyHistoryError::NotOperatorKey { .. }
    ));
    assert!(h.link().is_none() && h.keys().is_empty(), "nothing applied");
}
