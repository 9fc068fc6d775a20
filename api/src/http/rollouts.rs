//! Staged rollouts (docs/UPDATES.md §4, §5): the operator opens, pauses, resumes and
//! cancels them (each a signed operator record); dashboards read a rollout's stage,
//! per-state counts and every open member with the reason it is open; an appliance asks
//! for its current offer; an appliance's update steps are read per appliance. Reads are
//! site-scoped like the other dashboard endpoints: a rollout without a member in the
//! credential's sites is 404, and only members of those sites are shown.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use base64::Engine as _;
use ledger_index::Scope;
use ledger_record::{ChainId, Deadlines, Id, RolloutAction, RolloutPlan, UpdateState, Version};
use serde::Deserialize;
use serde_json::{json, Value};

use super::endpoint::{endpoint, string, Endpoint, Op};
use super::extract::{Admin, Caller, Reader};
use super::params::{chain, not_found, parse_json};
use super::respond::appended_json;
use crate::auth::Principal;
use crate::clock::now_ms;
use crate::error::AppError;
use crate::error_code::ErrorCode;
use crate::rollout::{Member, Rollout, RolloutError, Status};
use crate::state::AppState;

type Shared = State<Arc<AppState>>;

/// The routes of this file.
pub fn endpoints() -> Vec<Endpoint> {
    let rollout_body = json!({"type": "object", "required": ["id", "release"], "additionalProperties": false, "properties": {
        "id": string(),
        "release": {"type": "object", "required": ["channel", "version"], "properties": {"channel": string(), "version": string()}},
        "sites": {"type": "array", "items": string()},
        "appliances": {"type": "array", "items": {"type": "object", "required": ["site_id", "appliance_id"], "properties": {"site_id": string(), "appliance_id": string()}}},
        "stages": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 100}},
        "success_threshold_pct": {"type": "integer"}, "failure_threshold_pct": {"type": "integer"},
        "soak_secs": {"type": "integer"}, "deadlines": {"type": "object"},
    }});
    let note =
        json!({"type": "object", "properties": {"note": string()}, "additionalProperties": false});
    let action = |verb: &'static str, path: &'static str, summary: &str| {
        endpoint(
            Op::new("post", path, "rollouts", summary)
                .admin()
                .body("application/json", note.clone())
                .json("200", "the operator record", json!({"type": "object"}))
                .error("404", "no such rollout")
                .error("409", "the rollout is not in a state this applies to")
                .error("503", "append queue full")
                .too_large(),
            post(move |s, p, a, b| operator_action(verb, s, p, a, b)),
        )
    };
    vec![
        endpoint(
            Op::new("post", "/v1/rollouts", "rollouts", "Open a staged rollout of a logged release")
                .admin()
                .body("application/json", rollout_body)
                .json("200", "the open record", json!({"type": "object"}))
                .error("404", "no such release")
                .error("409", "the id is taken, or an open rollout of this release includes some of these appliances")
                .error("422", "an appliance without a valid key, or no appliance selected")
                .error("503", "append queue full")
                .too_large(),
            post(open_rollout),
        ),
        endpoint(
            Op::new("get", "/v1/rollouts", "rollouts", "Rollouts with a member in the credential's sites")
                .reader()
                .json("200", "rollouts", json!({"type": "object", "required": ["rollouts"]})),
            get(list_rollouts),
        ),
        endpoint(
            Op::new("get", "/v1/rollouts/{id}", "rollouts", "A rollout: stage, per-state counts, every open member and why")
                .reader()
                .json("200", "the rollout", json!({"type": "object", "required": ["id", "status", "stage", "counts", "open_members"]})),
            get(rollout_detail),
        ),
        action("pause", "/v1/rollouts/{id}/pause", "Pause a rollout (signed operator record)"),
        action("resume", "/v1/rollouts/{id}/resume", "Resume a halted or paused rollout (signed operator record)"),
        action("cancel", "/v1/rollouts/{id}/cancel", "Cancel a rollout (signed operator record)"),
        endpoint(
            Op::new("get", "/v1/appliances/{site}/{appliance}/updates", "rollouts", "An appliance's update steps in every rollout")
                .reader()
                .json("200", "updates", json!({"type": "object", "required": ["updates"]})),
            get(appliance_updates),
        ),
        endpoint(
            Op::new("get", "/v1/updates/offer", "rollouts", "The release this appliance should install now")
                .auth()
                .error("403", "not an appliance credential")
                .json("200", "the offer", json!({"type": "object", "required": ["rollout_id", "release_hash", "signed_release", "release_index"]}))
                .response("204", "nothing to install", None),
            get(offer),
        ),
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseRef {
    channel: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplianceRef {
    site_id: String,
    appliance_id: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DeadlineSecs {
    offered_secs: Option<u64>,
    downloading_secs: Option<u64>,
    applying_secs: Option<u64>,
    rebooting_secs: Option<u64>,
    deferred_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenRequest {
    id: String,
    release: ReleaseRef,
    #[serde(default)]
    sites: Vec<String>,
    #[serde(default)]
    appliances: Vec<ApplianceRef>,
    stages: Option<Vec<u64>>,
    success_threshold_pct: Option<u64>,
    failure_threshold_pct: Option<u64>,
    soak_secs: Option<u64>,
    #[serde(default)]
    deadlines: DeadlineSecs,
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::bad_request(ErrorCode::InvalidRollout, message)
}

fn secs(value: Option<u64>, default_secs: u64) -> u64 {
    value.unwrap_or(default_secs).saturating_mul(1000)
}

/// The plan of a request, with the defaults of docs/UPDATES.md §4.
fn plan_of(s: &AppState, req: OpenRequest) -> Result<(Id, RolloutPlan), AppError> {
    let id = Id::new(req.id).map_err(|e| bad(format!("id: {e}")))?;
    let version = Version::parse(&req.release.version).map_err(bad)?;
    let channel =
        Id::new(req.release.channel.clone()).map_err(|e| bad(format!("release.channel: {e}")))?;
    let releases = s.intake.releases();
    let release = releases.release(&channel, &version).ok_or_else(|| {
        AppError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownRelease,
            format!(
                "no release {} {} in the log",
                req.release.channel, req.release.version
            ),
        )
    })?;
    let mut sites = Vec::new();
    for site in req.sites {
        sites.push(Id::new(site).map_err(|e| bad(format!("sites: {e}")))?);
    }
    sites.sort();
    sites.dedup();
    let mut appliances = Vec::new();
    for a in req.appliances {
        appliances.push(chain(&a.site_id, &a.appliance_id)?);
    }
    appliances.sort();
    appliances.dedup();
    let checkin_secs = s.config.checkin_interval.as_secs();
    let d = req.deadlines;
    let plan = RolloutPlan {
        release_hash: release.record_hash,
        sites,
        appliances,
        stages: req.stages.unwrap_or_else(|| vec![5, 25, 100]),
        success_pct: req.success_threshold_pct.unwrap_or(95),
        failure_pct: req.failure_threshold_pct.unwrap_or(5),
        soak_ms: secs(req.soak_secs, 3600),
        deadlines: Deadlines {
            offered_ms: secs(d.offered_secs, 3 * checkin_secs),
            downloading_ms: secs(d.downloading_secs, 1800),
            applying_ms: secs(d.applying_secs, 1800),
            rebooting_ms: secs(d.rebooting_secs, 3 * (300 + 900)),
            deferred_ms: secs(d.deferred_secs, 86_400),
        },
    };
    plan.validate().map_err(|e| bad(e.to_string()))?;
    Ok((id, plan))
}

async fn open_rollout(
    State(s): Shared,
    _admin: Admin,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let req: OpenRequest = parse_json(&body)?;
    let (id, plan) = plan_of(&s, req)?;
    let appended = s.rollouts.open_rollout(id.clone(), plan).await?;
    Ok(Json(
        json!({ "id": id.as_str(), "record": appended_json(&appended)? }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NoteRequest {
    note: Option<String>,
}

async fn operator_action(
    verb: &'static str,
    State(s): Shared,
    Path(id): Path<String>,
    _admin: Admin,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let id = Id::new(id).map_err(|_| not_found("rollout"))?;
    let req: NoteRequest = if body.is_empty() {
        NoteRequest::default()
    } else {
        parse_json(&body)?
    };
    let note = req
        .note
        .unwrap_or_else(|| format!("{verb} by the operator"));
    let action = match verb {
        "pause" => RolloutAction::Paused { note },
        "resume" => RolloutAction::Resumed { note },
        _ => RolloutAction::Cancelled { note },
    };
    let appended = s.rollouts.operator_action(id, action).await?;
    Ok(Json(json!({ "record": appended_json(&appended)? })))
}

impl From<RolloutError> for AppError {
    fn from(e: RolloutError) -> AppError {
        use crate::rollout::EngineError as E;
        let message = e.to_string();
        match e {
            RolloutError::Intake(i) => AppError::from(i),
            RolloutError::Duplicate { .. } => {
                AppError::conflict(ErrorCode::DuplicateRollout, message)
            }
            RolloutError::UnknownRelease { .. } | RolloutError::Engine(E::UnknownRelease(_)) => {
                AppError::new(StatusCode::NOT_FOUND, ErrorCode::UnknownRelease, message)
            }
            RolloutError::UnknownAppliance(_) => {
                AppError::rejected(ErrorCode::UnknownAppliance, message)
            }
            RolloutError::Engine(E::NoMembers) => AppError::rejected(ErrorCode::NoMembers, message),
            RolloutError::Engine(E::Exists(_)) => {
                AppError::conflict(ErrorCode::RolloutExists, message)
            }
            RolloutError::Engine(E::Unknown(_)) => AppError::not_found(message),
            RolloutError::Engine(E::WrongStatus { .. }) => {
                AppError::conflict(ErrorCode::RolloutState, message)
            }
            RolloutError::Engine(other) => AppError::internal(other),
        }
    }
}

/// A rollout as a dashboard with `scope` sees it, at `now`.
fn rollout_json(r: &Rollout, scope: &Scope, now: u64, detail: bool) -> Value {
    let visible: Vec<(&ChainId, &Member)> = r
        .members
        .iter()
        .filter(|(c, _)| scope.allows(c.site_id.as_str()))
        .collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, m) in &visible {
        *counts.entry(m.state.as_str()).or_default() += 1;
    }
    let cut = r.tally.offered;
    let mut v = json!({
        "id": r.id.as_str(),
        "release_index": r.release_index,
        "release_hash": hex::encode(r.plan.release_hash.as_bytes()),
        "status": r.status.as_str(),
        "halt_reason": match &r.status { Status::Halted { reason } => Some(reason.as_str()), _ => None },
        "stage": r.stage + 1,
        "stages": r.plan.stages,
        "stage_percent": r.plan.stages.get(r.stage),
        "members": r.members.len(),
        "members_offered": cut,
        "failures": r.failures(),
        "failure_limit": r.failure_limit(),
        "counts": counts,
    });
    if detail {
        let open: Vec<Value> = visible
            .iter()
            .filter(|(_, m)| m.rank < cut && !m.state.is_terminal())
            .map(|(c, m)| open_member_json(r, c, m, now))
            .collect();
        v["open_members"] = json!(open);
        v["history"] = json!(r
            .history
            .iter()
            .map(|(index, action, note)| json!({"index": index, "action": action, "note": note}))
            .collect::<Vec<_>>());
        v["timed_out"] = json!(visible
            .iter()
            .filter(|(_, m)| m.state == UpdateState::TimedOut)
            .map(|(c, m)| json!({"site_id": c.site_id.as_str(), "appliance_id": c.appliance_id.as_str(), "reason": m.timeout.map(|t| t.as_str()), "last_state": m.steps.iter().rev().find(|s| s.state != UpdateState::TimedOut && !s.late).map_or("offered", |s| s.state.as_str())}))
            .collect::<Vec<_>>());
    }
    v
}

/// An open member: its state, for how long, and in words why it is still open.
fn open_member_json(r: &Rollout, chain: &ChainId, m: &Member, now: u64) -> Value {
    let age = now.saturating_sub(m.since_ms);
    let deadline = r.deadline_ms(m);
    let last = m.steps.last();
    let why = match m.state {
        UpdateState::Offered => "offered; the appliance has not acknowledged it yet".to_string(),
        UpdateState::Deferred => format!(
            "deferred by the appliance: {}",
            last.map_or("", |s| s.reason.as_str())
        ),
        state => format!("{} reported; waiting for its next step", state.as_str()),
    };
    json!({
        "site_id": chain.site_id.as_str(),
        "appliance_id": chain.appliance_id.as_str(),
        "state": m.state.as_str(),
        "age_ms": age,
        "deadline_in_ms": deadline.map(|d| d.saturating_sub(age)),
        "reason": why,
        "last_report_index": last.map(|s| s.log_index),
    })
}

async fn list_rollouts(State(s): Shared, Reader(scope): Reader) -> Json<Value> {
    let now = now_ms();
    let rollouts: Vec<Value> = s
        .rollouts
        .read(|engine| {
            engine
                .rollouts()
                .filter(|r| r.members.keys().any(|c| scope.allows(c.site_id.as_str())))
                .map(|r| rollout_json(r, &scope, now, false))
                .collect()
        })
        .await;
    Json(json!({ "rollouts": rollouts }))
}

async fn rollout_detail(
    State(s): Shared,
    Path(id): Path<String>,
    Reader(scope): Reader,
) -> Result<Json<Value>, AppError> {
    let id = Id::new(id).map_err(|_| not_found("rollout"))?;
    let now = now_ms();
    let found = s
        .rollouts
        .read(|engine| {
            engine
                .rollout(&id)
                .filter(|r| r.members.keys().any(|c| scope.allows(c.site_id.as_str())))
                .map(|r| rollout_json(r, &scope, now, true))
        })
        .await;
    found.map(Json).ok_or_else(|| not_found("rollout"))
}

async fn appliance_updates(
    State(s): Shared,
    Path((site, appliance)): Path<(String, String)>,
    Reader(scope): Reader,
) -> Result<Json<Value>, AppError> {
    if !scope.allows(&site) {
        return Err(not_found("appliance"));
    }
    let member = chain(&site, &appliance)?;
    let updates: Vec<Value> = s
        .rollouts
        .read(|engine| member_updates(engine, &member))
        .await;
    Ok(Json(json!({ "updates": updates })))
}

/// Every rollout `member` is in, with its steps.
fn member_updates(engine: &crate::rollout::Engine, member: &ChainId) -> Vec<Value> {
    engine
        .rollouts()
        .filter_map(|r| r.members.get(member).map(|m| (r, m)))
        .map(|(r, m)| {
            json!({
                "rollout_id": r.id.as_str(),
                "release_index": r.release_index,
                "state": m.state.as_str(),
                "timeout_reason": m.timeout.map(|t| t.as_str()),
                "steps": m.steps.iter().map(|st| json!({
                    "state": st.state.as_str(), "index": st.log_index, "at_ms": st.at_ms,
                    "reason": st.reason, "detail": st.detail, "late": st.late,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

async fn offer(State(s): Shared, Caller(who): Caller) -> Result<Response, AppError> {
    let Principal::Appliance(chain) = who else {
        return Err(AppError::forbidden(
            ErrorCode::ApplianceOnly,
            "offers are for appliance credentials",
        ));
    };
    let offer = s
        .rollouts
        .read(|engine| {
            engine
                .offer_for(&chain)
                .map(|r| (r.id.clone(), r.plan.release_hash))
        })
        .await;
    let Some((rollout_id, release_hash)) = offer else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let releases = s.intake.releases();
    let logged = releases
        .releases()
        .iter()
        .find(|l| l.record_hash == release_hash)
        .ok_or_else(|| AppError::internal("a rollout's release is missing from the history"))?;
    let body = json!({
        "rollout_id": rollout_id.as_str(),
        "release_hash": hex::encode(release_hash.as_bytes()),
        "release_index": logged.log_index,
        "release": super::releases::release_json(&releases, logged),
        "signed_release": base64::engine::general_purpose::STANDARD.encode(logged.release.encode()),
    });
    Ok(Json(body).into_response())
}
