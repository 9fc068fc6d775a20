//! Tests of the tiles client against a naive RFC 9162 oracle: trees built in the test
//! from leaf hashes, their tiles served from memory, audit paths compared with the
//! recursive definition of §2.1.3.1 and checked against the recursive root.

use std::collections::HashMap;

use ledger_core::checkpoint::Checkpoint;
use ledger_core::hash::leaf_hash;
use ledger_core::note::NoteSigner;
use ledger_core::tiles::tile_levels;

use super::*;

const ORIGIN: &str = "tiles.test/log";

/// MTH(D[n]) of RFC 9162 §2.1.1, by the definition.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Hash::empty_root(),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]) of RFC 9162 §2.1.3.1, by the definition.
fn naive_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
    let (mut path, sibling) = if m < k {
        (naive_path(m, &leaves[..k]), mth(&leaves[k..]))
    } else {
        (naive_path(m - k, &leaves[k..]), mth(&leaves[..k]))
    };
    path.push(sibling);
    path
}

fn leaves(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
        .collect()
}

/// The tile files of the tree over `leaves`, by path, as a log publishes them; with
/// `partials` false only the full tiles.
fn tile_files(leaves: &[Hash], partials: bool) -> HashMap<String, Vec<u8>> {
    let mut files = HashMap::new();
    let mut level_hashes = leaves.to_vec();
    let mut level = 0u8;
    while !level_hashes.is_empty() {
        for (n, chunk) in level_hashes.chunks(256).enumerate() {
            if chunk.len() < 256 && !partials {
                continue;
            }
            let tile = Tile::new(level, n as u64, chunk.len() as u16).unwrap();
            let bytes = chunk.iter().flat_map(|h| *h.as_bytes()).collect();
            files.insert(tile.path(), bytes);
        }
        level_hashes = level_hashes.chunks_exact(256).map(mth).collect();
        level += 1;
    }
    files
}

/// A source serving files from memory and recording the paths asked for.
struct Memory {
    files: HashMap<String, Vec<u8>>,
    asked: Vec<String>,
}

impl Memory {
    fn new(files: HashMap<String, Vec<u8>>) -> Memory {
        Memory {
            files,
            asked: Vec::new(),
        }
    }
}

impl TileSource for Memory {
    fn get(&mut self, path: &str, max: usize) -> Result<Option<Vec<u8>>, VerifyError> {
        self.asked.push(path.to_owned());
        match self.files.get(path) {
            Some(b) if b.len() > max => Err(VerifyError::malformed(path, "too long")),
            found => Ok(found.cloned()),
        }
    }

    fn location(&self, path: &str) -> String {
        format!("memory:/{path}")
    }
}

fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, &[42; 32]).unwrap()
}

fn checkpoint(size: u64, root: Hash) -> SignedCheckpoint {
    let cp = Checkpoint {
        origin: ORIGIN.into(),
        size,
        root,
        extensions: Vec::new(),
    };
    cp.sign(&signer()).unwrap()
}

/// Proves (`index`, size of `all`) from `files` and compares with the oracle; returns
/// the tiles read.
fn check_one(all: &[Hash], files: &HashMap<String, Vec<u8>>, index: usize) -> TilesProof {
    let size = all.len() as u64;
    let cp = checkpoint(size, mth(all));
    let mut src = Memory::new(files.clone());
    let proof = prove_inclusion(&mut src, &cp, index as u64, &all[index])
        .unwrap_or_else(|e| panic!("index {index} size {size}: {e}"));
    assert_eq!(
        proof.path,
        naive_path(index, all),
        "index {index} size {size}"
    );
    let wanted: Vec<String> = required_tiles(index as u64, size)
        .unwrap()
        .iter()
        .map(Tile::path)
        .collect();
    assert_eq!(src.asked, wanted, "only the needed tiles, each once");
    assert_eq!(proof.tiles_fetched, wanted.len());
    for level in 0..tile_levels(size) {
        let prefix = format!("tile/{level}/");
        let at_level = wanted.iter().filter(|p| p.starts_with(&prefix)).count();
        assert!(
            at_level <= 2,
            "{at_level} tiles at level {level}: {wanted:?}"
        );
    }
    proof
}

#[test]
fn paths_from_tiles_match_the_definition_for_small_trees() {
    for size in (1..=70).chain([255, 256, 257]) {
        let all = leaves(size);
        let files = tile_files(&all, true);
        for index in 0..size {
            check_one(&all, &files, index);
        }
    }
}

#[test]
fn paths_from_tiles_match_the_definition_across_tile_levels() {
    for size in [511, 512, 513, 600, 65_536 + 3] {
        let all = leaves(size);
        let files = tile_files(&all, true);
        let mut indexes = vec![
            0,
            1,
            127,
            254,
            255,
            256,
            257,
            300,
            size / 2,
            size - 2,
            size - 1,
        ];
        if size > 65_536 {
            indexes.extend([12_345, 65_279, 65_280, 65_535, 65_536, 65_537]);
        }
        for index in indexes.into_iter().filter(|&i| i < size) {
            check_one(&all, &files, index);
        }
    }
}

#[test]
fn tile_choice_for_known_shapes() {
    let paths = |index, size| -> Vec<String> {
        required_tiles(index, size)
            .unwrap()
            .iter()
            .map(Tile::path)
            .collect()
    };
    // One leaf: the root is the leaf, nothing to read.
    assert!(paths(0, 1).is_empty());
    assert_eq!(paths(0, 2), ["tile/0/000.p/2"]);
    assert_eq!(paths(3, 256), ["tile/0/000"]);
    // 257 leaves: the leaf's full tile and the single hash of the second tile, or for
    // the last leaf the level-1 hash of the first 256.
    assert_eq!(paths(3, 257), ["tile/0/000", "tile/0/001.p/1"]);
    assert_eq!(paths(256, 257), ["tile/1/000.p/1"]);
    // Leaf 1234 * 256 + 7 of 1235 * 256 sits in the full tile x001/234 at level 0; its
    // ancestor is the last of the 1235 level-1 hashes, in the partial tile 4 of width
    // 211 with its left neighbours, and the first 1024 of them are 4 level-2 hashes.
    let i = 1234 * 256 + 7;
    assert_eq!(
        paths(i, 1235 * 256),
        ["tile/0/x001/234", "tile/1/004.p/211", "tile/2/000.p/4"]
    );
    assert!(matches!(
        required_tiles(5, 5),
        Err(VerifyError::Unsupported(_))
    ));
}

#[test]
fn index_past_the_checkpoint_is_refused_before_fetching() {
    let all = leaves(10);
    let mut src = Memory::new(tile_files(&all, true));
    let cp = checkpoint(10, mth(&all));
    let e = prove_inclusion(&mut src, &cp, 10, &all[0]).unwrap_err();
    assert!(matches!(e, VerifyError::Unsupported(_)), "{e}");
    assert!(!e.is_verification_failure());
    assert!(e.to_string().contains("tree size 10"), "{e}");
    assert!(src.asked.is_empty());
}

#[test]
fn a_grown_tree_without_the_old_partial_tile_falls_back_to_the_full_tile() {
    let grown = leaves(600);
    let old = &grown[..300];
    // The log is now at 600 and published only full tiles and 600's partials.
    let files = tile_files(&grown, true);
    assert!(!files.contains_key("tile/0/001.p/44"));
    let mut src = Memory::new(files.clone());
    let cp = checkpoint(300, mth(old));
    let proof = prove_inclusion(&mut src, &cp, 10, &old[10]).unwrap();
    assert_eq!(proof.path, naive_path(10, old));
    assert_eq!(proof.full_tile_fallbacks, 1);
    assert_eq!(
        src.asked,
        ["tile/0/000", "tile/0/001.p/44", "tile/0/001"],
        "the partial first, then its full tile"
    );

    // The level-1 partial of 300 (width 1) has no full tile yet at 600: not found.
    let mut src = Memory::new(files);
    let e = prove_inclusion(&mut src, &cp, 299, &old[299]).unwrap_err();
    assert!(matches!(e, VerifyError::Fetch { .. }), "{e}");
    assert!(!e.is_verification_failure());
    assert!(e.to_string().contains("tile/1/000.p/1"), "{e}");
}

#[test]
fn a_missing_full_tile_or_checkpoint_is_not_found() {
    let all = leaves(600);
    let mut files = tile_files(&all, true);
    files.remove("tile/0/000");
    let cp = checkpoint(600, mth(&all));
    let e = prove_inclusion(&mut Memory::new(files), &cp, 3, &all[3]).unwrap_err();
    assert!(matches!(e, VerifyError::Fetch { .. }), "{e}");
    assert!(e.to_string().contains("memory:/tile/0/000"), "{e}");

    let e = fetch_checkpoint(&mut Memory::new(HashMap::new()), &signer().verifier()).unwrap_err();
    assert!(matches!(e, VerifyError::Fetch { .. }), "{e}");
}

#[test]
fn tiles_of_the_wrong_length_are_malformed() {
    let all = leaves(300);
    let cp = checkpoint(300, mth(&all));
    for (path, change) in [
        ("tile/0/000", -1i32),
        ("tile/0/000", -32),
        ("tile/0/001.p/44", 32),
        ("tile/0/001.p/44", -32),
        ("tile/0/001.p/44", 1),
    ] {
        let mut files = tile_files(&all, true);
        let bytes = files.get_mut(path).unwrap();
        let len = (bytes.len() as i32 + change) as usize;
        bytes.resize(len, 0);
        let e = prove_inclusion(&mut Memory::new(files), &cp, 3, &all[3]).unwrap_err();
        assert!(
            matches!(e, VerifyError::Malformed { .. }),
            "{path} {change}: {e}"
        );
        assert!(e.to_string().contains(path), "{e}");
    }
    // A full tile served for a fallback must be full too.
    let mut files = tile_files(&leaves(600), false);
    files.get_mut("tile/0/001").unwrap().truncate(44 * 32);
    let e = prove_inclusion(&mut Memory::new(files), &cp, 3, &all[3]).unwrap_err();
    assert!(matches!(e, VerifyError::Malformed { .. }), "{e}");
}

/// Flips one bit in every hash of every tile the proof reads, one at a time: each
/// change makes the check fail, except in the hash of the leaf's own ancestor (the path
/// never reads it: the leaf hash is the caller's).
fn every_hash_matters(size: usize, index: usize) {
    let all = leaves(size);
    let mut src = Memory::new(tile_files(&all, true));
    let cp = checkpoint(size as u64, mth(&all));
    let flip = |src: &mut Memory, tile: &Tile, pos: usize| {
        src.files.get_mut(&tile.path()).unwrap()[pos * 32 + 31] ^= 1;
    };
    for tile in required_tiles(index as u64, size as u64).unwrap() {
        let shift = tile.merkle_level();
        let own = (index as u64 >> shift).checked_sub(tile.index() * 256);
        for pos in 0..usize::from(tile.width()) {
            flip(&mut src, &tile, pos);
            let result = prove_inclusion(&mut src, &cp, index as u64, &all[index]);
            flip(&mut src, &tile, pos);
            if own == Some(pos as u64) {
                assert!(result.is_ok(), "{} pos {pos}", tile.path());
            } else {
                let e = result.expect_err("a changed hash must not verify");
                assert!(e.is_verification_failure(), "{}: {e}", tile.path());
            }
        }
    }
}

#[test]
fn every_changed_hash_fails_the_check() {
    for (size, index) in [
        (2, 0),
        (257, 3),
        (257, 256),
        (300, 299),
        (600, 256),
        (70_000, 66_000),
    ] {
        every_hash_matters(size, index);
    }
}

#[test]
fn a_wrong_leaf_or_a_wrong_key_fails_the_check() {
    let all = leaves(300);
    let files = tile_files(&all, true);
    let cp = checkpoint(300, mth(&all));
    let e = prove_inclusion(&mut Memory::new(files.clone()), &cp, 3, &all[4]).unwrap_err();
    assert!(e.is_verification_failure(), "{e}");
    assert!(matches!(e, VerifyError::Inclusion(_)), "{e}");

    let mut files = files;
    files.insert("checkpoint".into(), cp.as_bytes().to_vec());
    let (_, fetched) =
        fetch_checkpoint(&mut Memory::new(files.clone()), &signer().verifier()).unwrap();
    assert_eq!((fetched.size(), *fetched.root()), (300, mth(&all)));
    let other = NoteSigner::new(ORIGIN, &[7; 32]).unwrap().verifier();
    let e = fetch_checkpoint(&mut Memory::new(files), &other).unwrap_err();
    assert!(e.is_verification_failure(), "{e}");
}

#[test]
fn tile_hashes_refuse_a_wrong_count() {
    let mut t = TileHashes::new(300);
    let tile = Tile::new(0, 1, 44).unwrap();
    assert!(t.insert(tile, vec![Hash([0; 32]); 43]).is_err());
    assert!(t.is_empty());
    t.insert(tile, vec![Hash([0; 32]); 44]).unwrap();
    assert_eq!(t.len(), 1);
}
