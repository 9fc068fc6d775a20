//! The table-driven bad-input test of the intake: every case gets its specific error and
//! leaves the ledger unchanged (same signed checkpoint before and after).

mod common;

use common::*;
use ledger_core::hash::Hash;
use serde_json::json;

struct Case {
    name: &'static str,
    /// (HTTP status, error code) expected.
    expect: (u16, &'static str),
    /// A substring the message must contain, when the rule says what was expected.
    message: Option<String>,
    request: Request,
}

enum Request {
    /// POST /v1/records with this credential and body.
    Append(Option<String>, Vec<u8>),
    /// POST /v1/enrol with this token.
    Enrol(String),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;

    let mut a = server.enrol("site-a", "box-1").await;
    let b = server.enrol("site-b", "box-9").await;
    let mut revoked = server.enrol("site-a", "box-2").await;
    // Log a first record for box-1 so replays and forks have something to collide with.
    let first = a.next_evidence();
    let (status, v) = server
        .append_http(Some(&a.credential), first.encode())
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = server
        .post_json(
            "/v1/admin/appliances/site-a/box-2/revoke",
            Some(&server.admin),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let expired = server.enrolment_token("site-a", "box-3", Some(0)).await;
    let reused = server.enrolment_token("site-a", "box-4", None).await;
    let key4 = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let (status, v) = server
        .post_json(
            "/v1/enrol",
            None,
            json!({ "token": reused, "public_key": hex::encode(key4.verifying_key().as_bytes()) }),
        )
        .await;
    assert_eq!(status, 200, "{v}");

    let key = a.key.clone();
    let cred = Some(a.credential.clone());
    let good = a.make(2, a.prev, now_ms(), evidence_body(2), &key);
    let good_bytes = good.encode();
    let mut truncated = good_bytes.clone();
    truncated.truncate(good_bytes.len() - 7);
    // The version value 1 written as a one-byte-argument integer (0x18 0x01): valid
    // CBOR, not the shortest form (RFC 8949 §4.2.1).
    assert_eq!(&good_bytes[..3], &[0xaa, 0x00, 0x01]);
    let mut non_canonical = vec![0xaa, 0x00, 0x18, 0x01];
    non_canonical.extend_from_slice(&good_bytes[3..]);
    let mut trailing = good_bytes.clone();
    trailing.push(0x00);
    let mut bad_sig = good_bytes.clone();
    let last = bad_sig.len() - 1;
    bad_sig[last] ^= 0x01;
    let stranger = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let wrong_key = a.make(2, a.prev, now_ms(), evidence_body(2), &stranger);
    let replay = a.make(1, Hash([0; 32]), now_ms(), healing_body(1), &key);
    let gap = a.make(3, a.prev, now_ms(), evidence_body(3), &key);
    let fork = a.make(2, Hash([7; 32]), now_ms(), evidence_body(2), &key);
    let future = a.make(2, a.prev, now_ms() + 3_600_000, evidence_body(2), &key);
    let mut unknown_kind = good_bytes.clone();
    assert_eq!(&unknown_kind[3..5], &[0x01, 0x01]);
    unknown_kind[4] = 0x09;
    let mut unknown_version = good_bytes.clone();
    unknown_version[2] = 0x02;
    let oversize = vec![0xa0; 70_000];
    let revoked_record = revoked.next_evidence();
    let other_site = {
        let mut b = b;
        b.next_evidence()
    };
    let fresh = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let enrol_with = |token: &str| {
        Request::Enrol(format!(
            "{token}|{}",
            hex::encode(fresh.verifying_key().as_bytes())
        ))
    };

    let cases = vec![
        Case {
            name: "truncated CBOR",
            expect: (400, "truncated"),
            message: None,
            request: Request::Append(cred.clone(), truncated),
        },
        Case {
            name: "non-canonical CBOR",
            expect: (400, "non_canonical"),
            message: None,
            request: Request::Append(cred.clone(), non_canonical),
        },
        Case {
            name: "trailing bytes",
            expect: (400, "trailing_bytes"),
            message: None,
            request: Request::Append(cred.clone(), trailing),
        },
        Case {
            name: "wrong key",
            expect: (422, "wrong_key"),
            message: Some(format!(
                "{}",
                ledger_record::KeyId::of(&key.verifying_key())
            )),
            request: Request::Append(cred.clone(), wrong_key.encode()),
        },
        Case {
            name: "bad signature",
            expect: (422, "bad_signature"),
            message: None,
            request: Request::Append(cred.clone(), bad_sig),
        },
        Case {
            name: "replayed record, different bytes",
            expect: (409, "sequence_replayed"),
            message: Some("next sequence is 2".into()),
            request: Request::Append(cred.clone(), replay.encode()),
        },
        Case {
            name: "sequence gap",
            expect: (409, "sequence_gap"),
            message: Some("expected sequence 2, got 3".into()),
            request: Request::Append(cred.clone(), gap.encode()),
        },
        Case {
            name: "previous-hash mismatch (fork)",
            expect: (409, "prev_hash_mismatch"),
            message: Some(format!("{}", first.hash())),
            request: Request::Append(cred.clone(), fork.encode()),
        },
        Case {
            name: "future time",
            expect: (422, "future_time"),
            message: Some("at most 300 s".into()),
            request: Request::Append(cred.clone(), future.encode()),
        },
        Case {
            name: "oversize record",
            expect: (413, "too_large"),
            message: None,
            request: Request::Append(cred.clone(), oversize),
        },
        Case {
            name: "unknown kind",
            expect: (400, "unknown_kind"),
            message: None,
            request: Request::Append(cred.clone(), unknown_kind),
        },
        Case {
            name: "unknown version",
            expect: (400, "unknown_version"),
            message: None,
            request: Request::Append(cred.clone(), unknown_version),
        },
        Case {
            name: "revoked key",
            expect: (422, "key_revoked"),
            message: None,
            request: Request::Append(Some(revoked.credential.clone()), revoked_record.encode()),
        },
        Case {
            name: "expired enrolment token",
            expect: (403, "enrolment_token_expired"),
            message: None,
            request: enrol_with(&expired),
        },
        Case {
            name: "reused enrolment token",
            expect: (403, "enrolment_token_used"),
            message: None,
            request: enrol_with(&reused),
        },
        Case {
            name: "missing credential",
            expect: (401, "unauthenticated"),
            message: None,
            request: Request::Append(None, good_bytes.clone()),
        },
        Case {
            name: "unknown credential",
            expect: (401, "unauthenticated"),
            message: None,
            request: Request::Append(Some("app_nope".into()), good_bytes.clone()),
        },
        Case {
            name: "wrong-site credential",
            expect: (403, "wrong_appliance"),
            message: None,
            request: Request::Append(cred.clone(), other_site.encode()),
        },
    ];

    for case in cases {
        let before = server.get_text("/checkpoint").await;
        let (status, body) = match case.request {
            Request::Append(cred, bytes) => server.append_http(cred.as_deref(), bytes).await,
            Request::Enrol(arg) => {
                let (token, pk) = arg.split_once('|').unwrap();
                server
                    .post_json(
                        "/v1/enrol",
                        None,
                        json!({ "token": token, "public_key": pk }),
                    )
                    .await
            }
        };
        assert_eq!(
            (status, body["error"]["code"].as_str().unwrap_or("")),
            case.expect,
            "{}: {body}",
            case.name
        );
        if let Some(m) = &case.message {
            let msg = body["error"]["message"].as_str().unwrap();
            assert!(
                msg.contains(m.as_str()),
                "{}: `{msg}` lacks `{m}`",
                case.name
            );
        }
        let after = server.get_text("/checkpoint").await;
        assert_eq!(before, after, "{}: the ledger changed", case.name);
    }

    // After all of that, the good record is still the one accepted next.
    let (status, v) = server.append_http(Some(&a.credential), good_bytes).await;
    assert_eq!(status, 200, "{v}");
    // Rejects are counted by reason.
    let metrics = server.get_text("/metrics").await;
    assert!(
        metrics.contains("ledger_records_rejected_total{reason=\"sequence_gap\"} 1"),
        "{metrics}"
    );
    server.stop().await;
}
