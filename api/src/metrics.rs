//! Server metrics and their Prometheus text exposition (format 0.0.4), written by hand:
//! a few counters and one histogram do not need a metrics library.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use ledger::Log;

/// Upper bounds of the append latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Counters kept by the intake path.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Records newly appended.
    pub appended: AtomicU64,
    /// Records answered with their original receipt (identical bytes already logged).
    pub duplicates: AtomicU64,
    /// Append requests refused because the sequencer queue was full.
    pub busy: AtomicU64,
    rejects: Mutex<BTreeMap<&'static str, u64>>,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    /// Counts one rejected record under its stable reason code.
    pub fn reject(&self, reason: &'static str) {
        let mut m = self.rejects.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(reason).or_insert(0) += 1;
    }

    /// Records the time from receiving an append to answering it with a receipt.
    pub fn observe_latency(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, counter) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            if secs <= *bound {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn rejects(&self) -> BTreeMap<&'static str, u64> {
        self.rejects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The Prometheus text exposition of these metrics and the log's.
    pub fn render(&self, log: &Log) -> String {
        let mut out = String::new();
        let lm = log.metrics();
        let latest = log.latest();
        let mut gauge = |name: &str, help: &str, kind: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        gauge(
            "ledger_tree_size",
            "Entries in the latest signed checkpoint.",
            "gauge",
            latest.size,
        );
        gauge(
            "ledger_queue_depth",
            "Append requests waiting for the sequencer.",
            "gauge",
            log.queue_depth() as u64,
        );
        gauge(
            "ledger_batches_total",
            "Batches committed by the sequencer.",
            "counter",
            lm.batches.load(Ordering::Relaxed),
        );
        gauge(
            "ledger_batched_entries_total",
            "Entries in all committed batches (with duplicates).",
            "counter",
            lm.batched_entries.load(Ordering::Relaxed),
        );
        gauge(
            "ledger_largest_batch",
            "Entries in the largest batch so far.",
            "gauge",
            lm.largest_batch.load(Ordering::Relaxed),
        );
        gauge(
            "ledger_records_appended_total",
            "Records newly appended through the API.",
            "counter",
            self.appended.load(Ordering::Relaxed),
        );
        gauge(
            "ledger_records_duplicate_total",
            "Records answered with their original receipt.",
            "counter",
            self.duplicates.load(Ordering::Relaxed),
        );
        gauge(
            "ledger_busy_total",
            "Append requests refused with 503/UNAVAILABLE (queue full).",
            "counter",
            self.busy.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP ledger_records_rejected_total Records refused at intake, by reason.\n# TYPE ledger_records_rejected_total counter"
        );
        for (reason, n) in self.rejects() {
            let _ = writeln!(
                out,
                "ledger_records_rejected_total{{reason=\"{reason}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP ledger_append_latency_seconds Time from receiving an append to its receipt.\n# TYPE ledger_append_latency_seconds histogram"
        );
        for (bound, counter) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "ledger_append_latency_seconds_bucket{{le=\"{bound}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "ledger_append_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "ledger_append_latency_seconds_sum {}",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "ledger_append_latency_seconds_count {count}");
        out
    }
}

/// The query index's metrics: entries indexed and how far the index trails the latest
/// signed tree (`ledger_index_lag_entries`).
pub fn render_index(log: &Log, index: &ledger_index::QueryIndex) -> String {
    let size = log.latest().size;
    let mut out = String::new();
    match index.indexed_size() {
        Ok(indexed) => {
            let _ = writeln!(
                out,
                "# HELP ledger_index_size Log entries projected into the query index.\n# TYPE ledger_index_size gauge\nledger_index_size {indexed}"
            );
            let _ = writeln!(
                out,
                "# HELP ledger_index_lag_entries Entries of the latest signed tree not yet in the query index.\n# TYPE ledger_index_lag_entries gauge\nledger_index_lag_entries {}",
                size.saturating_sub(indexed)
            );
        }
        Err(e) => tracing::error!("reading the index size for metrics: {e}"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.observe_latency(Duration::from_micros(500));
        m.observe_latency(Duration::from_millis(30));
        m.observe_latency(Duration::from_secs(20));
        assert_eq!(m.latency_buckets[0].load(Ordering::Relaxed), 1);
        assert_eq!(m.latency_buckets[5].load(Ordering::Relaxed), 2); // le=0.05
        assert_eq!(m.latency_buckets[12].load(Ordering::Relaxed), 2); // le=10
        assert_eq!(m.latency_count.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn rejects_are_counted_by_reason() {
        let m = Metrics::default();
        m.reject("sequence_gap");
        m.reject("sequence_gap");
        m.reject("bad_signature");
        assert_eq!(m.rejects().get("sequence_gap"), Some(&2));
        assert_eq!(m.rejects().get("bad_signature"), Some(&1));
    }
}
