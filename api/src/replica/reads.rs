//! The replica's reads: bucket objects through the cache, and receipts and consistency
//! proofs computed from hash tiles with `ledger-core`'s proof code, each checked
//! against the served root before it is answered.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use ledger_core::hash::Hash;
use ledger_core::proof::{consistency_proof, inclusion_proof, verify_inclusion};
use ledger_core::receipt::Receipt;
use ledger_core::tiles::{parse_tile, Tile, TilePath};

use super::cache::Cached;
use super::source::{TileView, ViewError};
use super::{Replica, ReplicaError, Served, ORDER};

/// Rounds of "compute, fetch what was missing": the tiles a proof reads do not depend
/// on hash values, so the second round has them all; the third is a safety margin.
const ROUNDS: usize = 3;

impl From<ViewError> for ReplicaError {
    fn from(e: ViewError) -> ReplicaError {
        match e {
            ViewError::Proof(p) => ReplicaError::BadRequest(p.to_string()),
            ViewError::ShortTile(t) => ReplicaError::Corrupt(format!("tile {t} is too short")),
        }
    }
}

impl Replica {
    /// An immutable object (hash tile or entry bundle) by its path, from memory, the
    /// disk cache or the bucket. A hash tile of the wrong length is refused.
    pub async fn object(&self, path: TilePath) -> Result<Arc<Cached>, ReplicaError> {
        let key = match path {
            TilePath::Hashes(t) => t.path(),
            TilePath::Entries(b) => b.path(),
        };
        if let Some(found) = self.memory.get(&key) {
            self.metrics.memory_hits.fetch_add(1, ORDER);
            return Ok(found);
        }
        let (bytes, from_disk) = match self.read_disk(&key).await {
            Some(bytes) => (bytes, true),
            None => {
                self.metrics.bucket_reads.fetch_add(1, ORDER);
                let bytes =
                    self.bucket.get(&key).await?.ok_or_else(|| {
                        ReplicaError::NotFound(format!("{key} is not in the bucket"))
                    })?;
                (bytes, false)
            }
        };
        let cached = Arc::new(match path {
            TilePath::Hashes(t) => {
                let hashes = parse_tile(&bytes, &t)
                    .map_err(|e| ReplicaError::Corrupt(format!("{key}: {e}")))?;
                Cached::tile(bytes.clone(), hashes)
            }
            TilePath::Entries(_) => Cached::raw(bytes.clone()),
        });
        if from_disk {
            self.metrics.disk_hits.fetch_add(1, ORDER);
        } else {
            self.write_disk(&key, bytes).await;
        }
        self.memory.insert(&key, cached.clone());
        Ok(cached)
    }

    async fn read_disk(&self, key: &str) -> Option<Bytes> {
        let disk = self.disk.clone()?;
        let key = key.to_string();
        crate::blocking::blocking(move || disk.read(&key))
            .await
            .ok()
            .flatten()
            .map(Bytes::from)
    }

    async fn write_disk(&self, key: &str, bytes: Bytes) {
        if let Some(disk) = self.disk.clone() {
            let key = key.to_string();
            let _ = crate::blocking::blocking(move || disk.write(&key, &bytes)).await;
        }
    }

    /// Runs `f` (proof code) over the tiles of the tree of `size` leaves, fetching the
    /// tiles it needs that are not in memory.
    pub(super) async fn with_tiles<T>(
        &self,
        size: u64,
        f: impl Fn(&TileView<'_>) -> Result<T, ViewError>,
    ) -> Result<T, ReplicaError> {
        let mut given: HashMap<Tile, Arc<Cached>> = HashMap::new();
        for _ in 0..ROUNDS {
            let (result, missing) = {
                let view = TileView::new(size, &given, &self.memory);
                let result = f(&view);
                (result, view.into_missing())
            };
            if missing.is_empty() {
                return Ok(result?);
            }
            let fetched = futures_util::future::join_all(
                missing.iter().map(|t| self.object(TilePath::Hashes(*t))),
            )
            .await;
            for (tile, found) in missing.into_iter().zip(fetched) {
                given.insert(tile, found?);
            }
        }
        Err(ReplicaError::Corrupt(
            "the tiles a proof needs kept changing".into(),
        ))
    }

    /// The checkpoint of `size`, or the current one; only checkpoints this replica
    /// verified and served are known.
    pub fn checkpoint_at(&self, size: Option<u64>) -> Result<Arc<Served>, ReplicaError> {
        let served = match size {
            None => self.current(),
            Some(size) => self.served_at(size).ok_or_else(|| {
                ReplicaError::NotFound(format!(
                    "this replica has not served a checkpoint of size {size}; it knows only the checkpoints it verified since it started"
                ))
            })?,
        };
        if served.size == 0 {
            return Err(ReplicaError::NotFound(
                "the replica has no verified checkpoint yet".into(),
            ));
        }
        Ok(served)
    }

    /// The C2SP tlog-proof receipt of entry `index` against the checkpoint of `size`
    /// (or the current one), with the same bytes as the primary's. The audit path is
    /// verified with the leaf hash from the level-0 tile before it is answered.
    pub async fn receipt(&self, index: u64, size: Option<u64>) -> Result<String, ReplicaError> {
        let cp = self.checkpoint_at(size)?;
        if index >= cp.size {
            return Err(ReplicaError::NotFound(format!(
                "entry {index} is not in the tree of size {}",
                cp.size
            )));
        }
        let n = cp.size;
        let (leaf, proof) = self
            .with_tiles(n, |v| {
                use ledger_core::proof::SubtreeSource as _;
                Ok((v.subtree_hash(0, index)?, inclusion_proof(v, index, n)?))
            })
            .await?;
        verify_inclusion(&leaf, index, n, &proof, &cp.root).map_err(|e| {
            ReplicaError::Corrupt(format!(
                "the audit path of entry {index} does not verify: {e}"
            ))
        })?;
        let note = std::str::from_utf8(&cp.note)
            .map_err(|_| ReplicaError::Corrupt("the checkpoint is not UTF-8".into()))?;
        self.metrics.receipts.fetch_add(1, ORDER);
        Receipt::new(index, proof, note)
            .map(|r| r.to_text())
            .map_err(|e| ReplicaError::Corrupt(e.to_string()))
    }

    /// The RFC 9162 consistency proof between two sizes; `to` defaults to the current
    /// size. Both sizes must be within the served tree.
    pub async fn consistency(&self, from: u64, to: Option<u64>) -> Result<Vec<Hash>, ReplicaError> {
        let current = self.current();
        let to = to.unwrap_or(current.size);
        if from == 0 || from > to {
            return Err(ReplicaError::BadRequest(format!(
                "consistency proofs need 0 < from ≤ to (RFC 9162 §2.1.4); got from={from}, to={to}"
            )));
        }
        if to > current.size {
            return Err(ReplicaError::NotFound(format!(
                "tree size {to} is beyond the replica's checkpoint of size {}",
                current.size
            )));
        }
        let size = current.size;
        // Every subtree of the tree of `to` is one of the current tree's.
        self.with_tiles(size, |v| consistency_proof(v, from, to))
            .await
    }
}
