//! HTTP endpoints of anchoring (docs/API.md, "Anchoring"). All public: stamps and
//! checkpoints reveal no record contents.
//!
//! - `GET /v1/anchors?before=SIZE&limit=N`: stamps, newest first, with status.
//! - `GET /v1/anchors/{size}`: one stamp's record.
//! - `GET /v1/anchors/{size}/ots`: the detached `.ots` file of that checkpoint.
//! - `GET /v1/anchored-receipts/{index}`: the receipt of entry `index` against the newest
//!   checkpoint with a complete stamp (else the newest pending one), with that stamp.
//! - `POST /v1/admin/anchors/stamp-now` (admin): end the current interval now, e.g. to
//!   close a period; 202, the stamp follows within a second if the log has grown.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::endpoint::{decimal, endpoint, enumeration, string, uint, Endpoint, Op};
use super::extract::Admin;
use super::openapi::{nullable_uint, stamp_schema, verified_block_schema};
use super::params::parse_u64;
use crate::anchoring::StampRecord;
use crate::clock::now_ms;
use crate::error::AppError;
use crate::error_code::ErrorCode;
use crate::log_reads::{self, blocking};
use crate::state::AppState;

type Shared = State<Arc<AppState>>;

/// Most stamps in one list answer.
const MAX_LIST: usize = 1000;

/// The routes of this file.
pub fn endpoints() -> Vec<Endpoint> {
    let size = decimal();
    vec![
        endpoint(
            Op::new("get", "/v1/anchors", "anchoring", "Checkpoint stamps, newest first")
                .query("before", size.clone(), "largest tree size to list (inclusive)")
                .query("limit", size, "at most this many (1..=1000, default 100)")
                .json("200", "stamps", json!({"type": "object", "required": ["enabled", "anchors"], "properties": {
                    "enabled": {"type": "boolean"},
                    "anchors": {"type": "array", "items": stamp_schema()},
                    "next_before": nullable_uint()}})),
            get(list),
        ),
        endpoint(
            Op::new("get", "/v1/anchors/{size}", "anchoring", "The stamp of the checkpoint of this size")
                .json("200", "stamp", stamp_schema())
                .error("404", "that checkpoint has no stamp"),
            get(one),
        ),
        endpoint(
            Op::new("get", "/v1/anchors/{size}/ots", "anchoring", "The detached OpenTimestamps proof of that checkpoint")
                .response("200", ".ots file", Some(("application/octet-stream", json!({"type": "string", "format": "binary"}))))
                .error("404", "no stamp, or the submission failed"),
            get(ots),
        ),
        endpoint(
            Op::new("get", "/v1/anchored-receipts/{index}", "anchoring", "Receipt against the newest stamped checkpoint covering the entry, with its .ots")
                .json("200", "anchored receipt", json!({"type": "object", "required": ["index", "tree_size", "status", "checkpoint", "receipt", "ots"], "properties": {
                    "index": uint(), "tree_size": uint(), "status": enumeration(&["pending", "complete"]),
                    "bitcoin_heights": {"type": "array", "items": uint()},
                    "bitcoin_verified": verified_block_schema(),
                    "checkpoint": string(), "receipt": string(), "ots": string()}}))
                .error("404", "no stamped checkpoint covers the entry yet"),
            get(anchored_receipt),
        ),
        endpoint(
            Op::new("post", "/v1/admin/anchors/stamp-now", "anchoring", "End the current anchoring interval now")
                .admin()
                .json("202", "requested", json!({"type": "object", "required": ["requested", "tree_size"], "properties": {"requested": {"type": "boolean"}, "tree_size": uint()}}))
                .error("409", "anchoring is disabled"),
            post(stamp_now),
        ),
    ]
}

fn anchor_error(e: crate::anchoring::AnchorError) -> AppError {
    AppError::internal(e)
}

/// The JSON view of a stamp record (the `.ots` itself is served separately).
pub fn stamp_json(state: &AppState, r: &StampRecord) -> Value {
    json!({
        "tree_size": r.tree_size,
        "status": r.status.as_str(),
        "overdue": r.overdue(now_ms(), state.anchoring.settings().pending_alarm),
        "digest": r.digest,
        "created_ms": r.created_ms,
        "completed_ms": r.completed_ms,
        "calendars": r.calendars,
        "submit_failures": r.submit_failures,
        "bitcoin_heights": r.bitcoin_heights,
        "bitcoin_verified": r.bitcoin_verified,
        "upgrade_attempts": r.upgrade_attempts,
        "next_upgrade_ms": r.next_upgrade_ms,
        "last_error": r.last_error,
        "awaiting": r.awaiting,
        "ots_url": r.ots.as_ref().map(|_| format!("/v1/anchors/{}/ots", r.tree_size)),
        "checkpoint_url": format!("/checkpoint/{}", r.tree_size),
    })
}

#[derive(Deserialize)]
struct ListQuery {
    before: Option<String>,
    limit: Option<String>,
}

async fn list(State(s): Shared, Query(q): Query<ListQuery>) -> Result<Json<Value>, AppError> {
    let before = match q.before.as_deref() {
        Some(b) => parse_u64("before", b)?,
        None => u64::MAX,
    };
    let limit = match q.limit.as_deref() {
        Some(l) => parse_u64("limit", l)?.clamp(1, MAX_LIST as u64) as usize,
        None => 100,
    };
    let state = s.clone();
    let records = blocking(move || {
        state
            .anchoring
            .list(before, limit + 1)
            .map_err(anchor_error)
    })
    .await?;
    let more = records.len() > limit;
    let shown: Vec<Value> = records
        .iter()
        .take(limit)
        .map(|r| stamp_json(&s, r))
        .collect();
    let next_before = if more {
        records
            .get(limit - 1)
            .and_then(|r| r.tree_size.checked_sub(1))
    } else {
        None
    };
    Ok(Json(json!({
        "enabled": s.anchoring.settings().enabled,
        "anchors": shown,
        "next_before": next_before,
    })))
}

async fn find(s: &Arc<AppState>, size: &str) -> Result<StampRecord, AppError> {
    let size = parse_u64("size", size)?;
    let state = s.clone();
    blocking(move || state.anchoring.stamp(size).map_err(anchor_error))
        .await?
        .ok_or_else(|| AppError::not_found(format!("no stamp for the checkpoint of size {size}")))
}

async fn one(State(s): Shared, Path(size): Path<String>) -> Result<Json<Value>, AppError> {
    let record = find(&s, &size).await?;
    Ok(Json(stamp_json(&s, &record)))
}

async fn ots(State(s): Shared, Path(size): Path<String>) -> Result<Response, AppError> {
    let record = find(&s, &size).await?;
    let bytes = record.ots_bytes().ok_or_else(|| {
        AppError::not_found(format!(
            "the stamp of size {} failed; it has no .ots",
            record.tree_size
        ))
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"checkpoint-{}.ots\"",
                    record.tree_size
                ),
            ),
        ],
        bytes,
    )
        .into_response())
}

async fn anchored_receipt(
    State(s): Shared,
    Path(index): Path<String>,
) -> Result<Json<Value>, AppError> {
    let index = parse_u64("index", &index)?;
    let state = s.clone();
    let record = blocking(move || state.anchoring.best_covering(index).map_err(anchor_error))
        .await?
        .ok_or_else(|| {
            AppError::not_found(format!("no stamped checkpoint covers entry {index} yet"))
        })?;
    let receipt = log_reads::receipt(&s, index, Some(record.tree_size)).await?;
    let checkpoint = log_reads::checkpoint(&s, Some(record.tree_size)).await?;
    let ots = record
        .ots_bytes()
        .ok_or_else(|| AppError::internal(format!("stamp {} has no .ots", record.tree_size)))?;
    Ok(Json(json!({
        "index": index,
        "tree_size": record.tree_size,
        "status": record.status.as_str(),
        "bitcoin_heights": record.bitcoin_heights,
        "bitcoin_verified": record.bitcoin_verified,
        "checkpoint": String::from_utf8_lossy(&checkpoint.note),
        "receipt": receipt,
        "ots": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, ots),
    })))
}

async fn stamp_now(State(s): Shared, _admin: Admin) -> Result<Response, AppError> {
    if !s.anchoring.settings().enabled {
        return Err(AppError::conflict(
            ErrorCode::AnchoringDisabled,
            "anchoring is disabled (anchor_enabled = false)",
        ));
    }
    s.anchoring.request_stamp();
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(json!({ "requested": true, "tree_size": s.log.latest().size })),
    )
        .into_response())
}
