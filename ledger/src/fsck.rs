//! Offline re-verification of a whole log ("fsck"): every entry is re-hashed, every
//! stored hash recomputed, every dedup key checked, and every signed checkpoint
//! verified against the recomputed tree and proven consistent with the one before.

use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::proof::{self, SubtreeSource};

use crate::error::LedgerError;
use crate::key::LogKey;
use crate::store::{Store, STRATUM_WIDTH};
use crate::tree_state::TreeState;

/// What a successful check covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckReport {
    pub size: u64,
    pub root: Hash,
    pub checkpoints: u64,
}

/// Re-verifies the whole store with the log key. Stops at the first problem and says
/// exactly what and where.
pub fn fsck(store: &Store, key: &LogKey) -> Result<FsckReport, LedgerError> {
    let size = store.size()?;
    let mut state = TreeState::empty();
    let mut start = 0u64;
    const CHUNK: u64 = 4096;
    while start < size {
        let end = (start + CHUNK).min(size);
        let entries = store.entries(start, end)?;
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        // Every entry must hash to the leaf hash stored for its index.
        for (i, leaf) in leaves.iter().enumerate() {
            let index = start + i as u64;
            let stored = store.subtree_hash(0, index)?;
            if stored != *leaf {
                return Err(LedgerError::corrupt(format!(
                    "entry {index} hashes to {leaf}, but the stored leaf hash is {stored}"
                )));
            }
        }
        // Every entry must be findable by its own leaf hash, at its own index.
        let lookups = store.lookup_leaves(&leaves, size)?;
        for (i, lookup) in lookups.iter().enumerate() {
            let index = start + i as u64;
            match lookup {
                crate::store::LeafLookup::Found(found) if *found <= index => {
                    if *found < index {
                        return Err(LedgerError::corrupt(format!(
                            "entry {index} duplicates entry {found}; the log must not hold the same bytes twice"
                        )));
                    }
                }
                _ => {
                    return Err(LedgerError::corrupt(format!(
                        "entry {index} is not in the dedup index under its leaf hash"
                    )))
                }
            }
        }
        for (stratum, tile, expected) in state.append(leaves) {
            let stored = store.stored_tile(stratum, tile)?;
            if stored.len() < expected.len() || stored[..expected.len()] != expected[..] {
                return Err(LedgerError::corrupt(format!(
                    "stored hash tile (stratum {stratum}, tile {tile}) does not match the entries"
                )));
            }
            if expected.len() as u64 == STRATUM_WIDTH && stored.len() != expected.len() {
                return Err(LedgerError::corrupt(format!(
                    "stored hash tile (stratum {stratum}, tile {tile}) has extra hashes"
                )));
            }
        }
        start = end;
    }
    let root = state.root();

    let mut previous: Option<(u64, Hash)> = None;
    let mut checkpoints = 0u64;
    let mut last_size = None;
    for item in store.checkpoints_from(0) {
        let (stored_size, note) = item?;
        let (cp_size, cp_root) = key.verify_checkpoint(&note)?;
        if cp_size != stored_size {
            return Err(LedgerError::corrupt(format!(
                "checkpoint stored under size {stored_size} says size {cp_size}"
            )));
        }
        if cp_size > size {
            return Err(LedgerError::corrupt(format!(
                "checkpoint of size {cp_size} is beyond the stored tree size {size}"
            )));
        }
        let computed = proof::tree_hash(store, cp_size)?;
        if computed != cp_root {
            return Err(LedgerError::CheckpointMismatch {
                size: cp_size,
                checkpoint_root: cp_root,
                computed_root: computed,
            });
        }
        if let Some((s1, r1)) = previous {
            if s1 > 0 {
                let p = proof::consistency_proof(store, s1, cp_size)?;
                proof::verify_consistency(s1, cp_size, &p, &r1, &cp_root)?;
            }
        }
        previous = Some((cp_size, cp_root));
        last_size = Some(cp_size);
        checkpoints += 1;
    }
    if last_size != Some(size) {
        return Err(LedgerError::corrupt(format!(
            "the latest checkpoint covers size {last_size:?}, the store holds {size} entries"
        )));
    }
    // The recomputed root must be what the store's own hashes give as well.
    let stored_root = proof::tree_hash(store, size)?;
    if stored_root != root {
        return Err(LedgerError::corrupt(format!(
            "root from stored hashes {stored_root} differs from the root of the entries {root}"
        )));
    }
    Ok(FsckReport {
        size,
        root,
        checkpoints,
    })
}
