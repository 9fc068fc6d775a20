//! The bytes of C2SP tlog-witness `add-checkpoint` (<https://c2sp.org/tlog-witness>):
//! the request body a log sends, the `409` size body a witness answers, and the
//! cosignature lines of a `200`. Shared by the log's witness client and the witness
//! server so both read and write exactly one format.
//!
//! Implemented: the request is an old size line `old <size>\n` (ASCII decimal, no
//! leading zeroes), at most [`MAX_PROOF_LINES`] lines of one base64 hash each, an empty
//! line, then the signed checkpoint note; every line ends in a newline. A `409 Conflict`
//! body is `<size>\n` with content type [`SIZE_CONTENT_TYPE`]. A `200` body is one or
//! more signature lines, each `— ` … `\n`.
//!
//! Deliberately not done here: checking the note's signatures or the proof (the witness
//! does that against its own state; see `proof::verify_consistency`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::checkpoint::{decode_hash_b64, parse_decimal_u64};
use crate::hash::Hash;
use crate::note::{NoteError, NoteSignature};

/// Most consistency proof lines a client may send (the spec's bound; a proof between
/// two sizes below 2^63 never needs more).
pub const MAX_PROOF_LINES: usize = 63;

/// Content type of a witness's `409 Conflict` body.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Why an `add-checkpoint` body (or a witness's answer) could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessWireError {
    #[error("malformed add-checkpoint request: {0}")]
    Malformed(&'static str),
    #[error("add-checkpoint request has more than {MAX_PROOF_LINES} proof lines")]
    TooManyProofLines,
    #[error("malformed witness response: {0}")]
    Response(&'static str),
    #[error("witness response line: {0}")]
    Line(NoteError),
}

/// One `add-checkpoint` request: the size the client believes the witness has, the
/// consistency proof from it, and the checkpoint note (signature lines included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old: u64,
    pub proof: Vec<Hash>,
    pub checkpoint: Vec<u8>,
}

impl AddCheckpoint {
    /// The request body.
    pub fn to_body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 45 * self.proof.len() + 1 + self.checkpoint.len());
        out.extend_from_slice(format!("old {}\n", self.old).as_bytes());
        for h in &self.proof {
            out.extend_from_slice(STANDARD.encode(h.0).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }

    /// Parses a request body. The checkpoint is returned as bytes, unparsed.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, WitnessWireError> {
        let (first, mut rest) = split_line(body).ok_or(WitnessWireError::Malformed(
            "no old size line ending in a newline",
        ))?;
        let old = std::str::from_utf8(first)
            .ok()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(parse_decimal_u64)
            .ok_or(WitnessWireError::Malformed(
                "first line is not \"old <decimal size>\"",
            ))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = split_line(rest).ok_or(WitnessWireError::Malformed(
                "no empty line before the checkpoint",
            ))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(WitnessWireError::TooManyProofLines);
            }
            let hash = std::str::from_utf8(line)
                .ok()
                .and_then(decode_hash_b64)
                .ok_or(WitnessWireError::Malformed(
                    "proof line is not base64 of 32 bytes",
                ))?;
            proof.push(hash);
        }
        if rest.is_empty() {
            return Err(WitnessWireError::Malformed(
                "no checkpoint after the empty line",
            ));
        }
        Ok(AddCheckpoint {
            old,
            proof,
            checkpoint: rest.to_vec(),
        })
    }
}

/// The line before the first newline and what follows it; `None` without a newline.
fn split_line(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = b.iter().position(|&c| c == b'\n')?;
    Some((&b[..i], &b[i + 1..]))
}

/// The body of a `409 Conflict`: the witness's size and a newline.
pub fn size_body(size: u64) -> String {
    format!("{size}\n")
}

/// Reads a `409 Conflict` body; `None` unless it is exactly `<decimal size>\n`.
pub fn parse_size_body(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?.strip_suffix('\n')?;
    parse_decimal_u64(text)
}

/// Most signature lines read from one witness response.
pub const MAX_RESPONSE_LINES: usize = 16;

/// Reads a `200` body: one or more signature lines, each ending in a newline.
pub fn parse_cosignature_lines(body: &[u8]) -> Result<Vec<NoteSignature>, WitnessWireError> {
    let text = std::str::from_utf8(body).map_err(|_| WitnessWireError::Response("not UTF-8"))?;
    let text = text
        .strip_suffix('\n')
        .ok_or(WitnessWireError::Response("does not end in a newline"))?;
    if text.is_empty() {
        return Err(WitnessWireError::Response("no signature lines"));
    }
    let lines: Vec<&str> = text.split('\n').collect();
    if lines.len() > MAX_RESPONSE_LINES {
        return Err(WitnessWireError::Response("too many signature lines"));
    }
    lines
        .into_iter()
        .map(|l| NoteSignature::parse_line(l).map_err(WitnessWireError::Line))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &[u8] = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\xe2\x80\x94 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

    #[test]
    fn the_spec_example_request_round_trips() {
        let body = [
            b"old 20852014\n".as_slice(),
            b"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n",
            b"jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n",
            b"\n",
            NOTE,
        ]
        .concat();
        let req = AddCheckpoint::parse(&body).unwrap();
        assert_eq!(req.old, 20852014);
        assert_eq!(req.proof.len(), 2);
        assert_eq!(req.checkpoint, NOTE);
        assert_eq!(req.to_body(), body);
    }

    #[test]
    fn malformed_requests_are_refused() {
        let too_many: Vec<u8> = [
            b"old 1\n".to_vec(),
            b"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n".repeat(64),
            b"\n".to_vec(),
            NOTE.to_vec(),
        ]
        .concat();
        assert_eq!(
            AddCheckpoint::parse(&too_many),
            Err(WitnessWireError::TooManyProofLines)
        );
        for bad in [
            &b""[..],
            b"old 1",
            b"old 01\n\nx",
            b"old -1\n\nx",
            b"new 1\n\nx",
            b"old 1\n",
            b"old 1\n\n",
            b"old 1\nnot-base64\n\nx",
        ] {
            assert!(AddCheckpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn size_bodies() {
        assert_eq!(parse_size_body(size_body(42).as_bytes()), Some(42));
        assert_eq!(parse_size_body(b"42"), None);
        assert_eq!(parse_size_body(b"042\n"), None);
        assert_eq!(parse_size_body(b""), None);
    }
}
