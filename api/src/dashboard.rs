//! The dashboard side of the HTTP API (issue 7): fleet (appliances per site, appliance
//! detail, agent check-ins), healing (incident search and detail, pattern statistics,
//! promotion candidates) and record search (filters, cursor pagination, counts per day).
//!
//! Access: the admin credential reads every site; a read token reads its one site and a
//! partner token (a read token issued for several sites) its sites. A site, appliance,
//! incident or record outside the caller's scope is answered exactly like one that does
//! not exist: 404 with no data. Appliance credentials may only check in.
//!
//! Every list is answered from the query index ([`ledger_index`]); every record in an
//! answer carries its log index so its receipt can be fetched from `/v1/receipts/{index}`.
//! Routes are listed once in [`routes`]; `docs/API.md` and `/openapi.json`
//! ([`crate::openapi`]) describe them, and a test checks the document against the router.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use ledger_record::{Body, Record};
use serde::Serialize;
use serde_json::json;

use crate::auth::{now_ms, Principal};
use crate::error::AppError;
use crate::fleet::{liveness, Checkin, StoredCheckin};
use crate::http::who;
use crate::proofs::{receipt_text, CachedSource};
use crate::reads::{blocking, parse_u64};
use crate::server::AppState;
use ledger_index::{
    kind_code, outcome_code, outcome_name, status_code, tier_code, tier_name, ChainFacts,
    CompletenessAlarm, IncidentFilter, KeyRow, RecordFilter, Scope, DAY_MS,
};
use ledger_record::utc::{format_day, parse_day};

type St = State<Arc<AppState>>;
type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// Default and largest page size of the paginated lists.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;
/// Longest range of the per-day counts, in days.
pub const MAX_DAYS: i64 = 366;
/// Most records shown in one incident's detail.
pub const MAX_INCIDENT_RECORDS: usize = 100;

/// The dashboard routes; merged into [`crate::http::router`].
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/checkin", post(checkin))
        .route("/v1/sites/{site}/appliances", get(site_appliances))
        .route("/v1/appliances/{site}/{appliance}", get(appliance_detail))
        .route("/v1/incidents", get(incidents))
        .route(
            "/v1/sites/{site}/incidents/{incident}",
            get(incident_detail),
        )
        .route("/v1/patterns", get(patterns))
        .route(
            "/v1/patterns/promotion-candidates",
            get(promotion_candidates),
        )
        .route("/v1/search/records", get(search_records))
        .route("/v1/search/records/daily", get(daily_counts))
}

/// The caller's scope; appliance credentials are refused (403).
fn scope(state: &AppState, headers: &HeaderMap) -> Result<Scope, AppError> {
    match who(state, headers)? {
        Principal::Admin => Ok(Scope::All),
        Principal::Reader(sites) => Ok(Scope::Sites(sites)),
        Principal::Appliance(_) => Err(AppError::forbidden(
            "read_token_required",
            "dashboard queries need a read token or the admin credential",
        )),
    }
}

fn not_found(what: &str) -> AppError {
    AppError::not_found(format!("{what} not found"))
}

/// Query parameters: only the named ones are accepted, each at most once.
struct Q(HashMap<String, String>);

impl Q {
    fn new(params: Params, allowed: &[&str]) -> Result<Q, AppError> {
        let Query(map) = params
            .map_err(|e| AppError::bad_request("invalid_request", format!("query string: {e}")))?;
        if let Some(bad) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(AppError::bad_request(
                "invalid_request",
                format!(
                    "unknown query parameter `{}`; accepted: {}",
                    bad.chars().take(64).collect::<String>(),
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Q(map))
    }

    fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    fn u64(&self, name: &str) -> Result<Option<u64>, AppError> {
        self.0.get(name).map(|v| parse_u64(name, v)).transpose()
    }

    fn code(
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
                        "invalid_request",
                        format!("`{name}` must be one of {expected}"),
                    )
                })
            })
            .transpose()
    }

    fn day(&self, name: &str) -> Result<Option<i64>, AppError> {
        self.0
            .get(name)
            .map(|v| {
                parse_day(v).ok_or_else(|| {
                    AppError::bad_request(
                        "invalid_request",
                        format!("`{name}` must be a date YYYY-MM-DD (UTC, from 1970)"),
                    )
                })
            })
            .transpose()
    }

    fn limit(&self) -> Result<usize, AppError> {
        match self.u64("limit")? {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT as u64).contains(&n) => Ok(n as usize),
            Some(_) => Err(AppError::bad_request(
                "invalid_request",
                format!("`limit` must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// The scope narrowed to the `site` parameter, 404 when it is outside.
    fn scope(&self, scope: &Scope) -> Result<Scope, AppError> {
        scope
            .narrow(self.0.get("site").map(String::as_str))
            .ok_or_else(|| not_found("site"))
    }
}

fn json_ok(v: impl Serialize) -> Result<Response, AppError> {
    Ok(Json(v).into_response())
}

// ---- fleet ----------------------------------------------------------------------

/// What the fleet view says about one appliance.
#[derive(Debug, Clone, Serialize)]
struct ApplianceView {
    appliance_id: String,
    /// `active`, `revoked` or `none` (never enrolled in this log).
    key_status: &'static str,
    /// The active key, or the last one.
    key_id: Option<String>,
    /// `online`, `stale` or `never`.
    state: &'static str,
    agent_version: Option<String>,
    last_checkin_ms: Option<u64>,
    health: Option<String>,
    agent_alarms: Vec<String>,
    outbox_depth: Option<u64>,
    oldest_undelivered_age_secs: Option<u64>,
    #[serde(flatten)]
    chain: ChainFacts,
}

#[derive(Default)]
struct Gathered {
    chain: Option<ChainFacts>,
    keys: Vec<KeyRow>,
    checkin: Option<StoredCheckin>,
}

fn view(appliance: String, g: &Gathered, now: u64, stale_after_ms: u64) -> ApplianceView {
    let active = g.keys.iter().rev().find(|k| k.ended_at_index.is_none());
    let (key_status, key_id) = match (active, g.keys.last()) {
        (Some(k), _) => ("active", Some(k.key_id.clone())),
        (None, Some(k)) => ("revoked", Some(k.key_id.clone())),
        (None, None) => ("none", None),
    };
    let c = g.checkin.as_ref();
    ApplianceView {
        appliance_id: appliance,
        key_status,
        key_id,
        state: liveness(c.map(|c| c.received_at_ms), now, stale_after_ms),
        agent_version: c.map(|c| c.checkin.agent_version.clone()),
        last_checkin_ms: c.map(|c| c.received_at_ms),
        health: c.map(|c| c.checkin.health.clone()),
        agent_alarms: c.map(|c| c.checkin.alarms.clone()).unwrap_or_default(),
        outbox_depth: c.map(|c| c.checkin.outbox_depth),
        oldest_undelivered_age_secs: c.and_then(|c| c.checkin.oldest_undelivered_age_secs),
        chain: g.chain.clone().unwrap_or_default(),
    }
}

/// Everything known about the appliances of one site, by appliance id.
fn gather(state: &AppState, site: &str) -> Result<BTreeMap<String, Gathered>, AppError> {
    let mut all: BTreeMap<String, Gathered> = BTreeMap::new();
    for (a, facts) in state.index.site_chains(site).map_err(AppError::internal)? {
        all.entry(a).or_default().chain = Some(facts);
    }
    for (a, key) in state.index.site_keys(site).map_err(AppError::internal)? {
        all.entry(a).or_default().keys.push(key);
    }
    for (a, c) in state.checkins.site(site).map_err(AppError::internal)? {
        all.entry(a).or_default().checkin = Some(c);
    }
    Ok(all)
}

fn stale_after_ms(state: &AppState) -> u64 {
    let interval = u64::try_from(state.config.checkin_interval.as_millis()).unwrap_or(u64::MAX);
    interval.saturating_mul(state.config.stale_after_missed_checkins)
}

async fn site_appliances(
    State(s): St,
    headers: HeaderMap,
    Path(site): Path<String>,
    params: Params,
) -> Result<Response, AppError> {
    let scope = scope(&s, &headers)?;
    Q::new(params, &[])?;
    if !scope.allows(&site) {
        return Err(not_found("site"));
    }
    let st = s.clone();
    let site_c = site.clone();
    let all = blocking(move || gather(&st, &site_c)).await?;
    let now = now_ms();
    let stale = stale_after_ms(&s);
    let appliances: Vec<ApplianceView> = all
        .iter()
        .map(|(a, g)| view(a.clone(), g, now, stale))
        .collect();
    json_ok(json!({
        "site_id": site,
        "stale_after_secs": stale / 1000,
        "appliances": appliances,
    }))
}

async fn appliance_detail(
    State(s): St,
    headers: HeaderMap,
    Path((site, appliance)): Path<(String, String)>,
    params: Params,
) -> Result<Response, AppError> {
    let scope = scope(&s, &headers)?;
    Q::new(params, &[])?;
    if !scope.allows(&site) {
        return Err(not_found("appliance"));
    }
    let st = s.clone();
    let (site_c, app_c) = (site.clone(), appliance.clone());
    let (mut all, alarms) = blocking(move || {
        let all = gather(&st, &site_c)?;
        let alarms = st
            .index
            .chain_alarms(&site_c, &app_c, 1000)
            .map_err(AppError::internal)?;
        Ok((all, alarms))
    })
    .await?;
    let Some(g) = all.remove(&appliance) else {
        return Err(not_found("appliance"));
    };
    let v = view(appliance.clone(), &g, now_ms(), stale_after_ms(&s));
    #[derive(Serialize)]
    struct Detail {
        site_id: String,
        #[serde(flatten)]
        view: ApplianceView,
        keys: Vec<KeyRow>,
        completeness: Vec<CompletenessAlarm>,
        checkin: Option<StoredCheckin>,
    }
    json_ok(Detail {
        site_id: site,
        view: v,
        keys: g.keys,
        completeness: alarms,
        checkin: g.checkin,
    })
}

async fn checkin(State(s): St, headers: HeaderMap, body: Bytes) -> Result<Response, AppError> {
    let chain = match who(&s, &headers)? {
        Principal::Appliance(chain) => chain,
        _ => {
            return Err(AppError::forbidden(
                "appliance_only",
                "check-ins need an appliance credential",
            ))
        }
    };
    let checkin = Checkin::from_json(&body)?;
    let store = s.checkins.clone();
    blocking(move || {
        store
            .record(&chain, &checkin, now_ms())
            .map_err(AppError::internal)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- healing ---------------------------------------------------------------------

async fn incidents(State(s): St, headers: HeaderMap, params: Params) -> Result<Response, AppError> {
    let scope = scope(&s, &headers)?;
    let q = Q::new(
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

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn incident_detail(
    State(s): St,
    headers: HeaderMap,
    Path((site, incident)): Path<(String, String)>,
    params: Params,
) -> Result<Response, AppError> {
    let scope = scope(&s, &headers)?;
    Q::new(params, &[])?;
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
        let source = CachedSource::new(&st.log);
        let mut records = Vec::new();
        for idx in indexes
            .into_iter()
            .filter(|i| *i < cp_c.size)
            .take(MAX_INCIDENT_RECORDS)
        {
            let bytes = st.log.entry(idx).map_err(|e| AppError::from_ledger(e, 1))?;
            let record = Record::decode(&bytes).map_err(AppError::internal)?;
            let proof = source
                .inclusion_proof(idx, cp_c.size)
                .map_err(|e| AppError::from_ledger(e, 1))?;
            let Body::Healing(h) = record.body() else {
                return Err(AppError::internal(format!(
                    "index names entry {idx} as healing but it is not"
                )));
            };
            records.push(json!({
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
                "record": b64(&bytes),
                "receipt": receipt_text(idx, proof, &cp_c.note)?,
            }));
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

fn day_range(q: &Q, default_days: Option<i64>) -> Result<(Option<i64>, Option<i64>), AppError> {
    let (from, to) = (q.day("from_day")?, q.day("to_day")?);
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
                "invalid_request",
                "`from_day` is after `to_day`",
            ));
        }
    }
    Ok((from, to))
}

async fn patterns(State(s): St, headers: HeaderMap, params: Params) -> Result<Response, AppError> {
    let scope = scope(&s, &headers)?;
    let q = Q::new(
        params,
        &["site", "check_type", "tier", "from_day", "to_day"],
    )?;
    let scope = q.scope(&scope)?;
    let tier = q.code("tier", tier_code, "L1, L2, L3")?;
    let check_type = q.text("check_type");
    let (from, to) = day_range(&q, None)?;
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
    State(s): St,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, AppError> {
    let scope = scope(&s, &headers)?;
    let q = Q::new(params, &["site", "check_type", "from_day", "to_day"])?;
    let scope = q.scope(&scope)?;
    let check_type = q.text("check_type");
    let (from, to) = day_range(&q, None)?;
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

// ---- record search ----------------------------------------------------------------

async fn search_records(
    State(s): St,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, AppError> {
    let scope = scope(&s, &headers)?;
    let q = Q::new(
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
    State(s): St,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, AppError> {
    let scope = scope(&s, &headers)?;
    let q = Q::new(
        params,
        &["site", "appliance", "check_type", "from_day", "to_day"],
    )?;
    let scope = q.scope(&scope)?;
    let (from, to) = day_range(&q, Some(30))?;
    let (Some(from), Some(to)) = (from, to) else {
        return Err(AppError::internal("day range without defaults"));
    };
    if to - from >= MAX_DAYS {
        return Err(AppError::bad_request(
            "invalid_request",
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
