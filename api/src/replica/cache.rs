//! The replica's cache of immutable bucket objects (hash tiles, full and partial, and
//! entry bundles): a memory LRU bounded in bytes, and optionally a directory on disk
//! that survives restarts. `checkpoint` is never cached: it is the one object that
//! changes.
//!
//! A hash tile is kept with every level of the subtrees inside it (256 + 128 + … + 1
//! hashes for a full tile), so any complete-subtree hash a proof needs is one lookup.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ledger_core::hash::{node_hash, Hash, HASH_SIZE};
use ledger_core::tiles::TILE_HEIGHT;

/// One cached object: its bytes as the bucket holds them and, for a hash tile, its
/// internal levels (`levels[0]` the tile's hashes, `levels[r]` the nodes `r` above).
#[derive(Debug)]
pub struct Cached {
    pub bytes: Bytes,
    pub levels: Vec<Vec<Hash>>,
}

impl Cached {
    /// An entry bundle (no hashes).
    pub fn raw(bytes: Bytes) -> Cached {
        Cached {
            bytes,
            levels: Vec::new(),
        }
    }

    /// A hash tile whose hashes are `hashes` (already checked for length).
    pub fn tile(bytes: Bytes, hashes: Vec<Hash>) -> Cached {
        let mut levels = vec![hashes];
        for _ in 0..TILE_HEIGHT {
            let below = &levels[levels.len() - 1];
            if below.len() < 2 {
                break;
            }
            let up: Vec<Hash> = below
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
            levels.push(up);
        }
        Cached { bytes, levels }
    }

    /// Memory the entry holds, as counted against the bound.
    fn cost(&self) -> usize {
        let hashes: usize = self.levels.iter().map(Vec::len).sum();
        self.bytes.len() + hashes * HASH_SIZE + 64
    }
}

#[derive(Debug, Default)]
struct Lru {
    entries: HashMap<String, (Arc<Cached>, u64)>,
    order: BTreeMap<u64, String>,
    tick: u64,
    bytes: usize,
}

/// The memory LRU, keyed by object key (`tile/0/x001/234`).
#[derive(Debug)]
pub struct MemoryCache {
    inner: Mutex<Lru>,
    max_bytes: usize,
}

impl MemoryCache {
    pub fn new(max_bytes: usize) -> MemoryCache {
        MemoryCache {
            inner: Mutex::new(Lru::default()),
            max_bytes,
        }
    }

    /// The entry, marked as used just now.
    pub fn get(&self, key: &str) -> Option<Arc<Cached>> {
        let mut lru = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        lru.tick += 1;
        let tick = lru.tick;
        let (value, old) = {
            let (value, at) = lru.entries.get_mut(key)?;
            let old = std::mem::replace(at, tick);
            (value.clone(), old)
        };
        lru.order.remove(&old);
        lru.order.insert(tick, key.to_string());
        Some(value)
    }

    /// Adds an entry, evicting the least recently used ones beyond the bound.
    pub fn insert(&self, key: &str, value: Arc<Cached>) {
        let cost = value.cost();
        if cost > self.max_bytes {
            return;
        }
        let mut lru = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        lru.tick += 1;
        let tick = lru.tick;
        if let Some((old, at)) = lru.entries.insert(key.to_string(), (value, tick)) {
            lru.bytes -= old.cost();
            lru.order.remove(&at);
        }
        lru.order.insert(tick, key.to_string());
        lru.bytes += cost;
        while lru.bytes > self.max_bytes {
            let Some((_, victim)) = lru.order.pop_first() else {
                break;
            };
            if let Some((gone, _)) = lru.entries.remove(&victim) {
                lru.bytes -= gone.cost();
            }
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).bytes
    }
}

/// The optional disk cache: one file per object under `<dir>/objects/`, written to a
/// temporary name and renamed, so a crash leaves either the whole object or none.
/// Blocking; callers run it on the blocking pool.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    pub fn new(dir: &Path) -> DiskCache {
        DiskCache {
            dir: dir.join("objects"),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// The stored bytes, `None` when the object was never stored.
    pub fn read(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(key)).ok()
    }

    /// Stores an object. A failure only costs a later bucket read, so it is logged.
    pub fn write(&self, key: &str, bytes: &[u8]) {
        let path = self.path(key);
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let result = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, bytes))
            // Crash here: only the temporary file exists; the object is read from the
            // bucket again and the temporary file is overwritten next time.
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = result {
            tracing::warn!("replica disk cache: writing {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_core::hash::leaf_hash;

    #[test]
    fn tile_levels_fold_pairs_and_the_lru_keeps_its_bound() {
        let hashes: Vec<Hash> = (0..256u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let t = Cached::tile(Bytes::from(vec![0; 8192]), hashes.clone());
        assert_eq!(t.levels.len(), 9);
        assert_eq!(t.levels[1][0], node_hash(&hashes[0], &hashes[1]));
        assert_eq!(t.levels[8].len(), 1);
        let partial = Cached::tile(Bytes::new(), hashes[..5].to_vec());
        assert_eq!(
            partial.levels.iter().map(Vec::len).collect::<Vec<_>>(),
            [5, 2, 1]
        );
        let cost = Cached::raw(Bytes::from(vec![0; 100])).cost();
        let cache = MemoryCache::new(cost * 2);
        for k in ["a", "b"] {
            cache.insert(k, Arc::new(Cached::raw(Bytes::from(vec![0; 100]))));
        }
        assert!(cache.get("a").is_some());
        cache.insert("c", Arc::new(Cached::raw(Bytes::from(vec![0; 100]))));
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        assert!(cache.bytes() <= cost * 2);
    }
}
