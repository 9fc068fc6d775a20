//! End-to-end and crash tests across the Evidence Ledger crates. The tests live in
//! `tests/` and the helper processes they drive in `src/bin/`; this library holds what
//! both sides must agree on, and the support of the fault-matrix tests
//! (docs/RELIABILITY.md): the real `ledgerd` and `ledger-agent` processes ([`procs`],
//! [`fleet`]), the checks of logs and chains against the agents' outboxes ([`chains`]),
//! a TCP fault proxy ([`fault_proxy`]), and real witness processes ([`witnesses`]); and
//! for the web console's browser tests a WebDriver client ([`browser`]) and an HTTP
//! proxy that tampers with answers ([`tamper_proxy`]).

pub mod browser;
pub mod chains;
pub mod fault_proxy;
pub mod fleet;
pub mod procs;
pub mod tamper_proxy;
pub mod witnesses;

/// Memtable size the crash child and the crash test's reopen use: small enough that a
/// few hundred appends fill it, so flushes and compactions happen during the kills.
pub const CRASH_WRITE_BUFFER: usize = 64 << 10;

/// A bounded loop count from the environment variable `name`, else `default`.
pub fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
