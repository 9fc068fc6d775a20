//! The Evidence Ledger log: a RocksDB-backed RFC 6962 Merkle log with a single-writer
//! sequencer that group-commits appends, signs one C2SP checkpoint per batch, and serves
//! entries, proofs for any earlier tree size, and C2SP tlog-tiles.
//!
//! What it deliberately does not do: network protocols (the `api` crate), record
//! semantics (the `ledger-record` crate), timestamping (the `anchor` crate). Pure
//! verification lives in `ledger-core`, which this crate builds on.

pub mod backup;
pub mod derived;
pub mod error;
pub mod fsck;
pub mod key;
pub mod log;
pub mod sequencer;
pub mod space;
pub mod store;
pub mod tiles;
mod tree_state;

pub use derived::{Deriver, StateWrites};
pub use error::LedgerError;
pub use log::{CheckpointInfo, CommitHistogram, InclusionProver, Log, LogConfig, COMMIT_BUCKETS};
pub use sequencer::{Appended, SequencerConfig};
pub use store::{StoreOptions, MAX_ENTRY_SIZE};
