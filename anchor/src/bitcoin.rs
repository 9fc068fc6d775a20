//! Bitcoin block headers as trust anchors for Bitcoin attestations.
//!
//! An 80-byte header is: version (u32 LE, bytes 0..4), previous block hash
//! (4..36, internal byte order), Merkle root (36..68, internal byte order),
//! nTime (u32 LE, 68..72), nBits (compact target, 72..76), nonce (76..80).
//! A block's hash is the double SHA-256 of the header, read as a
//! little-endian 256-bit integer; explorers print hashes and Merkle roots
//! byte-reversed.
//!
//! Headers come from the auditor (a headers file of `HEIGHT HEX80` lines);
//! this module does not talk to any node. Where consecutive heights are
//! given, proof of work and linkage are checked so that a run of headers
//! at least hangs together; a lone header is taken as given.

use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::error::{ChainFault, OtsError};

/// Length of a serialized block header.
pub const HEADER_LEN: usize = 80;

/// One 80-byte Bitcoin block header.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockHeader([u8; HEADER_LEN]);

impl fmt::Debug for BlockHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHeader({})", hex::encode(self.0))
    }
}

fn le_u32(bytes: &[u8; HEADER_LEN], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn array32(bytes: &[u8; HEADER_LEN], at: usize) -> [u8; 32] {
    let mut b = [0u8; 32];
    b.copy_from_slice(&bytes[at..at + 32]);
    b
}

impl BlockHeader {
    /// Wraps 80 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<BlockHeader, OtsError> {
        let raw: [u8; HEADER_LEN] = bytes.try_into().map_err(|_| OtsError::HeaderLength {
            actual: bytes.len(),
        })?;
        Ok(BlockHeader(raw))
    }

    /// Parses 160 hex digits (surrounding whitespace allowed).
    pub fn from_hex(text: &str) -> Result<BlockHeader, OtsError> {
        let bytes = hex::decode(text.trim()).map_err(|_| OtsError::HeaderLine {
            line: 1,
            reason: "not hexadecimal",
        })?;
        BlockHeader::from_bytes(&bytes)
    }

    /// The raw 80 bytes.
    pub fn as_bytes(&self) -> &[u8; HEADER_LEN] {
        &self.0
    }

    pub fn version(&self) -> u32 {
        le_u32(&self.0, 0)
    }

    /// The previous block's hash, internal byte order.
    pub fn prev_hash(&self) -> [u8; 32] {
        array32(&self.0, 4)
    }

    /// The Merkle root, internal byte order: what a Bitcoin attestation's
    /// message must equal, with no reversal.
    pub fn merkle_root(&self) -> [u8; 32] {
        array32(&self.0, 36)
    }

    /// The Merkle root as block explorers print it (byte-reversed hex).
    pub fn merkle_root_display(&self) -> String {
        let mut root = self.merkle_root();
        root.reverse();
        hex::encode(root)
    }

    /// nTime: seconds since the Unix epoch claimed by the miner.
    pub fn time(&self) -> u32 {
        le_u32(&self.0, 68)
    }

    /// nBits: the compact encoding of the proof-of-work target.
    pub fn bits(&self) -> u32 {
        le_u32(&self.0, 72)
    }

    pub fn nonce(&self) -> u32 {
        le_u32(&self.0, 76)
    }

    /// The block hash (double SHA-256), internal byte order.
    pub fn hash(&self) -> [u8; 32] {
        let once = Sha256::digest(self.0);
        Sha256::digest(once).into()
    }

    /// The block hash as explorers print it (byte-reversed hex).
    pub fn hash_display(&self) -> String {
        let mut h = self.hash();
        h.reverse();
        hex::encode(h)
    }

    /// The target encoded by nBits as a big-endian 256-bit integer, or
    /// `None` when nBits is negative, zero or overflows 256 bits (Bitcoin
    /// Core's `arith_uint256::SetCompact` rules).
    pub fn target(&self) -> Option<[u8; 32]> {
        compact_to_target(self.bits())
    }

    /// Checks that the block hash, as a little-endian integer, does not
    /// exceed the target from the header's own nBits. `height` only labels
    /// the error.
    pub fn check_pow(&self, height: u64) -> Result<(), OtsError> {
        let hash = self.hash();
        let Some(target_be) = self.target() else {
            return Err(OtsError::HeaderChain {
                height,
                fault: ChainFault::InvalidTarget,
                hash,
                expected: [0; 32],
            });
        };
        let mut hash_be = hash;
        hash_be.reverse();
        if hash_be > target_be {
            let mut target_le = target_be;
            target_le.reverse();
            return Err(OtsError::HeaderChain {
                height,
                fault: ChainFault::ProofOfWork,
                hash,
                expected: target_le,
            });
        }
        Ok(())
    }
}

/// Decodes a compact target: the top byte is a base-256 exponent, the low
/// 23 bits a mantissa, bit 23 a sign; target = mantissa * 256^(exponent-3).
fn compact_to_target(bits: u32) -> Option<[u8; 32]> {
    let exponent = (bits >> 24) as usize;
    let mantissa = bits & 0x007f_ffff;
    if mantissa == 0 || bits & 0x0080_0000 != 0 {
        return None;
    }
    let mut be = [0u8; 32];
    if exponent <= 3 {
        let value = mantissa >> (8 * (3 - exponent));
        if value == 0 {
            return None;
        }
        be[28..].copy_from_slice(&value.to_be_bytes());
        return Some(be);
    }
    let mantissa_be = [
        (mantissa >> 16) as u8,
        (mantissa >> 8) as u8,
        mantissa as u8,
    ];
    for (k, &byte) in mantissa_be.iter().enumerate() {
        // Position counted from the least significant byte.
        let position = exponent - 1 - k;
        match 31usize.checked_sub(position) {
            Some(index) => be[index] = byte,
            None if byte != 0 => return None,
            None => {}
        }
    }
    Some(be)
}

/// Block headers by height, as supplied by the auditor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderSet {
    headers: BTreeMap<u64, BlockHeader>,
}

impl HeaderSet {
    /// Parses a headers file: one `HEIGHT HEX80` per line; blank lines and
    /// lines starting with `#` are ignored. Consecutive heights are checked
    /// for proof of work and linkage.
    pub fn parse(text: &str) -> Result<HeaderSet, OtsError> {
        let mut headers = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let (Some(height), Some(hex_header), None) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(OtsError::HeaderLine {
                    line: line_no,
                    reason: "expected `HEIGHT HEX80`",
                });
            };
            let height: u64 = height.parse().map_err(|_| OtsError::HeaderLine {
                line: line_no,
                reason: "height is not a decimal integer",
            })?;
            let bytes = hex::decode(hex_header).map_err(|_| OtsError::HeaderLine {
                line: line_no,
                reason: "header is not hexadecimal",
            })?;
            let header = BlockHeader::from_bytes(&bytes).map_err(|_| OtsError::HeaderLine {
                line: line_no,
                reason: "header is not 80 bytes",
            })?;
            headers.push((height, header));
        }
        HeaderSet::from_headers(headers)
    }

    /// Builds a set from `(height, header)` pairs, rejecting two different
    /// headers at one height and checking every run of consecutive heights.
    pub fn from_headers(
        headers: impl IntoIterator<Item = (u64, BlockHeader)>,
    ) -> Result<HeaderSet, OtsError> {
        let mut set = HeaderSet::default();
        for (height, header) in headers {
            if let Some(existing) = set.headers.insert(height, header) {
                if existing != header {
                    return Err(OtsError::ConflictingHeader { height });
                }
            }
        }
        set.check_chain()?;
        Ok(set)
    }

    /// The header at `height`, if supplied.
    pub fn get(&self, height: u64) -> Option<&BlockHeader> {
        self.headers.get(&height)
    }

    /// All headers by ascending height.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &BlockHeader)> {
        self.headers.iter().map(|(h, hd)| (*h, hd))
    }

    pub fn len(&self) -> usize {
        self.headers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// For every pair of headers at heights `h` and `h + 1`: both satisfy
    /// their own proof-of-work target and the upper one's prev-hash field is
    /// the lower one's hash.
    fn check_chain(&self) -> Result<(), OtsError> {
        let mut previous: Option<(u64, &BlockHeader)> = None;
        for (&height, header) in &self.headers {
            if let Some((prev_height, prev_header)) = previous {
                if prev_height.checked_add(1) == Some(height) {
                    prev_header.check_pow(prev_height)?;
                    header.check_pow(height)?;
                    let prev_hash = prev_header.hash();
                    if header.prev_hash() != prev_hash {
                        return Err(OtsError::HeaderChain {
                            height,
                            fault: ChainFault::Linkage,
                            hash: prev_hash,
                            expected: header.prev_hash(),
                        });
                    }
                }
            }
            previous = Some((height, header));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_targets() {
        // Genesis block nBits 0x1d00ffff: 0x00ffff * 256^(0x1d-3).
        let t = compact_to_target(0x1d00_ffff).unwrap();
        let mut expected = [0u8; 32];
        expected[4] = 0xff;
        expected[5] = 0xff;
        assert_eq!(t, expected);
        // Regtest 0x207fffff: 0x7fffff * 256^29.
        let t = compact_to_target(0x207f_ffff).unwrap();
        assert_eq!(&t[..3], &[0x7f, 0xff, 0xff]);
        assert!(t[3..].iter().all(|&b| b == 0));
        // Small exponents shift the mantissa right.
        assert_eq!(compact_to_target(0x0212_3456).unwrap()[30..], [0x12, 0x34]);
        // Negative, zero and overflowing encodings are invalid.
        assert_eq!(compact_to_target(0x1d80_ffff), None);
        assert_eq!(compact_to_target(0x1d00_0000), None);
        assert_eq!(compact_to_target(0x2301_0000), None);
        assert_eq!(compact_to_target(0x0100_0001), None);
    }

    #[test]
    fn genesis_header_fields_and_pow() {
        // The Bitcoin genesis block header, whose hash and Merkle root are
        // published everywhere.
        let genesis = BlockHeader::from_hex(concat!(
            "01000000",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a",
            "29ab5f49",
            "ffff001d",
            "1dac2b7c"
        ))
        .unwrap();
        assert_eq!(
            genesis.hash_display(),
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
        assert_eq!(
            genesis.merkle_root_display(),
            "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
        );
        assert_eq!(genesis.time(), 1_231_006_505);
        assert_eq!(genesis.bits(), 0x1d00_ffff);
        assert_eq!(genesis.nonce(), 2_083_236_893);
        assert!(genesis.check_pow(0).is_ok());
    }

    #[test]
    fn header_file_syntax() {
        assert!(HeaderSet::parse("# nothing\n\n").unwrap().is_empty());
        for (text, line) in [
            ("1\n", 1),
            ("x 00\n", 1),
            ("\n1 zz\n", 2),
            ("1 00\n", 1),
            ("1 00 00\n", 1),
        ] {
            assert!(
                matches!(HeaderSet::parse(text), Err(OtsError::HeaderLine { line: l, .. }) if l == line),
                "{text:?}"
            );
        }
    }
}
