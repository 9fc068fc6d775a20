//! `GET /v1/export?sites=a,b&from_ms=&to_ms=`: a site's evidence package as a tar
//! archive, streamed: the export runs on the blocking pool and hands each file of the
//! package to the response body through a bounded channel, so memory stays bounded
//! whatever the package's size. Admin, or a read token covering every named site;
//! anything else gets 404. A few exports run at once (`EXPORT_SLOTS`); more wait.

use std::sync::Arc;

use axum::body::Body;
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
use crate::export::{export_from_state, ExportError, ExportRequest, TarSink};
use crate::state::AppState;
use tokio_stream::wrappers::ReceiverStream;

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
            "package archive (format version 2, package.json last), streamed; an archive cut short by an error has no package.json",
            Some((
                "application/x-tar",
                json!({"type": "string", "format": "binary"}),
            )),
        )
        .error(
            "404",
            "no records, or a site outside the credential's scope",
        ),
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
    let permit = s
        .exports
        .clone()
        .acquire_owned()
        .await
        .map_err(AppError::internal)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(CHANNEL);
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let state = s.clone();
    // Not `crate::blocking::blocking`, which waits for the closure's answer: the
    // response must start while the export is still running on the blocking pool.
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        run_export(&state, &req, tx, started_tx);
    });
    let size = started_rx
        .await
        .map_err(|_| AppError::internal("the export stopped before it started"))??;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"evidence-package-{size}.tar\""),
            ),
        ],
        Body::from_stream(ReceiverStream::new(rx)),
    )
        .into_response())
}

/// Pieces of the archive buffered between the export and the socket (each one file:
/// at most one segment, about 8 MiB).
const CHANNEL: usize = 2;

/// Runs the export on the blocking pool: the first piece (the checkpoint) tells the
/// handler the checkpoint size and that the answer is 200; an error before it is the
/// handler's answer, an error after it ends the body early (the client then has no
/// manifest and refuses the archive).
fn run_export(
    state: &AppState,
    req: &ExportRequest,
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    started: tokio::sync::oneshot::Sender<Result<u64, AppError>>,
) {
    let started = std::cell::RefCell::new(Some(started));
    let data = tx.clone();
    let sink = TarSink::new(|piece: Vec<u8>| {
        if let Some(s) = started.borrow_mut().take() {
            let _ = s.send(Ok(checkpoint_size(&piece)));
        }
        data.blocking_send(Ok(piece)).is_ok()
    });
    let result = export_from_state(state, req, sink).map(|(_, summary)| summary);
    let first = started.borrow_mut().take();
    match (result, first) {
        (Ok(_), _) => {}
        (Err(e), Some(s)) => {
            let _ = s.send(Err(match e {
                ExportError::Nothing { .. } | ExportError::EmptyLog => {
                    AppError::not_found(e.to_string())
                }
                other => AppError::internal(other),
            }));
        }
        (Err(e), None) => {
            tracing::warn!(error = %e, "evidence package export failed while streaming");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    }
}

/// The tree size from the archive's first piece: the `checkpoint` file, whose second
/// line is the size (C2SP tlog-checkpoint).
fn checkpoint_size(piece: &[u8]) -> u64 {
    piece
        .get(512..)
        .and_then(|body| std::str::from_utf8(body).ok())
        .and_then(|text| text.lines().nth(1))
        .and_then(|line| line.parse().ok())
        .unwrap_or(0)
}
