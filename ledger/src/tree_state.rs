//! The sequencer's in-memory view of the tree's right edge: the [`Frontier`] for roots
//! and the partly filled stored-hash tile of every stratum, so a group commit writes
//! exactly the tiles it changed without reading any back.

use ledger_core::hash::Hash;
use ledger_core::tree::Frontier;

use crate::error::LedgerError;
use crate::store::{Store, STRATUM_HEIGHT, STRATUM_WIDTH};

#[derive(Clone, Debug)]
pub(crate) struct TreeState {
    frontier: Frontier,
    /// `edge[s]`: the hashes of the last, not yet full tile of stratum `s`.
    edge: Vec<Vec<Hash>>,
}

/// The tiles one batch changed: (stratum, tile index, every hash of the tile so far).
pub(crate) type TileWrites = Vec<(u8, u64, Vec<Hash>)>;

impl TreeState {
    /// The state of the empty tree.
    pub(crate) fn empty() -> TreeState {
        TreeState {
            frontier: Frontier::new(),
            edge: Vec::new(),
        }
    }

    /// Rebuilds the edge of a tree of `size` leaves from the store.
    pub(crate) fn load(store: &Store, size: u64) -> Result<TreeState, LedgerError> {
        let frontier = Frontier::from_source(store, size)?;
        let mut edge = Vec::new();
        for stratum in 0u8.. {
            let shift = u32::from(stratum) * u32::from(STRATUM_HEIGHT);
            if shift >= 64 || size >> shift == 0 {
                break;
            }
            let count = size >> shift;
            let tile = count / STRATUM_WIDTH;
            let filled = (count % STRATUM_WIDTH) as usize;
            let mut hashes = if filled > 0 {
                store.stored_tile(stratum, tile)?
            } else {
                Vec::new()
            };
            if hashes.len() < filled {
                return Err(LedgerError::corrupt(format!(
                    "hash tile (stratum {stratum}, tile {tile}) holds {} hashes, a tree of size {size} needs {filled}",
                    hashes.len()
                )));
            }
            hashes.truncate(filled);
            edge.push(hashes);
        }
        Ok(TreeState { frontier, edge })
    }

    pub(crate) fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub(crate) fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Appends leaf hashes and returns the stored-hash tiles to write.
    pub(crate) fn append(&mut self, leaves: impl IntoIterator<Item = Hash>) -> TileWrites {
        let mut writes = TileWrites::new();
        let mut dirty: Vec<bool> = vec![false; self.edge.len()];
        for leaf in leaves {
            let edge = &mut self.edge;
            self.frontier.push(leaf, |level, index, hash| {
                if level % STRATUM_HEIGHT != 0 {
                    return;
                }
                let stratum = level / STRATUM_HEIGHT;
                let s = stratum as usize;
                if edge.len() <= s {
                    edge.resize(s + 1, Vec::new());
                }
                if dirty.len() <= s {
                    dirty.resize(s + 1, false);
                }
                edge[s].push(*hash);
                if edge[s].len() as u64 == STRATUM_WIDTH {
                    // The tile is complete: write it whole and start the next one.
                    writes.push((stratum, index / STRATUM_WIDTH, std::mem::take(&mut edge[s])));
                    dirty[s] = false;
                } else {
                    dirty[s] = true;
                }
            });
        }
        for (s, is_dirty) in dirty.iter().enumerate() {
            if *is_dirty {
                let stratum = s as u8;
                let shift = u32::from(stratum) * u32::from(STRATUM_HEIGHT);
                let tile = (self.frontier.size() >> shift) / STRATUM_WIDTH;
                writes.push((stratum, tile, self.edge[s].clone()));
            }
        }
        writes
    }
}
