//! The stable, machine-readable reasons of every refusal the server answers: the `code`
//! of an error body (`{"error": {"code": …}}`), the `x-error-code` gRPC metadata and the
//! label of the rejects-by-reason metric. One enum, so a code cannot be misspelt at one
//! call site and the list clients may see is in one place (docs/API.md lists them).
//! Free of HTTP: domain errors name their code, the edges choose the status.

/// A stable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCode {
    AdminOnly,
    AlreadyEnrolled,
    AlreadyReleased,
    AnchoringDisabled,
    ApplianceOnly,
    BadReleaseSignature,
    BadSignature,
    Busy,
    DuplicateRollout,
    Empty,
    EnrolmentTokenExpired,
    EnrolmentTokenInvalid,
    EnrolmentTokenUsed,
    FutureTime,
    InsufficientStorage,
    Internal,
    InvalidBackupTarget,
    InvalidBatch,
    InvalidCbor,
    InvalidCheckin,
    InvalidJson,
    InvalidPublicKey,
    InvalidRecord,
    InvalidRelease,
    InvalidRequest,
    InvalidRollout,
    KeyInUse,
    KeyRevoked,
    KeyRotated,
    LogFrozen,
    NoMembers,
    NonCanonical,
    NotAnAppliance,
    NotFound,
    OperatorOnly,
    PrevHashMismatch,
    ReadTokenRequired,
    ReleaseKeyNameInUse,
    ReleaseKeyRevoked,
    RolloutExists,
    RolloutState,
    SequenceGap,
    SequenceReplayed,
    TooLarge,
    TooManyRecords,
    TrailingBytes,
    Truncated,
    Unauthenticated,
    Unavailable,
    UnknownAppliance,
    UnknownKey,
    UnknownKind,
    UnknownRelease,
    UnknownReleaseKey,
    UnknownVersion,
    WitnessQuorum,
    WrongAppliance,
    WrongKey,
}

impl ErrorCode {
    /// The code as clients see it, e.g. `sequence_gap`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AdminOnly => "admin_only",
            ErrorCode::AlreadyEnrolled => "already_enrolled",
            ErrorCode::AlreadyReleased => "already_released",
            ErrorCode::AnchoringDisabled => "anchoring_disabled",
            ErrorCode::ApplianceOnly => "appliance_only",
            ErrorCode::BadReleaseSignature => "bad_release_signature",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::Busy => "busy",
            ErrorCode::DuplicateRollout => "duplicate_rollout",
            ErrorCode::Empty => "empty",
            ErrorCode::EnrolmentTokenExpired => "enrolment_token_expired",
            ErrorCode::EnrolmentTokenInvalid => "enrolment_token_invalid",
            ErrorCode::EnrolmentTokenUsed => "enrolment_token_used",
            ErrorCode::FutureTime => "future_time",
            ErrorCode::InsufficientStorage => "insufficient_storage",
            ErrorCode::Internal => "internal",
            ErrorCode::InvalidBackupTarget => "invalid_backup_target",
            ErrorCode::InvalidBatch => "invalid_batch",
            ErrorCode::InvalidCbor => "invalid_cbor",
            ErrorCode::InvalidCheckin => "invalid_checkin",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidPublicKey => "invalid_public_key",
            ErrorCode::InvalidRecord => "invalid_record",
            ErrorCode::InvalidRelease => "invalid_release",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidRollout => "invalid_rollout",
            ErrorCode::KeyInUse => "key_in_use",
            ErrorCode::KeyRevoked => "key_revoked",
            ErrorCode::KeyRotated => "key_rotated",
            ErrorCode::LogFrozen => "log_frozen",
            ErrorCode::NoMembers => "no_members",
            ErrorCode::NonCanonical => "non_canonical",
            ErrorCode::NotAnAppliance => "not_an_appliance",
            ErrorCode::NotFound => "not_found",
            ErrorCode::OperatorOnly => "operator_only",
            ErrorCode::PrevHashMismatch => "prev_hash_mismatch",
            ErrorCode::ReadTokenRequired => "read_token_required",
            ErrorCode::ReleaseKeyNameInUse => "release_key_name_in_use",
            ErrorCode::ReleaseKeyRevoked => "release_key_revoked",
            ErrorCode::RolloutExists => "rollout_exists",
            ErrorCode::RolloutState => "rollout_state",
            ErrorCode::SequenceGap => "sequence_gap",
            ErrorCode::SequenceReplayed => "sequence_replayed",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::TooManyRecords => "too_many_records",
            ErrorCode::TrailingBytes => "trailing_bytes",
            ErrorCode::Truncated => "truncated",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::UnknownAppliance => "unknown_appliance",
            ErrorCode::UnknownKey => "unknown_key",
            ErrorCode::UnknownKind => "unknown_kind",
            ErrorCode::UnknownRelease => "unknown_release",
            ErrorCode::UnknownReleaseKey => "unknown_release_key",
            ErrorCode::UnknownVersion => "unknown_version",
            ErrorCode::WitnessQuorum => "witness_quorum",
            ErrorCode::WrongAppliance => "wrong_appliance",
            ErrorCode::WrongKey => "wrong_key",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<ErrorCode> for &str {
    fn eq(&self, other: &ErrorCode) -> bool {
        *self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_lower_snake_case_and_compare_with_text() {
        assert_eq!(ErrorCode::SequenceGap.as_str(), "sequence_gap");
        assert_eq!(ErrorCode::SequenceGap, "sequence_gap");
        assert_ne!(ErrorCode::Busy, "sequence_gap");
        assert_eq!(ErrorCode::InvalidRequest.to_string(), "invalid_request");
    }
}
