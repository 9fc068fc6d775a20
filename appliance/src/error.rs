//! The agent library's one error type. It keeps apart what the caller did wrong
//! (malformed input, configuration), what the server did wrong (verification failures,
//! which carry their evidence), local storage failures, and the retryable kinds:
//! transient network trouble, and receipts whose checkpoint the witnesses have not
//! cosigned enough yet.

use std::path::PathBuf;

/// Everything the agent library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Input given to a command (a JSON file, a token, an argument) is not acceptable.
    /// Nothing was changed.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The configuration file is invalid; every problem is listed.
    #[error("invalid configuration:\n  {}", .0.join("\n  "))]
    Config(Vec<String>),
    /// The signing key file is missing, tampered with, truncated or too open. Signing
    /// stops until it is fixed.
    #[error("signing key file {path}: {problem}")]
    KeyFile { path: PathBuf, problem: String },
    /// The agent has not been enrolled yet (no key or no credential).
    #[error("not enrolled: {0} (run `ledger-agent enrol` first)")]
    NotEnrolled(String),
    /// The local SQLite outbox failed.
    #[error("outbox {what}: {source}")]
    Outbox {
        what: String,
        #[source]
        source: rusqlite::Error,
    },
    /// A local file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The server could not be reached or answered with a transient failure (busy,
    /// unavailable, timeout). Retrying later is the right thing to do.
    #[error("server unreachable or busy: {0}")]
    Transient(String),
    /// A receipt's checkpoint is genuinely signed by the log but does not meet the
    /// `witness_policy` quorum yet. Not a failure of anyone: the record stays in the
    /// outbox and the upload is retried until the server answers with a checkpoint the
    /// witnesses have cosigned.
    #[error("awaiting witnesses: {0}")]
    AwaitingWitnesses(String),
    /// The server refused a request for a reason that retrying will not fix by itself.
    #[error("server refused: {code}: {message}")]
    Refused { code: String, message: String },
    /// The server's answer is malformed or does not verify (receipt, proof, signature).
    /// Nothing was marked delivered.
    #[error("server answer does not verify: {0}")]
    BadAnswer(String),
    /// The log presented a checkpoint inconsistent with one seen earlier (fork or
    /// rollback). The agent raised an alarm and stops trusting the log.
    #[error("ALARM: log is inconsistent: {message} (evidence saved in {evidence_dir})")]
    Inconsistent {
        message: String,
        evidence_dir: PathBuf,
    },
    /// An alarm raised earlier still stands; the agent does not talk to that log.
    #[error("ALARM: the agent stopped trusting the log: {0}")]
    Untrusted(String),
}

impl AgentError {
    /// True for errors that a later retry may cure (network, busy server, witnesses
    /// not yet cosigned).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            AgentError::Transient(_) | AgentError::AwaitingWitnesses(_)
        )
    }

    /// True for network trouble and a busy server only: another transport or a fresh
    /// connection may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, AgentError::Transient(_))
    }

    /// True when the log itself is no longer trusted (an alarm).
    pub fn is_alarm(&self) -> bool {
        matches!(
            self,
            AgentError::Inconsistent { .. } | AgentError::Untrusted(_)
        )
    }

    pub(crate) fn outbox(what: impl Into<String>, source: rusqlite::Error) -> AgentError {
        AgentError::Outbox {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> AgentError {
        AgentError::Io {
            what: what.into(),
            source,
        }
    }
}
