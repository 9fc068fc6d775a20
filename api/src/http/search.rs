//! Record search: filters over kind, appliance, time, check type, status, incident,
//! tier and outcome with cursor paging (newest log index first), and evidence items
//! per UTC day by status. Answered from the query index, within the caller's sites.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use ledger_index::{kind_code, outcome_code, status_code, tier_code, RecordFilter};
use ledger_record::utc::format_day;
use serde_json::json;

use super::endpoint::{
    cursor_params, day, decimal, endpoint, enumeration, sref, string, Endpoint, Op,
};
use super::extract::Reader;
use super::params::{Params, QueryParams};
use super::respond::json_ok;
use crate::error::AppError;
use crate::error_code::ErrorCode;
use crate::log_reads::blocking;
use crate::state::AppState;

type Shared = State<Arc<AppState>>;

/// Longest range of the per-day counts, in days.
pub const MAX_DAYS: i64 = 366;

/// The routes of this file.
pub fn endpoints() -> Vec<Endpoint> {
    let millis = decimal();
    vec![
        endpoint(
            cursor_params(
                Op::new(
                    "get",
                    "/v1/search/records",
                    "search",
                    "Record search, newest log index first",
                )
                .query("site", string(), "one site")
                .query("appliance", string(), "one appliance")
                .query(
                    "kind",
                    enumeration(&["evidence", "healing", "key"]),
                    "record kind",
                )
                .query(
                    "from",
                    millis.clone(),
                    "appliance time at or after (Unix ms)",
                )
                .query("to", millis, "appliance time before (Unix ms)")
                .query(
                    "check_type",
                    string(),
                    "check type (evidence items, healing records)",
                )
                .query(
                    "status",
                    enumeration(&["pass", "warning", "fail", "error"]),
                    "an evidence item with this status",
                )
                .query("incident", string(), "incident id")
                .query("tier", enumeration(&["L1", "L2", "L3"]), "healing tier")
                .query(
                    "outcome",
                    enumeration(&["success", "failure", "escalated"]),
                    "healing outcome",
                ),
            )
            .reader()
            .json("200", "a page of records", sref("RecordPage")),
            get(search_records),
        ),
        endpoint(
            Op::new(
                "get",
                "/v1/search/records/daily",
                "search",
                "Evidence items per UTC day by status",
            )
            .query("site", string(), "one site")
            .query("appliance", string(), "one appliance")
            .query("check_type", string(), "check type")
            .query("from_day", day(), "first day (default to_day - 29)")
            .query(
                "to_day",
                day(),
                "last day (default today); at most 366 days",
            )
            .reader()
            .json("200", "counts", sref("DailyCounts")),
            get(daily_counts),
        ),
    ]
}

async fn search_records(
    State(s): Shared,
    Reader(scope): Reader,
    params: Params,
) -> Result<Response, AppError> {
    let q = QueryParams::new(
        params,
        &[
            "site",
            "appliance",
            "kind",
            "from",
            "to",
            "check_type",
            "status",
            "incident",
            "tier",
            "outcome",
            "cursor",
            "limit",
        ],
    )?;
    let scope = q.scope(&scope)?;
    let f = RecordFilter {
        appliance: q.text("appliance"),
        kind: q.code("kind", kind_code, "evidence, healing, key")?,
        from_ms: q.u64("from")?,
        to_ms: q.u64("to")?,
        check_type: q.text("check_type"),
        status: q.code("status", status_code, "pass, warning, fail, error")?,
        incident: q.text("incident"),
        tier: q.code("tier", tier_code, "L1, L2, L3")?,
        outcome: q.code("outcome", outcome_code, "success, failure, escalated")?,
        before: q.u64("cursor")?,
        limit: q.limit()?,
    };
    let index = s.index.clone();
    let page =
        blocking(move || index.search_records(&scope, &f).map_err(AppError::internal)).await?;
    json_ok(json!({ "records": page.items, "next_cursor": page.next_cursor }))
}

async fn daily_counts(
    State(s): Shared,
    Reader(scope): Reader,
    params: Params,
) -> Result<Response, AppError> {
    let q = QueryParams::new(
        params,
        &["site", "appliance", "check_type", "from_day", "to_day"],
    )?;
    let scope = q.scope(&scope)?;
    let (from, to) = q.day_range(Some(30))?;
    let (Some(from), Some(to)) = (from, to) else {
        return Err(AppError::internal("day range without defaults"));
    };
    if to - from >= MAX_DAYS {
        return Err(AppError::bad_request(
            ErrorCode::InvalidRequest,
            format!("at most {MAX_DAYS} days per request"),
        ));
    }
    let (appliance, check_type) = (q.text("appliance"), q.text("check_type"));
    let index = s.index.clone();
    let days = blocking(move || {
        index
            .daily_status(
                &scope,
                appliance.as_deref(),
                check_type.as_deref(),
                from,
                to,
            )
            .map_err(AppError::internal)
    })
    .await?;
    json_ok(json!({
        "from_day": format_day(from),
        "to_day": format_day(to),
        "days": days,
    }))
}
