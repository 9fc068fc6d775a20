//! Who a credential is, for the web console's sign-in: `GET /v1/session` answers the
//! role and the sites the credential may read, so the console offers only those sites
//! (the data endpoints enforce the same scope on every request).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::endpoint::{endpoint, Endpoint, Op};
use super::extract::Caller;
use super::params::{Params, QueryParams};
use super::respond::json_ok;
use crate::auth::{AuthError, Principal};
use crate::error::AppError;
use crate::log_reads::blocking;
use crate::state::AppState;

/// The routes of this file.
pub fn endpoints() -> Vec<Endpoint> {
    let schema = json!({"type": "object", "required": ["role", "sites"], "properties": {
        "role": {"type": "string", "enum": ["admin", "reader"]},
        "sites": {"type": "array", "items": {"type": "string"}}}});
    vec![endpoint(
        Op::new(
            "get",
            "/v1/session",
            "fleet",
            "The credential's role and the sites it may read (admin: every site the index knows)",
        )
        .auth()
        .error(
            "403",
            "an appliance credential (dashboards need a read token)",
        )
        .json("200", "role and sites", schema),
        get(session),
    )]
}

async fn session(
    State(s): State<Arc<AppState>>,
    Caller(principal): Caller,
    params: Params,
) -> Result<Response, AppError> {
    QueryParams::new(params, &[])?;
    match principal {
        Principal::Admin => {
            let sites = blocking(move || s.index.sites().map_err(AppError::internal)).await?;
            json_ok(json!({"role": "admin", "sites": sites}))
        }
        Principal::Reader(sites) => json_ok(json!({"role": "reader", "sites": sites})),
        Principal::Appliance(_) => Err(AuthError::ReadTokenRequired.into()),
    }
}
