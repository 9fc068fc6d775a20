//! Healing: incident search and detail (with each healing record and its receipt),
//! statistics per pattern signature, and the patterns resolved at L2 often and reliably
//! enough to promote. Answered from the query index, within the caller's sites.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use ledger_core::hash::Hash;
use ledger_index::{outcome_code, outcome_name, tier_code, tier_name, IncidentFilter};
use ledger_record::{Body, Record};
use serde_json::{json, Value};

use super::endpoint::{
    cursor_params, day, decimal, endpoint, enumeration, sref, string, Endpoint, Op,
};
use super::extract::Reader;
use super::params::{not_found, Params, QueryParams};
use super::respond::{b64, json_ok};
use crate::error::AppError;
use crate::log_reads::{blocking, receipt_text};
use crate::state::AppState;

type Shared = State<Arc<AppState>>;

/// Most records shown in one incident's detail.
pub const MAX_INCIDENT_RECORDS: usize = 100;

/// The routes of this file.
pub fn endpoints() -> Vec<Endpoint> {
    let tiers = ["L1", "L2", "L3"];
    let outcomes = ["success", "failure", "escalated"];
    let millis = decimal();
    vec![
        endpoint(
            cursor_params(
                Op::new("get", "/v1/incidents", "healing", "Incidents, newest first")
                    .query("site", string(), "one site (default: every site of the credential)")
                    .query("appliance", string(), "one appliance")
                    .query("check_type", string(), "check type")
                    .query("tier", enumeration(&tiers), "latest tier")
                    .query("outcome", enumeration(&outcomes), "latest outcome")
                    .query("from", millis.clone(), "active at or after (Unix ms)")
                    .query("to", millis, "started before (Unix ms)"),
            )
            .reader()
            .json("200", "a page of incidents", sref("IncidentPage")),
            get(incidents),
        ),
        endpoint(
            Op::new("get", "/v1/sites/{site}/incidents/{incident}", "healing", "One incident with its records and receipts")
                .reader()
                .json("200", "incident", sref("IncidentDetail")),
            get(incident_detail),
        ),
        endpoint(
            Op::new("get", "/v1/patterns", "healing", "Statistics per pattern signature")
                .query("site", string(), "one site")
                .query("check_type", string(), "check type")
                .query("tier", enumeration(&tiers), "only this tier")
                .query("from_day", day(), "first UTC day of start (YYYY-MM-DD)")
                .query("to_day", day(), "last UTC day of start")
                .reader()
                .json("200", "statistics", json!({"type": "object", "required": ["patterns"], "properties": {"patterns": {"type": "array", "items": sref("PatternStats")}}})),
            get(patterns),
        ),
        endpoint(
            Op::new("get", "/v1/patterns/promotion-candidates", "healing", "Patterns resolved at L2 often and reliably enough to promote")
                .query("site", string(), "one site")
                .query("check_type", string(), "check type")
                .query("from_day", day(), "first UTC day of start")
                .query("to_day", day(), "last UTC day of start")
                .reader()
                .json("200", "candidates", sref("PromotionCandidates")),
            get(promotion_candidates),
        ),
    ]
}

async fn incidents(
    State(s): Shared,
    Reader(scope): Reader,
    params: Params,
) -> Result<Response, AppError> {
    let q = QueryParams::new(
        params,
        &[
            "site",
            "appliance",
            "check_type",
            "tier",
            "outcome",
            "from",
            "to",
            "cursor",
            "limit",
        ],
    )?;
    let scope = q.scope(&scope)?;
    let f = IncidentFilter {
        appliance: q.text("appliance"),
        check_type: q.text("check_type"),
        tier: q.code("tier", tier_code, "L1, L2, L3")?,
        outcome: q.code("outcome", outcome_code, "success, failure, escalated")?,
        from_ms: q.u64("from")?,
        to_ms: q.u64("to")?,
        before: q.u64("cursor")?,
        limit: q.limit()?,
    };
    let index = s.index.clone();
    let page = blocking(move || {
        index
            .search_incidents(&scope, &f)
            .map_err(AppError::internal)
    })
    .await?;
    json_ok(json!({ "incidents": page.items, "next_cursor": page.next_cursor }))
}

async fn incident_detail(
    State(s): Shared,
    Path((site, incident)): Path<(String, String)>,
    Reader(scope): Reader,
    params: Params,
) -> Result<Response, AppError> {
    QueryParams::new(params, &[])?;
    if !scope.allows(&site) {
        return Err(not_found("incident"));
    }
    let st = s.clone();
    let cp = s.log.latest();
    let cp_c = cp.clone();
    let (found, records) = blocking(move || {
        let Some((found, indexes)) = st
            .index
            .incident(&site, &incident)
            .map_err(AppError::internal)?
        else {
            return Err(not_found("incident"));
        };
        let prover = st
            .log
            .inclusion_prover(cp_c.size)
            .map_err(|e| AppError::from_ledger(e, 1))?;
        let mut records = Vec::new();
        for idx in indexes
            .into_iter()
            .filter(|i| *i < cp_c.size)
            .take(MAX_INCIDENT_RECORDS)
        {
            let bytes = st.log.entry(idx).map_err(|e| AppError::from_ledger(e, 1))?;
            let proof = prover.proof(idx).map_err(|e| AppError::from_ledger(e, 1))?;
            records.push(healing_record_json(idx, &bytes, proof, &cp_c.note)?);
        }
        Ok((found, records))
    })
    .await?;
    json_ok(json!({
        "incident": found,
        "tree_size": cp.size,
        "records": records,
    }))
}

/// One healing record of an incident's detail, with its receipt.
fn healing_record_json(
    idx: u64,
    bytes: &[u8],
    proof: Vec<Hash>,
    note: &[u8],
) -> Result<Value, AppError> {
    let record = Record::decode(bytes).map_err(AppError::internal)?;
    let Body::Healing(h) = record.body() else {
        return Err(AppError::internal(format!(
            "index names entry {idx} as healing but it is not"
        )));
    };
    Ok(json!({
        "index": idx,
        "appliance_id": record.appliance_id().as_str(),
        "sequence": record.sequence(),
        "record_hash": hex::encode(record.hash().as_bytes()),
        "time_ms": record.time_ms(),
        "healing": {
            "incident_id": h.incident_id.as_str(),
            "check_type": h.check_type.as_str(),
            "pattern_signature": h.pattern_signature,
            "tier": tier_name(h.tier.code() as i64),
            "runbook_id": h.runbook_id.as_str(),
            "action": h.action,
            "outcome": outcome_name(h.outcome.code() as i64),
            "started_at_ms": h.started_at_ms,
            "ended_at_ms": h.ended_at_ms,
            "state_before": h.state_before,
            "state_after": h.state_after,
        },
        "record": b64(bytes),
        "receipt": receipt_text(idx, proof, note)?,
    }))
}

async fn patterns(
    State(s): Shared,
    Reader(scope): Reader,
    params: Params,
) -> Result<Response, AppError> {
    let q = QueryParams::new(
        params,
        &["site", "check_type", "tier", "from_day", "to_day"],
    )?;
    let scope = q.scope(&scope)?;
    let tier = q.code("tier", tier_code, "L1, L2, L3")?;
    let check_type = q.text("check_type");
    let (from, to) = q.day_range(None)?;
    let index = s.index.clone();
    let stats = blocking(move || {
        index
            .pattern_stats(&scope, check_type.as_deref(), tier, from, to)
            .map_err(AppError::internal)
    })
    .await?;
    json_ok(json!({ "patterns": stats }))
}

async fn promotion_candidates(
    State(s): Shared,
    Reader(scope): Reader,
    params: Params,
) -> Result<Response, AppError> {
    let q = QueryParams::new(params, &["site", "check_type", "from_day", "to_day"])?;
    let scope = q.scope(&scope)?;
    let check_type = q.text("check_type");
    let (from, to) = q.day_range(None)?;
    let index = s.index.clone();
    let stats = blocking(move || {
        index
            .pattern_stats(&scope, check_type.as_deref(), Some(2), from, to)
            .map_err(AppError::internal)
    })
    .await?;
    let min_n = s.config.promotion_min_occurrences;
    let min_rate = s.config.promotion_min_success_rate;
    let candidates: Vec<_> = stats
        .into_iter()
        .filter(|p| p.occurrences >= min_n && p.success_rate >= min_rate)
        .collect();
    json_ok(json!({
        "tier": "L2",
        "min_occurrences": min_n,
        "min_success_rate": min_rate,
        "candidates": candidates,
    }))
}
