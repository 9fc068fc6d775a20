//! Exhaustive tests of the Merkle code for every tree size 1..=128 against the naive
//! RFC 9162 §2.1 reference in `common` (leaf i is the bytes of `format!("leaf {i}")`):
//! roots, the frontier, every inclusion proof, every consistency proof, and every proof
//! mutated (bit flips, extra or missing hashes, wrong index, wrong sizes), which must be
//! rejected.
//!
//! Bit flips cover all 256 bits of every proof hash for sizes up to 32 and a fixed sample
//! of four bit positions per hash (two of them pseudo-random) for larger sizes, which
//! keeps the whole file well within a minute in debug builds.
//!
//! Wrong tree sizes are subtle: an inclusion proof does not bind the tree size (the
//! shared vectors' README says so; RFC 9162 §2.1.3.2 recomputes a root, nothing more),
//! and a consistency proof does not bind the second size either. For example leaf 0 of a
//! 5-leaf tree has the same audit path and root computation in a 6-leaf tree, and the
//! proof 4 -> 8 also proves 4 -> 7 against the same roots. So for inclusion size ±1 and
//! ÷2, and consistency size2 ±1 and ÷2, the expected outcome is the reference verifier's,
//! which recomputes the roots by undoing the RFC recursion. A wrong size that changes the
//! proof length (×2 for every leaf, and size1 ±1 in consistency, as transparency-dev's
//! Go tests also require) must always fail.

mod common;

use common::{
    flip_bit, leaf_data, leaves, ref_leaf, ref_mth, ref_path, ref_path_len, ref_proof,
    ref_subproof_len, ref_verify_consistency, ref_verify_inclusion,
};
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::proof::{
    consistency_proof, consistency_proof_len, inclusion_proof, inclusion_proof_len, range_hash,
    split_point, tree_hash, verify_consistency, verify_inclusion, ProofError, SubtreeSource,
};
use ledger_core::tree::{Frontier, MemoryTree};

const MAX_SIZE: u64 = 128;

/// Sizes up to this one get every bit of every hash flipped.
const ALL_BITS_UP_TO: u64 = 32;

/// The bit positions flipped in one hash: all of them for small trees, otherwise the
/// first and last bit and two positions that move with `salt`, so that across all
/// proofs every bit position is hit many times.
fn bits_to_flip(size: u64, salt: u64) -> Vec<usize> {
    if size <= ALL_BITS_UP_TO {
        return (0..256).collect();
    }
    let mixed = salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    vec![
        0,
        255,
        (mixed >> 56) as usize,
        ((mixed >> 40) & 0xff) as usize,
    ]
}

/// A tree of `n` exhaustive-test leaves, built by appending entries.
fn tree_of(n: u64) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for i in 0..n {
        tree.push_entry(&leaf_data(i));
    }
    tree
}

/// Hashes that must never be accepted as an extra proof element.
fn extras(leaf: &Hash, root: &Hash, proof: &[Hash]) -> Vec<Hash> {
    let mut out = vec![Hash([0u8; 32]), *leaf, *root, Hash::empty_root()];
    out.extend(proof.first().copied());
    out.extend(proof.last().copied());
    out
}

fn with_appended(proof: &[Hash], h: Hash) -> Vec<Hash> {
    let mut p = proof.to_vec();
    p.push(h);
    p
}

fn with_prepended(proof: &[Hash], h: Hash) -> Vec<Hash> {
    let mut p = vec![h];
    p.extend_from_slice(proof);
    p
}

#[test]
fn roots_and_frontier_at_every_size() {
    let data = leaves(MAX_SIZE);
    let mut tree = MemoryTree::new();
    let mut frontier = Frontier::new();
    assert_eq!(tree.root(), ref_mth(&[]));
    assert_eq!(frontier.root(), ref_mth(&[]));
    assert_eq!(Frontier::from_source(&tree, 0), Ok(Frontier::new()));
    for n in 1..=MAX_SIZE {
        let entry = &data[(n - 1) as usize];
        tree.push_entry(entry);
        let mut finished = Vec::new();
        frontier.push(leaf_hash(entry), |level, index, hash| {
            finished.push((level, index, *hash))
        });
        let want = ref_mth(&data[..n as usize]);
        assert_eq!(tree.size(), n);
        assert_eq!(tree.root(), want, "MemoryTree root at size {n}");
        assert_eq!(tree_hash(&tree, n), Ok(want));
        assert_eq!(frontier.size(), n);
        assert_eq!(frontier.root(), want, "Frontier root at size {n}");
        assert_eq!(
            Frontier::from_source(&tree, n).as_ref(),
            Ok(&frontier),
            "Frontier::from_source at size {n}"
        );
        assert_eq!(tree.leaf(n - 1), Some(ref_leaf(entry)));
        assert_eq!(tree.leaf(n), None);

        // The new leaf finishes one complete subtree per trailing one bit of its index,
        // plus the leaf itself, reported lowest first; each must be the RFC's MTH of
        // its leaves and what the tree stores.
        let index = n - 1;
        let levels = index.trailing_ones() as u8;
        let want_finished: Vec<(u8, u64, Hash)> = (0..=levels)
            .map(|level| {
                let i = index >> level;
                let lo = (i << level) as usize;
                let hi = ((i + 1) << level) as usize;
                (level, i, ref_mth(&data[lo..hi]))
            })
            .collect();
        assert_eq!(finished, want_finished, "finished subtrees at size {n}");
        for (level, i, hash) in &finished {
            assert_eq!(tree.subtree_hash(*level, *i), Ok(*hash));
        }
    }
}

#[test]
fn range_hash_of_every_node_range() {
    let data = leaves(MAX_SIZE);
    let tree = tree_of(MAX_SIZE);
    let mut checked = 0;
    for lo in 0..MAX_SIZE {
        for hi in lo + 1..=MAX_SIZE {
            // range_hash is defined for ranges that are nodes of some tree: lo aligned to
            // the smallest power of two not below the range length.
            let align = (hi - lo).next_power_of_two();
            if lo % align != 0 {
                continue;
            }
            assert_eq!(
                range_hash(&tree, lo, hi),
                Ok(ref_mth(&data[lo as usize..hi as usize])),
                "range {lo}..{hi}"
            );
            checked += 1;
        }
    }
    // Every complete subtree (128 + 64 + ... + 1 of them) is such a range, and so are
    // the right edges of every tree size.
    assert!(checked > 2 * MAX_SIZE - 1, "only {checked} ranges");
    assert_eq!(range_hash(&tree, 5, 5), Ok(Hash::empty_root()));
}

#[test]
fn inclusion_proofs_at_every_size() {
    let data = leaves(MAX_SIZE);
    let mut tree = MemoryTree::new();
    let mut checked = 0u64;
    let mut wrong_size_accepted = 0u64;
    for n in 1..=MAX_SIZE {
        tree.push_entry(&data[(n - 1) as usize]);
        let root = ref_mth(&data[..n as usize]);
        for i in 0..n {
            let label = format!("inclusion {i} in {n}");
            let leaf = ref_leaf(&data[i as usize]);
            let want = ref_path(i as usize, &data[..n as usize]);
            let proof = inclusion_proof(&tree, i, n).unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_eq!(proof, want, "{label}: proof differs from PATH");
            assert_eq!(inclusion_proof_len(i, n), want.len(), "{label}: length");
            assert!(
                ref_verify_inclusion(&leaf, i, n, &proof, &root),
                "{label}: oracle"
            );
            assert_eq!(
                verify_inclusion(&leaf, i, n, &proof, &root),
                Ok(()),
                "{label}"
            );

            // One flipped bit anywhere in the proof changes the computed root.
            for (j, h) in proof.iter().enumerate() {
                for bit in bits_to_flip(n, i * 64 + j as u64) {
                    let mut bad = proof.clone();
                    bad[j] = flip_bit(h, bit);
                    assert!(
                        matches!(
                            verify_inclusion(&leaf, i, n, &bad, &root),
                            Err(ProofError::RootMismatch { expected, .. }) if expected == root
                        ),
                        "{label}: bit {bit} of proof[{j}] flipped was not a root mismatch"
                    );
                }
            }
            // So does a flipped bit in the leaf or the root.
            for bit in bits_to_flip(MAX_SIZE, i + n) {
                assert!(
                    matches!(
                        verify_inclusion(&flip_bit(&leaf, bit), i, n, &proof, &root),
                        Err(ProofError::RootMismatch { .. })
                    ),
                    "{label}: leaf bit {bit}"
                );
                assert!(
                    matches!(
                        verify_inclusion(&leaf, i, n, &proof, &flip_bit(&root, bit)),
                        Err(ProofError::RootMismatch { .. })
                    ),
                    "{label}: root bit {bit}"
                );
            }

            // One hash too many, at either end.
            let len = proof.len();
            for extra in extras(&leaf, &root, &proof) {
                for bad in [with_appended(&proof, extra), with_prepended(&proof, extra)] {
                    assert_eq!(
                        verify_inclusion(&leaf, i, n, &bad, &root),
                        Err(ProofError::WrongLength {
                            got: len + 1,
                            expected: len
                        }),
                        "{label}: extra hash"
                    );
                }
            }
            // One hash too few, at either end.
            if len > 0 {
                for bad in [&proof[1..], &proof[..len - 1]] {
                    assert_eq!(
                        verify_inclusion(&leaf, i, n, bad, &root),
                        Err(ProofError::WrongLength {
                            got: len - 1,
                            expected: len
                        }),
                        "{label}: missing hash"
                    );
                }
            }

            // A wrong index: the leaf moves, so the root computation changes or the
            // index leaves the tree.
            for wrong in [i.wrapping_add(1), i.wrapping_sub(1)] {
                let got = verify_inclusion(&leaf, wrong, n, &proof, &root);
                assert!(got.is_err(), "{label}: index {wrong} accepted");
                assert!(!ref_verify_inclusion(&leaf, wrong, n, &proof, &root));
                if wrong >= n {
                    assert_eq!(
                        got,
                        Err(ProofError::IndexOutOfRange {
                            index: wrong,
                            size: n
                        })
                    );
                }
            }

            // Doubling the size deepens every leaf by one level, so the length differs.
            let doubled = verify_inclusion(&leaf, i, 2 * n, &proof, &root);
            assert!(
                matches!(doubled, Err(ProofError::WrongLength { .. })),
                "{label}: size {} gave {doubled:?}",
                2 * n
            );
            // Size ±1 and ÷2 may legitimately keep the same root computation (inclusion
            // proofs do not bind the size); the reference decides.
            for wrong in [n + 1, n - 1, n / 2] {
                let ours = verify_inclusion(&leaf, i, wrong, &proof, &root);
                let oracle = ref_verify_inclusion(&leaf, i, wrong, &proof, &root);
                assert_eq!(ours.is_ok(), oracle, "{label}: size {wrong} gave {ours:?}");
                if i >= wrong {
                    assert_eq!(
                        ours,
                        Err(ProofError::IndexOutOfRange {
                            index: i,
                            size: wrong
                        })
                    );
                }
                if ours.is_ok() {
                    // Only possible when the path has the same length and shape.
                    assert_eq!(ref_path_len(i, wrong), len);
                    wrong_size_accepted += 1;
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, MAX_SIZE * (MAX_SIZE + 1) / 2);
    // The non-binding of the size is real (leaf 0 of 5 verifies as leaf 0 of 6), so a
    // reference that never accepted would itself be suspect.
    assert!(wrong_size_accepted > 0);
}

#[test]
fn consistency_proofs_at_every_size() {
    let data = leaves(MAX_SIZE);
    let roots: Vec<Hash> = (0..=MAX_SIZE as usize)
        .map(|n| ref_mth(&data[..n]))
        .collect();
    let mut tree = MemoryTree::new();
    let mut checked = 0u64;
    for n in 1..=MAX_SIZE {
        tree.push_entry(&data[(n - 1) as usize]);
        let root2 = roots[n as usize];
        for m in 1..=n {
            let label = format!("consistency {m} -> {n}");
            let root1 = roots[m as usize];
            let want = ref_proof(m as usize, &data[..n as usize]);
            let proof = consistency_proof(&tree, m, n).unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_eq!(proof, want, "{label}: proof differs from PROOF");
            assert_eq!(consistency_proof_len(m, n), want.len(), "{label}: length");
            assert!(
                ref_verify_consistency(m, n, &proof, &root1, &root2),
                "{label}: oracle"
            );
            assert_eq!(
                verify_consistency(m, n, &proof, &root1, &root2),
                Ok(()),
                "{label}"
            );

            for (j, h) in proof.iter().enumerate() {
                for bit in bits_to_flip(n, m * 64 + j as u64) {
                    let mut bad = proof.clone();
                    bad[j] = flip_bit(h, bit);
                    assert!(
                        matches!(
                            verify_consistency(m, n, &bad, &root1, &root2),
                            Err(ProofError::RootMismatch { .. })
                        ),
                        "{label}: bit {bit} of proof[{j}] flipped was not a root mismatch"
                    );
                }
            }
            for bit in bits_to_flip(MAX_SIZE, m + n) {
                for (r1, r2) in [
                    (flip_bit(&root1, bit), root2),
                    (root1, flip_bit(&root2, bit)),
                ] {
                    let got = verify_consistency(m, n, &proof, &r1, &r2);
                    if m == n {
                        assert_eq!(
                            got,
                            Err(ProofError::EqualSizeDifferentRoots {
                                root1: r1,
                                root2: r2
                            }),
                            "{label}: root bit {bit}"
                        );
                    } else {
                        assert!(
                            matches!(got, Err(ProofError::RootMismatch { .. })),
                            "{label}: root bit {bit} gave {got:?}"
                        );
                    }
                }
            }

            let len = proof.len();
            for extra in extras(&root1, &root2, &proof) {
                for bad in [with_appended(&proof, extra), with_prepended(&proof, extra)] {
                    assert_eq!(
                        verify_consistency(m, n, &bad, &root1, &root2),
                        Err(ProofError::WrongLength {
                            got: len + 1,
                            expected: len
                        }),
                        "{label}: extra hash"
                    );
                }
            }
            if len > 0 {
                for bad in [&proof[1..], &proof[..len - 1]] {
                    assert_eq!(
                        verify_consistency(m, n, bad, &root1, &root2),
                        Err(ProofError::WrongLength {
                            got: len - 1,
                            expected: len
                        }),
                        "{label}: missing hash"
                    );
                }
            }

            // Swapped roots only pass when they are the same root.
            let swapped = verify_consistency(m, n, &proof, &root2, &root1);
            assert_eq!(swapped.is_ok(), m == n, "{label}: swapped roots");

            // A wrong first size must always fail (it changes what root1 is the root
            // of); a doubled second size changes every path length.
            for wrong in [m + 1, m - 1, m ^ 2] {
                let got = verify_consistency(wrong, n, &proof, &root1, &root2);
                assert!(got.is_err(), "{label}: size1 {wrong} accepted");
                assert!(!ref_verify_consistency(wrong, n, &proof, &root1, &root2));
                if wrong == 0 {
                    assert_eq!(got, Err(ProofError::ConsistencyFromEmpty));
                } else if wrong > n {
                    assert_eq!(
                        got,
                        Err(ProofError::SizesReversed {
                            size1: wrong,
                            size2: n
                        })
                    );
                }
            }
            let doubled = verify_consistency(m, 2 * n, &proof, &root1, &root2);
            assert!(doubled.is_err(), "{label}: size2 {} accepted", 2 * n);
            assert!(!ref_verify_consistency(m, 2 * n, &proof, &root1, &root2));
            // A second size ±1 or ÷2 may keep the same proof shape (4 -> 8 also proves
            // 4 -> 7); the reference decides.
            for wrong in [n + 1, n - 1, n / 2] {
                let ours = verify_consistency(m, wrong, &proof, &root1, &root2);
                let oracle = ref_verify_consistency(m, wrong, &proof, &root1, &root2);
                assert_eq!(ours.is_ok(), oracle, "{label}: size2 {wrong} gave {ours:?}");
                if m > wrong {
                    assert_eq!(
                        ours,
                        Err(ProofError::SizesReversed {
                            size1: m,
                            size2: wrong
                        })
                    );
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, MAX_SIZE * (MAX_SIZE + 1) / 2);
}

#[test]
fn consistency_from_size_zero_is_rejected() {
    let data = leaves(MAX_SIZE);
    let tree = tree_of(MAX_SIZE);
    let empty = Hash::empty_root();
    for n in 0..=MAX_SIZE {
        let root = ref_mth(&data[..n as usize]);
        assert_eq!(
            consistency_proof(&tree, 0, n),
            Err(ProofError::ConsistencyFromEmpty),
            "generation 0 -> {n}"
        );
        // Whatever the proof, and even when it is what a naive verifier would accept
        // for the empty tree, size 0 is refused.
        for proof in [vec![], vec![root], vec![empty], vec![empty, root]] {
            for (r1, r2) in [(empty, root), (root, root), (empty, empty)] {
                assert_eq!(
                    verify_consistency(0, n, &proof, &r1, &r2),
                    Err(ProofError::ConsistencyFromEmpty),
                    "verification 0 -> {n}"
                );
            }
        }
    }
}

#[test]
fn equal_sizes_need_an_empty_proof_and_equal_roots() {
    let data = leaves(MAX_SIZE);
    let tree = tree_of(MAX_SIZE);
    for n in 1..=MAX_SIZE {
        let root = ref_mth(&data[..n as usize]);
        let other = ref_mth(&data[..n as usize - 1]);
        assert_eq!(
            consistency_proof(&tree, n, n),
            Ok(vec![]),
            "proof {n} -> {n}"
        );
        assert_eq!(verify_consistency(n, n, &[], &root, &root), Ok(()));
        for proof in [vec![root], vec![other], vec![root, root]] {
            assert_eq!(
                verify_consistency(n, n, &proof, &root, &root),
                Err(ProofError::WrongLength {
                    got: proof.len(),
                    expected: 0
                }),
                "{n} -> {n} with a non-empty proof"
            );
        }
        assert_eq!(
            verify_consistency(n, n, &[], &root, &other),
            Err(ProofError::EqualSizeDifferentRoots {
                root1: root,
                root2: other
            })
        );
    }
}

#[test]
fn proofs_from_a_larger_tree_at_every_earlier_size() {
    let big = tree_of(MAX_SIZE);
    let mut small = MemoryTree::new();
    let mut frontier = Frontier::new();
    for s in 1..=MAX_SIZE {
        let leaf = leaf_hash(&leaf_data(s - 1));
        small.push_leaf_hash(leaf);
        frontier.push(leaf, |_, _, _| {});
        assert_eq!(small.size(), s);
        assert_eq!(big.root_at(s), Ok(small.root()), "root at {s}");
        assert_eq!(tree_hash(&big, s), Ok(small.root()));
        assert_eq!(Frontier::from_source(&big, s).as_ref(), Ok(&frontier));
        assert_eq!(Frontier::from_source(&small, s).as_ref(), Ok(&frontier));
        for i in 0..s {
            let exact = inclusion_proof(&small, i, s);
            assert!(exact.is_ok(), "inclusion {i} in {s}");
            assert_eq!(inclusion_proof(&big, i, s), exact, "inclusion {i} in {s}");
        }
        for m in 1..=s {
            let exact = consistency_proof(&small, m, s);
            assert!(exact.is_ok(), "consistency {m} -> {s}");
            assert_eq!(
                consistency_proof(&big, m, s),
                exact,
                "consistency {m} -> {s}"
            );
        }
    }
    // A size beyond the tree is refused, not answered with a wrong root.
    assert!(big.root_at(MAX_SIZE + 1).is_err());
    assert!(matches!(
        small.subtree_hash(0, MAX_SIZE),
        Err(ProofError::IndexOutOfRange { .. })
    ));
}

#[test]
fn memory_tree_from_leaf_hashes_matches_appending_entries() {
    let data = leaves(MAX_SIZE);
    for n in [0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 127, 128] {
        let from_hashes = MemoryTree::from_leaf_hashes(data[..n].iter().map(|d| ref_leaf(d)));
        assert_eq!(from_hashes.size(), n as u64);
        assert_eq!(from_hashes.root(), ref_mth(&data[..n]), "size {n}");
    }
}

#[test]
fn error_variants_are_the_specific_ones() {
    let data = leaves(10);
    let tree = tree_of(10);
    let root = ref_mth(&data);
    let leaf3 = ref_leaf(&data[3]);
    let proof = inclusion_proof(&tree, 3, 10).expect("index 3 is in a tree of 10");
    assert_eq!(proof.len(), 4);

    // Index out of range, in generation and verification.
    assert_eq!(
        inclusion_proof(&tree, 10, 10),
        Err(ProofError::IndexOutOfRange {
            index: 10,
            size: 10
        })
    );
    assert_eq!(
        verify_inclusion(&leaf3, 10, 10, &proof, &root),
        Err(ProofError::IndexOutOfRange {
            index: 10,
            size: 10
        })
    );
    assert_eq!(
        verify_inclusion(&leaf3, 0, 0, &[], &Hash::empty_root()),
        Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
    );

    // Wrong length is reported as such, with both counts, before any hashing.
    assert_eq!(
        verify_inclusion(&leaf3, 3, 10, &proof[..3], &root),
        Err(ProofError::WrongLength {
            got: 3,
            expected: 4
        })
    );

    // A right-length proof that leads elsewhere is a root mismatch carrying both roots.
    let wrong_leaf = ref_leaf(&data[4]);
    let got = verify_inclusion(&wrong_leaf, 3, 10, &proof, &root);
    match got {
        Err(ProofError::RootMismatch { computed, expected }) => {
            assert_eq!(expected, root);
            assert_ne!(computed, root);
        }
        other => panic!("expected a root mismatch, got {other:?}"),
    }

    // Consistency: reversed sizes, from empty, wrong length, root mismatch.
    assert_eq!(
        consistency_proof(&tree, 7, 5),
        Err(ProofError::SizesReversed { size1: 7, size2: 5 })
    );
    let root7 = ref_mth(&data[..7]);
    assert_eq!(
        verify_consistency(7, 5, &[], &root7, &root),
        Err(ProofError::SizesReversed { size1: 7, size2: 5 })
    );
    let cproof = consistency_proof(&tree, 7, 10).expect("7 -> 10");
    assert_eq!(cproof, ref_proof(7, &data));
    assert_eq!(
        verify_consistency(7, 10, &cproof[1..], &root7, &root),
        Err(ProofError::WrongLength {
            got: cproof.len() - 1,
            expected: cproof.len()
        })
    );
    let got = verify_consistency(7, 10, &cproof, &root7, &root7);
    match got {
        Err(ProofError::RootMismatch { computed, expected }) => {
            assert_eq!(expected, root7);
            assert_eq!(computed, root);
        }
        other => panic!("expected a root mismatch on root2, got {other:?}"),
    }
    // Generation beyond the tree fails instead of inventing hashes.
    assert!(inclusion_proof(&tree, 3, 11).is_err());
    assert!(consistency_proof(&tree, 3, 11).is_err());
}

/// Sizes far beyond any tree we can build: the length functions agree with the RFC
/// recursion, split points are right, and verifiers reject garbage without panicking.
#[test]
fn huge_sizes() {
    let mut sizes = vec![2u64, 3, 5, u64::MAX, u64::MAX - 1, 1 << 63, (1 << 63) + 1];
    for shift in [10u32, 31, 32, 33, 62] {
        sizes.extend([(1u64 << shift) - 1, 1u64 << shift, (1u64 << shift) + 1]);
    }
    for &n in &sizes {
        // The largest power of two strictly below n, found by doubling.
        let mut k = 1u64;
        while k < n - k {
            k *= 2;
        }
        assert_eq!(split_point(n), k, "split_point({n})");
        for index in [0, 1, n / 2, n - 2, n - 1] {
            assert_eq!(
                inclusion_proof_len(index, n),
                ref_path_len(index, n),
                "inclusion_proof_len({index}, {n})"
            );
        }
        for m in [1, 2, 3, n / 2, n / 2 + 1, n - 1] {
            if m == 0 || m >= n {
                continue;
            }
            assert_eq!(
                consistency_proof_len(m, n),
                ref_subproof_len(m, n, true),
                "consistency_proof_len({m}, {n})"
            );
        }
        let junk = vec![Hash([0x5a; 32]); 66];
        let leaf = Hash([1; 32]);
        let root = Hash([2; 32]);
        for index in [0, n - 1, n, u64::MAX] {
            for take in [0, 1, 63, 64, 65, 66] {
                let got = verify_inclusion(&leaf, index, n, &junk[..take], &root);
                assert!(got.is_err(), "junk inclusion {index}/{n} len {take}");
            }
        }
        for m in [0, 1, n / 2, n - 1, n, u64::MAX] {
            for take in [0, 1, 63, 64, 65, 66] {
                let got = verify_consistency(m, n, &junk[..take], &leaf, &root);
                assert!(got.is_err(), "junk consistency {m} -> {n} len {take}");
            }
        }
    }
    // A right-length junk proof is a root mismatch, not a length error.
    let n = u64::MAX;
    let len = ref_path_len(n - 1, n);
    let junk = vec![Hash([0x5a; 32]); len];
    assert!(matches!(
        verify_inclusion(&Hash([1; 32]), n - 1, n, &junk, &Hash([2; 32])),
        Err(ProofError::RootMismatch { .. })
    ));
}

/// Asking a `MemoryTree` for a subtree it does not hold is an error, whatever the level
/// and index; the store answers the same trait, so no request may panic.
#[test]
fn memory_tree_refuses_subtrees_it_does_not_hold() {
    let tree = tree_of(10);
    for level in 0..=u8::MAX {
        for index in [10u64 >> level.min(63), 1 << 20, u64::MAX / 2, u64::MAX] {
            let got = std::panic::catch_unwind(|| tree.subtree_hash(level, index));
            match got {
                Ok(result) => assert!(
                    matches!(result, Err(ProofError::IndexOutOfRange { .. })),
                    "subtree ({level}, {index}) of a 10-leaf tree gave {result:?}"
                ),
                Err(_) => panic!("subtree_hash({level}, {index}) panicked"),
            }
        }
    }
    // The subtrees it does hold are the RFC's.
    let data = leaves(10);
    assert_eq!(tree.subtree_hash(3, 0), Ok(ref_mth(&data[..8])));
    assert_eq!(tree.subtree_hash(1, 4), Ok(ref_mth(&data[8..10])));
    assert!(
        tree.subtree_hash(3, 1).is_err(),
        "leaves 8..16 are not complete"
    );
}
