//! The uploader (`ledger-agent run`): delivers the outbox in sequence order, in batches,
//! over gRPC (`AppendPipeline`, several batches in flight on one stream) or HTTP
//! (`POST /v1/records/batch`), forever, with exponential backoff and jitter between
//! failed attempts. Alongside it run the check-in heartbeat and housekeeping.
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

use std::future::Future;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::json;

use crate::agent::Agent;
use crate::client::{CheckinOutcome, Client, ItemResult};
use crate::config::Transport;
use crate::error::AgentError;
use crate::outbox::{now_ms, Delivery, Outbox, Pending, Stats};
use crate::trust::Trust;

/// Batches in flight on one gRPC stream.
const GRPC_WINDOW: usize = 8;
/// How long HTTP is used after gRPC failed.
pub const HTTP_FALLBACK_PERIOD: Duration = Duration::from_secs(60);
/// First backoff delay.
const BACKOFF_BASE: Duration = Duration::from_millis(250);
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
}

/// Exponential backoff with "equal jitter": the n-th delay is uniform in
/// [d/2, d] with d = min(cap, base · 2^n).
pub struct Backoff {
    attempt: u32,
    cap: Duration,
}

impl Backoff {
    pub fn new(cap: Duration) -> Backoff {
        Backoff { attempt: 0, cap }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let exp = BACKOFF_BASE.saturating_mul(1u32 << self.attempt.min(20));
        let d = exp.min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let half = d / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }
}

/// The check-in body of contract A (docs/AGENT.md §Check-in).
pub fn checkin_body(stats: &Stats) -> serde_json::Value {
    let health = if !stats.alarms.is_empty() || !stats.trusting_log {
        "alarm"
    } else if stats.last_error.is_some() && stats.outbox_depth > 0 {
        "degraded"
    } else {
        "ok"
    };
    json!({
        "agent_version": env!("CARGO_PKG_VERSION"),
        "outbox_depth": stats.outbox_depth,
        "oldest_undelivered_age_secs": stats.oldest_undelivered_age_secs,
        "last_receipt_index": stats.last_receipt_index,
        "last_checkpoint_size": stats.last_checkpoint_size,
        "health": health,
        "alarms": stats.alarms.iter().map(|a| {
            let mut m = a.message.clone();
            m.truncate(200);
            m
        }).collect::<Vec<_>>(),
    })
}

/// The heartbeat task: one check-in per `interval`, forever. A 404 means a server
/// without the fleet API: logged once, then check-ins continue quietly.
pub async fn checkin_loop(agent_dir: std::path::PathBuf, client: Client, interval: Duration) {
    let mut warned = false;
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        let dir = agent_dir.clone();
        let stats = tokio::task::spawn_blocking(move || Outbox::open(&dir)?.stats(now_ms())).await;
        let stats = match stats {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::warn!("check-in: reading the outbox: {e}");
                continue;
            }
            Err(e) => {
                tracing::warn!("check-in: {e}");
                continue;
            }
        };
        match client.checkin(&checkin_body(&stats)).await {
            Ok(CheckinOutcome::Accepted) => tracing::debug!("check-in accepted"),
            Ok(CheckinOutcome::NotSupported) => {
                if !warned {
                    tracing::warn!(
                        "the server has no fleet API (POST /v1/checkin answered 404); check-ins continue, records are unaffected"
                    );
                    warned = true;
                }
            }
            Ok(CheckinOutcome::Refused { status, message }) => {
                tracing::warn!("check-in refused: HTTP {status}: {message}")
            }
            Err(e) => tracing::debug!("check-in failed: {e}"),
        }
    }
}

struct Uploader<'a> {
    agent: &'a mut Agent,
    client: Client,
    trust: Trust,
    http_until: Option<Instant>,
}

impl Uploader<'_> {
    /// Verifies the answers of one batch in order and marks the verified prefix
    /// delivered. Returns the number delivered, or the first problem (after marking).
    async fn settle(
        &mut self,
        batch: &[Pending],
        answers: Vec<ItemResult>,
    ) -> Result<usize, AgentError> {
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut problem = None;
        for (p, item) in batch.iter().zip(answers) {
            match item {
                ItemResult::Appended(answer) => {
                    match self
                        .trust
                        .verify_answer(&p.bytes, &answer, &self.client, self.agent.outbox_mut())
                        .await
                    {
                        Ok(v) => deliveries.push(Delivery {
                            seq: p.seq,
                            log_index: v.index,
                            receipt: v.receipt,
                        }),
                        Err(e) => {
                            problem = Some(e);
                            break;
                        }
                    }
                }
                ItemResult::Refused { code, message } => {
                    problem = Some(AgentError::Refused {
                        code,
                        message: format!("record sequence {}: {message}", p.seq),
                    });
                    break;
                }
            }
        }
        let n = deliveries.len();
        if n > 0 {
            let latest = self
                .trust
                .latest()
                .map(|c| c.as_str().to_owned())
                .ok_or_else(|| AgentError::BadAnswer("no trusted checkpoint".into()))?;
            let outbox = self.agent.outbox_mut();
            tokio::task::block_in_place(|| outbox.mark_delivered(&deliveries, &latest))?;
        }
        match problem {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    async fn send_http(&mut self, batches: &[Vec<Pending>]) -> Result<usize, AgentError> {
        let mut total = 0;
        for batch in batches {
            let records: Vec<&[u8]> = batch.iter().map(|p| p.bytes.as_slice()).collect();
            let answers = self.client.append_http(&records).await?;
            total += self.settle(batch, answers).await?;
        }
        Ok(total)
    }

    async fn send_grpc(&mut self, batches: &[Vec<Pending>]) -> (usize, Option<AgentError>) {
        let payload = batches
            .iter()
            .map(|b| b.iter().map(|p| p.bytes.clone()).collect())
            .collect();
        let (answers, stream_error) = self.client.append_grpc(payload).await;
        let mut total = 0;
        for (batch, items) in batches.iter().zip(answers) {
            match self.settle(batch, items).await {
                Ok(n) => total += n,
                Err(e) => return (total, Some(e)),
            }
        }
        (total, stream_error)
    }

    /// One delivery attempt of up to a window of batches. Ok(0) means nothing to send.
    async fn cycle(&mut self) -> Result<usize, AgentError> {
        let config = self.agent.config().clone();
        let use_http = config.transport == Transport::Http
            || self.http_until.is_some_and(|t| Instant::now() < t);
        let window = if use_http { 1 } else { GRPC_WINDOW };
        let pending = self.agent.outbox().pending(config.batch_size * window)?;
        if pending.is_empty() {
            return Ok(0);
        }
        let batches: Vec<Vec<Pending>> = pending
            .chunks(config.batch_size)
            .map(<[Pending]>::to_vec)
            .collect();
        if use_http {
            return self.send_http(&batches).await;
        }
        match self.send_grpc(&batches).await {
            (n, None) => Ok(n),
            (0, Some(e)) if e.is_retryable() => {
                tracing::warn!("gRPC upload failed ({e}); falling back to HTTP");
                self.http_until = Some(Instant::now() + HTTP_FALLBACK_PERIOD);
                self.send_http(&batches).await
            }
            (n, Some(e)) if n > 0 && e.is_retryable() => Ok(n),
            (_, Some(e)) => Err(e),
        }
    }
}

/// Runs the uploader until `shutdown` resolves (or, with `until_drained`, until the
/// outbox is empty). Returns an error only for an alarm (the log is no longer trusted)
/// or a local failure; network and server trouble is retried with backoff.
pub async fn run(
    agent: &mut Agent,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, AgentError> {
    if let Some(message) = agent.outbox().untrusted()? {
        return Err(AgentError::Untrusted(message));
    }
    let credential = agent.credential()?;
    agent
        .outbox()
        .active_key_id()?
        .ok_or_else(|| AgentError::NotEnrolled("no active signing key".into()))?;
    let client = agent.client();
    let trust = agent.trust()?;
    let config = agent.config().clone();
    let checkin = tokio::spawn(checkin_loop(
        config.data_dir.clone(),
        Client::new(&config.server_url, None, Some(credential)),
        Duration::from_secs(config.checkin_interval_secs),
    ));
    let mut up = Uploader {
        agent,
        client,
        trust,
        http_until: None,
    };
    let result = drive(&mut up, &config, options, shutdown).await;
    checkin.abort();
    result
}

async fn drive(
    up: &mut Uploader<'_>,
    config: &crate::config::Config,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, AgentError> {
    tokio::pin!(shutdown);
    let mut summary = RunSummary::default();
    let mut backoff = Backoff::new(Duration::from_secs(config.max_backoff_secs));
    let retention = Duration::from_secs(config.retention_days.saturating_mul(86_400));
    let mut next_housekeeping = Instant::now();
    let mut next_checkpoint = Instant::now();
    loop {
        if Instant::now() >= next_housekeeping {
            let outbox = up.agent.outbox_mut();
            match tokio::task::block_in_place(|| outbox.prune(now_ms(), retention)) {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    "pruned {n} delivered records older than {} days",
                    config.retention_days
                ),
                Err(e) => tracing::warn!("housekeeping: {e}"),
            }
            next_housekeeping = Instant::now() + HOUSEKEEPING_PERIOD;
        }
        let attempt = tokio::select! {
            r = up.cycle() => r,
            _ = &mut shutdown => return Ok(summary),
        };
        let wait = match attempt {
            Ok(0) => {
                let due = options.until_drained || Instant::now() >= next_checkpoint;
                if due {
                    let outbox = up.agent.outbox_mut();
                    match up.trust.check_latest(&up.client, outbox).await {
                        Ok(()) => next_checkpoint = Instant::now() + CHECKPOINT_POLL,
                        Err(e) if e.is_alarm() => return Err(e),
                        Err(e) => {
                            summary.failed_attempts += 1;
                            tracing::warn!("checking the latest checkpoint: {e}");
                            let _ = up.agent.outbox().set_last_error(&e.to_string());
                            if options.until_drained {
                                let d = backoff.next_delay();
                                tokio::select! {
                                    _ = tokio::time::sleep(d) => {},
                                    _ = &mut shutdown => return Ok(summary),
                                }
                                continue;
                            }
                        }
                    }
                    if options.until_drained {
                        // Records may have been added while checking.
                        if up.agent.outbox().pending(1)?.is_empty() {
                            return Ok(summary);
                        }
                        continue;
                    }
                }
                IDLE_POLL
            }
            Ok(n) => {
                summary.delivered += n as u64;
                backoff.reset();
                continue;
            }
            Err(e) if e.is_alarm() => return Err(e),
            Err(
                e
                @ (AgentError::Outbox { .. } | AgentError::KeyFile { .. } | AgentError::Io { .. }),
            ) => return Err(e),
            Err(e) => {
                summary.failed_attempts += 1;
                tracing::warn!("upload failed, will retry: {e}");
                let _ = up.agent.outbox().set_last_error(&e.to_string());
                if matches!(e, AgentError::Transient(_)) {
                    up.client.reset_grpc();
                }
                backoff.next_delay()
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {},
            _ = &mut shutdown => return Ok(summary),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(4));
        let mut last_max = Duration::ZERO;
        for n in 0..10 {
            let d = b.next_delay();
            let full = BACKOFF_BASE
                .saturating_mul(1 << n)
                .min(Duration::from_secs(4));
            assert!(
                d >= full / 2 && d <= full,
                "attempt {n}: {d:?} not in [{:?}, {full:?}]",
                full / 2
            );
            last_max = last_max.max(d);
        }
        assert!(last_max <= Duration::from_secs(4));
        b.reset();
        assert!(b.next_delay() <= BACKOFF_BASE);
    }
}
