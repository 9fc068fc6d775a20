//! Complete-subtree hashes from hash tiles, for `ledger-core`'s proof code: the
//! subtree of height `8 L + r` at index `i` is node `(i << r) mod 256 >> r` of level
//! `r` inside tile `(i << r) / 256` of level `L`, full when the tree has that tile
//! complete, else the tree's partial tile of that level.
//!
//! The proof functions are synchronous, the bucket is not. A [`TileView`] answers from
//! the tiles it was given and the memory cache; a tile it has neither of is noted as
//! missing and answered with a placeholder hash. Which subtrees a proof reads depends
//! only on the sizes and indexes, never on hash values, so the caller fetches every
//! missing tile and runs the proof once more to get the real answer.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use ledger_core::hash::Hash;
use ledger_core::proof::{ProofError, SubtreeSource};
use ledger_core::tiles::{full_tile_count, partial_tile, Tile, TILE_HEIGHT, TILE_WIDTH};

use super::cache::{Cached, MemoryCache};

/// Why a subtree hash could not be read (besides a missing tile).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// A tile holds fewer hashes than the tree needs from it.
    #[error("bucket tile {0} is shorter than the tree needs")]
    ShortTile(String),
}

/// The tile that holds the subtree `(level, index)` of a tree of `size` leaves, and the
/// node's level and position inside it.
pub fn locate(size: u64, level: u8, index: u64) -> Result<(Tile, usize, usize), ProofError> {
    let out = || ProofError::IndexOutOfRange {
        index: index.checked_shl(u32::from(level)).unwrap_or(u64::MAX),
        size,
    };
    let tile_level = level / TILE_HEIGHT;
    let r = level % TILE_HEIGHT;
    let at_base = index.checked_shl(u32::from(r)).ok_or_else(out)?;
    let n = at_base >> TILE_HEIGHT;
    let pos = ((at_base % u64::from(TILE_WIDTH)) >> r) as usize;
    let tile = if n < full_tile_count(size, tile_level) {
        Tile::new(tile_level, n, TILE_WIDTH).map_err(|_| out())?
    } else {
        match partial_tile(size, tile_level) {
            Some(t) if t.index() == n => t,
            _ => return Err(out()),
        }
    };
    Ok((tile, usize::from(r), pos))
}

/// Subtree hashes of the tree of `size` leaves from tiles at hand.
pub struct TileView<'a> {
    size: u64,
    given: &'a HashMap<Tile, Arc<Cached>>,
    memory: &'a MemoryCache,
    seen: RefCell<HashMap<Tile, Arc<Cached>>>,
    missing: RefCell<Vec<Tile>>,
}

impl<'a> TileView<'a> {
    pub fn new(
        size: u64,
        given: &'a HashMap<Tile, Arc<Cached>>,
        memory: &'a MemoryCache,
    ) -> TileView<'a> {
        TileView {
            size,
            given,
            memory,
            seen: RefCell::new(HashMap::new()),
            missing: RefCell::new(Vec::new()),
        }
    }

    /// The tiles asked for that were neither given nor in memory.
    pub fn into_missing(self) -> Vec<Tile> {
        let mut m = self.missing.into_inner();
        m.sort();
        m.dedup();
        m
    }

    fn tile(&self, tile: &Tile) -> Option<Arc<Cached>> {
        if let Some(t) = self.given.get(tile) {
            return Some(t.clone());
        }
        if let Some(t) = self.seen.borrow().get(tile) {
            return Some(t.clone());
        }
        let found = self.memory.get(&tile.path())?;
        self.seen.borrow_mut().insert(*tile, found.clone());
        Some(found)
    }
}

impl SubtreeSource for TileView<'_> {
    type Error = ViewError;

    fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash, ViewError> {
        let (tile, r, pos) = locate(self.size, level, index)?;
        let Some(cached) = self.tile(&tile) else {
            self.missing.borrow_mut().push(tile);
            return Ok(Hash([0; 32]));
        };
        cached
            .levels
            .get(r)
            .and_then(|l| l.get(pos))
            .copied()
            .ok_or_else(|| ViewError::ShortTile(tile.path()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use ledger_core::hash::leaf_hash;
    use ledger_core::proof::{
        consistency_proof, inclusion_proof, tree_hash, verify_consistency, verify_inclusion,
    };
    use ledger_core::tiles::tiles_for_size;
    use ledger_core::tree::MemoryTree;

    /// Every tile of a tree, built from an in-memory tree (the oracle).
    fn tiles_of(tree: &MemoryTree, size: u64) -> HashMap<Tile, Arc<Cached>> {
        tiles_for_size(size)
            .map(|t| {
                let bytes = ledger_core::tiles::tile_contents(tree, size, &t).unwrap();
                let hashes = ledger_core::tiles::parse_tile(&bytes, &t).unwrap();
                (t, Arc::new(Cached::tile(Bytes::from(bytes), hashes)))
            })
            .collect()
    }

    #[test]
    fn proofs_from_tiles_equal_the_trees_and_verify() {
        let mut tree = MemoryTree::new();
        for i in 0..70_000u32 {
            tree.push_entry(&i.to_be_bytes());
        }
        let memory = MemoryCache::new(0);
        for size in [1u64, 2, 3, 255, 256, 257, 511, 65_536, 65_537, 70_000] {
            let tiles = tiles_of(&tree, size);
            let view = TileView::new(size, &tiles, &memory);
            let root = tree_hash(&view, size).unwrap();
            assert_eq!(root, tree.root_at(size).unwrap(), "size {size}");
            for index in [0, size / 2, size - 1] {
                let proof = inclusion_proof(&view, index, size).unwrap();
                let leaf = leaf_hash(&(index as u32).to_be_bytes());
                verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
            }
            let old = size.div_ceil(3);
            let proof = consistency_proof(&view, old, size).unwrap();
            verify_consistency(old, size, &proof, &tree.root_at(old).unwrap(), &root).unwrap();
            assert!(view.into_missing().is_empty());
        }
        let none = HashMap::new();
        let view = TileView::new(300, &none, &memory);
        inclusion_proof(&view, 7, 300).unwrap();
        let missing: Vec<String> = view.into_missing().iter().map(Tile::path).collect();
        assert_eq!(missing, ["tile/0/000", "tile/0/001.p/44"]);
    }
}
