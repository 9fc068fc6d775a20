//! `ledgerd`, the Evidence Ledger server: the HTTP (axum) and gRPC (tonic) edges of one
//! log, the intake rules for signed records, enrolment and key lifecycle, credentials,
//! anchoring to OpenTimestamps, witness cosigning (C2SP tlog-witness), evidence-package exports, agent check-ins, the
//! tailer that keeps the query index (`ledger-index`) up to date, and the publisher that
//! copies tiles and checkpoints to an S3 bucket, and the stateless read replica that serves
//! them back from that bucket alone ([`replica`], `ledgerd replica`).
//!
//! What it deliberately does not do: verification logic of its own (it calls
//! `ledger-core` and `ledger-record`), storage of the log (the `ledger` crate), the
//! query index's tables and queries (`ledger-index`), TLS (terminate it in front of the
//! server), the OpenTimestamps format and calendar protocol (the `anchor` crate).
//!
//! Map (ARCHITECTURE.md draws it): the edges — [`http`] (one file per resource, a route
//! table shared with `/openapi.json`), [`grpc`], their answer type [`error`] and shared
//! [`log_reads`]; the domain — [`intake`] (the rules), [`auth`] (who may do what, the
//! credential store), [`anchoring`], [`witness`], [`publish`], [`export`], [`checkins`], [`operator`], [`backup`],
//! [`config`]; storage and running — [`state`], [`state_db`], [`server`],
//! [`index_tailer`], [`blocking`], [`metrics`], [`clock`].

pub mod anchoring;
pub mod auth;
pub mod backup;
pub mod blocking;
pub mod checkins;
pub mod clock;
pub mod config;
pub mod error;
pub mod error_code;
pub mod export;
pub mod fsck;
pub mod grpc;
pub mod http;
pub mod index_tailer;
pub mod intake;
pub mod log_reads;
pub mod metrics;
pub mod operator;
pub mod period;
pub mod progress;
pub mod publish;
pub mod release_tool;
pub mod replica;
pub mod rollout;
pub mod server;
pub mod state;
pub mod state_db;
pub mod witness;

pub use error::AppError;
pub use server::{run, Listeners};
pub use state::AppState;
