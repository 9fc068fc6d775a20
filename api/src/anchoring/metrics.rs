//! The anchoring part of the Prometheus exposition (`/metrics`): stamps by status, the
//! age of the oldest pending stamp and whether it is overdue, and the counters of
//! submissions, upgrades and header checks.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::record::StampStatus;
use super::{now_ms, Anchoring};

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct AnchorCounters {
    pub submissions: AtomicU64,
    pub submission_failures: AtomicU64,
    pub upgrade_requests: AtomicU64,
    pub upgrade_merged: AtomicU64,
    pub upgrade_errors: AtomicU64,
    pub header_check_failures: AtomicU64,
}

impl AnchorCounters {
    /// Name, help text and counter of every counter, in exposition order.
    fn described(&self) -> [(&'static str, &'static str, &AtomicU64); 6] {
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
                "ledger_anchor_header_check_failures_total",
                "Bitcoin attestations that did not match the header source's block, or whose header could not be fetched (anchor_bitcoin_api).",
                &self.header_check_failures,
            ),
        ]
    }
}

/// One metric with its `HELP` and `TYPE` lines.
fn metric(out: &mut String, name: &str, help: &str, kind: &str, value: String) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

impl Anchoring {
    /// Appends the anchoring metrics to a Prometheus exposition.
    pub fn render_metrics(&self, out: &mut String) {
        self.render_stamp_gauges(out);
        for (name, help, counter) in self.counters.described() {
            metric(
                out,
                name,
                help,
                "counter",
                counter.load(Ordering::Relaxed).to_string(),
            );
        }
    }

    /// Stamps by status, and the age of the oldest pending one.
    fn render_stamp_gauges(&self, out: &mut String) {
        let (counts, oldest) = self.status_counts();
        let now = now_ms();
        let _ = writeln!(
            out,
            "# HELP ledger_anchor_stamps Checkpoint stamps by status.\n# TYPE ledger_anchor_stamps gauge"
        );
        for status in [
            StampStatus::Pending,
            StampStatus::Complete,
            StampStatus::Failed,
        ] {
            let _ = writeln!(
                out,
                "ledger_anchor_stamps{{status=\"{}\"}} {}",
                status.as_str(),
                counts.get(&status).copied().unwrap_or(0)
            );
        }
        let age = oldest.map_or(0.0, |c| now.saturating_sub(c) as f64 / 1000.0);
        let overdue = oldest.is_some_and(|c| {
            now.saturating_sub(c) > self.settings.pending_alarm.as_millis() as u64
        });
        metric(
            out,
            "ledger_anchor_oldest_pending_age_seconds",
            "Age of the oldest pending stamp (0 when none).",
            "gauge",
            format!("{age}"),
        );
        metric(
            out,
            "ledger_anchor_pending_overdue",
            "1 when a stamp has been pending longer than anchor_pending_alarm_secs.",
            "gauge",
            u64::from(overdue).to_string(),
        );
    }
}
