//! End-to-end and crash tests across the Evidence Ledger crates. The library is empty;
//! the tests live in `tests/` and the helper processes they drive in `src/bin/`.
