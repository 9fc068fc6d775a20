//! C2SP tlog-tiles read side: hash tiles and entry bundles generated from the store.
//! Path parsing and formatting live in `ledger_core::tiles`; this module only produces
//! the bytes for a (level, index, width) that the latest tree size allows.

use ledger_core::hash::HASH_SIZE;

use crate::error::LedgerError;
use crate::log::Log;
use crate::store::{STRATUM_HEIGHT, STRATUM_WIDTH};

/// Hashes (and entries) per full tile, C2SP tlog-tiles: tile height 8.
pub const TILE_WIDTH: u64 = 256;
const TILE_HEIGHT: u32 = 8;

impl Log {
    /// The hash tile at tile level `level`, index `index`, with `width` hashes (256 for a
    /// full tile, 1..=255 for a partial one): the Merkle hashes of level `8·level`,
    /// indexes `256·index ..`. Only tiles inside the latest signed tree are served.
    pub fn hash_tile(&self, level: u8, index: u64, width: u64) -> Result<Vec<u8>, LedgerError> {
        check_width(width)?;
        let merkle_level = u32::from(level) * TILE_HEIGHT;
        let first = index
            .checked_mul(TILE_WIDTH)
            .ok_or_else(|| not_found(level, index, width))?;
        let end = first + width;
        let size = self.latest().size;
        // The last hash needs a complete subtree of 2^merkle_level leaves inside the tree.
        let available = if merkle_level >= 64 {
            0
        } else {
            size >> merkle_level
        };
        if end > available {
            return Err(not_found(level, index, width));
        }
        // Merkle level 8·L is stratum 2·L of the store: the 256 hashes are 16 stored tiles.
        let stratum = (merkle_level / u32::from(STRATUM_HEIGHT)) as u8;
        let mut out = Vec::with_capacity(width as usize * HASH_SIZE);
        let mut next = first;
        while next < end {
            let tile = next / STRATUM_WIDTH;
            let hashes = self.store().stored_tile(stratum, tile)?;
            let from = (next % STRATUM_WIDTH) as usize;
            let take = ((end - next).min(STRATUM_WIDTH - next % STRATUM_WIDTH)) as usize;
            if hashes.len() < from + take {
                return Err(LedgerError::corrupt(format!(
                    "hash tile (stratum {stratum}, tile {tile}) holds {} hashes, tile {level}/{index} needs {}",
                    hashes.len(),
                    from + take
                )));
            }
            for h in &hashes[from..from + take] {
                out.extend_from_slice(&h.0);
            }
            next += take as u64;
        }
        Ok(out)
    }

    /// The entry bundle `index` with `width` entries, each as a big-endian u16 length
    /// followed by the entry bytes (C2SP tlog-tiles).
    pub fn entry_bundle(&self, index: u64, width: u64) -> Result<Vec<u8>, LedgerError> {
        check_width(width)?;
        let first = index
            .checked_mul(TILE_WIDTH)
            .ok_or_else(|| not_found_bundle(index, width))?;
        let size = self.latest().size;
        if first + width > size {
            return Err(not_found_bundle(index, width));
        }
        let entries = self.store().entries(first, first + width)?;
        let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
        for e in entries {
            let len = u16::try_from(e.len())
                .map_err(|_| LedgerError::corrupt(format!("stored entry is {} bytes", e.len())))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&e);
        }
        Ok(out)
    }
}

fn check_width(width: u64) -> Result<(), LedgerError> {
    if width == 0 || width > TILE_WIDTH {
        return Err(LedgerError::InvalidRequest(format!(
            "tile width {width} is not in 1..=256"
        )));
    }
    Ok(())
}

fn not_found(level: u8, index: u64, width: u64) -> LedgerError {
    LedgerError::NotFound {
        what: format!("hash tile level {level} index {index} width {width}"),
    }
}

fn not_found_bundle(index: u64, width: u64) -> LedgerError {
    LedgerError::NotFound {
        what: format!("entry bundle {index} width {width}"),
    }
}
