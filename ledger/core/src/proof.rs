//! Inclusion and consistency proofs, RFC 9162 §2.1.3 and §2.1.4: generation over any
//! source of complete-subtree hashes, and verification.
//!
//! Generation is written once against [`SubtreeSource`], so the in-memory tree of the
//! tests and the RocksDB store of the ledger produce proofs with the same code, for any
//! earlier tree size.

use crate::hash::{node_hash, Hash};

/// Why a proof did not verify or could not be built. Every variant is a verification
/// failure or a bad request, never an I/O problem (sources report their own errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("consistency from tree size 0 is not defined (RFC 9162 §2.1.4)")]
    ConsistencyFromEmpty,
    #[error("first tree size {size1} is larger than second tree size {size2}")]
    SizesReversed { size1: u64, size2: u64 },
    #[error("proof has {got} hashes, expected {expected}")]
    WrongLength { got: usize, expected: usize },
    #[error("proof does not lead to the expected root: computed {computed}, expected {expected}")]
    RootMismatch { computed: Hash, expected: Hash },
    #[error("equal tree sizes but different roots: {root1} and {root2}")]
    EqualSizeDifferentRoots { root1: Hash, root2: Hash },
}

/// Complete subtree hashes, the only thing proof generation needs from storage.
pub trait SubtreeSource {
    type Error: From<ProofError>;

    /// The hash of the complete subtree of height `level` whose leaves are
    /// `index << level .. (index + 1) << level`. Callers only ask for subtrees that lie
    /// entirely inside the tree.
    fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// The largest power of two strictly smaller than `n` (n ≥ 2): the split point `k` of
/// RFC 9162 §2.1.1.
pub fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[lo:hi]) for a range that is a node of some RFC 6962 tree: `lo` is a multiple of
/// the smallest power of two not below `hi - lo`, as every range of the recursion is.
/// The range splits into complete subtrees, largest first, hashed right to left.
pub fn range_hash<S: SubtreeSource>(src: &S, lo: u64, hi: u64) -> Result<Hash, S::Error> {
    if lo == hi {
        return Ok(Hash::empty_root());
    }
    let mut parts: [(u8, u64); 64] = [(0, 0); 64];
    let mut count = 0;
    let mut start = lo;
    let mut rest = hi - lo;
    while rest > 0 {
        let level = 63 - rest.leading_zeros() as u8;
        parts[count] = (level, start >> level);
        count += 1;
        start += 1u64 << level;
        rest -= 1u64 << level;
    }
    let (level, index) = parts[count - 1];
    let mut acc = src.subtree_hash(level, index)?;
    for &(level, index) in parts[..count - 1].iter().rev() {
        acc = node_hash(&src.subtree_hash(level, index)?, &acc);
    }
    Ok(acc)
}

/// The root of the tree of `size` leaves.
pub fn tree_hash<S: SubtreeSource>(src: &S, size: u64) -> Result<Hash, S::Error> {
    range_hash(src, 0, size)
}

/// PATH(index, D[0:size]) of RFC 9162 §2.1.3.1: the audit path, leaf side first.
pub fn inclusion_proof<S: SubtreeSource>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, S::Error> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size }.into());
    }
    // Walk from the root down to the leaf, collecting the sibling of every step; the
    // RFC lists them leaf first, so the collected order is reversed at the end.
    let mut path = Vec::with_capacity(64);
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            path.push(range_hash(src, lo + k, hi)?);
            hi = lo + k;
        } else {
            path.push(range_hash(src, lo, lo + k)?);
            lo += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// PROOF(size1, D[0:size2]) of RFC 9162 §2.1.4.1. `size1` must be at least 1 and at most
/// `size2`; equal sizes give the empty proof.
pub fn consistency_proof<S: SubtreeSource>(
    src: &S,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, S::Error> {
    if size1 == 0 {
        return Err(ProofError::ConsistencyFromEmpty.into());
    }
    if size1 > size2 {
        return Err(ProofError::SizesReversed { size1, size2 }.into());
    }
    let mut path = Vec::with_capacity(64);
    if size1 == size2 {
        return Ok(path);
    }
    // SUBPROOF(m, D[lo:hi], b), unrolled: every step pushes one sibling; the final step
    // pushes MTH(D[lo:hi]) unless b still holds (the old tree is a left edge subtree).
    let (mut lo, mut hi, mut m, mut b) = (0u64, size2, size1, true);
    loop {
        let n = hi - lo;
        if m == n {
            if !b {
                path.push(range_hash(src, lo, hi)?);
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            path.push(range_hash(src, lo + k, hi)?);
            hi = lo + k;
        } else {
            path.push(range_hash(src, lo, lo + k)?);
            lo += k;
            m -= k;
            b = false;
        }
    }
    path.reverse();
    Ok(path)
}

/// Number of hashes in an inclusion proof for `index` in a tree of `size` leaves.
pub fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let (mut lo, mut hi, mut len) = (0u64, size, 0usize);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            hi = lo + k;
        } else {
            lo += k;
        }
        len += 1;
    }
    len
}

/// Recomputes the root from a leaf hash and its audit path, RFC 9162 §2.1.3.2.
pub fn root_from_inclusion_proof(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            expected,
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // The length check above makes this hold; it is kept as the RFC's own final check.
    if sn != 0 {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            expected,
        });
    }
    Ok(r)
}

/// Verifies that `leaf` is at `index` in the tree of `size` leaves with root `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion_proof(leaf, index, size, proof)?;
    if computed != *root {
        return Err(ProofError::RootMismatch {
            computed,
            expected: *root,
        });
    }
    Ok(())
}

/// Number of hashes in a consistency proof from `size1` to `size2` (0 < size1 ≤ size2).
pub fn consistency_proof_len(size1: u64, size2: u64) -> usize {
    if size1 == 0 || size1 >= size2 {
        return 0;
    }
    let (mut lo, mut hi, mut m, mut b, mut len) = (0u64, size2, size1, true, 0usize);
    loop {
        let n = hi - lo;
        if m == n {
            if !b {
                len += 1;
            }
            return len;
        }
        let k = split_point(n);
        if m <= k {
            hi = lo + k;
        } else {
            lo += k;
            m -= k;
            b = false;
        }
        len += 1;
    }
}

/// Verifies that the tree (`size1`, `root1`) is a prefix of (`size2`, `root2`),
/// RFC 9162 §2.1.4.2. Consistency from size 0 is rejected; equal sizes need an empty
/// proof and equal roots.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ProofError> {
    if size1 == 0 {
        return Err(ProofError::ConsistencyFromEmpty);
    }
    if size1 > size2 {
        return Err(ProofError::SizesReversed { size1, size2 });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                expected: 0,
            });
        }
        if root1 != root2 {
            return Err(ProofError::EqualSizeDifferentRoots {
                root1: *root1,
                root2: *root2,
            });
        }
        return Ok(());
    }
    let expected = consistency_proof_len(size1, size2);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            expected,
        });
    }
    // Step 1: when size1 is a power of two the old root is itself the first node.
    let (seed, rest) = if size1.is_power_of_two() {
        (*root1, proof)
    } else {
        (proof[0], &proof[1..])
    };
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in rest {
        if sn == 0 {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                expected,
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if fr != *root1 {
        return Err(ProofError::RootMismatch {
            computed: fr,
            expected: *root1,
        });
    }
    if sr != *root2 {
        return Err(ProofError::RootMismatch {
            computed: sr,
            expected: *root2,
        });
    }
    if sn != 0 {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            expected,
        });
    }
    Ok(())
}
