//! Which objects a tree's growth adds to the bucket, under the C2SP tlog-tiles names
//! (`tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`). Pure: sizes in, tiles out.
//!
//! Growing from `from` to `to` leaves: at every level, the full tiles that were not
//! full at `from`, and the partial tile of `to` unless `from` had the same one. Full
//! tiles of `from` are in the bucket already; partial tiles of intermediate sizes are
//! never needed, since a reader of the checkpoint of `to` asks only for `to`'s.

use ledger_core::tiles::{
    full_tile_count, partial_tile, tile_levels, EntryBundle, Tile, TILE_WIDTH,
};

/// One immutable object of the static read API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Tile(Tile),
    Bundle(EntryBundle),
}

impl Object {
    /// The object's key under the prefix, as tlog-tiles names it.
    pub fn key(&self) -> String {
        match self {
            Object::Tile(t) => t.path(),
            Object::Bundle(b) => b.path(),
        }
    }
}

/// The hash tiles (and entry bundles, when `bundles`) that the tree of `to` leaves has
/// and the tree of `from` leaves does not, lowest level first, bundles last.
pub fn objects_between(from: u64, to: u64, bundles: bool) -> Vec<Object> {
    let mut out = Vec::new();
    if to <= from {
        return out;
    }
    for level in 0..tile_levels(to) {
        for index in full_tile_count(from, level)..full_tile_count(to, level) {
            if let Ok(tile) = Tile::new(level, index, TILE_WIDTH) {
                out.push(Object::Tile(tile));
            }
        }
        if let Some(partial) = partial_tile(to, level) {
            if partial_tile(from, level) != Some(partial) {
                out.push(Object::Tile(partial));
            }
        }
    }
    if bundles {
        let width = u64::from(TILE_WIDTH);
        for index in from / width..to / width {
            if let Ok(bundle) = EntryBundle::new(index, TILE_WIDTH) {
                out.push(Object::Bundle(bundle));
            }
        }
        let rest = (to % width) as u16;
        if rest != 0 {
            if let Ok(bundle) = EntryBundle::new(to / width, rest) {
                out.push(Object::Bundle(bundle));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_core::tiles::tiles_for_size;
    use std::collections::BTreeSet;

    fn keys(from: u64, to: u64, bundles: bool) -> BTreeSet<String> {
        objects_between(from, to, bundles)
            .iter()
            .map(Object::key)
            .collect()
    }

    #[test]
    fn from_zero_is_every_tile_of_the_size() {
        for size in [1, 255, 256, 257, 65_536, 65_537, 70_000] {
            let all: BTreeSet<String> = tiles_for_size(size).map(|t| t.path()).collect();
            assert_eq!(keys(0, size, false), all, "size {size}");
        }
    }

    #[test]
    fn growth_adds_exactly_what_the_new_size_has_beyond_the_old() {
        // The union of the steps holds every tile of the final size, and each step only
        // names tiles of its own size.
        let sizes = [0u64, 1, 5, 255, 256, 300, 511, 512, 65_536, 65_540, 66_000];
        let mut union = BTreeSet::new();
        for pair in sizes.windows(2) {
            let step = keys(pair[0], pair[1], false);
            let of_size: BTreeSet<String> = tiles_for_size(pair[1]).map(|t| t.path()).collect();
            assert!(step.is_subset(&of_size), "{pair:?}");
            union.extend(step);
        }
        let last: BTreeSet<String> = tiles_for_size(66_000).map(|t| t.path()).collect();
        assert!(last.is_subset(&union));
        assert!(keys(300, 300, true).is_empty());
    }

    #[test]
    fn bundles_follow_level_zero() {
        let k = keys(200, 600, true);
        for want in [
            "tile/entries/000",
            "tile/entries/001",
            "tile/entries/002.p/88",
        ] {
            assert!(k.contains(want), "{want} in {k:?}");
        }
        assert!(!keys(200, 600, false)
            .iter()
            .any(|k| k.starts_with("tile/entries")));
        // Level 1's partial tile of width 2 is new, level 0's of 600 too.
        assert!(
            k.contains("tile/1/000.p/2") && k.contains("tile/0/002.p/88"),
            "{k:?}"
        );
    }
}
