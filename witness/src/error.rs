//! The witness's one error enum. Each variant is one outcome of C2SP tlog-witness
//! `add-checkpoint` (or of start-up), so the HTTP status is decided here, in one place,
//! and the message sent to a client never includes internals such as SQLite errors.

/// Why a request was refused, or the witness could not start or store its state.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The request body or the checkpoint in it cannot be read (400).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The checkpoint's origin is not one of the trusted logs (404).
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// A verification failure: no valid signature by the log's key, or an invalid
    /// signature by a known key (403).
    #[error("checkpoint signature does not verify: {0}")]
    Unauthenticated(String),
    /// The old size is larger than the checkpoint's size (400).
    #[error("old size {old} is larger than the checkpoint size {size}")]
    OldAfterSize { old: u64, size: u64 },
    /// The client's old size is not what the witness stored, or the same size carries
    /// another root (409; the body is the stored size).
    #[error("{reason}; the witness has size {stored}")]
    Conflict { stored: u64, reason: &'static str },
    /// A verification failure: the consistency proof does not hold, or a size-0
    /// checkpoint does not carry the empty-tree root (422).
    #[error("checkpoint is not consistent with the stored one: {0}")]
    Inconsistent(String),
    /// No checkpoint of that origin has been cosigned yet (404 on `GET /checkpoint`).
    #[error("{0}")]
    NotFound(String),
    /// The state database failed; retryable once the disk is fixed (500). The detail
    /// is logged, never sent.
    #[error("state storage: {0}")]
    Storage(String),
    /// The key file, the trusted logs or the state file cannot be used (start-up only).
    #[error("{0}")]
    Config(String),
}

impl From<rusqlite::Error> for WitnessError {
    fn from(e: rusqlite::Error) -> WitnessError {
        WitnessError::Storage(e.to_string())
    }
}

impl WitnessError {
    /// The HTTP status code of this outcome (C2SP tlog-witness §add-checkpoint).
    pub fn status(&self) -> u16 {
        match self {
            WitnessError::Malformed(_) | WitnessError::OldAfterSize { .. } => 400,
            WitnessError::UnknownOrigin(_) | WitnessError::NotFound(_) => 404,
            WitnessError::Unauthenticated(_) => 403,
            WitnessError::Conflict { .. } => 409,
            WitnessError::Inconsistent(_) => 422,
            WitnessError::Storage(_) | WitnessError::Config(_) => 500,
        }
    }
}
