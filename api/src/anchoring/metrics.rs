//! The anchoring part of the Prometheus exposition (`/metrics`): stamps by status, the
//! age of the oldest pending stamp and whether it is overdue, and the counters of
//! submissions, upgrades and header checks.

use std::sync::atomic::{AtomicU64, Ordering};

use super::record::StampStatus;
use super::{now_ms, Anchoring};
use crate::metrics::exposition::{Exposition, Kind};

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct AnchorCounters {
    pub submissions: AtomicU64,
    pub submission_failures: AtomicU64,
    pub upgrade_requests: AtomicU64,
    pub upgrade_merged: AtomicU64,
    pub upgrade_errors: AtomicU64,
    pub upgrade_not_yet: AtomicU64,
    pub header_check_failures: AtomicU64,
}

impl AnchorCounters {
    /// Name, help text and counter of every counter, in exposition order.
    fn described(&self) -> [(&'static str, &'static str, &AtomicU64); 7] {
        [
            (
                "ledger_anchor_submissions_total",
                "Checkpoint submissions to the calendars.",
                &self.submissions,
            ),
            (
                "ledger_anchor_submission_failures_total",
                "Submissions that reached too few calendars.",
                &self.submission_failures,
            ),
            (
                "ledger_anchor_upgrade_requests_total",
                "Upgrade requests sent to calendars.",
                &self.upgrade_requests,
            ),
            (
                "ledger_anchor_upgrade_merged_total",
                "Calendar answers merged into stamps.",
                &self.upgrade_merged,
            ),
            (
                "ledger_anchor_upgrade_errors_total",
                "Upgrade requests that failed or whose answer was refused.",
                &self.upgrade_errors,
            ),
            (
                "ledger_anchor_upgrade_not_yet_total",
                "Upgrade requests a calendar answered with \"not yet\" (404).",
                &self.upgrade_not_yet,
            ),
            (
                "ledger_anchor_header_check_failures_total",
                "Bitcoin attestations that did not match the header source's block, or whose header could not be fetched (anchor_bitcoin_api).",
                &self.header_check_failures,
            ),
        ]
    }
}

impl Anchoring {
    /// Writes the anchoring metrics. Reads the stamp list (memory only).
    pub fn write_metrics(&self, out: &mut Exposition) {
        self.write_stamp_gauges(out);
        for (name, help, counter) in self.counters.described() {
            out.single(name, help, Kind::Counter, counter.load(Ordering::Relaxed));
        }
    }

    /// Stamps by status, and the age of the oldest pending one.
    fn write_stamp_gauges(&self, out: &mut Exposition) {
        let (counts, oldest) = self.status_counts();
        let now = now_ms();
        let name = "ledger_anchor_stamps";
        out.family(name, "Checkpoint stamps by status.", Kind::Gauge);
        for status in [
            StampStatus::Pending,
            StampStatus::Complete,
            StampStatus::Failed,
        ] {
            let n = counts.get(&status).copied().unwrap_or(0);
            out.sample(name, &[("status", status.as_str())], n);
        }
        let age = oldest.map_or(0.0, |c| now.saturating_sub(c) as f64 / 1000.0);
        let overdue = oldest.is_some_and(|c| {
            now.saturating_sub(c) > self.settings.pending_alarm.as_millis() as u64
        });
        out.single(
            "ledger_anchor_oldest_pending_age_seconds",
            "Age of the oldest pending stamp (0 when none).",
            Kind::Gauge,
            age,
        );
        out.single(
            "ledger_anchor_pending_overdue",
            "1 when a stamp has been pending longer than anchor_pending_alarm_secs.",
            Kind::Gauge,
            u64::from(overdue),
        );
    }
}
