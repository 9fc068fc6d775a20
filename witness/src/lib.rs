//! `ledger-witness`: a C2SP tlog-witness (<https://c2sp.org/tlog-witness>) for
//! Evidence Ledger and any other log that signs C2SP tlog-checkpoint notes.
//!
//! A witness keeps, per trusted log, the latest checkpoint it cosigned. It cosigns a new
//! checkpoint (C2SP tlog-cosignature, `cosignature/v1`) only when the log signed it and
//! a consistency proof shows it extends the stored one, so it never cosigns two
//! different roots for one size and never goes backwards. Clients that require a quorum
//! of witness cosignatures are thereby protected against a log that shows different
//! histories to different people (a split view).
//!
//! Layout: [`error`] (the one error enum and its HTTP statuses), [`key`] (the key
//! file), [`trust`] (the trusted logs from a tlog-policy file), [`store`] (SQLite state,
//! one connection), [`witness`] (the `add-checkpoint` checks, in the spec's order) and
//! [`http`] (the axum router and server). The binary in `main.rs` is only glue.
//!
//! Deliberately not done: the spec's optional `GET /` and rate limits, keys other
//! than Ed25519, and the `subtree/v1` (ML-DSA) cosignature type.

pub mod error;
pub mod http;
pub mod key;
pub mod store;
pub mod trust;
pub mod witness;

pub use error::WitnessError;
pub use witness::Witness;
