//! The HTTP API (axum). The route table ([`endpoints`]) lists every endpoint once, with
//! its handler and its OpenAPI description, one file per resource; [`router`] and
//! `/openapi.json` are both built from it. Routes and formats are documented in
//! docs/API.md.
//!
//! The web console's page and files ([`console`]) are served beside the API at `/` and
//! `/console/…`; they are not part of the OpenAPI document.
//!
//! Public: checkpoints, hash tiles, consistency proofs, receipts, anchors, `/healthz`,
//! `/metrics`, `/log-key`, `/operator-key`. Everything that reveals record contents needs
//! a credential ([`extract`]), and a credential that does not cover the record's site
//! gets 404.

pub mod admin;
pub mod anchors;
pub mod console;
pub mod endpoint;
pub mod enrolment;
pub mod export;
pub mod extract;
pub mod fleet;
pub mod healing;
pub mod log;
pub mod metrics;
pub mod openapi;
pub mod params;
pub mod records;
pub mod releases;
pub mod replica;
pub mod respond;
pub mod rollouts;
pub mod search;
pub mod session;

use std::future::Future;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tokio::net::TcpListener;

pub use endpoint::Endpoint;
pub use enrolment::parse_public_key;

use crate::error::AppError;
use crate::state::{AppState, ServerError};

/// Every endpoint of the HTTP API, resource by resource.
pub fn endpoints() -> Vec<Endpoint> {
    [
        log::endpoints(),
        metrics::endpoints(),
        openapi::endpoints(),
        records::endpoints(),
        enrolment::endpoints(),
        admin::endpoints(),
        anchors::endpoints(),
        export::endpoints(),
        fleet::endpoints(),
        healing::endpoints(),
        search::endpoints(),
        session::endpoints(),
        releases::endpoints(),
        rollouts::endpoints(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The HTTP application.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_request_bytes;
    let mut router = Router::new();
    for e in endpoints() {
        router = router.route(e.path(), e.handler);
    }
    router
        .merge(console::router())
        .fallback(|| async { AppError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Serves the HTTP API on `listener` until `shutdown` resolves, letting requests in
/// progress finish.
pub async fn serve(
    state: Arc<AppState>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServerError::Io {
            what: "HTTP server".into(),
            source,
        })
}
