//! What the agent believes about the log, and how that belief grows: receipts verified
//! against the pinned log key, and every new checkpoint proven consistent with the
//! latest one already trusted (RFC 9162 §2.1.4, proofs fetched from
//! `GET /proof/consistency`).
//!
//! A checkpoint signed by the log key that cannot be reconciled with the trusted one (same
//! size, different root; a consistency proof that does not verify; a "latest" checkpoint
//! smaller than one already seen) is a fork or a rollback: the log key signed two
//! incompatible histories. That is an alarm: both checkpoints and the proof are saved
//! under `data_dir/alarms/<time>-<kind>/`, the alarm is recorded in the outbox, and the
//! agent stops uploading to the log until an operator has looked (docs/AGENT.md).
//!
//! Malformed answers, bad signatures and proofs that fail for a checkpoint nobody signed
//! are not alarms but [`AgentError::BadAnswer`]: nothing is marked delivered and the
//! upload is retried.
//!
//! With a witness policy ([`crate::witnesses`]), a checkpoint signed by the log key is
//! trusted only once it meets the policy's quorum. One that does not yet is neither
//! adopted nor compared with the trusted one: receipts on it are
//! [`AgentError::AwaitingWitnesses`] (retried), and a latest checkpoint without the
//! quorum is skipped until a cosigned one is served. Every checkpoint that is trusted is
//! still proven consistent with the trusted view, as without a policy.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use ledger_core::checkpoint::SignedCheckpoint;
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::note::NoteVerifier;
use ledger_core::proof::{verify_consistency, verify_inclusion};
use ledger_core::receipt::Receipt;

use crate::client::{Answer, Client};
use crate::error::AgentError;
use crate::outbox::now_ms;
use crate::shared_outbox::SharedOutbox;
use crate::witnesses::WitnessPolicy;

/// Reads the pinned log key (a C2SP verifier key string) from `path`.
pub fn load_log_key(path: &Path) -> Result<NoteVerifier, AgentError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AgentError::io(format!("reading log key file {}", path.display()), e))?;
    NoteVerifier::parse(text.trim()).map_err(|e| {
        AgentError::InvalidInput(format!(
            "log key file {}: not a verifier key string: {e}",
            path.display()
        ))
    })
}

/// The trusted view of the log.
pub struct Trust {
    log: NoteVerifier,
    data_dir: PathBuf,
    latest: Option<SignedCheckpoint>,
    /// Checkpoints (size, root) already proven consistent with `latest`'s history.
    known: HashSet<(u64, Hash)>,
    /// Checkpoint notes whose log signature (and witness quorum, with a policy) was
    /// already verified.
    notes: HashMap<String, SignedCheckpoint>,
    /// The witness policy a checkpoint must meet to be trusted, if any.
    witnesses: Option<WitnessPolicy>,
}

/// One verified delivery.
#[derive(Debug, Clone)]
pub struct Verified {
    pub index: u64,
    pub receipt: String,
}

impl Trust {
    /// Starts from the latest checkpoint stored in the outbox (if any). A stored
    /// checkpoint of another origin than the pinned key's belongs to the log of an
    /// earlier period: the operator pointed the agent at the log that succeeds it
    /// (docs/OPERATIONS.md "A log per period"), so the view of the new log starts empty;
    /// the agent's own chain lives in the outbox and continues there.
    pub fn new(
        log: NoteVerifier,
        data_dir: &Path,
        stored: Option<&str>,
    ) -> Result<Trust, AgentError> {
        let stored = stored.filter(|note| {
            let origin = note.lines().next().unwrap_or_default();
            let same = origin == log.name();
            if !same {
                tracing::info!(
                    "the pinned log key is of {}, the stored checkpoint of {origin}: starting the trusted view of the new log",
                    log.name()
                );
            }
            same
        });
        let latest = match stored {
            Some(note) => Some(
                SignedCheckpoint::verify(note.as_bytes(), &log).map_err(|e| {
                    AgentError::InvalidInput(format!(
                        "the stored checkpoint does not verify with the pinned log key: {e}"
                    ))
                })?,
            ),
            None => None,
        };
        let mut known = HashSet::new();
        if let Some(c) = &latest {
            known.insert((c.size(), *c.root()));
        }
        Ok(Trust {
            log,
            data_dir: data_dir.to_path_buf(),
            latest,
            known,
            notes: HashMap::new(),
            witnesses: None,
        })
    }

    /// Requires the witness policy's quorum on every checkpoint trusted from now on.
    /// The stored checkpoint was trusted when it was stored and stays so.
    pub fn with_witnesses(mut self, witnesses: Option<WitnessPolicy>) -> Trust {
        self.witnesses = witnesses;
        self
    }

    /// Verifies a checkpoint note: the pinned log key's signature, then the witness
    /// quorum when a policy is set.
    fn verify_note(&self, note: &str) -> Result<SignedCheckpoint, AgentError> {
        let signed = SignedCheckpoint::verify(note.as_bytes(), &self.log)
            .map_err(|e| AgentError::BadAnswer(e.to_string()))?;
        if let Some(w) = &self.witnesses {
            w.check(note, &self.log)?;
        }
        Ok(signed)
    }

    /// The latest trusted checkpoint.
    pub fn latest(&self) -> Option<&SignedCheckpoint> {
        self.latest.as_ref()
    }

    /// Verifies one append answer for `bytes` (the record sent): record hash, receipt
    /// signature with the pinned key, inclusion of the leaf, and consistency of the
    /// receipt's checkpoint with the trusted one.
    pub async fn verify_answer(
        &mut self,
        bytes: &[u8],
        answer: &Answer,
        client: &Client,
        outbox: &SharedOutbox,
    ) -> Result<Verified, AgentError> {
        let hash = Hash(sha2_digest(bytes));
        if answer.record_hash != hash {
            return Err(AgentError::BadAnswer(format!(
                "the server names record hash {} for a record whose hash is {hash}",
                answer.record_hash
            )));
        }
        let receipt = Receipt::parse(answer.receipt.as_bytes())
            .map_err(|e| AgentError::BadAnswer(format!("receipt: {e}")))?;
        if receipt.index() != answer.index {
            return Err(AgentError::BadAnswer(format!(
                "receipt is for index {}, the answer says {}",
                receipt.index(),
                answer.index
            )));
        }
        // The checkpoint signature (and witness quorum) is verified once per distinct
        // note (a batch shares one or two), the inclusion proof for every record. A note
        // awaiting witnesses is not cached: the retry brings a new one.
        let note = receipt.checkpoint_note();
        let signed = match self.notes.get(note) {
            Some(c) => c.clone(),
            None => {
                let c = self.verify_note(note).map_err(|e| match e {
                    AgentError::BadAnswer(m) => {
                        AgentError::BadAnswer(format!("receipt for index {}: {m}", answer.index))
                    }
                    AgentError::AwaitingWitnesses(m) => AgentError::AwaitingWitnesses(format!(
                        "receipt for index {}: {m}",
                        answer.index
                    )),
                    other => other,
                })?;
                if self.notes.len() >= 64 {
                    self.notes.clear();
                }
                self.notes.insert(note.to_owned(), c.clone());
                c
            }
        };
        verify_inclusion(
            &leaf_hash(bytes),
            receipt.index(),
            signed.size(),
            receipt.proof(),
            signed.root(),
        )
        .map_err(|e| {
            AgentError::BadAnswer(format!(
                "receipt for index {}: the record is not proven in the checkpoint of size {}: {e}",
                answer.index,
                signed.size()
            ))
        })?;
        self.observe(&signed, client, outbox).await?;
        Ok(Verified {
            index: answer.index,
            receipt: answer.receipt.clone(),
        })
    }

    /// Fetches the latest checkpoint and checks it against the trusted one. A smaller
    /// size than already trusted is a rollback alarm.
    pub async fn check_latest(
        &mut self,
        client: &Client,
        outbox: &SharedOutbox,
    ) -> Result<(), AgentError> {
        let note = client.checkpoint().await?;
        let presented = SignedCheckpoint::verify(note.as_bytes(), &self.log)
            .map_err(|e| AgentError::BadAnswer(format!("latest checkpoint: {e}")))?;
        if let Some(trusted) = self.latest.clone() {
            if presented.size() < trusted.size() {
                let proof = client
                    .consistency(presented.size().max(1), trusted.size())
                    .await
                    .ok();
                let message = format!(
                    "the log's latest checkpoint has size {} but size {} was already seen",
                    presented.size(),
                    trusted.size()
                );
                let alarm = self.alarm(
                    outbox,
                    "rollback",
                    &message,
                    &trusted,
                    &presented,
                    proof.as_deref(),
                );
                return Err(alarm.await);
            }
        }
        if let Some(w) = &self.witnesses {
            match w.check(&note, &self.log) {
                Ok(()) => {}
                Err(e @ AgentError::AwaitingWitnesses(_)) => {
                    tracing::info!("latest checkpoint not trusted yet: {e}");
                    return Ok(());
                }
                Err(AgentError::BadAnswer(m)) => {
                    return Err(AgentError::BadAnswer(format!("latest checkpoint: {m}")))
                }
                Err(e) => return Err(e),
            }
        }
        self.observe(&presented, client, outbox).await?;
        if let Some(c) = &self.latest {
            let note = c.as_str().to_owned();
            outbox.call(move |o| o.set_checkpoint(&note)).await?;
        }
        Ok(())
    }

    /// Reconciles a genuinely signed checkpoint with the trusted one.
    async fn observe(
        &mut self,
        presented: &SignedCheckpoint,
        client: &Client,
        outbox: &SharedOutbox,
    ) -> Result<(), AgentError> {
        let key = (presented.size(), *presented.root());
        let Some(trusted) = self.latest.clone() else {
            self.known.insert(key);
            self.latest = Some(presented.clone());
            return Ok(());
        };
        if self.known.contains(&key) {
            if presented.size() > trusted.size() {
                self.latest = Some(presented.clone());
            }
            return Ok(());
        }
        let (old, new) = if presented.size() >= trusted.size() {
            (&trusted, presented)
        } else {
            (presented, &trusted)
        };
        let proof = if old.size() == new.size() {
            Vec::new()
        } else {
            client.consistency(old.size(), new.size()).await?
        };
        if let Err(e) = verify_consistency(old.size(), new.size(), &proof, old.root(), new.root()) {
            let message = format!(
                "checkpoint of size {} (root {}) is not consistent with checkpoint of size {} (root {}): {e}",
                presented.size(),
                presented.root(),
                trusted.size(),
                trusted.root()
            );
            let alarm = self.alarm(outbox, "fork", &message, &trusted, presented, Some(&proof));
            return Err(alarm.await);
        }
        self.known.insert(key);
        if presented.size() > trusted.size() {
            // The old trusted view stays known: a proof to the new head covers it.
            self.latest = Some(presented.clone());
        }
        Ok(())
    }

    /// Saves the evidence, records the alarm, and returns the error to stop on.
    async fn alarm(
        &mut self,
        outbox: &SharedOutbox,
        kind: &str,
        message: &str,
        trusted: &SignedCheckpoint,
        presented: &SignedCheckpoint,
        proof: Option<&[Hash]>,
    ) -> AgentError {
        tracing::error!("ALARM ({kind}): {message}");
        let dir = self
            .data_dir
            .join("alarms")
            .join(format!("{}-{kind}", now_ms()));
        let saved = save_evidence(&dir, message, trusted, presented, proof);
        let mut message = message.to_owned();
        if let Err(e) = saved {
            message.push_str(&format!(" (saving evidence failed: {e})"));
        }
        let recorded = {
            let (message, dir) = (message.clone(), dir.clone());
            outbox.call(move |o| o.raise_alarm(&message, &dir)).await
        };
        if let Err(e) = recorded {
            message.push_str(&format!(" (recording the alarm failed: {e})"));
        }
        AgentError::Inconsistent {
            message,
            evidence_dir: dir,
        }
    }
}

fn sha2_digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

fn write_synced(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Writes the alarm's evidence files: `trusted.checkpoint`, `presented.checkpoint`,
/// `consistency.proof` (base64 hashes, one a line, as served) and `alarm.json`.
fn save_evidence(
    dir: &Path,
    message: &str,
    trusted: &SignedCheckpoint,
    presented: &SignedCheckpoint,
    proof: Option<&[Hash]>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_synced(&dir.join("trusted.checkpoint"), trusted.as_str())?;
    write_synced(&dir.join("presented.checkpoint"), presented.as_str())?;
    let proof_text: String = proof
        .unwrap_or(&[])
        .iter()
        .map(|h| {
            format!(
                "{}\n",
                base64::engine::general_purpose::STANDARD.encode(h.as_bytes())
            )
        })
        .collect();
    write_synced(&dir.join("consistency.proof"), &proof_text)?;
    let (from, to) = if presented.size() >= trusted.size() {
        (trusted.size(), presented.size())
    } else {
        (presented.size(), trusted.size())
    };
    let summary = serde_json::json!({
        "message": message,
        "time_ms": now_ms(),
        "trusted": {"size": trusted.size(), "root": hex::encode(trusted.root().as_bytes())},
        "presented": {"size": presented.size(), "root": hex::encode(presented.root().as_bytes())},
        "proof": {"from": from, "to": to, "hashes": proof.map(<[Hash]>::len), "fetched": proof.is_some()},
    });
    write_synced(&dir.join("alarm.json"), &format!("{summary:#}\n"))?;
    crate::keystore::sync_dir(dir).map_err(|e| std::io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use ledger_core::checkpoint::Checkpoint;
    use ledger_core::note::NoteSigner;

    use super::*;

    fn signed(origin: &str, seed: u8) -> (NoteVerifier, String) {
        let signer = NoteSigner::new(origin, &[seed; 32]).unwrap();
        let checkpoint = Checkpoint {
            origin: origin.into(),
            size: 5,
            root: Hash([seed; 32]),
            extensions: Vec::new(),
        };
        let note = checkpoint.sign(&signer).unwrap().as_str().to_owned();
        (signer.verifier(), note)
    }

    /// Pointing the agent at the log of the next period starts a new trusted view; the
    /// same origin under another key is still refused.
    #[test]
    fn a_stored_checkpoint_of_an_earlier_log_is_set_aside_but_not_one_of_the_same_origin() {
        let dir = tempfile::tempdir().unwrap();
        let (old_key, old_note) = signed("example.org/log/2026", 1);
        let trust = Trust::new(old_key, dir.path(), Some(&old_note)).unwrap();
        assert_eq!(trust.latest().unwrap().size(), 5);
        let (new_key, _) = signed("example.org/log/2027", 2);
        let trust = Trust::new(new_key, dir.path(), Some(&old_note)).unwrap();
        assert!(trust.latest().is_none());
        let (other_key, _) = signed("example.org/log/2026", 3);
        let err = Trust::new(other_key, dir.path(), Some(&old_note))
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("does not verify with the pinned log key"),
            "{err}"
        );
    }
}
