//! Items roots and selective disclosure: `rs_merkle` with the RFC 6962 hasher against the
//! shared RFC 6962 vectors and a naive recursive reference; every subset of a 7-item
//! bundle disclosed and verified; tampering of every kind refused.

mod common;

use common::*;
use ledger_core::hash::{leaf_hash, node_hash};
use ledger_record::{
    disclose, items_root, Body, Disclosure, EvidenceBody, EvidenceItem, Hash, Record, RecordError,
    Rfc6962Hasher,
};
use rs_merkle::{Hasher, MerkleTree};

/// MTH of RFC 9162 §2.1.1, written as the recursion in the RFC.
fn naive_mth(leaves: &[Vec<u8>]) -> Hash {
    match leaves.len() {
        0 => Hash::empty_root(),
        1 => leaf_hash(&leaves[0]),
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&naive_mth(&leaves[..k]), &naive_mth(&leaves[k..]))
        }
    }
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

#[test]
fn rs_merkle_with_the_rfc6962_hasher_matches_the_shared_vectors() {
    let path = vectors_dir().join("merkle").join("rfc6962.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let leaves: Vec<Vec<u8>> = v["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| unhex(l.as_str().unwrap()))
        .collect();
    let leaf_hashes: Vec<[u8; 32]> = leaves.iter().map(|l| Rfc6962Hasher::hash(l)).collect();
    for (i, want) in v["leaf_hashes"].as_array().unwrap().iter().enumerate() {
        assert_eq!(leaf_hashes[i].to_vec(), unhex(want.as_str().unwrap()));
    }
    for size in 1..=leaves.len() {
        let want = unhex(v["roots"][size.to_string()].as_str().unwrap());
        let root = MerkleTree::<Rfc6962Hasher>::from_leaves(&leaf_hashes[..size])
            .root()
            .unwrap();
        assert_eq!(root.to_vec(), want, "size {size}");
        assert_eq!(
            naive_mth(&leaves[..size]).0.to_vec(),
            want,
            "naive, size {size}"
        );
    }
}

#[test]
fn items_root_is_the_rfc6962_root_of_item_encodings() {
    let all = items(70);
    for n in 1..=all.len() {
        let encodings: Vec<Vec<u8>> = all[..n].iter().map(EvidenceItem::encode).collect();
        assert_eq!(
            items_root(&all[..n]),
            Some(naive_mth(&encodings)),
            "{n} items"
        );
    }
    assert_eq!(items_root(&[]), None);
}

#[test]
fn item_encoding_matches_the_specification() {
    for item in items(5) {
        assert_eq!(item.encode(), naive_item(&item).enc());
        assert_eq!(EvidenceItem::decode(&item.encode()).unwrap(), item);
    }
}

#[test]
fn every_subset_of_seven_items_verifies_and_round_trips() {
    let bundle = items(7);
    let root = items_root(&bundle).unwrap();
    for mask in 1u32..(1 << 7) {
        let indices: Vec<usize> = (0..7).filter(|i| mask & (1 << i) != 0).collect();
        let d = disclose(&bundle, &indices).unwrap();
        assert_eq!(d.items.len(), indices.len());
        d.verify(&root, 7).unwrap();
        let decoded = Disclosure::decode(&d.encode()).unwrap();
        assert_eq!(decoded, d);
        decoded.verify(&root, 7).unwrap();
    }
}

#[test]
fn every_subset_verifies_for_small_bundles() {
    for n in 1..=10usize {
        let bundle = items(n);
        let root = items_root(&bundle).unwrap();
        for mask in 1u32..(1 << n) {
            let indices: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
            disclose(&bundle, &indices)
                .unwrap()
                .verify(&root, n as u64)
                .unwrap_or_else(|e| panic!("{n} items, {indices:?}: {e}"));
        }
    }
}

#[test]
fn tampered_disclosures_fail() {
    let bundle = items(7);
    let root = items_root(&bundle).unwrap();
    for mask in 1u32..(1 << 7) {
        let indices: Vec<usize> = (0..7).filter(|i| mask & (1 << i) != 0).collect();
        let good = disclose(&bundle, &indices).unwrap();

        // A changed item.
        let mut d = good.clone();
        d.items[0].details.push('!');
        assert!(matches!(
            d.verify(&root, 7),
            Err(RecordError::DisclosureRootMismatch { .. })
        ));

        // Another item put in place of a disclosed one.
        let mut d = good.clone();
        let other = (indices[0] + 1) % 7;
        d.items[0] = bundle[other].clone();
        assert!(matches!(
            d.verify(&root, 7),
            Err(RecordError::DisclosureRootMismatch { .. })
        ));

        // Every single-bit flip of every proof hash.
        for h in 0..good.proof.len() {
            for bit in 0..256 {
                let mut d = good.clone();
                d.proof[h].0[bit / 8] ^= 1 << (bit % 8);
                assert!(matches!(
                    d.verify(&root, 7),
                    Err(RecordError::DisclosureRootMismatch { .. })
                ));
            }
        }

        // One hash too many or too few.
        let mut d = good.clone();
        d.proof.push(Hash([7; 32]));
        assert!(matches!(
            d.verify(&root, 7),
            Err(RecordError::InvalidValue {
                field: "disclosure.proof",
                ..
            })
        ));
        if !good.proof.is_empty() {
            let mut d = good.clone();
            d.proof.pop();
            assert!(matches!(
                d.verify(&root, 7),
                Err(RecordError::InvalidValue {
                    field: "disclosure.proof",
                    ..
                })
            ));
        }

        // A different bundle size than the record commits to.
        let mut d = good.clone();
        d.item_count = 8;
        assert_eq!(
            d.verify(&root, 7),
            Err(RecordError::DisclosureCountMismatch {
                disclosed: 8,
                committed: 7
            })
        );
        assert_eq!(
            good.verify(&root, 6),
            Err(RecordError::DisclosureCountMismatch {
                disclosed: 7,
                committed: 6
            })
        );

        // A wrong root.
        assert!(matches!(
            good.verify(&Hash([0; 32]), 7),
            Err(RecordError::DisclosureRootMismatch { .. })
        ));

        // An item claimed at another position (when one is free).
        if let Some(free) = (0..7u64).find(|i| !good.indices.contains(i)) {
            let mut d = good.clone();
            let last = d.indices.len() - 1;
            d.indices[last] = free;
            d.indices.sort_unstable();
            assert!(d.verify(&root, 7).is_err(), "moved index, {indices:?}");
        }
    }
}

/// Why the item count is committed in the record and compared: a Merkle proof does not
/// bind the tree size. Items 0..=5 of a 7-item tree have the same proof (the leaf hash of
/// item 6) in an 8-leaf tree, where it stands for the node over leaves 6 and 7, and both
/// lead to the same root.
#[test]
fn tree_size_is_bound_by_the_committed_count_not_by_the_proof() {
    let bundle = items(7);
    let root = items_root(&bundle).unwrap();
    let mut d = disclose(&bundle, &[0, 1, 2, 3, 4, 5]).unwrap();
    assert_eq!(d.proof.len(), 1);
    d.item_count = 8;
    assert_eq!(d.root().unwrap(), root);
    assert_eq!(
        d.verify(&root, 7),
        Err(RecordError::DisclosureCountMismatch {
            disclosed: 8,
            committed: 7
        })
    );
}

#[test]
fn malformed_disclosure_shapes() {
    let bundle = items(7);
    let root = items_root(&bundle).unwrap();
    let good = disclose(&bundle, &[1, 4]).unwrap();
    let mut repeated = good.clone();
    repeated.indices = vec![1, 1];
    let mut unsorted = good.clone();
    unsorted.indices = vec![4, 1];
    unsorted.items.reverse();
    let mut out_of_range = good.clone();
    out_of_range.indices = vec![1, 7];
    let mut fewer_items = good.clone();
    fewer_items.items.pop();
    let mut none = good.clone();
    none.indices.clear();
    none.items.clear();
    for (what, d) in [
        ("repeated index", repeated),
        ("unsorted indices", unsorted),
        ("index out of range", out_of_range),
        ("fewer items than indices", fewer_items),
        ("nothing disclosed", none),
    ] {
        assert!(
            matches!(d.verify(&root, 7), Err(RecordError::InvalidValue { .. })),
            "{what}"
        );
    }
    assert!(disclose(&bundle, &[7]).is_err());
    assert!(disclose(&bundle, &[2, 2]).is_err());
    assert!(disclose(&bundle, &[]).is_err());
    assert!(disclose(&[], &[0]).is_err());
    // Index order given to `disclose` does not matter.
    assert_eq!(disclose(&bundle, &[4, 1]).unwrap(), good);
    // Trailing bytes after an encoded disclosure.
    let mut bytes = good.encode();
    bytes.push(0);
    assert!(matches!(
        Disclosure::decode(&bytes),
        Err(RecordError::TrailingBytes { .. })
    ));
}

#[test]
fn committed_record_discloses_items_inline_record_does_not() {
    let bundle = items(7);
    let signer = key(1);
    let body = EvidenceBody::committed(&bundle).unwrap();
    let record = Record::sign(unsigned(1, Hash([0; 32]), Body::Evidence(body)), &signer).unwrap();
    let record = Record::decode(&record.encode()).unwrap();
    let Body::Evidence(body) = record.body() else {
        panic!("not evidence")
    };
    assert_eq!(body.items(), None);
    let d = disclose(&bundle, &[0, 3, 6]).unwrap();
    body.verify_disclosure(&d).unwrap();
    // A disclosure from a different bundle of the same size does not verify.
    let mut other = items(7);
    other[3].status = ledger_record::Status::Fail;
    other[3].details = "changed".into();
    let forged = disclose(&other, &[3]).unwrap();
    assert!(matches!(
        body.verify_disclosure(&forged),
        Err(RecordError::DisclosureRootMismatch { .. })
    ));

    let inline = EvidenceBody::inline(bundle.clone()).unwrap();
    assert!(inline.verify_disclosure(&d).is_err());
    assert_eq!(inline.items(), Some(&bundle[..]));
}
