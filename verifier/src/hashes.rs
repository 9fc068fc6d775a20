//! Hashes and audit paths as the command line takes them: standard base64 with padding
//! (RFC 4648 §4), exactly 32 bytes each (SHA-256, RFC 9162 §2.1.1).
//!
//! Every hash is length-checked: a string that is not base64 of exactly 32 bytes is
//! malformed input, never a verification failure. This is stricter than Go's
//! `transparency-dev/merkle` verifier, which accepts roots of any length when the proof
//! does not need them (for example a consistency "proof" between equal sizes).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ledger_core::hash::{Hash, HASH_SIZE};

use crate::error::VerifyError;

/// Longest audit path of any tree with a `u64` size (one hash per level).
pub const MAX_PROOF_HASHES: usize = 64;

/// Parses one hash: padded standard base64 of exactly 32 bytes. `what` names the input
/// in the error.
pub fn parse_hash_b64(text: &str, what: &str) -> Result<Hash, VerifyError> {
    // 32 bytes are always 44 characters; checking first bounds the decoder's work.
    if text.len() != 44 {
        return Err(VerifyError::malformed(
            what,
            format!(
                "{text:?} is not padded base64 of {HASH_SIZE} bytes (expected 44 characters, got {})",
                text.len()
            ),
        ));
    }
    let mut out = [0u8; HASH_SIZE + 1];
    match STANDARD.decode_slice(text, &mut out) {
        Ok(HASH_SIZE) => Hash::from_slice(&out[..HASH_SIZE])
            .ok_or_else(|| VerifyError::malformed(what, "not a 32-byte hash")),
        _ => Err(VerifyError::malformed(
            what,
            format!("{text:?} is not canonical padded base64 of {HASH_SIZE} bytes"),
        )),
    }
}

/// Formats a hash as padded standard base64, the form the command line reads.
pub fn hash_b64(hash: &Hash) -> String {
    STANDARD.encode(hash.as_bytes())
}

/// Parses an audit path file: one base64 hash per line, leaf side first (RFC 9162
/// §2.1.3.2). The empty proof is the empty file. The last line's newline is optional;
/// an empty line (including a file holding only a newline), a line that is not a hash,
/// or more than [`MAX_PROOF_HASHES`] lines is malformed.
pub fn parse_proof(text: &str) -> Result<Vec<Hash>, VerifyError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    let body = body.strip_suffix('\r').unwrap_or(body);
    let mut proof = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        if proof.len() == MAX_PROOF_HASHES {
            return Err(VerifyError::malformed(
                "proof file",
                format!("more than {MAX_PROOF_HASHES} hashes"),
            ));
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        proof.push(parse_hash_b64(line, &format!("proof file line {}", i + 1))?);
    }
    Ok(proof)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_round_trip_and_length_checks() {
        let h = Hash([7; 32]);
        let s = hash_b64(&h);
        assert_eq!(parse_hash_b64(&s, "x").unwrap(), h);
        // Every truncation and the unpadded form are refused.
        for cut in 0..s.len() {
            assert!(parse_hash_b64(&s[..cut], "x").is_err(), "cut {cut}");
        }
        assert!(parse_hash_b64(s.trim_end_matches('='), "x").is_err());
        // 33 bytes of base64 is too long.
        assert!(parse_hash_b64(&STANDARD.encode([0u8; 33]), "x").is_err());
        // The last character carries two unused bits, which must be zero: the all-zero
        // hash is "AAA…A=", and setting a spare bit ("AAA…B=") is refused.
        let zero = hash_b64(&Hash([0; 32]));
        assert_eq!(&zero[42..], "A=");
        let mut bad = zero.clone();
        bad.replace_range(42..43, "B");
        assert!(parse_hash_b64(&bad, "x").is_err());
    }

    #[test]
    fn proof_file_forms() {
        let a = hash_b64(&Hash([1; 32]));
        let b = hash_b64(&Hash([2; 32]));
        assert_eq!(parse_proof("").unwrap(), vec![]);
        assert!(parse_proof("\n").is_err());
        assert_eq!(parse_proof(&format!("{a}\n{b}\n")).unwrap().len(), 2);
        assert_eq!(parse_proof(&format!("{a}\r\n{b}")).unwrap().len(), 2);
        assert!(parse_proof(&format!("\n{a}\n")).is_err());
        assert!(parse_proof(&format!("{a}\n\n{b}\n")).is_err());
        assert!(parse_proof(&format!("{a}\nnot a hash\n")).is_err());
        let long = vec![a.as_str(); MAX_PROOF_HASHES + 1].join("\n");
        assert!(parse_proof(&long).is_err());
    }
}
