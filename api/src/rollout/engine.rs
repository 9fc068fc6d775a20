//! The rollout engine as pure state (docs/UPDATES.md §4, §5): replays `rollout` and
//! `update` records in log order and decides, for a given time, what the server must
//! record next (a member timed out, a stage advanced, a halt, completion). No I/O, no
//! clock, no locks: the caller feeds it records and times and appends what it decides.
//!
//! Times: a member's state counts from when the engine saw the step — the server's
//! clock for records it applies live, the record's own time when it replays the log on
//! start (operator records carry the server's time; an appliance's are bounded ahead of
//! it by the intake's skew rule).

use std::collections::{BTreeMap, BTreeSet};

use ledger_core::hash::Hash;
use ledger_record::{
    ChainId, Id, KeyHistory, Record, ReleaseHistory, RolloutAction, RolloutBody, RolloutPlan,
    TimeoutReason, UpdateBody, UpdateState,
};
use sha2::{Digest, Sha256};

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Active,
    Paused,
    Halted { reason: String },
    Cancelled,
    Completed,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Halted { .. } => "halted",
            Status::Cancelled => "cancelled",
            Status::Completed => "completed",
        }
    }

    /// Whether the rollout can still change (it may be resumed or cancelled).
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            Status::Active | Status::Paused | Status::Halted { .. }
        )
    }

    /// Whether `action` applies to a rollout in this status (an open applies to none:
    /// the rollout exists already).
    pub fn allows(&self, action: &RolloutAction) -> bool {
        match action {
            RolloutAction::Open(_) => false,
            RolloutAction::StageAdvanced { .. }
            | RolloutAction::Paused { .. }
            | RolloutAction::Completed => *self == Status::Active,
            RolloutAction::Resumed { .. } => {
                matches!(self, Status::Halted { .. } | Status::Paused)
            }
            RolloutAction::Halted { .. } | RolloutAction::Cancelled { .. } => self.is_open(),
            RolloutAction::TimedOut { .. } => true,
        }
    }
}

/// One step a member went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub state: UpdateState,
    pub log_index: u64,
    pub at_ms: u64,
    pub reason: String,
    pub detail: u64,
    /// Reported after the member had already finished (e.g. after `timed_out`): shown,
    /// but it changes nothing.
    pub late: bool,
}

/// One appliance of a rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Position in the stable order (0 first), which decides its stage.
    pub rank: usize,
    pub state: UpdateState,
    /// When the current state began, Unix ms.
    pub since_ms: u64,
    pub steps: Vec<Step>,
    pub timeout: Option<TimeoutReason>,
}

/// One rollout and every member's state.
#[derive(Debug, Clone)]
pub struct Rollout {
    pub id: Id,
    pub plan: RolloutPlan,
    /// The release record's log index and the release's artifact size (for the download
    /// deadline).
    pub release_index: u64,
    pub artifact_size: u64,
    pub opened_at: u64,
    /// Current stage, 0-based.
    pub stage: usize,
    pub stage_started_ms: u64,
    pub status: Status,
    pub members: BTreeMap<ChainId, Member>,
    /// Failures already counted by a halt that an operator resumed from.
    pub failures_acknowledged: usize,
    /// Members whose verification rejection already halted the rollout.
    pub rejections_halted: BTreeSet<ChainId>,
    /// Every transition: (log index, action name, note).
    pub history: Vec<(u64, String, String)>,
    /// Counts kept up to date with every step, so deciding after a report costs the
    /// same whatever the fleet's size.
    pub tally: Tally,
}

/// A rollout's running counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Members offered the release so far (the current and earlier stages).
    pub offered: usize,
    /// … of which are not finished.
    pub offered_open: usize,
    /// … of which succeeded or were skipped.
    pub offered_ok: usize,
    /// When the last offered member finished, Unix ms.
    pub offered_finished_at: u64,
    /// FAILED + ROLLED_BACK + TIMED_OUT + VERIFY_REJECTED, among all members.
    pub failures: usize,
}

fn is_failure(state: UpdateState) -> bool {
    matches!(
        state,
        UpdateState::Failed
            | UpdateState::RolledBack
            | UpdateState::TimedOut
            | UpdateState::VerifyRejected
    )
}

fn is_ok(state: UpdateState) -> bool {
    matches!(state, UpdateState::Succeeded | UpdateState::Skipped)
}

/// Why a rollout or update record does not fit the engine's state; the record stays in
/// the log and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("rollout {0} already exists")]
    Exists(Id),
    #[error("rollout {0} is not known")]
    Unknown(Id),
    #[error("no release record has hash {0}")]
    UnknownRelease(Hash),
    #[error("{member} is not a member of rollout {rollout}")]
    NotAMember { rollout: Id, member: ChainId },
    #[error("rollout {rollout} is {status}; {action} does not apply")]
    WrongStatus {
        rollout: Id,
        status: &'static str,
        action: &'static str,
    },
    #[error("update for rollout {rollout} names another release")]
    OtherRelease { rollout: Id },
    #[error("the rollout plan selects no appliance with a valid key")]
    NoMembers,
}

/// A decision of [`Engine::decide`]: the action the server records for rollout `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub id: Id,
    pub action: RolloutAction,
}

/// The stable position of an appliance in every rollout: SHA-256 of its site and
/// appliance id, so the same appliances come first each time.
fn stable_key(chain: &ChainId) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"evidence-ledger/rollout-order/v1\0");
    h.update(chain.site_id.as_str().as_bytes());
    h.update([0]);
    h.update(chain.appliance_id.as_str().as_bytes());
    h.finalize().into()
}

/// Members of the first `pct` percent of `n` (at least one when `pct` > 0).
pub fn stage_size(n: usize, pct: u64) -> usize {
    ((n as u64 * pct).div_ceil(100) as usize).clamp(usize::from(n > 0), n)
}

/// The appliances `plan` selects at log index `index`: every appliance of its sites and
/// every appliance it names that has a valid key there.
pub fn select_members(plan: &RolloutPlan, keys: &KeyHistory, index: u64) -> BTreeSet<ChainId> {
    let sites: BTreeSet<&Id> = plan.sites.iter().collect();
    let named: BTreeSet<&ChainId> = plan.appliances.iter().collect();
    keys.keys()
        .iter()
        .filter(|k| k.valid_at(index))
        .filter(|k| sites.contains(&k.chain.site_id) || named.contains(&k.chain))
        .map(|k| k.chain.clone())
        .collect()
}

impl Rollout {
    fn members_in_stage(&self, stage: usize) -> usize {
        let pct = self.plan.stages.get(stage).copied().unwrap_or(100);
        stage_size(self.members.len(), pct)
    }

    /// Members of stages up to the current one (the ones offered the release).
    pub fn offered(&self) -> impl Iterator<Item = (&ChainId, &Member)> {
        let cut = self.tally.offered;
        self.members.iter().filter(move |(_, m)| m.rank < cut)
    }

    /// Whether `chain` is offered the release and its update is not over.
    pub fn is_open_offer(&self, chain: &ChainId) -> bool {
        self.members
            .get(chain)
            .is_some_and(|m| m.rank < self.tally.offered && !m.state.is_terminal())
    }

    /// FAILED + ROLLED_BACK + TIMED_OUT + VERIFY_REJECTED.
    pub fn failures(&self) -> usize {
        self.tally.failures
    }

    /// The failure count at which the rollout halts: max(1, ⌈failure% of members⌉).
    pub fn failure_limit(&self) -> usize {
        stage_size(self.members.len(), self.plan.failure_pct).max(1)
    }

    /// How long `member` may stay in its state before it times out, if it is open.
    pub fn deadline_ms(&self, member: &Member) -> Option<u64> {
        let d = &self.plan.deadlines;
        Some(match member.state {
            s if s.is_terminal() => return None,
            UpdateState::Assigned => return None,
            UpdateState::Offered | UpdateState::Acknowledged => d.offered_ms,
            UpdateState::Downloading => d.downloading_ms.max(self.artifact_size / 1000),
            UpdateState::Downloaded
            | UpdateState::Verified
            | UpdateState::Applying
            | UpdateState::Applied => d.applying_ms,
            UpdateState::Rebooting | UpdateState::HealthGate => d.rebooting_ms,
            UpdateState::Deferred => d.deferred_ms,
            _ => d.applying_ms,
        })
    }

    fn set_state(&mut self, member: &ChainId, step: Step) {
        let Some(m) = self.members.get_mut(member) else {
            return;
        };
        if m.state.is_terminal() {
            m.steps.push(Step { late: true, ..step });
            return;
        }
        let (state, at) = (step.state, step.at_ms);
        m.state = state;
        m.since_ms = at;
        m.steps.push(step);
        let offered = m.rank < self.tally.offered;
        let t = &mut self.tally;
        t.failures += usize::from(is_failure(state));
        if offered && state.is_terminal() {
            t.offered_open -= 1;
            t.offered_ok += usize::from(is_ok(state));
            t.offered_finished_at = t.offered_finished_at.max(at);
        }
    }

    /// Offers the members of the current stage that were only assigned, and counts the
    /// offered members again.
    fn open_stage(&mut self, at_ms: u64) {
        let cut = self.members_in_stage(self.stage);
        let mut tally = Tally {
            offered: cut,
            failures: self.tally.failures,
            ..Tally::default()
        };
        for m in self.members.values_mut() {
            if m.rank >= cut {
                continue;
            }
            if m.state == UpdateState::Assigned {
                m.state = UpdateState::Offered;
                m.since_ms = at_ms;
            }
            if m.state.is_terminal() {
                tally.offered_ok += usize::from(is_ok(m.state));
                tally.offered_finished_at = tally.offered_finished_at.max(m.since_ms);
            } else {
                tally.offered_open += 1;
            }
        }
        self.tally = tally;
        self.stage_started_ms = at_ms;
    }
}

/// Every rollout of the log.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    rollouts: BTreeMap<Id, Rollout>,
}

impl Engine {
    pub fn new() -> Engine {
        Engine::default()
    }

    pub fn rollouts(&self) -> impl Iterator<Item = &Rollout> {
        self.rollouts.values()
    }

    pub fn rollout(&self, id: &Id) -> Option<&Rollout> {
        self.rollouts.get(id)
    }

    /// Applies a logged `rollout` (operator) or `update` (appliance) record seen at
    /// `at_ms`. Other kinds are ignored.
    pub fn apply(
        &mut self,
        index: u64,
        record: &Record,
        at_ms: u64,
        keys: &KeyHistory,
        releases: &ReleaseHistory,
    ) -> Result<(), EngineError> {
        match record.body() {
            ledger_record::Body::Rollout(body) => {
                self.apply_rollout(index, body, at_ms, keys, releases)
            }
            ledger_record::Body::Update(body) => {
                self.apply_update(index, &record.chain(), body, at_ms)
            }
            _ => Ok(()),
        }
    }

    /// Checks that `plan` could be opened as rollout `id` at `index`; returns its
    /// members.
    pub fn check_open(
        &self,
        id: &Id,
        plan: &RolloutPlan,
        index: u64,
        keys: &KeyHistory,
        releases: &ReleaseHistory,
    ) -> Result<BTreeSet<ChainId>, EngineError> {
        if self.rollouts.contains_key(id) {
            return Err(EngineError::Exists(id.clone()));
        }
        if !releases
            .releases()
            .iter()
            .any(|r| r.record_hash == plan.release_hash)
        {
            return Err(EngineError::UnknownRelease(plan.release_hash));
        }
        let members = select_members(plan, keys, index);
        if members.is_empty() {
            return Err(EngineError::NoMembers);
        }
        Ok(members)
    }

    fn apply_rollout(
        &mut self,
        index: u64,
        body: &RolloutBody,
        at_ms: u64,
        keys: &KeyHistory,
        releases: &ReleaseHistory,
    ) -> Result<(), EngineError> {
        if let RolloutAction::Open(plan) = &body.action {
            let members = self.check_open(&body.id, plan, index, keys, releases)?;
            let release = releases
                .releases()
                .iter()
                .find(|r| r.record_hash == plan.release_hash)
                .ok_or(EngineError::UnknownRelease(plan.release_hash))?;
            self.open(index, body.id.clone(), plan, members, release, at_ms);
            return Ok(());
        }
        let rollout = self
            .rollouts
            .get_mut(&body.id)
            .ok_or_else(|| EngineError::Unknown(body.id.clone()))?;
        transition(rollout, index, &body.action, at_ms)
    }

    fn open(
        &mut self,
        index: u64,
        id: Id,
        plan: &RolloutPlan,
        members: BTreeSet<ChainId>,
        release: &ledger_record::LoggedRelease,
        at_ms: u64,
    ) {
        let mut ordered: Vec<ChainId> = members.into_iter().collect();
        ordered.sort_by_key(stable_key);
        let members = ordered
            .into_iter()
            .enumerate()
            .map(|(rank, chain)| {
                let member = Member {
                    rank,
                    state: UpdateState::Assigned,
                    since_ms: at_ms,
                    steps: Vec::new(),
                    timeout: None,
                };
                (chain, member)
            })
            .collect();
        let mut rollout = Rollout {
            id: id.clone(),
            plan: plan.clone(),
            release_index: release.log_index,
            artifact_size: release.release.statement.artifact_size,
            opened_at: index,
            stage: 0,
            stage_started_ms: at_ms,
            status: Status::Active,
            members,
            failures_acknowledged: 0,
            rejections_halted: BTreeSet::new(),
            history: vec![(index, "opened".into(), String::new())],
            tally: Tally::default(),
        };
        rollout.open_stage(at_ms);
        self.rollouts.insert(id, rollout);
    }

    fn apply_update(
        &mut self,
        index: u64,
        chain: &ChainId,
        body: &UpdateBody,
        at_ms: u64,
    ) -> Result<(), EngineError> {
        let rollout = self
            .rollouts
            .get_mut(&body.rollout_id)
            .ok_or_else(|| EngineError::Unknown(body.rollout_id.clone()))?;
        if !rollout.members.contains_key(chain) {
            return Err(EngineError::NotAMember {
                rollout: body.rollout_id.clone(),
                member: chain.clone(),
            });
        }
        if body.release_hash != rollout.plan.release_hash {
            return Err(EngineError::OtherRelease {
                rollout: body.rollout_id.clone(),
            });
        }
        let step = Step {
            state: body.state,
            log_index: index,
            at_ms,
            reason: body.reason.clone(),
            detail: body.detail,
            late: false,
        };
        rollout.set_state(chain, step);
        Ok(())
    }

    /// What the server must record now, at `now_ms`; `stale` says whether an appliance
    /// has stopped checking in. Applying every decision and deciding again gives no more
    /// decisions for the same time except those the applied ones caused (a timeout can
    /// reach the failure threshold).
    pub fn decide(&self, now_ms: u64, stale: &dyn Fn(&ChainId) -> bool) -> Vec<Decision> {
        let mut out = Vec::new();
        for rollout in self.rollouts.values() {
            if rollout.status == Status::Active {
                decide_one(rollout, now_ms, stale, &mut out);
            }
        }
        out
    }

    /// The rollout and release an appliance should install now, if any: it is a member
    /// of an active rollout's current or earlier stage and its update is not over.
    pub fn offer_for(&self, chain: &ChainId) -> Option<&Rollout> {
        self.rollouts
            .values()
            .find(|r| r.status == Status::Active && r.is_open_offer(chain))
    }

    /// The decisions a report by `member` in rollout `id` can cause, without looking at
    /// deadlines (those wait for [`Engine::decide`]): a halt for its verification
    /// rejection or the failure threshold, a stage advance or completion. Costs the same
    /// whatever the fleet's size.
    pub fn decide_after_report(&self, id: &Id, member: &ChainId, now_ms: u64) -> Vec<Decision> {
        let Some(rollout) = self.rollouts.get(id).filter(|r| r.status == Status::Active) else {
            return Vec::new();
        };
        let decision = |action| {
            vec![Decision {
                id: id.clone(),
                action,
            }]
        };
        if let Some(halt) = rejection_halt(rollout, member) {
            return decision(halt);
        }
        if let Some(halt) = threshold_halt(rollout, 0) {
            return decision(halt);
        }
        stage_decision(rollout, now_ms).map_or_else(Vec::new, decision)
    }

    /// Whether an open rollout of the same release already includes one of `members`.
    pub fn overlapping(&self, release_hash: &Hash, members: &BTreeSet<ChainId>) -> Option<&Id> {
        self.rollouts
            .values()
            .filter(|r| r.status.is_open() && r.plan.release_hash == *release_hash)
            .find(|r| members.iter().any(|m| r.members.contains_key(m)))
            .map(|r| &r.id)
    }
}

/// The decisions for one active rollout: verification rejections halt at once; then
/// timeouts; then the failure threshold; then the stage's success.
fn decide_one(
    rollout: &Rollout,
    now_ms: u64,
    stale: &dyn Fn(&ChainId) -> bool,
    out: &mut Vec<Decision>,
) {
    let decision = |action| Decision {
        id: rollout.id.clone(),
        action,
    };
    for chain in rollout.members.keys() {
        if let Some(halt) = rejection_halt(rollout, chain) {
            out.push(decision(halt));
            return;
        }
    }
    let mut timeouts = 0;
    for (chain, m) in rollout.offered() {
        let Some(deadline) = rollout.deadline_ms(m) else {
            continue;
        };
        // An appliance that stopped checking in counts at once, whatever its deadline.
        let offline = stale(chain);
        if offline || now_ms > m.since_ms.saturating_add(deadline) {
            let reason = match m.state {
                _ if offline => TimeoutReason::Offline,
                UpdateState::Offered => TimeoutReason::NotPickedUp,
                UpdateState::Deferred => TimeoutReason::DeferredTooLong,
                _ => TimeoutReason::Silent,
            };
            timeouts += 1;
            out.push(decision(RolloutAction::TimedOut {
                member: chain.clone(),
                last_state: m.state,
                reason,
            }));
        }
    }
    if let Some(halt) = threshold_halt(rollout, timeouts) {
        out.push(decision(halt));
        return;
    }
    if timeouts > 0 {
        return;
    }
    if let Some(action) = stage_decision(rollout, now_ms) {
        out.push(decision(action));
    }
}

/// A halt for `member`'s verification rejection, unless one was recorded already.
fn rejection_halt(rollout: &Rollout, member: &ChainId) -> Option<RolloutAction> {
    let m = rollout.members.get(member)?;
    if m.state != UpdateState::VerifyRejected || rollout.rejections_halted.contains(member) {
        return None;
    }
    let reason = m.steps.last().map_or("", |s| s.reason.as_str());
    Some(RolloutAction::Halted {
        reason: format!("verify_rejected by {member}: {reason}"),
        member: Some(member.clone()),
    })
}

/// A halt when the failures since the last resume, with `timeouts` about to be
/// recorded, reach the limit.
fn threshold_halt(rollout: &Rollout, timeouts: usize) -> Option<RolloutAction> {
    let failures = rollout.failures() + timeouts;
    if failures.saturating_sub(rollout.failures_acknowledged) < rollout.failure_limit() {
        return None;
    }
    Some(RolloutAction::Halted {
        reason: format!(
            "failure threshold: {failures} of {} members failed, rolled back or timed out (limit {})",
            rollout.members.len(),
            rollout.failure_limit()
        ),
        member: None,
    })
}

/// Advance or complete once every offered member finished, enough succeeded, and the
/// soak time passed since the last one finished.
fn stage_decision(rollout: &Rollout, now_ms: u64) -> Option<RolloutAction> {
    let t = &rollout.tally;
    if t.offered_open > 0 || t.offered_ok < stage_size(t.offered, rollout.plan.success_pct) {
        return None;
    }
    if now_ms < t.offered_finished_at.saturating_add(rollout.plan.soak_ms) {
        return None;
    }
    Some(if rollout.stage + 1 >= rollout.plan.stages.len() {
        RolloutAction::Completed
    } else {
        RolloutAction::StageAdvanced {
            stage: rollout.stage as u64 + 1,
        }
    })
}

/// The server's declaration that `member` missed its deadline.
fn time_out(
    rollout: &mut Rollout,
    member: &ChainId,
    reason: TimeoutReason,
    index: u64,
    at_ms: u64,
) {
    let step = Step {
        state: UpdateState::TimedOut,
        log_index: index,
        at_ms,
        reason: reason.as_str().to_owned(),
        detail: 0,
        late: false,
    };
    rollout.set_state(member, step);
    if let Some(m) = rollout.members.get_mut(member) {
        m.timeout = Some(reason);
    }
}

/// The action's name in the history and in errors.
pub fn action_name(action: &RolloutAction) -> &'static str {
    match action {
        RolloutAction::Open(_) => "open",
        RolloutAction::StageAdvanced { .. } => "stage_advanced",
        RolloutAction::Halted { .. } => "halted",
        RolloutAction::Resumed { .. } => "resumed",
        RolloutAction::Paused { .. } => "paused",
        RolloutAction::Cancelled { .. } => "cancelled",
        RolloutAction::TimedOut { .. } => "timed_out",
        RolloutAction::Completed => "completed",
    }
}

/// Applies a transition other than open.
fn transition(
    rollout: &mut Rollout,
    index: u64,
    action: &RolloutAction,
    at_ms: u64,
) -> Result<(), EngineError> {
    let fits = rollout.status.allows(action)
        && match action {
            RolloutAction::StageAdvanced { stage } => *stage as usize == rollout.stage + 1,
            _ => true,
        };
    let (name, note) = match action {
        RolloutAction::Open(_) => return Err(EngineError::Exists(rollout.id.clone())),
        _ if !fits => {
            return Err(EngineError::WrongStatus {
                rollout: rollout.id.clone(),
                status: rollout.status.as_str(),
                action: action_name(action),
            })
        }
        RolloutAction::StageAdvanced { stage } => {
            rollout.stage += 1;
            rollout.open_stage(at_ms);
            ("stage_advanced", format!("stage {}", stage + 1))
        }
        RolloutAction::Halted { reason, member } => {
            if let Some(member) = member {
                rollout.rejections_halted.insert(member.clone());
            }
            rollout.status = Status::Halted {
                reason: reason.clone(),
            };
            ("halted", reason.clone())
        }
        RolloutAction::Resumed { note } => {
            rollout.failures_acknowledged = rollout.failures();
            rollout.status = Status::Active;
            ("resumed", note.clone())
        }
        RolloutAction::Paused { note } => {
            rollout.status = Status::Paused;
            ("paused", note.clone())
        }
        RolloutAction::Cancelled { note } => {
            rollout.status = Status::Cancelled;
            ("cancelled", note.clone())
        }
        RolloutAction::TimedOut { member, reason, .. } => {
            time_out(rollout, member, *reason, index, at_ms);
            ("timed_out", format!("{member}: {}", reason.as_str()))
        }
        RolloutAction::Completed => {
            rollout.status = Status::Completed;
            ("completed", String::new())
        }
    };
    rollout.history.push((index, name.into(), note));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use ledger_record::{
        Body, Deadlines, KeyBody, KeyId, ReleaseBody, ReleaseStatement, SignedRelease,
        UnsignedRecord, Version,
    };

    /// A log's worth of history: `n` enrolled appliances at site `clinic`, one release.
    struct Fixture {
        operator: SigningKey,
        appliances: Vec<(ChainId, SigningKey)>,
        keys: KeyHistory,
        releases: ReleaseHistory,
        release_hash: Hash,
        operator_seq: u64,
        prev: Hash,
        next_index: u64,
    }

    fn id(s: &str) -> Id {
        Id::new(s).unwrap()
    }

    impl Fixture {
        fn new(n: usize) -> Fixture {
            let operator = SigningKey::from_bytes(&[9; 32]);
            let mut f = Fixture {
                keys: KeyHistory::new(operator.verifying_key()),
                operator,
                appliances: Vec::new(),
                releases: ReleaseHistory::new(),
                release_hash: Hash([0; 32]),
                operator_seq: 0,
                prev: Hash([0; 32]),
                next_index: 0,
            };
            for i in 0..n {
                let chain = ChainId::new(id("clinic"), id(&format!("box-{i:02}")));
                let key = SigningKey::from_bytes(&[i as u8 + 10; 32]);
                let body = Body::Key(KeyBody::Enrolment {
                    subject: chain.clone(),
                    public_key: key.verifying_key(),
                    enrolment_token_id: id(&format!("tok-{i}")),
                });
                let (index, record) = f.operator_record(body);
                f.keys.apply(index, &record).unwrap();
                f.appliances.push((chain, key));
            }
            let team = SigningKey::from_bytes(&[7; 32]);
            let enrol = Body::Release(ReleaseBody::KeyEnrolment {
                name: id("team"),
                public_key: team.verifying_key(),
            });
            let (index, record) = f.operator_record(enrol);
            f.releases.apply(&f.keys, index, &record).unwrap();
            let statement = ReleaseStatement {
                version: Version::parse("2").unwrap(),
                channel: id("stable"),
                artifact_sha256: Hash([1; 32]),
                artifact_size: 10_000_000,
                urls: vec!["https://u.example/i".into()],
                min_version: Version::parse("1").unwrap(),
                notes: String::new(),
                key_id: KeyId::of(&team.verifying_key()),
            };
            let signed = SignedRelease::sign(statement, &team).unwrap();
            let (index, record) = f.operator_record(Body::Release(ReleaseBody::Release(signed)));
            f.releases.apply(&f.keys, index, &record).unwrap();
            f.release_hash = record.hash();
            f
        }

        fn operator_record(&mut self, body: Body) -> (u64, Record) {
            self.operator_seq += 1;
            let u = UnsignedRecord {
                site_id: id("operator"),
                appliance_id: id("ledger-operator"),
                sequence: self.operator_seq,
                prev_hash: self.prev,
                time_ms: 1_000,
                key_id: KeyId::of(&self.operator.verifying_key()),
                body,
            };
            let record = Record::sign(u, &self.operator).unwrap();
            self.prev = record.hash();
            self.next_index += 1;
            (self.next_index - 1, record)
        }

        fn plan(&self) -> RolloutPlan {
            RolloutPlan {
                release_hash: self.release_hash,
                sites: vec![id("clinic")],
                appliances: Vec::new(),
                stages: vec![5, 25, 100],
                success_pct: 95,
                failure_pct: 5,
                soak_ms: 1_000,
                deadlines: Deadlines {
                    offered_ms: 60_000,
                    downloading_ms: 60_000,
                    applying_ms: 60_000,
                    rebooting_ms: 60_000,
                    deferred_ms: 60_000,
                },
            }
        }

        /// Applies a rollout action as the server would record it.
        fn rollout(&mut self, engine: &mut Engine, action: RolloutAction, at: u64) {
            let body = Body::Rollout(RolloutBody {
                id: id("r1"),
                action,
            });
            let (index, record) = self.operator_record(body);
            engine
                .apply(index, &record, at, &self.keys, &self.releases)
                .unwrap();
        }

        /// Applies an update step of appliance `i` (its own chain, unsigned order is not
        /// the engine's business).
        fn update(&mut self, engine: &mut Engine, chain: &ChainId, state: UpdateState, at: u64) {
            let (_, key) = self.appliances.iter().find(|(c, _)| c == chain).unwrap();
            let u = UnsignedRecord {
                site_id: chain.site_id.clone(),
                appliance_id: chain.appliance_id.clone(),
                sequence: 1,
                prev_hash: Hash([0; 32]),
                time_ms: at,
                key_id: KeyId::of(&key.verifying_key()),
                body: Body::Update(UpdateBody {
                    rollout_id: id("r1"),
                    release_hash: self.release_hash,
                    state,
                    reason: "test".into(),
                    detail: 0,
                }),
            };
            let record = Record::sign(u, key).unwrap();
            self.next_index += 1;
            engine
                .apply(self.next_index - 1, &record, at, &self.keys, &self.releases)
                .unwrap();
        }
    }

    /// Applies every decision at `at` as the server does, until there are none.
    fn settle(f: &mut Fixture, engine: &mut Engine, at: u64) -> Vec<RolloutAction> {
        let mut taken = Vec::new();
        loop {
            let decisions = engine.decide(at, &|_| false);
            if decisions.is_empty() {
                return taken;
            }
            for d in decisions {
                taken.push(d.action.clone());
                f.rollout(engine, d.action, at);
            }
        }
    }

    fn offered(engine: &Engine) -> Vec<ChainId> {
        let r = engine.rollout(&id("r1")).unwrap();
        r.offered().map(|(c, _)| c.clone()).collect()
    }

    fn succeed_all(f: &mut Fixture, engine: &mut Engine, members: &[ChainId], at: u64) {
        for c in members {
            f.update(engine, c, UpdateState::Acknowledged, at);
            f.update(engine, c, UpdateState::Succeeded, at);
        }
    }

    #[test]
    fn stages_are_the_same_members_every_time_and_advance_after_the_soak() {
        let mut f = Fixture::new(40);
        let mut engine = Engine::new();
        let plan = f.plan();
        f.rollout(
            &mut engine,
            RolloutAction::Open(Box::new(plan.clone())),
            1_000,
        );
        let first = offered(&engine);
        assert_eq!(first.len(), 2, "5% of 40");
        // Another engine, another rollout id order: the same first members.
        let mut again = Engine::new();
        f.rollout(&mut again, RolloutAction::Open(Box::new(plan)), 5_000);
        assert_eq!(offered(&again), first);

        succeed_all(&mut f, &mut engine, &first, 2_000);
        assert!(
            settle(&mut f, &mut engine, 2_500).is_empty(),
            "soak not over"
        );
        // The cheap path after a report decides the same as the full one.
        let after_report = engine.decide_after_report(&id("r1"), &first[1], 3_001);
        assert_eq!(after_report, engine.decide(3_001, &|_| false));
        assert_eq!(
            settle(&mut f, &mut engine, 3_001),
            [RolloutAction::StageAdvanced { stage: 1 }]
        );
        let second = offered(&engine);
        assert_eq!(second.len(), 10, "25% of 40");
        assert!(first.iter().all(|c| second.contains(c)));
        let new: Vec<ChainId> = second
            .iter()
            .filter(|c| !first.contains(c))
            .cloned()
            .collect();
        succeed_all(&mut f, &mut engine, &new, 4_000);
        assert_eq!(
            settle(&mut f, &mut engine, 5_001),
            [RolloutAction::StageAdvanced { stage: 2 }]
        );
        let all = offered(&engine);
        assert_eq!(all.len(), 40);
        let rest: Vec<ChainId> = all
            .iter()
            .filter(|c| !second.contains(c))
            .cloned()
            .collect();
        succeed_all(&mut f, &mut engine, &rest, 6_000);
        assert_eq!(
            settle(&mut f, &mut engine, 7_001),
            [RolloutAction::Completed]
        );
        assert_eq!(engine.rollout(&id("r1")).unwrap().status, Status::Completed);
        assert!(engine.offer_for(&all[0]).is_none());
    }

    #[test]
    fn a_verification_rejection_halts_at_once_and_resume_needs_a_record() {
        let mut f = Fixture::new(40);
        let mut engine = Engine::new();
        f.rollout(&mut engine, RolloutAction::Open(Box::new(f.plan())), 1_000);
        let first = offered(&engine);
        f.update(&mut engine, &first[0], UpdateState::VerifyRejected, 1_500);
        assert_eq!(
            engine.decide_after_report(&id("r1"), &first[0], 1_500),
            engine.decide(1_500, &|_| false)
        );
        let taken = settle(&mut f, &mut engine, 1_500);
        assert!(
            matches!(&taken[..], [RolloutAction::Halted { member: Some(m), reason }] if *m == first[0] && reason.contains("verify_rejected")),
            "{taken:?}"
        );
        assert!(
            engine.offer_for(&first[1]).is_none(),
            "a halted rollout offers nothing"
        );
        // Nothing moves while halted, however long.
        assert!(settle(&mut f, &mut engine, 10_000_000).is_empty());
        f.rollout(
            &mut engine,
            RolloutAction::Resumed {
                note: "bad mirror fixed".into(),
            },
            20_000,
        );
        assert_eq!(engine.rollout(&id("r1")).unwrap().status, Status::Active);
        // The same rejection does not halt it again.
        f.update(&mut engine, &first[1], UpdateState::Succeeded, 20_001);
        assert!(!settle(&mut f, &mut engine, 20_002)
            .iter()
            .any(|a| matches!(a, RolloutAction::Halted { .. })));
    }

    #[test]
    fn silent_and_unpicked_members_time_out_with_their_reason_and_halt() {
        let mut f = Fixture::new(40);
        let mut engine = Engine::new();
        f.rollout(&mut engine, RolloutAction::Open(Box::new(f.plan())), 1_000);
        let first = offered(&engine);
        f.update(&mut engine, &first[0], UpdateState::Downloading, 2_000);
        // Before any deadline: nothing.
        assert!(settle(&mut f, &mut engine, 50_000).is_empty());
        // first[1] never acknowledged (offered at 1,000); first[0] silent since 2,000.
        let taken = settle(&mut f, &mut engine, 62_500);
        let mut reasons: Vec<(ChainId, TimeoutReason)> = taken
            .iter()
            .filter_map(|a| match a {
                RolloutAction::TimedOut { member, reason, .. } => Some((member.clone(), *reason)),
                _ => None,
            })
            .collect();
        reasons.sort_by(|a, b| a.0.cmp(&b.0));
        let mut want = vec![
            (first[0].clone(), TimeoutReason::Silent),
            (first[1].clone(), TimeoutReason::NotPickedUp),
        ];
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(reasons, want);
        // Two failures of 40 members reach max(1, ⌈5% of 40⌉) = 2: halted.
        assert!(matches!(
            taken.last(),
            Some(RolloutAction::Halted { member: None, .. })
        ));
        // A late report is kept but changes nothing.
        f.update(&mut engine, &first[0], UpdateState::Succeeded, 70_000);
        let r = engine.rollout(&id("r1")).unwrap();
        let m = &r.members[&first[0]];
        assert_eq!(m.state, UpdateState::TimedOut);
        assert!(m.steps.last().unwrap().late);
    }

    #[test]
    fn an_offline_member_times_out_at_once_and_stages_need_the_success_threshold() {
        let mut f = Fixture::new(40);
        let mut engine = Engine::new();
        let mut plan = f.plan();
        plan.failure_pct = 100;
        f.rollout(&mut engine, RolloutAction::Open(Box::new(plan)), 1_000);
        let first = offered(&engine);
        f.update(&mut engine, &first[0], UpdateState::Applying, 1_100);
        let stale = first[0].clone();
        let decisions = engine.decide(1_200, &|c| *c == stale);
        assert!(matches!(
            &decisions[..],
            [Decision {
                action: RolloutAction::TimedOut {
                    reason: TimeoutReason::Offline,
                    last_state: UpdateState::Applying,
                    ..
                },
                ..
            }]
        ));
        for d in decisions {
            f.rollout(&mut engine, d.action, 1_200);
        }
        // One of two succeeded: 50% < 95%, so the stage stays.
        f.update(&mut engine, &first[1], UpdateState::Succeeded, 1_300);
        assert!(settle(&mut f, &mut engine, 100_000).is_empty());
        assert_eq!(engine.rollout(&id("r1")).unwrap().stage, 0);
    }

    #[test]
    fn records_that_do_not_fit_change_nothing() {
        let mut f = Fixture::new(4);
        let mut engine = Engine::new();
        let mut plan = f.plan();
        plan.release_hash = Hash([3; 32]);
        let body = Body::Rollout(RolloutBody {
            id: id("r1"),
            action: RolloutAction::Open(Box::new(plan)),
        });
        let (index, record) = f.operator_record(body);
        assert_eq!(
            engine.apply(index, &record, 1, &f.keys, &f.releases),
            Err(EngineError::UnknownRelease(Hash([3; 32])))
        );
        let mut plan = f.plan();
        plan.sites = vec![id("elsewhere")];
        assert_eq!(
            engine.check_open(&id("r1"), &plan, u64::MAX, &f.keys, &f.releases),
            Err(EngineError::NoMembers)
        );
        assert_eq!(stage_size(40, 5), 2);
        assert_eq!(stage_size(3, 5), 1);
        assert_eq!(stage_size(0, 5), 0);
    }
}
