//! Request extractors for who is asking: handlers take [`Caller`], [`Admin`] or
//! [`Reader`] as arguments and never parse credentials themselves. Each one asks
//! [`crate::auth`] the same questions the gRPC edge and the exports ask.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use ledger_index::Scope;

use crate::auth::{bearer, Principal};
use crate::error::AppError;
use crate::state::AppState;

/// The principal of the request's bearer credential (401 without a valid one).
pub struct Caller(pub Principal);

/// The admin credential (401 without a credential, 403 with another one).
pub struct Admin;

/// The sites a read token or the admin credential may query (403 for appliances).
pub struct Reader(pub Scope);

/// The principal of the bearer credential in `headers` (401 without a valid one), for
/// handlers that need a credential only in some cases.
pub fn principal_of(headers: &HeaderMap, state: &AppState) -> Result<Principal, AppError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    Ok(state.auth.authenticate(bearer(value))?)
}

fn principal(parts: &Parts, state: &AppState) -> Result<Principal, AppError> {
    principal_of(&parts.headers, state)
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, AppError> {
        principal(parts, state).map(Caller)
    }
}

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, AppError> {
        principal(parts, state)?.require_admin()?;
        Ok(Admin)
    }
}

impl FromRequestParts<Arc<AppState>> for Reader {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, AppError> {
        Ok(Reader(principal(parts, state)?.query_scope()?))
    }
}
