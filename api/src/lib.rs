//! `ledgerd`, the Evidence Ledger server: the HTTP (axum) and gRPC (tonic) edges of one
//! log, the intake rules for signed records, enrolment and key lifecycle, credentials,
//! and a query index.
//!
//! What it implements:
//! - issue 3 §3–§7: intake rules (signature with the key valid at that moment, sequence
//!   = last + 1, prev-hash match, idempotent identical bytes, unknown/revoked keys, future
//!   skew), enrolment with one-time tokens and an operator key, rotation and revocation
//!   as `key` records (docs/RECORDS.md §5.4, §7), credentials stored hashed, read tokens
//!   scoped to sites, back-pressure (503 + Retry-After, gRPC UNAVAILABLE), one TOML
//!   configuration validated at start-up;
//! - the read side: C2SP signed-note checkpoints, C2SP tlog-tiles hash tiles and entry
//!   bundles, RFC 9162 consistency proofs, C2SP tlog-proof receipts, Prometheus metrics.
//!
//! What it deliberately does not do: verification logic of its own (it calls
//! `ledger-core` and `ledger-record`), storage of the log (the `ledger` crate), TLS
//! (terminate it in front of the server), the OpenTimestamps format and calendar protocol
//! (the `anchor` crate; [`anchoring`] only schedules and stores stamps), fleet and
//! healing analytics beyond the per-appliance index.
//!
//! Map: [`anchoring`] (OpenTimestamps stamps of checkpoints) and [`anchor_http`], [`export`]
//! (evidence packages) and [`export_http`], [`config`]
//! (settings), [`server`] (state, `run`), [`backup`] (online backup), [`http`] and [`grpc`] (edges),
//! [`intake`] (the rules), [`auth`] (credentials, tokens), [`operator`] (operator key),
//! [`index_tailer`] (keeps the `ledger_index` query index up to date), [`reads`] (shared
//! read operations), [`proofs`],
//! [`batch`] (batch body format), [`metrics`], [`error`] (`AppError`).

pub mod anchor_http;
pub mod anchoring;
pub mod auth;
pub mod backup;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod export;
pub mod export_http;
pub mod fleet;
pub mod grpc;
pub mod http;
pub mod index_tailer;
pub mod intake;
pub mod metrics;
pub mod openapi;
pub mod operator;
pub mod proofs;
pub mod reads;
pub mod server;

pub use error::AppError;
pub use server::{run, AppState, Listeners};
