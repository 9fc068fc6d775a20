//! The gate appends pass on their way out: wait for a cosigned checkpoint that covers
//! them. The witness rounds publish into it; the intake only reads it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ledger::CheckpointInfo;
use tokio::sync::watch;

/// What the witness rounds have published so far.
#[derive(Debug, Clone, Default)]
pub struct Witnessed {
    /// The latest checkpoint that met the policy, with the cosignatures merged in.
    pub checkpoint: Option<Arc<CheckpointInfo>>,
    /// Whether the latest round met the quorum (`/healthz`, `/metrics`).
    pub quorum_met: bool,
}

/// How a wait for a covering checkpoint ended.
#[derive(Debug, Clone)]
pub enum Cover {
    /// A cosigned checkpoint of at least the asked size.
    Cosigned(Arc<CheckpointInfo>),
    /// Fail-open: no cosigned checkpoint covers the records yet; answer with the log's
    /// own.
    LogOnly,
    /// Fail-closed: no cosigned checkpoint in time; the records are durable, the client
    /// retries and gets them as duplicates with their receipts.
    NotInTime,
}

/// The intake's read side of witnessing.
#[derive(Debug, Clone)]
pub struct Gate {
    rx: watch::Receiver<Witnessed>,
    fail_closed: bool,
    max_wait: Duration,
    /// The largest log-only checkpoint handed out: receipts while the quorum was not
    /// met, reads before anything was cosigned. `/checkpoint` never answers below it,
    /// so no client sees the log's latest checkpoint shrink.
    log_only_floor: Arc<AtomicU64>,
}

impl Gate {
    /// `floor`: the log's size at start, which log-only receipts of an earlier run may
    /// have reached.
    pub fn new(
        rx: watch::Receiver<Witnessed>,
        fail_closed: bool,
        max_wait: Duration,
        floor: u64,
    ) -> Gate {
        Gate {
            rx,
            fail_closed,
            max_wait,
            log_only_floor: Arc::new(AtomicU64::new(floor)),
        }
    }

    /// Notes that a log-only checkpoint of `size` leaves was handed out.
    pub fn handed_out_log_only(&self, size: u64) {
        self.log_only_floor.fetch_max(size, Ordering::Relaxed);
    }

    /// The size `/checkpoint` must not answer below.
    pub fn log_only_floor(&self) -> u64 {
        self.log_only_floor.load(Ordering::Relaxed)
    }

    pub fn fail_closed(&self) -> bool {
        self.fail_closed
    }

    /// The latest published cosigned checkpoint.
    pub fn latest(&self) -> Option<Arc<CheckpointInfo>> {
        self.rx.borrow().checkpoint.clone()
    }

    /// A cosigned checkpoint of at least `size` leaves. Fail-closed waits for one, at
    /// most `max_wait`. Fail-open never waits: the latest cosigned checkpoint when it
    /// already covers `size`, else the log's own, so witnesses cost appends no latency.
    pub async fn cover(&self, size: u64) -> Cover {
        let covers = move |w: &Witnessed| w.checkpoint.as_ref().is_some_and(|c| c.size >= size);
        if !self.fail_closed {
            return match self.rx.borrow().checkpoint.clone() {
                Some(c) if c.size >= size => Cover::Cosigned(c),
                _ => Cover::LogOnly,
            };
        }
        let mut rx = self.rx.clone();
        let waited = tokio::time::timeout(self.max_wait, rx.wait_for(covers)).await;
        match waited {
            Ok(Ok(w)) => w
                .checkpoint
                .clone()
                .map_or(Cover::NotInTime, Cover::Cosigned),
            _ => Cover::NotInTime,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_core::hash::Hash;

    fn cp(size: u64) -> Arc<CheckpointInfo> {
        Arc::new(CheckpointInfo {
            size,
            root: Hash([0; 32]),
            note: Vec::new(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn fail_closed_waits_for_a_covering_checkpoint_or_gives_up() {
        let (tx, rx) = watch::channel(Witnessed::default());
        let gate = Gate::new(rx, true, Duration::from_secs(5), 0);
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.cover(10).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        tx.send_replace(Witnessed {
            checkpoint: Some(cp(9)),
            quorum_met: true,
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        tx.send_replace(Witnessed {
            checkpoint: Some(cp(12)),
            quorum_met: true,
        });
        assert!(matches!(waiting.await.unwrap(), Cover::Cosigned(c) if c.size == 12));
        assert!(matches!(gate.cover(13).await, Cover::NotInTime));
    }

    #[tokio::test(start_paused = true)]
    async fn fail_open_never_waits() {
        let (tx, rx) = watch::channel(Witnessed {
            checkpoint: Some(cp(3)),
            quorum_met: true,
        });
        let gate = Gate::new(rx, false, Duration::from_secs(3600), 0);
        let started = tokio::time::Instant::now();
        assert!(matches!(gate.cover(10).await, Cover::LogOnly));
        assert!(matches!(gate.cover(3).await, Cover::Cosigned(c) if c.size == 3));
        tx.send_replace(Witnessed {
            checkpoint: Some(cp(12)),
            quorum_met: true,
        });
        assert!(matches!(gate.cover(10).await, Cover::Cosigned(c) if c.size == 12));
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
