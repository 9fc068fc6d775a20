//! How long the uploader waits after a failed attempt: exponential backoff with "equal
//! jitter". The n-th delay (counting from 0) is uniform in [d/2, d] with
//! d = min(cap, base · 2^n), so a fleet of appliances that lost the server at the same
//! moment does not come back in lockstep, and no appliance waits longer than the cap.
//!
//! Pure: no clock and no I/O; the random draw comes from a generator the caller may
//! choose (the uploader uses the thread's, tests a fixed one).

use std::time::Duration;

use rand::Rng;

/// First backoff delay.
const BACKOFF_BASE: Duration = Duration::from_millis(250);

/// Doublings stop counting here (2^20 · 250 ms is far beyond any sensible cap).
const MAX_DOUBLINGS: u32 = 20;

/// Exponential backoff with "equal jitter": the n-th delay is uniform in
/// [d/2, d] with d = min(cap, base · 2^n).
pub struct Backoff {
    attempt: u32,
    cap: Duration,
}

/// The longest delay of attempt `attempt` (counting from 0), before jitter.
fn ceiling(attempt: u32, cap: Duration) -> Duration {
    BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(MAX_DOUBLINGS))
        .min(cap)
}

impl Backoff {
    pub fn new(cap: Duration) -> Backoff {
        Backoff { attempt: 0, cap }
    }

    /// Starts over from the base delay (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The next delay, jittered with the thread's random generator.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_with(&mut rand::thread_rng())
    }

    /// The next delay, jittered with `rng`.
    pub fn next_delay_with(&mut self, rng: &mut impl Rng) -> Duration {
        let full = ceiling(self.attempt, self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let half = full / 2;
        half + rng.gen_range(Duration::ZERO..=half)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::mock::StepRng;

    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(4));
        let mut last_max = Duration::ZERO;
        for n in 0..10 {
            let d = b.next_delay();
            let full = BACKOFF_BASE
                .saturating_mul(1 << n)
                .min(Duration::from_secs(4));
            assert!(
                d >= full / 2 && d <= full,
                "attempt {n}: {d:?} not in [{:?}, {full:?}]",
                full / 2
            );
            last_max = last_max.max(d);
        }
        assert!(last_max <= Duration::from_secs(4));
        b.reset();
        assert!(b.next_delay() <= BACKOFF_BASE);
    }

    #[test]
    fn ceiling_doubles_from_the_base_until_the_cap() {
        let cap = Duration::from_secs(3);
        let ms = |n| Duration::from_millis(n);
        let expected = [ms(250), ms(500), ms(1000), ms(2000), cap, cap];
        for (attempt, want) in expected.iter().enumerate() {
            assert_eq!(ceiling(attempt as u32, cap), *want, "attempt {attempt}");
        }
    }

    #[test]
    fn ceiling_does_not_overflow_after_many_attempts() {
        let cap = Duration::from_secs(u64::MAX / 2);
        let most = BACKOFF_BASE * (1 << MAX_DOUBLINGS);
        assert_eq!(ceiling(MAX_DOUBLINGS, cap), most);
        assert_eq!(ceiling(MAX_DOUBLINGS + 1, cap), most);
        assert_eq!(ceiling(u32::MAX, cap), most);
        let mut b = Backoff::new(Duration::from_secs(300));
        b.attempt = u32::MAX;
        let d = b.next_delay_with(&mut StepRng::new(0, 0));
        assert_eq!(d, Duration::from_secs(150));
        assert_eq!(b.attempt, u32::MAX, "the attempt count saturates");
    }

    #[test]
    fn the_jitter_spans_exactly_half_the_ceiling_to_all_of_it() {
        let cap = Duration::from_secs(300);
        let mut lowest = Backoff::new(cap);
        let mut highest = Backoff::new(cap);
        for attempt in 0..12 {
            let full = ceiling(attempt, cap);
            let low = lowest.next_delay_with(&mut StepRng::new(0, 0));
            let high = highest.next_delay_with(&mut StepRng::new(u64::MAX, 0));
            assert_eq!(low, full / 2, "attempt {attempt}: smallest draw");
            assert_eq!(high, full, "attempt {attempt}: largest draw");
        }
    }

    #[test]
    fn reset_starts_again_from_the_base() {
        let mut b = Backoff::new(Duration::from_secs(300));
        for _ in 0..5 {
            b.next_delay();
        }
        b.reset();
        let d = b.next_delay_with(&mut StepRng::new(u64::MAX, 0));
        assert_eq!(d, BACKOFF_BASE);
    }
}
