//! JSON input for evidence and healing bodies: conversion and located errors.

mod common;

use common::*;
use ledger_record::{
    EvidenceBody, EvidenceInput, HealingBody, HealingInput, IdError, InputError, Outcome,
    RecordError, Status, Tier,
};

const EVIDENCE: &str = r#"{"items": [
  {"check_type": "disk_encryption", "host": "ws-01", "status": "pass",
   "observed_at": 1700000000000, "details": "BitLocker on C:",
   "controls": ["HIPAA:164.312(a)(2)(iv)", "SOC2:CC6.1"]},
  {"check_type": "backup_age", "host": "nas-1.clinic.example", "status": "warning",
   "observed_at": 1700000001000}
]}"#;

const HEALING: &str = r#"{"incident_id": "inc-42", "check_type": "disk_space",
  "pattern_signature": "disk_full:/var", "tier": "L1", "runbook_id": "rb-clean-tmp",
  "action": "removed stale files", "outcome": "escalated",
  "started_at": 1700000000000, "ended_at": 1700000005000, "state_before": "97%"}"#;

fn evidence_with(item_patch: &str) -> String {
    format!(
        r#"{{"items": [{{"check_type": "c", "host": "h", "status": "pass", "observed_at": 1{item_patch}}}]}}"#
    )
}

fn evidence_error(json: &str) -> InputError {
    serde_json::from_str::<EvidenceInput>(json)
        .unwrap()
        .into_items()
        .unwrap_err()
}

#[test]
fn evidence_converts() {
    let input: EvidenceInput = serde_json::from_str(EVIDENCE).unwrap();
    let items = input.clone().into_items().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].check_type.as_str(), "disk_encryption");
    assert_eq!(items[0].status, Status::Pass);
    assert_eq!(items[0].controls, ["HIPAA:164.312(a)(2)(iv)", "SOC2:CC6.1"]);
    assert_eq!(items[1].status, Status::Warning);
    assert_eq!(items[1].details, "");
    assert!(items[1].controls.is_empty());
    assert_eq!(
        input.clone().into_inline_body().unwrap(),
        EvidenceBody::Inline {
            items: items.clone()
        }
    );
    let (committed, kept) = input.into_committed_body().unwrap();
    assert_eq!(kept, items);
    assert_eq!(
        committed,
        EvidenceBody::Committed {
            items_root: ledger_record::items_root(&items).unwrap(),
            item_count: 2
        }
    );
}

#[test]
fn healing_converts() {
    let input: HealingInput = serde_json::from_str(HEALING).unwrap();
    let body: HealingBody = input.try_into().unwrap();
    assert_eq!(body.tier, Tier::L1);
    assert_eq!(body.outcome, Outcome::Escalated);
    assert_eq!(body.state_before, "97%");
    assert_eq!(body.state_after, "");
    assert_eq!(body.ended_at_ms - body.started_at_ms, 5000);
}

#[test]
fn evidence_errors_name_the_place() {
    let e = evidence_error(&evidence_with(
        r#", "controls": ["HIPAA:1", "bad control"]"#,
    ));
    assert_eq!(e.path, "items[0].controls[1]");
    assert!(e.to_string().starts_with("items[0].controls[1]: "), "{e}");
    let e = evidence_error(&evidence_with(r#", "controls": ["SOC2:CC1", "SOC2:CC1"]"#));
    assert_eq!(e.path, "items[0].controls[1]");
    let e = evidence_error(&evidence_with(r#", "controls": ["nocolon"]"#));
    assert_eq!(e.path, "items[0].controls[0]");
    let e = evidence_error(&evidence_with(&format!(
        r#", "details": "{}""#,
        "x".repeat(4097)
    )));
    assert_eq!(e.path, "items[0].details");
    let e = evidence_error(
        r#"{"items": [{"check_type": "c", "host": "h", "status": "pass", "observed_at": 1},
                      {"check_type": "c", "host": "bad host", "status": "pass", "observed_at": 1}]}"#,
    );
    assert_eq!(
        e,
        InputError {
            path: "items[1].host".into(),
            error: RecordError::InvalidId {
                field: "evidence.item.host",
                problem: IdError::InvalidChar { index: 3, ch: ' ' }
            }
        }
    );
    assert_eq!(
        e.to_string(),
        "items[1].host: identifier has ' ' at byte 3; only A-Z a-z 0-9 . _ : - are allowed"
    );
    assert_eq!(evidence_error(r#"{"items": []}"#).path, "items");
}

#[test]
fn evidence_json_shape_errors() {
    // Misspelt fields, unknown statuses and missing fields are refused by serde.
    for json in [
        evidence_with(r#", "detail": "typo""#),
        r#"{"items": [{"check_type": "c", "host": "h", "status": "passed", "observed_at": 1}]}"#
            .to_owned(),
        r#"{"items": [{"check_type": "c", "host": "h", "status": "pass"}]}"#.to_owned(),
        r#"{"items": [], "extra": 1}"#.to_owned(),
    ] {
        assert!(
            serde_json::from_str::<EvidenceInput>(&json).is_err(),
            "{json}"
        );
    }
}

#[test]
fn healing_errors_name_the_field() {
    let patch = |from: &str, to: &str| -> InputError {
        let json = HEALING.replace(from, to);
        serde_json::from_str::<HealingInput>(&json)
            .unwrap()
            .into_body()
            .unwrap_err()
    };
    assert_eq!(
        patch(r#""ended_at": 1700000005000"#, r#""ended_at": 1"#).path,
        "ended_at"
    );
    assert_eq!(patch(r#""inc-42""#, r#""inc 42""#).path, "incident_id");
    assert_eq!(
        patch(r#""rb-clean-tmp""#, r#""""#).error,
        RecordError::InvalidId {
            field: "healing.runbook_id",
            problem: IdError::Empty
        }
    );
    assert_eq!(patch(r#""removed stale files""#, r#""""#).path, "action");
    assert_eq!(
        patch(r#""disk_full:/var""#, r#""a\u0007b""#).path,
        "pattern_signature"
    );
    for bad in [r#""tier": "L4""#, r#""tier": "l1""#] {
        let json = HEALING.replace(r#""tier": "L1""#, bad);
        assert!(serde_json::from_str::<HealingInput>(&json).is_err());
    }
}

#[test]
fn converted_bodies_sign_and_decode() {
    let body = serde_json::from_str::<HealingInput>(HEALING)
        .unwrap()
        .into_body()
        .unwrap();
    let record = ledger_record::Record::sign(
        unsigned(
            1,
            ledger_record::Hash([0; 32]),
            ledger_record::Body::Healing(body),
        ),
        &key(1),
    )
    .unwrap();
    assert_eq!(
        ledger_record::Record::decode(&record.encode()).unwrap(),
        record
    );
}
