//! The OpenAPI 3.0 document of the whole HTTP API, served at `/openapi.json`: the
//! operations come from the route table ([`super::endpoints`], each written next to its
//! handler), the shared schemas from [`schemas`]. Written by hand because the handlers
//! take raw bodies and parse them with their own errors.
//!
//! **Adding an endpoint**: add one [`endpoint`](super::endpoint::endpoint) row to the
//! resource's `endpoints()` (method, path with `{param}` segments as in axum, summary,
//! parameters, responses, handler); reuse the schemas of [`schemas`] or add one here.

use axum::routing::get;
use axum::Json;
use serde_json::{json, Map, Value};

use super::endpoint::{endpoint, enumeration, sref, string, uint, Endpoint, Op};

/// The route of the document itself.
pub fn endpoints() -> Vec<Endpoint> {
    vec![endpoint(
        Op::new("get", "/openapi.json", "server", "This document").json(
            "200",
            "OpenAPI document",
            json!({"type": "object"}),
        ),
        get(|| async { Json(document()) }),
    )]
}

/// The block whose header matched a stamp's Bitcoin attestation (`anchor_bitcoin_api`);
/// null without a header source or before a match.
pub fn verified_block_schema() -> Value {
    json!({"type": "object", "nullable": true, "required": ["height", "time", "block_hash"], "properties": {
        "height": uint(), "time": uint(), "block_hash": string()}})
}

/// A stamp as `/v1/anchors` shows it (docs/ANCHORING.md).
pub fn stamp_schema() -> Value {
    json!({"type": "object", "required": ["tree_size", "status", "overdue", "digest", "created_ms", "calendars"], "properties": {
        "tree_size": uint(),
        "status": enumeration(&["pending", "complete", "failed"]),
        "overdue": {"type": "boolean"},
        "digest": string(),
        "created_ms": uint(),
        "completed_ms": nullable_uint(),
        "calendars": {"type": "array", "items": string()},
        "submit_failures": {"type": "array", "items": string()},
        "bitcoin_heights": {"type": "array", "items": uint()},
        "bitcoin_verified": verified_block_schema(),
        "upgrade_attempts": uint(),
        "next_upgrade_ms": uint(),
        "last_error": nullable("string"),
        "awaiting": {"type": "array", "items": string()},
        "ots_url": nullable("string"),
        "checkpoint_url": string()}})
}

fn nullable(t: &str) -> Value {
    json!({"type": t, "nullable": true})
}

pub fn nullable_uint() -> Value {
    json!({"type": "integer", "minimum": 0, "nullable": true})
}

/// The shared schemas (`components.schemas`).
pub fn schemas() -> Value {
    let all = log_schemas()
        .into_iter()
        .chain(fleet_schemas())
        .chain(query_schemas());
    Value::Object(all.map(|(k, v)| (k.to_string(), v)).collect())
}

/// Schemas of the log, records and keys.
fn log_schemas() -> Vec<(&'static str, Value)> {
    vec![
        (
            "Error",
            json!({"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": string(), "message": string()}}}}),
        ),
        (
            "Health",
            json!({"type": "object", "required": ["status", "tree_size"], "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded", "stopped"]}, "origin": string(),
            "tree_size": uint(), "queue_depth": uint(), "reason": string()}}),
        ),
        (
            "LogList",
            json!({"type": "object", "required": ["logs"], "properties": {"logs": {
            "type": "array", "items": {"type": "object",
            "required": ["origin", "key", "period", "status"], "properties": {
            "origin": string(), "key": string(), "period": string(),
            "status": {"type": "string", "enum": ["active", "frozen"]},
            "final_checkpoint": string(), "final_size": uint()}}}}}),
        ),
        (
            "OperatorKey",
            json!({"type": "object", "required": ["public_key", "key_id", "site_id", "appliance_id"], "properties": {
            "public_key": string(), "key_id": string(), "site_id": string(), "appliance_id": string()}}),
        ),
        (
            "Appended",
            json!({"type": "object", "required": ["index", "duplicate", "record_hash", "leaf_hash", "checkpoint", "inclusion_proof", "receipt"], "properties": {
            "index": uint(), "duplicate": {"type": "boolean"}, "record_hash": string(), "leaf_hash": string(),
            "checkpoint": string(), "inclusion_proof": {"type": "array", "items": string()}, "receipt": string()}}),
        ),
        (
            "BatchResults",
            json!({"type": "object", "required": ["results"], "properties": {"results": {"type": "array", "items": {"type": "object"}}}}),
        ),
        (
            "ChainRecords",
            json!({"type": "object", "required": ["checkpoint", "tree_size", "records"], "properties": {
            "checkpoint": string(), "tree_size": uint(), "records": {"type": "array", "items": {"type": "object",
                "required": ["sequence", "index", "record", "inclusion_proof"], "properties": {
                "sequence": uint(), "index": uint(), "record": string(), "inclusion_proof": {"type": "array", "items": string()}}}}}}),
        ),
        (
            "EnrolRequest",
            json!({"type": "object", "required": ["token", "public_key"], "additionalProperties": false, "properties": {
            "token": string(), "public_key": string()}}),
        ),
        (
            "TokenRequest",
            json!({"type": "object", "required": ["site_id", "appliance_id"], "additionalProperties": false, "properties": {
            "site_id": string(), "appliance_id": string(), "ttl_secs": uint()}}),
        ),
        (
            "ReadTokenRequest",
            json!({"type": "object", "required": ["sites"], "additionalProperties": false, "properties": {
            "sites": {"type": "array", "items": string()}, "ttl_secs": uint()}}),
        ),
    ]
}

/// The properties of an appliance in the fleet view, its required ones, and the
/// properties of the appliance detail (the same plus keys, completeness, check-in).
fn appliance_schema_parts() -> (Value, Value, Value) {
    let appliance_props = json!({
        "appliance_id": string(),
        "key_status": enumeration(&["active", "revoked", "none"]),
        "key_id": nullable("string"),
        "state": enumeration(&["online", "stale", "never"]),
        "agent_version": nullable("string"),
        "last_checkin_ms": nullable_uint(),
        "health": nullable("string"),
        "agent_alarms": {"type": "array", "items": string()},
        "outbox_depth": nullable_uint(),
        "oldest_undelivered_age_secs": nullable_uint(),
        "records": uint(),
        "last_sequence": nullable_uint(),
        "last_record_index": nullable_uint(),
        "last_record_time_ms": nullable_uint(),
        "completeness_alarms": uint(),
        "refusals": {"type": "object", "additionalProperties": {"type": "object", "required": ["count", "last_ms"], "properties": {
            "count": uint(), "last_ms": uint()}}},
        "server_alarms": {"type": "array", "items": enumeration(&["clock_ahead", "sequence_replay"])},
    });
    let appliance_required = json!([
        "appliance_id",
        "key_status",
        "state",
        "records",
        "completeness_alarms",
        "agent_alarms",
        "refusals",
        "server_alarms"
    ]);
    let mut detail_props = appliance_props.clone();
    if let Some(m) = detail_props.as_object_mut() {
        m.insert("site_id".into(), string());
        m.insert(
            "keys".into(),
            json!({"type": "array", "items": sref("Key")}),
        );
        m.insert(
            "completeness".into(),
            json!({"type": "array", "items": sref("CompletenessAlarm")}),
        );
        m.insert(
            "clock_steps_back".into(),
            json!({"type": "array", "items": {"type": "object", "required": ["index", "sequence", "time_ms", "previous_time_ms"], "properties": {
                "index": uint(), "sequence": uint(), "time_ms": uint(), "previous_time_ms": uint()}}}),
        );
        m.insert(
            "checkin".into(),
            json!({"allOf": [sref("StoredCheckin")], "nullable": true}),
        );
    }
    (appliance_props, appliance_required, detail_props)
}

/// Schemas of check-ins and the fleet view.
fn fleet_schemas() -> Vec<(&'static str, Value)> {
    let (appliance_props, appliance_required, detail_props) = appliance_schema_parts();
    vec![
        (
            "Checkin",
            json!({"type": "object", "required": ["agent_version", "outbox_depth", "health"], "properties": {
            "agent_version": {"type": "string", "minLength": 1, "maxLength": 64},
            "outbox_depth": uint(),
            "oldest_undelivered_age_secs": nullable_uint(),
            "last_receipt_index": nullable_uint(),
            "last_checkpoint_size": nullable_uint(),
            "health": enumeration(&["ok", "degraded", "alarm"]),
            "alarms": {"type": "array", "maxItems": 64, "items": {"type": "string", "minLength": 1, "maxLength": 256}}}}),
        ),
        (
            "StoredCheckin",
            json!({"type": "object", "required": ["received_at_ms", "checkins", "agent_version", "outbox_depth", "health", "alarms"], "properties": {
            "received_at_ms": uint(), "checkins": uint(), "agent_version": string(), "outbox_depth": uint(),
            "oldest_undelivered_age_secs": nullable_uint(), "last_receipt_index": nullable_uint(),
            "last_checkpoint_size": nullable_uint(), "health": string(), "alarms": {"type": "array", "items": string()}}}),
        ),
        (
            "Appliance",
            json!({"type": "object", "required": appliance_required, "properties": appliance_props}),
        ),
        (
            "SiteAppliances",
            json!({"type": "object", "required": ["site_id", "stale_after_secs", "appliances"], "properties": {
            "site_id": string(), "stale_after_secs": uint(), "appliances": {"type": "array", "items": sref("Appliance")}}}),
        ),
        (
            "Key",
            json!({"type": "object", "required": ["key_id", "public_key", "introduced_by", "introduced_at_index"], "properties": {
            "key_id": string(), "public_key": string(), "introduced_by": enumeration(&["enrolment", "rotation"]),
            "introduced_at_index": uint(), "ended_at_index": nullable_uint(), "end_reason": nullable("string"),
            "replaced_by": nullable("string")}}),
        ),
        (
            "CompletenessAlarm",
            json!({"type": "object", "required": ["index", "expected_sequence", "sequence", "kind"], "properties": {
            "index": uint(), "expected_sequence": uint(), "sequence": uint(), "kind": enumeration(&["gap", "out_of_order"])}}),
        ),
        (
            "ApplianceDetail",
            json!({"type": "object", "required": ["site_id", "appliance_id", "key_status", "state", "keys", "completeness", "clock_steps_back", "checkin"], "properties": detail_props}),
        ),
    ]
}

/// Schemas of the healing and record queries.
fn query_schemas() -> Vec<(&'static str, Value)> {
    let tier = enumeration(&["L1", "L2", "L3", "unknown"]);
    let outcome = enumeration(&["success", "failure", "escalated", "unknown"]);
    vec![
        (
            "Incident",
            json!({"type": "object", "required": ["site_id", "incident_id", "appliance_id", "check_type", "pattern_signature", "tier", "outcome", "started_at_ms", "ended_at_ms", "records", "first_index", "last_index"], "properties": {
            "site_id": string(), "incident_id": string(), "appliance_id": string(), "check_type": string(),
            "pattern_signature": string(), "tier": tier, "outcome": outcome, "started_at_ms": uint(), "ended_at_ms": uint(),
            "records": uint(), "first_index": uint(), "last_index": uint()}}),
        ),
        (
            "IncidentPage",
            json!({"type": "object", "required": ["incidents", "next_cursor"], "properties": {
            "incidents": {"type": "array", "items": sref("Incident")}, "next_cursor": nullable("string")}}),
        ),
        (
            "IncidentDetail",
            json!({"type": "object", "required": ["incident", "tree_size", "records"], "properties": {
            "incident": sref("Incident"), "tree_size": uint(), "records": {"type": "array", "items": {"type": "object",
                "required": ["index", "appliance_id", "sequence", "record_hash", "time_ms", "healing", "record", "receipt"], "properties": {
                "index": uint(), "appliance_id": string(), "sequence": uint(), "record_hash": string(), "time_ms": uint(),
                "healing": {"type": "object"}, "record": string(), "receipt": string()}}}}}),
        ),
        (
            "PatternStats",
            json!({"type": "object", "required": ["pattern_signature", "occurrences", "successes", "failures", "escalations", "success_rate", "tiers", "mean_time_to_resolve_ms", "check_types"], "properties": {
            "pattern_signature": string(), "occurrences": uint(), "successes": uint(), "failures": uint(), "escalations": uint(),
            "success_rate": {"type": "number", "minimum": 0, "maximum": 1},
            "tiers": {"type": "object", "required": ["L1", "L2", "L3"], "properties": {"L1": uint(), "L2": uint(), "L3": uint()}},
            "mean_time_to_resolve_ms": {"type": "number", "nullable": true},
            "check_types": {"type": "array", "items": string()}}}),
        ),
        (
            "PromotionCandidates",
            json!({"type": "object", "required": ["tier", "min_occurrences", "min_success_rate", "candidates"], "properties": {
            "tier": enumeration(&["L2"]), "min_occurrences": uint(), "min_success_rate": {"type": "number"},
            "candidates": {"type": "array", "items": sref("PatternStats")}}}),
        ),
        (
            "RecordHit",
            json!({"type": "object", "required": ["index", "site_id", "appliance_id", "sequence", "kind", "time_ms", "record_hash", "checks"], "properties": {
            "index": uint(), "site_id": string(), "appliance_id": string(), "sequence": uint(),
            "kind": enumeration(&["evidence", "healing", "key", "unknown"]), "time_ms": uint(), "record_hash": string(),
            "incident_id": string(), "check_type": string(), "tier": tier, "outcome": outcome,
            "checks": {"type": "array", "items": {"type": "object", "required": ["check_type", "status", "items"], "properties": {
                "check_type": string(), "status": enumeration(&["pass", "warning", "fail", "error", "none"]), "items": uint()}}}}}),
        ),
        (
            "RecordPage",
            json!({"type": "object", "required": ["records", "next_cursor"], "properties": {
            "records": {"type": "array", "items": sref("RecordHit")}, "next_cursor": nullable("string")}}),
        ),
        (
            "DailyCounts",
            json!({"type": "object", "required": ["from_day", "to_day", "days"], "properties": {
            "from_day": string(), "to_day": string(), "days": {"type": "array", "items": {"type": "object",
                "required": ["day", "pass", "warning", "fail", "error"], "properties": {
                "day": string(), "pass": uint(), "warning": uint(), "fail": uint(), "error": uint()}}}}}),
        ),
    ]
}

/// The OpenAPI document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for e in super::endpoints() {
        let entry = paths
            .entry(e.documented_path())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[e.doc.method] = e.doc.body;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Evidence Ledger (ledgerd) HTTP API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Verifiable append-only log of compliance evidence. docs/API.md explains every endpoint.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves_and_operations_are_unique() {
        let doc = document();
        let schemas = schemas();
        let text = doc.to_string();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(
                schemas.get(&name).is_some(),
                "schema {name} is referenced but missing"
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for e in super::super::endpoints() {
            assert!(
                seen.insert((e.doc.method, e.doc.path)),
                "{} {} twice",
                e.doc.method,
                e.doc.path
            );
        }
    }
}
