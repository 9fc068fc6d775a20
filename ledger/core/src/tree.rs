//! Trees held in memory: [`MemoryTree`], every level of a small tree (tests, the
//! verifier's package checks), and [`Frontier`], the right edge of a growing tree, which
//! is all the sequencer needs to extend the tree and compute each new root.

use crate::hash::{leaf_hash, node_hash, Hash};
use crate::proof::{ProofError, SubtreeSource};

/// A whole tree in memory: `levels[l][i]` is the complete subtree hash at height `l`,
/// index `i`. Memory grows with about two hashes per leaf.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn new() -> MemoryTree {
        MemoryTree { levels: Vec::new() }
    }

    /// Builds the tree of the given leaf hashes.
    pub fn from_leaf_hashes(leaves: impl IntoIterator<Item = Hash>) -> MemoryTree {
        let mut tree = MemoryTree::new();
        for leaf in leaves {
            tree.push_leaf_hash(leaf);
        }
        tree
    }

    /// Appends an entry (its leaf hash is computed here).
    pub fn push_entry(&mut self, entry: &[u8]) {
        self.push_leaf_hash(leaf_hash(entry));
    }

    /// Appends a leaf hash and every complete subtree it finishes.
    pub fn push_leaf_hash(&mut self, leaf: Hash) {
        let mut level = 0;
        let mut hash = leaf;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(hash);
            let n = self.levels[level].len();
            if n % 2 == 1 {
                break;
            }
            hash = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            level += 1;
        }
    }

    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels.first()?.get(index as usize).copied()
    }

    /// The root at the current size.
    pub fn root(&self) -> Hash {
        self.root_at(self.size()).expect("current size is in range")
    }

    /// The root at any size up to the current one.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        if size > self.size() {
            return Err(ProofError::IndexOutOfRange {
                index: size,
                size: self.size(),
            });
        }
        crate::proof::tree_hash(self, size)
    }
}

impl SubtreeSource for MemoryTree {
    type Error = ProofError;

    fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash, ProofError> {
        self.levels
            .get(level as usize)
            .and_then(|l| l.get(index as usize))
            .copied()
            .ok_or(ProofError::IndexOutOfRange {
                // Levels of 64 and more hold nothing; report the first leaf saturated.
                index: index.checked_shl(u32::from(level)).unwrap_or(u64::MAX),
                size: self.size(),
            })
    }
}

/// The right edge of a tree: one complete subtree hash per set bit of the size, largest
/// first. Appending is amortised O(1) node hashes and the root is O(log n).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    /// Complete subtrees from the left, heights strictly decreasing.
    nodes: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuilds the frontier of a tree of `size` leaves from its complete subtree hashes.
    pub fn from_source<S: SubtreeSource>(src: &S, size: u64) -> Result<Frontier, S::Error> {
        let mut nodes = Vec::with_capacity(64);
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if size & (1u64 << level) != 0 {
                nodes.push(src.subtree_hash(level, start >> level)?);
                start += 1u64 << level;
            }
        }
        Ok(Frontier { size, nodes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash. `finished` is called with (level, index, hash) for every
    /// complete subtree the new leaf finishes, the leaf itself (level 0) included, lowest
    /// first; the store uses it to persist the hashes it keeps.
    pub fn push(&mut self, leaf: Hash, mut finished: impl FnMut(u8, u64, &Hash)) {
        let index = self.size;
        finished(0, index, &leaf);
        let mut hash = leaf;
        let mut level = 0u8;
        while index & (1u64 << level) != 0 {
            let left = self.nodes.pop().expect("a set bit has a node");
            hash = node_hash(&left, &hash);
            level += 1;
            finished(level, index >> level, &hash);
        }
        self.nodes.push(hash);
        self.size += 1;
    }

    /// The root of the tree (the empty root for size 0).
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(last) = iter.next() else {
            return Hash::empty_root();
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}
