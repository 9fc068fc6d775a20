//! The publisher's figures (`ledger_publish_*` on `/metrics`) and its state for
//! `/healthz`: what the bucket holds, how far it trails the log, and what went wrong.
//! Kept beside the intake's counters so the metrics page and the health answer find
//! them without knowing the publisher.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::exposition::{Exposition, Kind};

/// Upper bounds of the publication lag histogram, in seconds.
const LAG_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0,
];

/// Where the publisher stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PublishState {
    /// Not configured (no `publish_bucket`).
    #[default]
    Off,
    /// Reading and checking the bucket's checkpoint.
    Starting,
    /// The bucket's checkpoint is the latest one, or publication is under way.
    Ok,
    /// The last attempt failed; retrying with back-off.
    Failing,
    /// The bucket disagrees with the log (its checkpoint or an object); nothing more is
    /// written until an operator resolves it and restarts.
    Refused,
}

impl PublishState {
    pub fn as_str(self) -> &'static str {
        match self {
            PublishState::Off => "off",
            PublishState::Starting => "starting",
            PublishState::Ok => "ok",
            PublishState::Failing => "failing",
            PublishState::Refused => "refused",
        }
    }
}

/// What `/healthz` says about the publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishHealth {
    pub state: PublishState,
    /// Tree size of the checkpoint in the bucket.
    pub published_size: u64,
    /// The last failure or the reason of a refusal.
    pub last_error: Option<String>,
}

/// The publisher's counters.
#[derive(Debug, Default)]
pub struct PublishMetrics {
    /// Tree size of the checkpoint object in the bucket.
    pub published_size: AtomicU64,
    /// Objects written by this process.
    pub written: AtomicU64,
    /// Immutable objects already in the bucket with the same bytes.
    pub skipped_equal: AtomicU64,
    /// Immutable objects already in the bucket with other bytes.
    pub conflicts: AtomicU64,
    /// Failed publication attempts (bucket unreachable, refused requests, …).
    pub failures: AtomicU64,
    status: Mutex<(PublishState, Option<String>)>,
    lag_buckets: [AtomicU64; LAG_BUCKETS.len()],
    lag_count: AtomicU64,
    lag_sum_us: AtomicU64,
    last_lag_us: AtomicU64,
}

impl PublishMetrics {
    pub fn set_state(&self, state: PublishState, error: Option<String>) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = (state, error);
    }

    /// The state and last error, `None` when the publisher is not configured.
    pub fn health(&self) -> Option<PublishHealth> {
        let (state, last_error) = self
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        (state != PublishState::Off).then(|| PublishHealth {
            state,
            published_size: self.published_size.load(Ordering::Relaxed),
            last_error,
        })
    }

    /// Records the time from a checkpoint being signed to its object being written.
    pub fn observe_lag(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, counter) in LAG_BUCKETS.iter().zip(&self.lag_buckets) {
            if secs <= *bound {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.lag_count.fetch_add(1, Ordering::Relaxed);
        let us = d.as_micros() as u64;
        self.lag_sum_us.fetch_add(us, Ordering::Relaxed);
        self.last_lag_us.store(us, Ordering::Relaxed);
    }

    /// Writes the `ledger_publish_*` series when the publisher is configured;
    /// `log_size` is the log's latest size.
    pub fn write(&self, log_size: u64, out: &mut Exposition) {
        let Some(health) = self.health() else {
            return;
        };
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let figures: [(&str, &str, Kind, u64); 4] = [
            (
                "ledger_publish_size",
                "Tree size of the checkpoint object in the bucket.",
                Kind::Gauge,
                health.published_size,
            ),
            (
                "ledger_publish_lag_entries",
                "Entries of the log's latest checkpoint not yet covered by the bucket's.",
                Kind::Gauge,
                log_size.saturating_sub(health.published_size),
            ),
            (
                "ledger_publish_failures_total",
                "Publication attempts that failed (retried with back-off).",
                Kind::Counter,
                load(&self.failures),
            ),
            (
                "ledger_publish_refused",
                "1 while the publisher refuses to write: the bucket disagrees with the log.",
                Kind::Gauge,
                u64::from(health.state == PublishState::Refused),
            ),
        ];
        for (name, help, kind, value) in figures {
            out.single(name, help, kind, value);
        }
        let name = "ledger_publish_objects_total";
        out.family(name, "Objects published, by outcome.", Kind::Counter);
        out.sample(name, &[("outcome", "written")], load(&self.written));
        out.sample(name, &[("outcome", "equal")], load(&self.skipped_equal));
        out.sample(name, &[("outcome", "conflict")], load(&self.conflicts));
        self.write_lag(out);
    }

    fn write_lag(&self, out: &mut Exposition) {
        let last = self.last_lag_us.load(Ordering::Relaxed) as f64 / 1e6;
        out.single(
            "ledger_publish_last_lag_seconds",
            "Seconds from the last published checkpoint being signed to its object written.",
            Kind::Gauge,
            last,
        );
        let name = "ledger_publish_lag_seconds";
        let bucket = "ledger_publish_lag_seconds_bucket";
        out.family(
            name,
            "Seconds from a checkpoint being signed to its checkpoint object written.",
            Kind::Histogram,
        );
        for (bound, counter) in LAG_BUCKETS.iter().zip(&self.lag_buckets) {
            let le = bound.to_string();
            out.sample(bucket, &[("le", &le)], counter.load(Ordering::Relaxed));
        }
        let count = self.lag_count.load(Ordering::Relaxed);
        out.sample(bucket, &[("le", "+Inf")], count);
        let sum = self.lag_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        out.sample("ledger_publish_lag_seconds_sum", &[], sum);
        out.sample("ledger_publish_lag_seconds_count", &[], count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_written_while_off_and_every_series_once_on() {
        let m = PublishMetrics::default();
        let mut out = Exposition::new();
        m.write(10, &mut out);
        assert!(!out.finish().contains("ledger_publish"));
        m.set_state(PublishState::Ok, None);
        m.published_size.store(4, Ordering::Relaxed);
        m.observe_lag(Duration::from_millis(300));
        let mut out = Exposition::new();
        m.write(10, &mut out);
        let page = out.finish();
        assert!(page.contains("ledger_publish_size 4"), "{page}");
        assert!(page.contains("ledger_publish_lag_entries 6"), "{page}");
        assert!(
            page.contains("ledger_publish_lag_seconds_bucket{le=\"0.5\"} 1"),
            "{page}"
        );
        assert!(
            page.contains("ledger_publish_lag_seconds_bucket{le=\"0.25\"} 0"),
            "{page}"
        );
    }
}
