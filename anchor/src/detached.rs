//! Detached timestamp files (`.ots`): header, file digest and tree
//! (python-opentimestamps `DetachedTimestampFile`).
//!
//! Layout: the 31-byte magic, the major version as a varuint (must be 1), the
//! file-hash operation tag (a hash operation), the digest (as long as that
//! hash's output), the timestamp tree, and nothing after it.

use crate::attestation::Attestation;
use crate::bitcoin::HeaderSet;
use crate::codec::{write_varuint, Reader};
use crate::error::OtsError;
use crate::op::HashOp;
use crate::timestamp::{AttestedMessage, PendingCommitment, Timestamp};
use crate::verify::{verify_attestations, VerificationReport};

/// Magic bytes at the start of every `.ots` file: `\0OpenTimestamps\0\0Proof\0`
/// followed by 8 random bytes chosen by the format's author.
pub const MAGIC: [u8; 31] = *b"\x00OpenTimestamps\x00\x00Proof\x00\xbf\x89\xe2\xe8\x84\xe8\x92\x94";

/// The only major version defined.
pub const MAJOR_VERSION: u64 = 1;

/// A parsed `.ots` file: the timestamp of one file's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedTimestamp {
    /// How the file was hashed.
    pub file_hash_op: HashOp,
    /// The file's digest, the root message of the tree.
    pub digest: Vec<u8>,
    /// The tree of operations and attestations on the digest.
    pub timestamp: Timestamp,
}

impl DetachedTimestamp {
    /// Starts an (empty) timestamp for a digest made with `file_hash_op`.
    pub fn new(file_hash_op: HashOp, digest: &[u8]) -> Result<DetachedTimestamp, OtsError> {
        if digest.len() != file_hash_op.digest_len() {
            return Err(OtsError::DigestLength {
                expected: file_hash_op.digest_len(),
                actual: digest.len(),
            });
        }
        Ok(DetachedTimestamp {
            file_hash_op,
            digest: digest.to_vec(),
            timestamp: Timestamp::new(),
        })
    }

    /// Starts an (empty) timestamp for `data`, hashed with `file_hash_op`.
    pub fn for_data(file_hash_op: HashOp, data: &[u8]) -> DetachedTimestamp {
        DetachedTimestamp {
            file_hash_op,
            digest: file_hash_op.hash(data),
            timestamp: Timestamp::new(),
        }
    }

    /// True when `data` hashes to this timestamp's digest.
    pub fn matches_data(&self, data: &[u8]) -> bool {
        self.file_hash_op.hash(data) == self.digest
    }

    /// Parses a `.ots` file. Untrusted input is fine: every length is
    /// bounded before use and nesting is limited to 256 levels.
    pub fn parse(bytes: &[u8]) -> Result<DetachedTimestamp, OtsError> {
        let mut r = Reader::new(bytes);
        let magic = r.bytes(MAGIC.len()).map_err(|_| OtsError::BadMagic)?;
        if magic != MAGIC {
            return Err(OtsError::BadMagic);
        }
        let version = r.varuint()?;
        if version != MAJOR_VERSION {
            return Err(OtsError::UnsupportedVersion { version });
        }
        let op_offset = r.offset();
        let tag = r.u8()?;
        let file_hash_op = HashOp::from_tag(tag).ok_or(OtsError::NotAHashOp {
            offset: op_offset,
            tag,
        })?;
        let digest = r.bytes(file_hash_op.digest_len())?.to_vec();
        let timestamp = Timestamp::read(&mut r, digest.len(), 0)?;
        r.expect_end()?;
        Ok(DetachedTimestamp {
            file_hash_op,
            digest,
            timestamp,
        })
    }

    /// Serializes in canonical order, checking every limit first, so the
    /// output always parses back to an equal value.
    pub fn to_bytes(&self) -> Result<Vec<u8>, OtsError> {
        if self.digest.len() != self.file_hash_op.digest_len() {
            return Err(OtsError::DigestLength {
                expected: self.file_hash_op.digest_len(),
                actual: self.digest.len(),
            });
        }
        let mut out = MAGIC.to_vec();
        write_varuint(&mut out, MAJOR_VERSION);
        out.push(self.file_hash_op.tag());
        out.extend_from_slice(&self.digest);
        self.timestamp.write(&mut out, self.digest.len(), 0)?;
        Ok(out)
    }

    /// Every attestation with the message it commits to.
    pub fn attestations(&self) -> Result<Vec<AttestedMessage<'_>>, OtsError> {
        self.timestamp.attestations_with_messages(&self.digest)
    }

    /// The commitment of every pending attestation, i.e. what to ask each
    /// calendar for when upgrading.
    pub fn pending_commitments(&self) -> Result<Vec<PendingCommitment>, OtsError> {
        self.timestamp.pending_commitments(&self.digest)
    }

    /// Merges a calendar's answer for `commitment` (see
    /// [`Timestamp::merge_upgrade`]).
    pub fn merge_upgrade(
        &mut self,
        commitment: &[u8],
        answer: Timestamp,
    ) -> Result<usize, OtsError> {
        self.timestamp
            .merge_upgrade(&self.digest, commitment, answer)
    }

    /// True when at least one attestation is not pending.
    pub fn is_complete(&self) -> Result<bool, OtsError> {
        Ok(self
            .attestations()?
            .iter()
            .any(|a| !matches!(a.attestation, Attestation::Pending { .. })))
    }

    /// Checks every Bitcoin attestation against `headers`; see
    /// [`VerificationReport`].
    pub fn verify_bitcoin(&self, headers: &HeaderSet) -> Result<VerificationReport, OtsError> {
        Ok(verify_attestations(&self.attestations()?, headers))
    }
}
