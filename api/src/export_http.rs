//! HTTP: `GET /v1/export?sites=a,b&from_ms=&to_ms=` answers the evidence package as a tar
//! archive. Admin, or a read token covering every named site; anything else gets 404.
//! One export at a time; a second request meanwhile gets 503 with `Retry-After`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ledger_record::Id;
use serde::Deserialize;
use verifier::package::PackageFiles;

use crate::auth::{bearer, Principal};
use crate::error::AppError;
use crate::export::{export, to_tar, ExportError, ExportRequest, ExportSummary};
use crate::reads::{blocking, parse_u64};
use crate::server::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/export", get(handler))
}

/// [`export`] with the running server's log, stamps and operator key. Blocking.
pub fn export_from_state(
    state: &AppState,
    request: &ExportRequest,
) -> Result<(PackageFiles, ExportSummary), ExportError> {
    export(
        &state.log,
        &state.anchoring,
        &state.intake.operator().public_key(),
        &state.config.operator_chain(),
        request,
    )
}

#[derive(Deserialize)]
struct ExportQuery {
    sites: Option<String>,
    from_ms: Option<String>,
    to_ms: Option<String>,
}

/// Parses `sites`, `from_ms`, `to_ms` into a request.
fn request(q: &ExportQuery) -> Result<ExportRequest, AppError> {
    let bad = |m: String| AppError::bad_request("invalid_request", m);
    let sites_text = q
        .sites
        .as_deref()
        .ok_or_else(|| bad("`sites` is required (comma-separated site ids)".into()))?;
    let mut sites = Vec::new();
    for s in sites_text.split(',') {
        let id = Id::new(s).map_err(|e| bad(format!("site id `{s}`: {e}")))?;
        if !sites.contains(&id) {
            sites.push(id);
        }
    }
    let from = q
        .from_ms
        .as_deref()
        .map(|v| parse_u64("from_ms", v))
        .transpose()?;
    let to = q
        .to_ms
        .as_deref()
        .map(|v| parse_u64("to_ms", v))
        .transpose()?;
    let (from, to) = (from.unwrap_or(0), to.unwrap_or(u64::MAX));
    if from > to {
        return Err(bad(format!("from_ms {from} is after to_ms {to}")));
    }
    Ok(ExportRequest {
        sites,
        period: from..=to,
    })
}

async fn handler(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ExportQuery>,
) -> Result<Response, AppError> {
    // As `http::who`, without making this edge and the router depend on each other.
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = s.auth.authenticate(bearer(authorization))?;
    let req = request(&q)?;
    let allowed = match &principal {
        Principal::Admin => true,
        Principal::Reader(scope) => req.sites.iter().all(|site| scope.contains(site.as_str())),
        Principal::Appliance(_) => false,
    };
    if !allowed {
        return Err(AppError::not_found("no records of these sites"));
    }
    let permit = s.exports.clone().try_acquire_owned().map_err(|_| {
        AppError::busy_with(
            s.config.retry_after_secs,
            "another evidence package is being exported; retry after the time in Retry-After",
        )
    })?;
    let state = s.clone();
    let (body, summary) = blocking(move || {
        let _permit = permit;
        let (files, summary) = export_from_state(&state, &req).map_err(|e| match e {
            ExportError::Nothing { .. } | ExportError::EmptyLog => {
                AppError::not_found(e.to_string())
            }
            other => AppError::internal(other),
        })?;
        // The files are dropped here, before the archive is sent.
        Ok((to_tar(&files), summary))
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"evidence-package-{}.tar\"",
                    summary.checkpoint_size
                ),
            ),
        ],
        body,
    )
        .into_response())
}
