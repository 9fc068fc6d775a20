//! C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>): paths and contents of hash tiles and
//! entry bundles, the static read API of the log.
//!
//! Implemented:
//! - §Merkle Tree: tile paths `tile/<L>/<N>[.p/<W>]` with `<L>` in 0..=63 without extra
//!   leading zeroes, `<N>` in zero-padded 3-digit elements all but the last prefixed by
//!   `x` (1234067 is `x001/x234/067`), `<W>` in 1..=255 for partial tiles; the contents
//!   of tile `N` at level `L` and width `W`: the `W` hashes at Merkle height `8 L`,
//!   indexes `256 N .. 256 N + W`, concatenated.
//! - §Partial Tiles: the tiles a tree of a given size is made of (full tiles per level,
//!   and the partial tile of width `floor(s / 256^l) mod 256` at each level where that is
//!   non-zero).
//! - §Log entries: bundle paths `tile/entries/<N>[.p/<W>]` and bundle contents, entries
//!   each prefixed with their length as a big-endian `u16`, so one entry is at most
//!   65,535 bytes.
//!
//! Parsing accepts only the canonical encoding (no leading `x000` elements, no leading
//! zeroes in `<L>` or `<W>`), so every path names one resource and `path(parse(p)) == p`.
//!
//! Deliberately not done: HTTP serving, caching headers, compression and pruning
//! (§Pruning) belong to the server; Go's older `tile/<H>/<L>/...` sumdb paths are not
//! produced.

use std::ops::Range;

use crate::hash::{Hash, HASH_SIZE};
use crate::proof::{ProofError, SubtreeSource};

/// Height of every tile: a tile holds the 2^8 = 256 hashes of one level.
pub const TILE_HEIGHT: u8 = 8;

/// Hashes in a full tile, entries in a full bundle.
pub const TILE_WIDTH: u16 = 256;

/// Highest tile level a path may name (§Merkle Tree).
pub const MAX_TILE_LEVEL: u8 = 63;

/// Largest entry an entry bundle can hold: its length prefix is a `u16`.
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;

/// Why a tile path, tile or bundle was refused. All variants are malformed input or a
/// bad request; tile contents are not verified here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    #[error("malformed tile path: {0}")]
    MalformedPath(&'static str),
    #[error("tile level {0} is above {MAX_TILE_LEVEL}")]
    LevelTooHigh(u8),
    #[error("tile width {0} is not between 1 and {TILE_WIDTH}")]
    InvalidWidth(u16),
    #[error("entry index {index} is not below the log size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("entry of {0} bytes is larger than {MAX_ENTRY_SIZE} bytes")]
    EntryTooLarge(usize),
    #[error("an entry bundle holds 1 to {TILE_WIDTH} entries, not {0}")]
    WrongEntryCount(usize),
    #[error("malformed entry bundle: {0}")]
    MalformedBundle(&'static str),
    #[error("hash tile of width {width} must be {expected} bytes, got {got}")]
    WrongTileLength {
        width: u16,
        expected: usize,
        got: usize,
    },
}

/// A hash tile: level, index within the level and width (256 for a full tile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    level: u8,
    index: u64,
    width: u16,
}

/// An entry bundle: index and width (256 for a full bundle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryBundle {
    index: u64,
    width: u16,
}

/// What a path under `tile/` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TilePath {
    Hashes(Tile),
    Entries(EntryBundle),
}

fn check_width(width: u16) -> Result<u16, TileError> {
    if (1..=TILE_WIDTH).contains(&width) {
        Ok(width)
    } else {
        Err(TileError::InvalidWidth(width))
    }
}

/// `<N>[.p/<W>]` of a path.
fn encode_index_width(index: u64, width: u16) -> String {
    let mut out = encode_index(index);
    if width < TILE_WIDTH {
        out.push_str(&format!(".p/{width}"));
    }
    out
}

impl Tile {
    pub fn new(level: u8, index: u64, width: u16) -> Result<Tile, TileError> {
        if level > MAX_TILE_LEVEL {
            return Err(TileError::LevelTooHigh(level));
        }
        Ok(Tile {
            level,
            index,
            width: check_width(width)?,
        })
    }

    pub fn level(&self) -> u8 {
        self.level
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn is_partial(&self) -> bool {
        self.width < TILE_WIDTH
    }

    /// `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        format!(
            "tile/{}/{}",
            self.level,
            encode_index_width(self.index, self.width)
        )
    }

    /// Parses a hash tile path; entry bundle paths are refused.
    pub fn parse_path(path: &str) -> Result<Tile, TileError> {
        match parse_path(path)? {
            TilePath::Hashes(tile) => Ok(tile),
            TilePath::Entries(_) => Err(TileError::MalformedPath(
                "an entry bundle path, not a hash tile path",
            )),
        }
    }

    /// The Merkle tree height of the tile's hashes (`8 L`), which exceeds any `u64` tree
    /// from level 8 on.
    pub fn merkle_level(&self) -> u32 {
        u32::from(self.level) * u32::from(TILE_HEIGHT)
    }

    /// Indexes, at height [`Tile::merkle_level`], of the hashes the tile holds.
    pub fn hash_indexes(&self) -> Range<u128> {
        let start = u128::from(self.index) * u128::from(TILE_WIDTH);
        start..start + u128::from(self.width)
    }

    /// The leaves the tile's hashes cover, `n 256^(l+1) .. (n 256 + w) 256^l`, or `None`
    /// when that reaches beyond any `u64` tree.
    pub fn leaf_range(&self) -> Option<Range<u64>> {
        let shift = self.merkle_level();
        if shift >= 64 {
            return None;
        }
        let hashes = self.hash_indexes();
        let start = u64::try_from(hashes.start << shift).ok()?;
        let end = u64::try_from(hashes.end << shift).ok()?;
        Some(start..end)
    }
}

impl EntryBundle {
    pub fn new(index: u64, width: u16) -> Result<EntryBundle, TileError> {
        Ok(EntryBundle {
            index,
            width: check_width(width)?,
        })
    }

    /// The bundle that serves entry `seq` in a log of `log_size` entries: bundle
    /// `seq / 256`, partial when the log ends inside it.
    pub fn for_entry(seq: u64, log_size: u64) -> Result<EntryBundle, TileError> {
        if seq >= log_size {
            return Err(TileError::IndexOutOfRange {
                index: seq,
                size: log_size,
            });
        }
        let index = seq / u64::from(TILE_WIDTH);
        let start = index * u64::from(TILE_WIDTH);
        let width = (log_size - start).min(u64::from(TILE_WIDTH)) as u16;
        EntryBundle::new(index, width)
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn is_partial(&self) -> bool {
        self.width < TILE_WIDTH
    }

    /// `tile/entries/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        format!(
            "tile/entries/{}",
            encode_index_width(self.index, self.width)
        )
    }

    /// Parses an entry bundle path; hash tile paths are refused.
    pub fn parse_path(path: &str) -> Result<EntryBundle, TileError> {
        match parse_path(path)? {
            TilePath::Entries(bundle) => Ok(bundle),
            TilePath::Hashes(_) => Err(TileError::MalformedPath(
                "a hash tile path, not an entry bundle path",
            )),
        }
    }

    /// Indexes of the entries in the bundle, or `None` beyond `u64`.
    pub fn entry_range(&self) -> Option<Range<u64>> {
        let start = self.index.checked_mul(u64::from(TILE_WIDTH))?;
        Some(start..start.checked_add(u64::from(self.width))?)
    }
}

impl TilePath {
    pub fn path(&self) -> String {
        match self {
            TilePath::Hashes(t) => t.path(),
            TilePath::Entries(b) => b.path(),
        }
    }
}

/// Encodes a tile index as 3-digit path elements, all but the last prefixed with `x`.
pub fn encode_index(mut n: u64) -> String {
    let mut groups = Vec::with_capacity(7);
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let mut out = String::with_capacity(groups.len() * 5);
    for (i, g) in groups.iter().rev().enumerate() {
        if i > 0 {
            out.push('/');
        }
        if i + 1 < groups.len() {
            out.push('x');
        }
        out.push_str(&format!("{g:03}"));
    }
    out
}

/// Three ASCII digits.
fn parse_group(s: &str) -> Option<u64> {
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// A decimal with no sign and no leading zero (except `0` itself).
fn parse_plain_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Parses the `<N>` part of a path (without `.p/<W>`), canonical form only.
pub fn parse_index(s: &str) -> Result<u64, TileError> {
    let mut elements = s.split('/').peekable();
    let mut n: u64 = 0;
    let mut first = true;
    while let Some(element) = elements.next() {
        let last = elements.peek().is_none();
        let digits = if last {
            element
        } else {
            element.strip_prefix('x').ok_or(TileError::MalformedPath(
                "index element other than the last lacks the 'x' prefix",
            ))?
        };
        let group = parse_group(digits).ok_or(TileError::MalformedPath(
            "index element is not 3 decimal digits",
        ))?;
        // `x000` in front is a second spelling of a smaller index; only the canonical
        // spelling is accepted so every tile has one path.
        if first && !last && group == 0 {
            return Err(TileError::MalformedPath("index has a leading x000 element"));
        }
        first = false;
        n = n
            .checked_mul(1000)
            .and_then(|n| n.checked_add(group))
            .ok_or(TileError::MalformedPath("index overflows u64"))?;
    }
    Ok(n)
}

/// Parses `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
pub fn parse_path(path: &str) -> Result<TilePath, TileError> {
    let rest = path
        .strip_prefix("tile/")
        .ok_or(TileError::MalformedPath("path does not start with tile/"))?;
    let (level, rest) = rest
        .split_once('/')
        .ok_or(TileError::MalformedPath("missing tile index"))?;
    let (index, width) = match rest.split_once(".p/") {
        None => (rest, TILE_WIDTH),
        Some((index, w)) => {
            let w = parse_plain_decimal(w)
                .filter(|w| (1..u64::from(TILE_WIDTH)).contains(w))
                .ok_or(TileError::MalformedPath(
                    "partial width is not a decimal between 1 and 255",
                ))?;
            (index, w as u16)
        }
    };
    let index = parse_index(index)?;
    if level == "entries" {
        return Ok(TilePath::Entries(EntryBundle::new(index, width)?));
    }
    let level = parse_plain_decimal(level)
        .filter(|l| *l <= u64::from(MAX_TILE_LEVEL))
        .ok_or(TileError::MalformedPath(
            "level is not a decimal between 0 and 63",
        ))?;
    Ok(TilePath::Hashes(Tile::new(level as u8, index, width)?))
}

/// Number of levels that have at least one hash in a tree of `size` leaves: level `l`
/// exists while `size / 256^l > 0`.
pub fn tile_levels(size: u64) -> u8 {
    let mut levels = 0u8;
    while level_width(size, levels) > 0 {
        levels += 1;
    }
    levels
}

/// `size / 256^level`, zero once the shift leaves `u64`.
fn level_width(size: u64, level: u8) -> u64 {
    size.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
        .unwrap_or(0)
}

/// Full tiles at `level` in a tree of `size` leaves: `size / 256^(level+1)`.
pub fn full_tile_count(size: u64, level: u8) -> u64 {
    level_width(size, level) >> TILE_HEIGHT
}

/// The partial tile at `level` of a tree of `size` leaves, of width
/// `floor(size / 256^level) mod 256`, if that is not zero (§Partial Tiles).
pub fn partial_tile(size: u64, level: u8) -> Option<Tile> {
    let hashes = level_width(size, level);
    let width = (hashes % u64::from(TILE_WIDTH)) as u16;
    if width == 0 || level > MAX_TILE_LEVEL {
        return None;
    }
    Some(Tile {
        level,
        index: hashes >> TILE_HEIGHT,
        width,
    })
}

/// The partial tiles of a tree of `size` leaves, lowest level first (at most 8).
pub fn partial_tiles(size: u64) -> Vec<Tile> {
    (0..tile_levels(size))
        .filter_map(|level| partial_tile(size, level))
        .collect()
}

/// Every tile of a tree of `size` leaves, level by level, full tiles in index order and
/// then the level's partial tile. Lazy, since a large tree has millions of tiles.
pub fn tiles_for_size(size: u64) -> impl Iterator<Item = Tile> {
    (0..tile_levels(size)).flat_map(move |level| {
        (0..full_tile_count(size, level))
            .map(move |index| Tile {
                level,
                index,
                width: TILE_WIDTH,
            })
            .chain(partial_tile(size, level))
    })
}

/// The bytes of `tile` in a tree of `tree_size` leaves: its hashes concatenated, read
/// from `src` at Merkle height `8 L` (§Merkle Tree). A tile that reaches past
/// `tree_size` is refused with [`ProofError::IndexOutOfRange`] naming the last leaf it
/// would need.
pub fn tile_contents<S: SubtreeSource>(
    src: &S,
    tree_size: u64,
    tile: &Tile,
) -> Result<Vec<u8>, S::Error> {
    let out_of_range = |end: u128| ProofError::IndexOutOfRange {
        index: u64::try_from(end.saturating_sub(1)).unwrap_or(u64::MAX),
        size: tree_size,
    };
    let Some(leaves) = tile.leaf_range() else {
        return Err(out_of_range(u128::MAX).into());
    };
    if leaves.end > tree_size {
        return Err(out_of_range(u128::from(leaves.end)).into());
    }
    // `leaf_range` succeeded, so the height is below 64 and every index fits in u64.
    let level = tile.merkle_level() as u8;
    let mut out = Vec::with_capacity(usize::from(tile.width) * HASH_SIZE);
    let hashes = tile.hash_indexes();
    for i in hashes.start as u64..hashes.end as u64 {
        out.extend_from_slice(src.subtree_hash(level, i)?.as_bytes());
    }
    Ok(out)
}

/// Splits the bytes of `tile` into its hashes, requiring exactly `width` of them.
pub fn parse_tile(bytes: &[u8], tile: &Tile) -> Result<Vec<Hash>, TileError> {
    let expected = usize::from(tile.width) * HASH_SIZE;
    if bytes.len() != expected {
        return Err(TileError::WrongTileLength {
            width: tile.width,
            expected,
            got: bytes.len(),
        });
    }
    Ok(bytes
        .chunks_exact(HASH_SIZE)
        .filter_map(Hash::from_slice)
        .collect())
}

/// Encodes an entry bundle: each entry as `u16` big-endian length then its bytes
/// (§Log entries). A bundle holds 1 to 256 entries, each at most 65,535 bytes.
pub fn encode_entry_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    if entries.is_empty() || entries.len() > usize::from(TILE_WIDTH) {
        return Err(TileError::WrongEntryCount(entries.len()));
    }
    let total: usize = entries.iter().map(|e| 2 + e.as_ref().len()).sum();
    let mut out = Vec::with_capacity(total);
    for entry in entries {
        let entry = entry.as_ref();
        let len = u16::try_from(entry.len()).map_err(|_| TileError::EntryTooLarge(entry.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Splits an entry bundle into its entries, requiring exactly the bundle's width of
/// them and no trailing bytes.
pub fn parse_entry_bundle<'a>(
    bytes: &'a [u8],
    bundle: &EntryBundle,
) -> Result<Vec<&'a [u8]>, TileError> {
    let mut entries = Vec::with_capacity(usize::from(bundle.width));
    let mut rest = bytes;
    while !rest.is_empty() {
        if entries.len() == usize::from(bundle.width) {
            return Err(TileError::MalformedBundle("more entries than the width"));
        }
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            return Err(TileError::MalformedBundle("truncated length prefix"));
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(TileError::MalformedBundle("truncated entry"));
        }
        let (entry, tail) = tail.split_at(len);
        entries.push(entry);
        rest = tail;
    }
    if entries.len() != usize::from(bundle.width) {
        return Err(TileError::MalformedBundle("fewer entries than the width"));
    }
    Ok(entries)
}
