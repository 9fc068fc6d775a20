//! Building stamps the way the ledger will: start from a digest, add a
//! nonce and hash, attest, serialize, and read back.

use anchor::{
    Attestation, BlockHeader, DetachedTimestamp, HashOp, HeaderSet, Limit, Op, OtsError, Timestamp,
    TimestampBuilder, MAX_DEPTH,
};
use sha2::{Digest, Sha256};

const CALENDAR: &str = "https://alice.btc.calendar.opentimestamps.org";

fn header_with_root(root: &[u8], time: u32) -> BlockHeader {
    let mut b = vec![0u8; 80];
    b[36..68].copy_from_slice(root);
    b[68..72].copy_from_slice(&time.to_le_bytes());
    BlockHeader::from_bytes(&b).unwrap()
}

#[test]
fn a_pending_stamp_round_trips_and_names_its_commitment() {
    let body = b"example.org/log\n42\nroot\n";
    let mut stamp = DetachedTimestamp::for_data(HashOp::Sha256, body);
    assert_eq!(stamp.digest, Sha256::digest(body).to_vec());

    let nonce = [0x5a; 16];
    let chain = TimestampBuilder::new(&stamp.digest)
        .unwrap()
        .op(Op::Append(nonce.to_vec()))
        .unwrap()
        .op(Op::SHA256)
        .unwrap();
    // The message after the chain is sha256(digest || nonce), computed here
    // with sha2 directly.
    let mut expected = stamp.digest.clone();
    expected.extend_from_slice(&nonce);
    assert_eq!(chain.message(), Sha256::digest(&expected).as_slice());
    let commitment = chain.message().to_vec();

    stamp.timestamp.merge(
        chain
            .attest(Attestation::pending(CALENDAR).unwrap())
            .unwrap(),
    );
    let bytes = stamp.to_bytes().unwrap();
    let back = DetachedTimestamp::parse(&bytes).unwrap();
    assert_eq!(back, stamp);
    let pending = back.pending_commitments().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].uri, CALENDAR);
    assert_eq!(pending[0].commitment, commitment);
}

#[test]
fn a_bitcoin_stamp_verifies_against_a_header_with_its_root() {
    let mut stamp = DetachedTimestamp::for_data(HashOp::Sha256, b"checkpoint");
    let chain = TimestampBuilder::new(&stamp.digest)
        .unwrap()
        .op(Op::Prepend(b"left sibling".to_vec()))
        .unwrap()
        .op(Op::SHA256)
        .unwrap();
    let root = chain.message().to_vec();
    stamp.timestamp.merge(
        chain
            .attest(Attestation::Bitcoin { height: 800_000 })
            .unwrap(),
    );
    let stamp = DetachedTimestamp::parse(&stamp.to_bytes().unwrap()).unwrap();

    let headers =
        HeaderSet::from_headers([(800_000, header_with_root(&root, 1_690_000_000))]).unwrap();
    let report = stamp.verify_bitcoin(&headers).unwrap();
    assert_eq!(report.verified.len(), 1);
    assert_eq!(report.verified[0].time, 1_690_000_000);

    let mut other_root = root.clone();
    other_root[0] ^= 1;
    let headers = HeaderSet::from_headers([(800_000, header_with_root(&other_root, 1))]).unwrap();
    let report = stamp.verify_bitcoin(&headers).unwrap();
    assert!(report.verified.is_empty());
    assert!(matches!(
        report.failed[0].error,
        OtsError::MerkleRootMismatch { .. }
    ));
}

#[test]
fn every_op_kind_survives_a_round_trip_and_replays() {
    let digest = Sha256::digest(b"ops").to_vec();
    let chain = TimestampBuilder::new(&digest)
        .unwrap()
        .op(Op::Hash(HashOp::Sha1))
        .unwrap()
        .op(Op::Hash(HashOp::Ripemd160))
        .unwrap()
        .op(Op::Hash(HashOp::Keccak256))
        .unwrap()
        .op(Op::Reverse)
        .unwrap()
        .op(Op::Hexlify)
        .unwrap()
        .op(Op::Prepend(vec![1]))
        .unwrap()
        .op(Op::Append(vec![2]))
        .unwrap();
    let end = chain.message().to_vec();
    assert_eq!(end.len(), 66);
    let mut stamp = DetachedTimestamp::new(HashOp::Sha256, &digest).unwrap();
    stamp.timestamp = chain
        .attest(Attestation::Unknown {
            tag: [9; 8],
            payload: b"opaque".to_vec(),
        })
        .unwrap();
    let back = DetachedTimestamp::parse(&stamp.to_bytes().unwrap()).unwrap();
    let leaves = back.attestations().unwrap();
    assert_eq!(leaves.len(), 1);
    assert_eq!(leaves[0].message, end);
}

#[test]
fn builder_enforces_limits() {
    assert!(matches!(
        TimestampBuilder::new(&[0; 4000])
            .unwrap()
            .op(Op::Append(vec![0; 97])),
        Err(OtsError::LimitExceeded {
            limit: Limit::OpResult,
            ..
        })
    ));
    assert!(matches!(
        TimestampBuilder::new(&[0; 4097]),
        Err(OtsError::LimitExceeded {
            limit: Limit::OpInput,
            ..
        })
    ));
    let mut b = TimestampBuilder::new(b"m").unwrap();
    for _ in 0..MAX_DEPTH - 1 {
        b = b.op(Op::Reverse).unwrap();
    }
    assert!(matches!(
        b.clone().op(Op::Reverse),
        Err(OtsError::LimitExceeded {
            limit: Limit::Depth,
            ..
        })
    ));
    // 255 operations then an attestation is the deepest legal tree.
    let t = b.attest(Attestation::Bitcoin { height: 1 }).unwrap();
    assert!(Timestamp::parse(&t.to_bytes(b"m").unwrap(), b"m").is_ok());
}

#[test]
fn digest_length_must_match_the_hash() {
    assert_eq!(
        DetachedTimestamp::new(HashOp::Sha1, &[0; 32]),
        Err(OtsError::DigestLength {
            expected: 20,
            actual: 32
        })
    );
    let mut s = DetachedTimestamp::new(HashOp::Sha256, &[0; 32]).unwrap();
    s.timestamp
        .add_attestation(Attestation::Bitcoin { height: 1 });
    s.digest.pop();
    assert!(matches!(s.to_bytes(), Err(OtsError::DigestLength { .. })));
}
