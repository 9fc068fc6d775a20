//! C2SP tlog-proof (<https://c2sp.org/tlog-proof>): the offline receipt that one entry is
//! in the log, stored as `.tlog-proof` files.
//!
//! Implemented (§Format), line by line:
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64>            (optional, opaque, NOT authenticated)
//! index <decimal, no leading zeroes>
//! <base64 hash>             (zero or more: the RFC 6962 audit path, leaf side first)
//!
//! <signed checkpoint note, verbatim>
//! ```
//!
//! Parsing is strict: exactly that header, at most one `extra` line with non-empty
//! canonical base64, every hash exactly 32 bytes of canonical padded base64, the
//! checkpoint a well-formed signed note whose text is a checkpoint, the index below the
//! checkpoint's tree size, and exactly as many hashes as the audit path for that index
//! and size has (RFC 9162 §2.1.3.1). Any other line, anywhere, is refused, so
//! [`Receipt::to_text`] of a parsed receipt is the input byte for byte.
//!
//! Verification checks the log's signature on the checkpoint (and that its origin is the
//! log key's name, see [`crate::checkpoint`]) and then the inclusion of the entry's leaf
//! hash with [`crate::proof::verify_inclusion`]. Witness cosignatures are kept in the
//! note and not checked here.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::checkpoint::SignedCheckpoint;
use crate::checkpoint::{decode_hash_b64, parse_decimal_u64, Checkpoint, CheckpointError};
use crate::hash::{leaf_hash, Hash};
use crate::note::{Note, NoteVerifier};
use crate::proof::{inclusion_proof_len, verify_inclusion, ProofError};

/// First line of every receipt.
pub const RECEIPT_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// File extension the spec recommends for receipts (without the dot).
pub const FILE_EXTENSION: &str = "tlog-proof";

/// Longest audit path of any tree with a `u64` size.
const MAX_PROOF_LEN: usize = 64;

/// Why a receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("malformed receipt: {0}")]
    Malformed(&'static str),
    #[error("receipt index {index} is not below the checkpoint's tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("receipt has {got} proof hashes, an audit path for index {index} in a tree of size {size} has {expected}")]
    WrongProofLength {
        index: u64,
        size: u64,
        got: usize,
        expected: usize,
    },
    /// The checkpoint is malformed, or its signature or origin did not verify.
    #[error("receipt checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// A verification failure: the signed checkpoint is genuine but the entry is not
    /// proven to be at the receipt's index in it. Carries the evidence.
    #[error(transparent)]
    NotIncluded(Box<InclusionFailure>),
}

/// The evidence of a failed inclusion check: what was claimed and why it did not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry with leaf hash {leaf} is not proven at index {index} of the tree of size {size} with root {root}: {source}")]
pub struct InclusionFailure {
    pub index: u64,
    pub size: u64,
    pub leaf: Hash,
    pub root: Hash,
    pub proof: Vec<Hash>,
    pub source: ProofError,
}

impl ReceiptError {
    /// True when well-formed input failed verification.
    pub fn is_verification_failure(&self) -> bool {
        match self {
            ReceiptError::Checkpoint(e) => e.is_verification_failure(),
            ReceiptError::NotIncluded(_) => true,
            _ => false,
        }
    }
}

/// A parsed, not yet verified receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    extra: Option<Vec<u8>>,
    index: u64,
    proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    checkpoint_note: String,
    /// Its body, parsed but not trusted until [`Receipt::verify`] checks the signature.
    checkpoint: Checkpoint,
}

impl Receipt {
    /// Assembles a receipt from an audit path and a signed checkpoint note, with the
    /// same checks as [`Receipt::parse`].
    pub fn new(
        index: u64,
        proof: Vec<Hash>,
        checkpoint_note: &str,
    ) -> Result<Receipt, ReceiptError> {
        let note = Note::parse(checkpoint_note.as_bytes()).map_err(CheckpointError::from)?;
        let checkpoint = Checkpoint::parse(note.text())?;
        if index >= checkpoint.size {
            return Err(ReceiptError::IndexOutOfRange {
                index,
                size: checkpoint.size,
            });
        }
        let expected = inclusion_proof_len(index, checkpoint.size);
        if proof.len() != expected {
            return Err(ReceiptError::WrongProofLength {
                index,
                size: checkpoint.size,
                got: proof.len(),
                expected,
            });
        }
        Ok(Receipt {
            extra: None,
            index,
            proof,
            checkpoint_note: checkpoint_note.to_owned(),
            checkpoint,
        })
    }

    /// Attaches opaque extra data (tlog-proof §Format: not authenticated, so verifiers
    /// must not trust it). Empty data is refused, since it is written by omitting the
    /// line.
    pub fn with_extra(mut self, extra: Vec<u8>) -> Result<Receipt, ReceiptError> {
        if extra.is_empty() {
            return Err(ReceiptError::Malformed("empty extra data"));
        }
        self.extra = Some(extra);
        Ok(self)
    }

    /// Parses a `.tlog-proof` file.
    pub fn parse(input: &[u8]) -> Result<Receipt, ReceiptError> {
        let text = std::str::from_utf8(input).map_err(|_| ReceiptError::Malformed("not UTF-8"))?;
        // The head has no empty line, so the first blank line ends it; everything after
        // it is the checkpoint note.
        let (head, checkpoint_note) = text.split_once("\n\n").ok_or(ReceiptError::Malformed(
            "no blank line before the checkpoint",
        ))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(RECEIPT_HEADER) {
            return Err(ReceiptError::Malformed(
                "first line is not c2sp.org/tlog-proof@v1",
            ));
        }
        let mut line = lines
            .next()
            .ok_or(ReceiptError::Malformed("missing index line"))?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            let data = STANDARD
                .decode(b64)
                .map_err(|_| ReceiptError::Malformed("extra data is not canonical base64"))?;
            if data.is_empty() {
                return Err(ReceiptError::Malformed("empty extra data"));
            }
            extra = Some(data);
            line = lines
                .next()
                .ok_or(ReceiptError::Malformed("missing index line"))?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal_u64)
            .ok_or(ReceiptError::Malformed(
                "expected 'index <decimal without leading zeroes>'",
            ))?;
        let mut proof = Vec::new();
        for line in lines {
            // No audit path is longer than 64 hashes; stopping here bounds the work
            // spent on hostile input before the exact length check below.
            if proof.len() == MAX_PROOF_LEN {
                return Err(ReceiptError::Malformed("more than 64 proof hashes"));
            }
            let hash = decode_hash_b64(line).ok_or(ReceiptError::Malformed(
                "proof line is not padded base64 of 32 bytes",
            ))?;
            proof.push(hash);
        }
        let receipt = Receipt::new(index, proof, checkpoint_note)?;
        Ok(Receipt { extra, ..receipt })
    }

    /// The `.tlog-proof` text.
    pub fn to_text(&self) -> String {
        let mut out =
            String::with_capacity(64 + 45 * self.proof.len() + self.checkpoint_note.len());
        out.push_str(RECEIPT_HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&STANDARD.encode(extra));
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        for hash in &self.proof {
            out.push_str(&STANDARD.encode(hash.as_bytes()));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint_note);
        out
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    /// The audit path, leaf side first.
    pub fn proof(&self) -> &[Hash] {
        &self.proof
    }

    /// Unauthenticated extra data, if any.
    pub fn extra(&self) -> Option<&[u8]> {
        self.extra.as_deref()
    }

    /// The signed checkpoint note, verbatim.
    pub fn checkpoint_note(&self) -> &str {
        &self.checkpoint_note
    }

    /// The checkpoint body as parsed. Not verified: use [`Receipt::verify`].
    pub fn unverified_checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// Verifies that the entry whose RFC 6962 leaf hash is `leaf` is at the receipt's
    /// index in the tree of a checkpoint signed by `log`.
    pub fn verify(&self, leaf: &Hash, log: &NoteVerifier) -> Result<VerifiedReceipt, ReceiptError> {
        let signed = SignedCheckpoint::verify(self.checkpoint_note.as_bytes(), log)?;
        let (size, root) = (signed.size(), *signed.root());
        verify_inclusion(leaf, self.index, size, &self.proof, &root).map_err(|source| {
            ReceiptError::NotIncluded(Box::new(InclusionFailure {
                index: self.index,
                size,
                leaf: *leaf,
                root,
                proof: self.proof.clone(),
                source,
            }))
        })?;
        Ok(VerifiedReceipt {
            index: self.index,
            leaf: *leaf,
            checkpoint: signed,
        })
    }

    /// Verifies the receipt for the entry bytes themselves (leaf hash SHA-256(0x00 ||
    /// entry), RFC 9162 §2.1.1).
    pub fn verify_entry(
        &self,
        entry: &[u8],
        log: &NoteVerifier,
    ) -> Result<VerifiedReceipt, ReceiptError> {
        self.verify(&leaf_hash(entry), log)
    }
}

/// The outcome of a successful [`Receipt::verify`]: the entry's leaf hash is at `index`
/// in the tree of the signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    index: u64,
    leaf: Hash,
    checkpoint: SignedCheckpoint,
}

impl VerifiedReceipt {
    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn leaf_hash(&self) -> &Hash {
        &self.leaf
    }

    pub fn checkpoint(&self) -> &SignedCheckpoint {
        &self.checkpoint
    }
}
