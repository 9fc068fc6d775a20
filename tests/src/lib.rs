//! End-to-end and crash tests across the Evidence Ledger crates. The tests live in
//! `tests/` and the helper processes they drive in `src/bin/`; this library holds what
//! both sides must agree on.

/// Memtable size the crash child and the crash test's reopen use: small enough that a
/// few hundred appends fill it, so flushes and compactions happen during the kills.
pub const CRASH_WRITE_BUFFER: usize = 64 << 10;
