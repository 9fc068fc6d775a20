//! `GET /v1/export?sites=a,b&from_ms=&to_ms=`: a site's evidence package as a tar
//! archive. Admin, or a read token covering every named site; anything else gets 404.
//! One export at a time (a package is built in memory); a second one gets 503.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ledger_record::Id;
use serde::Deserialize;
use serde_json::json;

use super::endpoint::{decimal, endpoint, string, Endpoint, Op};
use super::extract::Caller;
use super::params::parse_u64;
use crate::error::AppError;
use crate::error_code::ErrorCode;
use crate::export::{export_from_state, to_tar, ExportError, ExportRequest};
use crate::log_reads::blocking;
use crate::state::AppState;

/// The routes of this file.
pub fn endpoints() -> Vec<Endpoint> {
    let millis = decimal();
    vec![endpoint(
        Op::new(
            "get",
            "/v1/export",
            "export",
            "Evidence package of sites and a period, as a tar archive",
        )
        .auth()
        .query("sites", string(), "comma-separated site ids (required)")
        .query(
            "from_ms",
            millis.clone(),
            "period start, Unix ms of appliance time",
        )
        .query("to_ms", millis, "period end (inclusive)")
        .response(
            "200",
            "package archive (package.json last)",
            Some((
                "application/x-tar",
                json!({"type": "string", "format": "binary"}),
            )),
        )
        .error(
            "404",
            "no records, or a site outside the credential's scope",
        )
        .error("503", "another export is running; retry after Retry-After"),
        get(handler),
    )]
}

#[derive(Deserialize)]
struct ExportQuery {
    sites: Option<String>,
    from_ms: Option<String>,
    to_ms: Option<String>,
}

/// Parses `sites`, `from_ms`, `to_ms` into a request.
fn request(q: &ExportQuery) -> Result<ExportRequest, AppError> {
    let bad = |m: String| AppError::bad_request(ErrorCode::InvalidRequest, m);
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
    Query(q): Query<ExportQuery>,
    Caller(principal): Caller,
) -> Result<Response, AppError> {
    let req = request(&q)?;
    if !req
        .sites
        .iter()
        .all(|site| principal.may_read_site(site.as_str()))
    {
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
