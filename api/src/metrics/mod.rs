//! The intake's metrics (appends, duplicates, refusals by reason, append latency) and
//! the metrics page of `/metrics`, written with [`exposition::Exposition`] together
//! with the log's, the query index's, the publisher's and anchoring's figures.

pub mod exposition;
pub mod publish;
pub mod refusals;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use ledger::Log;
use ledger_index::QueryIndex;

use exposition::{Exposition, Kind};

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
    /// Refusals about an appliance (its clock, replayed sequences), per appliance.
    pub refusals: refusals::Refusals,
    /// The object-storage publisher's figures (written only when it is configured).
    pub publish: publish::PublishMetrics,
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

    /// Writes these metrics and the log's.
    pub fn write(&self, log: &Log, out: &mut Exposition) {
        let lm = log.metrics();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let figures: [(&str, &str, Kind, u64); 9] = [
            (
                "ledger_tree_size",
                "Entries in the latest signed checkpoint.",
                Kind::Gauge,
                log.latest().size,
            ),
            (
                "ledger_queue_depth",
                "Append requests waiting for the sequencer.",
                Kind::Gauge,
                log.queue_depth() as u64,
            ),
            (
                "ledger_batches_total",
                "Batches committed by the sequencer.",
                Kind::Counter,
                load(&lm.batches),
            ),
            (
                "ledger_batched_entries_total",
                "Entries in all committed batches (with duplicates).",
                Kind::Counter,
                load(&lm.batched_entries),
            ),
            (
                "ledger_largest_batch",
                "Entries in the largest batch so far.",
                Kind::Gauge,
                load(&lm.largest_batch),
            ),
            (
                "ledger_no_space_total",
                "Append requests refused with 507/RESOURCE_EXHAUSTED: the disk was below its reserve.",
                Kind::Counter,
                load(&lm.rejected_no_space),
            ),
            (
                "ledger_records_appended_total",
                "Records newly appended through the API.",
                Kind::Counter,
                load(&self.appended),
            ),
            (
                "ledger_records_duplicate_total",
                "Records answered with their original receipt.",
                Kind::Counter,
                load(&self.duplicates),
            ),
            (
                "ledger_busy_total",
                "Append requests refused with 503/UNAVAILABLE (queue full).",
                Kind::Counter,
                load(&self.busy),
            ),
        ];
        for (name, help, kind, value) in figures {
            out.single(name, help, kind, value);
        }
        let name = "ledger_records_rejected_total";
        out.family(name, "Records refused at intake, by reason.", Kind::Counter);
        for (reason, n) in self.rejects() {
            out.sample(name, &[("reason", reason)], n);
        }
        self.write_latency(out);
        self.publish.write(log.latest().size, out);
    }

    fn write_latency(&self, out: &mut Exposition) {
        let name = "ledger_append_latency_seconds";
        let bucket = "ledger_append_latency_seconds_bucket";
        out.family(
            name,
            "Time from receiving an append to its receipt.",
            Kind::Histogram,
        );
        for (bound, counter) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            let le = bound.to_string();
            out.sample(bucket, &[("le", &le)], counter.load(Ordering::Relaxed));
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        out.sample(bucket, &[("le", "+Inf")], count);
        let sum = self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        out.sample("ledger_append_latency_seconds_sum", &[], sum);
        out.sample("ledger_append_latency_seconds_count", &[], count);
    }
}

/// The query index's metrics: entries indexed and how far the index trails the latest
/// signed tree (`ledger_index_lag_entries`). Blocking (reads SQLite).
pub fn write_index(log: &Log, index: &QueryIndex, out: &mut Exposition) {
    let size = log.latest().size;
    match index.indexed_size() {
        Ok(indexed) => {
            out.single(
                "ledger_index_size",
                "Log entries projected into the query index.",
                Kind::Gauge,
                indexed,
            );
            out.single(
                "ledger_index_lag_entries",
                "Entries of the latest signed tree not yet in the query index.",
                Kind::Gauge,
                size.saturating_sub(indexed),
            );
        }
        Err(e) => tracing::error!("reading the index size for metrics: {e}"),
    }
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
