//! The crate's single error type.
//!
//! Variants fall into four families that callers treat differently:
//! malformed input (the bytes are not a valid `.ots` structure; never retry),
//! limits (the structure is valid but exceeds a bound of the reference
//! implementation), verification failures (the proof is well formed but does
//! not hold; each carries the evidence), and, behind the `client` feature,
//! calendar I/O (usually retryable).

use std::fmt;

use crate::attestation::Attestation;

/// Which bound of the reference implementation was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// The result of one operation (4096 bytes).
    OpResult,
    /// The message an operation is applied to (4096 bytes, 2048 for hexlify).
    OpInput,
    /// The argument of an append or prepend (4096 bytes).
    OpArgument,
    /// The nesting depth of the timestamp tree (256 levels).
    Depth,
    /// The serialized payload of one attestation (8192 bytes).
    AttestationPayload,
    /// The URI of a pending attestation (1000 bytes).
    UriLength,
    /// A digest submitted to a calendar (64 bytes).
    Digest,
    /// A response body from a calendar (10,000 bytes).
    Response,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Limit::OpResult => "operation result",
            Limit::OpInput => "operation input",
            Limit::OpArgument => "operation argument",
            Limit::Depth => "nesting depth",
            Limit::AttestationPayload => "attestation payload",
            Limit::UriLength => "pending attestation URI",
            Limit::Digest => "digest",
            Limit::Response => "calendar response",
        };
        f.write_str(name)
    }
}

/// Why two consecutive block headers do not form a valid chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainFault {
    /// The header's hash is above the target encoded in its own nBits.
    ProofOfWork,
    /// The nBits field does not encode a valid positive target.
    InvalidTarget,
    /// The header's prev-hash field is not the hash of the header below it.
    Linkage,
}

impl fmt::Display for ChainFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChainFault::ProofOfWork => "hash above target",
            ChainFault::InvalidTarget => "nBits does not encode a valid target",
            ChainFault::Linkage => "prev-hash field does not match the previous header",
        })
    }
}

/// Every error this crate returns.
///
/// Byte offsets count from the start of the input handed to the parser (for
/// a detached file, from its first magic byte).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OtsError {
    // ---- Malformed input -------------------------------------------------
    /// The input ended inside a structure.
    #[error("truncated input: needed {needed} more byte(s) at offset {offset}")]
    Truncated { offset: usize, needed: usize },

    /// Bytes remain after a complete structure.
    #[error("trailing bytes after the timestamp at offset {offset}")]
    TrailingBytes { offset: usize },

    /// The file does not start with the OpenTimestamps magic.
    #[error("not an OpenTimestamps proof: bad magic bytes")]
    BadMagic,

    /// The major version is not 1.
    #[error("unsupported .ots major version {version}")]
    UnsupportedVersion { version: u64 },

    /// A byte where an operation tag was expected is not a known operation.
    #[error("unknown operation tag 0x{tag:02x} at offset {offset}")]
    UnknownOp { offset: usize, tag: u8 },

    /// The file-hash field names an operation that is not a hash function.
    #[error("file hash operation 0x{tag:02x} at offset {offset} is not a hash function")]
    NotAHashOp { offset: usize, tag: u8 },

    /// A variable-length integer does not fit in 64 bits.
    #[error("varuint at offset {offset} overflows 64 bits")]
    VaruintOverflow { offset: usize },

    /// A variable-length integer uses more bytes than needed (e.g. `80 00`).
    #[error("varuint at offset {offset} is not minimally encoded")]
    VaruintOverlong { offset: usize },

    /// An append or prepend argument is empty (the reference rejects this).
    #[error("empty append/prepend argument at offset {offset}")]
    EmptyArgument { offset: usize },

    /// Reverse or hexlify applied to an empty message (the reference rejects
    /// this because it could create a cycle in the commitment graph).
    #[error("operation 0x{tag:02x} applied to an empty message")]
    EmptyMessage { tag: u8 },

    /// A pending attestation's URI is not acceptable.
    #[error("invalid pending attestation URI at offset {offset:?}: {reason}")]
    InvalidUri {
        offset: Option<usize>,
        reason: &'static str,
    },

    /// A known attestation's payload has bytes after its fields.
    #[error("attestation payload at offset {offset} has trailing bytes")]
    AttestationTrailingBytes { offset: usize },

    /// A digest's length does not match its hash operation.
    #[error("digest is {actual} bytes but the hash operation produces {expected}")]
    DigestLength { expected: usize, actual: usize },

    // ---- Limits ------------------------------------------------------------
    /// A bound of the reference implementation was exceeded.
    #[error("{limit} limit exceeded{}: {actual} > {max}", fmt_offset(*.offset))]
    LimitExceeded {
        limit: Limit,
        offset: Option<usize>,
        actual: usize,
        max: usize,
    },

    // ---- Model misuse --------------------------------------------------------
    /// A timestamp node with neither attestations nor operations cannot be
    /// serialized (the reference refuses too).
    #[error("an empty timestamp cannot be serialized")]
    EmptyTimestamp,

    /// An upgrade answer was offered for a commitment that no pending
    /// attestation in the timestamp commits to.
    #[error("no pending attestation commits to {}", hex::encode(.commitment))]
    UnknownCommitment { commitment: Vec<u8> },

    // ---- Block header input -----------------------------------------------
    /// A line of a headers file is not `HEIGHT HEX80`.
    #[error("headers file line {line}: {reason}")]
    HeaderLine { line: usize, reason: &'static str },

    /// A block header is not exactly 80 bytes.
    #[error("block header is {actual} bytes, expected 80")]
    HeaderLength { actual: usize },

    /// Two different headers were given for the same height.
    #[error("two different headers given for height {height}")]
    ConflictingHeader { height: u64 },

    /// Consecutive headers do not form a valid chain.
    #[error("header at height {height} rejected: {fault}")]
    HeaderChain {
        height: u64,
        fault: ChainFault,
        /// The header's double-SHA256 in internal byte order.
        hash: [u8; 32],
        /// What the hash was compared with: the target (little-endian) for
        /// proof-of-work faults, the prev-hash field for linkage faults.
        expected: [u8; 32],
    },

    // ---- Verification failures (carry the evidence) --------------------------
    /// No header was supplied for the attested height.
    #[error("no block header supplied for height {height}")]
    MissingHeader { height: u64 },

    /// The message at a Bitcoin attestation is not 32 bytes long.
    #[error("message at the attestation for height {height} is {len} bytes, expected 32")]
    MessageLength { height: u64, len: usize },

    /// The message at a Bitcoin attestation is not the header's Merkle root.
    #[error(
        "message {} does not match the Merkle root {} of block {height}",
        hex::encode(.message),
        hex::encode(.merkle_root)
    )]
    MerkleRootMismatch {
        height: u64,
        message: Vec<u8>,
        merkle_root: [u8; 32],
    },

    /// The attestation kind cannot be verified against Bitcoin headers.
    #[error("attestation {attestation} cannot be verified offline against Bitcoin headers")]
    NotVerifiable { attestation: Attestation },

    // ---- Calendar I/O (feature `client`) -------------------------------------
    /// A calendar URL is not on the allow-list or is not a valid URL.
    #[error("calendar URL {url:?} rejected: {reason}")]
    CalendarUrl { url: String, reason: &'static str },

    /// The calendar client's configuration is unusable.
    #[error("calendar client configuration: {reason}")]
    ClientConfig { reason: &'static str },

    /// A calendar request failed; usually worth retrying later.
    #[error("calendar {url} failed: {reason}")]
    Calendar { url: String, reason: String },

    /// A Bitcoin header API request failed or answered something unusable.
    #[error("Bitcoin header source {url}: {reason}")]
    HeaderSource { url: String, reason: String },

    /// Too few calendars accepted a submission.
    #[error("only {successes} of the required {required} calendars answered")]
    NotEnoughCalendars {
        successes: usize,
        required: usize,
        /// The failure of each calendar that did not answer, as text.
        failures: Vec<String>,
    },
}

fn fmt_offset(offset: Option<usize>) -> String {
    match offset {
        Some(offset) => format!(" at offset {offset}"),
        None => String::new(),
    }
}

impl OtsError {
    /// True for failures that may succeed when retried later (calendar I/O).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            OtsError::Calendar { .. }
                | OtsError::NotEnoughCalendars { .. }
                | OtsError::HeaderSource { .. }
        )
    }
}
