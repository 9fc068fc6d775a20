//! The log's public read side: checkpoints (C2SP signed notes), C2SP tlog-tiles hash
//! tiles and entry bundles, RFC 9162 consistency proofs, C2SP tlog-proof receipts, the
//! log and operator keys, and `/healthz`. No credential is needed, except for entry
//! bundles when `public_entry_bundles` is off (they hold the records of every site).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use ledger_core::tiles::{self, TilePath};
use serde_json::{json, Value};

use super::endpoint::{decimal, endpoint, sref, Endpoint, Op};
use super::extract::principal_of;
use super::params::{opt_u64, parse_hash, parse_u64, RangeQuery};
use super::respond::{b64, text};
use crate::error::AppError;
use crate::error_code::ErrorCode;
use crate::log_reads::{self, blocking};
use crate::state::AppState;

type Shared = State<Arc<AppState>>;

fn size_query(op: Op) -> Op {
    op.query(
        "size",
        decimal(),
        "tree size of the checkpoint to prove against (default latest)",
    )
}

/// The routes of this file.
pub fn endpoints() -> Vec<Endpoint> {
    let mut all = tree_endpoints();
    all.extend(receipt_and_key_endpoints());
    all
}

fn tree_endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(
            Op::new(
                "get",
                "/checkpoint",
                "log",
                "Latest signed checkpoint (C2SP signed note); with witnesses, the latest that met the witness quorum, cosignatures included",
            )
            .text("checkpoint note"),
            get(checkpoint),
        ),
        endpoint(
            Op::new(
                "get",
                "/checkpoint/log",
                "log",
                "Latest checkpoint with the log's signature only (the same as /checkpoint without witnesses)",
            )
            .text("checkpoint note"),
            get(log_checkpoint),
        ),
        endpoint(
            Op::new(
                "get",
                "/checkpoint/{size}",
                "log",
                "The signed checkpoint of exactly this size",
            )
            .text("checkpoint note")
            .error("404", "no checkpoint of that size"),
            get(checkpoint_at),
        ),
        endpoint(
            Op::new(
                "get",
                "/tile/{*path}",
                "log",
                "C2SP tlog-tiles hash tile or entry bundle",
            )
            .response(
                "200",
                "tile bytes",
                Some((
                    "application/octet-stream",
                    json!({"type": "string", "format": "binary"}),
                )),
            )
            .error("401", "entry bundles need the admin credential")
            .error("403", "entry bundles need the admin credential")
            .error("404", "no such tile"),
            get(tile),
        ),
        endpoint(
            Op::new(
                "get",
                "/proof/consistency",
                "log",
                "RFC 9162 consistency proof, one base64 hash per line",
            )
            .query("from", decimal(), "older tree size (required)")
            .query("to", decimal(), "newer tree size (default latest)")
            .text("proof")
            .error("404", "unknown tree size"),
            get(consistency),
        ),
        endpoint(
            size_query(Op::new(
                "get",
                "/receipt/{index}",
                "log",
                "C2SP tlog-proof receipt of an entry",
            ))
            .text("receipt")
            .error("404", "no such entry or tree size"),
            get(receipt),
        ),
    ]
}

fn receipt_and_key_endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(
            size_query(Op::new(
                "get",
                "/v1/receipts/{index}",
                "log",
                "C2SP tlog-proof receipt of an entry",
            ))
            .text("receipt")
            .error("404", "no such entry or tree size"),
            get(receipt),
        ),
        endpoint(
            size_query(Op::new(
                "get",
                "/v1/receipts/by-hash/{hash}",
                "log",
                "Receipt of the record with this record hash",
            ))
            .text("receipt")
            .error("404", "unknown record hash"),
            get(receipt_by_hash),
        ),
        endpoint(
            Op::new(
                "get",
                "/healthz",
                "server",
                "Liveness, tree size and whether appends are taken",
            )
            .json(
                "200",
                "ok, or degraded with the reason (disk below its reserve)",
                sref("Health"),
            )
            .json(
                "503",
                "stopped: the log takes no appends until restarted; the reason",
                sref("Health"),
            ),
            get(healthz),
        ),
        endpoint(
            Op::new("get", "/log-key", "server", "The log's verifier key").text("C2SP key string"),
            get(log_key),
        ),
        endpoint(
            Op::new(
                "get",
                "/operator-key",
                "server",
                "The operator key and chain",
            )
            .json("200", "operator key", sref("OperatorKey")),
            get(operator_key),
        ),
        endpoint(
            Op::new(
                "get",
                "/v1/logs",
                "server",
                "The log list: the frozen log this one succeeds (from its first entries) and this log, each with origin, verifier key, period and status",
            )
            .json("200", "log list", sref("LogList")),
            get(logs),
        ),
    ]
}

async fn logs(State(s): Shared) -> Json<Value> {
    let link = s.intake.link();
    let logs = crate::period::log_list(
        &s.config,
        s.log.verifier_key(),
        link.as_ref(),
        s.frozen.as_ref(),
    );
    Json(json!({ "logs": logs }))
}

/// The latest checkpoint for clients: with witnesses the latest cosigned one, unless
/// log-only checkpoints beyond it were handed out (fail-open receipts), so that a
/// client never sees the size go down.
async fn checkpoint(State(s): Shared) -> Result<Response, AppError> {
    let cp = log_reads::checkpoint(&s, None).await?;
    Ok(text(String::from_utf8_lossy(&cp.note).into_owned()))
}

async fn log_checkpoint(State(s): Shared) -> Response {
    text(String::from_utf8_lossy(&s.log.latest().note).into_owned())
}

async fn checkpoint_at(State(s): Shared, Path(size): Path<String>) -> Result<Response, AppError> {
    let size = parse_u64("size", &size)?;
    let cp = log_reads::checkpoint(&s, Some(size)).await?;
    Ok(text(String::from_utf8_lossy(&cp.note).into_owned()))
}

/// Entry bundles hold the records of every site: only the admin may read them unless
/// the operator made them public.
fn may_read_bundles(s: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    if s.config.public_entry_bundles {
        return Ok(());
    }
    Ok(principal_of(headers, s)?.require_admin()?)
}

async fn tile(
    State(s): Shared,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Result<Response, AppError> {
    let parsed = tiles::parse_path(&format!("tile/{path}"))
        .map_err(|e| AppError::not_found(format!("tile path: {e}")))?;
    let log = s.log.clone();
    let (bytes, partial) = match parsed {
        TilePath::Hashes(t) => {
            let tile = blocking(move || {
                log.hash_tile(t.level(), t.index(), u64::from(t.width()))
                    .map_err(|e| AppError::from_ledger(e, 1))
            });
            (tile.await?, t.is_partial())
        }
        TilePath::Entries(b) => {
            may_read_bundles(&s, &headers)?;
            let bundle = blocking(move || {
                log.entry_bundle(b.index(), u64::from(b.width()))
                    .map_err(|e| AppError::from_ledger(e, 1))
            });
            (bundle.await?, b.is_partial())
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

async fn consistency(State(s): Shared, Query(q): Query<RangeQuery>) -> Result<Response, AppError> {
    let from = opt_u64("from", &q.from)?
        .ok_or_else(|| AppError::bad_request(ErrorCode::InvalidRequest, "`from` is required"))?;
    let to = opt_u64("to", &q.to)?;
    let proof = log_reads::consistency(&s, from, to).await?;
    let mut body = String::new();
    for h in proof {
        body.push_str(&b64(h.as_bytes()));
        body.push('\n');
    }
    Ok(text(body))
}

async fn receipt(
    State(s): Shared,
    Path(index): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, AppError> {
    let index = parse_u64("index", &index)?;
    let size = opt_u64("size", &q.size)?;
    Ok(text(log_reads::receipt(&s, index, size).await?))
}

async fn receipt_by_hash(
    State(s): Shared,
    Path(hash): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, AppError> {
    let hash = parse_hash(&hash)?;
    let size = opt_u64("size", &q.size)?;
    let index = log_reads::index_of_hash(&s, hash).await?;
    Ok(text(log_reads::receipt(&s, index, size).await?))
}

/// `ok` while appends are taken; `degraded` (still 200: reads work, appends resume by
/// themselves) while the disk is below its reserve; `stopped` (503) when the log stopped
/// taking appends, with the reason, until an operator restarts it.
async fn healthz(State(s): Shared) -> Response {
    let latest = s.log.latest();
    let log = s.log.clone();
    let (stopped, space) = match blocking(move || Ok((log.stopped(), log.check_space()))).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let (code, status, reason) = match (stopped, space) {
        (Some(reason), _) => (StatusCode::SERVICE_UNAVAILABLE, "stopped", Some(reason)),
        (None, Err(e)) => (StatusCode::OK, "degraded", Some(e.to_string())),
        (None, Ok(())) => (StatusCode::OK, "ok", None),
    };
    let mut body = json!({
        "status": status,
        "origin": s.log.origin(),
        "tree_size": latest.size,
        "queue_depth": s.log.queue_depth(),
    });
    if let Some(reason) = reason {
        body["reason"] = json!(reason);
    }
    if let Some(w) = &s.witnessing {
        body["witnesses"] = json!({
            "quorum_met": w.quorum_met(),
            "witnessed_size": w.gate.latest().map_or(0, |c| c.size),
        });
    }
    if let Some(p) = s.intake.metrics.publish.health() {
        body["publish"] = json!({
            "state": p.state.as_str(),
            "published_size": p.published_size,
            "last_error": p.last_error,
        });
    }
    (code, Json(body)).into_response()
}

async fn log_key(State(s): Shared) -> Response {
    text(format!("{}\n", s.log.verifier_key()))
}

async fn operator_key(State(s): Shared) -> Json<Value> {
    let op = s.intake.operator();
    let chain = &s.intake.config().operator_chain;
    Json(json!({
        "public_key": hex::encode(op.public_key().as_bytes()),
        "key_id": op.key_id().to_string(),
        "site_id": chain.site_id.as_str(),
        "appliance_id": chain.appliance_id.as_str(),
    }))
}
