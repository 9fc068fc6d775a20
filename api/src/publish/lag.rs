//! When each checkpoint appeared: a small sampler watches the checkpoint `/checkpoint`
//! serves every few milliseconds, so the publication lag can be measured from a
//! checkpoint's signing (its first sighting) to its object being written, whatever the
//! publisher was doing meanwhile. Checkpoints carry no time of their own.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::anchoring::Anchoring;

/// How often the sampler looks (the lag's resolution).
const SAMPLE: Duration = Duration::from_millis(5);

/// Sizes not yet published that the sampler keeps, at most.
const KEEP: usize = 100_000;

/// First sightings of growing sizes, oldest first.
#[derive(Clone, Default)]
pub struct SignedTimes {
    seen: Arc<Mutex<VecDeque<(u64, Instant)>>>,
}

impl SignedTimes {
    /// Starts the sampler; it ends with `stop`.
    pub fn start(anchoring: Arc<Anchoring>, mut stop: watch::Receiver<bool>) -> SignedTimes {
        let times = SignedTimes::default();
        let seen = times.seen.clone();
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let size = anchoring.published().size;
                if last.is_none_or(|l| size > l) {
                    last = Some(size);
                    let mut q = seen.lock().unwrap_or_else(|p| p.into_inner());
                    if q.len() >= KEEP {
                        q.pop_front();
                    }
                    q.push_back((size, Instant::now()));
                }
                tokio::select! {
                    _ = tokio::time::sleep(SAMPLE) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        });
        times
    }

    /// Time since the checkpoint of `size` (or the first larger one, if the sampler
    /// missed it) was first seen; forgets every size up to it.
    pub fn lag_of(&self, size: u64) -> Option<Duration> {
        let mut q = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let first = q.iter().find(|(s, _)| *s >= size).map(|(_, t)| t.elapsed());
        while q.front().is_some_and(|(s, _)| *s <= size) {
            q.pop_front();
        }
        first
    }
}
