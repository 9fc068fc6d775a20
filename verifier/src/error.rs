//! The library's one error type.
//!
//! Three families that callers must treat differently (the binary maps them to exit
//! codes): *malformed input* (the bytes are not what the format says; nothing was
//! checked), *I/O* (a file could not be read or written), and *verification failures*
//! (well-formed input that does not check; these carry the evidence). Evidence packages
//! report their verification failures as findings in a
//! [`Report`](crate::package::Report) instead, because an auditor wants every problem of
//! a package at once, not the first one.

use std::path::PathBuf;

use ledger_core::checkpoint::CheckpointError;
use ledger_core::proof::ProofError;
use ledger_core::receipt::ReceiptError;

/// Why a verification could not be done or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    // ---- Malformed input ---------------------------------------------------------------
    /// Input that does not follow its format; `what` names the input.
    #[error("malformed {what}: {reason}")]
    Malformed { what: String, reason: String },
    /// A request the verifier cannot check, such as consistency from tree size 0
    /// (RFC 9162 §2.1.4 defines proofs only for 0 < size1).
    #[error("unsupported request: {0}")]
    Unsupported(String),

    // ---- I/O ---------------------------------------------------------------------------
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than the verifier accepts for that part of the input.
    #[error("{} is {len} bytes, more than the {max}-byte limit for this file", path.display())]
    TooLarge { path: PathBuf, len: u64, max: u64 },
    /// A resource of a remote log (its checkpoint or a tile, over HTTP(S) or from a
    /// mirror directory) could not be fetched: unreachable, timed out, not found, an
    /// error status, or larger than the limit for that resource.
    #[error("fetching {url}: {reason}")]
    Fetch { url: String, reason: String },

    // ---- Verification failures (carry the evidence) --------------------------------------
    /// An inclusion proof does not lead to the expected root (RFC 9162 §2.1.3.2).
    #[error("inclusion proof does not verify: {0}")]
    Inclusion(ProofError),
    /// A consistency proof does not verify (RFC 9162 §2.1.4.2).
    #[error("consistency proof does not verify: {0}")]
    Consistency(ProofError),
    /// A receipt is malformed or does not verify; [`ReceiptError`] tells which.
    #[error("receipt: {0}")]
    Receipt(#[from] ReceiptError),
    /// A timestamp does not prove what it is asked to prove.
    #[error("timestamp: {0}")]
    Timestamp(String),
    /// A citation does not match the package it is checked against.
    #[error("citation: {0}")]
    Citation(String),
    /// A checkpoint note is malformed or not signed by the log key.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// A witness cosignature of a policy witness does not verify, or the checkpoint is
    /// not the pinned log's (`--policy`).
    #[error("witnesses: {0}")]
    Witnesses(String),
}

impl VerifyError {
    /// Shorthand for [`VerifyError::Malformed`].
    pub fn malformed(what: impl Into<String>, reason: impl Into<String>) -> VerifyError {
        VerifyError::Malformed {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// True when well-formed input was checked and found invalid (exit code 1 of
    /// `ledger-verify`); false for malformed or unreadable input and unsupported requests
    /// (exit code 2).
    pub fn is_verification_failure(&self) -> bool {
        match self {
            VerifyError::Malformed { .. }
            | VerifyError::Unsupported(_)
            | VerifyError::Io { .. }
            | VerifyError::TooLarge { .. }
            | VerifyError::Fetch { .. } => false,
            VerifyError::Inclusion(_)
            | VerifyError::Consistency(_)
            | VerifyError::Timestamp(_)
            | VerifyError::Citation(_)
            | VerifyError::Witnesses(_) => true,
            VerifyError::Receipt(e) => e.is_verification_failure(),
            VerifyError::Checkpoint(e) => e.is_verification_failure(),
        }
    }
}
