//! The RocksDB store of one log: entries, stored hashes, the dedup index, signed
//! checkpoints and metadata, each in its own column family.
//!
//! Layout (all integers big-endian so that key order is index order):
//!
//! | column family | key | value |
//! |---|---|---|
//! | `entries` | index u64 | entry bytes |
//! | `hashes` | stratum u8, tile u64 | up to 16 hashes of Merkle level 4·stratum, indexes 16·tile.. |
//! | `dedup` | first 8 bytes of the leaf hash | index u64 (more than one only on a prefix collision) |
//! | `checkpoints` | tree size u64 | signed checkpoint note, verbatim |
//! | `meta` | `size`, `format` | u64 |
//!
//! Only every fourth level of the tree is stored ("strata" of height 4): that is about
//! 34 bytes of hashes per entry instead of the 64 of storing every node, and any other
//! complete subtree hash is at most 8 stored hashes folded together. The dedup key holds
//! a hash prefix rather than the whole hash for the same reason; a prefix hit is confirmed
//! against the full leaf hash in the `hashes` family before it counts, and the rare
//! prefix collision keeps every index under the one key.
//!
//! Every group commit is one `WriteBatch` written with a synced WAL, so after a crash the
//! store holds either all of a batch (entries, hashes, dedup keys, checkpoint, size) or
//! none of it.

use std::path::{Path, PathBuf};

use ledger_core::hash::{node_hash, Hash, HASH_SIZE};
use ledger_core::proof::SubtreeSource;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, Direction, IteratorMode,
    Options, WriteBatch, WriteOptions, DB,
};

use crate::derived::StateWrites;
use crate::error::LedgerError;

/// Height of one stored stratum: hashes are kept for Merkle levels 0, 4, 8, …
pub const STRATUM_HEIGHT: u8 = 4;
/// Hashes in one stored tile of a stratum.
pub const STRATUM_WIDTH: u64 = 1 << STRATUM_HEIGHT;
/// Largest entry a log accepts (C2SP tlog-tiles entry bundles use a 16-bit length).
pub const MAX_ENTRY_SIZE: usize = 65_535;

const CF_ENTRIES: &str = "entries";
const CF_HASHES: &str = "hashes";
const CF_DEDUP: &str = "dedup";
const CF_CHECKPOINTS: &str = "checkpoints";
const CF_META: &str = "meta";
/// OpenTimestamps stamps of checkpoints, keyed by tree size. The value is opaque to the
/// store (the server's anchoring module owns its encoding); it lives here so a stamp and
/// its checkpoint are backed up, restored and synced together.
const CF_ANCHORS: &str = "anchors";
/// Derived state of the entries (see [`crate::derived`]): opaque keys and values.
const CF_STATE: &str = "state";
const META_SIZE: &[u8] = b"size";
/// The tree size the `state` family covers.
const META_STATE_SIZE: &[u8] = b"state_size";
const META_FORMAT: &[u8] = b"format";
const FORMAT_VERSION: u64 = 1;
const DEDUP_PREFIX: usize = 8;
/// Memtable size of the dedup family: about 150,000 keys, so its skiplist stays small.
const DEDUP_WRITE_BUFFER: usize = 8 << 20;
/// Memtable bloom filter size as a fraction of the memtable (about 40 bits per key).
const DEDUP_MEMTABLE_BLOOM_RATIO: f64 = 0.1;

/// Tuning of the RocksDB instance.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Shared block cache for all column families, in bytes.
    pub block_cache_bytes: usize,
    /// Write flushed and compacted tables with O_DIRECT where the file system
    /// accepts it (probed at open; file systems that refuse it fall back to buffered
    /// writes).
    pub direct_io: bool,
    /// Memtable size of every column family; `None` keeps RocksDB's default (64 MiB;
    /// 8 MiB for the dedup family). Crash tests set it small so that flushes and
    /// compactions run while the process is being killed.
    pub write_buffer_bytes: Option<usize>,
    /// Free space the data directory's file system must keep: below it the sequencer
    /// refuses appends with a retryable [`LedgerError::NoSpace`] (see [`crate::space`]).
    /// 0 disables the check.
    pub min_free_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            block_cache_bytes: 256 << 20,
            direct_io: true,
            write_buffer_bytes: None,
            min_free_bytes: crate::space::DEFAULT_MIN_FREE_BYTES,
        }
    }
}

/// Everything one group commit writes, applied atomically by [`Store::commit`].
#[derive(Debug, Default)]
pub struct Commit {
    /// Index of the first new entry; equals the size before the commit.
    pub first_index: u64,
    /// New entries in index order, with their leaf hashes.
    pub entries: Vec<(Vec<u8>, Hash)>,
    /// Dedup values to write: the 8-byte leaf prefix and every index with that prefix.
    pub dedup: Vec<([u8; 8], Vec<u64>)>,
    /// Stored-hash tiles to (re)write: (stratum, tile index, all hashes of the tile so far).
    pub tiles: Vec<(u8, u64, Vec<Hash>)>,
    /// The tree size after the commit and its signed checkpoint note.
    pub new_size: u64,
    pub checkpoint: Vec<u8>,
    /// Derived-state writes of the new entries; `Some` (even empty) also records that
    /// the derived state covers `new_size`.
    pub state: Option<StateWrites>,
}

/// One log's RocksDB database.
pub struct Store {
    db: DB,
    path: PathBuf,
    upper: UpperCache,
    direct_io: bool,
}

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn hash_key(stratum: u8, tile: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = stratum;
    k[1..].copy_from_slice(&tile.to_be_bytes());
    k
}

fn dedup_key(leaf: &Hash) -> &[u8] {
    &leaf.0[..DEDUP_PREFIX]
}

/// What the dedup index knows of one leaf hash, see [`Store::lookup_leaves`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafLookup {
    /// Logged before at this index.
    Found(u64),
    /// Not logged. `prefix_indexes` lists other entries sharing the 8-byte key prefix
    /// (almost always empty); a new entry's dedup value must keep them.
    Absent { prefix_indexes: Vec<u64> },
}

fn hex_prefix(leaf: &Hash) -> String {
    leaf.0[..DEDUP_PREFIX]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `dir` accepts an aligned O_DIRECT write: creates the directory if needed,
/// writes one 4 KiB block to a probe file and removes it. Any failure means "no".
fn direct_io_works(dir: &Path) -> bool {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    const BLOCK: usize = 4096;
    if std::fs::create_dir_all(dir).is_err() {
        return false;
    }
    let probe = dir.join(".direct-io-probe");
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_DIRECT)
            .open(&probe)
            .ok()?;
        // O_DIRECT needs a block-aligned buffer: take a 4 KiB window of a larger one.
        let buf = vec![0u8; 2 * BLOCK];
        let offset = buf.as_ptr().align_offset(BLOCK);
        file.write_all(&buf[offset..offset + BLOCK]).ok()
    })();
    let _ = std::fs::remove_file(&probe);
    written.is_some()
}

fn read_u64(bytes: &[u8], what: &str) -> Result<u64, LedgerError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| {
        LedgerError::corrupt(format!("{what} is {} bytes, expected 8", bytes.len()))
    })?;
    Ok(u64::from_be_bytes(arr))
}

impl Store {
    /// Opens (creating if needed) the store at `path`. This does not check the tree
    /// against its checkpoint; [`crate::Log::open`] does that with the log key.
    pub fn open(path: &Path, options: &StoreOptions) -> Result<Store, LedgerError> {
        let cache = Cache::new_lru_cache(options.block_cache_bytes);
        let table = |bloom_bits: Option<f64>| {
            let mut t = BlockBasedOptions::default();
            t.set_block_cache(&cache);
            t.set_cache_index_and_filter_blocks(true);
            t.set_pin_l0_filter_and_index_blocks_in_cache(true);
            if let Some(bits) = bloom_bits {
                t.set_bloom_filter(bits, false);
            }
            t
        };
        let cf_options = |t: BlockBasedOptions| {
            let mut o = Options::default();
            o.set_block_based_table_factory(&t);
            o.set_compression_type(DBCompressionType::Lz4);
            if let Some(bytes) = options.write_buffer_bytes {
                o.set_write_buffer_size(bytes);
            }
            o
        };
        let cf =
            |name: &str, t: BlockBasedOptions| ColumnFamilyDescriptor::new(name, cf_options(t));
        let mut dedup = cf_options(table(Some(10.0)));
        // The dedup family takes 1024 random keys per group commit and is probed for
        // every new leaf, almost always for a key that does not exist. A small memtable
        // keeps its skiplist cache-sized (inserts and probes were the sequencer's and
        // writer's largest costs at 1M entries), and a memtable bloom filter answers
        // "absent" without walking the skiplist at all.
        dedup.set_write_buffer_size(options.write_buffer_bytes.unwrap_or(DEDUP_WRITE_BUFFER));
        dedup.set_memtable_whole_key_filtering(true);
        dedup.set_memtable_prefix_bloom_ratio(DEDUP_MEMTABLE_BLOOM_RATIO);
        let cfs = vec![
            cf(CF_ENTRIES, table(None)),
            cf(CF_HASHES, table(None)),
            ColumnFamilyDescriptor::new(CF_DEDUP, dedup),
            cf(CF_CHECKPOINTS, table(None)),
            cf(CF_META, table(None)),
            cf(CF_ANCHORS, table(None)),
            cf(CF_STATE, table(None)),
        ];
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_max_background_jobs(2);
        db_opts.set_bytes_per_sync(1 << 20);
        // Paranoid checks make RocksDB refuse to open on detected corruption rather
        // than skip damaged records.
        db_opts.set_paranoid_checks(true);
        // Flushes and compactions rewrite every entry once more; through the page
        // cache that copy cost as much CPU as the WAL write itself, on the two cores the
        // sequencer and writer need (docs/PERFORMANCE.md). The WAL stays buffered and
        // synced per group commit; reads still use the page cache.
        let direct = options.direct_io && direct_io_works(path);
        db_opts.set_use_direct_io_for_flush_and_compaction(direct);
        let db = DB::open_cf_descriptors(&db_opts, path, cfs)?;
        let store = Store {
            db,
            path: path.to_path_buf(),
            upper: UpperCache::new(),
            direct_io: direct,
        };
        store.check_format()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether flushes and compactions write with O_DIRECT (see [`StoreOptions`]).
    pub fn direct_io(&self) -> bool {
        self.direct_io
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        // The families are created at open; a missing handle is a programming error.
        self.db
            .cf_handle(name)
            .expect("column family opened with the store")
    }

    fn check_format(&self) -> Result<(), LedgerError> {
        let meta = self.cf(CF_META);
        match self.db.get_pinned_cf(meta, META_FORMAT)? {
            Some(v) => {
                let version = read_u64(&v, "format version")?;
                if version != FORMAT_VERSION {
                    return Err(LedgerError::corrupt(format!(
                        "store format version {version}, this build reads {FORMAT_VERSION}"
                    )));
                }
            }
            None => {
                // A new store: record the format before anything else is written.
                // Crash here: the next open writes it again; nothing else exists yet.
                let mut wo = WriteOptions::default();
                wo.set_sync(true);
                self.db
                    .put_cf_opt(meta, META_FORMAT, be(FORMAT_VERSION), &wo)?;
            }
        }
        Ok(())
    }

    /// The committed tree size (0 for a new store).
    pub fn size(&self) -> Result<u64, LedgerError> {
        match self.db.get_pinned_cf(self.cf(CF_META), META_SIZE)? {
            Some(v) => read_u64(&v, "stored tree size"),
            None => Ok(0),
        }
    }

    /// The entry at `index`, if committed.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.db.get_cf(self.cf(CF_ENTRIES), be(index))?)
    }

    /// Entries `start..end` in order; fails if any is missing.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, LedgerError> {
        let mut out = Vec::with_capacity(end.saturating_sub(start).min(1 << 16) as usize);
        let from = be(start);
        let iter = self.db.iterator_cf(
            self.cf(CF_ENTRIES),
            IteratorMode::From(&from, Direction::Forward),
        );
        let mut expect = start;
        for item in iter {
            if expect >= end {
                break;
            }
            let (k, v) = item?;
            let index = read_u64(&k, "entry key")?;
            if index != expect {
                return Err(LedgerError::corrupt(format!(
                    "entry {expect} is missing (next stored entry is {index})"
                )));
            }
            out.push(v.into_vec());
            expect += 1;
        }
        if expect < end {
            return Err(LedgerError::NotFound {
                what: format!("entry {expect}"),
            });
        }
        Ok(out)
    }

    /// The stored hashes of one tile of a stratum (up to 16, fewer for the edge tile).
    pub fn stored_tile(&self, stratum: u8, tile: u64) -> Result<Vec<Hash>, LedgerError> {
        let Some(v) = self
            .db
            .get_pinned_cf(self.cf(CF_HASHES), hash_key(stratum, tile))?
        else {
            return Ok(Vec::new());
        };
        if v.len() % HASH_SIZE != 0 || v.len() > HASH_SIZE * STRATUM_WIDTH as usize {
            return Err(LedgerError::corrupt(format!(
                "hash tile (stratum {stratum}, tile {tile}) is {} bytes, not a whole number of at most {STRATUM_WIDTH} hashes",
                v.len()
            )));
        }
        Ok(v.chunks_exact(HASH_SIZE)
            .map(|c| Hash::from_slice(c).expect("chunk is 32 bytes"))
            .collect())
    }

    /// Looks up many leaf hashes at once among the entries below `size`. One batched
    /// RocksDB multi-get for the whole batch; whole-key bloom filters answer most misses
    /// without touching a data block.
    pub fn lookup_leaves(
        &self,
        leaves: &[Hash],
        size: u64,
    ) -> Result<Vec<LeafLookup>, LedgerError> {
        let keys: Vec<&[u8]> = leaves.iter().map(dedup_key).collect();
        let values = self
            .db
            .batched_multi_get_cf(self.cf(CF_DEDUP), keys.iter().copied(), false);
        let mut out = Vec::with_capacity(leaves.len());
        for (leaf, value) in leaves.iter().zip(values) {
            let Some(value) = value? else {
                out.push(LeafLookup::Absent {
                    prefix_indexes: Vec::new(),
                });
                continue;
            };
            if value.is_empty() || value.len() % 8 != 0 {
                return Err(LedgerError::corrupt(format!(
                    "dedup value for leaf prefix {} is {} bytes, expected a non-empty multiple of 8",
                    hex_prefix(leaf),
                    value.len()
                )));
            }
            let mut found = None;
            let mut indexes = Vec::with_capacity(value.len() / 8);
            for chunk in value.chunks_exact(8) {
                let index = read_u64(chunk, "dedup index")?;
                indexes.push(index);
                if found.is_none() && index < size && self.subtree_hash(0, index)? == *leaf {
                    found = Some(index);
                }
            }
            out.push(match found {
                Some(index) => LeafLookup::Found(index),
                None => LeafLookup::Absent {
                    prefix_indexes: indexes,
                },
            });
        }
        Ok(out)
    }

    /// Looks for an entry with this leaf hash among indexes below `size`.
    pub fn find_leaf(&self, leaf: &Hash, size: u64) -> Result<Option<u64>, LedgerError> {
        match self.lookup_leaves(std::slice::from_ref(leaf), size)?.pop() {
            Some(LeafLookup::Found(index)) => Ok(Some(index)),
            _ => Ok(None),
        }
    }

    /// The signed checkpoint note stored for exactly this tree size.
    pub fn checkpoint(&self, size: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.db.get_cf(self.cf(CF_CHECKPOINTS), be(size))?)
    }

    /// The checkpoint with the largest tree size.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, LedgerError> {
        let mut iter = self
            .db
            .iterator_cf(self.cf(CF_CHECKPOINTS), IteratorMode::End);
        match iter.next() {
            Some(item) => {
                let (k, v) = item?;
                Ok(Some((read_u64(&k, "checkpoint key")?, v.into_vec())))
            }
            None => Ok(None),
        }
    }

    /// Every stored checkpoint from the given size upwards, smallest first.
    pub fn checkpoints_from(
        &self,
        from: u64,
    ) -> impl Iterator<Item = Result<(u64, Vec<u8>), LedgerError>> + '_ {
        let start = be(from);
        self.db
            .iterator_cf(
                self.cf(CF_CHECKPOINTS),
                IteratorMode::From(&start, Direction::Forward),
            )
            .map(|item| {
                let (k, v) = item?;
                Ok((read_u64(&k, "checkpoint key")?, v.into_vec()))
            })
    }

    /// Stores (or replaces) the anchoring record of the checkpoint of tree size `size`,
    /// synced before returning. Refused for a size that has no stored checkpoint: a stamp
    /// without its checkpoint proves nothing.
    pub fn put_anchor(&self, size: u64, value: &[u8]) -> Result<(), LedgerError> {
        if self.checkpoint(size)?.is_none() {
            return Err(LedgerError::corrupt(format!(
                "anchor for tree size {size}, which has no stored checkpoint"
            )));
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db
            .put_cf_opt(self.cf(CF_ANCHORS), be(size), value, &wo)?;
        Ok(())
    }

    /// The anchoring record stored for exactly this tree size.
    pub fn anchor(&self, size: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.db.get_cf(self.cf(CF_ANCHORS), be(size))?)
    }

    /// Anchoring records from tree size `from` upwards (smallest first), or downwards
    /// from `from` (largest first) when `descending`.
    pub fn anchors(
        &self,
        from: u64,
        descending: bool,
    ) -> impl Iterator<Item = Result<(u64, Vec<u8>), LedgerError>> + '_ {
        let start = be(from);
        let direction = if descending {
            Direction::Reverse
        } else {
            Direction::Forward
        };
        self.db
            .iterator_cf(self.cf(CF_ANCHORS), IteratorMode::From(&start, direction))
            .map(|item| {
                let (k, v) = item?;
                Ok((read_u64(&k, "anchor key")?, v.into_vec()))
            })
    }

    /// The tree size the derived state covers; `None` when none was ever written.
    pub fn state_size(&self) -> Result<Option<u64>, LedgerError> {
        match self.db.get_pinned_cf(self.cf(CF_META), META_STATE_SIZE)? {
            Some(v) => Ok(Some(read_u64(&v, "derived-state size")?)),
            None => Ok(None),
        }
    }

    /// The derived-state pairs whose key starts with `prefix`, in key order.
    pub fn state_scan<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), LedgerError>> + 'a {
        self.db
            .iterator_cf(
                self.cf(CF_STATE),
                IteratorMode::From(prefix, Direction::Forward),
            )
            .map(|item| {
                let (k, v) = item?;
                Ok((k.into_vec(), v.into_vec()))
            })
            .take_while(move |item| match item {
                Ok((k, _)) => k.starts_with(prefix),
                Err(_) => true,
            })
    }

    /// Replaces the whole derived state with `writes`, covering tree size `size`, in one
    /// synced batch: every old pair is deleted, so nothing stale survives. Refuses when
    /// the store's size is not `size` (entries were appended since the caller read them).
    pub fn replace_state(&self, writes: &StateWrites, size: u64) -> Result<(), LedgerError> {
        let stored = self.size()?;
        if stored != size {
            return Err(LedgerError::corrupt(format!(
                "derived state built for size {size}, but the store holds {stored} entries"
            )));
        }
        let state = self.cf(CF_STATE);
        let mut batch = WriteBatch::default();
        for item in self.db.iterator_cf(state, IteratorMode::Start) {
            let (key, _) = item?;
            batch.delete_cf(state, key);
        }
        for (key, value) in writes {
            batch.put_cf(state, key, value);
        }
        batch.put_cf(self.cf(CF_META), META_STATE_SIZE, be(size));
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        Ok(())
    }

    /// Writes one group commit atomically with a synced WAL.
    pub fn commit(&self, commit: &Commit) -> Result<(), LedgerError> {
        let mut batch = WriteBatch::default();
        let entries = self.cf(CF_ENTRIES);
        let dedup = self.cf(CF_DEDUP);
        let hashes = self.cf(CF_HASHES);
        for (i, (entry, _leaf)) in commit.entries.iter().enumerate() {
            batch.put_cf(entries, be(commit.first_index + i as u64), entry);
        }
        let mut value = Vec::with_capacity(8);
        for (prefix, indexes) in &commit.dedup {
            value.clear();
            for index in indexes {
                value.extend_from_slice(&index.to_be_bytes());
            }
            batch.put_cf(dedup, prefix, &value);
        }
        let mut buf = Vec::with_capacity(HASH_SIZE * STRATUM_WIDTH as usize);
        for (stratum, tile, tile_hashes) in &commit.tiles {
            buf.clear();
            for h in tile_hashes {
                buf.extend_from_slice(&h.0);
            }
            batch.put_cf(hashes, hash_key(*stratum, *tile), &buf);
        }
        batch.put_cf(
            self.cf(CF_CHECKPOINTS),
            be(commit.new_size),
            &commit.checkpoint,
        );
        batch.put_cf(self.cf(CF_META), META_SIZE, be(commit.new_size));
        if let Some(writes) = &commit.state {
            let state = self.cf(CF_STATE);
            for (key, value) in writes {
                batch.put_cf(state, key, value);
            }
            batch.put_cf(self.cf(CF_META), META_STATE_SIZE, be(commit.new_size));
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        // Crash consistency: the batch is one WAL record. If the process dies before
        // the sync completes, recovery replays either the whole batch or none of it; no
        // waiter has been answered yet, and clients retry (dedup makes retries safe).
        self.db.write_opt(batch, &wo)?;
        Ok(())
    }

    /// Writes a RocksDB checkpoint of the store into `target`, which must not exist:
    /// a consistent point-in-time copy of every column family, made of hard links to
    /// the immutable SST files where `target` is on the same file system (copies
    /// otherwise) plus a copy of the live WAL. Writers keep running meanwhile; a group
    /// commit is one WAL record, so the copy holds each batch entirely or not at all.
    pub fn checkpoint_to(&self, target: &Path) -> Result<(), LedgerError> {
        let checkpoint = rocksdb::checkpoint::Checkpoint::new(&self.db)?;
        // Crash here or midway: `target` holds a partial copy that nothing reads; the
        // caller verifies the copy before reporting success, so a partial copy is never
        // presented as a backup.
        checkpoint.create_checkpoint(target)?;
        Ok(())
    }

    /// Flushes memtables and compacts every family; used before measuring disk usage
    /// and by backups that want a quiet copy.
    pub fn compact(&self) -> Result<(), LedgerError> {
        for name in [
            CF_ENTRIES,
            CF_HASHES,
            CF_DEDUP,
            CF_CHECKPOINTS,
            CF_META,
            CF_ANCHORS,
            CF_STATE,
        ] {
            let cf = self.cf(name);
            self.db.flush_cf(cf)?;
            self.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// Live SST bytes per column family after flushes (what the data occupies on disk,
    /// excluding the WAL).
    pub fn sst_bytes(&self) -> Result<Vec<(&'static str, u64)>, LedgerError> {
        let mut out = Vec::new();
        for name in [
            CF_ENTRIES,
            CF_HASHES,
            CF_DEDUP,
            CF_CHECKPOINTS,
            CF_META,
            CF_ANCHORS,
            CF_STATE,
        ] {
            let v = self
                .db
                .property_int_value_cf(self.cf(name), "rocksdb.total-sst-files-size")?
                .unwrap_or(0);
            out.push((name, v));
        }
        Ok(out)
    }

    /// Raw write access for fault-injection tests of corruption handling.
    #[doc(hidden)]
    pub fn debug_put_raw(&self, family: &str, key: &[u8], value: &[u8]) -> Result<(), LedgerError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.put_cf_opt(self.cf(family), key, value, &wo)?;
        Ok(())
    }

    /// Raw read for fault-injection tests.
    #[doc(hidden)]
    pub fn debug_get_raw(&self, family: &str, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.db.get_cf(self.cf(family), key)?)
    }

    /// Raw delete for fault-injection tests.
    #[doc(hidden)]
    pub fn debug_delete_raw(&self, family: &str, key: &[u8]) -> Result<(), LedgerError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.delete_cf_opt(self.cf(family), key, &wo)?;
        Ok(())
    }
}

/// Complete subtree hashes of level 8 and above, remembered after first use. They never
/// change once the subtree is complete, so the cache needs no invalidation; it is
/// direct-mapped with a fixed number of slots, so memory stays bounded (about 3 MiB)
/// however large the log grows. Levels below 8 are cheap to fold from one stored tile.
struct UpperCache {
    slots: Vec<parking_lot::Mutex<Option<(u8, u64, Hash)>>>,
}

const UPPER_CACHE_MIN_LEVEL: u8 = 8;
const UPPER_CACHE_SLOTS: usize = 1 << 16;

impl UpperCache {
    fn new() -> UpperCache {
        UpperCache {
            slots: (0..UPPER_CACHE_SLOTS)
                .map(|_| parking_lot::Mutex::new(None))
                .collect(),
        }
    }

    fn slot(&self, level: u8, index: u64) -> &parking_lot::Mutex<Option<(u8, u64, Hash)>> {
        let mixed = index
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(u64::from(level).wrapping_mul(0xc2b2_ae3d_27d4_eb4f));
        &self.slots[(mixed >> 48) as usize % UPPER_CACHE_SLOTS]
    }

    fn get(&self, level: u8, index: u64) -> Option<Hash> {
        match *self.slot(level, index).lock() {
            Some((l, i, h)) if l == level && i == index => Some(h),
            _ => None,
        }
    }

    fn put(&self, level: u8, index: u64, hash: Hash) {
        *self.slot(level, index).lock() = Some((level, index, hash));
    }
}

impl Store {
    /// The complete subtree hash at (level, index): at most 8 stored hashes of the stratum
    /// below `level`, folded. `memo` keeps the last stored tile read per stratum, because
    /// one proof asks for up to four subtrees of the same stored tile in a row.
    fn subtree_hash_memo(
        &self,
        level: u8,
        index: u64,
        memo: &mut TileMemo,
    ) -> Result<Hash, LedgerError> {
        let cacheable = level >= UPPER_CACHE_MIN_LEVEL;
        if cacheable {
            if let Some(h) = self.upper.get(level, index) {
                return Ok(h);
            }
        }
        let stratum = level / STRATUM_HEIGHT;
        let rise = level % STRATUM_HEIGHT;
        let count = 1usize << rise;
        let first = index << rise;
        let tile = first / STRATUM_WIDTH;
        let offset = (first % STRATUM_WIDTH) as usize;
        let hashes = memo.tile(self, stratum, tile)?;
        let needed = offset + count;
        if hashes.len() < needed {
            return Err(LedgerError::corrupt(format!(
                "hash tile (stratum {stratum}, tile {tile}) holds {} hashes, the subtree at level {level} index {index} needs {needed}",
                hashes.len()
            )));
        }
        let mut layer = [Hash::default(); 8];
        layer[..count].copy_from_slice(&hashes[offset..needed]);
        let mut width = count;
        while width > 1 {
            for k in 0..width / 2 {
                layer[k] = node_hash(&layer[2 * k], &layer[2 * k + 1]);
            }
            width /= 2;
        }
        if cacheable {
            self.upper.put(level, index, layer[0]);
        }
        Ok(layer[0])
    }
}

/// The last stored tile read per stratum, for the duration of one proof.
#[derive(Default)]
pub(crate) struct TileMemo {
    tiles: Vec<Option<(u64, Vec<Hash>)>>,
}

impl TileMemo {
    fn tile(&mut self, store: &Store, stratum: u8, tile: u64) -> Result<&[Hash], LedgerError> {
        let s = stratum as usize;
        if self.tiles.len() <= s {
            self.tiles.resize_with(s + 1, || None);
        }
        let hit = matches!(&self.tiles[s], Some((t, _)) if *t == tile);
        if !hit {
            self.tiles[s] = Some((tile, store.stored_tile(stratum, tile)?));
        }
        Ok(self.tiles[s]
            .as_ref()
            .map(|(_, h)| h.as_slice())
            .unwrap_or(&[]))
    }
}

/// A [`SubtreeSource`] over the store for one proof or root computation, remembering the
/// stored tiles it has read.
pub struct ProofReader<'a> {
    store: &'a Store,
    memo: std::cell::RefCell<TileMemo>,
}

impl<'a> ProofReader<'a> {
    pub fn new(store: &'a Store) -> ProofReader<'a> {
        ProofReader {
            store,
            memo: std::cell::RefCell::new(TileMemo::default()),
        }
    }
}

impl SubtreeSource for ProofReader<'_> {
    type Error = LedgerError;

    fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        self.store
            .subtree_hash_memo(level, index, &mut self.memo.borrow_mut())
    }
}

impl SubtreeSource for Store {
    type Error = LedgerError;

    fn subtree_hash(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        self.subtree_hash_memo(level, index, &mut TileMemo::default())
    }
}

/// Family names, for fault-injection tests.
#[doc(hidden)]
pub mod families {
    pub const ENTRIES: &str = super::CF_ENTRIES;
    pub const HASHES: &str = super::CF_HASHES;
    pub const DEDUP: &str = super::CF_DEDUP;
    pub const CHECKPOINTS: &str = super::CF_CHECKPOINTS;
    pub const META: &str = super::CF_META;
    pub const ANCHORS: &str = super::CF_ANCHORS;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_io_probe_cleans_up_and_refuses_what_is_not_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // Whatever the file system answers, the probe creates the directory and leaves
        // no file behind in it.
        let _ = direct_io_works(&data);
        assert!(data.is_dir());
        // An opened store reports what it chose; off when asked for off.
        let options = StoreOptions {
            direct_io: false,
            ..StoreOptions::default()
        };
        let store = Store::open(&dir.path().join("off"), &options).unwrap();
        assert!(!store.direct_io());
        drop(store);
        let store = Store::open(&dir.path().join("auto"), &StoreOptions::default()).unwrap();
        assert_eq!(
            store.direct_io(),
            direct_io_works(&dir.path().join("probe"))
        );
        drop(store);
        assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
        // A path below a regular file cannot become a directory: "no", not a panic.
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(!direct_io_works(&file.join("data")));
    }
}
