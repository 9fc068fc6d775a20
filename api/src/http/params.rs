//! Reading path and query parameters and JSON bodies, each with a stable `400` answer:
//! decimal numbers, hashes, site/appliance ids, and the dashboards' strict query
//! strings (only the named parameters, each at most once).

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use ledger_core::hash::Hash;
use ledger_index::{Scope, DAY_MS};
use ledger_record::utc::parse_day;
use ledger_record::{ChainId, Id};
use serde::Deserialize;

use crate::clock::now_ms;
use crate::error::AppError;
use crate::error_code::ErrorCode;

/// Parses a decimal `u64` from a path or query, with a stable error.
pub fn parse_u64(what: &str, s: &str) -> Result<u64, AppError> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::bad_request(
            ErrorCode::InvalidRequest,
            format!(
                "{what} must be a decimal number, got `{}`",
                s.chars().take(32).collect::<String>()
            ),
        ));
    }
    s.parse().map_err(|_| {
        AppError::bad_request(ErrorCode::InvalidRequest, format!("{what} is out of range"))
    })
}

/// Parses a hex SHA-256.
pub fn parse_hash(s: &str) -> Result<Hash, AppError> {
    hex::decode(s)
        .ok()
        .and_then(|b| Hash::from_slice(&b))
        .ok_or_else(|| AppError::bad_request(ErrorCode::InvalidRequest, "a hash is 64 hex digits"))
}

/// An optional decimal query value.
pub fn opt_u64(what: &str, v: &Option<String>) -> Result<Option<u64>, AppError> {
    v.as_deref().map(|s| parse_u64(what, s)).transpose()
}

/// `from`, `to` and `size` of the range and proof queries.
#[derive(Deserialize)]
pub struct RangeQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub size: Option<String>,
}

/// A JSON request body.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(body)
        .map_err(|e| AppError::bad_request(ErrorCode::InvalidJson, format!("request body: {e}")))
}

/// The chain named by a site and an appliance path segment.
pub fn chain(site: &str, appliance: &str) -> Result<ChainId, AppError> {
    let id = |what: &str, s: &str| {
        Id::new(s)
            .map_err(|e| AppError::bad_request(ErrorCode::InvalidRequest, format!("{what}: {e}")))
    };
    Ok(ChainId::new(
        id("site id", site)?,
        id("appliance id", appliance)?,
    ))
}

/// A 404 naming what was not found (or is outside the caller's scope).
pub fn not_found(what: &str) -> AppError {
    AppError::not_found(format!("{what} not found"))
}

/// The raw query string of a dashboard request.
pub type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// Default and largest page size of the paginated lists.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

/// Query parameters: only the named ones are accepted, each at most once.
pub struct QueryParams(HashMap<String, String>);

impl QueryParams {
    pub fn new(params: Params, allowed: &[&str]) -> Result<QueryParams, AppError> {
        let Query(map) = params.map_err(|e| {
            AppError::bad_request(ErrorCode::InvalidRequest, format!("query string: {e}"))
        })?;
        if let Some(bad) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(AppError::bad_request(
                ErrorCode::InvalidRequest,
                format!(
                    "unknown query parameter `{}`; accepted: {}",
                    bad.chars().take(64).collect::<String>(),
                    allowed.join(", ")
                ),
            ));
        }
        Ok(QueryParams(map))
    }

    pub fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    pub fn u64(&self, name: &str) -> Result<Option<u64>, AppError> {
        self.0.get(name).map(|v| parse_u64(name, v)).transpose()
    }

    /// A named value mapped to its index code (`parse`), or 400 listing `expected`.
    pub fn code(
        &self,
        name: &str,
        parse: fn(&str) -> Option<i64>,
        expected: &str,
    ) -> Result<Option<i64>, AppError> {
        self.0
            .get(name)
            .map(|v| {
                parse(v).ok_or_else(|| {
                    AppError::bad_request(
                        ErrorCode::InvalidRequest,
                        format!("`{name}` must be one of {expected}"),
                    )
                })
            })
            .transpose()
    }

    pub fn day(&self, name: &str) -> Result<Option<i64>, AppError> {
        self.0
            .get(name)
            .map(|v| {
                parse_day(v).ok_or_else(|| {
                    AppError::bad_request(
                        ErrorCode::InvalidRequest,
                        format!("`{name}` must be a date YYYY-MM-DD (UTC, from 1970)"),
                    )
                })
            })
            .transpose()
    }

    pub fn limit(&self) -> Result<usize, AppError> {
        match self.u64("limit")? {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT as u64).contains(&n) => Ok(n as usize),
            Some(_) => Err(AppError::bad_request(
                ErrorCode::InvalidRequest,
                format!("`limit` must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// The scope narrowed to the `site` parameter, 404 when it is outside.
    pub fn scope(&self, scope: &Scope) -> Result<Scope, AppError> {
        scope
            .narrow(self.0.get("site").map(String::as_str))
            .ok_or_else(|| not_found("site"))
    }

    /// `from_day`..=`to_day`; with `default_days`, a missing end is today and a missing
    /// start that many days before it.
    pub fn day_range(
        &self,
        default_days: Option<i64>,
    ) -> Result<(Option<i64>, Option<i64>), AppError> {
        let (from, to) = (self.day("from_day")?, self.day("to_day")?);
        let (from, to) = match default_days {
            Some(n) => {
                let to = to.unwrap_or((now_ms() / DAY_MS) as i64);
                (Some(from.unwrap_or(to - (n - 1)).max(0)), Some(to))
            }
            None => (from, to),
        };
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(AppError::bad_request(
                    ErrorCode::InvalidRequest,
                    "`from_day` is after `to_day`",
                ));
            }
        }
        Ok((from, to))
    }
}

/// The revocation reasons a revoke request may name, as the API spells them.
pub const REVOCATION_REASONS: [&str; 4] = [
    "unspecified",
    "key_compromise",
    "decommissioned",
    "superseded",
];

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    reason: Option<String>,
}

/// The body of a revoke request: empty, or `{"reason": …}` (default `unspecified`).
pub fn revocation_reason(body: &[u8]) -> Result<ledger_record::RevocationReason, AppError> {
    use ledger_record::RevocationReason;
    let req: RevokeRequest = if body.is_empty() {
        RevokeRequest::default()
    } else {
        parse_json(body)?
    };
    Ok(match req.reason.as_deref().unwrap_or("unspecified") {
        "unspecified" => RevocationReason::Unspecified,
        "key_compromise" => RevocationReason::KeyCompromise,
        "decommissioned" => RevocationReason::Decommissioned,
        "superseded" => RevocationReason::Superseded,
        other => {
            return Err(AppError::bad_request(
                ErrorCode::InvalidRequest,
                format!("reason `{other}`: expected unspecified, key_compromise, decommissioned or superseded"),
            ))
        }
    })
}
