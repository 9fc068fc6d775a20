//! Following the bucket's `checkpoint`: read it, verify it with the trusted key, check
//! the bucket's tiles against it and its consistency with the checkpoint served so
//! far, and only then serve it. A checkpoint that fails any of these is refused and the
//! one served before stays.

use bytes::Bytes;
use ledger_core::checkpoint::SignedCheckpoint;
use ledger_core::hash::Hash;
use ledger_core::proof::{consistency_proof, tree_hash, verify_consistency};

use super::{Replica, ReplicaError, Served, ORDER};

/// Why the bucket's current checkpoint is not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The refused note, so it is checked once, not at every refresh.
    pub note: Bytes,
    pub reason: String,
    /// Unix milliseconds of the refusal.
    pub at_ms: u64,
}

impl Replica {
    /// One refresh: adopts the bucket's checkpoint if it is new and passes every check,
    /// records a refusal otherwise. A bucket that does not answer leaves everything as
    /// it was (logged).
    pub async fn follow(&self) {
        let note = match self.bucket.get("checkpoint").await {
            Ok(Some(note)) => note,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!("replica: reading the bucket's checkpoint: {e}");
                return;
            }
        };
        self.metrics.bucket_reads.fetch_add(1, ORDER);
        if note == self.current().note {
            return;
        }
        if self.refusal().is_some_and(|r| r.note == note) {
            return;
        }
        match self.check(&note).await {
            Ok(next) => {
                tracing::info!(size = next.size, "replica: serving a new checkpoint");
                self.adopt(next);
            }
            Err(reason) => self.refuse(note, reason),
        }
    }

    fn refuse(&self, note: Bytes, reason: String) {
        tracing::error!(
            "replica: refusing the bucket's checkpoint, still serving size {}: {reason}",
            self.current().size
        );
        self.metrics.refused.fetch_add(1, ORDER);
        *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(Refusal {
            note,
            reason,
            at_ms: crate::clock::now_ms(),
        });
    }

    /// Every check a new checkpoint must pass; the error is the reason, for people.
    async fn check(&self, note: &Bytes) -> Result<Served, String> {
        let cp = SignedCheckpoint::verify(note, &self.verifier)
            .map_err(|e| format!("it does not verify with the log key: {e}"))?;
        let (size, root) = (cp.size(), *cp.root());
        let old = self.current();
        if size < old.size {
            return Err(format!(
                "it is of size {size}, smaller than the size {} served before (a rollback)",
                old.size
            ));
        }
        if size == old.size && root != old.root && old.size > 0 {
            return Err(format!(
                "it has root {root} for size {size}, the checkpoint served before has {} (a fork)",
                old.root
            ));
        }
        let tiles_root = self.tree_root(size).await.map_err(|e| e.to_string())?;
        if tiles_root != root {
            return Err(format!(
                "the bucket's tiles give root {tiles_root} for size {size}, the checkpoint says {root}"
            ));
        }
        if old.size > 0 && size > old.size {
            let proof = self
                .with_tiles(size, |v| consistency_proof(v, old.size, size))
                .await
                .map_err(|e| e.to_string())?;
            verify_consistency(old.size, size, &proof, &old.root, &root).map_err(|e| {
                format!(
                    "it is not consistent with the checkpoint of size {} served before: {e}",
                    old.size
                )
            })?;
        }
        Ok(Served {
            size,
            root,
            note: note.clone(),
        })
    }

    /// The root the bucket's tiles give for `size`.
    async fn tree_root(&self, size: u64) -> Result<Hash, ReplicaError> {
        if size == 0 {
            return Ok(Hash::empty_root());
        }
        self.with_tiles(size, |v| tree_hash(v, size)).await
    }
}
