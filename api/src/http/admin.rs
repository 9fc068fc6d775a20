//! The operator's endpoints (admin credential only): enrolment tokens, read tokens,
//! revocation of an appliance's key, and the online backup.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::Json;
use ledger_record::Id;
use serde::Deserialize;
use serde_json::{json, Value};

use super::endpoint::{endpoint, enumeration, sref, string, Endpoint, Op};
use super::extract::Admin;
use super::params::{chain, parse_json, revocation_reason, REVOCATION_REASONS};
use super::respond::{appended_json, b64};
use crate::error::AppError;
use crate::error_code::ErrorCode;
use crate::log_reads::blocking;
use crate::state::AppState;

type Shared = State<Arc<AppState>>;

/// The routes of this file.
pub fn endpoints() -> Vec<Endpoint> {
    let reasons = REVOCATION_REASONS;
    vec![
        endpoint(
            Op::new("post", "/v1/admin/enrolment-tokens", "admin", "Issue a one-time enrolment token")
                .admin()
                .body("application/json", sref("TokenRequest"))
                .json("200", "token", json!({"type": "object"}))
                .too_large(),
            post(issue_enrolment_token),
        ),
        endpoint(
            Op::new("post", "/v1/admin/read-tokens", "admin", "Issue a read token for one or several sites")
                .admin()
                .body("application/json", sref("ReadTokenRequest"))
                .json("200", "token", json!({"type": "object", "required": ["token"], "properties": {"token": string(), "expires_at_ms": {"type": "integer", "nullable": true}}}))
                .too_large(),
            post(issue_read_token),
        ),
        endpoint(
            Op::new("post", "/v1/admin/appliances/{site}/{appliance}/revoke", "admin", "Revoke an appliance's key")
                .admin()
                .body("application/json", json!({"type": "object", "properties": {"reason": enumeration(&reasons)}, "additionalProperties": false}))
                .json("200", "revocation record", json!({"type": "object"}))
                .error("404", "no such appliance key")
                .error("409", "conflict")
                .error("422", "refused")
                .error("503", "append queue full")
                .too_large(),
            post(revoke),
        ),
        endpoint(
            Op::new("post", "/v1/admin/backup", "admin", "Online backup into a new directory on the server")
                .admin()
                .body("application/json", json!({"type": "object", "required": ["to"], "properties": {"to": string()}}))
                .json("200", "backup written and verified", json!({"type": "object"}))
                .error("409", "conflict")
                .too_large(),
            post(backup),
        ),
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    site_id: String,
    appliance_id: String,
    ttl_secs: Option<u64>,
}

async fn issue_enrolment_token(
    State(s): Shared,
    _admin: Admin,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let req: TokenRequest = parse_json(&body)?;
    let subject = chain(&req.site_id, &req.appliance_id)?;
    if subject == s.intake.config().operator_chain {
        return Err(AppError::bad_request(
            ErrorCode::OperatorOnly,
            "that is the operator's own chain",
        ));
    }
    let ttl = req
        .ttl_secs
        .map(Duration::from_secs)
        .unwrap_or(s.config.enrolment_token_ttl);
    let auth = s.auth.clone();
    let t = blocking(move || {
        auth.issue_enrolment_token(&subject, ttl)
            .map_err(AppError::internal)
    })
    .await?;
    Ok(Json(json!({
        "token_id": t.id.as_str(),
        "token": t.token,
        "expires_at_ms": t.expires_ms,
        "site_id": req.site_id,
        "appliance_id": req.appliance_id,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadTokenRequest {
    sites: Vec<String>,
    ttl_secs: Option<u64>,
}

async fn issue_read_token(
    State(s): Shared,
    _admin: Admin,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let req: ReadTokenRequest = parse_json(&body)?;
    if req.sites.is_empty() {
        return Err(AppError::bad_request(
            ErrorCode::InvalidRequest,
            "`sites` must name at least one site",
        ));
    }
    let mut sites = BTreeSet::new();
    for site in req.sites {
        Id::check(&site).map_err(|e| {
            AppError::bad_request(ErrorCode::InvalidRequest, format!("site id {site}: {e}"))
        })?;
        sites.insert(site);
    }
    let auth = s.auth.clone();
    let ttl = req.ttl_secs.map(Duration::from_secs);
    let (token, expires) = blocking(move || {
        auth.issue_read_token(sites, ttl)
            .map_err(AppError::internal)
    })
    .await?;
    Ok(Json(json!({ "token": token, "expires_at_ms": expires })))
}

async fn revoke(
    State(s): Shared,
    Path((site, appliance)): Path<(String, String)>,
    _admin: Admin,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let subject = chain(&site, &appliance)?;
    let reason = revocation_reason(&body)?;
    // The appliance credential stays: it can no longer append (every record fails
    // with `key_revoked`, which tells the appliance why), and it keeps read access to
    // the appliance's own records. Re-enrolment issues a new credential.
    let (key_id, appended) = s.intake.revoke(&subject, reason).await?;
    Ok(Json(json!({
        "revoked_key_id": key_id.to_string(),
        "revocation": appended_json(&appended)?,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupRequest {
    /// Absolute path of a new directory on the server's file system.
    to: String,
}

/// `POST /v1/admin/backup {"to": "/abs/dir"}`: writes a verified backup of the data
/// directory while appends continue (see [`crate::backup`]).
async fn backup(State(s): Shared, _admin: Admin, body: Bytes) -> Result<Json<Value>, AppError> {
    let req: BackupRequest = parse_json(&body)?;
    let target = std::path::PathBuf::from(req.to);
    let state = s.clone();
    let report = blocking(move || {
        crate::backup::backup(&state, &target).map_err(|e| {
            if e.is_bad_target() {
                AppError::bad_request(ErrorCode::InvalidBackupTarget, e.to_string())
            } else {
                AppError::internal(e)
            }
        })
    })
    .await?;
    let cp = &report.checkpoint;
    Ok(Json(json!({
        "path": report.dir.display().to_string(),
        "tree_size": cp.size,
        "root": b64(cp.root.as_bytes()),
        "checkpoint": String::from_utf8_lossy(&cp.note),
        "files": report.files,
    })))
}
