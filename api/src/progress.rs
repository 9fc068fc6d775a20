//! Progress lines for long scans of the log (an intake-state rebuild, an index
//! rebuild): one log line about every ten seconds with how far it got and its rate, so
//! an operator watching a large log start knows it is working and how long is left.

use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(10);

/// Reports `done of total` for one scan named `what`.
pub struct ProgressLog {
    what: &'static str,
    total: u64,
    started: Instant,
    last: Instant,
}

impl ProgressLog {
    pub fn new(what: &'static str, total: u64) -> ProgressLog {
        let now = Instant::now();
        ProgressLog {
            what,
            total,
            started: now,
            last: now,
        }
    }

    /// Logs a line when the last one is at least ten seconds old.
    pub fn report(&mut self, done: u64) {
        if self.last.elapsed() < EVERY {
            return;
        }
        self.last = Instant::now();
        tracing::info!("{}", self.line(done));
    }

    fn line(&self, done: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let left = self.total.saturating_sub(done) as f64 / rate.max(1.0);
        format!(
            "{}: {done} of {} entries, {rate:.0} entries/s, about {left:.0} s left",
            self.what, self.total
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_says_how_far_and_how_fast() {
        let mut p = ProgressLog::new("rebuilding", 1000);
        p.started = Instant::now() - Duration::from_secs(10);
        let line = p.line(500);
        assert!(
            line.starts_with("rebuilding: 500 of 1000 entries, "),
            "{line}"
        );
        assert!(line.contains("about 10 s left"), "{line}");
    }
}
