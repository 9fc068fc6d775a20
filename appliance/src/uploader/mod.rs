//! The uploader (`ledger-agent run`): delivers the outbox in sequence order, in batches,
//! over gRPC (several batches in flight on one stream) or HTTP, forever, with
//! exponential backoff and jitter between failed attempts. Alongside it run the check-in
//! heartbeat and housekeeping. This module is the loop that ties them together:
//! [`deliver`] sends batches and checks receipts, [`checkin`] is the heartbeat,
//! [`backoff`] the retry policy.
//!
//! Order: records are read from the outbox in sequence order and a batch's answers are
//! processed in order; only the verified prefix of an answer is marked delivered, so the
//! outbox's "delivered" set is always a prefix of the chain. Retries send identical
//! bytes; the server answers a record it already has with its original index
//! ("duplicate"), so a retry after a crash or a lost answer never logs a record twice.
//!
//! Healing escalations do not jump ahead of routine evidence: sequence numbers are
//! assigned when a record is made, and the server only accepts sequence = last + 1, so
//! delivering a later record first would be refused. What the agent does instead is
//! deliver without waiting: the outbox is drained continuously, so an escalation waits
//! only for the records made before it (docs/AGENT.md §Ordering).
//!
//! Fallback: with `transport = "grpc"`, an attempt that fails for network reasons is
//! retried at once over HTTP, and HTTP stays in use for [`HTTP_FALLBACK_PERIOD`] before
//! gRPC is tried again.
//!
//! The outbox is reached only through [`SharedOutbox::call`], never directly from this
//! async code (see [`crate::shared_outbox`] for why).

mod backoff;
mod checkin;
mod deliver;

use std::future::Future;
use std::time::{Duration, Instant};

pub use backoff::Backoff;
pub use checkin::{checkin_body, checkin_loop};
pub use deliver::HTTP_FALLBACK_PERIOD;

use crate::agent::Agent;
use crate::client::Client;
use crate::error::AgentError;
use crate::outbox::now_ms;
use crate::shared_outbox::SharedOutbox;
use crate::trust::Trust;
use deliver::Deliverer;

/// How often an idle uploader looks for new records in the outbox.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How often an idle uploader checks the log's latest checkpoint.
const CHECKPOINT_POLL: Duration = Duration::from_secs(30);
/// How often housekeeping (pruning, vacuum) runs.
const HOUSEKEEPING_PERIOD: Duration = Duration::from_secs(3600);

/// Options of [`run`].
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Return once the outbox is empty (after a final check of the latest checkpoint)
    /// instead of running forever.
    pub until_drained: bool,
}

/// What a finished [`run`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub delivered: u64,
    pub failed_attempts: u64,
    /// Attempts whose receipts were genuine but whose checkpoint did not meet the
    /// witness quorum yet (`witness_policy`); the records stayed in the outbox.
    pub awaiting_witnesses: u64,
}

/// Runs the uploader until `shutdown` resolves (or, with `until_drained`, until the
/// outbox is empty). Returns an error only for an alarm (the log is no longer trusted)
/// or a local failure; network and server trouble is retried with backoff.
pub async fn run(
    agent: &mut Agent,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, AgentError> {
    let outbox = agent.shared_outbox();
    if let Some(message) = outbox.call(|o| o.untrusted()).await? {
        return Err(AgentError::Untrusted(message));
    }
    let credential = agent.credential()?;
    outbox
        .call(|o| o.active_key_id())
        .await?
        .ok_or_else(|| AgentError::NotEnrolled("no active signing key".into()))?;
    let client = agent.client();
    let stored = outbox.call(|o| o.checkpoint()).await?;
    let config = agent.config().clone();
    let trust = Trust::new(agent.log_key().clone(), &config.data_dir, stored.as_deref())?
        .with_witnesses(agent.witness_policy().cloned());
    let checkin = tokio::spawn(checkin_loop(
        outbox.clone(),
        Client::new(&config.server_url, None, Some(credential)),
        Duration::from_secs(config.checkin_interval_secs),
    ));
    let mut uploader = Uploader {
        deliverer: Deliverer::new(client, trust, outbox.clone(), &config),
        outbox,
        retention: Duration::from_secs(config.retention_days.saturating_mul(86_400)),
        retention_days: config.retention_days,
        until_drained: options.until_drained,
        summary: RunSummary::default(),
        backoff: Backoff::new(Duration::from_secs(config.max_backoff_secs)),
        next_housekeeping: Instant::now(),
        next_checkpoint: Instant::now(),
    };
    let result = uploader.drive(shutdown).await;
    checkin.abort();
    result
}

/// The uploader loop's state across attempts.
struct Uploader {
    deliverer: Deliverer,
    outbox: SharedOutbox,
    retention: Duration,
    retention_days: u64,
    until_drained: bool,
    summary: RunSummary,
    backoff: Backoff,
    next_housekeeping: Instant,
    next_checkpoint: Instant,
}

/// What the loop does after an attempt.
enum Step {
    /// Try again at once.
    Again,
    /// Try again after this pause (cut short by shutdown).
    Pause(Duration),
    /// The outbox is empty and the run was asked to stop then.
    Drained,
}

impl Uploader {
    async fn drive(
        &mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<RunSummary, AgentError> {
        tokio::pin!(shutdown);
        loop {
            if Instant::now() >= self.next_housekeeping {
                self.housekeeping().await;
                self.next_housekeeping = Instant::now() + HOUSEKEEPING_PERIOD;
            }
            let attempt = tokio::select! {
                r = self.deliverer.deliver_window() => r,
                _ = &mut shutdown => return Ok(self.summary.clone()),
            };
            let pause = match self.after_attempt(attempt).await? {
                Step::Again => continue,
                Step::Drained => return Ok(self.summary.clone()),
                Step::Pause(pause) => pause,
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {},
                _ = &mut shutdown => return Ok(self.summary.clone()),
            }
        }
    }

    /// Prunes delivered records older than the retention period.
    async fn housekeeping(&mut self) {
        let retention = self.retention;
        match self
            .outbox
            .call(move |o| o.prune(now_ms(), retention))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                "pruned {n} delivered records older than {} days",
                self.retention_days
            ),
            Err(e) => tracing::warn!("housekeeping: {e}"),
        }
    }

    /// Counts a delivery attempt's outcome and decides what comes next. Alarms and
    /// local failures end the run; server and network trouble is retried with backoff.
    async fn after_attempt(
        &mut self,
        attempt: Result<usize, AgentError>,
    ) -> Result<Step, AgentError> {
        match attempt {
            Ok(0) => self.when_idle().await,
            Ok(n) => {
                self.summary.delivered += n as u64;
                self.backoff.reset();
                Ok(Step::Again)
            }
            Err(e) if e.is_alarm() => Err(e),
            Err(
                e
                @ (AgentError::Outbox { .. } | AgentError::KeyFile { .. } | AgentError::Io { .. }),
            ) => Err(e),
            Err(e @ AgentError::AwaitingWitnesses(_)) => {
                // Not a failure: the log has the records, the witnesses have not
                // cosigned a checkpoint covering them yet. Retried with backoff; the
                // answers then are duplicates with the cosigned checkpoint.
                tracing::info!("{e}; the records stay in the outbox, will retry");
                self.summary.awaiting_witnesses += 1;
                let message = e.to_string();
                let _ = self.outbox.call(move |o| o.set_last_error(&message)).await;
                Ok(Step::Pause(self.backoff.next_delay()))
            }
            Err(e) => {
                tracing::warn!("upload failed, will retry: {e}");
                self.count_failure(&e).await;
                if e.is_transient() {
                    self.deliverer.reset_grpc();
                }
                Ok(Step::Pause(self.backoff.next_delay()))
            }
        }
    }

    /// Nothing to send: checks the latest checkpoint when due (always when draining),
    /// then either finishes a drained run or waits for new records.
    async fn when_idle(&mut self) -> Result<Step, AgentError> {
        let due = self.until_drained || Instant::now() >= self.next_checkpoint;
        if !due {
            return Ok(Step::Pause(IDLE_POLL));
        }
        match self.deliverer.check_latest().await {
            Ok(()) => self.next_checkpoint = Instant::now() + CHECKPOINT_POLL,
            Err(e) if e.is_alarm() => return Err(e),
            Err(e) => {
                tracing::warn!("checking the latest checkpoint: {e}");
                self.count_failure(&e).await;
                if self.until_drained {
                    return Ok(Step::Pause(self.backoff.next_delay()));
                }
            }
        }
        if !self.until_drained {
            return Ok(Step::Pause(IDLE_POLL));
        }
        // Records may have been added while checking.
        if self.outbox.call(|o| o.pending(1)).await?.is_empty() {
            return Ok(Step::Drained);
        }
        Ok(Step::Again)
    }

    /// Counts a failed attempt and remembers it for `status` (best effort).
    async fn count_failure(&mut self, e: &AgentError) {
        self.summary.failed_attempts += 1;
        let message = e.to_string();
        let _ = self.outbox.call(move |o| o.set_last_error(&message)).await;
    }
}
