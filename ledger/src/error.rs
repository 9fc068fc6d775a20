//! The one error type of the `ledger` crate.

use ledger_core::hash::Hash;
use ledger_core::proof::ProofError;

/// What went wrong in the log. The variants keep apart bad requests (the caller's
/// input), verification failures of stored data (corruption, with the evidence),
/// storage I/O, and back-pressure, which is the only variant worth retrying as is.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// An entry longer than the 16-bit length prefix of C2SP tlog-tiles bundles allows.
    #[error("entry is {len} bytes; one log entry is at most 65535 bytes (C2SP tlog-tiles length prefix); store larger artifacts by hash")]
    EntryTooLarge { len: usize },

    #[error("empty entries are not accepted")]
    EmptyEntry,

    /// The sequencer queue is full: retry later (HTTP 503 + Retry-After, gRPC UNAVAILABLE).
    #[error(
        "ledger busy: the append queue is full ({capacity} requests); retry after a short pause"
    )]
    Busy { capacity: usize },

    /// The sequencer stopped, after a storage failure or at shutdown; no append is taken.
    /// Retryable: the disk reserve is not free (see `space`); appends succeed again once
    /// space is freed, without a restart.
    #[error("the log's disk has {available} bytes free, below the reserve of {reserve} bytes ({path}): appends are refused until space is freed")]
    NoSpace {
        path: String,
        available: u64,
        reserve: u64,
    },

    #[error("ledger sequencer is not running: {reason}")]
    Stopped { reason: String },

    #[error("{what} not found")]
    NotFound { what: String },

    #[error("invalid request: {0}")]
    InvalidRequest(String),

    #[error(transparent)]
    Proof(#[from] ProofError),

    /// A stored value that cannot be what this code wrote: the store refuses to go on.
    #[error("ledger store is corrupt: {what}")]
    Corrupt { what: String },

    /// The tree recomputed from the stored hashes does not match the last signed
    /// checkpoint. Nothing is repaired: an operator must look.
    #[error("stored tree does not match the last signed checkpoint at size {size}: checkpoint root {checkpoint_root}, recomputed root {computed_root}")]
    CheckpointMismatch {
        size: u64,
        checkpoint_root: Hash,
        computed_root: Hash,
    },

    /// The log's signing key file is missing, unreadable, tampered with or truncated.
    #[error("log key file {path}: {problem}")]
    KeyFile { path: String, problem: String },

    /// A backup target that cannot be used (exists already, relative, no parent). The
    /// caller's input; nothing was written.
    #[error("backup target {path}: {problem}")]
    BackupTarget { path: String, problem: String },

    /// A backup copy that, opened on its own, is not a verified prefix of this log. The
    /// copy is left for inspection and must not be used.
    #[error("backup in {path} failed verification: {problem}")]
    BackupUnverified { path: String, problem: String },

    #[error("storage error: {0}")]
    Storage(#[from] rocksdb::Error),

    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl LedgerError {
    /// True when the same request may succeed later without change.
    pub fn is_retryable(&self) -> bool {
        matches!(self, LedgerError::Busy { .. })
    }

    pub(crate) fn corrupt(what: impl Into<String>) -> LedgerError {
        LedgerError::Corrupt { what: what.into() }
    }
}
