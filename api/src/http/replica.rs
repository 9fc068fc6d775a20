//! The HTTP edge of `ledgerd replica`: the log's public read side served from the
//! bucket (see [`crate::replica`]). Paths and bodies are the primary's: `/checkpoint`,
//! `/tile/…`, `/receipt/{index}` and `/v1/receipts/{index}`, `/v1/receipts/by-hash/{hash}`,
//! `/proof/consistency`, `/healthz`, `/metrics`, `/log-key`. Tiles carry the bucket's
//! `Cache-Control` (immutable); the checkpoint and anything against the latest one
//! `no-cache`.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ledger_core::tiles::{self, TilePath};
use serde_json::json;
use tokio::net::TcpListener;

use super::params::{opt_u64, parse_hash, parse_u64, RangeQuery};
use super::respond::b64;
use crate::error::AppError;
use crate::error_code::ErrorCode;
use crate::metrics::exposition::{Exposition, Kind};
use crate::publish::IMMUTABLE;
use crate::replica::{Replica, ReplicaError};

type Shared = State<Arc<Replica>>;

const NO_CACHE: &str = "no-cache";
const TEXT: &str = "text/plain; charset=utf-8";

impl From<ReplicaError> for AppError {
    fn from(e: ReplicaError) -> AppError {
        match e {
            ReplicaError::Bucket(b) => {
                tracing::warn!("replica: {b}");
                AppError::busy_with(1, "the bucket did not answer; retry shortly")
            }
            ReplicaError::NotFound(m) => AppError::not_found(m),
            ReplicaError::BadRequest(m) => AppError::bad_request(ErrorCode::InvalidRequest, m),
            ReplicaError::Corrupt(m) => {
                tracing::error!("replica: {m}");
                AppError::new(
                    StatusCode::BAD_GATEWAY,
                    ErrorCode::Unavailable,
                    format!("the bucket's objects do not verify: {m}"),
                )
            }
            ReplicaError::Storage(m) => AppError::internal(m),
        }
    }
}

/// The replica's HTTP application.
pub fn router(replica: Arc<Replica>) -> Router {
    Router::new()
        .route("/checkpoint", get(checkpoint))
        .route("/tile/{*path}", get(tile))
        .route("/receipt/{index}", get(receipt))
        .route("/v1/receipts/{index}", get(receipt))
        .route("/v1/receipts/by-hash/{hash}", get(receipt_by_hash))
        .route("/proof/consistency", get(consistency))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/log-key", get(log_key))
        .fallback(|| async { AppError::not_found("no such endpoint on a read replica") })
        .with_state(replica)
}

/// Serves the replica on `listener` until `shutdown` resolves.
pub async fn serve(
    replica: Arc<Replica>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(replica))
        .with_graceful_shutdown(shutdown)
        .await
}

fn answer(content_type: &'static str, cache: &'static str, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

async fn checkpoint(State(r): Shared) -> Result<Response, AppError> {
    let cp = r.checkpoint_at(None)?;
    Ok(answer(TEXT, NO_CACHE, cp.note.clone()))
}

async fn tile(State(r): Shared, Path(path): Path<String>) -> Result<Response, AppError> {
    let parsed = tiles::parse_path(&format!("tile/{path}"))
        .map_err(|e| AppError::not_found(format!("tile path: {e}")))?;
    let found = r.object(parsed).await?;
    if let TilePath::Hashes(_) = parsed {
        r.metrics
            .tiles_served
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(answer(
        "application/octet-stream",
        IMMUTABLE,
        found.bytes.clone(),
    ))
}

fn cache_for(size: Option<u64>) -> &'static str {
    // A receipt or proof against a named size never changes; against the latest it does.
    if size.is_some() {
        IMMUTABLE
    } else {
        NO_CACHE
    }
}

async fn receipt(
    State(r): Shared,
    Path(index): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, AppError> {
    let index = parse_u64("index", &index)?;
    let size = opt_u64("size", &q.size)?;
    let text = r.receipt(index, size).await?;
    Ok(answer(TEXT, cache_for(size), text))
}

async fn receipt_by_hash(
    State(r): Shared,
    Path(hash): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, AppError> {
    let hash = parse_hash(&hash)?;
    let size = opt_u64("size", &q.size)?;
    let index = r.index_of_hash(hash).await?;
    let text = r.receipt(index, size).await?;
    Ok(answer(TEXT, cache_for(size), text))
}

async fn consistency(State(r): Shared, Query(q): Query<RangeQuery>) -> Result<Response, AppError> {
    let from = opt_u64("from", &q.from)?
        .ok_or_else(|| AppError::bad_request(ErrorCode::InvalidRequest, "`from` is required"))?;
    let to = opt_u64("to", &q.to)?;
    let proof = r.consistency(from, to).await?;
    let mut body = String::new();
    for h in proof {
        body.push_str(&b64(h.as_bytes()));
        body.push('\n');
    }
    Ok(answer(TEXT, cache_for(to), body))
}

/// `ok` while the bucket's checkpoint is the one served; `degraded` (still 200: the
/// previous verified checkpoint is served) while it is refused, with the reason;
/// `starting` (503) before the first verified checkpoint.
async fn healthz(State(r): Shared) -> Response {
    let cp = r.current();
    let refusal = r.refusal();
    let (code, status) = match (&refusal, cp.size) {
        (_, 0) if cp.note.is_empty() => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
        (Some(_), _) => (StatusCode::OK, "degraded"),
        (None, _) => (StatusCode::OK, "ok"),
    };
    let mut body = json!({
        "status": status,
        "role": "replica",
        "origin": r.origin(),
        "tree_size": cp.size,
        "memory_cache_bytes": r.memory_cache_bytes(),
        "hashed_size": r.hashed_size(),
    });
    if let Some(refusal) = refusal {
        body["reason"] = json!(format!(
            "the bucket's checkpoint is refused: {}",
            refusal.reason
        ));
        body["refused_at_ms"] = json!(refusal.at_ms);
    }
    (code, Json(body)).into_response()
}

async fn metrics(State(r): Shared) -> Response {
    use std::sync::atomic::Ordering::Relaxed;
    let m = &r.metrics;
    let mut e = Exposition::new();
    e.single(
        "ledger_replica_checkpoint_size",
        "Tree size of the verified checkpoint the replica serves",
        Kind::Gauge,
        r.current().size,
    );
    e.single(
        "ledger_replica_bucket_reads_total",
        "Objects read from the bucket",
        Kind::Counter,
        m.bucket_reads.load(Relaxed),
    );
    e.family(
        "ledger_replica_cache_hits_total",
        "Immutable objects answered from a cache",
        Kind::Counter,
    )
    .sample(
        "ledger_replica_cache_hits_total",
        &[("cache", "memory")],
        m.memory_hits.load(Relaxed),
    )
    .sample(
        "ledger_replica_cache_hits_total",
        &[("cache", "disk")],
        m.disk_hits.load(Relaxed),
    );
    e.single(
        "ledger_replica_memory_cache_bytes",
        "Bytes held by the memory cache",
        Kind::Gauge,
        r.memory_cache_bytes(),
    );
    e.single(
        "ledger_replica_checkpoints_refused_total",
        "Bucket checkpoints refused (signature, tiles or consistency)",
        Kind::Counter,
        m.refused.load(Relaxed),
    );
    e.single(
        "ledger_replica_receipts_total",
        "Receipts answered",
        Kind::Counter,
        m.receipts.load(Relaxed),
    );
    answer("text/plain; version=0.0.4", NO_CACHE, e.finish())
}

async fn log_key(State(r): Shared) -> Response {
    answer(TEXT, NO_CACHE, format!("{}\n", r.verifier_key()))
}
