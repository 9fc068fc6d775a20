//! Helpers shared by the Merkle test binaries: locating the shared vectors, decoding
//! hashes, and a naive reference implementation of RFC 9162 §2.1 used as an
//! independent oracle.
//!
//! The reference is written straight from the RFC's recursive definitions on slices of
//! leaf data (§2.1.1 MTH, §2.1.3.1 PATH, §2.1.4.1 PROOF/SUBPROOF) and hashes with `sha2`
//! directly, so it shares no code with `ledger_core::hash`, `proof` or `tree`. Its
//! verifiers are recursive re-derivations of the tree shape, not the bit-twiddling
//! algorithms of §2.1.3.2 and §2.1.4.2 that the crate implements.

// Each test binary compiles this module separately and uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use ledger_core::hash::Hash;
use sha2::{Digest, Sha256};

/// The `shared/vectors` directory that sits beside the workspace root. It is found by
/// walking up from this crate's manifest directory, so a clone anywhere works as long
/// as `shared/` is its sibling.
pub fn vectors_dir() -> PathBuf {
    let manifest = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    );
    for dir in manifest.ancestors() {
        let candidate = dir.join("shared").join("vectors");
        if candidate.is_dir() {
            return candidate;
        }
    }
    panic!(
        "no shared/vectors directory found above {}",
        manifest.display()
    );
}

/// Decodes a 64-character hex string into a hash; the vectors are trusted test data,
/// so a malformed one is a broken test and panics.
pub fn hex_hash(s: &str) -> Hash {
    let bytes = hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"));
    Hash::from_slice(&bytes).unwrap_or_else(|| panic!("hex {s:?} is not 32 bytes"))
}

/// The deterministic leaf data of the exhaustive tests.
pub fn leaf_data(i: u64) -> Vec<u8> {
    format!("leaf {i}").into_bytes()
}

/// The first `n` leaves of the exhaustive tests.
pub fn leaves(n: u64) -> Vec<Vec<u8>> {
    (0..n).map(leaf_data).collect()
}

// ---------------------------------------------------------------------------------------
// Reference implementation, RFC 9162 §2.1.
// ---------------------------------------------------------------------------------------

/// SHA-256(0x00 || d), RFC 9162 §2.1.1.
pub fn ref_leaf(d: &[u8]) -> Hash {
    let mut input = vec![0x00u8];
    input.extend_from_slice(d);
    Hash(Sha256::digest(&input).into())
}

/// SHA-256(0x01 || left || right), RFC 9162 §2.1.1.
pub fn ref_node(left: &Hash, right: &Hash) -> Hash {
    let mut input = vec![0x01u8];
    input.extend_from_slice(&left.0);
    input.extend_from_slice(&right.0);
    Hash(Sha256::digest(&input).into())
}

/// "The largest power of two smaller than n", found by counting up, for n > 1.
pub fn ref_split(n: usize) -> usize {
    assert!(n > 1, "split of {n}");
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]), RFC 9162 §2.1.1: the empty string's hash, the leaf hash, or the node
/// hash of the two halves split at the largest power of two below n.
pub fn ref_mth(d: &[Vec<u8>]) -> Hash {
    match d.len() {
        0 => Hash(Sha256::digest(b"").into()),
        1 => ref_leaf(&d[0]),
        n => {
            let k = ref_split(n);
            ref_node(&ref_mth(&d[..k]), &ref_mth(&d[k..]))
        }
    }
}

/// PATH(m, D[n]), RFC 9162 §2.1.3.1, for m < n.
pub fn ref_path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    let n = d.len();
    assert!(m < n, "PATH({m}, D[{n}])");
    if n == 1 {
        return Vec::new();
    }
    let k = ref_split(n);
    if m < k {
        let mut p = ref_path(m, &d[..k]);
        p.push(ref_mth(&d[k..]));
        p
    } else {
        let mut p = ref_path(m - k, &d[k..]);
        p.push(ref_mth(&d[..k]));
        p
    }
}

/// PROOF(m, D[n]) = SUBPROOF(m, D[n], true), RFC 9162 §2.1.4.1, for 0 < m <= n.
pub fn ref_proof(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    assert!(0 < m && m <= d.len(), "PROOF({m}, D[{}])", d.len());
    ref_subproof(m, d, true)
}

/// SUBPROOF(m, D[n], b), RFC 9162 §2.1.4.1.
pub fn ref_subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![ref_mth(d)] };
    }
    let k = ref_split(n);
    if m <= k {
        let mut p = ref_subproof(m, &d[..k], b);
        p.push(ref_mth(&d[k..]));
        p
    } else {
        let mut p = ref_subproof(m - k, &d[k..], false);
        p.push(ref_mth(&d[..k]));
        p
    }
}

/// Split point for u64 sizes, by counting up (n > 1).
fn ref_split_u64(n: u64) -> u64 {
    let mut k = 1u64;
    while k < n - k {
        k *= 2;
    }
    k
}

/// Recomputes MTH(D[n]) from a leaf hash at `index` and a PATH, by following the
/// recursive definition of PATH backwards: the last proof element is the top-level
/// sibling. Returns `None` when the proof has the wrong number of elements.
pub fn ref_root_from_path(leaf: &Hash, index: u64, size: u64, proof: &[Hash]) -> Option<Hash> {
    if index >= size {
        return None;
    }
    if size == 1 {
        return proof.is_empty().then_some(*leaf);
    }
    let (sibling, rest) = proof.split_last()?;
    let k = ref_split_u64(size);
    if index < k {
        Some(ref_node(
            &ref_root_from_path(leaf, index, k, rest)?,
            sibling,
        ))
    } else {
        Some(ref_node(
            sibling,
            &ref_root_from_path(leaf, index - k, size - k, rest)?,
        ))
    }
}

/// Reference inclusion verifier: true when the path leads from `leaf` to `root`.
pub fn ref_verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    ref_root_from_path(leaf, index, size, proof).as_ref() == Some(root)
}

/// Undoes SUBPROOF(m, D[n], b): returns (hash of the first m leaves of this subtree,
/// hash of the whole subtree), or `None` when the proof has the wrong shape. `old_root`
/// stands for the old tree's root, which is what a `b = true` subtree of size m is.
fn ref_undo_subproof(
    m: u64,
    n: u64,
    b: bool,
    proof: &[Hash],
    old_root: &Hash,
) -> Option<(Hash, Hash)> {
    if m == n {
        return if b {
            proof.is_empty().then_some((*old_root, *old_root))
        } else {
            match proof {
                [h] => Some((*h, *h)),
                _ => None,
            }
        };
    }
    let (sibling, rest) = proof.split_last()?;
    let k = ref_split_u64(n);
    if m <= k {
        let (old, new_left) = ref_undo_subproof(m, k, b, rest, old_root)?;
        Some((old, ref_node(&new_left, sibling)))
    } else {
        let (old_right, new_right) = ref_undo_subproof(m - k, n - k, false, rest, old_root)?;
        Some((ref_node(sibling, &old_right), ref_node(sibling, &new_right)))
    }
}

/// Reference consistency verifier: size 0 is rejected (RFC 9162 §2.1.4 defines proofs
/// only for 0 < m <= n), equal sizes need an empty proof and equal roots, otherwise the
/// SUBPROOF recursion is undone and both roots must come out.
pub fn ref_verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> bool {
    if size1 == 0 || size1 > size2 {
        return false;
    }
    if size1 == size2 {
        return proof.is_empty() && root1 == root2;
    }
    match ref_undo_subproof(size1, size2, true, proof, root1) {
        Some((old, new)) => old == *root1 && new == *root2,
        None => false,
    }
}

/// Number of elements of PATH(index, D[size]) by the recursion, for any u64 size.
pub fn ref_path_len(index: u64, size: u64) -> usize {
    if size <= 1 {
        return 0;
    }
    let k = ref_split_u64(size);
    if index < k {
        1 + ref_path_len(index, k)
    } else {
        1 + ref_path_len(index - k, size - k)
    }
}

/// Number of elements of SUBPROOF(m, D[n], b) by the recursion, for any u64 sizes.
pub fn ref_subproof_len(m: u64, n: u64, b: bool) -> usize {
    if m == n {
        return usize::from(!b);
    }
    let k = ref_split_u64(n);
    if m <= k {
        1 + ref_subproof_len(m, k, b)
    } else {
        1 + ref_subproof_len(m - k, n - k, false)
    }
}

/// Flips one bit (0 = most significant bit of the first byte) of a hash.
pub fn flip_bit(h: &Hash, bit: usize) -> Hash {
    let mut out = *h;
    out.0[bit / 8] ^= 0x80 >> (bit % 8);
    out
}
