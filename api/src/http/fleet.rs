//! The fleet view: the appliances of a site (key status, online/stale/never, agent
//! version, outbox depth, chain facts, completeness alarms, the server's own alarms about
//! refused records), one appliance's detail, and the agents' check-ins that feed it.
//!
//! Server alarms come from the intake's per-appliance refusal counts
//! ([`crate::metrics::refusals`]): `clock_ahead` while `future_time` refusals of the
//! appliance happened within the staleness window, `sequence_replay` likewise for
//! `sequence_replayed` (an appliance restored from an old backup re-signing sequence
//! numbers already logged). The counts themselves are shown since the server started.
//! An appliance's detail also lists the steps back of its clock between consecutive
//! logged records (from the index): a clock behind the server is accepted at intake.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ledger_index::{ChainFacts, ClockStep, CompletenessAlarm, KeyRow};
use serde::Serialize;
use serde_json::json;

use super::endpoint::{endpoint, sref, Endpoint, Op};
use super::extract::{Caller, Reader};
use super::params::{not_found, Params, QueryParams};
use super::respond::json_ok;
use crate::checkins::{liveness, Checkin, StoredCheckin};
use crate::clock::now_ms;
use crate::error::AppError;
use crate::log_reads::blocking;
use crate::metrics::refusals::ApplianceRefusals;
use crate::state::AppState;

type Shared = State<Arc<AppState>>;

/// The routes of this file.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(
            Op::new("post", "/v1/checkin", "fleet", "Agent check-in (heartbeat)")
                .auth()
                .body("application/json", sref("Checkin"))
                .response("204", "stored", None)
                .error("403", "not an appliance credential")
                .too_large(),
            post(checkin),
        ),
        endpoint(
            Op::new(
                "get",
                "/v1/sites/{site}/appliances",
                "fleet",
                "Appliances of a site",
            )
            .reader()
            .json("200", "appliances", sref("SiteAppliances")),
            get(site_appliances),
        ),
        endpoint(
            Op::new(
                "get",
                "/v1/appliances/{site}/{appliance}",
                "fleet",
                "One appliance with its key history",
            )
            .reader()
            .json("200", "appliance", sref("ApplianceDetail")),
            get(appliance_detail),
        ),
    ]
}

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
    /// Records of this appliance the intake refused for a reason that concerns the
    /// appliance itself, by reason code, since the server started.
    refusals: ApplianceRefusals,
    /// `clock_ahead`, `sequence_replay`: such refusals within the staleness window.
    server_alarms: Vec<&'static str>,
}

#[derive(Default)]
struct Gathered {
    chain: Option<ChainFacts>,
    keys: Vec<KeyRow>,
    checkin: Option<StoredCheckin>,
    refusals: ApplianceRefusals,
}

/// The server alarm raised by each refusal reason the fleet view watches.
const ALARMS: [(&str, &str); 2] = [
    ("future_time", "clock_ahead"),
    ("sequence_replayed", "sequence_replay"),
];

/// The server alarms of one appliance: a watched refusal within `window_ms` of `now`.
fn server_alarms(refusals: &ApplianceRefusals, now: u64, window_ms: u64) -> Vec<&'static str> {
    ALARMS
        .iter()
        .filter(|(reason, _)| {
            refusals
                .get(reason)
                .is_some_and(|r| now.saturating_sub(r.last_ms) <= window_ms)
        })
        .map(|(_, alarm)| *alarm)
        .collect()
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
        refusals: g.refusals.clone(),
        server_alarms: server_alarms(&g.refusals, now, stale_after_ms),
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
    for (a, r) in state.intake.metrics.refusals.site(site) {
        all.entry(a).or_default().refusals = r;
    }
    Ok(all)
}

fn stale_after_ms(state: &AppState) -> u64 {
    let interval = u64::try_from(state.config.checkin_interval.as_millis()).unwrap_or(u64::MAX);
    interval.saturating_mul(state.config.stale_after_missed_checkins)
}

async fn site_appliances(
    State(s): Shared,
    Path(site): Path<String>,
    Reader(scope): Reader,
    params: Params,
) -> Result<Response, AppError> {
    QueryParams::new(params, &[])?;
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
    State(s): Shared,
    Path((site, appliance)): Path<(String, String)>,
    Reader(scope): Reader,
    params: Params,
) -> Result<Response, AppError> {
    QueryParams::new(params, &[])?;
    if !scope.allows(&site) {
        return Err(not_found("appliance"));
    }
    let st = s.clone();
    let (site_c, app_c) = (site.clone(), appliance.clone());
    let (mut all, alarms, clock) = blocking(move || {
        let all = gather(&st, &site_c)?;
        let alarms = st
            .index
            .chain_alarms(&site_c, &app_c, 1000)
            .map_err(AppError::internal)?;
        let clock = st
            .index
            .clock_steps_back(&site_c, &app_c, 100)
            .map_err(AppError::internal)?;
        Ok((all, alarms, clock))
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
        clock_steps_back: Vec<ClockStep>,
        checkin: Option<StoredCheckin>,
    }
    json_ok(Detail {
        site_id: site,
        view: v,
        keys: g.keys,
        completeness: alarms,
        clock_steps_back: clock,
        checkin: g.checkin,
    })
}

async fn checkin(State(s): Shared, Caller(who): Caller, body: Bytes) -> Result<Response, AppError> {
    let chain = who.require_appliance()?.clone();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::refusals::RefusalCount;

    #[test]
    fn server_alarms_last_as_long_as_the_window() {
        let mut refusals = ApplianceRefusals::new();
        assert!(server_alarms(&refusals, 1_000, 100).is_empty());
        refusals.insert(
            "future_time",
            RefusalCount {
                count: 3,
                last_ms: 900,
            },
        );
        refusals.insert(
            "sequence_replayed",
            RefusalCount {
                count: 1,
                last_ms: 500,
            },
        );
        // Refusals the view does not watch raise nothing.
        refusals.insert(
            "sequence_gap",
            RefusalCount {
                count: 1,
                last_ms: 1_000,
            },
        );
        assert_eq!(server_alarms(&refusals, 1_000, 100), vec!["clock_ahead"]);
        assert_eq!(
            server_alarms(&refusals, 1_000, 500),
            vec!["clock_ahead", "sequence_replay"]
        );
        assert!(server_alarms(&refusals, 2_000, 500).is_empty());
    }
}
