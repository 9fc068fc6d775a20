//! The crate's error type for records, bodies and disclosures.
//!
//! The variants fall into two groups that callers must treat differently:
//! *malformed input* (the bytes or values are not a valid record of this format; a
//! server answers 400 and never retries) and *verification failures* (a well-formed
//! record whose signature, key or commitment does not check; these carry the evidence
//! an auditor needs). Nothing in this crate does I/O, so there is no I/O variant.

use ledger_core::hash::Hash;

use crate::ids::{IdError, KeyId};

/// Why a record, a body or a disclosure was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    // ---- Malformed input -------------------------------------------------------------
    /// The input is longer than one log entry may be (C2SP tlog-tiles: 16-bit length
    /// prefix). Checked before any parsing.
    #[error("record is {len} bytes, more than the {max}-byte limit of one log entry")]
    TooLarge { len: usize, max: usize },
    /// The input ends inside the CBOR item that starts at `offset`.
    #[error("input ends inside the CBOR item starting at byte {offset}")]
    Truncated { offset: usize },
    /// A complete record is followed by more bytes.
    #[error("{extra} trailing bytes after the record, starting at byte {offset}")]
    TrailingBytes { offset: usize, extra: usize },
    /// The bytes are not CBOR, or use CBOR features records never use (negative
    /// integers, tags, floats, simple values, nesting deeper than records go).
    #[error("invalid CBOR at byte {offset}: {reason}")]
    InvalidCbor { offset: usize, reason: &'static str },
    /// Valid CBOR, but not the deterministic encoding of RFC 8949 §4.2.1.
    #[error("non-canonical CBOR at byte {offset}: {reason}")]
    NonCanonical { offset: usize, reason: &'static str },
    /// A map repeats a key (RFC 8949 §5.6: such a map is not valid).
    #[error("map key {key} repeated at byte {offset}")]
    DuplicateKey { offset: usize, key: u64 },
    /// The envelope's format version is not one this crate implements.
    #[error("unsupported record format version {version}")]
    UnsupportedVersion { version: u64 },
    /// The envelope's kind is not one this crate knows.
    #[error("unknown record kind {kind}")]
    UnknownKind { kind: u64 },
    /// A body's own schema version is not one this crate implements.
    #[error("unsupported {body} body schema version {version}")]
    UnsupportedBodyVersion { body: &'static str, version: u64 },
    /// A required map key is absent.
    #[error("{map}: required key {key} is missing")]
    MissingField { map: &'static str, key: u64 },
    /// A map carries a key its schema does not define.
    #[error("{map}: unknown key {key}")]
    UnknownField { map: &'static str, key: u64 },
    /// A field holds the wrong CBOR type (or a byte string of the wrong length).
    #[error("{field}: expected {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    /// An identifier field is empty, too long or uses a character outside `[A-Za-z0-9._:-]`.
    #[error("{field}: {problem}")]
    InvalidId {
        field: &'static str,
        problem: IdError,
    },
    /// A field has the right type but a value its schema forbids.
    #[error("{field}: {reason}")]
    InvalidValue { field: &'static str, reason: String },

    // ---- Verification failures ---------------------------------------------------------
    /// The record names a different key than the one it is being verified with.
    #[error("record names key {record} but is being verified with key {key}")]
    KeyIdMismatch { record: KeyId, key: KeyId },
    /// The Ed25519 signature does not verify (strict verification, RFC 8032 §5.1.7 plus
    /// the rejection of small-order points).
    #[error("signature of record {record_hash} does not verify with key {key_id}")]
    BadSignature { key_id: KeyId, record_hash: Hash },
    /// A release's signature does not verify with the release key it names.
    #[error("release signature does not verify with release key {key_id}")]
    BadReleaseSignature { key_id: KeyId },
    /// A disclosure's items and proof do not lead to the committed items root.
    #[error("disclosed items lead to root {computed}, the record commits to {expected}")]
    DisclosureRootMismatch { computed: Hash, expected: Hash },
    /// A disclosure claims a different number of items than the record commits to.
    #[error("disclosure is for {disclosed} items, the record commits to {committed}")]
    DisclosureCountMismatch { disclosed: u64, committed: u64 },
}

impl RecordError {
    /// True for failures of a well-formed record or disclosure to verify, false for
    /// malformed input.
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self,
            RecordError::KeyIdMismatch { .. }
                | RecordError::BadSignature { .. }
                | RecordError::BadReleaseSignature { .. }
                | RecordError::DisclosureRootMismatch { .. }
                | RecordError::DisclosureCountMismatch { .. }
        )
    }
}
