//! The client side of C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>): an inclusion
//! proof for one entry, assembled from the log's static hash tiles and checked against
//! the log's signed checkpoint.
//!
//! What it does:
//! - [`required_tiles`]: which hash tiles the RFC 9162 §2.1.3.1 audit path of
//!   (`index`, `size`) reads. Every complete subtree of height `h` is taken from the tile
//!   level `floor(h / 8)`, where it is `2^(h mod 8)` adjacent hashes of one tile; the
//!   tile's width is what the tree of `size` leaves has there (§Partial Tiles), so at
//!   most a few tiles per level are fetched, and none for a tree of one leaf.
//! - [`fetch_tiles`]: reads them through a [`TileSource`] (HTTP(S) or a mirror directory,
//!   `crate::fetch`), requiring each to be exactly its width times 32 bytes. When a
//!   partial tile is not found the full tile of the same index is read instead and its
//!   prefix used: the tree may have grown past the checkpoint, and a log may delete
//!   partial tiles once the full tile exists (§Partial Tiles).
//! - [`audit_path`]: the audit path computed from the fetched hashes with the same
//!   generator as the log's own proofs (`ledger_core::proof::inclusion_proof`).
//! - [`prove_inclusion`]: all of the above, then `crate::merkle::check_inclusion`
//!   against the root of a checkpoint already verified with the log key.
//!
//! Nothing fetched is trusted: a tile with wrong hashes gives a path that does not lead
//! to the signed root, so a lying server or mirror can only make the check fail. Tiles of
//! the wrong length are malformed input, not a verification failure.
//!
//! Deliberately not done: entry bundles (the caller supplies the entry or its leaf hash),
//! consistency proofs between checkpoints, and computing a height-8 subtree from 256
//! level-0 hashes when a level-1 tile is missing.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use ledger_core::checkpoint::SignedCheckpoint;
use ledger_core::hash::{node_hash, Hash, HASH_SIZE};
use ledger_core::note::NoteVerifier;
use ledger_core::proof::{inclusion_proof, ProofError, SubtreeSource};
use ledger_core::tiles::{parse_tile, Tile, TILE_HEIGHT, TILE_WIDTH};

use crate::error::VerifyError;

/// Largest hash tile: 256 hashes of 32 bytes.
pub const MAX_TILE_BYTES: usize = TILE_WIDTH as usize * HASH_SIZE;

/// Largest checkpoint note accepted: a body and a few dozen signature lines fit in far
/// less.
pub const MAX_CHECKPOINT_BYTES: usize = 64 << 10;

/// Where a log's static files are read from: a base URL or a mirror directory.
pub trait TileSource {
    /// The bytes at `path` (relative to the base, such as `checkpoint` or
    /// `tile/0/x001/234`), refusing answers longer than `max` bytes. `Ok(None)` when
    /// the resource does not exist (HTTP 404, no such file).
    fn get(&mut self, path: &str, max: usize) -> Result<Option<Vec<u8>>, VerifyError>;

    /// Where `path` is, for messages: the full URL or file path.
    fn location(&self, path: &str) -> String;
}

/// The tile holding the complete subtree of height `level` and index `index` of a tree
/// of `size` leaves, and the range of the tile's hashes that make it up.
fn tile_for(level: u8, index: u64, size: u64) -> Result<(Tile, std::ops::Range<usize>), String> {
    let tile_level = level / TILE_HEIGHT;
    let rest = u32::from(level % TILE_HEIGHT);
    let shift = u32::from(tile_level) * u32::from(TILE_HEIGHT);
    // Index, at height 8 L, of the subtree's first hash; the subtree lies inside the
    // tree, so this cannot overflow.
    let first = index
        .checked_shl(rest)
        .ok_or_else(|| format!("subtree {level}/{index} is beyond any tree"))?;
    let hashes_at_level = size.checked_shr(shift).unwrap_or(0);
    let tile_index = first >> TILE_HEIGHT;
    let tile_start = tile_index << TILE_HEIGHT;
    let width = hashes_at_level
        .saturating_sub(tile_start)
        .min(u64::from(TILE_WIDTH)) as u16;
    let offset = (first - tile_start) as usize;
    let count = 1usize << rest;
    if offset + count > usize::from(width) {
        return Err(format!(
            "subtree {level}/{index} is not inside the tree of size {size}"
        ));
    }
    let tile = Tile::new(tile_level, tile_index, width).map_err(|e| e.to_string())?;
    Ok((tile, offset..offset + count))
}

/// Records the tiles a proof generator reads, answering with placeholder hashes.
struct Recorder {
    size: u64,
    tiles: RefCell<BTreeSet<Tile>>,
}

impl SubtreeSource for Recorder {
    type Error = Assembly;

    fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash, Assembly> {
        let (tile, _) = tile_for(level, index, self.size).map_err(Assembly::Internal)?;
        self.tiles.borrow_mut().insert(tile);
        Ok(Hash([0; HASH_SIZE]))
    }
}

/// Why an audit path could not be assembled from tiles.
#[derive(Debug)]
enum Assembly {
    Proof(ProofError),
    Internal(String),
}

impl From<ProofError> for Assembly {
    fn from(e: ProofError) -> Assembly {
        Assembly::Proof(e)
    }
}

impl From<Assembly> for VerifyError {
    fn from(e: Assembly) -> VerifyError {
        match e {
            Assembly::Proof(ProofError::IndexOutOfRange { index, size }) => {
                VerifyError::Unsupported(format!(
                    "leaf index {index} is not in the log: its checkpoint has tree size {size}"
                ))
            }
            Assembly::Proof(e) => VerifyError::Unsupported(format!("internal: {e}")),
            Assembly::Internal(m) => VerifyError::Unsupported(format!("internal: {m}")),
        }
    }
}

/// The hash tiles the audit path of leaf `index` in the tree of `size` leaves reads, in
/// (level, index) order. An index outside the tree is refused.
pub fn required_tiles(index: u64, size: u64) -> Result<Vec<Tile>, VerifyError> {
    let recorder = Recorder {
        size,
        tiles: RefCell::new(BTreeSet::new()),
    };
    inclusion_proof(&recorder, index, size)?;
    Ok(recorder.tiles.into_inner().into_iter().collect())
}

/// Hash tiles of one tree size, parsed.
#[derive(Debug, Clone)]
pub struct TileHashes {
    size: u64,
    tiles: BTreeMap<Tile, Vec<Hash>>,
}

impl TileHashes {
    /// An empty set for the tree of `size` leaves.
    pub fn new(size: u64) -> TileHashes {
        TileHashes {
            size,
            tiles: BTreeMap::new(),
        }
    }

    /// Adds the hashes of `tile` (exactly its width of them).
    pub fn insert(&mut self, tile: Tile, hashes: Vec<Hash>) -> Result<(), VerifyError> {
        if hashes.len() != usize::from(tile.width()) {
            return Err(VerifyError::malformed(
                tile.path(),
                format!(
                    "{} hashes for a tile of width {}",
                    hashes.len(),
                    tile.width()
                ),
            ));
        }
        self.tiles.insert(tile, hashes);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }
}

/// The hash of a perfect tree over `hashes` (a power of two of them), RFC 9162 §2.1.1.
fn perfect_root(hashes: &[Hash]) -> Hash {
    let mut level: Vec<Hash> = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    level.first().copied().unwrap_or_else(Hash::empty_root)
}

/// [`TileHashes`] as the proof generator's source of complete subtrees.
struct Subtrees<'a>(&'a TileHashes);

impl SubtreeSource for Subtrees<'_> {
    type Error = Assembly;

    fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash, Assembly> {
        let (tile, range) = tile_for(level, index, self.0.size).map_err(Assembly::Internal)?;
        let hashes = self
            .0
            .tiles
            .get(&tile)
            .and_then(|h| h.get(range))
            .ok_or_else(|| Assembly::Internal(format!("tile {} was not fetched", tile.path())))?;
        Ok(perfect_root(hashes))
    }
}

/// The audit path of leaf `index` (leaf side first) computed from `tiles`, which must
/// hold every tile [`required_tiles`] names for their tree size.
pub fn audit_path(tiles: &TileHashes, index: u64) -> Result<Vec<Hash>, VerifyError> {
    Ok(inclusion_proof(&Subtrees(tiles), index, tiles.size)?)
}

/// Tiles read from a source, and how.
#[derive(Debug, Clone)]
pub struct FetchedTiles {
    pub hashes: TileHashes,
    /// Tiles read (a partial tile read through its full tile counts once).
    pub tiles_fetched: usize,
    /// Partial tiles not found and read as the prefix of their full tile.
    pub full_tile_fallbacks: usize,
}

/// Parses the answer for `tile`, naming where it came from when it is malformed.
fn parse_at(src: &dyn TileSource, bytes: &[u8], tile: &Tile) -> Result<Vec<Hash>, VerifyError> {
    parse_tile(bytes, tile)
        .map_err(|e| VerifyError::malformed(src.location(&tile.path()), e.to_string()))
}

/// Reads one tile; a partial tile that is not found is read as its full tile's prefix.
/// Returns the hashes and whether the fallback was taken.
fn fetch_tile(src: &mut dyn TileSource, tile: &Tile) -> Result<(Vec<Hash>, bool), VerifyError> {
    if let Some(bytes) = src.get(&tile.path(), MAX_TILE_BYTES)? {
        return Ok((parse_at(src, &bytes, tile)?, false));
    }
    let not_found = |src: &dyn TileSource, path: &str| VerifyError::Fetch {
        url: src.location(path),
        reason: "not found".into(),
    };
    if !tile.is_partial() {
        return Err(not_found(src, &tile.path()));
    }
    let full = Tile::new(tile.level(), tile.index(), TILE_WIDTH)
        .map_err(|e| VerifyError::Unsupported(format!("internal: {e}")))?;
    let Some(bytes) = src.get(&full.path(), MAX_TILE_BYTES)? else {
        return Err(VerifyError::Fetch {
            url: src.location(&tile.path()),
            reason: format!("not found, and neither is the full tile {}", full.path()),
        });
    };
    let mut hashes = parse_at(src, &bytes, &full)?;
    hashes.truncate(usize::from(tile.width()));
    Ok((hashes, true))
}

/// Reads `tiles` of the tree of `size` leaves from `src`, each once.
pub fn fetch_tiles(
    src: &mut dyn TileSource,
    size: u64,
    tiles: &[Tile],
) -> Result<FetchedTiles, VerifyError> {
    let mut out = FetchedTiles {
        hashes: TileHashes::new(size),
        tiles_fetched: 0,
        full_tile_fallbacks: 0,
    };
    for tile in tiles {
        let (hashes, fell_back) = fetch_tile(src, tile)?;
        out.tiles_fetched += 1;
        out.full_tile_fallbacks += usize::from(fell_back);
        out.hashes.insert(*tile, hashes)?;
    }
    Ok(out)
}

/// Fetches `checkpoint` from `src` and verifies it with the log key. Returns the note's
/// bytes (for witness checks) and the verified checkpoint.
pub fn fetch_checkpoint(
    src: &mut dyn TileSource,
    log: &NoteVerifier,
) -> Result<(Vec<u8>, SignedCheckpoint), VerifyError> {
    let note = src
        .get("checkpoint", MAX_CHECKPOINT_BYTES)?
        .ok_or_else(|| VerifyError::Fetch {
            url: src.location("checkpoint"),
            reason: "not found".into(),
        })?;
    let signed = SignedCheckpoint::verify(&note, log)?;
    Ok((note, signed))
}

/// A checked inclusion proof assembled from tiles.
#[derive(Debug, Clone)]
pub struct TilesProof {
    pub path: Vec<Hash>,
    pub tiles_fetched: usize,
    pub full_tile_fallbacks: usize,
}

/// Proves that `leaf` is at `index` in the tree of `checkpoint` (already verified with
/// the log key) from tiles read from `src`. An index at or past the checkpoint's size is
/// an unsupported request; a path that does not lead to the signed root is a
/// verification failure.
pub fn prove_inclusion(
    src: &mut dyn TileSource,
    checkpoint: &SignedCheckpoint,
    index: u64,
    leaf: &Hash,
) -> Result<TilesProof, VerifyError> {
    let size = checkpoint.size();
    if index >= size {
        return Err(VerifyError::Unsupported(format!(
            "leaf index {index} is not in the log: its checkpoint has tree size {size}"
        )));
    }
    let tiles = required_tiles(index, size)?;
    let fetched = fetch_tiles(src, size, &tiles)?;
    let path = audit_path(&fetched.hashes, index)?;
    crate::merkle::check_inclusion(leaf, index, size, checkpoint.root(), &path)?;
    Ok(TilesProof {
        path,
        tiles_fetched: fetched.tiles_fetched,
        full_tile_fallbacks: fetched.full_tile_fallbacks,
    })
}

#[cfg(test)]
#[path = "tiles_client_tests.rs"]
mod tests;
