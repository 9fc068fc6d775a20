//! Release records: the signed-release file form and statement against an independent
//! rendering of docs/RECORDS.md §5.5, versions, statement rules, and the release
//! lifecycle replayed by `ReleaseHistory`.

mod common;

use common::*;
use ledger_record::{
    Body, Hash, KeyHistory, KeyId, Record, RecordError, ReleaseBody, ReleaseError, ReleaseHistory,
    RevocationReason, SignedRelease, SigningKey, UnsignedRecord, Version,
};

fn operator() -> SigningKey {
    key(9)
}

/// Operator-chain records signed by `signer`, numbered in order.
struct OperatorChain {
    signer: SigningKey,
    sequence: u64,
    prev: Hash,
}

impl OperatorChain {
    fn new(signer: SigningKey) -> OperatorChain {
        OperatorChain {
            signer,
            sequence: 0,
            prev: Hash([0; 32]),
        }
    }

    fn record(&mut self, body: ReleaseBody) -> Record {
        self.sequence += 1;
        let u = UnsignedRecord {
            site_id: id("operator"),
            appliance_id: id("ledger-operator"),
            sequence: self.sequence,
            prev_hash: self.prev,
            time_ms: 1_700_000_000_000 + self.sequence,
            key_id: KeyId::of(&self.signer.verifying_key()),
            body: Body::Release(body),
        };
        let record = Record::sign(u, &self.signer).unwrap();
        self.prev = record.hash();
        record
    }
}

fn enrol(name: &str, key: &SigningKey) -> ReleaseBody {
    ReleaseBody::KeyEnrolment {
        name: id(name),
        public_key: key.verifying_key(),
    }
}

#[test]
fn signed_release_file_matches_the_specification() {
    let signed = signed_release(&key(5), "24.11.2", "24.5");
    let want = m(vec![
        (0, N::U(1)),
        (1, naive_statement(&signed.statement)),
        (2, N::B(signed.signature.to_bytes().to_vec())),
    ])
    .enc();
    assert_eq!(signed.encode(), want);
    assert_eq!(SignedRelease::decode(&want).unwrap(), signed);
    let mut message = b"evidence-ledger/release/v1\x00".to_vec();
    message.extend(naive_statement(&signed.statement).enc());
    assert_eq!(signed.statement.signing_message(), message);
    signed.verify(&key(5).verifying_key()).unwrap();
}

#[test]
fn a_flipped_byte_or_another_key_fails_verification() {
    let signed = signed_release(&key(5), "24.11.2", "24.5");
    let mut tampered = signed.clone();
    tampered.statement.artifact_size += 1;
    assert_eq!(
        tampered.verify(&key(5).verifying_key()),
        Err(RecordError::BadReleaseSignature {
            key_id: KeyId::of(&key(5).verifying_key())
        })
    );
    assert!(matches!(
        signed.verify(&key(6).verifying_key()),
        Err(RecordError::KeyIdMismatch { .. })
    ));
    // A signed release that is not in the deterministic encoding, or has trailing
    // bytes, is refused.
    let mut bytes = signed.encode();
    bytes.push(0);
    assert!(matches!(
        SignedRelease::decode(&bytes),
        Err(RecordError::TrailingBytes { .. })
    ));
}

#[test]
fn versions_parse_and_order_by_number() {
    for good in ["0", "1", "24.11", "1.2.3.4", "4294967295"] {
        assert_eq!(Version::parse(good).unwrap().as_str(), good);
    }
    for bad in [
        "",
        "1.",
        ".1",
        "01",
        "1.02",
        "v1",
        "1.2.3.4.5",
        "4294967296",
        "1 .2",
        "-1",
    ] {
        assert!(Version::parse(bad).is_err(), "{bad:?} parsed");
    }
    let v = |s| Version::parse(s).unwrap();
    assert!(v("1.10") > v("1.9"));
    assert!(v("2") > v("1.99.99"));
    assert_eq!(v("1.2"), v("1.2").clone());
    assert_eq!(v("1.2").cmp(&v("1.2.0")), std::cmp::Ordering::Equal);
}

#[test]
fn statement_rules_have_specific_errors() {
    let good = signed_release(&key(5), "24.11.2", "24.5").statement;
    type Mutation = fn(&mut ledger_record::ReleaseStatement);
    let cases: [(&str, Mutation, &str); 6] = [
        (
            "zero size",
            |s| s.artifact_size = 0,
            "release.artifact_size",
        ),
        ("no URL", |s| s.urls.clear(), "release.urls"),
        (
            "ftp URL",
            |s| s.urls = vec!["ftp://x/y".into()],
            "release.urls",
        ),
        (
            "floor above version",
            |s| s.min_version = Version::parse("25").unwrap(),
            "release.min_version",
        ),
        (
            "escape in notes",
            |s| s.notes = "\u{1b}[2J".into(),
            "release.notes",
        ),
        (
            "nine URLs",
            |s| s.urls = vec!["https://a/b".into(); 9],
            "release.urls",
        ),
    ];
    for (what, mutate, field) in cases {
        let mut statement = good.clone();
        mutate(&mut statement);
        match SignedRelease::sign(statement, &key(5)) {
            Err(RecordError::InvalidValue { field: got, .. }) => assert_eq!(got, field, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    // A statement naming another key cannot be signed with this one.
    let mut other = good.clone();
    other.key_id = KeyId::of(&key(6).verifying_key());
    assert!(matches!(
        SignedRelease::sign(other, &key(5)),
        Err(RecordError::KeyIdMismatch { .. })
    ));
}

#[test]
fn releases_need_an_enrolled_valid_key_and_a_new_version() {
    let keys = KeyHistory::new(operator().verifying_key());
    let mut history = ReleaseHistory::new();
    let mut chain = OperatorChain::new(operator());
    let team = key(5);
    let enrolment = chain.record(enrol("release-team", &team));
    history.apply(&keys, 0, &enrolment).unwrap();
    let first = chain.record(ReleaseBody::Release(signed_release(
        &team, "24.11.2", "24.5",
    )));
    history.apply(&keys, 1, &first).unwrap();
    assert_eq!(history.releases().len(), 1);
    assert_eq!(history.releases()[0].log_index, 1);
    assert_eq!(history.releases()[0].record_hash, first.hash());

    // Same channel and an equal version: refused, history unchanged.
    let again = chain.record(ReleaseBody::Release(signed_release(
        &team,
        "24.11.2.0",
        "24.5",
    )));
    assert_eq!(
        history.apply(&keys, 2, &again),
        Err(ReleaseError::AlreadyReleased {
            channel: id("stable"),
            version: "24.11.2".into(),
            log_index: 1
        })
    );
    // A key the log never enrolled.
    let stranger = chain.record(ReleaseBody::Release(signed_release(
        &key(6),
        "25.1",
        "24.5",
    )));
    assert_eq!(
        history.apply(&keys, 3, &stranger),
        Err(ReleaseError::UnknownReleaseKey {
            key_id: KeyId::of(&key(6).verifying_key())
        })
    );
    // A release whose statement was changed after signing.
    let mut forged = signed_release(&team, "25.1", "24.5");
    forged.statement.artifact_sha256 = Hash([0x11; 32]);
    let forged = chain.record(ReleaseBody::Release(forged));
    assert_eq!(
        history.apply(&keys, 4, &forged),
        Err(ReleaseError::BadReleaseSignature {
            key_id: KeyId::of(&team.verifying_key()),
            name: id("release-team")
        })
    );
    // Revoked at 5: a release logged after it is refused, naming the revocation.
    let revocation = chain.record(ReleaseBody::KeyRevocation {
        key_id: KeyId::of(&team.verifying_key()),
        reason: RevocationReason::KeyCompromise,
    });
    history.apply(&keys, 5, &revocation).unwrap();
    let late = chain.record(ReleaseBody::Release(signed_release(&team, "25.2", "24.5")));
    assert_eq!(
        history.apply(&keys, 6, &late),
        Err(ReleaseError::ReleaseKeyRevoked {
            key_id: KeyId::of(&team.verifying_key()),
            name: id("release-team"),
            revoked_at: 5
        })
    );
    assert_eq!(history.releases().len(), 1);
    // The revoked key cannot come back, and its name is free again for a new key.
    let back = chain.record(enrol("release-team", &team));
    assert!(matches!(
        history.apply(&keys, 7, &back),
        Err(ReleaseError::KeyIdInUse { .. })
    ));
    history
        .apply(&keys, 8, &chain.record(enrol("release-team", &key(7))))
        .unwrap();
}

#[test]
fn only_the_operator_writes_release_records_and_names_stay_unique() {
    let keys = KeyHistory::new(operator().verifying_key());
    let mut history = ReleaseHistory::new();
    let by_appliance = OperatorChain::new(key(1)).record(enrol("rogue", &key(5)));
    assert!(matches!(
        history.apply(&keys, 0, &by_appliance),
        Err(ReleaseError::NotOperatorKey { .. })
    ));
    let mut chain = OperatorChain::new(operator());
    history
        .apply(&keys, 1, &chain.record(enrol("team", &key(5))))
        .unwrap();
    assert_eq!(
        history.apply(&keys, 2, &chain.record(enrol("team", &key(6)))),
        Err(ReleaseError::NameInUse { name: id("team") })
    );
    // The operator's own key is not a release key.
    assert!(matches!(
        history.apply(&keys, 3, &chain.record(enrol("op", &operator()))),
        Err(ReleaseError::KeyIdInUse { .. })
    ));
    // Out of log order.
    assert!(matches!(
        history.apply(&keys, 1, &chain.record(enrol("other", &key(6)))),
        Err(ReleaseError::LogIndexNotIncreasing { .. })
    ));
}
