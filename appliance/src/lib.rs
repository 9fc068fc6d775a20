//! `ledger-agent`, the appliance side of Evidence Ledger: it signs every evidence bundle
//! and healing record with the appliance's own Ed25519 key, keeps it in a durable SQLite
//! outbox, delivers it to `ledgerd` in chain order, and accepts a delivery only with a
//! receipt it verified itself against the pinned log key, while watching the log for
//! forks and rollbacks.
//!
//! What it implements (docs/AGENT.md is the operator's reference):
//! - [`keystore`]: key files (mode 0600, integrity check line), rotation;
//! - [`outbox`]: SQLite in WAL mode with `synchronous=FULL`, records durable before
//!   `record` returns, per-appliance sequence and previous hash assigned under SQLite's
//!   write lock, pruning after retention;
//! - [`shared_outbox`]: the one way to the outbox, for plain code (a lock) and async
//!   code (`spawn_blocking`, so SQLite's waits never stall a tokio worker);
//! - [`agent`]: the library API ([`Agent::record`], [`Agent::enrol`], [`Agent::rotate`])
//!   and JSON input (docs/RECORDS.md §8);
//! - [`client`]: the ledgerd wire protocol (gRPC `AppendPipeline`, HTTP batch, enrolment,
//!   checkpoints, consistency proofs, check-in);
//! - [`trust`]: receipt verification (pinned key, inclusion) and checkpoint consistency
//!   (RFC 9162 §2.1.4), alarms with saved evidence;
//! - [`witnesses`]: the optional witness policy (C2SP tlog-policy): checkpoints trusted
//!   only once cosigned by its quorum;
//! - [`uploader`]: in-order delivery with backoff and jitter, gRPC with HTTP fallback,
//!   the check-in heartbeat, housekeeping;
//! - [`config`]: the TOML configuration, every problem reported at once.
//!
//! What it deliberately does not do: verify other appliances' records, anchor anything,
//! or keep more of the log than its own receipts and the latest checkpoint.

pub mod agent;
pub mod client;
pub mod config;
pub mod error;
pub mod keystore;
pub mod outbox;
pub mod shared_outbox;
pub mod trust;
pub mod uploader;
pub mod witnesses;

pub use agent::{parse_input, Agent, InputKind};
pub use config::{Config, Transport};
pub use error::AgentError;
pub use outbox::{KeptRecord, Outbox, Recorded, Stats};
pub use uploader::{run, RunOptions, RunSummary};
