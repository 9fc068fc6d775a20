//! Why the intake refused a record or a whole request, without any HTTP or gRPC type.
//!
//! Each variant is one reason and carries what its message needs. [`IntakeError::code`]
//! is the stable machine-readable reason clients and the rejects-by-reason metric see
//! (`sequence_gap`, `bad_signature`, …); [`IntakeError::kind`] says what sort of failure
//! it is, which the edges turn into an HTTP status or a gRPC code; the `Display` text is
//! the message for people. Storage failures keep their details out of that message: they
//! are logged when the error is made and answered with a generic text.

use std::fmt::Display;

use ledger::LedgerError;
use ledger_core::hash::Hash;
use ledger_record::{ChainId, KeyId, RecordError, ReleaseError};

use crate::error_code::ErrorCode;

/// What sort of failure an [`IntakeError`] is, independent of any protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is malformed.
    BadRequest,
    /// The caller may not do this.
    Forbidden,
    /// The request contradicts the state of the log (sequence taken, fork, already done).
    Conflict,
    /// A well-formed record fails a verification rule (signature, key, clock).
    Rejected,
    NotFound,
    TooLarge,
    /// Back-pressure: the same request may succeed after `retry_after_secs`.
    Busy {
        retry_after_secs: u64,
    },
    /// The log's disk is below its reserve: the same request may succeed once space is
    /// freed; `retry_after_secs` is a hint.
    InsufficientStorage {
        retry_after_secs: u64,
    },
    /// The log takes no appends until an operator intervenes.
    Unavailable,
    /// A failure inside the server; the details are in the server log.
    Internal,
}

/// Why a record or request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    #[error("{count} records in one request; at most {max} are accepted")]
    TooManyRecords { count: usize, max: usize },

    /// The bytes are not a canonical record (docs/RECORDS.md §1).
    #[error("record refused: {0}")]
    Undecodable(RecordError),

    #[error("chain {chain} is the operator's; appliances cannot append to it")]
    OperatorChain { chain: ChainId },

    #[error("enrolment, revocation, link and release records are written by the server (POST /v1/enrol, POST /v1/admin/appliances/{{site}}/{{appliance}}/revoke, ledgerd period start, POST /v1/releases, POST /v1/admin/release-keys)")]
    OperatorOnlyRecord,

    #[error("the credential is for appliance {credential}; the record is for {record}")]
    WrongAppliance {
        credential: ChainId,
        record: ChainId,
    },

    #[error("records are appended with the appliance credential issued at enrolment")]
    NotAnAppliance,

    #[error("{chain} already logged a different record with sequence {sequence}; the next sequence is {next}")]
    SequenceReplayed {
        chain: ChainId,
        sequence: u64,
        next: u64,
    },

    #[error("sequence gap for {chain}: expected sequence {expected}, got {got}")]
    SequenceGap {
        chain: ChainId,
        expected: u64,
        got: u64,
    },

    /// A fork: the record does not continue the chain's last record.
    #[error("{0}")]
    PrevHashMismatch(Box<Fork>),

    /// The appliance's clock runs ahead: the fleet view counts these per appliance.
    #[error("record time of {chain} is {ahead_ms} ms ahead of the server clock; at most {max_skew_secs} s of future skew is accepted (check the appliance's clock)")]
    FutureTime {
        chain: ChainId,
        ahead_ms: u64,
        max_skew_secs: u64,
    },

    #[error("key {key} of {chain} was revoked at log index {log_index}")]
    KeyRevoked {
        chain: ChainId,
        key: KeyId,
        log_index: u64,
    },

    #[error("key {key} of {chain} was rotated to {new_key} at log index {log_index}")]
    KeyRotated {
        chain: ChainId,
        key: KeyId,
        new_key: KeyId,
        log_index: u64,
    },

    #[error("record is signed by key {used}, but the valid key of {chain} is {valid}")]
    WrongKey {
        chain: ChainId,
        used: KeyId,
        valid: KeyId,
    },

    #[error("{chain} has no valid key (not enrolled, or its key was revoked); the record names key {used}")]
    UnknownKey { chain: ChainId, used: KeyId },

    #[error("signature of record {record_hash} does not verify with key {key} of {chain}")]
    BadSignature {
        chain: ChainId,
        record_hash: Hash,
        key: KeyId,
    },

    /// An enrolment or revocation names the operator's own chain.
    #[error("{subject} is the operator's own chain")]
    OperatorSubject { subject: ChainId },

    #[error(
        "{subject} already has valid key {key}; rotate it, or revoke it before enrolling again"
    )]
    AlreadyEnrolled { subject: ChainId, key: KeyId },

    #[error("key {key} is already known to this log; key ids are never reused")]
    KeyInUse { key: KeyId },

    #[error("{subject} has no valid key to revoke")]
    NothingToRevoke { subject: ChainId },

    /// A signed release (the file `ledgerd release sign` writes) that is malformed or
    /// breaks a statement rule (RECORDS.md §5.5).
    #[error("signed release refused: {0}")]
    InvalidRelease(RecordError),

    /// A release, release-key enrolment or revocation the release history refuses.
    #[error("{0}")]
    Release(ReleaseError),

    #[error("the append queue is full; retry after the time in Retry-After")]
    Busy { retry_after_secs: u64 },

    #[error("the records are logged, but no checkpoint covering them has met the witness quorum yet; retry after the time in Retry-After to get their receipts")]
    WitnessQuorum { retry_after_secs: u64 },

    #[error("the ledger is not accepting appends; the operator must look at the server log")]
    LedgerStopped,

    /// The log's period ended (`ledgerd period freeze`): it serves reads only and its
    /// appliances append to the log that succeeds it.
    #[error("this log is frozen at tree size {size}: its period is over and it takes no more records; append to the log that succeeds it (GET /v1/logs)")]
    LogFrozen { size: u64 },

    #[error("the log's disk is below its free-space reserve ({available} of {reserve} bytes free): nothing was appended; retry once space is freed")]
    NoSpace {
        available: u64,
        reserve: u64,
        retry_after_secs: u64,
    },

    /// Something the log reported missing (a tree size, an entry).
    #[error("{what} not found")]
    LogNotFound { what: String },

    /// A request the log refused as invalid (e.g. a proof for an impossible size).
    #[error("{message}")]
    LogInvalidRequest { message: String },

    #[error("entry is {len} bytes; one log entry is at most 65535 bytes")]
    EntryTooLarge { len: usize },

    #[error("empty entries are not accepted")]
    EmptyEntry,

    /// `detail` is for the server log only; clients get the generic message.
    #[error("internal server error; the operator can find the details in the server log")]
    Internal { detail: String },
}

/// The evidence of a fork: the previous hash a record names and the one its chain has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("previous-hash mismatch (fork) for {chain} at sequence {sequence}: expected prev_hash {expected} (record hash of sequence {last_sequence}), got {got}")]
pub struct Fork {
    pub chain: ChainId,
    pub sequence: u64,
    /// Record hash of the chain's last record, sequence `last_sequence`.
    pub expected: Hash,
    pub last_sequence: u64,
    /// The record's `prev_hash`.
    pub got: Hash,
}

impl IntakeError {
    /// An internal failure. The detail is logged here and never sent to the client.
    pub fn internal(detail: impl Display) -> IntakeError {
        tracing::error!("internal error: {detail}");
        IntakeError::Internal {
            detail: detail.to_string(),
        }
    }

    /// Maps a log error. `retry_after_secs` is used for [`LedgerError::Busy`]. Stopped
    /// ledgers and storage failures are logged here with their details.
    pub fn from_ledger(error: LedgerError, retry_after_secs: u64) -> IntakeError {
        match error {
            LedgerError::Busy { .. } => IntakeError::Busy { retry_after_secs },
            LedgerError::NoSpace {
                available, reserve, ..
            } => IntakeError::NoSpace {
                available,
                reserve,
                retry_after_secs,
            },
            LedgerError::Stopped { reason } => {
                tracing::error!("ledger stopped: {reason}");
                IntakeError::LedgerStopped
            }
            LedgerError::NotFound { what } => IntakeError::LogNotFound { what },
            LedgerError::InvalidRequest(message) => IntakeError::LogInvalidRequest { message },
            LedgerError::Proof(p) => IntakeError::LogInvalidRequest {
                message: p.to_string(),
            },
            LedgerError::EntryTooLarge { len } => IntakeError::EntryTooLarge { len },
            LedgerError::EmptyEntry => IntakeError::EmptyEntry,
            other => IntakeError::internal(other),
        }
    }

    /// The stable, machine-readable reason, e.g. `sequence_gap`.
    pub fn code(&self) -> ErrorCode {
        match self {
            IntakeError::TooManyRecords { .. } => ErrorCode::TooManyRecords,
            IntakeError::Undecodable(e) => decode_code(e),
            IntakeError::OperatorChain { .. }
            | IntakeError::OperatorOnlyRecord
            | IntakeError::OperatorSubject { .. } => ErrorCode::OperatorOnly,
            IntakeError::WrongAppliance { .. } => ErrorCode::WrongAppliance,
            IntakeError::NotAnAppliance => ErrorCode::NotAnAppliance,
            IntakeError::SequenceReplayed { .. } => ErrorCode::SequenceReplayed,
            IntakeError::SequenceGap { .. } => ErrorCode::SequenceGap,
            IntakeError::PrevHashMismatch { .. } => ErrorCode::PrevHashMismatch,
            IntakeError::FutureTime { .. } => ErrorCode::FutureTime,
            IntakeError::KeyRevoked { .. } => ErrorCode::KeyRevoked,
            IntakeError::KeyRotated { .. } => ErrorCode::KeyRotated,
            IntakeError::WrongKey { .. } => ErrorCode::WrongKey,
            IntakeError::UnknownKey { .. } => ErrorCode::UnknownKey,
            IntakeError::BadSignature { .. } => ErrorCode::BadSignature,
            IntakeError::AlreadyEnrolled { .. } => ErrorCode::AlreadyEnrolled,
            IntakeError::KeyInUse { .. } => ErrorCode::KeyInUse,
            IntakeError::NothingToRevoke { .. } | IntakeError::LogNotFound { .. } => {
                ErrorCode::NotFound
            }
            IntakeError::InvalidRelease(_) => ErrorCode::InvalidRelease,
            IntakeError::Release(e) => release_code(e),
            IntakeError::Busy { .. } => ErrorCode::Busy,
            IntakeError::WitnessQuorum { .. } => ErrorCode::WitnessQuorum,
            IntakeError::LedgerStopped => ErrorCode::Unavailable,
            IntakeError::LogFrozen { .. } => ErrorCode::LogFrozen,
            IntakeError::NoSpace { .. } => ErrorCode::InsufficientStorage,
            IntakeError::LogInvalidRequest { .. } => ErrorCode::InvalidRequest,
            IntakeError::EntryTooLarge { .. } => ErrorCode::TooLarge,
            IntakeError::EmptyEntry => ErrorCode::Empty,
            IntakeError::Internal { .. } => ErrorCode::Internal,
        }
    }

    /// The appliance a refusal says something about beyond the record itself: its clock
    /// runs ahead (`future_time`) or it reuses sequence numbers already logged
    /// (`sequence_replayed`, e.g. restored from an old backup). The fleet view counts
    /// these per appliance.
    pub fn appliance(&self) -> Option<&ChainId> {
        match self {
            IntakeError::FutureTime { chain, .. } | IntakeError::SequenceReplayed { chain, .. } => {
                Some(chain)
            }
            _ => None,
        }
    }

    /// What sort of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            IntakeError::TooManyRecords { .. } | IntakeError::EntryTooLarge { .. } => {
                ErrorKind::TooLarge
            }
            IntakeError::Undecodable(RecordError::TooLarge { .. }) => ErrorKind::TooLarge,
            IntakeError::Release(e) => release_kind(e),
            IntakeError::Undecodable(_)
            | IntakeError::InvalidRelease(_)
            | IntakeError::OperatorSubject { .. }
            | IntakeError::LogInvalidRequest { .. }
            | IntakeError::EmptyEntry => ErrorKind::BadRequest,
            IntakeError::OperatorChain { .. }
            | IntakeError::OperatorOnlyRecord
            | IntakeError::WrongAppliance { .. }
            | IntakeError::NotAnAppliance => ErrorKind::Forbidden,
            IntakeError::SequenceReplayed { .. }
            | IntakeError::SequenceGap { .. }
            | IntakeError::PrevHashMismatch { .. }
            | IntakeError::AlreadyEnrolled { .. }
            | IntakeError::KeyInUse { .. } => ErrorKind::Conflict,
            IntakeError::FutureTime { .. }
            | IntakeError::KeyRevoked { .. }
            | IntakeError::KeyRotated { .. }
            | IntakeError::WrongKey { .. }
            | IntakeError::UnknownKey { .. }
            | IntakeError::BadSignature { .. } => ErrorKind::Rejected,
            IntakeError::NothingToRevoke { .. } | IntakeError::LogNotFound { .. } => {
                ErrorKind::NotFound
            }
            IntakeError::Busy { retry_after_secs }
            | IntakeError::WitnessQuorum { retry_after_secs } => ErrorKind::Busy {
                retry_after_secs: *retry_after_secs,
            },
            IntakeError::LedgerStopped | IntakeError::LogFrozen { .. } => ErrorKind::Unavailable,
            IntakeError::NoSpace {
                retry_after_secs, ..
            } => ErrorKind::InsufficientStorage {
                retry_after_secs: *retry_after_secs,
            },
            IntakeError::Internal { .. } => ErrorKind::Internal,
        }
    }
}

/// The stable reason code of a decoding failure.
fn release_code(error: &ReleaseError) -> ErrorCode {
    match error {
        ReleaseError::UnknownReleaseKey { .. } | ReleaseError::ReleaseKeyNotYetValid { .. } => {
            ErrorCode::UnknownReleaseKey
        }
        ReleaseError::ReleaseKeyRevoked { .. } => ErrorCode::ReleaseKeyRevoked,
        ReleaseError::BadReleaseSignature { .. } => ErrorCode::BadReleaseSignature,
        ReleaseError::Signature { .. } => ErrorCode::Internal,
        ReleaseError::AlreadyReleased { .. } => ErrorCode::AlreadyReleased,
        ReleaseError::KeyIdInUse { .. } => ErrorCode::KeyInUse,
        ReleaseError::NameInUse { .. } => ErrorCode::ReleaseKeyNameInUse,
        ReleaseError::LogIndexNotIncreasing { .. }
        | ReleaseError::NotAReleaseRecord { .. }
        | ReleaseError::NotOperatorKey { .. } => ErrorCode::Internal,
    }
}

fn release_kind(error: &ReleaseError) -> ErrorKind {
    match error {
        ReleaseError::UnknownReleaseKey { .. }
        | ReleaseError::ReleaseKeyNotYetValid { .. }
        | ReleaseError::ReleaseKeyRevoked { .. }
        | ReleaseError::BadReleaseSignature { .. } => ErrorKind::Rejected,
        ReleaseError::AlreadyReleased { .. }
        | ReleaseError::KeyIdInUse { .. }
        | ReleaseError::NameInUse { .. } => ErrorKind::Conflict,
        ReleaseError::LogIndexNotIncreasing { .. }
        | ReleaseError::NotAReleaseRecord { .. }
        | ReleaseError::NotOperatorKey { .. }
        | ReleaseError::Signature { .. } => ErrorKind::Internal,
    }
}

fn decode_code(error: &RecordError) -> ErrorCode {
    match error {
        RecordError::TooLarge { .. } => ErrorCode::TooLarge,
        RecordError::Truncated { .. } => ErrorCode::Truncated,
        RecordError::TrailingBytes { .. } => ErrorCode::TrailingBytes,
        RecordError::InvalidCbor { .. } => ErrorCode::InvalidCbor,
        RecordError::NonCanonical { .. } | RecordError::DuplicateKey { .. } => {
            ErrorCode::NonCanonical
        }
        RecordError::UnsupportedVersion { .. } | RecordError::UnsupportedBodyVersion { .. } => {
            ErrorCode::UnknownVersion
        }
        RecordError::UnknownKind { .. } => ErrorCode::UnknownKind,
        _ => ErrorCode::InvalidRecord,
    }
}

/// Why the intake state could not be rebuilt from the log at start-up.
#[derive(Debug, thiserror::Error)]
pub enum IntakeOpenError {
    #[error("reading the log: {0}")]
    ReadLog(#[from] LedgerError),
    /// The persisted intake state cannot be read back; `ledgerd fsck --rebuild-state`
    /// rebuilds it from the entries.
    #[error("the persisted intake state is damaged ({0}); `ledgerd fsck --rebuild-state` rebuilds it from the log")]
    DamagedState(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_failures_keep_their_codes_and_kinds() {
        let too_large = IntakeError::Undecodable(RecordError::TooLarge {
            len: 70000,
            max: 65535,
        });
        assert_eq!(too_large.code(), "too_large");
        assert_eq!(too_large.kind(), ErrorKind::TooLarge);
        let cbor = IntakeError::Undecodable(RecordError::InvalidCbor {
            offset: 3,
            reason: "tag",
        });
        assert_eq!(cbor.code(), "invalid_cbor");
        assert_eq!(cbor.kind(), ErrorKind::BadRequest);
        assert_eq!(
            cbor.to_string(),
            "record refused: invalid CBOR at byte 3: tag"
        );
    }

    #[test]
    fn ledger_errors_map_like_the_server_edge() {
        let busy = IntakeError::from_ledger(LedgerError::Busy { capacity: 4 }, 7);
        assert_eq!(busy.code(), "busy");
        assert_eq!(
            busy.kind(),
            ErrorKind::Busy {
                retry_after_secs: 7
            }
        );
        let stopped = IntakeError::from_ledger(
            LedgerError::Stopped {
                reason: "disk".into(),
            },
            1,
        );
        assert_eq!(stopped.code(), "unavailable");
        assert_eq!(stopped.kind(), ErrorKind::Unavailable);
    }

    #[test]
    fn internal_errors_do_not_show_their_detail() {
        let e = IntakeError::from_ledger(
            LedgerError::Corrupt {
                what: "secret path /var/lib/x".into(),
            },
            1,
        );
        assert_eq!(e.code(), "internal");
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert!(!e.to_string().contains("/var/lib"));
    }
}
