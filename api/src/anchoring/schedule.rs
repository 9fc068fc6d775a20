//! The schedule: the background task that stamps and upgrades. The latest signed
//! checkpoint is stamped when the log has grown since the previous stamp and either
//! `anchor_interval_secs` have passed since the previous attempt or
//! `anchor_every_entries` entries arrived; however many records arrive in an interval,
//! that is one submission per calendar. A failed stamp is retried at the next interval
//! with the then latest checkpoint. An operator can end the interval early
//! ([`Anchoring::request_stamp`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::record::StampStatus;
use super::Anchoring;

/// How often the background task wakes up to check its clocks.
const TICK: Duration = Duration::from_millis(200);

/// What the schedule remembers between ticks.
struct Schedule {
    last_attempt: Instant,
    /// Tree size of the newest stamp attempt.
    last_size: u64,
    /// Whether that attempt failed (then the next interval retries even if the log has
    /// not grown).
    last_failed: bool,
}

impl Schedule {
    /// Starts from the newest stored stamp.
    fn resume(anchoring: &Anchoring) -> Schedule {
        let (last_size, last_failed) = anchoring
            .store
            .summary()
            .iter()
            .next_back()
            .map_or((0, false), |(size, (status, _))| {
                (*size, *status == StampStatus::Failed)
            });
        Schedule {
            last_attempt: Instant::now(),
            last_size,
            last_failed,
        }
    }

    /// One tick: a stamp if one is due, then the upgrade rounds that are due.
    async fn round(&mut self, anchoring: &Anchoring) {
        let settings = anchoring.settings();
        let size = anchoring.published().size;
        let requested = anchoring.stamp_requested.swap(false, Ordering::SeqCst);
        let interval_over = requested || self.last_attempt.elapsed() >= settings.interval;
        let due = (size > self.last_size && interval_over)
            || (size >= self.last_size.saturating_add(settings.every_entries))
            || (self.last_failed && interval_over && size > 0);
        if due {
            self.last_attempt = Instant::now();
            match anchoring.stamp_latest().await {
                Ok(Some(record)) => {
                    self.last_size = record.tree_size;
                    self.last_failed = record.status == StampStatus::Failed;
                }
                Ok(None) => {
                    self.last_size = size;
                    self.last_failed = false;
                }
                Err(e) => tracing::error!(error = %e, "anchoring: storing a stamp failed"),
            }
        }
        if let Err(e) = anchoring.upgrade_due(false).await {
            tracing::error!(error = %e, "anchoring: upgrade round failed");
        }
    }
}

/// The schedule: stamps and upgrades until `shutdown` flips to true.
pub async fn run(anchoring: Arc<Anchoring>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    if anchoring.client.is_none() {
        return;
    }
    let mut schedule = Schedule::resume(&anchoring);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        // The round runs against the shutdown signal: a slow calendar must not hold up
        // a stop. A round cut short stores nothing half-done (records are saved whole).
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = schedule.round(&anchoring) => {}
        }
    }
}
