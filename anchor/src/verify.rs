//! Verification of attestations against Bitcoin block headers.
//!
//! A Bitcoin attestation at height H holds when the 32-byte message at the
//! attestation equals bytes 36..68 of the header at H, with no byte reversal
//! (python-opentimestamps `BitcoinBlockHeaderAttestation.verify_against_blockheader`).
//! The proven time is that header's nTime: the message existed by then.
//!
//! Pending attestations cannot be verified (they promise a proof later);
//! Litecoin, Ethereum and unknown attestations are reported as not checked.

use crate::attestation::Attestation;
use crate::bitcoin::HeaderSet;
use crate::error::OtsError;
use crate::timestamp::{AttestedMessage, PendingCommitment};

/// A Bitcoin attestation that holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAttestation {
    pub height: u64,
    /// The header's nTime (seconds since the Unix epoch).
    pub time: u32,
    /// The header's Merkle root as explorers print it.
    pub merkle_root_display: String,
    /// The block hash as explorers print it.
    pub block_hash_display: String,
}

/// An attestation that could not be verified, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedAttestation {
    pub attestation: Attestation,
    /// The message at the attestation.
    pub message: Vec<u8>,
    pub error: OtsError,
}

/// The outcome of checking every attestation of one timestamp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerificationReport {
    /// Bitcoin attestations that hold, in tree order.
    pub verified: Vec<VerifiedAttestation>,
    /// Bitcoin attestations that do not hold or lack a header.
    pub failed: Vec<FailedAttestation>,
    /// Pending attestations with their commitments.
    pub pending: Vec<PendingCommitment>,
    /// Attestations of other kinds, which this crate does not check.
    pub unchecked: Vec<FailedAttestation>,
}

impl VerificationReport {
    /// The verified attestation with the lowest height (the earliest proof).
    pub fn earliest(&self) -> Option<&VerifiedAttestation> {
        self.verified.iter().min_by_key(|v| v.height)
    }

    /// True when at least one Bitcoin attestation holds.
    pub fn has_verified(&self) -> bool {
        !self.verified.is_empty()
    }
}

/// Checks one Bitcoin attestation: the message at it must be the Merkle root
/// of the header at `height`.
pub fn verify_bitcoin_attestation(
    message: &[u8],
    height: u64,
    headers: &HeaderSet,
) -> Result<VerifiedAttestation, OtsError> {
    let header = headers
        .get(height)
        .ok_or(OtsError::MissingHeader { height })?;
    if message.len() != 32 {
        return Err(OtsError::MessageLength {
            height,
            len: message.len(),
        });
    }
    let merkle_root = header.merkle_root();
    if message != merkle_root {
        return Err(OtsError::MerkleRootMismatch {
            height,
            message: message.to_vec(),
            merkle_root,
        });
    }
    Ok(VerifiedAttestation {
        height,
        time: header.time(),
        merkle_root_display: header.merkle_root_display(),
        block_hash_display: header.hash_display(),
    })
}

/// Sorts attestations into verified, failed, pending and unchecked.
pub fn verify_attestations(
    attested: &[AttestedMessage<'_>],
    headers: &HeaderSet,
) -> VerificationReport {
    let mut report = VerificationReport::default();
    for a in attested {
        match a.attestation {
            Attestation::Bitcoin { height } => {
                match verify_bitcoin_attestation(&a.message, *height, headers) {
                    Ok(v) => report.verified.push(v),
                    Err(error) => report.failed.push(FailedAttestation {
                        attestation: a.attestation.clone(),
                        message: a.message.clone(),
                        error,
                    }),
                }
            }
            Attestation::Pending { uri } => report.pending.push(PendingCommitment {
                uri: uri.clone(),
                commitment: a.message.clone(),
            }),
            other => report.unchecked.push(FailedAttestation {
                attestation: other.clone(),
                message: a.message.clone(),
                error: OtsError::NotVerifiable {
                    attestation: other.clone(),
                },
            }),
        }
    }
    report
}
