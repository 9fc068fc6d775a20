//! The witness's HTTP interface (C2SP tlog-witness): `POST /add-checkpoint` and
//! `GET /checkpoint[?origin=…]`, an axum router testable without a socket, and
//! [`serve`], which runs it on a listener until a shutdown future completes.
//!
//! Request bodies are limited to [`MAX_BODY`] bytes (413 above). The work of a request
//! (signature checks, SQLite) runs on tokio's blocking pool so it never stalls the
//! async workers. Errors answer `text/plain` with a short reason; storage details are
//! logged, never sent.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ledger_core::witness::{size_body, SIZE_CONTENT_TYPE};

use crate::error::WitnessError;
use crate::witness::Witness;

/// Largest accepted request body: far above a 63-line proof and a checkpoint with
/// 100 signatures.
pub const MAX_BODY: usize = 64 * 1024;

const TEXT: &str = "text/plain; charset=utf-8";

/// The router over a shared witness.
pub fn app(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/checkpoint", get(checkpoint))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(witness)
}

/// Serves [`app`] on `listener` until `shutdown` completes, then finishes the
/// requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    witness: Arc<Witness>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(witness))
        .with_graceful_shutdown(shutdown)
        .await
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(TEXT))],
        body,
    )
        .into_response()
}

impl IntoResponse for WitnessError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self {
            // tlog-witness: a 409 carries the stored size, typed text/x.tlog.size.
            WitnessError::Conflict { stored, reason } => {
                tracing::info!(stored, reason, "add-checkpoint conflict");
                (
                    status,
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(SIZE_CONTENT_TYPE),
                    )],
                    size_body(stored),
                )
                    .into_response()
            }
            WitnessError::Storage(detail) | WitnessError::Config(detail) => {
                tracing::error!(%detail, "witness state failed");
                text(status, "witness state unavailable; retry later\n".into())
            }
            other => text(status, format!("{other}\n")),
        }
    }
}

/// Runs blocking witness work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, WitnessError> + Send + 'static,
) -> Result<T, WitnessError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| WitnessError::Storage(format!("request task failed: {e}")))?
}

async fn add_checkpoint(State(w): State<Arc<Witness>>, body: Bytes) -> Response {
    match blocking(move || w.add_checkpoint(&body)).await {
        Ok(lines) => text(StatusCode::OK, lines),
        Err(e) => {
            tracing::debug!(error = %e, "add-checkpoint refused");
            e.into_response()
        }
    }
}

async fn checkpoint(
    State(w): State<Arc<Witness>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let origin = match query.get("origin") {
        Some(o) => o.clone(),
        None => {
            let origins = w.logs().origins();
            match origins.iter().next() {
                Some(only) if origins.len() == 1 => (*only).to_owned(),
                _ => {
                    return WitnessError::Malformed(
                        "this witness trusts several logs; add ?origin=<origin>".into(),
                    )
                    .into_response()
                }
            }
        }
    };
    let lookup = origin.clone();
    match blocking(move || w.latest(&lookup)).await {
        Ok(Some(stored)) => text(StatusCode::OK, stored.note),
        Ok(None) => WitnessError::NotFound(format!(
            "no checkpoint of {origin:?} has been cosigned by this witness"
        ))
        .into_response(),
        Err(e) => e.into_response(),
    }
}
