//! Progress reporting for long verifications. The library only counts; the binary
//! decides whether and how to show it (a bar on a terminal, nothing otherwise).

/// Receives progress from [`verify_package`](super::verify_package). Called from worker
/// threads, hence `Sync`.
pub trait Progress: Sync {
    /// Work of `total` units (records) is about to start, described by `stage`.
    fn start(&self, stage: &str, total: u64);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// The stage is over.
    fn finish(&self);
}
