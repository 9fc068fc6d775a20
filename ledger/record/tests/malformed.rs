//! Bad inputs, each checked for its specific error; every truncation and every single-bit
//! flip of valid records.

mod common;

use common::*;
use ledger_record::{Body, Hash, IdError, Record, RecordError, MAX_RECORD_LEN};

/// The naive envelope entries (signature included) of a signed healing record.
fn healing_entries() -> Vec<(u64, N)> {
    let record = Record::sign(
        unsigned(1, Hash([0; 32]), Body::Healing(healing_body())),
        &key(1),
    )
    .unwrap();
    let entries = naive_entries(record.unsigned(), Some(&record.signature().to_bytes()));
    // The unmodified entries must be exactly the valid record, or the variants below
    // would not test what they claim to.
    assert_eq!(m(entries.clone()).enc(), record.encode());
    entries
}

fn with(mut entries: Vec<(u64, N)>, key: u64, value: N) -> Vec<(u64, N)> {
    let slot = entries.iter_mut().find(|(k, _)| *k == key).unwrap();
    slot.1 = value;
    entries
}

fn without(entries: Vec<(u64, N)>, key: u64) -> Vec<(u64, N)> {
    entries.into_iter().filter(|(k, _)| *k != key).collect()
}

fn body_entries() -> Vec<(u64, N)> {
    match naive_body(&Body::Healing(healing_body())) {
        N::M(entries) => entries
            .into_iter()
            .map(|(k, v)| match k {
                N::U(k) => (k, v),
                _ => unreachable!(),
            })
            .collect(),
        _ => unreachable!(),
    }
}

fn decode(bytes: &[u8]) -> RecordError {
    Record::decode(bytes).expect_err("must be rejected")
}

#[test]
fn every_truncation_is_truncated() {
    for record in one_of_each_kind() {
        let bytes = record.encode();
        for len in 0..bytes.len() {
            let err = decode(&bytes[..len]);
            assert!(
                matches!(err, RecordError::Truncated { .. }),
                "{:?} record cut to {len} bytes: {err:?}",
                record.kind()
            );
        }
    }
}

#[test]
fn trailing_bytes() {
    let record = &one_of_each_kind()[2];
    let len = record.encode().len();
    for extra in [vec![0x00], vec![0xa0], record.encode()] {
        let mut bytes = record.encode();
        bytes.extend_from_slice(&extra);
        assert_eq!(
            decode(&bytes),
            RecordError::TrailingBytes {
                offset: len,
                extra: extra.len()
            }
        );
    }
}

#[test]
fn oversize_is_refused_before_parsing() {
    // A valid record padded past the limit: the size check must come first, or this would
    // be reported as trailing bytes.
    let mut bytes = one_of_each_kind()[0].encode();
    bytes.resize(MAX_RECORD_LEN + 1, 0);
    assert_eq!(
        decode(&bytes),
        RecordError::TooLarge {
            len: MAX_RECORD_LEN + 1,
            max: MAX_RECORD_LEN
        }
    );
    // Garbage of the same size gets the same answer.
    assert!(matches!(
        decode(&vec![0xff; 1 << 20]),
        RecordError::TooLarge { .. }
    ));
}

#[test]
fn non_canonical_encodings() {
    let e = healing_entries;
    let site = "clinic-1";
    let mut long_site_len = vec![0x78, site.len() as u8];
    long_site_len.extend_from_slice(site.as_bytes());
    let mut swapped = e();
    swapped.swap(2, 3);
    let variants: Vec<(&str, Vec<u8>)> = vec![
        (
            "sequence with a one-byte argument",
            m(with(e(), 4, N::Wide(1, 24))).enc(),
        ),
        (
            "sequence with an eight-byte argument",
            m(with(e(), 4, N::Wide(1, 27))).enc(),
        ),
        (
            "time with an eight-byte argument of which four would do",
            m(with(e(), 6, N::Wide(0xffff_ffff, 27))).enc(),
        ),
        (
            "version with a two-byte argument",
            m(with(e(), 0, N::Wide(1, 25))).enc(),
        ),
        (
            "text length with a one-byte argument",
            m(with(e(), 2, N::Raw(long_site_len))).enc(),
        ),
        (
            "indefinite-length envelope",
            N::IndefM(e().into_iter().map(|(k, v)| (N::U(k), v)).collect()).enc(),
        ),
        (
            "indefinite-length body",
            m(with(
                e(),
                8,
                N::IndefM(
                    body_entries()
                        .into_iter()
                        .map(|(k, v)| (N::U(k), v))
                        .collect(),
                ),
            ))
            .enc(),
        ),
        (
            "indefinite-length text",
            m(with(e(), 2, N::IndefT(vec!["clinic".into(), "-1".into()]))).enc(),
        ),
        ("unsorted envelope keys", m(swapped).enc()),
        (
            "unsorted body keys",
            m(with(e(), 8, {
                let mut b = body_entries();
                b.swap(0, 11);
                m(b)
            }))
            .enc(),
        ),
        ("map length with a one-byte argument", {
            let mut v = vec![0xb8, 10];
            v.extend_from_slice(&m(e()).enc()[1..]);
            v
        }),
    ];
    // Positive control: an eight-byte argument is the shortest form for this time, so the
    // naive writer's forced widths are not rejected as such.
    Record::decode(&m(with(e(), 6, N::Wide(1_700_000_000_001, 27))).enc()).unwrap();
    for (what, bytes) in variants {
        let err = decode(&bytes);
        assert!(
            matches!(err, RecordError::NonCanonical { .. }),
            "{what}: {err:?}"
        );
    }
}

#[test]
fn indefinite_array_in_an_evidence_item() {
    let record = &one_of_each_kind()[0];
    let entries = naive_entries(record.unsigned(), Some(&record.signature().to_bytes()));
    assert_eq!(m(entries.clone()).enc(), record.encode());
    // Replace the controls array of the first item with its indefinite-length form.
    let body = match &entries[8].1 {
        N::M(b) => b.clone(),
        _ => unreachable!(),
    };
    let mut items = match &body[1].1 {
        N::A(items) => items.clone(),
        _ => unreachable!(),
    };
    if let N::M(item) = &mut items[0] {
        if let N::A(controls) = &item[5].1 {
            item[5].1 = N::IndefA(controls.clone());
        }
    }
    let mut body = body;
    body[1].1 = N::A(items);
    let bytes = m(with(entries, 8, N::M(body))).enc();
    assert!(matches!(decode(&bytes), RecordError::NonCanonical { .. }));
}

#[test]
fn duplicate_keys() {
    let mut dup = healing_entries();
    dup.insert(3, (2, t("clinic-1")));
    assert!(matches!(
        decode(&m(dup).enc()),
        RecordError::DuplicateKey { key: 2, .. }
    ));
    let mut body = body_entries();
    body.insert(2, (1, t("inc-other")));
    assert!(matches!(
        decode(&m(with(healing_entries(), 8, m(body))).enc()),
        RecordError::DuplicateKey { key: 1, .. }
    ));
}

#[test]
fn versions_kinds_and_fields() {
    let e = healing_entries;
    let cases: Vec<(&str, Vec<u8>, RecordError)> = vec![
        (
            "format version 2",
            m(with(e(), 0, N::U(2))).enc(),
            RecordError::UnsupportedVersion { version: 2 },
        ),
        (
            "format version 0",
            m(with(e(), 0, N::U(0))).enc(),
            RecordError::UnsupportedVersion { version: 0 },
        ),
        (
            "kind 9",
            m(with(e(), 1, N::U(9))).enc(),
            RecordError::UnknownKind { kind: 9 },
        ),
        (
            "kind 0",
            m(with(e(), 1, N::U(0))).enc(),
            RecordError::UnknownKind { kind: 0 },
        ),
        (
            "healing body version 2",
            m(with(e(), 8, m(with(body_entries(), 0, N::U(2))))).enc(),
            RecordError::UnsupportedBodyVersion {
                body: "healing",
                version: 2,
            },
        ),
        (
            "no time",
            m(without(e(), 6)).enc(),
            RecordError::MissingField {
                map: "record",
                key: 6,
            },
        ),
        (
            "no signature",
            m(without(e(), 9)).enc(),
            RecordError::MissingField {
                map: "record",
                key: 9,
            },
        ),
        (
            "no version",
            m(without(e(), 0)).enc(),
            RecordError::MissingField {
                map: "record",
                key: 0,
            },
        ),
        (
            "body without outcome",
            m(with(e(), 8, m(without(body_entries(), 7)))).enc(),
            RecordError::MissingField {
                map: "healing",
                key: 7,
            },
        ),
        (
            "envelope key 10",
            m({
                let mut v = e();
                v.push((10, N::U(0)));
                v
            })
            .enc(),
            RecordError::UnknownField {
                map: "record",
                key: 10,
            },
        ),
        (
            "body key 12",
            m(with(e(), 8, {
                let mut b = body_entries();
                b.push((12, t("x")));
                m(b)
            }))
            .enc(),
            RecordError::UnknownField {
                map: "healing",
                key: 12,
            },
        ),
        (
            "kind says key, body is healing",
            m(with(e(), 1, N::U(3))).enc(),
            RecordError::WrongType {
                field: "key.action",
                expected: "an unsigned integer",
            },
        ),
    ];
    for (what, bytes, want) in cases {
        assert_eq!(decode(&bytes), want, "{what}");
    }
}

#[test]
fn wrong_types() {
    let e = healing_entries;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "site id as bytes",
            m(with(e(), 2, N::B(b"clinic-1".to_vec()))).enc(),
            "record.site_id",
        ),
        (
            "sequence as text",
            m(with(e(), 4, t("1"))).enc(),
            "record.sequence",
        ),
        (
            "prev hash of 31 bytes",
            m(with(e(), 5, N::B(vec![0; 31]))).enc(),
            "record.prev_hash",
        ),
        (
            "key id of 9 bytes",
            m(with(e(), 7, N::B(vec![0; 9]))).enc(),
            "record.key_id",
        ),
        (
            "signature of 63 bytes",
            m(with(e(), 9, N::B(vec![0; 63]))).enc(),
            "record.signature",
        ),
        (
            "body as an array",
            m(with(e(), 8, N::A(vec![]))).enc(),
            "healing",
        ),
        (
            "tier as text",
            m(with(e(), 8, m(with(body_entries(), 4, t("L2"))))).enc(),
            "healing.tier",
        ),
    ];
    for (what, bytes, field) in cases {
        let err = decode(&bytes);
        assert!(
            matches!(&err, RecordError::WrongType { field: f, .. } if *f == field),
            "{what}: {err:?}"
        );
    }
    // The whole record must be a map.
    assert!(matches!(
        decode(&N::A(vec![]).enc()),
        RecordError::WrongType {
            field: "record",
            ..
        }
    ));
    // Types outside the record subset are refused by the reader.
    assert!(matches!(
        decode(&m(with(e(), 6, N::Raw(vec![0x20]))).enc()),
        RecordError::InvalidCbor { .. }
    ));
    assert!(matches!(
        decode(&m(with(e(), 6, N::Raw(vec![0xf6]))).enc()),
        RecordError::InvalidCbor { .. }
    ));
}

#[test]
fn invalid_values() {
    let e = healing_entries;
    for (what, entries, field) in [
        (
            "tier 4",
            with(e(), 8, m(with(body_entries(), 4, N::U(4)))),
            "healing.tier",
        ),
        (
            "outcome 3",
            with(e(), 8, m(with(body_entries(), 7, N::U(3)))),
            "healing.outcome",
        ),
        (
            "ends before it starts",
            with(e(), 8, m(with(body_entries(), 9, N::U(1)))),
            "healing.ended_at",
        ),
        (
            "NUL in action",
            with(e(), 8, m(with(body_entries(), 6, t("rm\u{0}")))),
            "healing.action",
        ),
        (
            "empty action",
            with(e(), 8, m(with(body_entries(), 6, t("")))),
            "healing.action",
        ),
        (
            "state of 4097 bytes",
            with(e(), 8, m(with(body_entries(), 10, t(&"x".repeat(4097))))),
            "healing.state_before",
        ),
    ] {
        let err = decode(&m(entries).enc());
        assert!(
            matches!(&err, RecordError::InvalidValue { field: f, .. } if *f == field),
            "{what}: {err:?}"
        );
    }
}

#[test]
fn identifiers() {
    let e = healing_entries;
    let long = "a".repeat(129);
    let cases: Vec<(&str, IdError)> = vec![
        ("", IdError::Empty),
        (&long, IdError::TooLong { len: 129, max: 128 }),
        ("clinic 1", IdError::InvalidChar { index: 6, ch: ' ' }),
        ("clinic/1", IdError::InvalidChar { index: 6, ch: '/' }),
        (
            "clinic-\u{e9}",
            IdError::InvalidChar {
                index: 7,
                ch: '\u{e9}',
            },
        ),
        ("a\nb", IdError::InvalidChar { index: 1, ch: '\n' }),
    ];
    for (value, problem) in cases {
        assert_eq!(
            decode(&m(with(e(), 2, t(value))).enc()),
            RecordError::InvalidId {
                field: "record.site_id",
                problem: problem.clone()
            },
            "site id {value:?}"
        );
        assert_eq!(
            decode(&m(with(e(), 3, t(value))).enc()),
            RecordError::InvalidId {
                field: "record.appliance_id",
                problem
            },
            "appliance id {value:?}"
        );
    }
    // The longest id and every allowed character are accepted.
    let edge = format!("{}{}", "A-z.0_9:", "b".repeat(120));
    assert_eq!(edge.len(), 128);
    Record::decode(&m(with(e(), 2, t(&edge))).enc()).unwrap();
}

#[test]
fn every_single_bit_flip_fails_decoding_or_verification() {
    let records = one_of_each_kind();
    let signers = [key(1), key(1), key(1), key(1), key(9), key(9)];
    let (mut decode_failures, mut signature_failures) = (0, 0);
    for (record, signer) in records.iter().zip(&signers) {
        let public = signer.verifying_key();
        record.verify(&public).unwrap();
        let bytes = record.encode();
        for i in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[i / 8] ^= 1 << (i % 8);
            match Record::decode(&flipped) {
                Err(_) => decode_failures += 1,
                Ok(r) => {
                    let err = r.verify(&public).expect_err("flipped record verified");
                    assert!(err.is_verification_failure());
                    signature_failures += 1;
                }
            }
        }
    }
    // Both paths must have been exercised for the test to mean anything.
    assert!(decode_failures > 0 && signature_failures > 0);
}

#[test]
fn empty_and_garbage_inputs() {
    assert_eq!(decode(&[]), RecordError::Truncated { offset: 0 });
    assert!(matches!(decode(&[0xff]), RecordError::InvalidCbor { .. }));
    assert!(matches!(decode(&[0x00]), RecordError::WrongType { .. }));
}

/// Map entries by integer key, as the naive writer takes them.
type Entries = Vec<(u64, N)>;

/// The naive envelope entries of a signed link carrying two chains, and its body entries.
fn link_entries() -> (Entries, Entries) {
    let chains = [
        (chain("clinic-1", "box-1"), 7, key(1).verifying_key()),
        (chain("clinic-1", "box-2"), 3, key(2).verifying_key()),
    ];
    let body = Body::Key(link_body(&chains));
    let mut u = unsigned(1, Hash([0; 32]), body.clone());
    u.key_id = ledger_record::KeyId::of(&key(9).verifying_key());
    let record = Record::sign(u, &key(9)).unwrap();
    let entries = naive_entries(record.unsigned(), Some(&record.signature().to_bytes()));
    assert_eq!(m(entries.clone()).enc(), record.encode());
    let N::M(body) = naive_body(&body) else {
        unreachable!()
    };
    let body = body
        .into_iter()
        .map(|(k, v)| match k {
            N::U(k) => (k, v),
            _ => unreachable!(),
        })
        .collect();
    (entries, body)
}

#[test]
fn invalid_links() {
    let (entries, body) = link_entries();
    let N::A(carried) = body.iter().find(|(k, _)| *k == 5).unwrap().1.clone() else {
        unreachable!()
    };
    let reversed: Vec<N> = carried.iter().rev().cloned().collect();
    let N::M(mut first) = carried[0].clone() else {
        unreachable!()
    };
    first[2].1 = N::U(0);
    let other_signer = previous_log(100);
    let forged_checkpoint = {
        // The same checkpoint text signed by a key that is not the named previous log's.
        let signer = ledger_core::note::NoteSigner::new("example.org/log/2026", &[43; 32]).unwrap();
        let checkpoint = ledger_core::checkpoint::Checkpoint {
            origin: "example.org/log/2026".into(),
            size: 100,
            root: Hash([100; 32]),
            extensions: Vec::new(),
        };
        checkpoint.sign(&signer).unwrap().as_str().to_owned()
    };
    assert_ne!(forged_checkpoint, other_signer.1);
    for (what, new_body, field) in [
        (
            "chains not in order",
            with(body.clone(), 5, N::A(reversed)),
            "key.link.carried",
        ),
        (
            "sequence 0",
            with(body.clone(), 5, N::A(vec![N::M(first), carried[1].clone()])),
            "key.link.carried.sequence",
        ),
        (
            "checkpoint not signed by the previous log",
            with(body.clone(), 3, t(&forged_checkpoint)),
            "key.link.previous_checkpoint",
        ),
        (
            "previous log is not a verifier key",
            with(body.clone(), 2, t("not a key")),
            "key.link.previous_log",
        ),
        (
            "empty period",
            with(body.clone(), 4, t("")),
            "key.link.period",
        ),
    ] {
        let err = decode(&m(with(entries.clone(), 8, m(new_body))).enc());
        assert!(
            matches!(&err, RecordError::InvalidValue { field: f, .. } if *f == field),
            "{what}: {err:?}"
        );
    }
    let mut extra = body.clone();
    extra.push((7, N::U(1)));
    assert!(matches!(
        decode(&m(with(entries.clone(), 8, m(extra))).enc()),
        RecordError::UnknownField { key: 7, .. }
    ));
    assert!(matches!(
        decode(&m(with(entries, 8, m(without(body, 5)))).enc()),
        RecordError::MissingField { key: 5, .. }
    ));
}
