//! The `add-checkpoint` decision of C2SP tlog-witness §add-checkpoint, in the spec's
//! order: read the body (400), find the log (404), verify its signature (403), check
//! `old ≤ size` (400), compare `old` with the stored size (409), compare roots at equal
//! sizes (409), check the consistency proof (422), store, then cosign.
//!
//! The checks against the stored state and the write run under one mutex around the
//! one SQLite connection, and the write is a compare-and-set on the old size, so two
//! concurrent requests from the same size can never both be cosigned. The state is
//! committed to disk before the cosignature leaves this module.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use ledger_core::checkpoint::Checkpoint;
use ledger_core::cosignature::{Cosignature, CosignatureSigner};
use ledger_core::hash::Hash;
use ledger_core::note::Note;
use ledger_core::proof::verify_consistency;
use ledger_core::witness::AddCheckpoint;

use crate::error::WitnessError;
use crate::store::{Store, Stored};
use crate::trust::TrustedLogs;

/// A log-signed checkpoint from a request, with the request's old size and proof.
struct Request {
    old: u64,
    proof: Vec<Hash>,
    checkpoint: Checkpoint,
    note: Note,
}

/// The witness: its key, the logs it trusts and its state.
pub struct Witness {
    signer: CosignatureSigner,
    logs: TrustedLogs,
    store: Mutex<Store>,
}

/// Current POSIX seconds, at least 1 (a cosignature timestamp is never zero).
fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .max(1)
}

impl Witness {
    pub fn new(signer: CosignatureSigner, logs: TrustedLogs, store: Store) -> Witness {
        Witness {
            signer,
            logs,
            store: Mutex::new(store),
        }
    }

    pub fn signer(&self) -> &CosignatureSigner {
        &self.signer
    }

    pub fn logs(&self) -> &TrustedLogs {
        &self.logs
    }

    /// Handles one `add-checkpoint` body; answers the cosignature line(s) of a `200`.
    pub fn add_checkpoint(&self, body: &[u8]) -> Result<String, WitnessError> {
        let req = self.authenticate(body)?;
        let mut store = self
            .store
            .lock()
            .map_err(|_| WitnessError::Storage("state lock poisoned".into()))?;
        let origin = req.checkpoint.origin.as_str();
        let stored = store.latest(origin)?;
        let must_store = check_against(stored.as_ref(), &req)?;
        let cosig = self.cosign(&req.note)?;
        if must_store {
            let mut note = req.note.clone();
            note.push_signature(cosig.to_note_signature())
                .map_err(|e| WitnessError::Malformed(format!("checkpoint note: {e}")))?;
            let new = Stored {
                size: req.checkpoint.size,
                root: req.checkpoint.root,
                note: note.to_text(),
            };
            if !store.advance(origin, stored.as_ref().map(|s| s.size), &new)? {
                // Another writer advanced the state between our read and write; report
                // what is stored now so the client can retry from it.
                let now = store.latest(origin)?.map_or(0, |s| s.size);
                return Err(WitnessError::Conflict {
                    stored: now,
                    reason: "the state changed during the request",
                });
            }
            tracing::info!(origin, size = new.size, "cosigned and stored");
        }
        Ok(cosig.to_line())
    }

    /// Steps 1–4: parse, find the log, verify its signature, `old ≤ size`.
    fn authenticate(&self, body: &[u8]) -> Result<Request, WitnessError> {
        let req = AddCheckpoint::parse(body).map_err(|e| WitnessError::Malformed(e.to_string()))?;
        let note = Note::parse(&req.checkpoint)
            .map_err(|e| WitnessError::Malformed(format!("checkpoint note: {e}")))?;
        let checkpoint = Checkpoint::parse(note.text())
            .map_err(|e| WitnessError::Malformed(format!("checkpoint: {e}")))?;
        let keys = self.logs.keys_for(&checkpoint.origin);
        if keys.is_empty() {
            return Err(WitnessError::UnknownOrigin(checkpoint.origin));
        }
        note.open(&keys)
            .map_err(|e| WitnessError::Unauthenticated(e.to_string()))?;
        if req.old > checkpoint.size {
            return Err(WitnessError::OldAfterSize {
                old: req.old,
                size: checkpoint.size,
            });
        }
        Ok(Request {
            old: req.old,
            proof: req.proof,
            checkpoint,
            note,
        })
    }

    /// Our cosignature of the checkpoint body, timestamped now.
    fn cosign(&self, note: &Note) -> Result<Cosignature, WitnessError> {
        self.signer
            .cosign(note.text(), now_seconds())
            .map_err(|e| WitnessError::Malformed(format!("cannot cosign checkpoint: {e}")))
    }

    /// The latest cosigned note of `origin`, for `GET /checkpoint`.
    pub fn latest(&self, origin: &str) -> Result<Option<Stored>, WitnessError> {
        let store = self
            .store
            .lock()
            .map_err(|_| WitnessError::Storage("state lock poisoned".into()))?;
        store.latest(origin)
    }
}

/// Steps 5–6 against the stored state; answers whether the state must be written
/// (false only when the checkpoint is the one already stored).
fn check_against(stored: Option<&Stored>, req: &Request) -> Result<bool, WitnessError> {
    let (size, root) = stored.map_or((0, Hash::empty_root()), |s| (s.size, s.root));
    let cp = &req.checkpoint;
    if req.old != size {
        return Err(WitnessError::Conflict {
            stored: size,
            reason: "old size is not the latest size this witness cosigned",
        });
    }
    if cp.size == 0 && cp.root != Hash::empty_root() {
        return Err(WitnessError::Inconsistent(
            "a tree of size 0 must have the empty-tree root SHA-256(\"\")".into(),
        ));
    }
    if req.old == cp.size {
        if cp.root != root {
            return Err(WitnessError::Conflict {
                stored: size,
                reason: "checkpoint has the stored size but another root",
            });
        }
        if !req.proof.is_empty() {
            return Err(WitnessError::Inconsistent(
                "equal sizes need an empty proof".into(),
            ));
        }
        return Ok(stored.is_none());
    }
    if req.old == 0 {
        // Every tree extends the empty tree; there is nothing to prove.
        if !req.proof.is_empty() {
            return Err(WitnessError::Inconsistent(
                "a proof from size 0 must be empty".into(),
            ));
        }
        return Ok(true);
    }
    verify_consistency(req.old, cp.size, &req.proof, &root, &cp.root)
        .map_err(|e| WitnessError::Inconsistent(e.to_string()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_core::proof::consistency_proof;
    use ledger_core::tree::MemoryTree;

    fn request(old: u64, proof: Vec<Hash>, size: u64, root: Hash) -> Request {
        let checkpoint = Checkpoint {
            origin: "example.com/t".into(),
            size,
            root,
            extensions: vec![],
        };
        let note = Note::new(&checkpoint.to_text()).expect("note text");
        Request {
            old,
            proof,
            checkpoint,
            note,
        }
    }

    fn stored(tree: &MemoryTree, size: u64) -> Stored {
        Stored {
            size,
            root: tree.root_at(size).unwrap(),
            note: String::new(),
        }
    }

    /// Every pair of sizes up to 17: the real proof is accepted, every proof with one
    /// flipped bit, one hash fewer or one more is refused as inconsistent.
    #[test]
    fn real_proofs_pass_and_damaged_ones_fail_for_all_small_sizes() {
        let mut tree = MemoryTree::new();
        for i in 0..17u32 {
            tree.push_entry(&i.to_be_bytes());
        }
        for old in 1..=17 {
            for size in old + 1..=17 {
                let s = stored(&tree, old);
                let root = tree.root_at(size).unwrap();
                let proof = consistency_proof(&tree, old, size).unwrap();
                assert!(check_against(Some(&s), &request(old, proof.clone(), size, root)).unwrap());
                let mut damaged = vec![proof[..proof.len() - 1].to_vec()];
                damaged.push([proof.clone(), vec![root]].concat());
                for i in 0..proof.len() {
                    let mut p = proof.clone();
                    p[i].0[i % 32] ^= 1 << (i % 8);
                    damaged.push(p);
                }
                for p in damaged {
                    let r = check_against(Some(&s), &request(old, p, size, root));
                    assert!(
                        matches!(r, Err(WitnessError::Inconsistent(_))),
                        "{old}->{size}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_stored_size_and_root_decide_conflicts() {
        let mut tree = MemoryTree::new();
        tree.push_entry(b"x");
        let s = stored(&tree, 1);
        let r = |old, size, root| check_against(Some(&s), &request(old, vec![], size, root));
        assert!(matches!(
            r(0, 1, s.root),
            Err(WitnessError::Conflict { stored: 1, .. })
        ));
        assert!(matches!(
            r(2, 2, s.root),
            Err(WitnessError::Conflict { stored: 1, .. })
        ));
        assert!(matches!(
            r(1, 1, Hash([9; 32])),
            Err(WitnessError::Conflict { stored: 1, .. })
        ));
        assert!(
            !r(1, 1, s.root).unwrap(),
            "the stored checkpoint needs no write"
        );
        let empty = |root| check_against(None, &request(0, vec![], 0, root));
        assert!(empty(Hash::empty_root()).unwrap());
        assert!(matches!(
            empty(Hash([1; 32])),
            Err(WitnessError::Inconsistent(_))
        ));
    }
}
