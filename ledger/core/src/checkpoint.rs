//! C2SP tlog-checkpoint (<https://c2sp.org/tlog-checkpoint>): the signed tree head.
//!
//! Implemented (§Note text): the origin line (non-empty), the tree size in ASCII decimal
//! without leading zeroes (a `u64`), the root hash as padded standard base64 of 32 bytes,
//! then optional non-empty extension lines; the text ends in a newline. Parsing is
//! strict so that [`Checkpoint::to_text`] of a parsed checkpoint is the input byte for
//! byte.
//!
//! §Signatures says the log's key name SHOULD match the origin line. This crate makes
//! it a check: [`SignedCheckpoint::verify`] refuses a checkpoint whose origin is not the
//! log key's name. Logs that sign under another name (Go's checksum database signs
//! `go.sum database tree` as `sum.golang.org`) are verified with
//! [`SignedCheckpoint::verify_for_origin`], which takes the expected origin explicitly.
//!
//! Deliberately not done: the origin is not required to be a URL or free of spaces (the
//! spec says clients MUST NOT assume it), and cosignatures are not verified here; they
//! stay in the note as unverified signatures.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::hash::Hash;
use crate::note::{check_note_text, Note, NoteError, NoteSigner, NoteVerifier, VerifiedNote};

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The note text is not a checkpoint body.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The signed note around it is malformed or did not verify.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A verification failure: the note is validly signed, but for another log.
    #[error("checkpoint origin {origin:?} is not the expected origin {expected:?}")]
    WrongOrigin { origin: String, expected: String },
}

impl CheckpointError {
    /// True when well-formed input failed verification.
    pub fn is_verification_failure(&self) -> bool {
        match self {
            CheckpointError::Malformed(_) => false,
            CheckpointError::Note(e) => e.is_verification_failure(),
            CheckpointError::WrongOrigin { .. } => true,
        }
    }
}

/// A tree head: origin, size, root and extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log identity, first line of the note text.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 6962 Merkle tree hash at `size`.
    pub root: Hash,
    /// Opaque non-empty lines after the root (NOT RECOMMENDED by the spec).
    pub extensions: Vec<String>,
}

/// Parses a tree size: ASCII decimal, no sign, no leading zero except `0` itself.
pub(crate) fn parse_decimal_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Decodes a root hash line: strict padded base64 of exactly 32 bytes.
pub(crate) fn decode_hash_b64(s: &str) -> Option<Hash> {
    // 32 bytes are always 44 base64 characters; checking the length first bounds the
    // decoder's work and its allocation.
    if s.len() != 44 {
        return None;
    }
    let mut out = [0u8; 33];
    match STANDARD.decode_slice(s, &mut out) {
        Ok(32) => Hash::from_slice(&out[..32]),
        _ => None,
    }
}

impl Checkpoint {
    /// Parses a checkpoint body (the note text, final newline included).
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        check_note_text(text).map_err(|_| {
            CheckpointError::Malformed("not a note text (final newline, no control characters)")
        })?;
        let body = &text[..text.len() - 1];
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or(CheckpointError::Malformed("empty origin line"))?;
        let size = lines
            .next()
            .and_then(parse_decimal_u64)
            .ok_or(CheckpointError::Malformed(
                "missing tree size or not a decimal u64 without leading zeroes",
            ))?;
        let root = lines
            .next()
            .and_then(decode_hash_b64)
            .ok_or(CheckpointError::Malformed(
                "missing root hash or not padded base64 of 32 bytes",
            ))?;
        let mut extensions = Vec::new();
        for line in lines {
            if line.is_empty() {
                return Err(CheckpointError::Malformed("empty extension line"));
            }
            extensions.push(line.to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The note text: origin, size, base64 root, extension lines, each ending in `\n`.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root.as_bytes())
        );
        for ext in &self.extensions {
            out.push_str(ext);
            out.push('\n');
        }
        out
    }

    /// Signs the checkpoint with the log key. The fields are checked by parsing the
    /// text back, so a checkpoint with, say, a newline inside the origin is refused.
    pub fn sign(&self, signer: &NoteSigner) -> Result<SignedCheckpoint, CheckpointError> {
        let text = self.to_text();
        if Checkpoint::parse(&text)? != *self {
            return Err(CheckpointError::Malformed(
                "fields do not survive serialization",
            ));
        }
        let mut note = Note::new(&text)?;
        note.add_signature(signer)?;
        let verified = note.open(&[&signer.verifier()])?;
        Ok(SignedCheckpoint {
            checkpoint: self.clone(),
            note: verified,
            bytes: note.to_text(),
        })
    }
}

/// A checkpoint whose note carries a valid signature by the log key, with the whole
/// signed note kept verbatim (cosignatures included) for receipts and anchoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: VerifiedNote,
    bytes: String,
}

impl SignedCheckpoint {
    /// Verifies a signed checkpoint note with the log key and requires the origin to be
    /// the key's name (tlog-checkpoint §Signatures, a SHOULD made a check here).
    pub fn verify(note: &[u8], log: &NoteVerifier) -> Result<SignedCheckpoint, CheckpointError> {
        SignedCheckpoint::verify_for_origin(note, log, log.name())
    }

    /// Verifies a signed checkpoint note with the log key and requires the origin line
    /// to be `origin`, for logs whose key name differs from their origin.
    pub fn verify_for_origin(
        note: &[u8],
        log: &NoteVerifier,
        origin: &str,
    ) -> Result<SignedCheckpoint, CheckpointError> {
        let bytes = std::str::from_utf8(note)
            .map_err(|_| NoteError::Malformed("note is not UTF-8"))?
            .to_owned();
        let parsed = Note::parse(note)?;
        // The body is parsed before the signature is checked so malformed input is
        // reported as such; nothing in it is trusted until `open` succeeds.
        let checkpoint = Checkpoint::parse(parsed.text())?;
        let verified = parsed.open(&[log])?;
        if checkpoint.origin != origin {
            return Err(CheckpointError::WrongOrigin {
                origin: checkpoint.origin,
                expected: origin.to_owned(),
            });
        }
        Ok(SignedCheckpoint {
            checkpoint,
            note: verified,
            bytes,
        })
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    pub fn origin(&self) -> &str {
        &self.checkpoint.origin
    }

    pub fn size(&self) -> u64 {
        self.checkpoint.size
    }

    pub fn root(&self) -> &Hash {
        &self.checkpoint.root
    }

    /// The checkpoint body (the signed text), e.g. what the anchor timestamps.
    pub fn body(&self) -> &str {
        self.note.text()
    }

    /// The verified note, with its log signature and any unverified cosignatures.
    pub fn note(&self) -> &VerifiedNote {
        &self.note
    }

    /// The whole signed note, byte for byte as received or produced.
    pub fn as_str(&self) -> &str {
        &self.bytes
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_bytes()
    }
}
