//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys.
//!
//! Implemented:
//! - §Format: a note is UTF-8 text ending in a newline, a blank line, then one or more
//!   signature lines `— <key name> <base64(key ID || signature)>`; no ASCII control
//!   characters but newline; the text is separated from the signatures by the *last*
//!   blank line.
//! - §Signatures: key names are non-empty without Unicode spaces or `+`; key ID =
//!   SHA-256(name || 0x0A || 0x01 || public key)\[:4\] (§Ed25519 signatures); signatures
//!   of unknown keys (name or ID differs) are kept and ignored; a known key whose
//!   signature fails rejects the whole note; a note with no verified signature is
//!   rejected.
//! - Verifier key strings `<name>+<hex key ID>+<base64(0x01 || public key)>` and, as in
//!   Go's `golang.org/x/mod/sumdb/note` (not part of C2SP), signer key strings
//!   `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>`.
//!
//! Deliberately not done:
//! - Signature types other than Ed25519 (0x01): cosignatures (0x04), ECDSA (0x02) and the
//!   rest are treated as signatures of unknown keys, kept and ignored.
//! - Base64 is decoded strictly (RFC 4648 §4, padded, canonical trailing bits), which is
//!   stricter than Go; every conforming signer writes canonical base64, and strictness
//!   makes parse-then-serialize reproduce the input byte for byte.
//! - Ed25519 verification uses the strict rules of `ed25519-dalek`'s `verify_strict`
//!   (no small-order keys or R points), and weak public keys are refused when a verifier
//!   key is parsed; honest RFC 8032 signers are unaffected.
//! - Hex key IDs in key strings must be lowercase (every implementation writes `%08x`).
//! - The note size is not bounded here (the caller already holds the bytes); the number
//!   of signature lines is bounded by [`MAX_SIGNATURES`] as in Go.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The signature type identifier byte of Ed25519 (signed-note §Signature types).
pub const ED25519_SIGNATURE_TYPE: u8 = 0x01;

/// Most signature lines accepted in one note. The spec asks verifiers to bound the count
/// and to accept at least 16 (§Format); Go's `note.Open` stops at 100.
pub const MAX_SIGNATURES: usize = 100;

/// Starts every signature line: em dash (U+2014) and a space (§Format).
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a note or key string was refused.
///
/// [`NoteError::InvalidSignature`] and [`NoteError::NoVerifiedSignature`] are
/// verification failures; [`NoteError::AmbiguousVerifiers`] is a bad verifier set from
/// the caller; every other variant is malformed input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("note has {0} signature lines, more than the limit of {MAX_SIGNATURES}")]
    TooManySignatures(usize),
    #[error("invalid key name {0:?}: it must be non-empty without spaces or '+'")]
    InvalidKeyName(String),
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(&'static str),
    #[error("malformed signer key: {0}")]
    MalformedSignerKey(&'static str),
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature { name: String, key_id: u32 },
    #[error("note has no verifiable signatures ({unknown} from unknown keys)")]
    NoVerifiedSignature { unknown: usize },
    #[error("more than one verifier has key name {name} and key ID {key_id:08x}")]
    AmbiguousVerifiers { name: String, key_id: u32 },
}

impl NoteError {
    /// True for the two outcomes where a well-formed note failed verification.
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self,
            NoteError::InvalidSignature { .. } | NoteError::NoVerifiedSignature { .. }
        )
    }
}

/// Key name rule of signed-note §Format: non-empty, no Unicode space, no `+`. Rust's
/// `char::is_whitespace` is the Unicode White_Space property, the same set as Go's
/// `unicode.IsSpace`. ASCII control characters are refused too: a note may not contain
/// them, so a key so named could never sign a valid note.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || u32::from(c) < 0x20)
}

/// Key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || public key)\[:4\] read
/// big-endian (signed-note §Ed25519 signatures).
pub fn ed25519_key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519_SIGNATURE_TYPE]);
    h.update(public_key);
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Checks the rules the signed-note spec puts on the note text alone: non-empty, ends in
/// a newline, and no ASCII control character but newline (§Format). UTF-8 validity is
/// already guaranteed by `&str`.
pub fn check_note_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("text does not end in a newline"));
    }
    if has_forbidden_control(text) {
        return Err(NoteError::Malformed("control character in note"));
    }
    Ok(())
}

fn has_forbidden_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 && b != b'\n')
}

/// Parses exactly 8 lowercase hex digits into a key ID.
pub(crate) fn parse_key_id_hex(s: &str) -> Option<u32> {
    if s.len() != 8
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Decodes `base64(0x01 || 32 bytes)` into the 32 bytes, without heap allocation so a
/// secret seed leaves no copy behind beyond the buffer that is wiped by the caller.
fn decode_typed_key(b64: &str, out: &mut [u8; 33]) -> Result<(), &'static str> {
    decode_key_of_type(b64, out, ED25519_SIGNATURE_TYPE).map_err(|e| match e {
        KeyDecodeError::Length => "key is not base64 of 33 bytes",
        KeyDecodeError::Type => "unknown signature type (only Ed25519, 0x01, is supported)",
    })
}

/// Decodes `base64(type || 32 bytes)` and checks the type byte; the error says whether
/// the length or the type was wrong.
pub(crate) fn decode_key_of_type(
    b64: &str,
    out: &mut [u8; 33],
    key_type: u8,
) -> Result<(), KeyDecodeError> {
    // Strict decoding of 33 bytes needs exactly 44 characters; checking first keeps
    // `decode_slice` from ever seeing input longer than the buffer.
    if b64.len() != 44 {
        return Err(KeyDecodeError::Length);
    }
    match STANDARD.decode_slice(b64, out) {
        Ok(33) => {}
        Ok(_) | Err(_) => return Err(KeyDecodeError::Length),
    }
    if out[0] != key_type {
        return Err(KeyDecodeError::Type);
    }
    Ok(())
}

/// Why [`decode_key_of_type`] refused a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyDecodeError {
    Length,
    Type,
}

/// A public key that verifies note signatures: name, key ID and Ed25519 key.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for the Ed25519 public key `public_key` under `name`, with the key ID
    /// the spec recommends.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<NoteVerifier, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName(name.to_owned()));
        }
        let key = VerifyingKey::from_bytes(public_key)
            .map_err(|_| NoteError::MalformedVerifierKey("not an Ed25519 public key"))?;
        if key.is_weak() {
            return Err(NoteError::MalformedVerifierKey(
                "Ed25519 public key of small order",
            ));
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            key_id: ed25519_key_id(name, public_key),
            key,
        })
    }

    /// Parses a verifier key string `<name>+<hex key ID>+<base64(0x01 || key)>` and
    /// checks that the key ID is the one computed from the name and key.
    pub fn parse(vkey: &str) -> Result<NoteVerifier, NoteError> {
        // The name contains no '+', so the first two '+' are the separators; the base64
        // part may contain more '+'.
        let (name, rest) = vkey
            .split_once('+')
            .ok_or(NoteError::MalformedVerifierKey("missing '+' separators"))?;
        let (id_hex, key_b64) = rest
            .split_once('+')
            .ok_or(NoteError::MalformedVerifierKey("missing '+' separators"))?;
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName(name.to_owned()));
        }
        let key_id = parse_key_id_hex(id_hex).ok_or(NoteError::MalformedVerifierKey(
            "key ID is not 8 lowercase hex digits",
        ))?;
        let mut buf = [0u8; 33];
        decode_typed_key(key_b64, &mut buf).map_err(NoteError::MalformedVerifierKey)?;
        let mut public = [0u8; 32];
        public.copy_from_slice(&buf[1..]);
        let verifier = NoteVerifier::new(name, &public)?;
        if verifier.key_id != key_id {
            return Err(NoteError::MalformedVerifierKey(
                "key ID does not match the name and key",
            ));
        }
        Ok(verifier)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The verifier key string `<name>+<hex key ID>+<base64(0x01 || key)>`.
    pub fn verifier_key(&self) -> String {
        let mut typed = [0u8; 33];
        typed[0] = ED25519_SIGNATURE_TYPE;
        typed[1..].copy_from_slice(self.key.as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(typed)
        )
    }

    /// Whether this key signed `text` with `signature` (the bytes after the key ID).
    /// A signature of the wrong length simply does not verify.
    pub fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(text, &sig).is_ok()
    }

    fn matches(&self, sig: &NoteSignature) -> bool {
        self.key_id == sig.key_id && self.name == sig.name
    }
}

impl std::fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NoteVerifier({})", self.verifier_key())
    }
}

impl std::fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.verifier_key())
    }
}

impl std::str::FromStr for NoteVerifier {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<NoteVerifier, NoteError> {
        NoteVerifier::parse(s)
    }
}

/// A private key that signs notes: name and Ed25519 seed. `Debug` never shows the seed,
/// and `ed25519-dalek` wipes the key when it is dropped.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl NoteSigner {
    /// A signer from a 32-byte Ed25519 seed (RFC 8032 §5.1.5 private key).
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<NoteSigner, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName(name.to_owned()));
        }
        let key = SigningKey::from_bytes(seed);
        let key_id = ed25519_key_id(name, key.verifying_key().as_bytes());
        Ok(NoteSigner {
            name: name.to_owned(),
            key_id,
            key,
        })
    }

    /// Parses Go's signer key string `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ||
    /// seed)>` and checks the key ID against the derived public key.
    pub fn parse(skey: &str) -> Result<NoteSigner, NoteError> {
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::MalformedSignerKey("missing PRIVATE+KEY+ prefix"))?;
        let (name, rest) = rest
            .split_once('+')
            .ok_or(NoteError::MalformedSignerKey("missing '+' separators"))?;
        let (id_hex, key_b64) = rest
            .split_once('+')
            .ok_or(NoteError::MalformedSignerKey("missing '+' separators"))?;
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName(name.to_owned()));
        }
        let key_id = parse_key_id_hex(id_hex).ok_or(NoteError::MalformedSignerKey(
            "key ID is not 8 lowercase hex digits",
        ))?;
        let mut buf = [0u8; 33];
        let decoded = decode_typed_key(key_b64, &mut buf).map_err(NoteError::MalformedSignerKey);
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&buf[1..]);
        // The decoded seed is wiped from the stack buffers on every path; `black_box`
        // keeps the compiler from dropping the stores as dead.
        buf.fill(0);
        std::hint::black_box(&buf);
        let signer = decoded.and_then(|()| NoteSigner::new(name, &seed));
        seed.fill(0);
        std::hint::black_box(&seed);
        let signer = signer?;
        if signer.key_id != key_id {
            return Err(NoteError::MalformedSignerKey(
                "key ID does not match the name and key",
            ));
        }
        Ok(signer)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The verifier key string of the matching public key.
    pub fn verifier_key(&self) -> String {
        self.verifier().verifier_key()
    }

    /// The signer key string in Go's format. It contains the secret seed.
    pub fn signer_key(&self) -> String {
        let mut typed = [0u8; 33];
        typed[0] = ED25519_SIGNATURE_TYPE;
        typed[1..].copy_from_slice(self.key.as_bytes());
        let s = format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(typed)
        );
        typed.fill(0);
        std::hint::black_box(&typed);
        s
    }

    /// The signature line this key makes over `text` (the text is checked first).
    pub fn signature(&self, text: &str) -> Result<NoteSignature, NoteError> {
        check_note_text(text)?;
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        })
    }

    /// Signs `text` and returns the whole signed note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        let mut note = Note::new(text)?;
        note.add_signature(self)?;
        Ok(note.to_text())
    }
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NoteSigner({}+{:08x}, seed hidden)",
            self.name, self.key_id
        )
    }
}

/// One signature line: key name, key ID and the signature bytes after the ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_id: u32,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// A signature line from its parts: key name, key ID and the bytes after the ID
    /// (at least one, as [`NoteSignature::parse_line`] requires).
    pub fn from_parts(
        name: &str,
        key_id: u32,
        signature: Vec<u8>,
    ) -> Result<NoteSignature, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName(name.to_owned()));
        }
        if signature.is_empty() {
            return Err(NoteError::Malformed("signature shorter than 5 bytes"));
        }
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id,
            signature,
        })
    }

    /// Parses a signature line without its final newline (signed-note §Signatures).
    pub fn parse_line(line: &str) -> Result<NoteSignature, NoteError> {
        let rest = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(NoteError::Malformed(
                "signature line does not start with an em dash and a space",
            ))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(NoteError::Malformed("signature line has no signature"))?;
        if !is_valid_key_name(name) {
            return Err(NoteError::Malformed("invalid key name in signature line"));
        }
        let bytes = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::Malformed("signature is not canonical base64"))?;
        // Four bytes of key ID and at least one byte of signature, as Go requires.
        if bytes.len() < 5 {
            return Err(NoteError::Malformed("signature shorter than 5 bytes"));
        }
        let (id, signature) = bytes.split_at(4);
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([id[0], id[1], id[2], id[3]]),
            signature: signature.to_vec(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature bytes after the 4-byte key ID.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The line `— <name> <base64(key ID || signature)>\n`.
    pub fn to_line(&self) -> String {
        let mut bytes = Vec::with_capacity(4 + self.signature.len());
        bytes.extend_from_slice(&self.key_id.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        format!(
            "{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(bytes)
        )
    }
}

/// A note as parsed, signatures not yet verified, in their original order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// An unsigned note with the given text, to be signed with [`Note::add_signature`].
    pub fn new(text: &str) -> Result<Note, NoteError> {
        check_note_text(text)?;
        Ok(Note {
            text: text.to_owned(),
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note (signed-note §Format). Signatures are not checked here.
    pub fn parse(msg: &[u8]) -> Result<Note, NoteError> {
        let msg =
            std::str::from_utf8(msg).map_err(|_| NoteError::Malformed("note is not UTF-8"))?;
        if has_forbidden_control(msg) {
            return Err(NoteError::Malformed("control character in note"));
        }
        // The text ends at the last blank line: it keeps its final newline, the blank
        // line's newline belongs to neither part.
        let split = msg
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before signatures"))?;
        let (text, sigs) = (&msg[..split + 1], &msg[split + 2..]);
        if sigs.is_empty() {
            return Err(NoteError::Malformed("no signature lines"));
        }
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(NoteError::Malformed(
                "signature block does not end in a newline",
            ));
        };
        let count = sigs.split('\n').count();
        if count > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures(count));
        }
        let signatures = sigs
            .split('\n')
            .map(NoteSignature::parse_line)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text, final newline included.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature by `signer` after the existing ones, as a cosigner does. An
    /// existing signature with the same key name and ID is replaced, as Go's `Sign`
    /// does, so re-signing never duplicates a line. Adding does not verify the
    /// signatures already present: open the note first when that matters.
    pub fn add_signature(&mut self, signer: &NoteSigner) -> Result<(), NoteError> {
        let sig = signer.signature(&self.text)?;
        self.signatures
            .retain(|s| !(s.name == sig.name && s.key_id == sig.key_id));
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures(self.signatures.len() + 1));
        }
        self.signatures.push(sig);
        Ok(())
    }

    /// Adds a signature line made elsewhere (a witness's cosignature) after the existing
    /// ones, replacing a line with the same key name and ID. Nothing is verified here.
    pub fn push_signature(&mut self, sig: NoteSignature) -> Result<(), NoteError> {
        self.signatures
            .retain(|s| !(s.name == sig.name && s.key_id == sig.key_id));
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures(self.signatures.len() + 1));
        }
        self.signatures.push(sig);
        Ok(())
    }

    /// The serialized note: text, blank line, signature lines. For a parsed note this is
    /// the input byte for byte.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 1 + 120 * self.signatures.len());
        out.push_str(&self.text);
        out.push('\n');
        for sig in &self.signatures {
            out.push_str(&sig.to_line());
        }
        out
    }

    /// Verifies the note against the known keys (signed-note §Signatures): signatures
    /// whose (name, key ID) matches no known key are kept as unverified; every signature
    /// of a known key must verify (stricter than Go, which skips repeated lines of a key
    /// it already checked); at least one must exist.
    pub fn open(&self, known: &[&NoteVerifier]) -> Result<VerifiedNote, NoteError> {
        for (i, a) in known.iter().enumerate() {
            if known[i + 1..]
                .iter()
                .any(|b| a.name == b.name && a.key_id == b.key_id)
            {
                return Err(NoteError::AmbiguousVerifiers {
                    name: a.name.clone(),
                    key_id: a.key_id,
                });
            }
        }
        let mut verified = Vec::new();
        let mut unverified = Vec::new();
        for sig in &self.signatures {
            match known.iter().find(|v| v.matches(sig)) {
                None => unverified.push(sig.clone()),
                Some(v) => {
                    if !v.verify(self.text.as_bytes(), &sig.signature) {
                        return Err(NoteError::InvalidSignature {
                            name: sig.name.clone(),
                            key_id: sig.key_id,
                        });
                    }
                    verified.push(sig.clone());
                }
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoVerifiedSignature {
                unknown: unverified.len(),
            });
        }
        Ok(VerifiedNote {
            note: self.clone(),
            verified,
            unverified,
        })
    }
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// Parses and verifies a signed note in one step.
pub fn open(msg: &[u8], known: &[&NoteVerifier]) -> Result<VerifiedNote, NoteError> {
    Note::parse(msg)?.open(known)
}

/// A note with at least one valid signature by a known key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    note: Note,
    verified: Vec<NoteSignature>,
    unverified: Vec<NoteSignature>,
}

impl VerifiedNote {
    /// The text, now trusted as far as the known keys are.
    pub fn text(&self) -> &str {
        &self.note.text
    }

    /// The whole note as parsed, every signature in its original order.
    pub fn note(&self) -> &Note {
        &self.note
    }

    /// Signatures by known keys, all verified.
    pub fn verified_signatures(&self) -> &[NoteSignature] {
        &self.verified
    }

    /// Signatures by unknown keys (witness cosignatures, rotated keys), not checked.
    pub fn unverified_signatures(&self) -> &[NoteSignature] {
        &self.unverified
    }
}
