//! C2SP tlog-tiles against `shared/vectors/merkle/tlog_tiles.json`: path encoding and
//! parsing (Tessera's cases and the spec's), the tiles of a tree size, and the tile and
//! bundle contents of a 600-entry log. Level-0 tile hashes are also checked against
//! SHA-256 computed here, independently of the crate.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ledger_core::proof::ProofError;
use ledger_core::tiles::{
    encode_entry_bundle, encode_index, full_tile_count, parse_entry_bundle, parse_index,
    parse_path, parse_tile, partial_tiles, tile_contents, tile_levels, tiles_for_size, EntryBundle,
    Tile, TileError, TilePath, MAX_ENTRY_SIZE,
};
use ledger_core::tree::MemoryTree;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn vectors_dir() -> PathBuf {
    let manifest = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    );
    manifest
        .ancestors()
        .map(|d| d.join("shared").join("vectors"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| panic!("no shared/vectors above {}", manifest.display()))
}

fn vectors() -> Value {
    let path = vectors_dir().join("merkle").join("tlog_tiles.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn entry(i: u64) -> Vec<u8> {
    format!("leaf {i}").into_bytes()
}

#[test]
fn hash_tile_paths() {
    let cases = vectors()["tile_paths"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 8);
    for c in &cases {
        let tile = Tile::new(u(c, "level") as u8, u(c, "index"), u(c, "width") as u16).unwrap();
        assert_eq!(tile.path(), s(c, "path"));
        assert_eq!(Tile::parse_path(s(c, "path")).unwrap(), tile);
        assert_eq!(parse_path(s(c, "path")).unwrap(), TilePath::Hashes(tile));
        assert_eq!(tile.is_partial(), u(c, "width") < 256);
        assert!(EntryBundle::parse_path(s(c, "path")).is_err());
    }
}

#[test]
fn entry_bundle_paths() {
    let v = vectors();
    for c in v["entries_paths"].as_array().unwrap() {
        let bundle = EntryBundle::new(u(c, "index"), u(c, "width") as u16).unwrap();
        assert_eq!(bundle.path(), s(c, "path"));
        assert_eq!(EntryBundle::parse_path(s(c, "path")).unwrap(), bundle);
        assert_eq!(parse_path(s(c, "path")).unwrap().path(), s(c, "path"));
        assert!(Tile::parse_path(s(c, "path")).is_err());
    }
    let cases = v["entries_path_for_log_index"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    for c in cases {
        let bundle = EntryBundle::for_entry(u(c, "seq"), u(c, "log_size")).unwrap();
        assert_eq!(bundle.path(), s(c, "path"), "{c}");
        assert!(bundle.entry_range().unwrap().contains(&u(c, "seq")));
    }
    assert_eq!(
        EntryBundle::for_entry(256, 256),
        Err(TileError::IndexOutOfRange {
            index: 256,
            size: 256
        })
    );
}

#[test]
fn path_parse_cases() {
    let cases = vectors()["parse_cases"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 21);
    for c in &cases {
        let path = format!("tile/{}/{}", s(c, "level"), s(c, "index"));
        let got = Tile::parse_path(&path);
        if c["ok"].as_bool().unwrap() {
            let want = c["want"].as_array().unwrap();
            let tile = got.unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(u64::from(tile.level()), want[0].as_u64().unwrap(), "{path}");
            assert_eq!(tile.index(), want[1].as_u64().unwrap(), "{path}");
            let width = want[2].as_u64().map_or(256, |w| w as u16);
            assert_eq!(tile.width(), width, "{path}");
            // Accepted paths are canonical: formatting gives the same string back.
            assert_eq!(tile.path(), path);
            // The same index part names the same bundle.
            let bundle =
                EntryBundle::parse_path(&format!("tile/entries/{}", s(c, "index"))).unwrap();
            assert_eq!(
                (bundle.index(), bundle.width()),
                (tile.index(), tile.width())
            );
        } else {
            assert!(
                got.is_err(),
                "{path} accepted: {got:?} ({:?})",
                c.get("why")
            );
            if s(c, "level") == "0" || s(c, "level") == "8" {
                let entries = format!("tile/entries/{}", s(c, "index"));
                assert!(EntryBundle::parse_path(&entries).is_err(), "{entries}");
            }
        }
    }
}

#[test]
fn more_path_cases() {
    for bad in [
        "",
        "tile",
        "tile/",
        "tile/0",
        "tile/0/",
        "tiles/0/000",
        "/tile/0/000",
        "tile/0/000/",
        "tile/0/x000/001",  // leading x000: another spelling of 1
        "tile/0/x001/x000", // the last element has no x
        "tile/0/X001/000",
        "tile/0/00",
        "tile/0/+01",
        "tile/0/000.p/01",
        "tile/0/000.p/-1",
        "tile/0/000.p/1.p/2",
        "tile/0/000.p/255/",
        "tile/entries/000.p/0",
        "tile/entries/000.p/256",
        "tile/Entries/000",
        "tile/entries",
        "tile/01/000",
        "tile/ 0/000",
        "tile/0/x18446744073709551616/000",
    ] {
        assert!(parse_path(bad).is_err(), "{bad:?}");
    }
    // Bounds of the encodings.
    for n in [0, 1, 999, 1000, 1_000_000, 1234067, u64::MAX - 1, u64::MAX] {
        let encoded = encode_index(n);
        assert_eq!(parse_index(&encoded), Ok(n), "{encoded}");
        let tile = Tile::new(63, n, 255).unwrap();
        assert_eq!(Tile::parse_path(&tile.path()), Ok(tile));
    }
    assert_eq!(encode_index(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
    assert!(parse_index("x018/x446/x744/x073/x709/x551/616").is_err());
    assert_eq!(Tile::new(64, 0, 256), Err(TileError::LevelTooHigh(64)));
    assert_eq!(Tile::new(0, 0, 0), Err(TileError::InvalidWidth(0)));
    assert_eq!(Tile::new(0, 0, 257), Err(TileError::InvalidWidth(257)));
    assert_eq!(EntryBundle::new(0, 0), Err(TileError::InvalidWidth(0)));
}

#[test]
fn tiles_for_tree_sizes() {
    let v = vectors();
    let sizes = v["tiles_for_tree_size"].as_object().unwrap();
    assert_eq!(sizes.len(), 7);
    for (size, want) in sizes {
        let size: u64 = size.parse().unwrap();
        let full: BTreeMap<u8, u64> = want["full_tiles_per_level"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(l, n)| (l.parse().unwrap(), n.as_u64().unwrap()))
            .collect();
        // Exactly the levels listed exist.
        assert_eq!(
            (0..tile_levels(size)).collect::<Vec<_>>(),
            full.keys().copied().collect::<Vec<_>>(),
            "size {size}"
        );
        for (&level, &count) in &full {
            assert_eq!(
                full_tile_count(size, level),
                count,
                "size {size} level {level}"
            );
        }
        let partial: Vec<(u8, u64, u16, String)> = want["partial_tiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    u(t, "level") as u8,
                    u(t, "index"),
                    u(t, "width") as u16,
                    s(t, "path").to_owned(),
                )
            })
            .collect();
        let got: Vec<(u8, u64, u16, String)> = partial_tiles(size)
            .iter()
            .map(|t| (t.level(), t.index(), t.width(), t.path()))
            .collect();
        assert_eq!(got, partial, "size {size}");

        // The lazy listing of every tile agrees with the counts.
        let all: Vec<Tile> = tiles_for_size(size).collect();
        let expected_len = full.values().sum::<u64>() as usize + partial.len();
        assert_eq!(all.len(), expected_len, "size {size}");
        for (&level, &count) in &full {
            let at_level: Vec<&Tile> = all.iter().filter(|t| t.level() == level).collect();
            let full_here: Vec<u64> = at_level
                .iter()
                .filter(|t| !t.is_partial())
                .map(|t| t.index())
                .collect();
            assert_eq!(full_here, (0..count).collect::<Vec<_>>());
        }
    }
    assert_eq!(tile_levels(0), 0);
    assert!(partial_tiles(0).is_empty());
    assert_eq!(tiles_for_size(0).count(), 0);
    // The largest tree: levels 0..=7, each with a partial tile of width 255.
    assert_eq!(tile_levels(u64::MAX), 8);
    let partial = partial_tiles(u64::MAX);
    assert_eq!(partial.len(), 8);
    assert!(partial.iter().all(|t| t.width() == 255));
}

#[test]
fn tile_and_bundle_contents_of_the_600_entry_log() {
    let v = vectors();
    let c = &v["tile_contents_600"];
    let size = u(c, "tree_size");
    let mut tree = MemoryTree::new();
    for i in 0..size {
        tree.push_entry(&entry(i));
    }
    assert_eq!(tree.root().to_string(), s(c, "root_hex"));

    let tiles = c["tiles"].as_array().unwrap();
    let listed: Vec<String> = tiles.iter().map(|t| s(t, "path").to_owned()).collect();
    let ours: Vec<String> = tiles_for_size(size).map(|t| t.path()).collect();
    assert_eq!(ours, listed, "the tiles of a 600-leaf tree");

    for t in tiles {
        let tile = Tile::parse_path(s(t, "path")).unwrap();
        let bytes = tile_contents(&tree, size, &tile).unwrap();
        assert_eq!(bytes.len() as u64, u(t, "bytes_len"), "{}", s(t, "path"));
        assert_eq!(hex::encode(Sha256::digest(&bytes)), s(t, "sha256_of_bytes"));
        assert_eq!(hex::encode(&bytes[..32]), s(t, "first_hash"));
        assert_eq!(hex::encode(&bytes[bytes.len() - 32..]), s(t, "last_hash"));
        let hashes = parse_tile(&bytes, &tile).unwrap();
        assert_eq!(hashes.len(), usize::from(tile.width()));
        if tile.level() == 0 {
            // Independent oracle: level-0 hashes are SHA-256(0x00 || entry).
            for (k, h) in hashes.iter().enumerate() {
                let i = tile.index() * 256 + k as u64;
                let mut d = Sha256::new();
                d.update([0u8]);
                d.update(entry(i));
                assert_eq!(h.0, <[u8; 32]>::from(d.finalize()), "leaf {i}");
            }
        }
        assert!(matches!(
            parse_tile(&bytes[1..], &tile),
            Err(TileError::WrongTileLength { .. })
        ));
    }

    let bundles = c["bundles"].as_array().unwrap();
    for b in bundles {
        let bundle = EntryBundle::parse_path(s(b, "path")).unwrap();
        assert_eq!(u64::from(bundle.width()), u(b, "count"));
        let range = bundle.entry_range().unwrap();
        let entries: Vec<Vec<u8>> = range.clone().map(entry).collect();
        let bytes = encode_entry_bundle(&entries).unwrap();
        assert_eq!(bytes.len() as u64, u(b, "bytes_len"), "{}", s(b, "path"));
        assert_eq!(hex::encode(Sha256::digest(&bytes)), s(b, "sha256_of_bytes"));
        assert_eq!(hex::encode(&bytes[..64]), s(b, "first_64_bytes_hex"));
        let back = parse_entry_bundle(&bytes, &bundle).unwrap();
        assert_eq!(back, entries.iter().map(Vec::as_slice).collect::<Vec<_>>());
        // Every entry's bundle, as the log would look it up.
        for i in range {
            assert_eq!(EntryBundle::for_entry(i, size).unwrap(), bundle);
        }
    }
}

#[test]
fn tiles_beyond_the_tree_are_refused() {
    let mut tree = MemoryTree::new();
    for i in 0..600 {
        tree.push_entry(&entry(i));
    }
    for (path, last_leaf) in [
        ("tile/0/002", 767u64),
        ("tile/0/002.p/89", 600),
        ("tile/0/003.p/1", 768),
        ("tile/1/000", 65535),
        ("tile/1/000.p/3", 767),
    ] {
        let tile = Tile::parse_path(path).unwrap();
        assert_eq!(
            tile_contents(&tree, 600, &tile),
            Err(ProofError::IndexOutOfRange {
                index: last_leaf,
                size: 600
            }),
            "{path}"
        );
    }
    // Tiles no u64 tree can hold.
    for tile in [
        Tile::new(8, 0, 1).unwrap(),
        Tile::new(63, 0, 256).unwrap(),
        Tile::new(0, u64::MAX, 256).unwrap(),
    ] {
        assert!(tile_contents(&tree, 600, &tile).is_err(), "{}", tile.path());
        assert!(tile.leaf_range().is_none());
    }
    // A partial tile of a smaller, earlier tree size is still served from the same
    // tree: the hashes are those of complete subtrees.
    let early = tile_contents(&tree, 600, &Tile::new(0, 0, 7).unwrap()).unwrap();
    let full = tile_contents(&tree, 600, &Tile::new(0, 0, 256).unwrap()).unwrap();
    assert_eq!(early, full[..7 * 32]);
}

#[test]
fn entry_bundle_limits() {
    let max = vec![0xabu8; MAX_ENTRY_SIZE];
    let bytes = encode_entry_bundle(&[&max[..], b""]).unwrap();
    assert_eq!(&bytes[..2], &[0xff, 0xff]);
    let bundle = EntryBundle::new(0, 2).unwrap();
    assert_eq!(
        parse_entry_bundle(&bytes, &bundle).unwrap(),
        vec![&max[..], b""]
    );
    let too_big = vec![0u8; MAX_ENTRY_SIZE + 1];
    assert_eq!(
        encode_entry_bundle(&[&too_big[..]]),
        Err(TileError::EntryTooLarge(MAX_ENTRY_SIZE + 1))
    );
    let none: [&[u8]; 0] = [];
    assert_eq!(
        encode_entry_bundle(&none),
        Err(TileError::WrongEntryCount(0))
    );
    let many = vec![b"x".as_slice(); 257];
    assert_eq!(
        encode_entry_bundle(&many),
        Err(TileError::WrongEntryCount(257))
    );
    assert!(encode_entry_bundle(&many[..256]).is_ok());

    let three = encode_entry_bundle(&[b"a".as_slice(), b"bc", b""]).unwrap();
    assert_eq!(three, [0, 1, b'a', 0, 2, b'b', b'c', 0, 0]);
    let w3 = EntryBundle::new(0, 3).unwrap();
    assert!(parse_entry_bundle(&three, &w3).is_ok());
    // Every truncation fails, as does a wrong width or trailing bytes.
    for cut in 0..three.len() {
        assert!(parse_entry_bundle(&three[..cut], &w3).is_err(), "cut {cut}");
    }
    assert!(parse_entry_bundle(&three, &EntryBundle::new(0, 2).unwrap()).is_err());
    assert!(parse_entry_bundle(&three, &EntryBundle::new(0, 4).unwrap()).is_err());
    let mut trailing = three.clone();
    trailing.push(0);
    assert!(parse_entry_bundle(&trailing, &w3).is_err());
}
