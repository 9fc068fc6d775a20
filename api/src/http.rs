//! The HTTP API (axum). `router(state)` builds the whole application so tests can drive
//! it with `oneshot` or over a socket. Routes and formats are documented in docs/API.md.
//!
//! Public: checkpoints, hash tiles, consistency proofs, receipts, `/healthz`,
//! `/metrics`, `/log-key`, `/operator-key`. Everything that reveals record contents needs
//! a credential, and a credential that does not cover the record's site gets 404.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use ledger_core::tiles::{self, TilePath};
use ledger_record::{ChainId, Id, RevocationReason, VerifyingKey};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{bearer, Principal};
use crate::error::AppError;
use crate::intake::{Appended, Outcome};
use crate::proofs::receipt_text;
use crate::reads::{self, blocking, parse_hash, parse_u64};
use crate::server::AppState;

type St = State<Arc<AppState>>;

/// The HTTP application.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_request_bytes;
    Router::new()
        .route("/checkpoint", get(checkpoint))
        .route("/checkpoint/{size}", get(checkpoint_at))
        .route("/tile/{*path}", get(tile))
        .route("/proof/consistency", get(consistency))
        .route("/receipt/{index}", get(receipt))
        .route("/v1/receipts/{index}", get(receipt))
        .route("/v1/receipts/by-hash/{hash}", get(receipt_by_hash))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/log-key", get(log_key))
        .route("/operator-key", get(operator_key))
        .route("/v1/records", post(append_one))
        .route("/v1/records/batch", post(append_batch))
        .route("/v1/records/{index}", get(get_record))
        .route("/v1/records/by-hash/{hash}", get(get_record_by_hash))
        .route(
            "/v1/appliances/{site}/{appliance}/records",
            get(chain_records),
        )
        .route("/v1/enrol", post(enrol))
        .route("/v1/admin/enrolment-tokens", post(issue_enrolment_token))
        .route("/v1/admin/read-tokens", post(issue_read_token))
        .route(
            "/v1/admin/appliances/{site}/{appliance}/revoke",
            post(revoke),
        )
        .merge(crate::anchor_http::routes())
        .merge(crate::export_http::routes())
        .route("/v1/admin/backup", post(backup))
        .route("/openapi.json", get(openapi))
        .merge(crate::dashboard::routes())
        .fallback(|| async { AppError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

fn text(body: impl Into<String>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body.into(),
    )
        .into_response()
}

/// The principal of the request's bearer credential (401 without a valid one).
pub(crate) fn who(state: &AppState, headers: &HeaderMap) -> Result<Principal, AppError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    state.auth.authenticate(bearer(value))
}

pub(crate) fn admin(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    match who(state, headers)? {
        Principal::Admin => Ok(()),
        _ => Err(AppError::forbidden(
            "admin_only",
            "this needs the admin credential",
        )),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(body)
        .map_err(|e| AppError::bad_request("invalid_json", format!("request body: {e}")))
}

fn chain(site: &str, appliance: &str) -> Result<ChainId, AppError> {
    let id = |what: &str, s: &str| {
        Id::new(s).map_err(|e| AppError::bad_request("invalid_request", format!("{what}: {e}")))
    };
    Ok(ChainId::new(
        id("site id", site)?,
        id("appliance id", appliance)?,
    ))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The JSON answer for one appended record.
pub fn appended_json(a: &Appended) -> Result<Value, AppError> {
    Ok(json!({
        "index": a.index,
        "duplicate": a.duplicate,
        "record_hash": hex::encode(a.record_hash.as_bytes()),
        "leaf_hash": hex::encode(a.leaf_hash.as_bytes()),
        "checkpoint": String::from_utf8_lossy(&a.checkpoint.note),
        "inclusion_proof": a.proof.iter().map(|h| b64(h.as_bytes())).collect::<Vec<_>>(),
        "receipt": receipt_text(a.index, a.proof.clone(), &a.checkpoint.note)?,
    }))
}

async fn checkpoint(State(s): St) -> Response {
    text(String::from_utf8_lossy(&s.log.latest().note).into_owned())
}

async fn checkpoint_at(State(s): St, Path(size): Path<String>) -> Result<Response, AppError> {
    let size = parse_u64("size", &size)?;
    let cp = reads::checkpoint(&s, Some(size)).await?;
    Ok(text(String::from_utf8_lossy(&cp.note).into_owned()))
}

async fn tile(
    State(s): St,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Result<Response, AppError> {
    let parsed = tiles::parse_path(&format!("tile/{path}"))
        .map_err(|e| AppError::not_found(format!("tile path: {e}")))?;
    let partial;
    let log = s.log.clone();
    let bytes = match parsed {
        TilePath::Hashes(t) => {
            partial = t.is_partial();
            blocking(move || {
                log.hash_tile(t.level(), t.index(), u64::from(t.width()))
                    .map_err(|e| AppError::from_ledger(e, 1))
            })
            .await?
        }
        TilePath::Entries(b) => {
            // Entry bundles hold the records of every site; see the module docs.
            if !s.config.public_entry_bundles {
                admin(&s, &headers)?;
            }
            partial = b.is_partial();
            blocking(move || {
                log.entry_bundle(b.index(), u64::from(b.width()))
                    .map_err(|e| AppError::from_ledger(e, 1))
            })
            .await?
        }
    };
    // C2SP tlog-tiles: full tiles never change; partial tiles are replaced as the tree
    // grows.
    let cache = if partial {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    size: Option<String>,
}

fn opt_u64(what: &str, v: &Option<String>) -> Result<Option<u64>, AppError> {
    v.as_deref().map(|s| parse_u64(what, s)).transpose()
}

async fn consistency(State(s): St, Query(q): Query<RangeQuery>) -> Result<Response, AppError> {
    let from = opt_u64("from", &q.from)?
        .ok_or_else(|| AppError::bad_request("invalid_request", "`from` is required"))?;
    let to = opt_u64("to", &q.to)?;
    let proof = reads::consistency(&s, from, to).await?;
    let mut body = String::new();
    for h in proof {
        body.push_str(&b64(h.as_bytes()));
        body.push('\n');
    }
    Ok(text(body))
}

async fn receipt(
    State(s): St,
    Path(index): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, AppError> {
    let index = parse_u64("index", &index)?;
    let size = opt_u64("size", &q.size)?;
    Ok(text(reads::receipt(&s, index, size).await?))
}

async fn receipt_by_hash(
    State(s): St,
    Path(hash): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, AppError> {
    let hash = parse_hash(&hash)?;
    let size = opt_u64("size", &q.size)?;
    let index = reads::index_of_hash(&s, hash).await?;
    Ok(text(reads::receipt(&s, index, size).await?))
}

async fn healthz(State(s): St) -> Json<Value> {
    let latest = s.log.latest();
    Json(json!({
        "status": "ok",
        "origin": s.log.origin(),
        "tree_size": latest.size,
        "queue_depth": s.log.queue_depth(),
    }))
}

async fn metrics(State(s): St) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let mut out = s.intake.metrics.render(&s.log);
            out.push_str(&crate::metrics::render_index(&s.log, &s.index));
            s.anchoring.render_metrics(&mut out);
            out
        },
    )
        .into_response()
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

async fn log_key(State(s): St) -> Response {
    text(format!("{}\n", s.log.verifier_key()))
}

async fn operator_key(State(s): St) -> Json<Value> {
    let op = s.intake.operator();
    let chain = &s.intake.config().operator_chain;
    Json(json!({
        "public_key": hex::encode(op.public_key().as_bytes()),
        "key_id": op.key_id().to_string(),
        "site_id": chain.site_id.as_str(),
        "appliance_id": chain.appliance_id.as_str(),
    }))
}

fn outcome_json(o: &Outcome) -> Value {
    match o {
        Ok(a) => match appended_json(a) {
            Ok(v) => json!({ "ok": v }),
            Err(e) => e.body(),
        },
        Err(e) => AppError::from(e.clone()).body(),
    }
}

async fn append_one(
    State(s): St,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let who = who(&s, &headers)?;
    let mut outcomes = s.intake.append(&who, vec![body.to_vec()]).await?;
    match outcomes.pop() {
        Some(Ok(a)) => Ok(Json(appended_json(&a)?)),
        Some(Err(e)) => Err(e.into()),
        None => Err(AppError::internal("no outcome for a single record")),
    }
}

async fn append_batch(
    State(s): St,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let who = who(&s, &headers)?;
    let records = ledger_record::decode_batch_body(&body, s.config.max_batch_records)?;
    let outcomes = s.intake.append(&who, records).await?;
    Ok(Json(json!({
        "results": outcomes.iter().map(outcome_json).collect::<Vec<_>>()
    })))
}

fn cbor(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/cbor")], bytes).into_response()
}

async fn get_record(
    State(s): St,
    headers: HeaderMap,
    Path(index): Path<String>,
) -> Result<Response, AppError> {
    let who = who(&s, &headers)?;
    let index = parse_u64("index", &index)?;
    Ok(cbor(reads::record(&s, &who, index).await?.encode()))
}

async fn get_record_by_hash(
    State(s): St,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Result<Response, AppError> {
    let who = who(&s, &headers)?;
    let hash = parse_hash(&hash)?;
    let index = reads::index_of_hash(&s, hash).await?;
    Ok(cbor(reads::record(&s, &who, index).await?.encode()))
}

async fn chain_records(
    State(s): St,
    headers: HeaderMap,
    Path((site, appliance)): Path<(String, String)>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Value>, AppError> {
    let who = who(&s, &headers)?;
    let chain = chain(&site, &appliance)?;
    let from = opt_u64("from", &q.from)?.unwrap_or(1);
    let to = opt_u64("to", &q.to)?.unwrap_or(from.saturating_add(reads::MAX_RANGE - 1));
    let size = opt_u64("size", &q.size)?;
    let (cp, records) = reads::chain_records(&s, &who, chain, from, to, size).await?;
    Ok(Json(json!({
        "checkpoint": String::from_utf8_lossy(&cp.note),
        "tree_size": cp.size,
        "records": records.iter().map(|r| json!({
            "sequence": r.sequence,
            "index": r.index,
            "record": b64(&r.bytes),
            "inclusion_proof": r.proof.iter().map(|h| b64(h.as_bytes())).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })))
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
            "invalid_public_key",
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

async fn enrol(State(s): St, body: Bytes) -> Result<Json<Value>, AppError> {
    let req: EnrolRequest = parse_json(&body)?;
    let public_key = parse_public_key(&req.public_key)?;
    let auth = s.auth.clone();
    let token = req.token.clone();
    let (token_id, subject) = blocking(move || auth.consume_enrolment_token(&token)).await?;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    site_id: String,
    appliance_id: String,
    ttl_secs: Option<u64>,
}

async fn issue_enrolment_token(
    State(s): St,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    admin(&s, &headers)?;
    let req: TokenRequest = parse_json(&body)?;
    let subject = chain(&req.site_id, &req.appliance_id)?;
    if subject == s.intake.config().operator_chain {
        return Err(AppError::bad_request(
            "operator_only",
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
    State(s): St,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    admin(&s, &headers)?;
    let req: ReadTokenRequest = parse_json(&body)?;
    if req.sites.is_empty() {
        return Err(AppError::bad_request(
            "invalid_request",
            "`sites` must name at least one site",
        ));
    }
    let mut sites = BTreeSet::new();
    for site in req.sites {
        Id::check(&site).map_err(|e| {
            AppError::bad_request("invalid_request", format!("site id {site}: {e}"))
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    reason: Option<String>,
}

async fn revoke(
    State(s): St,
    headers: HeaderMap,
    Path((site, appliance)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    admin(&s, &headers)?;
    let subject = chain(&site, &appliance)?;
    let req: RevokeRequest = if body.is_empty() {
        RevokeRequest::default()
    } else {
        parse_json(&body)?
    };
    let reason = match req.reason.as_deref().unwrap_or("unspecified") {
        "unspecified" => RevocationReason::Unspecified,
        "key_compromise" => RevocationReason::KeyCompromise,
        "decommissioned" => RevocationReason::Decommissioned,
        "superseded" => RevocationReason::Superseded,
        other => {
            return Err(AppError::bad_request(
                "invalid_request",
                format!("reason `{other}`: expected unspecified, key_compromise, decommissioned or superseded"),
            ))
        }
    };
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
async fn backup(State(s): St, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, AppError> {
    admin(&s, &headers)?;
    let req: BackupRequest = parse_json(&body)?;
    let target = std::path::PathBuf::from(req.to);
    let state = s.clone();
    let report = blocking(move || {
        crate::backup::backup(&state, &target).map_err(|e| {
            if e.is_bad_target() {
                AppError::bad_request("invalid_backup_target", e.to_string())
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
