//! One compact proof that a set of leaves is in a tree: the `proof.bin` of an evidence
//! package (docs/EVIDENCE_PACKAGE.md §5).
//!
//! Per-record audit paths would cost about 20 hashes per record (640 MB for a million
//! records) and as many hash computations to check. Instead the package carries, for the
//! set S of its leaf indexes in the tree of size N, the hashes of the maximal subtrees of
//! the RFC 9162 §2.1.1 recursion that contain no leaf of S, in left-to-right order:
//!
//! ```text
//! PROOF(lo, hi):                       the range [lo, hi) of the RFC 9162 recursion
//!   if S has no index in [lo, hi):     emit MTH(D[lo:hi])
//!   else if hi - lo = 1:               emit nothing (the leaf is in the package)
//!   else: k = largest power of two < hi - lo
//!         PROOF(lo, lo + k), then PROOF(lo + k, hi)
//! proof = PROOF(0, N)
//! ```
//!
//! Verification runs the same recursion, hashing the package's leaves and taking one
//! proof hash wherever the recursion emits one, and compares the result with the
//! checkpoint root. The proof must be consumed exactly: missing or surplus hashes are
//! refused. When S holds every leaf the proof is empty; for a single leaf it holds the
//! hashes of that leaf's RFC 9162 audit path, ordered by position in the tree (left to
//! right) rather than leaf to root.

use ledger_core::hash::{node_hash, Hash};
use ledger_core::proof::{range_hash, split_point, ProofError, SubtreeSource};

use crate::error::VerifyError;

/// Magic of `proof.bin`.
pub const PROOF_MAGIC: [u8; 8] = *b"ELPKPRF1";

/// Why a multiproof did not verify. Every variant is a verification failure except
/// [`MultiproofError::BadLeaves`], a caller error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultiproofError {
    #[error("leaf indexes are not strictly increasing and below the tree size {size}")]
    BadLeaves { size: u64 },
    #[error("the proof has too few hashes for the package's leaves (ran out after {used})")]
    TooFewHashes { used: usize },
    #[error("the proof has {surplus} hashes more than the package's leaves need")]
    SurplusHashes { surplus: usize },
    #[error("the proof is for tree size {proof_size}, the checkpoint's size is {size}")]
    WrongSize { proof_size: u64, size: u64 },
    #[error("the package's leaves and proof lead to root {computed}, the checkpoint's root is {expected}")]
    RootMismatch { computed: Hash, expected: Hash },
}

fn check_leaves(size: u64, indexes: impl Iterator<Item = u64>) -> bool {
    let mut previous: Option<u64> = None;
    for i in indexes {
        if i >= size || previous.is_some_and(|p| i <= p) {
            return false;
        }
        previous = Some(i);
    }
    true
}

/// Builds the multiproof for the sorted leaf indexes `indexes` in the tree of `size`
/// leaves, reading subtree hashes from `src` (the exporter's store or a memory tree).
pub fn prove<S: SubtreeSource>(src: &S, size: u64, indexes: &[u64]) -> Result<Vec<Hash>, S::Error> {
    if !check_leaves(size, indexes.iter().copied()) {
        return Err(ProofError::IndexOutOfRange {
            index: indexes.last().copied().unwrap_or(0),
            size,
        }
        .into());
    }
    let mut out = Vec::new();
    if size > 0 {
        prove_range(src, 0, size, indexes, &mut out)?;
    }
    Ok(out)
}

fn prove_range<S: SubtreeSource>(
    src: &S,
    lo: u64,
    hi: u64,
    indexes: &[u64],
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    if indexes.is_empty() {
        out.push(range_hash(src, lo, hi)?);
        return Ok(());
    }
    if hi - lo == 1 {
        return Ok(());
    }
    let mid = lo + split_point(hi - lo);
    let cut = indexes.partition_point(|&i| i < mid);
    let (left, right) = indexes.split_at(cut);
    prove_range(src, lo, mid, left, out)?;
    prove_range(src, mid, hi, right, out)
}

/// The root of the tree of `size` leaves computed from the package's leaves
/// (`(index, leaf hash)`, strictly increasing indexes) and the proof. For size 0 the
/// leaves and the proof must both be empty and the result is the empty-tree root.
pub fn root_from_multiproof(
    size: u64,
    leaves: &[(u64, Hash)],
    proof: &[Hash],
) -> Result<Hash, MultiproofError> {
    if !check_leaves(size, leaves.iter().map(|l| l.0)) {
        return Err(MultiproofError::BadLeaves { size });
    }
    if size == 0 {
        if !proof.is_empty() {
            return Err(MultiproofError::SurplusHashes {
                surplus: proof.len(),
            });
        }
        return Ok(Hash::empty_root());
    }
    let mut used = 0usize;
    let root = root_range(0, size, leaves, proof, &mut used)?;
    if used != proof.len() {
        return Err(MultiproofError::SurplusHashes {
            surplus: proof.len() - used,
        });
    }
    Ok(root)
}

fn root_range(
    lo: u64,
    hi: u64,
    leaves: &[(u64, Hash)],
    proof: &[Hash],
    used: &mut usize,
) -> Result<Hash, MultiproofError> {
    match leaves {
        [] => {
            let h = proof
                .get(*used)
                .ok_or(MultiproofError::TooFewHashes { used: *used })?;
            *used += 1;
            Ok(*h)
        }
        // Indexes are strictly increasing and inside [lo, hi), so a one-leaf range holds
        // exactly this leaf.
        [(_, leaf)] if hi - lo == 1 => Ok(*leaf),
        _ => {
            let mid = lo + split_point(hi - lo);
            let cut = leaves.partition_point(|l| l.0 < mid);
            let (left, right) = leaves.split_at(cut);
            let l = root_range(lo, mid, left, proof, used)?;
            let r = root_range(mid, hi, right, proof, used)?;
            Ok(node_hash(&l, &r))
        }
    }
}

/// Verifies that the leaves are at their indexes in the tree of `size` leaves with root
/// `root`.
pub fn verify_multiproof(
    size: u64,
    leaves: &[(u64, Hash)],
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MultiproofError> {
    let computed = root_from_multiproof(size, leaves, proof)?;
    if computed != *root {
        return Err(MultiproofError::RootMismatch {
            computed,
            expected: *root,
        });
    }
    Ok(())
}

/// `proof.bin`: magic, tree size (u64 BE), hash count (u64 BE), the hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofFile {
    pub tree_size: u64,
    pub hashes: Vec<Hash>,
}

impl ProofFile {
    pub fn parse(bytes: &[u8]) -> Result<ProofFile, VerifyError> {
        let bad = |reason: String| VerifyError::malformed("proof.bin", reason);
        if bytes.get(..8) != Some(&PROOF_MAGIC[..]) {
            return Err(bad("does not start with the magic \"ELPKPRF1\"".into()));
        }
        let field = |at: usize| {
            bytes
                .get(at..at + 8)
                .and_then(|s| <[u8; 8]>::try_from(s).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| bad("truncated header".into()))
        };
        let tree_size = field(8)?;
        let count = field(16)?;
        let body = bytes.get(24..).unwrap_or_default();
        // The count is checked against the actual length before anything is sized by it.
        if body.len() % 32 != 0 || body.len() as u64 / 32 != count {
            return Err(bad(format!(
                "declares {count} hashes but holds {} bytes of hashes",
                body.len()
            )));
        }
        let hashes = body.chunks_exact(32).filter_map(Hash::from_slice).collect();
        Ok(ProofFile { tree_size, hashes })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + 32 * self.hashes.len());
        out.extend_from_slice(&PROOF_MAGIC);
        out.extend_from_slice(&self.tree_size.to_be_bytes());
        out.extend_from_slice(&(self.hashes.len() as u64).to_be_bytes());
        for h in &self.hashes {
            out.extend_from_slice(h.as_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_core::hash::leaf_hash;
    use ledger_core::proof::inclusion_proof;
    use ledger_core::tree::MemoryTree;

    fn tree(n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push_entry(&i.to_be_bytes());
        }
        t
    }

    fn leaves_of(t: &MemoryTree, idx: &[u64]) -> Vec<(u64, Hash)> {
        idx.iter().map(|&i| (i, t.leaf(i).unwrap())).collect()
    }

    /// Every subset of the leaves of every tree up to 11 leaves: the proof leads to the
    /// memory tree's root (the oracle), and any flipped bit, missing, extra or moved
    /// hash, or changed leaf makes it fail.
    #[test]
    fn exhaustive_small_trees() {
        for n in 0..=11u64 {
            let t = tree(n);
            let root = t.root();
            for mask in 0u32..(1 << n) {
                let idx: Vec<u64> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
                let leaves = leaves_of(&t, &idx);
                let proof = prove(&t, n, &idx).unwrap();
                verify_multiproof(n, &leaves, &proof, &root).unwrap();
                for (p, h) in proof.iter().enumerate() {
                    for bit in [0usize, 77, 255] {
                        let mut bad = proof.clone();
                        let mut b = h.0;
                        b[bit / 8] ^= 1 << (bit % 8);
                        bad[p] = Hash(b);
                        assert!(verify_multiproof(n, &leaves, &bad, &root).is_err());
                    }
                    let mut short = proof.clone();
                    short.remove(p);
                    assert!(verify_multiproof(n, &leaves, &short, &root).is_err());
                }
                let mut long = proof.clone();
                long.push(root);
                assert!(verify_multiproof(n, &leaves, &long, &root).is_err());
                for k in 0..leaves.len() {
                    let mut bad = leaves.clone();
                    bad[k].1 = leaf_hash(b"other");
                    assert!(verify_multiproof(n, &bad, &proof, &root).is_err());
                }
            }
        }
    }

    /// A single leaf's multiproof holds the hashes of its RFC 9162 audit path.
    #[test]
    fn single_leaf_holds_the_audit_path() {
        for n in 1..=40u64 {
            let t = tree(n);
            for i in 0..n {
                let mut path = inclusion_proof(&t, i, n).unwrap();
                let mut proof = prove(&t, n, &[i]).unwrap();
                path.sort();
                proof.sort();
                assert_eq!(proof, path, "n={n} i={i}");
            }
        }
    }

    #[test]
    fn refuses_unsorted_or_out_of_range_leaves() {
        let t = tree(8);
        let l = leaves_of(&t, &[1, 2]);
        let swapped = vec![l[1], l[0]];
        assert!(matches!(
            root_from_multiproof(8, &swapped, &[]),
            Err(MultiproofError::BadLeaves { .. })
        ));
        assert!(root_from_multiproof(2, &leaves_of(&t, &[2]), &[]).is_err());
        assert!(prove(&t, 8, &[3, 3]).is_err());
        assert!(prove(&t, 8, &[8]).is_err());
        assert_eq!(root_from_multiproof(0, &[], &[]), Ok(Hash::empty_root()));
        assert!(root_from_multiproof(0, &[], &[Hash::empty_root()]).is_err());
    }

    #[test]
    fn proof_file_round_trip_and_truncations() {
        let f = ProofFile {
            tree_size: 9,
            hashes: vec![Hash([1; 32]), Hash([2; 32])],
        };
        let bytes = f.encode();
        assert_eq!(ProofFile::parse(&bytes).unwrap(), f);
        for cut in 0..bytes.len() {
            assert!(ProofFile::parse(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut lying = bytes.clone();
        lying[23] = 3;
        assert!(ProofFile::parse(&lying).is_err());
    }
}
