//! Releases and release keys (docs/UPDATES.md, RECORDS.md §5.5): the operator enrols and
//! revokes release keys, and logs releases that a release key signed offline
//! (`ledgerd release sign`); any credential may list them, since appliances check the
//! releases they are offered against the same list.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::Json;
use ledger_record::{Id, KeyId, LoggedRelease, ReleaseHistory, ReleaseKeyEntry};
use serde::Deserialize;
use serde_json::{json, Value};

use super::endpoint::{endpoint, enumeration, string, uint, Endpoint, Op};
use super::enrolment::parse_public_key;
use super::extract::{Admin, Caller};
use super::params::{parse_json, revocation_reason, REVOCATION_REASONS};
use super::respond::appended_json;
use crate::error::AppError;
use crate::error_code::ErrorCode;
use crate::state::AppState;

type Shared = State<Arc<AppState>>;

/// The routes of this file.
pub fn endpoints() -> Vec<Endpoint> {
    let reasons = REVOCATION_REASONS;
    vec![
        endpoint(
            Op::new("post", "/v1/releases", "releases", "Log a release signed by an enrolled release key")
                .admin()
                .body("application/cbor", json!({"type": "string", "format": "binary", "description": "the signed release `ledgerd release sign` writes (RECORDS.md §5.5)"}))
                .json("200", "the release and its record", json!({"type": "object", "required": ["release", "record"]}))
                .error("400", "not a valid signed release")
                .error("409", "this version is already released on its channel")
                .error("422", "unknown or revoked release key, or a signature that does not verify")
                .error("503", "append queue full")
                .too_large(),
            post(log_release),
        ),
        endpoint(
            Op::new("get", "/v1/releases", "releases", "Every release in the log")
                .auth()
                .json("200", "releases in log order", json!({"type": "object", "required": ["releases"], "properties": {"releases": {"type": "array", "items": release_schema()}}})),
            get(list_releases),
        ),
        endpoint(
            Op::new("post", "/v1/admin/release-keys", "releases", "Enrol a release key")
                .admin()
                .body("application/json", json!({"type": "object", "required": ["name", "public_key"], "additionalProperties": false, "properties": {"name": string(), "public_key": string()}}))
                .json("200", "the enrolment record", json!({"type": "object"}))
                .error("400", "invalid name or public key")
                .error("409", "the key or the name is in use")
                .error("503", "append queue full")
                .too_large(),
            post(enrol_key),
        ),
        endpoint(
            Op::new("post", "/v1/admin/release-keys/{key_id}/revoke", "releases", "Revoke a release key")
                .admin()
                .body("application/json", json!({"type": "object", "properties": {"reason": enumeration(&reasons)}, "additionalProperties": false}))
                .json("200", "the revocation record", json!({"type": "object"}))
                .error("400", "invalid key id or reason")
                .error("422", "unknown or already revoked release key")
                .error("503", "append queue full")
                .too_large(),
            post(revoke_key),
        ),
        endpoint(
            Op::new("get", "/v1/release-keys", "releases", "Every release key and when it was valid")
                .auth()
                .json("200", "release keys in enrolment order", json!({"type": "object", "required": ["release_keys"]})),
            get(list_keys),
        ),
    ]
}

fn release_schema() -> Value {
    json!({"type": "object", "required": ["version", "channel", "artifact_sha256", "artifact_size", "urls", "min_version", "key_id", "log_index"], "properties": {
        "version": string(), "channel": string(), "artifact_sha256": string(), "artifact_size": uint(),
        "urls": {"type": "array", "items": string()}, "min_version": string(), "notes": string(),
        "key_id": string(), "key_name": string(), "log_index": uint(), "record_hash": string(), "logged_at_ms": uint(),
    }})
}

async fn log_release(
    State(s): Shared,
    _admin: Admin,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let appended = s.intake.log_release(&body).await?;
    let history = s.intake.releases();
    let logged = history
        .releases()
        .iter()
        .find(|r| r.log_index == appended.index)
        .ok_or_else(|| AppError::internal("a logged release is missing from the history"))?;
    Ok(Json(json!({
        "release": release_json(&history, logged),
        "record": appended_json(&appended)?,
    })))
}

async fn list_releases(State(s): Shared, _caller: Caller) -> Json<Value> {
    let history = s.intake.releases();
    let releases: Vec<Value> = history
        .releases()
        .iter()
        .map(|r| release_json(&history, r))
        .collect();
    Json(json!({ "releases": releases }))
}

/// One release as the API shows it.
pub fn release_json(history: &ReleaseHistory, logged: &LoggedRelease) -> Value {
    let st = &logged.release.statement;
    json!({
        "version": st.version.as_str(),
        "channel": st.channel.as_str(),
        "artifact_sha256": hex::encode(st.artifact_sha256.as_bytes()),
        "artifact_size": st.artifact_size,
        "urls": st.urls,
        "min_version": st.min_version.as_str(),
        "notes": st.notes,
        "key_id": st.key_id.to_string(),
        "key_name": history.key(&st.key_id).map(|k| k.name.as_str()),
        "log_index": logged.log_index,
        "record_hash": hex::encode(logged.record_hash.as_bytes()),
        "logged_at_ms": logged.logged_at_ms,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolKeyRequest {
    name: String,
    /// 64 hex digits of the Ed25519 public key.
    public_key: String,
}

async fn enrol_key(State(s): Shared, _admin: Admin, body: Bytes) -> Result<Json<Value>, AppError> {
    let req: EnrolKeyRequest = parse_json(&body)?;
    let name = Id::new(req.name).map_err(|e| {
        AppError::bad_request(ErrorCode::InvalidRequest, format!("release key name: {e}"))
    })?;
    let public_key = parse_public_key(&req.public_key)?;
    let appended = s.intake.enrol_release_key(name, public_key).await?;
    Ok(Json(json!({
        "key_id": KeyId::of(&public_key).to_string(),
        "enrolment": appended_json(&appended)?,
    })))
}

async fn revoke_key(
    State(s): Shared,
    Path(key_id): Path<String>,
    _admin: Admin,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let key_id = parse_key_id(&key_id)?;
    let reason = revocation_reason(&body)?;
    let appended = s.intake.revoke_release_key(key_id, reason).await?;
    Ok(Json(json!({
        "revoked_key_id": key_id.to_string(),
        "revocation": appended_json(&appended)?,
    })))
}

fn parse_key_id(text: &str) -> Result<KeyId, AppError> {
    hex::decode(text)
        .ok()
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
        .map(KeyId)
        .ok_or_else(|| {
            AppError::bad_request(
                ErrorCode::InvalidRequest,
                format!("key id `{text}`: expected 16 hex digits"),
            )
        })
}

async fn list_keys(State(s): Shared, _caller: Caller) -> Json<Value> {
    let history = s.intake.releases();
    let keys: Vec<Value> = history.keys().iter().map(key_json).collect();
    Json(json!({ "release_keys": keys }))
}

fn key_json(key: &ReleaseKeyEntry) -> Value {
    json!({
        "key_id": key.key_id.to_string(),
        "name": key.name.as_str(),
        "public_key": hex::encode(key.public_key.as_bytes()),
        "enrolled_at_index": key.introduced_at,
        "revoked_at_index": key.revoked.map(|(at, _)| at),
    })
}
