//! Enrolment: an appliance presents a one-time enrolment token and its public key, and
//! receives its credential and the enrolment record, a `key` record the operator key
//! signs into the log.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Json;
use ledger_record::VerifyingKey;
use serde::Deserialize;
use serde_json::{json, Value};

use super::endpoint::{endpoint, sref, Endpoint, Op};
use super::params::parse_json;
use super::respond::appended_json;
use crate::error::AppError;
use crate::error_code::ErrorCode;
use crate::log_reads::blocking;
use crate::state::AppState;

type Shared = State<Arc<AppState>>;

/// The routes of this file.
pub fn endpoints() -> Vec<Endpoint> {
    vec![endpoint(
        Op::new(
            "post",
            "/v1/enrol",
            "keys",
            "Enrol an appliance with a one-time token",
        )
        .body("application/json", sref("EnrolRequest"))
        .json(
            "200",
            "credential and enrolment record",
            json!({"type": "object"}),
        )
        .error("403", "token unknown, used or expired")
        .error("409", "conflict")
        .error("422", "refused")
        .error("503", "append queue full")
        .too_large(),
        post(enrol),
    )]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolRequest {
    /// The one-time enrolment token, `<id>.<secret>`.
    token: String,
    /// The appliance's Ed25519 public key, 64 hex digits.
    public_key: String,
}

/// Parses an Ed25519 public key, refusing invalid and small-order points.
pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, AppError> {
    let bad = || {
        AppError::bad_request(
            ErrorCode::InvalidPublicKey,
            "public_key must be 64 hex digits of a valid Ed25519 key",
        )
    };
    let bytes: [u8; 32] = hex::decode(hex_key)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(bad)?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad())?;
    if key.is_weak() {
        return Err(bad());
    }
    Ok(key)
}

async fn enrol(State(s): Shared, body: Bytes) -> Result<Json<Value>, AppError> {
    let req: EnrolRequest = parse_json(&body)?;
    let public_key = parse_public_key(&req.public_key)?;
    let auth = s.auth.clone();
    let token = req.token.clone();
    let (token_id, subject) =
        blocking(move || auth.consume_enrolment_token(&token).map_err(AppError::from)).await?;
    // The credential is stored before the enrolment is appended: a crash in between
    // leaves a credential for an appliance without a key, which can append nothing.
    let auth = s.auth.clone();
    let subject_c = subject.clone();
    let credential = blocking(move || {
        auth.issue_appliance_credential(&subject_c)
            .map_err(AppError::internal)
    })
    .await?;
    match s.intake.enrol(&subject, public_key, token_id.clone()).await {
        Ok(appended) => Ok(Json(json!({
            "credential": credential,
            "site_id": subject.site_id.as_str(),
            "appliance_id": subject.appliance_id.as_str(),
            "key_id": ledger_record::KeyId::of(&public_key).to_string(),
            "enrolment": appended_json(&appended)?,
        }))),
        Err(e) => {
            // Nothing was logged: give the token back and withdraw the credential.
            let auth = s.auth.clone();
            let _ = blocking(move || {
                auth.revoke_appliance_credentials(&subject)
                    .and_then(|_| auth.release_enrolment_token(&token_id))
                    .map_err(AppError::internal)
            })
            .await;
            Err(e.into())
        }
    }
}
