//! C2SP tlog-cosignature (<https://c2sp.org/tlog-cosignature>), the Ed25519
//! `cosignature/v1` type: a witness's timestamped statement that a checkpoint is the
//! largest consistent tree head it has seen for the log.
//!
//! Implemented:
//! - §Format: the key ID is SHA-256(name || 0x0A || 0x04 || Ed25519 public key)\[:4\];
//!   the line is a signed-note signature line `— <name> base64(key ID || timestamp u64
//!   big-endian || Ed25519 signature[64])`; verifier keys are
//!   `<name>+<hex key ID>+<base64(0x04 || public key)>`.
//! - §Ed25519 signed message: `cosignature/v1\n`, `time <timestamp>\n` (ASCII decimal,
//!   no leading zeroes), then the whole checkpoint body (extension lines included,
//!   signature lines not).
//! - The timestamp is at most 2^63 - 1 (§Format) and, as every deployed witness writes
//!   it, not zero.
//!
//! Deliberately not done: the ML-DSA-44 `subtree/v1` type (0x06); its lines are kept as
//! signatures of unknown keys. Timestamps in the future are not refused here: the
//! caller knows its clock and decides.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::note::{
    check_note_text, decode_key_of_type, is_valid_key_name, parse_key_id_hex, KeyDecodeError,
    NoteSignature,
};

/// The signature type byte of Ed25519 cosignatures (tlog-cosignature §Format).
pub const COSIGNATURE_V1_TYPE: u8 = 0x04;

/// Bytes after the key ID in a cosignature/v1 line: timestamp and Ed25519 signature.
pub const COSIGNATURE_V1_LEN: usize = 8 + 64;

/// The largest timestamp a cosignature may carry (§Format: it MUST NOT exceed 2^63 - 1).
pub const MAX_TIMESTAMP: u64 = (1 << 63) - 1;

/// Why a cosignature or a cosigner key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    #[error("invalid cosigner name {0:?}: it must be non-empty without spaces or '+'")]
    InvalidName(String),
    #[error("malformed cosigner verifier key: {0}")]
    MalformedVerifierKey(&'static str),
    #[error("malformed cosignature: {0}")]
    Malformed(&'static str),
    #[error("checkpoint body is not a note text: {0}")]
    Body(&'static str),
    /// A verification failure: the line is well formed but the signature does not hold.
    #[error("invalid cosignature by {name}+{key_id:08x}")]
    InvalidSignature { name: String, key_id: u32 },
}

/// Key ID of an Ed25519 cosigner: SHA-256(name || 0x0A || 0x04 || public key)\[:4\],
/// big-endian.
pub fn cosigner_key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', COSIGNATURE_V1_TYPE]);
    h.update(public_key);
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// The message a cosignature/v1 signs (§Ed25519 signed message).
pub fn signed_message(timestamp: u64, body: &str) -> Vec<u8> {
    let mut msg = Vec::with_capacity(32 + body.len());
    msg.extend_from_slice(b"cosignature/v1\ntime ");
    msg.extend_from_slice(timestamp.to_string().as_bytes());
    msg.push(b'\n');
    msg.extend_from_slice(body.as_bytes());
    msg
}

fn check_timestamp(timestamp: u64) -> Result<(), CosignatureError> {
    if timestamp == 0 {
        return Err(CosignatureError::Malformed("timestamp is zero"));
    }
    if timestamp > MAX_TIMESTAMP {
        return Err(CosignatureError::Malformed("timestamp exceeds 2^63 - 1"));
    }
    Ok(())
}

/// One parsed cosignature/v1: who, when, and the signature bytes. Not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    name: String,
    key_id: u32,
    timestamp: u64,
    signature: [u8; 64],
}

impl Cosignature {
    /// Reads a note signature line as a cosignature/v1: exactly 72 bytes after the key
    /// ID, a timestamp that is neither zero nor above 2^63 - 1.
    pub fn from_note_signature(sig: &NoteSignature) -> Result<Cosignature, CosignatureError> {
        let bytes = sig.signature();
        if bytes.len() != COSIGNATURE_V1_LEN {
            return Err(CosignatureError::Malformed(
                "not 8 bytes of timestamp and 64 bytes of Ed25519 signature",
            ));
        }
        let (ts, signature) = bytes.split_at(8);
        let timestamp = u64::from_be_bytes(ts.try_into().expect("8 bytes"));
        check_timestamp(timestamp)?;
        Ok(Cosignature {
            name: sig.name().to_owned(),
            key_id: sig.key_id(),
            timestamp,
            signature: signature.try_into().expect("64 bytes"),
        })
    }

    /// Parses one line `— <name> <base64>` (without its newline) as a cosignature.
    pub fn parse_line(line: &str) -> Result<Cosignature, CosignatureError> {
        let sig = NoteSignature::parse_line(line)
            .map_err(|_| CosignatureError::Malformed("not a note signature line"))?;
        Cosignature::from_note_signature(&sig)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// POSIX seconds at which the witness signed.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The note signature line this cosignature is.
    pub fn to_note_signature(&self) -> NoteSignature {
        let mut bytes = Vec::with_capacity(COSIGNATURE_V1_LEN);
        bytes.extend_from_slice(&self.timestamp.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        NoteSignature::from_parts(&self.name, self.key_id, bytes)
            .expect("a parsed or signed cosignature has a valid name")
    }

    /// The line `— <name> <base64(key ID || timestamp || signature)>\n`.
    pub fn to_line(&self) -> String {
        self.to_note_signature().to_line()
    }
}

/// A witness's public key for cosignature/v1.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// A verifier for `public_key` under `name`, weak (small-order) keys refused.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<CosignatureVerifier, CosignatureError> {
        if !is_valid_key_name(name) {
            return Err(CosignatureError::InvalidName(name.to_owned()));
        }
        let key = VerifyingKey::from_bytes(public_key)
            .map_err(|_| CosignatureError::MalformedVerifierKey("not an Ed25519 public key"))?;
        if key.is_weak() {
            return Err(CosignatureError::MalformedVerifierKey(
                "Ed25519 public key of small order",
            ));
        }
        Ok(CosignatureVerifier {
            name: name.to_owned(),
            key_id: cosigner_key_id(name, public_key),
            key,
        })
    }

    /// Parses `<name>+<hex key ID>+<base64(0x04 || public key)>` and checks that the key
    /// ID is the one computed from the name and key.
    pub fn parse(vkey: &str) -> Result<CosignatureVerifier, CosignatureError> {
        let (name, rest) = vkey
            .split_once('+')
            .ok_or(CosignatureError::MalformedVerifierKey(
                "missing '+' separators",
            ))?;
        let (id_hex, key_b64) =
            rest.split_once('+')
                .ok_or(CosignatureError::MalformedVerifierKey(
                    "missing '+' separators",
                ))?;
        if !is_valid_key_name(name) {
            return Err(CosignatureError::InvalidName(name.to_owned()));
        }
        let key_id = parse_key_id_hex(id_hex).ok_or(CosignatureError::MalformedVerifierKey(
            "key ID is not 8 lowercase hex digits",
        ))?;
        let mut buf = [0u8; 33];
        decode_key_of_type(key_b64, &mut buf, COSIGNATURE_V1_TYPE).map_err(|e| {
            CosignatureError::MalformedVerifierKey(match e {
                KeyDecodeError::Length => "key is not base64 of 33 bytes",
                KeyDecodeError::Type => "not a cosignature/v1 key (type 0x04)",
            })
        })?;
        let public: [u8; 32] = buf[1..].try_into().expect("32 bytes");
        let verifier = CosignatureVerifier::new(name, &public)?;
        if verifier.key_id != key_id {
            return Err(CosignatureError::MalformedVerifierKey(
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

    /// The verifier key string `<name>+<hex key ID>+<base64(0x04 || key)>`.
    pub fn verifier_key(&self) -> String {
        let mut typed = [0u8; 33];
        typed[0] = COSIGNATURE_V1_TYPE;
        typed[1..].copy_from_slice(self.key.as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(typed)
        )
    }

    /// Whether a signature line names this witness (name and key ID both match).
    pub fn matches(&self, sig: &NoteSignature) -> bool {
        sig.name() == self.name && sig.key_id() == self.key_id
    }

    /// Verifies `sig`, a line of this witness, over the checkpoint `body`; answers the
    /// cosignature's timestamp. A line of another key is malformed input for this call:
    /// select lines with [`CosignatureVerifier::matches`] first.
    pub fn verify(&self, body: &str, sig: &NoteSignature) -> Result<u64, CosignatureError> {
        if !self.matches(sig) {
            return Err(CosignatureError::Malformed(
                "signature line is of another key",
            ));
        }
        let cosig = Cosignature::from_note_signature(sig)?;
        let signature = ed25519_dalek::Signature::from_bytes(&cosig.signature);
        let msg = signed_message(cosig.timestamp, body);
        self.key.verify_strict(&msg, &signature).map_err(|_| {
            CosignatureError::InvalidSignature {
                name: self.name.clone(),
                key_id: self.key_id,
            }
        })?;
        Ok(cosig.timestamp)
    }
}

impl std::fmt::Debug for CosignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CosignatureVerifier({})", self.verifier_key())
    }
}

impl std::fmt::Display for CosignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.verifier_key())
    }
}

/// A witness's private key: it cosigns checkpoint bodies. `Debug` hides the seed.
#[derive(Clone)]
pub struct CosignatureSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl CosignatureSigner {
    /// A cosigner from a 32-byte Ed25519 seed (RFC 8032 §5.1.5 private key).
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<CosignatureSigner, CosignatureError> {
        if !is_valid_key_name(name) {
            return Err(CosignatureError::InvalidName(name.to_owned()));
        }
        let key = SigningKey::from_bytes(seed);
        let key_id = cosigner_key_id(name, key.verifying_key().as_bytes());
        Ok(CosignatureSigner {
            name: name.to_owned(),
            key_id,
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Cosigns the checkpoint `body` (note text, final newline included) at `timestamp`.
    pub fn cosign(&self, body: &str, timestamp: u64) -> Result<Cosignature, CosignatureError> {
        check_note_text(body).map_err(|_| {
            CosignatureError::Body("it must end in a newline and hold no control character")
        })?;
        check_timestamp(timestamp)?;
        let signature = self.key.sign(&signed_message(timestamp, body)).to_bytes();
        Ok(Cosignature {
            name: self.name.clone(),
            key_id: self.key_id,
            timestamp,
            signature,
        })
    }
}

impl std::fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CosignatureSigner({}+{:08x}, seed hidden)",
            self.name, self.key_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> CosignatureSigner {
        CosignatureSigner::new("w.example", &[7u8; 32]).unwrap()
    }

    #[test]
    fn signed_message_has_the_header_time_line_and_body() {
        assert_eq!(
            signed_message(1679315147, "o\n1\nr\n"),
            b"cosignature/v1\ntime 1679315147\no\n1\nr\n".to_vec()
        );
    }

    #[test]
    fn zero_and_too_large_timestamps_are_refused() {
        let s = signer();
        assert!(s.cosign("o\n", 0).is_err());
        assert!(s.cosign("o\n", MAX_TIMESTAMP + 1).is_err());
        assert!(s.cosign("o\n", MAX_TIMESTAMP).is_ok());
    }

    #[test]
    fn a_cosignature_verifies_only_over_its_own_body() {
        let s = signer();
        let c = s.cosign("o\n2\nr\n", 5).unwrap();
        let v = s.verifier();
        assert_eq!(v.verify("o\n2\nr\n", &c.to_note_signature()), Ok(5));
        assert!(matches!(
            v.verify("o\n3\nr\n", &c.to_note_signature()),
            Err(CosignatureError::InvalidSignature { .. })
        ));
    }
}
