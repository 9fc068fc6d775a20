//! Commitment operations: the edges of a timestamp tree.
//!
//! Tags and semantics follow python-opentimestamps `core/op.py`: hash
//! operations `02` sha1, `03` ripemd160, `08` sha256, `67` keccak256 (the
//! original Keccak as used by Ethereum, not FIPS-202 SHA3); binary operations
//! `f0` append and `f1` prepend with a 1..=4096-byte argument; unary `f2`
//! reverse and `f3` hexlify (lower-case hex).
//!
//! Limits (same as the reference): an operation refuses a message longer than
//! 4096 bytes (2048 for hexlify, whose result doubles), refuses to produce a
//! result longer than 4096 bytes, and reverse/hexlify refuse an empty message.
//! Every limit depends only on lengths, so the parser checks them with
//! [`Op::result_len`] without hashing anything.

use std::cmp::Ordering;
use std::fmt;

use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use sha3::Keccak256;

use crate::error::{Limit, OtsError};

/// Maximum length of an operation's result and input (reference `MAX_RESULT_LENGTH`).
pub const MAX_MSG_LEN: usize = 4096;
/// Maximum length of an append/prepend argument.
pub const MAX_ARG_LEN: usize = 4096;
/// Maximum input of hexlify (half the maximum result).
pub const MAX_HEXLIFY_INPUT: usize = MAX_MSG_LEN / 2;

pub(crate) const TAG_SHA1: u8 = 0x02;
pub(crate) const TAG_RIPEMD160: u8 = 0x03;
pub(crate) const TAG_SHA256: u8 = 0x08;
pub(crate) const TAG_KECCAK256: u8 = 0x67;
pub(crate) const TAG_APPEND: u8 = 0xf0;
pub(crate) const TAG_PREPEND: u8 = 0xf1;
pub(crate) const TAG_REVERSE: u8 = 0xf2;
pub(crate) const TAG_HEXLIFY: u8 = 0xf3;

/// A hash function usable as the file-hash operation of a detached timestamp
/// (the reference's `CryptOp` family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashOp {
    Sha1,
    Ripemd160,
    Sha256,
    Keccak256,
}

impl HashOp {
    /// The operation tag byte.
    pub fn tag(self) -> u8 {
        match self {
            HashOp::Sha1 => TAG_SHA1,
            HashOp::Ripemd160 => TAG_RIPEMD160,
            HashOp::Sha256 => TAG_SHA256,
            HashOp::Keccak256 => TAG_KECCAK256,
        }
    }

    /// The hash operation with this tag, if any.
    pub fn from_tag(tag: u8) -> Option<HashOp> {
        match tag {
            TAG_SHA1 => Some(HashOp::Sha1),
            TAG_RIPEMD160 => Some(HashOp::Ripemd160),
            TAG_SHA256 => Some(HashOp::Sha256),
            TAG_KECCAK256 => Some(HashOp::Keccak256),
            _ => None,
        }
    }

    /// Length of the digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashOp::Sha1 | HashOp::Ripemd160 => 20,
            HashOp::Sha256 | HashOp::Keccak256 => 32,
        }
    }

    /// Hashes `data` (of any length; only tree messages are bounded).
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashOp::Sha1 => Sha1::digest(data).to_vec(),
            HashOp::Ripemd160 => ripemd::Ripemd160::digest(data).to_vec(),
            HashOp::Sha256 => Sha256::digest(data).to_vec(),
            HashOp::Keccak256 => Keccak256::digest(data).to_vec(),
        }
    }

    /// The reference's name for the operation, as `ots info` prints it.
    pub fn name(self) -> &'static str {
        match self {
            HashOp::Sha1 => "sha1",
            HashOp::Ripemd160 => "ripemd160",
            HashOp::Sha256 => "sha256",
            HashOp::Keccak256 => "keccak256",
        }
    }
}

/// One commitment operation.
///
/// Ordering is the reference's canonical order (`Op.__lt__`): by tag byte,
/// then by argument bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Op {
    Hash(HashOp),
    /// Append the argument (1..=4096 bytes) to the message.
    Append(Vec<u8>),
    /// Prepend the argument (1..=4096 bytes) to the message.
    Prepend(Vec<u8>),
    /// Reverse the message's bytes.
    Reverse,
    /// Replace the message by its lower-case hex encoding.
    Hexlify,
}

impl Op {
    /// SHA-256, the operation calendars and the reference client use most.
    pub const SHA256: Op = Op::Hash(HashOp::Sha256);

    /// The operation tag byte.
    pub fn tag(&self) -> u8 {
        match self {
            Op::Hash(h) => h.tag(),
            Op::Append(_) => TAG_APPEND,
            Op::Prepend(_) => TAG_PREPEND,
            Op::Reverse => TAG_REVERSE,
            Op::Hexlify => TAG_HEXLIFY,
        }
    }

    /// The argument of append/prepend, or an empty slice.
    pub fn argument(&self) -> &[u8] {
        match self {
            Op::Append(arg) | Op::Prepend(arg) => arg,
            _ => &[],
        }
    }

    /// Checks the argument bounds of append/prepend (1..=4096 bytes).
    pub(crate) fn check_argument(&self, offset: Option<usize>) -> Result<(), OtsError> {
        if let Op::Append(arg) | Op::Prepend(arg) = self {
            if arg.is_empty() {
                return Err(OtsError::EmptyArgument {
                    offset: offset.unwrap_or(0),
                });
            }
            if arg.len() > MAX_ARG_LEN {
                return Err(OtsError::LimitExceeded {
                    limit: Limit::OpArgument,
                    offset,
                    actual: arg.len(),
                    max: MAX_ARG_LEN,
                });
            }
        }
        Ok(())
    }

    /// The length of the result for an input of `input_len` bytes, applying
    /// every limit of the reference (`Op.__call__`). `offset` locates the
    /// operation in the input for error reports.
    pub fn result_len(&self, input_len: usize) -> Result<usize, OtsError> {
        self.result_len_at(input_len, None)
    }

    pub(crate) fn result_len_at(
        &self,
        input_len: usize,
        offset: Option<usize>,
    ) -> Result<usize, OtsError> {
        self.check_argument(offset)?;
        let max_input = match self {
            Op::Hexlify => MAX_HEXLIFY_INPUT,
            _ => MAX_MSG_LEN,
        };
        if input_len > max_input {
            return Err(OtsError::LimitExceeded {
                limit: Limit::OpInput,
                offset,
                actual: input_len,
                max: max_input,
            });
        }
        let result = match self {
            Op::Hash(h) => h.digest_len(),
            Op::Append(arg) | Op::Prepend(arg) => input_len.saturating_add(arg.len()),
            Op::Reverse | Op::Hexlify => {
                if input_len == 0 {
                    return Err(OtsError::EmptyMessage { tag: self.tag() });
                }
                if matches!(self, Op::Hexlify) {
                    input_len * 2
                } else {
                    input_len
                }
            }
        };
        if result > MAX_MSG_LEN {
            return Err(OtsError::LimitExceeded {
                limit: Limit::OpResult,
                offset,
                actual: result,
                max: MAX_MSG_LEN,
            });
        }
        Ok(result)
    }

    /// Applies the operation to `msg` under the same limits as
    /// [`Op::result_len`].
    pub fn apply(&self, msg: &[u8]) -> Result<Vec<u8>, OtsError> {
        let len = self.result_len(msg.len())?;
        let out = match self {
            Op::Hash(h) => h.hash(msg),
            Op::Append(arg) => {
                let mut out = Vec::with_capacity(len);
                out.extend_from_slice(msg);
                out.extend_from_slice(arg);
                out
            }
            Op::Prepend(arg) => {
                let mut out = Vec::with_capacity(len);
                out.extend_from_slice(arg);
                out.extend_from_slice(msg);
                out
            }
            Op::Reverse => msg.iter().rev().copied().collect(),
            Op::Hexlify => hex::encode(msg).into_bytes(),
        };
        Ok(out)
    }

    /// Appends the serialized operation: the tag, then for append/prepend
    /// the argument as varbytes.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
        if let Op::Append(arg) | Op::Prepend(arg) = self {
            crate::codec::write_varbytes(out, arg);
        }
    }
}

impl Ord for Op {
    fn cmp(&self, other: &Self) -> Ordering {
        self.tag()
            .cmp(&other.tag())
            .then_with(|| self.argument().cmp(other.argument()))
    }
}

impl PartialOrd for Op {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl From<HashOp> for Op {
    fn from(h: HashOp) -> Op {
        Op::Hash(h)
    }
}

impl fmt::Display for Op {
    /// Formats as the reference's `str(op)`: `sha256`, `append <hex>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Hash(h) => f.write_str(h.name()),
            Op::Append(arg) => write!(f, "append {}", hex::encode(arg)),
            Op::Prepend(arg) => write!(f, "prepend {}", hex::encode(arg)),
            Op::Reverse => f.write_str("reverse"),
            Op::Hexlify => f.write_str("hexlify"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_published_test_vectors() {
        // FIPS 180 "abc" examples, the RIPEMD-160 paper's "abc" example and
        // Keccak-256("") as used by Ethereum.
        let abc = b"abc";
        assert_eq!(
            hex::encode(HashOp::Sha1.hash(abc)),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(HashOp::Sha256.hash(abc)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(HashOp::Ripemd160.hash(abc)),
            "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"
        );
        assert_eq!(
            hex::encode(HashOp::Keccak256.hash(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn unary_and_binary_ops() {
        assert_eq!(Op::Append(vec![3]).apply(&[1, 2]).unwrap(), vec![1, 2, 3]);
        assert_eq!(Op::Prepend(vec![0]).apply(&[1, 2]).unwrap(), vec![0, 1, 2]);
        assert_eq!(Op::Reverse.apply(&[1, 2, 3]).unwrap(), vec![3, 2, 1]);
        assert_eq!(Op::Hexlify.apply(&[0xab, 0x01]).unwrap(), b"ab01".to_vec());
    }

    #[test]
    fn limits_match_the_reference() {
        assert!(matches!(
            Op::Append(vec![0; 1]).apply(&[0; MAX_MSG_LEN]),
            Err(OtsError::LimitExceeded {
                limit: Limit::OpResult,
                ..
            })
        ));
        assert_eq!(
            Op::Append(vec![0; 1]).result_len(MAX_MSG_LEN - 1),
            Ok(MAX_MSG_LEN)
        );
        assert!(matches!(
            Op::Hexlify.result_len(MAX_HEXLIFY_INPUT + 1),
            Err(OtsError::LimitExceeded {
                limit: Limit::OpInput,
                ..
            })
        ));
        assert_eq!(Op::Hexlify.result_len(MAX_HEXLIFY_INPUT), Ok(MAX_MSG_LEN));
        assert!(matches!(
            Op::SHA256.result_len(MAX_MSG_LEN + 1),
            Err(OtsError::LimitExceeded {
                limit: Limit::OpInput,
                ..
            })
        ));
        assert!(matches!(
            Op::Reverse.apply(&[]),
            Err(OtsError::EmptyMessage { tag: 0xf2 })
        ));
        assert!(matches!(
            Op::Hexlify.apply(&[]),
            Err(OtsError::EmptyMessage { tag: 0xf3 })
        ));
        assert!(matches!(
            Op::Append(vec![]).apply(&[1]),
            Err(OtsError::EmptyArgument { .. })
        ));
        assert!(matches!(
            Op::Prepend(vec![0; MAX_ARG_LEN + 1]).result_len(0),
            Err(OtsError::LimitExceeded {
                limit: Limit::OpArgument,
                ..
            })
        ));
    }

    #[test]
    fn canonical_order_is_tag_then_argument() {
        let mut ops = vec![
            Op::Hexlify,
            Op::Append(vec![2]),
            Op::Prepend(vec![0]),
            Op::Append(vec![1, 0]),
            Op::SHA256,
            Op::Hash(HashOp::Sha1),
            Op::Append(vec![1]),
        ];
        ops.sort();
        assert_eq!(
            ops,
            vec![
                Op::Hash(HashOp::Sha1),
                Op::SHA256,
                Op::Append(vec![1]),
                Op::Append(vec![1, 0]),
                Op::Append(vec![2]),
                Op::Prepend(vec![0]),
                Op::Hexlify,
            ]
        );
    }
}
