//! Header sets: proof of work and linkage across consecutive heights,
//! conflicting duplicates, and the real header of block 358391.

mod common;

use anchor::{BlockHeader, ChainFault, HeaderSet, OtsError};
use common::*;

/// Regtest's compact target 0x207fffff: about half of all hashes meet it,
/// so a few nonces suffice.
const EASY_BITS: u32 = 0x207f_ffff;

fn real() -> BlockHeader {
    BlockHeader::from_hex(&String::from_utf8(read("headers/358391.hex")).unwrap()).unwrap()
}

fn header(prev: [u8; 32], merkle: [u8; 32], time: u32, bits: u32, nonce: u32) -> BlockHeader {
    let mut b = Vec::with_capacity(80);
    b.extend_from_slice(&4u32.to_le_bytes());
    b.extend_from_slice(&prev);
    b.extend_from_slice(&merkle);
    b.extend_from_slice(&time.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(&nonce.to_le_bytes());
    BlockHeader::from_bytes(&b).unwrap()
}

/// The first header (by nonce) whose proof of work does or does not hold.
fn mine(prev: [u8; 32], merkle: [u8; 32], want_valid: bool) -> BlockHeader {
    (0..1000)
        .map(|nonce| header(prev, merkle, 1_700_000_000, EASY_BITS, nonce))
        .find(|h| h.check_pow(0).is_ok() == want_valid)
        .expect("a suitable nonce within 1000 tries")
}

#[test]
fn header_fields_of_block_358391() {
    let h = real();
    assert_eq!(h.time(), 1_432_827_678);
    assert_eq!(
        h.merkle_root_display(),
        "8a1b66ecb7cbd07d8139a7e7d7f2c41aab1f5009b8364aaf61d03ad245e47e00"
    );
    // A real block's hash starts with many zero bytes (explorer order).
    assert!(h.hash_display().starts_with("0000000000000000"));
    h.check_pow(358_391).unwrap();
}

#[test]
fn a_linked_chain_with_valid_work_is_accepted() {
    let a = mine([0; 32], [1; 32], true);
    let b = mine(a.hash(), [2; 32], true);
    let c = mine(b.hash(), [3; 32], true);
    let set = HeaderSet::from_headers([(10, a), (11, b), (12, c)]).unwrap();
    assert_eq!(set.len(), 3);
    let text: String = set
        .iter()
        .map(|(h, hd)| format!("{h} {}\n", hex::encode(hd.as_bytes())))
        .collect();
    assert_eq!(HeaderSet::parse(&text).unwrap(), set);
}

#[test]
fn broken_linkage_is_rejected_with_evidence() {
    let a = mine([0; 32], [1; 32], true);
    let b = mine([9; 32], [2; 32], true);
    match HeaderSet::from_headers([(10, a), (11, b)]) {
        Err(OtsError::HeaderChain {
            height: 11,
            fault: ChainFault::Linkage,
            hash,
            expected,
        }) => {
            assert_eq!(hash, a.hash());
            assert_eq!(expected, [9; 32]);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn insufficient_work_is_rejected_in_a_run() {
    let a = mine([0; 32], [1; 32], true);
    let weak = mine(a.hash(), [2; 32], false);
    assert!(matches!(
        HeaderSet::from_headers([(10, a), (11, weak)]),
        Err(OtsError::HeaderChain {
            height: 11,
            fault: ChainFault::ProofOfWork,
            ..
        })
    ));
    // A forged successor of the real block 358391 cannot meet mainnet
    // difficulty by chance.
    let forged = header(real().hash(), [7; 32], 1_432_828_000, real().bits(), 0);
    assert!(matches!(
        HeaderSet::from_headers([(358_391, real()), (358_392, forged)]),
        Err(OtsError::HeaderChain {
            height: 358_392,
            fault: ChainFault::ProofOfWork,
            ..
        })
    ));
    // An invalid compact target is its own fault.
    let negative = header(a.hash(), [2; 32], 0, 0x1d80_ffff, 0);
    assert!(matches!(
        HeaderSet::from_headers([(10, a), (11, negative)]),
        Err(OtsError::HeaderChain {
            height: 11,
            fault: ChainFault::InvalidTarget,
            ..
        })
    ));
}

#[test]
fn lone_and_gapped_headers_are_taken_as_given() {
    let weak = mine([0; 32], [1; 32], false);
    let set = HeaderSet::from_headers([(358_391, real()), (358_393, weak), (5, weak)]).unwrap();
    assert_eq!(set.len(), 3);
}

#[test]
fn conflicting_headers_for_one_height_are_rejected() {
    let a = mine([0; 32], [1; 32], true);
    let b = mine([0; 32], [2; 32], true);
    assert_eq!(
        HeaderSet::from_headers([(10, a), (10, b)]),
        Err(OtsError::ConflictingHeader { height: 10 })
    );
    assert!(HeaderSet::from_headers([(10, a), (10, a)]).is_ok());
}

#[test]
fn header_length_is_checked() {
    assert_eq!(
        BlockHeader::from_bytes(&[0; 79]),
        Err(OtsError::HeaderLength { actual: 79 })
    );
    assert!(matches!(
        HeaderSet::parse(&format!("1 {}\n", "00".repeat(81))),
        Err(OtsError::HeaderLine { line: 1, .. })
    ));
}
