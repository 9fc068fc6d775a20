//! Staged rollouts of releases (docs/UPDATES.md §4, §5): the engine (`engine.rs`, pure)
//! behind one async lock, the operator's actions (open, pause, resume, cancel), and the
//! task that applies appliances' `update` records as the intake logs them and records
//! the engine's decisions — timeouts, halts, stage advances — as operator records.
//!
//! Every change of a rollout is a record in the log, appended while the engine's lock is
//! held and applied to the engine before it goes, so the engine is always what the log
//! says; on start it is rebuilt from the rollout and update records the intake's
//! persisted state marks (one read per such record, not a scan of the log).

pub mod engine;

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ledger::Log;
use ledger_record::{ChainId, Id, Record, RolloutAction, RolloutBody, RolloutPlan};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Mutex;

use crate::checkins::CheckinStore;
use crate::clock::now_ms;
use crate::intake::{Appended, Intake, IntakeError};
pub use engine::{action_name, Decision, Engine, EngineError, Member, Rollout, Status, Step};

/// How often the engine looks at deadlines when nothing else happens.
pub const TICK: Duration = Duration::from_millis(250);

/// Why a rollout request was refused; nothing was appended.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("rollout {existing} already rolls this release out to some of these appliances")]
    Duplicate { existing: Id },
    #[error("no release {channel} {version} in the log")]
    UnknownRelease { channel: String, version: String },
    #[error("appliance {0} has no valid key in this log")]
    UnknownAppliance(ChainId),
    #[error(transparent)]
    Intake(#[from] IntakeError),
}

/// The rollouts of one log.
pub struct Rollouts {
    engine: Mutex<Engine>,
    intake: Arc<Intake>,
    checkins: Arc<CheckinStore>,
    stale_after_ms: u64,
}

impl Rollouts {
    /// Rebuilds the engine from the log's rollout and update records. Blocking.
    pub fn open(
        log: &Log,
        intake: Arc<Intake>,
        checkins: Arc<CheckinStore>,
        stale_after: Duration,
    ) -> Result<Rollouts, crate::intake::IntakeOpenError> {
        let mut engine = Engine::new();
        let records = crate::intake::derived::fleet_records(log)?;
        {
            let (keys, releases) = intake.histories();
            for (index, record) in &records {
                let applied = engine.apply(*index, record, record.time_ms(), &keys, &releases);
                if let Err(e) = applied {
                    tracing::warn!("rollout record at index {index} changes nothing: {e}");
                }
            }
        }
        if !records.is_empty() {
            tracing::info!(
                "rollouts restored from {} records: {} rollouts",
                records.len(),
                engine.rollouts().count()
            );
        }
        Ok(Rollouts {
            engine: Mutex::new(engine),
            intake,
            checkins,
            stale_after_ms: stale_after.as_millis() as u64,
        })
    }

    /// Runs `f` on the engine as it is now, under its lock: reads take what they need
    /// without copying every rollout (an appliance's offer is asked at every check-in).
    pub async fn read<T>(&self, f: impl FnOnce(&Engine) -> T) -> T {
        f(&*self.engine.lock().await)
    }

    /// Opens rollout `id` with `plan`: the release must be in the log, every named
    /// appliance must have a valid key, the plan must select at least one appliance and
    /// no open rollout of the same release may include any of them.
    pub async fn open_rollout(&self, id: Id, plan: RolloutPlan) -> Result<Appended, RolloutError> {
        let mut engine = self.engine.lock().await;
        self.check_plan(&engine, &id, &plan)?;
        let body = RolloutBody {
            id,
            action: RolloutAction::Open(Box::new(plan)),
        };
        self.record(&mut engine, body).await
    }

    /// The checks of [`Rollouts::open_rollout`] against the engine and the histories.
    fn check_plan(&self, engine: &Engine, id: &Id, plan: &RolloutPlan) -> Result<(), RolloutError> {
        let (keys, releases) = self.intake.histories();
        for chain in &plan.appliances {
            if keys.key_at(chain, u64::MAX).is_none() {
                return Err(RolloutError::UnknownAppliance(chain.clone()));
            }
        }
        let members = engine.check_open(id, plan, u64::MAX, &keys, &releases)?;
        match engine.overlapping(&plan.release_hash, &members) {
            Some(existing) => Err(RolloutError::Duplicate {
                existing: existing.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Pauses, resumes or cancels rollout `id` with the operator's `action`.
    pub async fn operator_action(
        &self,
        id: Id,
        action: RolloutAction,
    ) -> Result<Appended, RolloutError> {
        let mut engine = self.engine.lock().await;
        let rollout = engine
            .rollout(&id)
            .ok_or_else(|| EngineError::Unknown(id.clone()))?;
        let operators = matches!(
            action,
            RolloutAction::Paused { .. }
                | RolloutAction::Resumed { .. }
                | RolloutAction::Cancelled { .. }
        );
        if !operators || !rollout.status.allows(&action) {
            return Err(EngineError::WrongStatus {
                rollout: id,
                status: rollout.status.as_str(),
                action: action_name(&action),
            }
            .into());
        }
        self.record(&mut engine, RolloutBody { id, action }).await
    }

    /// Appends `body` on the operator chain and applies it to the engine.
    async fn record(
        &self,
        engine: &mut Engine,
        body: RolloutBody,
    ) -> Result<Appended, RolloutError> {
        let (record, appended) = self.intake.append_rollout(body).await?;
        let (keys, releases) = self.intake.histories();
        let applied = engine.apply(appended.index, &record, now_ms(), &keys, &releases);
        if let Err(e) = applied {
            // The record was checked against this state under this lock.
            tracing::error!(
                "logged rollout record at {} not applied: {e}",
                appended.index
            );
        }
        Ok(appended)
    }

    /// Applies a logged update record, then records what it decided.
    async fn on_update(&self, index: u64, record: Record) {
        let mut engine = self.engine.lock().await;
        {
            let (keys, releases) = self.intake.histories();
            if let Err(e) = engine.apply(index, &record, now_ms(), &keys, &releases) {
                tracing::warn!("update record at index {index} changes no rollout: {e}");
                return;
            }
        }
        let ledger_record::Body::Update(update) = record.body() else {
            return;
        };
        let decisions = engine.decide_after_report(&update.rollout_id, &record.chain(), now_ms());
        for Decision { id, action } in decisions {
            if let Err(e) = self.record(&mut engine, RolloutBody { id, action }).await {
                tracing::warn!("rollout decision not recorded (retried next tick): {e}");
            }
        }
    }

    /// Records every decision the engine takes now, until it takes none.
    async fn decide(&self, engine: &mut Engine) {
        // Each round's decisions are applied before the next is asked for; a round can
        // only cause a halt or completion, so this ends within a few rounds.
        for _ in 0..4 {
            let stale = self.stale_members(engine).await;
            let decisions = engine.decide(now_ms(), &|chain| stale.contains(chain));
            if decisions.is_empty() {
                return;
            }
            for Decision { id, action } in decisions {
                if let Err(e) = self.record(engine, RolloutBody { id, action }).await {
                    tracing::warn!("rollout decision not recorded (retried next tick): {e}");
                    return;
                }
            }
        }
    }

    /// Members of active rollouts whose last check-in is older than the stale period
    /// (appliances that never checked in are not counted as stale).
    async fn stale_members(&self, engine: &Engine) -> HashSet<ChainId> {
        let sites: BTreeSet<String> = engine
            .rollouts()
            .filter(|r| r.status == Status::Active)
            .flat_map(|r| r.members.keys().map(|c| c.site_id.as_str().to_owned()))
            .collect();
        if sites.is_empty() {
            return HashSet::new();
        }
        let checkins = self.checkins.clone();
        let (now, stale_after) = (now_ms(), self.stale_after_ms);
        let read = crate::blocking::blocking(move || {
            let mut stale = HashSet::new();
            for site in sites {
                for (appliance, c) in checkins.site(&site)? {
                    if now.saturating_sub(c.received_at_ms) > stale_after {
                        if let (Ok(s), Ok(a)) = (Id::new(site.clone()), Id::new(appliance)) {
                            stale.insert(ChainId::new(s, a));
                        }
                    }
                }
            }
            Ok::<_, crate::checkins::CheckinStoreError>(stale)
        })
        .await;
        match read {
            Ok(Ok(stale)) => stale,
            Ok(Err(e)) => {
                tracing::warn!("reading check-ins for the rollout engine: {e}");
                HashSet::new()
            }
            Err(e) => {
                tracing::warn!("reading check-ins for the rollout engine: {e}");
                HashSet::new()
            }
        }
    }
}

/// The task: applies update records as they are logged and looks at deadlines every
/// [`TICK`], until `stop` turns true.
pub async fn run(
    rollouts: Arc<Rollouts>,
    mut feed: UnboundedReceiver<(u64, Record)>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
            update = feed.recv() => match update {
                Some((index, record)) => rollouts.on_update(index, record).await,
                None => return,
            },
            _ = tick.tick() => {
                let mut engine = rollouts.engine.lock().await;
                if engine.rollouts().any(|r| r.status == Status::Active) {
                    rollouts.decide(&mut engine).await;
                }
            }
        }
    }
}

/// The rollout gauges of `/metrics`: per rollout its stage, its status and its members
/// per state.
pub fn write_metrics(engine: &Engine, out: &mut crate::metrics::exposition::Exposition) {
    use crate::metrics::exposition::Kind;
    let rollouts: Vec<&Rollout> = engine.rollouts().collect();
    if rollouts.is_empty() {
        return;
    }
    out.family(
        "ledger_rollout_stage",
        "current stage of each rollout, 1-based",
        Kind::Gauge,
    );
    for r in &rollouts {
        out.sample(
            "ledger_rollout_stage",
            &[("rollout", r.id.as_str())],
            r.stage + 1,
        );
    }
    out.family(
        "ledger_rollout_status",
        "1 for each rollout's current status",
        Kind::Gauge,
    );
    for r in &rollouts {
        let labels = [("rollout", r.id.as_str()), ("status", r.status.as_str())];
        out.sample("ledger_rollout_status", &labels, 1);
    }
    out.family(
        "ledger_rollout_members",
        "members of each rollout by update state",
        Kind::Gauge,
    );
    for r in &rollouts {
        let mut counts = std::collections::BTreeMap::new();
        for m in r.members.values() {
            *counts.entry(m.state.as_str()).or_insert(0u64) += 1;
        }
        for (state, n) in counts {
            let labels = [("rollout", r.id.as_str()), ("state", state)];
            out.sample("ledger_rollout_members", &labels, n);
        }
    }
}
