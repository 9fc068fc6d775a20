//! Delivery: sending outbox batches to ledgerd and checking the answers that come back.
//!
//! One attempt takes up to a window of batches from the outbox, oldest first, and sends
//! them over gRPC (`AppendPipeline`, [`GRPC_WINDOW`] batches in flight on one stream) or
//! HTTP (`POST /v1/records/batch`, one batch per request). A batch's answers are checked
//! in order (record hash, receipt signature with the pinned key, inclusion, consistency
//! of the receipt's checkpoint with the trusted one); only the verified prefix is marked
//! delivered, so the outbox's "delivered" set is always a prefix of the chain.
//!
//! Fallback: with `transport = "grpc"`, an attempt that fails for network reasons before
//! anything was delivered is retried at once over HTTP, and HTTP stays in use for
//! [`HTTP_FALLBACK_PERIOD`] before gRPC is tried again.

use std::time::{Duration, Instant};

use crate::client::{Client, ItemResult};
use crate::config::{Config, Transport};
use crate::error::AgentError;
use crate::outbox::{Delivery, Pending};
use crate::shared_outbox::SharedOutbox;
use crate::trust::Trust;

/// Batches in flight on one gRPC stream.
const GRPC_WINDOW: usize = 8;
/// How long HTTP is used after gRPC failed.
pub const HTTP_FALLBACK_PERIOD: Duration = Duration::from_secs(60);
/// Longest a gRPC attempt (one stream, up to [`GRPC_WINDOW`] batches) may take. The
/// channel's request timeout ends when the response headers arrive, and the server
/// sends those at once; the answers that follow are not covered by it. A server that
/// stops answering mid-stream (frozen, or behind a connection gone half-open) would
/// otherwise hold the attempt, and the whole uploader, forever. Bounded like one HTTP
/// request (the client's 60 s request timeout); answers received before the deadline are
/// dropped with the attempt, and the retry gets them back as duplicates.
const GRPC_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends outbox records and settles the answers: the client, the trusted view of the
/// log, and which transport is in use.
pub(super) struct Deliverer {
    client: Client,
    trust: Trust,
    outbox: SharedOutbox,
    transport: Transport,
    batch_size: usize,
    /// While set and in the future, HTTP is used although gRPC is configured.
    http_until: Option<Instant>,
}

/// The verified prefix of one batch's answers, and the problem that ended it (if any).
struct Settled {
    deliveries: Vec<Delivery>,
    problem: Option<AgentError>,
}

impl Deliverer {
    pub(super) fn new(client: Client, trust: Trust, outbox: SharedOutbox, config: &Config) -> Self {
        Deliverer {
            client,
            trust,
            outbox,
            transport: config.transport,
            batch_size: config.batch_size,
            http_until: None,
        }
    }

    /// One delivery attempt of up to a window of batches. Ok(0) means nothing to send.
    pub(super) async fn deliver_window(&mut self) -> Result<usize, AgentError> {
        let use_http = self.transport == Transport::Http
            || self.http_until.is_some_and(|t| Instant::now() < t);
        let window = if use_http { 1 } else { GRPC_WINDOW };
        let limit = self.batch_size * window;
        let pending = self.outbox.call(move |o| o.pending(limit)).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let batches: Vec<Vec<Pending>> = pending
            .chunks(self.batch_size)
            .map(<[Pending]>::to_vec)
            .collect();
        if use_http {
            return self.send_http(&batches).await;
        }
        match self.send_grpc(&batches).await {
            (n, None) => Ok(n),
            (0, Some(e)) if e.is_transient() => {
                tracing::warn!("gRPC upload failed ({e}); falling back to HTTP");
                self.http_until = Some(Instant::now() + HTTP_FALLBACK_PERIOD);
                self.send_http(&batches).await
            }
            (n, Some(e)) if n > 0 && e.is_transient() => Ok(n),
            (_, Some(e)) => Err(e),
        }
    }

    /// Fetches the log's latest checkpoint and checks it against the trusted one.
    pub(super) async fn check_latest(&mut self) -> Result<(), AgentError> {
        self.trust.check_latest(&self.client, &self.outbox).await
    }

    /// Drops the gRPC connection so the next attempt opens a fresh one.
    pub(super) fn reset_grpc(&mut self) {
        self.client.reset_grpc();
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
        let attempt = tokio::time::timeout(GRPC_ATTEMPT_TIMEOUT, self.client.append_grpc(payload));
        let Ok((answers, stream_error)) = attempt.await else {
            // The stalled connection is dropped so the next attempt opens a fresh one.
            self.client.reset_grpc();
            let e = AgentError::Transient(format!(
                "gRPC upload: no complete answer within {} s",
                GRPC_ATTEMPT_TIMEOUT.as_secs()
            ));
            return (0, Some(e));
        };
        let mut total = 0;
        for (batch, items) in batches.iter().zip(answers) {
            match self.settle(batch, items).await {
                Ok(n) => total += n,
                Err(e) => return (total, Some(e)),
            }
        }
        (total, stream_error)
    }

    /// Verifies the answers of one batch in order and marks the verified prefix
    /// delivered. Returns the number delivered, or the first problem (after marking).
    async fn settle(
        &mut self,
        batch: &[Pending],
        answers: Vec<ItemResult>,
    ) -> Result<usize, AgentError> {
        let Settled {
            deliveries,
            problem,
        } = self.verify_prefix(batch, answers).await;
        let delivered = deliveries.len();
        if delivered > 0 {
            self.mark_delivered(deliveries).await?;
        }
        match problem {
            Some(e) => Err(e),
            None => Ok(delivered),
        }
    }

    /// Checks the answers in order up to the first one that is refused or does not
    /// verify.
    async fn verify_prefix(&mut self, batch: &[Pending], answers: Vec<ItemResult>) -> Settled {
        let mut deliveries = Vec::with_capacity(batch.len());
        for (pending, item) in batch.iter().zip(answers) {
            let answer = match item {
                ItemResult::Appended(answer) => answer,
                ItemResult::Refused { code, message } => {
                    let message = format!("record sequence {}: {message}", pending.seq);
                    let problem = Some(AgentError::Refused { code, message });
                    return Settled {
                        deliveries,
                        problem,
                    };
                }
            };
            let verified = self
                .trust
                .verify_answer(&pending.bytes, &answer, &self.client, &self.outbox)
                .await;
            match verified {
                Ok(v) => deliveries.push(Delivery {
                    seq: pending.seq,
                    log_index: v.index,
                    receipt: v.receipt,
                }),
                Err(e) => {
                    return Settled {
                        deliveries,
                        problem: Some(e),
                    }
                }
            }
        }
        Settled {
            deliveries,
            problem: None,
        }
    }

    /// Marks verified records delivered, together with the latest trusted checkpoint.
    async fn mark_delivered(&mut self, deliveries: Vec<Delivery>) -> Result<(), AgentError> {
        let latest = self
            .trust
            .latest()
            .map(|c| c.as_str().to_owned())
            .ok_or_else(|| AgentError::BadAnswer("no trusted checkpoint".into()))?;
        self.outbox
            .call(move |o| o.mark_delivered(&deliveries, &latest))
            .await
    }
}
