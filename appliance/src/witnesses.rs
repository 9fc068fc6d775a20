//! The agent's witness policy (`witness_policy`, a C2SP tlog-policy file): with it, a
//! checkpoint is trusted only when the policy's witnesses have cosigned it
//! (tlog-cosignature `cosignature/v1`) enough to meet the quorum.
//!
//! The log key stays the pinned `log_key_file`: it is passed to
//! [`Policy::check`] in place of the policy's `log` lines, so a policy cannot widen
//! which log the agent trusts. Three outcomes for a checkpoint signed by the log key:
//! - quorum met: trusted as before (and still checked for consistency);
//! - quorum not met: [`AgentError::AwaitingWitnesses`], retryable: the record stays in
//!   the outbox and the upload is retried, when the server's answers (duplicates of the
//!   same records) carry a checkpoint the witnesses have cosigned by then;
//! - a cosignature line of a policy witness that does not verify: the answer is forged
//!   or corrupted, [`AgentError::BadAnswer`], retried like any bad answer.
//!
//! Cosignature lines of keys the policy does not name are ignored (signed-note
//! §Verification: unknown signatures are not errors) and do not count.

use std::path::Path;

use ledger_core::note::NoteVerifier;
use ledger_core::policy::{Policy, PolicyCheckError};

use crate::error::AgentError;

/// Largest policy file read.
const MAX_POLICY_BYTES: u64 = 1 << 20;

/// A parsed witness policy.
#[derive(Debug, Clone)]
pub struct WitnessPolicy {
    policy: Policy,
}

impl WitnessPolicy {
    /// Reads the policy file; a file that cannot be read or parsed is invalid input,
    /// with the line at fault named.
    pub fn load(path: &Path) -> Result<WitnessPolicy, AgentError> {
        let io = |e| AgentError::io(format!("reading witness policy {}", path.display()), e);
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_POLICY_BYTES {
            return Err(AgentError::InvalidInput(format!(
                "witness policy {}: {len} bytes, more than the {MAX_POLICY_BYTES}-byte limit",
                path.display()
            )));
        }
        let bytes = std::fs::read(path).map_err(io)?;
        WitnessPolicy::parse(&bytes).map_err(|e| {
            AgentError::InvalidInput(format!("witness policy {}: {e}", path.display()))
        })
    }

    /// Parses policy text; the error names the line (0: the file as a whole).
    pub fn parse(bytes: &[u8]) -> Result<WitnessPolicy, String> {
        let policy = Policy::parse(bytes).map_err(|e| e.to_string())?;
        Ok(WitnessPolicy { policy })
    }

    /// The quorum's name as the policy's `quorum` line gives it.
    pub fn quorum(&self) -> &str {
        self.policy.quorum_name()
    }

    /// Checks a checkpoint note already verified with the pinned `log` key: Ok when the
    /// quorum is met, [`AgentError::AwaitingWitnesses`] when not yet,
    /// [`AgentError::BadAnswer`] when a policy witness's line does not verify.
    pub fn check(&self, note: &str, log: &NoteVerifier) -> Result<(), AgentError> {
        let verdict = self
            .policy
            .check(note.as_bytes(), Some(log))
            .map_err(|e| match e {
                PolicyCheckError::Cosignature { .. } => {
                    AgentError::BadAnswer(format!("checkpoint cosignature: {e}"))
                }
                other => AgentError::BadAnswer(format!("checkpoint: {other}")),
            })?;
        if verdict.quorum_met {
            return Ok(());
        }
        let by: Vec<&str> = verdict
            .cosigned_by
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        let by = if by.is_empty() {
            "none of its witnesses".to_owned()
        } else {
            by.join(", ")
        };
        Err(AgentError::AwaitingWitnesses(format!(
            "the checkpoint of size {} does not meet the witness quorum {:?} yet (cosigned by {by})",
            verdict.checkpoint.size, self.quorum()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_core::checkpoint::Checkpoint;
    use ledger_core::cosignature::CosignatureSigner;
    use ledger_core::hash::Hash;
    use ledger_core::note::{Note, NoteSigner};

    fn witness(i: u8) -> CosignatureSigner {
        CosignatureSigner::new(&format!("w{i}.example"), &[i; 32]).unwrap()
    }

    fn policy() -> WitnessPolicy {
        let mut text = String::new();
        for i in 1..=3 {
            let vkey = witness(i).verifier().verifier_key();
            text.push_str(&format!("witness W{i} {vkey}\n"));
        }
        text.push_str("group two 2 W1 W2 W3\nquorum two\n");
        WitnessPolicy::parse(text.as_bytes()).unwrap()
    }

    /// A checkpoint signed by a test log key and cosigned by `signers`.
    fn note(signers: &[CosignatureSigner]) -> (String, NoteVerifier) {
        let log = NoteSigner::new("example.com/log", &[42; 32]).unwrap();
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size: 9,
            root: Hash([7; 32]),
            extensions: vec![],
        };
        let signed = cp.sign(&log).unwrap();
        let mut n = Note::parse(signed.as_bytes()).unwrap();
        let body = n.text().to_owned();
        for s in signers {
            let c = s.cosign(&body, 1_700_000_000).unwrap();
            n.push_signature(c.to_note_signature()).unwrap();
        }
        (n.to_text(), log.verifier())
    }

    #[test]
    fn quorum_met_missed_and_forged() {
        let p = policy();
        assert_eq!(p.quorum(), "two");
        let (met, log) = note(&[witness(1), witness(3)]);
        p.check(&met, &log).unwrap();

        let (missed, log) = note(&[witness(2)]);
        let e = p.check(&missed, &log).unwrap_err();
        assert!(matches!(e, AgentError::AwaitingWitnesses(_)), "{e}");
        assert!(e.is_retryable() && !e.is_transient(), "{e}");
        let text = e.to_string();
        assert!(text.contains("awaiting witnesses"), "{text}");
        assert!(text.contains("\"two\"") && text.contains("W2"), "{text}");

        // A stranger's cosignature does not count.
        let stranger = CosignatureSigner::new("w9.example", &[9; 32]).unwrap();
        let (extra, log) = note(&[witness(1), stranger]);
        assert!(matches!(
            p.check(&extra, &log),
            Err(AgentError::AwaitingWitnesses(_))
        ));

        // W3's line over another body: a known witness whose line fails is a bad answer.
        let (good, log) = note(&[witness(1), witness(2)]);
        let mut n = Note::parse(good.as_bytes()).unwrap();
        let forged = witness(3).cosign("other\n1\nroot\n", 5).unwrap();
        n.push_signature(forged.to_note_signature()).unwrap();
        let e = p.check(&n.to_text(), &log).unwrap_err();
        assert!(matches!(e, AgentError::BadAnswer(_)), "{e}");
        assert!(e.to_string().contains("W3"), "{e}");
    }

    #[test]
    fn policy_errors_name_the_line() {
        let e = WitnessPolicy::parse(b"# c\nquorum nobody\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy");
        std::fs::write(&path, "witness W1 bad-key\nquorum W1\n").unwrap();
        let e = WitnessPolicy::load(&path).unwrap_err();
        assert!(matches!(e, AgentError::InvalidInput(_)), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
