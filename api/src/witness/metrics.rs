//! The witnessing part of `/metrics`: requests per witness by outcome, each witness's
//! known size and permanent-error alarm, rounds, and how far the cosigned checkpoint
//! lags the log.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::exposition::{Exposition, Kind};

use super::Witnessing;

/// What one request to a witness ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Cosigned,
    /// A `409` with a size, followed by a retry from there.
    Conflict,
    RateLimited,
    Permanent,
    Transient,
}

const OUTCOMES: [(Outcome, &str); 5] = [
    (Outcome::Cosigned, "cosigned"),
    (Outcome::Conflict, "conflict_recovered"),
    (Outcome::RateLimited, "rate_limited"),
    (Outcome::Permanent, "permanent_error"),
    (Outcome::Transient, "transient_error"),
];

/// Request counters of one witness.
#[derive(Debug, Default)]
pub struct WitnessCounters {
    by_outcome: [AtomicU64; OUTCOMES.len()],
}

impl WitnessCounters {
    pub fn count(&self, outcome: Outcome) {
        if let Some(i) = OUTCOMES.iter().position(|(o, _)| *o == outcome) {
            self.by_outcome[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn get(&self, outcome: Outcome) -> u64 {
        OUTCOMES
            .iter()
            .position(|(o, _)| *o == outcome)
            .map_or(0, |i| self.by_outcome[i].load(Ordering::Relaxed))
    }
}

/// Rounds of the whole witness set.
#[derive(Debug, Default)]
pub struct RoundCounters {
    pub met: AtomicU64,
    pub missed: AtomicU64,
}

impl Witnessing {
    /// Writes the witnessing metrics; `log_size` is the log's latest size.
    pub fn write_metrics(&self, log_size: u64, out: &mut Exposition) {
        let name = "ledger_witness_requests_total";
        out.family(
            name,
            "add-checkpoint requests by witness and outcome.",
            Kind::Counter,
        );
        for w in &self.witnesses {
            for (outcome, label) in OUTCOMES {
                let n = w.counters.get(outcome);
                out.sample(name, &[("witness", w.name.as_str()), ("outcome", label)], n);
            }
        }
        let name = "ledger_witness_size";
        out.family(
            name,
            "Tree size each witness last cosigned, as the log knows it.",
            Kind::Gauge,
        );
        for w in &self.witnesses {
            out.sample(name, &[("witness", w.name.as_str())], w.known_size());
        }
        let name = "ledger_witness_permanent_error";
        out.family(
            name,
            "1 while a witness's last answer was a permanent error (400, 403, 404, 422, 409 without size, bad cosignature).",
            Kind::Gauge,
        );
        for w in &self.witnesses {
            let alarm = u64::from(w.permanent_error().is_some());
            out.sample(name, &[("witness", w.name.as_str())], alarm);
        }
        self.write_round_metrics(log_size, out);
    }

    fn write_round_metrics(&self, log_size: u64, out: &mut Exposition) {
        let name = "ledger_witness_rounds_total";
        out.family(
            name,
            "Witness rounds by whether they met the policy's quorum.",
            Kind::Counter,
        );
        out.sample(
            name,
            &[("quorum", "met")],
            self.rounds.met.load(Ordering::Relaxed),
        );
        out.sample(
            name,
            &[("quorum", "missed")],
            self.rounds.missed.load(Ordering::Relaxed),
        );
        let witnessed = self.gate.latest().map_or(0, |c| c.size);
        out.single(
            "ledger_witness_quorum_met",
            "1 when the latest witness round met the quorum.",
            Kind::Gauge,
            u64::from(self.quorum_met()),
        );
        out.single(
            "ledger_witnessed_size",
            "Tree size of the latest checkpoint that met the witness quorum.",
            Kind::Gauge,
            witnessed,
        );
        out.single(
            "ledger_witness_lag_entries",
            "Entries in the log not yet covered by a checkpoint that met the quorum.",
            Kind::Gauge,
            log_size.saturating_sub(witnessed),
        );
    }
}
