//! The OpenAPI 3.0 document of the whole HTTP API, served at `/openapi.json`.
//!
//! Built by hand from [`endpoints`], one entry per (method, path) of
//! [`crate::http::router`], because the handlers take raw bodies and parse them with
//! their own errors. `api/tests/openapi.rs` checks that every route of the router is in
//! the document and every documented operation reaches a handler, so the two cannot
//! drift apart silently.
//!
//! **Adding an endpoint**: add the route to the router, then one [`Op`] to
//! [`endpoints`] (method, path with `{param}` segments as in axum, summary, parameters,
//! responses; reuse the schemas of [`schemas`] or add one there). `/tile/{*path}` is
//! written `/tile/{path}` here, since OpenAPI has no catch-all parameters.

use serde_json::{json, Map, Value};

/// One operation of the document.
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    body: Value,
}

fn error_ref() -> Value {
    json!({ "$ref": "#/components/schemas/Error" })
}

fn sref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

impl Op {
    fn new(method: &'static str, path: &'static str, tag: &str, summary: &str) -> Op {
        let mut responses = Map::new();
        // Malformed requests (bad path or query values) are 400 everywhere.
        responses.insert(
            "400".into(),
            json!({"description": "malformed request", "content": {
                "application/json": {"schema": error_ref()},
                "text/plain": {"schema": {"type": "string"}}}}),
        );
        let mut body = json!({
            "summary": summary,
            "tags": [tag],
            "operationId": format!("{}_{}", method, path.trim_matches('/').replace(['/', '{', '}', '.', '-'], "_")),
            "parameters": [],
        });
        body["responses"] = Value::Object(responses);
        let mut op = Op { method, path, body };
        for segment in path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                op = op.param("path", name, json!({"type": "string"}), true, name);
            }
        }
        op
    }

    fn param(
        mut self,
        location: &str,
        name: &str,
        schema: Value,
        required: bool,
        desc: &str,
    ) -> Op {
        if let Some(list) = self.body["parameters"].as_array_mut() {
            list.push(json!({
                "name": name, "in": location, "required": required,
                "schema": schema, "description": desc,
            }));
        }
        self
    }

    fn query(self, name: &str, schema: Value, desc: &str) -> Op {
        self.param("query", name, schema, false, desc)
    }

    fn response(mut self, status: &str, desc: &str, content: Option<(&str, Value)>) -> Op {
        let mut r = json!({ "description": desc });
        if let Some((ctype, schema)) = content {
            r["content"] = json!({ ctype: { "schema": schema } });
        }
        self.body["responses"][status] = r;
        self
    }

    fn json(self, status: &str, desc: &str, schema: Value) -> Op {
        self.response(status, desc, Some(("application/json", schema)))
    }

    fn text(self, desc: &str) -> Op {
        self.response("200", desc, Some(("text/plain", json!({"type": "string"}))))
    }

    fn error(self, status: &str, desc: &str) -> Op {
        self.json(status, desc, error_ref())
    }

    /// Needs a bearer credential: 401 without one.
    fn auth(mut self) -> Op {
        self.body["security"] = json!([{ "bearer": [] }]);
        self.error("401", "no or unknown credential")
    }

    /// Dashboard endpoints: a read token or the admin credential; out of scope is 404.
    fn reader(self) -> Op {
        self.auth()
            .error(
                "403",
                "an appliance credential (dashboards need a read token)",
            )
            .error("404", "not found, or outside the credential's sites")
    }

    fn admin(self) -> Op {
        self.auth().error("403", "not the admin credential")
    }

    fn body(mut self, ctype: &str, schema: Value) -> Op {
        self.body["requestBody"] = json!({
            "required": true,
            "content": { ctype: { "schema": schema } },
        });
        self
    }

    fn too_large(self) -> Op {
        self.response(
            "413",
            "body too large",
            Some(("text/plain", json!({"type": "string"}))),
        )
    }
}

fn string() -> Value {
    json!({"type": "string"})
}

fn uint() -> Value {
    json!({"type": "integer", "minimum": 0})
}

fn day() -> Value {
    json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"})
}

fn enumeration(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn cursor_params(op: Op) -> Op {
    op.query(
        "cursor",
        json!({"type": "string", "pattern": "^[0-9]{1,20}$"}),
        "`next_cursor` of the previous page",
    )
    .query(
        "limit",
        json!({"type": "integer", "minimum": 1, "maximum": 500}),
        "page size, default 50",
    )
}

/// Every operation of the HTTP API.
pub fn endpoints() -> Vec<Op> {
    let size_q = |op: Op| {
        op.query(
            "size",
            json!({"type": "string", "pattern": "^[0-9]{1,20}$"}),
            "tree size of the checkpoint to prove against (default latest)",
        )
    };
    vec![
        Op::new("get", "/checkpoint", "log", "Latest signed checkpoint (C2SP signed note)")
            .text("checkpoint note"),
        Op::new("get", "/checkpoint/{size}", "log", "The signed checkpoint of exactly this size")
            .text("checkpoint note")
            .error("404", "no checkpoint of that size"),
        Op::new("get", "/tile/{path}", "log", "C2SP tlog-tiles hash tile or entry bundle")
            .response("200", "tile bytes", Some(("application/octet-stream", json!({"type": "string", "format": "binary"}))))
            .error("401", "entry bundles need the admin credential")
            .error("403", "entry bundles need the admin credential")
            .error("404", "no such tile"),
        Op::new("get", "/proof/consistency", "log", "RFC 9162 consistency proof, one base64 hash per line")
            .query("from", json!({"type": "string", "pattern": "^[0-9]{1,20}$"}), "older tree size (required)")
            .query("to", json!({"type": "string", "pattern": "^[0-9]{1,20}$"}), "newer tree size (default latest)")
            .text("proof")
            .error("404", "unknown tree size"),
        size_q(Op::new("get", "/receipt/{index}", "log", "C2SP tlog-proof receipt of an entry"))
            .text("receipt")
            .error("404", "no such entry or tree size"),
        size_q(Op::new("get", "/v1/receipts/{index}", "log", "C2SP tlog-proof receipt of an entry"))
            .text("receipt")
            .error("404", "no such entry or tree size"),
        size_q(Op::new("get", "/v1/receipts/by-hash/{hash}", "log", "Receipt of the record with this record hash"))
            .text("receipt")
            .error("404", "unknown record hash"),
        Op::new("get", "/healthz", "server", "Liveness and tree size")
            .json("200", "status", sref("Health")),
        Op::new("get", "/metrics", "server", "Prometheus metrics").text("metrics"),
        Op::new("get", "/log-key", "server", "The log's verifier key").text("C2SP key string"),
        Op::new("get", "/operator-key", "server", "The operator key and chain")
            .json("200", "operator key", sref("OperatorKey")),
        Op::new("get", "/openapi.json", "server", "This document")
            .json("200", "OpenAPI document", json!({"type": "object"})),
        Op::new("post", "/v1/records", "records", "Append one signed record (CBOR)")
            .auth()
            .body("application/cbor", json!({"type": "string", "format": "binary"}))
            .json("200", "appended (or the original of identical bytes)", sref("Appended"))
            .error("403", "another appliance's chain or an operator-only record")
            .error("409", "sequence or prev-hash conflict")
            .error("422", "key, clock or signature refused")
            .error("503", "append queue full; retry after Retry-After")
            .too_large(),
        Op::new("post", "/v1/records/batch", "records", "Append a CBOR array of records")
            .auth()
            .body("application/cbor", json!({"type": "string", "format": "binary"}))
            .json("200", "one result per record", sref("BatchResults"))
            .error("403", "another appliance's chain")
            .error("503", "append queue full")
            .too_large(),
        Op::new("get", "/v1/records/{index}", "records", "Record bytes by log index")
            .auth()
            .response("200", "the record", Some(("application/cbor", json!({"type": "string", "format": "binary"}))))
            .error("403", "not allowed")
            .error("404", "no such record, or outside the credential's sites"),
        Op::new("get", "/v1/records/by-hash/{hash}", "records", "Record bytes by record hash")
            .auth()
            .response("200", "the record", Some(("application/cbor", json!({"type": "string", "format": "binary"}))))
            .error("404", "no such record, or outside the credential's sites"),
        Op::new("get", "/v1/appliances/{site}/{appliance}/records", "records", "An appliance's records by sequence range, with proofs")
            .auth()
            .query("from", json!({"type": "string", "pattern": "^[0-9]{1,20}$"}), "first sequence (default 1)")
            .query("to", json!({"type": "string", "pattern": "^[0-9]{1,20}$"}), "last sequence (at most from + 999)")
            .query("size", json!({"type": "string", "pattern": "^[0-9]{1,20}$"}), "tree size to prove against")
            .json("200", "records", sref("ChainRecords"))
            .error("404", "outside the credential's sites"),
        Op::new("post", "/v1/enrol", "keys", "Enrol an appliance with a one-time token")
            .body("application/json", sref("EnrolRequest"))
            .json("200", "credential and enrolment record", json!({"type": "object"}))
            .error("403", "token unknown, used or expired")
            .error("409", "conflict")
            .error("422", "refused")
            .error("503", "append queue full")
            .too_large(),
        Op::new("post", "/v1/admin/enrolment-tokens", "admin", "Issue a one-time enrolment token")
            .admin()
            .body("application/json", sref("TokenRequest"))
            .json("200", "token", json!({"type": "object"}))
            .too_large(),
        Op::new("post", "/v1/admin/read-tokens", "admin", "Issue a read token for one or several sites")
            .admin()
            .body("application/json", sref("ReadTokenRequest"))
            .json("200", "token", json!({"type": "object", "required": ["token"], "properties": {"token": string(), "expires_at_ms": {"type": "integer", "nullable": true}}}))
            .too_large(),
        Op::new("post", "/v1/admin/appliances/{site}/{appliance}/revoke", "admin", "Revoke an appliance's key")
            .admin()
            .body("application/json", json!({"type": "object", "properties": {"reason": enumeration(&["unspecified", "key_compromise", "decommissioned", "superseded"])}, "additionalProperties": false}))
            .json("200", "revocation record", json!({"type": "object"}))
            .error("404", "no such appliance key")
            .error("409", "conflict")
            .error("422", "refused")
            .error("503", "append queue full")
            .too_large(),
        // ---- anchoring (issue 4, docs/ANCHORING.md) ----
        Op::new("get", "/v1/anchors", "anchoring", "Checkpoint stamps, newest first")
            .query("before", json!({"type": "string", "pattern": "^[0-9]{1,20}$"}), "largest tree size to list (inclusive)")
            .query("limit", json!({"type": "string", "pattern": "^[0-9]{1,20}$"}), "at most this many (1..=1000, default 100)")
            .json("200", "stamps", json!({"type": "object", "required": ["enabled", "anchors"], "properties": {
                "enabled": {"type": "boolean"},
                "anchors": {"type": "array", "items": stamp_schema()},
                "next_before": nullable_uint()}})),
        Op::new("get", "/v1/anchors/{size}", "anchoring", "The stamp of the checkpoint of this size")
            .json("200", "stamp", stamp_schema())
            .error("404", "that checkpoint has no stamp"),
        Op::new("get", "/v1/anchors/{size}/ots", "anchoring", "The detached OpenTimestamps proof of that checkpoint")
            .response("200", ".ots file", Some(("application/octet-stream", json!({"type": "string", "format": "binary"}))))
            .error("404", "no stamp, or the submission failed"),
        Op::new("get", "/v1/anchored-receipts/{index}", "anchoring", "Receipt against the newest stamped checkpoint covering the entry, with its .ots")
            .json("200", "anchored receipt", json!({"type": "object", "required": ["index", "tree_size", "status", "checkpoint", "receipt", "ots"], "properties": {
                "index": uint(), "tree_size": uint(), "status": enumeration(&["pending", "complete"]),
                "bitcoin_heights": {"type": "array", "items": uint()},
                "bitcoin_verified": verified_block_schema(),
                "checkpoint": string(), "receipt": string(), "ots": string()}}))
            .error("404", "no stamped checkpoint covers the entry yet"),
        Op::new("post", "/v1/admin/anchors/stamp-now", "anchoring", "End the current anchoring interval now")
            .admin()
            .json("202", "requested", json!({"type": "object", "required": ["requested", "tree_size"], "properties": {"requested": {"type": "boolean"}, "tree_size": uint()}}))
            .error("409", "anchoring is disabled"),
        // ---- evidence packages (issue 6, docs/EVIDENCE_PACKAGE.md) ----
        Op::new("get", "/v1/export", "export", "Evidence package of sites and a period, as a tar archive")
            .auth()
            .query("sites", string(), "comma-separated site ids (required)")
            .query("from_ms", json!({"type": "string", "pattern": "^[0-9]{1,20}$"}), "period start, Unix ms of appliance time")
            .query("to_ms", json!({"type": "string", "pattern": "^[0-9]{1,20}$"}), "period end (inclusive)")
            .response("200", "package archive (package.json last)", Some(("application/x-tar", json!({"type": "string", "format": "binary"}))))
            .error("404", "no records, or a site outside the credential's scope")
            .error("503", "another export is running; retry after Retry-After"),
        // ---- operations (docs/OPERATIONS.md) ----
        Op::new("post", "/v1/admin/backup", "admin", "Online backup into a new directory on the server")
            .admin()
            .body("application/json", json!({"type": "object", "required": ["to"], "properties": {"to": string()}}))
            .json("200", "backup written and verified", json!({"type": "object"}))
            .error("409", "conflict")
            .too_large(),
        // ---- fleet (issue 7) ----
        Op::new("post", "/v1/checkin", "fleet", "Agent check-in (heartbeat)")
            .auth()
            .body("application/json", sref("Checkin"))
            .response("204", "stored", None)
            .error("403", "not an appliance credential")
            .too_large(),
        Op::new("get", "/v1/sites/{site}/appliances", "fleet", "Appliances of a site")
            .reader()
            .json("200", "appliances", sref("SiteAppliances")),
        Op::new("get", "/v1/appliances/{site}/{appliance}", "fleet", "One appliance with its key history")
            .reader()
            .json("200", "appliance", sref("ApplianceDetail")),
        // ---- healing ----
        cursor_params(
            Op::new("get", "/v1/incidents", "healing", "Incidents, newest first")
                .query("site", string(), "one site (default: every site of the credential)")
                .query("appliance", string(), "one appliance")
                .query("check_type", string(), "check type")
                .query("tier", enumeration(&["L1", "L2", "L3"]), "latest tier")
                .query("outcome", enumeration(&["success", "failure", "escalated"]), "latest outcome")
                .query("from", json!({"type": "string", "pattern": "^[0-9]{1,20}$"}), "active at or after (Unix ms)")
                .query("to", json!({"type": "string", "pattern": "^[0-9]{1,20}$"}), "started before (Unix ms)"),
        )
        .reader()
        .json("200", "a page of incidents", sref("IncidentPage")),
        Op::new("get", "/v1/sites/{site}/incidents/{incident}", "healing", "One incident with its records and receipts")
            .reader()
            .json("200", "incident", sref("IncidentDetail")),
        Op::new("get", "/v1/patterns", "healing", "Statistics per pattern signature")
            .query("site", string(), "one site")
            .query("check_type", string(), "check type")
            .query("tier", enumeration(&["L1", "L2", "L3"]), "only this tier")
            .query("from_day", day(), "first UTC day of start (YYYY-MM-DD)")
            .query("to_day", day(), "last UTC day of start")
            .reader()
            .json("200", "statistics", json!({"type": "object", "required": ["patterns"], "properties": {"patterns": {"type": "array", "items": sref("PatternStats")}}})),
        Op::new("get", "/v1/patterns/promotion-candidates", "healing", "Patterns resolved at L2 often and reliably enough to promote")
            .query("site", string(), "one site")
            .query("check_type", string(), "check type")
            .query("from_day", day(), "first UTC day of start")
            .query("to_day", day(), "last UTC day of start")
            .reader()
            .json("200", "candidates", sref("PromotionCandidates")),
        // ---- record search ----
        cursor_params(
            Op::new("get", "/v1/search/records", "search", "Record search, newest log index first")
                .query("site", string(), "one site")
                .query("appliance", string(), "one appliance")
                .query("kind", enumeration(&["evidence", "healing", "key"]), "record kind")
                .query("from", json!({"type": "string", "pattern": "^[0-9]{1,20}$"}), "appliance time at or after (Unix ms)")
                .query("to", json!({"type": "string", "pattern": "^[0-9]{1,20}$"}), "appliance time before (Unix ms)")
                .query("check_type", string(), "check type (evidence items, healing records)")
                .query("status", enumeration(&["pass", "warning", "fail", "error"]), "an evidence item with this status")
                .query("incident", string(), "incident id")
                .query("tier", enumeration(&["L1", "L2", "L3"]), "healing tier")
                .query("outcome", enumeration(&["success", "failure", "escalated"]), "healing outcome"),
        )
        .reader()
        .json("200", "a page of records", sref("RecordPage")),
        Op::new("get", "/v1/search/records/daily", "search", "Evidence items per UTC day by status")
            .query("site", string(), "one site")
            .query("appliance", string(), "one appliance")
            .query("check_type", string(), "check type")
            .query("from_day", day(), "first day (default to_day - 29)")
            .query("to_day", day(), "last day (default today); at most 366 days")
            .reader()
            .json("200", "counts", sref("DailyCounts")),
    ]
}

/// The block whose header matched a stamp's Bitcoin attestation (`anchor_bitcoin_api`);
/// null without a header source or before a match.
fn verified_block_schema() -> Value {
    json!({"type": "object", "nullable": true, "required": ["height", "time", "block_hash"], "properties": {
        "height": uint(), "time": uint(), "block_hash": string()}})
}

/// A stamp as `/v1/anchors` shows it (docs/ANCHORING.md).
fn stamp_schema() -> Value {
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
        "ots_url": nullable("string"),
        "checkpoint_url": string()}})
}

fn nullable(t: &str) -> Value {
    json!({"type": t, "nullable": true})
}

fn nullable_uint() -> Value {
    json!({"type": "integer", "minimum": 0, "nullable": true})
}

/// The shared schemas (`components.schemas`).
pub fn schemas() -> Value {
    let tier = enumeration(&["L1", "L2", "L3", "unknown"]);
    let outcome = enumeration(&["success", "failure", "escalated", "unknown"]);
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
    });
    let appliance_required = json!([
        "appliance_id",
        "key_status",
        "state",
        "records",
        "completeness_alarms",
        "agent_alarms"
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
            "checkin".into(),
            json!({"allOf": [sref("StoredCheckin")], "nullable": true}),
        );
    }
    let list: Vec<(&str, Value)> = vec![
        (
            "Error",
            json!({"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": string(), "message": string()}}}}),
        ),
        (
            "Health",
            json!({"type": "object", "required": ["status", "tree_size"], "properties": {
            "status": string(), "origin": string(), "tree_size": uint(), "queue_depth": uint()}}),
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
            json!({"type": "object", "required": ["site_id", "appliance_id", "key_status", "state", "keys", "completeness", "checkin"], "properties": detail_props}),
        ),
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
    ];
    Value::Object(list.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// The OpenAPI document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in endpoints() {
        let entry = paths
            .entry(op.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[op.method] = op.body;
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
        for op in endpoints() {
            assert!(
                seen.insert((op.method, op.path)),
                "{} {} twice",
                op.method,
                op.path
            );
        }
    }
}
