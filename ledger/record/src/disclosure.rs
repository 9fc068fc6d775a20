//! The items root of a committed evidence bundle and selective disclosure of its items.
//!
//! The root is the RFC 6962 / RFC 9162 §2.1.1 Merkle Tree Hash of the canonical CBOR
//! encodings of the items, in bundle order: leaf = SHA-256(0x00 || item), node =
//! SHA-256(0x01 || left || right). Trees and multiproofs are built with `rs_merkle` and an
//! RFC 6962 hasher ([`Rfc6962Hasher`]).
//!
//! Why `rs_merkle` gives RFC 6962 roots: it builds the tree bottom-up, pairing nodes left
//! to right on each level and carrying an unpaired last node up unchanged (its
//! `concat_and_hash(left, None)` returns `left`; it never duplicates a node as Bitcoin
//! does). For n leaves that is exactly the RFC 6962 tree, whose left subtree at every
//! split is the largest complete subtree of 2^k < n leaves: bottom-up pairing keeps the
//! aligned power-of-two blocks together and only ever promotes the ragged right edge. The
//! tests check this against the shared RFC 6962 vectors and a naive recursive reference
//! for every size up to 70, and check every multiproof of every subset for small sizes.
//!
//! `rs_merkle`'s own verifier ignores surplus proof hashes and accepts unsorted or
//! repeated indices; this module checks all of that first (indices strictly increasing
//! and in range, exactly the number of proof hashes the tree shape needs), so a
//! disclosure has one valid form.

use ledger_core::hash::{leaf_hash, node_hash, Hash};
use rs_merkle::{MerkleProof, MerkleTree};

use crate::cbor::{self, Value};
use crate::error::RecordError;
use crate::evidence::{EvidenceItem, MAX_ITEMS};

/// Schema version of the disclosure encoding.
pub const DISCLOSURE_SCHEMA_VERSION: u64 = 1;
/// Largest encoded disclosure this crate decodes. A disclosure is not a log entry, so the
/// 65,535-byte entry limit does not apply; this bound keeps the decoder's memory (a few
/// tens of bytes per CBOR item, so at most some 150 MiB for hostile input) in check while
/// leaving room for thousands of disclosed items.
pub const MAX_DISCLOSURE_LEN: usize = 4 << 20;

const KEY_VERSION: u64 = 0;
const KEY_ITEM_COUNT: u64 = 1;
const KEY_INDICES: u64 = 2;
const KEY_ITEMS: u64 = 3;
const KEY_PROOF: u64 = 4;

/// The RFC 6962 hasher for `rs_merkle`: `hash` is the leaf hash and `concat_and_hash`
/// the interior node hash; a node without a right sibling is carried up unchanged.
#[derive(Clone, Debug)]
pub struct Rfc6962Hasher;

impl rs_merkle::Hasher for Rfc6962Hasher {
    type Hash = [u8; 32];

    /// SHA-256(0x00 || data), RFC 9162 §2.1.1.
    fn hash(data: &[u8]) -> [u8; 32] {
        leaf_hash(data).0
    }

    /// SHA-256(0x01 || left || right), RFC 9162 §2.1.1; a lone node is promoted.
    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(right) => node_hash(&Hash(*left), &Hash(*right)).0,
            None => *left,
        }
    }
}

fn leaf_hashes(items: &[EvidenceItem]) -> Vec<[u8; 32]> {
    items
        .iter()
        .map(|item| <Rfc6962Hasher as rs_merkle::Hasher>::hash(&item.encode()))
        .collect()
}

/// The items root of a bundle, or `None` for an empty one (bundles hold at least one
/// item, so the RFC's empty-tree root never occurs).
pub fn items_root(items: &[EvidenceItem]) -> Option<Hash> {
    MerkleTree::<Rfc6962Hasher>::from_leaves(&leaf_hashes(items))
        .root()
        .map(Hash)
}

/// How many proof hashes a multiproof for `indices` (strictly increasing, all below
/// `count`) needs: on every level, one per known node whose sibling exists and is not
/// itself known. Written independently of `rs_merkle` so that surplus or missing hashes
/// are refused before its verifier runs.
fn multiproof_len(count: u64, indices: &[u64]) -> usize {
    let mut known: Vec<u64> = indices.to_vec();
    let mut width = count;
    let mut needed = 0usize;
    while width > 1 {
        for (i, &node) in known.iter().enumerate() {
            let sibling = node ^ 1;
            let sibling_known = if node & 1 == 0 {
                known.get(i + 1) == Some(&sibling)
            } else {
                i > 0 && known.get(i - 1) == Some(&sibling)
            };
            if sibling < width && !sibling_known {
                needed += 1;
            }
        }
        known = known.iter().map(|n| n >> 1).collect();
        known.dedup();
        width = width.div_ceil(2);
    }
    needed
}

/// Some items of a committed bundle with the multiproof that ties them to its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclosure {
    /// Number of items in the whole bundle (the tree size).
    pub item_count: u64,
    /// Positions of the disclosed items, strictly increasing.
    pub indices: Vec<u64>,
    /// The disclosed items, in the order of `indices`.
    pub items: Vec<EvidenceItem>,
    /// The `rs_merkle` multiproof: the sibling hashes needed, level by level from the
    /// leaves up, left to right within a level.
    pub proof: Vec<Hash>,
}

/// Builds a disclosure of the items at `indices` (any order, no repeats) of a bundle.
pub fn disclose(items: &[EvidenceItem], indices: &[usize]) -> Result<Disclosure, RecordError> {
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(RecordError::InvalidValue {
            field: "disclosure.item_count",
            reason: format!("{} items; a bundle holds 1 to {MAX_ITEMS}", items.len()),
        });
    }
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    check_indices(
        &sorted.iter().map(|&i| i as u64).collect::<Vec<_>>(),
        items.len() as u64,
    )?;
    let tree = MerkleTree::<Rfc6962Hasher>::from_leaves(&leaf_hashes(items));
    let proof = tree
        .proof(&sorted)
        .proof_hashes()
        .iter()
        .map(|h| Hash(*h))
        .collect();
    let mut disclosed = Vec::with_capacity(sorted.len());
    for &i in &sorted {
        // `check_indices` has bounded every index by the number of items.
        if let Some(item) = items.get(i) {
            disclosed.push(item.clone());
        }
    }
    Ok(Disclosure {
        item_count: items.len() as u64,
        indices: sorted.iter().map(|&i| i as u64).collect(),
        items: disclosed,
        proof,
    })
}

fn check_indices(indices: &[u64], count: u64) -> Result<(), RecordError> {
    if indices.is_empty() {
        return Err(RecordError::InvalidValue {
            field: "disclosure.indices",
            reason: "no item disclosed".into(),
        });
    }
    for pair in indices.windows(2) {
        if pair[0] >= pair[1] {
            return Err(RecordError::InvalidValue {
                field: "disclosure.indices",
                reason: format!("index {} repeated or out of order", pair[1]),
            });
        }
    }
    if let Some(&last) = indices.last() {
        if last >= count {
            return Err(RecordError::InvalidValue {
                field: "disclosure.indices",
                reason: format!("index {last} is not below the item count {count}"),
            });
        }
    }
    Ok(())
}

impl Disclosure {
    /// Verifies the disclosed items against a bundle's items root and item count.
    ///
    /// The count is checked explicitly because a Merkle proof alone does not bind the
    /// tree size.
    pub fn verify(&self, items_root: &Hash, item_count: u64) -> Result<(), RecordError> {
        if self.item_count != item_count {
            return Err(RecordError::DisclosureCountMismatch {
                disclosed: self.item_count,
                committed: item_count,
            });
        }
        let computed = self.root()?;
        if computed != *items_root {
            return Err(RecordError::DisclosureRootMismatch {
                computed,
                expected: *items_root,
            });
        }
        Ok(())
    }

    /// Checks the disclosure's shape and computes the root its items and proof lead to.
    pub fn root(&self) -> Result<Hash, RecordError> {
        if self.item_count == 0 || self.item_count > MAX_ITEMS as u64 {
            return Err(RecordError::InvalidValue {
                field: "disclosure.item_count",
                reason: format!("{} items; a bundle holds 1 to {MAX_ITEMS}", self.item_count),
            });
        }
        check_indices(&self.indices, self.item_count)?;
        if self.items.len() != self.indices.len() {
            return Err(RecordError::InvalidValue {
                field: "disclosure.items",
                reason: format!(
                    "{} items for {} indices",
                    self.items.len(),
                    self.indices.len()
                ),
            });
        }
        for item in &self.items {
            item.validate()?;
        }
        let expected = multiproof_len(self.item_count, &self.indices);
        if self.proof.len() != expected {
            return Err(RecordError::InvalidValue {
                field: "disclosure.proof",
                reason: format!(
                    "{} proof hashes, the tree shape needs exactly {expected}",
                    self.proof.len()
                ),
            });
        }
        // All values are below MAX_ITEMS here, so they fit in usize.
        let indices: Vec<usize> = self.indices.iter().map(|&i| i as usize).collect();
        let proof = MerkleProof::<Rfc6962Hasher>::new(self.proof.iter().map(|h| h.0).collect());
        let root = proof
            .root(
                &indices,
                &leaf_hashes(&self.items),
                self.item_count as usize,
            )
            .map_err(|e| RecordError::InvalidValue {
                field: "disclosure.proof",
                reason: format!("cannot compute a root: {e}"),
            })?;
        Ok(Hash(root))
    }

    fn to_value(&self) -> Value {
        Value::map([
            (KEY_VERSION, Some(Value::Uint(DISCLOSURE_SCHEMA_VERSION))),
            (KEY_ITEM_COUNT, Some(Value::Uint(self.item_count))),
            (
                KEY_INDICES,
                Some(Value::Array(
                    self.indices.iter().map(|&i| Value::Uint(i)).collect(),
                )),
            ),
            (
                KEY_ITEMS,
                Some(Value::Array(
                    self.items.iter().map(EvidenceItem::to_value).collect(),
                )),
            ),
            (
                KEY_PROOF,
                Some(Value::Array(
                    self.proof
                        .iter()
                        .map(|h| Value::bytes(h.as_bytes()))
                        .collect(),
                )),
            ),
        ])
    }

    /// The canonical CBOR encoding (docs/RECORDS.md §"Disclosure").
    pub fn encode(&self) -> Vec<u8> {
        cbor::encode(&self.to_value())
    }

    /// Decodes a disclosure, refusing non-canonical encodings. Decoding checks the
    /// encoding only; [`Disclosure::verify`] checks the content.
    pub fn decode(bytes: &[u8]) -> Result<Disclosure, RecordError> {
        if bytes.len() > MAX_DISCLOSURE_LEN {
            return Err(RecordError::TooLarge {
                len: bytes.len(),
                max: MAX_DISCLOSURE_LEN,
            });
        }
        let mut f = cbor::decode(bytes)?.into_map("disclosure")?;
        let version = f.required(KEY_VERSION)?.into_uint("disclosure.version")?;
        if version != DISCLOSURE_SCHEMA_VERSION {
            return Err(RecordError::UnsupportedBodyVersion {
                body: "disclosure",
                version,
            });
        }
        let item_count = f
            .required(KEY_ITEM_COUNT)?
            .into_uint("disclosure.item_count")?;
        let indices = f
            .required(KEY_INDICES)?
            .into_array("disclosure.indices")?
            .into_iter()
            .map(|v| v.into_uint("disclosure.indices"))
            .collect::<Result<Vec<_>, _>>()?;
        let items = f
            .required(KEY_ITEMS)?
            .into_array("disclosure.items")?
            .into_iter()
            .map(EvidenceItem::from_value)
            .collect::<Result<Vec<_>, _>>()?;
        let proof = f
            .required(KEY_PROOF)?
            .into_array("disclosure.proof")?
            .into_iter()
            .map(|v| {
                v.into_byte_array("disclosure.proof", "a 32-byte hash")
                    .map(Hash)
            })
            .collect::<Result<Vec<_>, _>>()?;
        f.finish()?;
        let disclosure = Disclosure {
            item_count,
            indices,
            items,
            proof,
        };
        if disclosure.encode() != bytes {
            return Err(RecordError::NonCanonical {
                offset: 0,
                reason: "re-encoding the decoded disclosure gives different bytes",
            });
        }
        Ok(disclosure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute-force count: every node of the full tree that is the sibling of an ancestor
    /// of a disclosed leaf but not itself an ancestor of one.
    fn naive_len(count: u64, indices: &[u64]) -> usize {
        fn walk(lo: u64, hi: u64, indices: &[u64]) -> usize {
            // Returns the number of proof hashes needed inside [lo, hi) given that this
            // subtree contains at least one disclosed leaf.
            if hi - lo == 1 {
                return 0;
            }
            let k = ledger_core::proof::split_point(hi - lo);
            let left = indices.iter().any(|&i| i >= lo && i < lo + k);
            let right = indices.iter().any(|&i| i >= lo + k && i < hi);
            match (left, right) {
                (true, true) => walk(lo, lo + k, indices) + walk(lo + k, hi, indices),
                (true, false) => 1 + walk(lo, lo + k, indices),
                (false, true) => 1 + walk(lo + k, hi, indices),
                (false, false) => unreachable!(),
            }
        }
        walk(0, count, indices)
    }

    #[test]
    fn multiproof_len_matches_rfc6962_tree_shape() {
        for count in 1..=12u64 {
            for mask in 1u32..(1 << count) {
                let indices: Vec<u64> = (0..count).filter(|i| mask & (1 << i) != 0).collect();
                assert_eq!(
                    multiproof_len(count, &indices),
                    naive_len(count, &indices),
                    "count {count} indices {indices:?}"
                );
            }
        }
    }
}
