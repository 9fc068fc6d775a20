//! The fleet-update bodies: `rollout` (kind 5) on the operator's chain — a staged plan
//! for one release and every transition of it — and `update` (kind 6) on an
//! appliance's own chain — one step of that appliance's update. Schema: docs/RECORDS.md
//! §5.6 and §5.7; the state machine they record: docs/UPDATES.md.

use ledger_core::hash::Hash;

use crate::cbor::Value;
use crate::error::RecordError;
use crate::ids::{ChainId, Id};
use crate::text::{id_field, text_field};

/// Schema version of the rollout and update bodies.
pub const FLEET_SCHEMA_VERSION: u64 = 1;
/// Longest free-text reason or note, in bytes.
pub const MAX_REASON_LEN: usize = 1024;
/// Most stages of one rollout.
pub const MAX_STAGES: usize = 10;
/// Most sites and most appliances one rollout may name.
pub const MAX_TARGETS: usize = 1000;

const KEY_VERSION: u64 = 0;
const KEY_ACTION: u64 = 1;
const KEY_ROLLOUT_ID: u64 = 2;

// Rollout actions.
const OPEN: u64 = 0;
const STAGE_ADVANCED: u64 = 1;
const HALTED: u64 = 2;
const RESUMED: u64 = 3;
const PAUSED: u64 = 4;
const CANCELLED: u64 = 5;
const TIMED_OUT: u64 = 6;
const COMPLETED: u64 = 7;

// Fields of an open.
const OPEN_RELEASE_HASH: u64 = 3;
const OPEN_SITES: u64 = 4;
const OPEN_APPLIANCES: u64 = 5;
const OPEN_STAGES: u64 = 6;
const OPEN_SUCCESS_PCT: u64 = 7;
const OPEN_FAILURE_PCT: u64 = 8;
const OPEN_SOAK_MS: u64 = 9;
const OPEN_DEADLINES: u64 = 10;
// Fields of the other actions.
const STAGE: u64 = 3;
const REASON: u64 = 3;
const MEMBER: u64 = 4;
const LAST_STATE: u64 = 5;
const TIMEOUT_REASON: u64 = 6;

// Fields of an update body.
const UPDATE_ROLLOUT_ID: u64 = 1;
const UPDATE_RELEASE_HASH: u64 = 2;
const UPDATE_STATE: u64 = 3;
const UPDATE_REASON: u64 = 4;
const UPDATE_DETAIL: u64 = 5;

/// How long a member may stay in an open state before the server declares it
/// `timed_out`, in milliseconds (docs/UPDATES.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// From the stage's start until the appliance acknowledges the offer.
    pub offered_ms: u64,
    /// Downloading: at least this, or the artifact's size at 1 MB/s if longer.
    pub downloading_ms: u64,
    /// Verified, applying, applied.
    pub applying_ms: u64,
    /// Rebooting and the health gate.
    pub rebooting_ms: u64,
    /// Deferred.
    pub deferred_ms: u64,
}

/// A rollout's plan: what goes where, in which stages, with which thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutPlan {
    /// Record hash of the release record being rolled out.
    pub release_hash: Hash,
    /// Every appliance of these sites with a valid key at the open record's index …
    pub sites: Vec<Id>,
    /// … and these appliances (with a valid key there); each list strictly increasing.
    pub appliances: Vec<ChainId>,
    /// Cumulative percentages of the members, strictly increasing, the last 100.
    pub stages: Vec<u64>,
    /// A stage advances when at least this percentage of its members succeeded.
    pub success_pct: u64,
    /// The rollout halts when FAILED + ROLLED_BACK + TIMED_OUT reach this percentage of
    /// all members (at least one member).
    pub failure_pct: u64,
    /// A stage advances no sooner than this after its last member finished.
    pub soak_ms: u64,
    pub deadlines: Deadlines,
}

/// Why the server declared a member `timed_out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutReason {
    /// Offered, never acknowledged, while checking in.
    NotPickedUp,
    /// In an open state and checking in, but no step reported in time.
    Silent,
    /// In an open state and no longer checking in.
    Offline,
    /// Deferred for longer than the deferral deadline.
    DeferredTooLong,
}

impl TimeoutReason {
    pub fn code(self) -> u64 {
        match self {
            TimeoutReason::NotPickedUp => 0,
            TimeoutReason::Silent => 1,
            TimeoutReason::Offline => 2,
            TimeoutReason::DeferredTooLong => 3,
        }
    }

    pub fn from_code(code: u64) -> Option<TimeoutReason> {
        Some(match code {
            0 => TimeoutReason::NotPickedUp,
            1 => TimeoutReason::Silent,
            2 => TimeoutReason::Offline,
            3 => TimeoutReason::DeferredTooLong,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutReason::NotPickedUp => "not_picked_up",
            TimeoutReason::Silent => "silent",
            TimeoutReason::Offline => "offline",
            TimeoutReason::DeferredTooLong => "deferred_too_long",
        }
    }
}

/// The `rollout` body: an action on rollout `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutBody {
    pub id: Id,
    pub action: RolloutAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutAction {
    Open(Box<RolloutPlan>),
    /// The rollout moved to stage `stage` (0-based).
    StageAdvanced {
        stage: u64,
    },
    /// Stopped by the engine (a threshold, a verification rejection) or the operator.
    Halted {
        reason: String,
        member: Option<ChainId>,
    },
    /// Goes on after a halt or a pause; `note` says who decided and why.
    Resumed {
        note: String,
    },
    Paused {
        note: String,
    },
    Cancelled {
        note: String,
    },
    /// The server's declaration that `member` missed the deadline of `last_state`.
    TimedOut {
        member: ChainId,
        last_state: UpdateState,
        reason: TimeoutReason,
    },
    /// Every stage succeeded.
    Completed,
}

/// One state of the per-appliance update state machine (docs/UPDATES.md §5). `Assigned`,
/// `Offered` and `TimedOut` are the server's; the others are reported by the appliance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UpdateState {
    Assigned,
    Offered,
    Acknowledged,
    Downloading,
    Downloaded,
    Verified,
    Applying,
    Applied,
    Rebooting,
    HealthGate,
    Succeeded,
    Deferred,
    VerifyRejected,
    Failed,
    RolledBack,
    Skipped,
    Cancelled,
    TimedOut,
}

const STATES: [(UpdateState, &str); 18] = [
    (UpdateState::Assigned, "assigned"),
    (UpdateState::Offered, "offered"),
    (UpdateState::Acknowledged, "acknowledged"),
    (UpdateState::Downloading, "downloading"),
    (UpdateState::Downloaded, "downloaded"),
    (UpdateState::Verified, "verified"),
    (UpdateState::Applying, "applying"),
    (UpdateState::Applied, "applied"),
    (UpdateState::Rebooting, "rebooting"),
    (UpdateState::HealthGate, "health_gate"),
    (UpdateState::Succeeded, "succeeded"),
    (UpdateState::Deferred, "deferred"),
    (UpdateState::VerifyRejected, "verify_rejected"),
    (UpdateState::Failed, "failed"),
    (UpdateState::RolledBack, "rolled_back"),
    (UpdateState::Skipped, "skipped"),
    (UpdateState::Cancelled, "cancelled"),
    (UpdateState::TimedOut, "timed_out"),
];

impl UpdateState {
    /// The CBOR code: the position in docs/UPDATES.md's list, `assigned` = 0.
    pub fn code(self) -> u64 {
        STATES.iter().position(|(s, _)| *s == self).unwrap_or(0) as u64
    }

    pub fn from_code(code: u64) -> Option<UpdateState> {
        STATES.get(usize::try_from(code).ok()?).map(|(s, _)| *s)
    }

    pub fn as_str(self) -> &'static str {
        STATES
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("unknown", |(_, n)| n)
    }

    pub fn parse(name: &str) -> Option<UpdateState> {
        STATES.iter().find(|(_, n)| *n == name).map(|(s, _)| *s)
    }

    /// Whether the appliance's update is over in this state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            UpdateState::Succeeded
                | UpdateState::VerifyRejected
                | UpdateState::Failed
                | UpdateState::RolledBack
                | UpdateState::Skipped
                | UpdateState::Cancelled
                | UpdateState::TimedOut
        )
    }

    /// Whether an appliance may report this state in an `update` record.
    pub fn reported_by_appliance(self) -> bool {
        !matches!(
            self,
            UpdateState::Assigned | UpdateState::Offered | UpdateState::TimedOut
        )
    }
}

/// The `update` body: one step of one appliance's update in rollout `rollout_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateBody {
    pub rollout_id: Id,
    /// Record hash of the release record the step is about.
    pub release_hash: Hash,
    pub state: UpdateState,
    /// Reason code or message (`install_command exited 3`, `sha256_mismatch`); may be
    /// empty.
    pub reason: String,
    /// State-specific number: the health-gate attempt (1–3), bytes downloaded, 0 else.
    pub detail: u64,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> RecordError {
    RecordError::InvalidValue {
        field,
        reason: reason.into(),
    }
}

fn chain_value(chain: &ChainId) -> Value {
    Value::map([
        (0, Some(Value::text(chain.site_id.as_str()))),
        (1, Some(Value::text(chain.appliance_id.as_str()))),
    ])
}

fn chain_of(value: Value, field: &'static str) -> Result<ChainId, RecordError> {
    let mut f = value.into_map(field)?;
    let chain = ChainId::new(
        id_field(f.required(0)?, field)?,
        id_field(f.required(1)?, field)?,
    );
    f.finish()?;
    Ok(chain)
}

fn hash_of(value: Value, field: &'static str) -> Result<Hash, RecordError> {
    Ok(Hash(value.into_byte_array(field, "a 32-byte hash")?))
}

fn reason_of(value: Value, field: &'static str) -> Result<String, RecordError> {
    text_field(value, field, MAX_REASON_LEN, true)
}

/// Checks that `items` are strictly increasing, so each list has one encoding.
fn strictly_increasing<T: Ord>(items: &[T], field: &'static str) -> Result<(), RecordError> {
    if items.windows(2).any(|w| w[0] >= w[1]) {
        return Err(invalid(
            field,
            "must be strictly increasing, without repeats",
        ));
    }
    Ok(())
}

impl RolloutPlan {
    pub fn validate(&self) -> Result<(), RecordError> {
        if self.sites.is_empty() && self.appliances.is_empty() {
            return Err(invalid(
                "rollout.targets",
                "name at least one site or appliance",
            ));
        }
        if self.sites.len() > MAX_TARGETS || self.appliances.len() > MAX_TARGETS {
            return Err(invalid(
                "rollout.targets",
                format!("at most {MAX_TARGETS} sites and {MAX_TARGETS} appliances"),
            ));
        }
        strictly_increasing(&self.sites, "rollout.sites")?;
        strictly_increasing(&self.appliances, "rollout.appliances")?;
        if self.stages.is_empty() || self.stages.len() > MAX_STAGES {
            return Err(invalid(
                "rollout.stages",
                format!("1 to {MAX_STAGES} stages"),
            ));
        }
        let increasing = self.stages.windows(2).all(|w| w[0] < w[1]);
        if !increasing || self.stages[0] == 0 || self.stages.last() != Some(&100) {
            return Err(invalid(
                "rollout.stages",
                format!(
                    "{:?}: percentages must increase strictly from above 0 to 100",
                    self.stages
                ),
            ));
        }
        for (field, pct) in [
            ("rollout.success_threshold_pct", self.success_pct),
            ("rollout.failure_threshold_pct", self.failure_pct),
        ] {
            if pct == 0 || pct > 100 {
                return Err(invalid(field, format!("{pct}: a percentage from 1 to 100")));
            }
        }
        Ok(())
    }

    fn fields(&self) -> Vec<(u64, Option<Value>)> {
        let d = &self.deadlines;
        vec![
            (
                OPEN_RELEASE_HASH,
                Some(Value::bytes(self.release_hash.as_bytes())),
            ),
            (
                OPEN_SITES,
                Some(Value::Array(
                    self.sites.iter().map(|s| Value::text(s.as_str())).collect(),
                )),
            ),
            (
                OPEN_APPLIANCES,
                Some(Value::Array(
                    self.appliances.iter().map(chain_value).collect(),
                )),
            ),
            (
                OPEN_STAGES,
                Some(Value::Array(
                    self.stages.iter().map(|&p| Value::Uint(p)).collect(),
                )),
            ),
            (OPEN_SUCCESS_PCT, Some(Value::Uint(self.success_pct))),
            (OPEN_FAILURE_PCT, Some(Value::Uint(self.failure_pct))),
            (OPEN_SOAK_MS, Some(Value::Uint(self.soak_ms))),
            (
                OPEN_DEADLINES,
                Some(Value::map([
                    (0, Some(Value::Uint(d.offered_ms))),
                    (1, Some(Value::Uint(d.downloading_ms))),
                    (2, Some(Value::Uint(d.applying_ms))),
                    (3, Some(Value::Uint(d.rebooting_ms))),
                    (4, Some(Value::Uint(d.deferred_ms))),
                ])),
            ),
        ]
    }

    fn from_fields(f: &mut crate::cbor::Fields) -> Result<RolloutPlan, RecordError> {
        let sites = f
            .required(OPEN_SITES)?
            .into_array("rollout.sites")?
            .into_iter()
            .map(|v| id_field(v, "rollout.sites"))
            .collect::<Result<_, _>>()?;
        let appliances = f
            .required(OPEN_APPLIANCES)?
            .into_array("rollout.appliances")?
            .into_iter()
            .map(|v| chain_of(v, "rollout.appliances"))
            .collect::<Result<_, _>>()?;
        let stages = f
            .required(OPEN_STAGES)?
            .into_array("rollout.stages")?
            .into_iter()
            .map(|v| v.into_uint("rollout.stages"))
            .collect::<Result<_, _>>()?;
        let mut d = f.required(OPEN_DEADLINES)?.into_map("rollout.deadlines")?;
        let deadlines = Deadlines {
            offered_ms: d.required(0)?.into_uint("rollout.deadlines.offered")?,
            downloading_ms: d.required(1)?.into_uint("rollout.deadlines.downloading")?,
            applying_ms: d.required(2)?.into_uint("rollout.deadlines.applying")?,
            rebooting_ms: d.required(3)?.into_uint("rollout.deadlines.rebooting")?,
            deferred_ms: d.required(4)?.into_uint("rollout.deadlines.deferred")?,
        };
        d.finish()?;
        Ok(RolloutPlan {
            release_hash: hash_of(f.required(OPEN_RELEASE_HASH)?, "rollout.release_hash")?,
            sites,
            appliances,
            stages,
            success_pct: f
                .required(OPEN_SUCCESS_PCT)?
                .into_uint("rollout.success_threshold_pct")?,
            failure_pct: f
                .required(OPEN_FAILURE_PCT)?
                .into_uint("rollout.failure_threshold_pct")?,
            soak_ms: f.required(OPEN_SOAK_MS)?.into_uint("rollout.soak_ms")?,
            deadlines,
        })
    }
}

impl RolloutBody {
    pub fn validate(&self) -> Result<(), RecordError> {
        match &self.action {
            RolloutAction::Open(plan) => plan.validate(),
            RolloutAction::TimedOut { last_state, .. } if last_state.is_terminal() => Err(invalid(
                "rollout.timed_out.last_state",
                "a finished state cannot time out",
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn to_value(&self) -> Value {
        let head = [
            (KEY_VERSION, Some(Value::Uint(FLEET_SCHEMA_VERSION))),
            (KEY_ROLLOUT_ID, Some(Value::text(self.id.as_str()))),
        ];
        let (action, rest): (u64, Vec<(u64, Option<Value>)>) = match &self.action {
            RolloutAction::Open(plan) => (OPEN, plan.fields()),
            RolloutAction::StageAdvanced { stage } => {
                (STAGE_ADVANCED, vec![(STAGE, Some(Value::Uint(*stage)))])
            }
            RolloutAction::Halted { reason, member } => (
                HALTED,
                vec![
                    (REASON, Some(Value::text(reason))),
                    (MEMBER, member.as_ref().map(chain_value)),
                ],
            ),
            RolloutAction::Resumed { note } => (RESUMED, vec![(REASON, Some(Value::text(note)))]),
            RolloutAction::Paused { note } => (PAUSED, vec![(REASON, Some(Value::text(note)))]),
            RolloutAction::Cancelled { note } => {
                (CANCELLED, vec![(REASON, Some(Value::text(note)))])
            }
            RolloutAction::TimedOut {
                member,
                last_state,
                reason,
            } => (
                TIMED_OUT,
                vec![
                    (MEMBER, Some(chain_value(member))),
                    (LAST_STATE, Some(Value::Uint(last_state.code()))),
                    (TIMEOUT_REASON, Some(Value::Uint(reason.code()))),
                ],
            ),
            RolloutAction::Completed => (COMPLETED, Vec::new()),
        };
        Value::map(
            head.into_iter()
                .chain([(KEY_ACTION, Some(Value::Uint(action)))])
                .chain(rest),
        )
    }

    pub(crate) fn from_value(value: Value) -> Result<RolloutBody, RecordError> {
        let mut f = value.into_map("rollout")?;
        let version = f.required(KEY_VERSION)?.into_uint("rollout.version")?;
        if version != FLEET_SCHEMA_VERSION {
            return Err(RecordError::UnsupportedBodyVersion {
                body: "rollout",
                version,
            });
        }
        let id = id_field(f.required(KEY_ROLLOUT_ID)?, "rollout.id")?;
        let action = match f.required(KEY_ACTION)?.into_uint("rollout.action")? {
            OPEN => RolloutAction::Open(Box::new(RolloutPlan::from_fields(&mut f)?)),
            STAGE_ADVANCED => RolloutAction::StageAdvanced {
                stage: f.required(STAGE)?.into_uint("rollout.stage")?,
            },
            HALTED => RolloutAction::Halted {
                reason: reason_of(f.required(REASON)?, "rollout.halted.reason")?,
                member: match f.contains(MEMBER) {
                    true => Some(chain_of(f.required(MEMBER)?, "rollout.halted.member")?),
                    false => None,
                },
            },
            RESUMED => RolloutAction::Resumed {
                note: reason_of(f.required(REASON)?, "rollout.resumed.note")?,
            },
            PAUSED => RolloutAction::Paused {
                note: reason_of(f.required(REASON)?, "rollout.paused.note")?,
            },
            CANCELLED => RolloutAction::Cancelled {
                note: reason_of(f.required(REASON)?, "rollout.cancelled.note")?,
            },
            TIMED_OUT => {
                let member = chain_of(f.required(MEMBER)?, "rollout.timed_out.member")?;
                let code = f
                    .required(LAST_STATE)?
                    .into_uint("rollout.timed_out.last_state")?;
                let last_state = UpdateState::from_code(code).ok_or_else(|| {
                    invalid(
                        "rollout.timed_out.last_state",
                        format!("unknown state {code}"),
                    )
                })?;
                let code = f
                    .required(TIMEOUT_REASON)?
                    .into_uint("rollout.timed_out.reason")?;
                let reason = TimeoutReason::from_code(code).ok_or_else(|| {
                    invalid("rollout.timed_out.reason", format!("unknown reason {code}"))
                })?;
                RolloutAction::TimedOut {
                    member,
                    last_state,
                    reason,
                }
            }
            COMPLETED => RolloutAction::Completed,
            other => {
                return Err(invalid(
                    "rollout.action",
                    format!("unknown rollout action {other}"),
                ))
            }
        };
        f.finish()?;
        Ok(RolloutBody { id, action })
    }
}

impl UpdateBody {
    pub fn validate(&self) -> Result<(), RecordError> {
        if !self.state.reported_by_appliance() {
            return Err(invalid(
                "update.state",
                format!(
                    "{} is declared by the server, not reported",
                    self.state.as_str()
                ),
            ));
        }
        crate::text::check_text("update.reason", &self.reason, MAX_REASON_LEN, true)
    }

    pub(crate) fn to_value(&self) -> Value {
        Value::map([
            (KEY_VERSION, Some(Value::Uint(FLEET_SCHEMA_VERSION))),
            (
                UPDATE_ROLLOUT_ID,
                Some(Value::text(self.rollout_id.as_str())),
            ),
            (
                UPDATE_RELEASE_HASH,
                Some(Value::bytes(self.release_hash.as_bytes())),
            ),
            (UPDATE_STATE, Some(Value::Uint(self.state.code()))),
            (UPDATE_REASON, Some(Value::text(&self.reason))),
            (UPDATE_DETAIL, Some(Value::Uint(self.detail))),
        ])
    }

    pub(crate) fn from_value(value: Value) -> Result<UpdateBody, RecordError> {
        let mut f = value.into_map("update")?;
        let version = f.required(KEY_VERSION)?.into_uint("update.version")?;
        if version != FLEET_SCHEMA_VERSION {
            return Err(RecordError::UnsupportedBodyVersion {
                body: "update",
                version,
            });
        }
        let code = f.required(UPDATE_STATE)?.into_uint("update.state")?;
        let body = UpdateBody {
            rollout_id: id_field(f.required(UPDATE_ROLLOUT_ID)?, "update.rollout_id")?,
            release_hash: hash_of(f.required(UPDATE_RELEASE_HASH)?, "update.release_hash")?,
            state: UpdateState::from_code(code)
                .ok_or_else(|| invalid("update.state", format!("unknown state {code}")))?,
            reason: reason_of(f.required(UPDATE_REASON)?, "update.reason")?,
            detail: f.required(UPDATE_DETAIL)?.into_uint("update.detail")?,
        };
        f.finish()?;
        Ok(body)
    }
}
