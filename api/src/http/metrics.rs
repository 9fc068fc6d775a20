//! `/metrics`: the Prometheus page of the intake, the log, the query index,
//! anchoring and rollouts. The index figures read SQLite, so the page is written on the blocking
//! pool.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::endpoint::{endpoint, Endpoint, Op};
use crate::error::AppError;
use crate::log_reads::blocking;
use crate::metrics::exposition::Exposition;
use crate::state::AppState;

/// The routes of this file.
pub fn endpoints() -> Vec<Endpoint> {
    vec![endpoint(
        Op::new("get", "/metrics", "server", "Prometheus metrics").text("metrics"),
        get(metrics),
    )]
}

async fn metrics(State(s): State<Arc<AppState>>) -> Result<Response, AppError> {
    let rollouts = s
        .rollouts
        .read(|engine| {
            let mut out = Exposition::new();
            crate::rollout::write_metrics(engine, &mut out);
            out.finish()
        })
        .await;
    let page = blocking(move || {
        let mut out = Exposition::new();
        s.intake.metrics.write(&s.log, &mut out);
        crate::metrics::write_index(&s.log, &s.index, &mut out);
        s.anchoring.write_metrics(&mut out);
        if let Some(w) = &s.witnessing {
            w.write_metrics(s.log.latest().size, &mut out);
        }
        Ok(out.finish() + &rollouts)
    })
    .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        page,
    )
        .into_response())
}
