//! Witness cosignatures (C2SP tlog-cosignature `cosignature/v1`) on a checkpoint note,
//! judged by a C2SP tlog-policy file (`--policy`): which of the policy's witnesses
//! cosigned the checkpoint, when, and whether the policy's quorum is met.
//!
//! The log key stays the one the auditor pins on the command line (`--key`): it is
//! passed to [`Policy::check`] in place of the policy's `log` lines, so a policy file
//! cannot widen which logs are trusted. The parsing, verification and quorum arithmetic
//! are `ledger-core`'s; this module reads the file, finds the quorum's name for
//! messages (the policy does not expose it), and maps the outcomes onto
//! [`VerifyError`]: a policy that cannot be read or parsed is malformed input (exit 2,
//! with the line at fault), a failing cosignature of a known witness is a verification
//! failure (exit 1), and a missed quorum is a verdict the caller reports as invalid.
//! Cosignature lines of keys the policy does not name are ignored, as signed-note
//! §Verification asks of unknown signatures.

use std::path::Path;

use ledger_core::checkpoint::Checkpoint;
use ledger_core::note::NoteVerifier;
use ledger_core::policy::{Policy, PolicyCheckError};
use ledger_record::utc::format_unix_seconds;
use serde_json::{json, Value};

use crate::error::VerifyError;
use crate::files::read_limited;

/// Largest policy file read (the spec's limits make real ones a few KiB).
pub const MAX_POLICY_FILE: u64 = 1 << 20;

/// A parsed policy.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    pub policy: Policy,
}

/// Reads and parses a policy file; errors name the file and the line.
pub fn load_policy(path: &Path) -> Result<LoadedPolicy, VerifyError> {
    let bytes = read_limited(path, MAX_POLICY_FILE)?;
    parse_policy(&bytes, &path.display().to_string())
}

/// Parses policy text; `what` names it in errors.
pub fn parse_policy(bytes: &[u8], what: &str) -> Result<LoadedPolicy, VerifyError> {
    let policy = Policy::parse(bytes).map_err(|e| {
        let reason = if e.line == 0 {
            e.message.clone()
        } else {
            format!("line {}: {}", e.line, e.message)
        };
        VerifyError::malformed(format!("policy file {what}"), reason)
    })?;
    Ok(LoadedPolicy { policy })
}

/// What the witnesses of a policy say about one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessVerdict {
    /// The quorum's name in the policy.
    pub quorum: String,
    pub quorum_met: bool,
    /// Policy witnesses with a valid cosignature: (policy name, POSIX seconds), in
    /// policy order.
    pub cosigned_by: Vec<(String, u64)>,
    /// How many witnesses the policy names.
    pub known: usize,
    /// The checkpoint, signed by the pinned log key.
    pub checkpoint: Checkpoint,
}

/// Checks `note` (a signed checkpoint note) with the pinned `log` key and the policy's
/// witnesses. A missed quorum is an `Ok` verdict with `quorum_met == false`.
pub fn check_witnesses(
    loaded: &LoadedPolicy,
    note: &[u8],
    log: &NoteVerifier,
) -> Result<WitnessVerdict, VerifyError> {
    let verdict = loaded.policy.check(note, Some(log)).map_err(check_error)?;
    Ok(WitnessVerdict {
        quorum: loaded.policy.quorum_name().to_owned(),
        quorum_met: verdict.quorum_met,
        cosigned_by: verdict.cosigned_by,
        known: loaded.policy.witnesses().len(),
        checkpoint: verdict.checkpoint,
    })
}

fn check_error(e: PolicyCheckError) -> VerifyError {
    let failure = match &e {
        PolicyCheckError::UnknownLog | PolicyCheckError::Cosignature { .. } => true,
        PolicyCheckError::Note(n) => n.is_verification_failure(),
        PolicyCheckError::Checkpoint(c) => c.is_verification_failure(),
    };
    if failure {
        VerifyError::Witnesses(e.to_string())
    } else {
        VerifyError::malformed("checkpoint note", e.to_string())
    }
}

impl WitnessVerdict {
    /// The reason a missed quorum is invalid, naming the quorum and who did cosign.
    pub fn failure_reason(&self) -> String {
        let by: Vec<&str> = self.cosigned_by.iter().map(|(n, _)| n.as_str()).collect();
        let by = if by.is_empty() {
            "no witness of the policy".to_owned()
        } else {
            by.join(", ")
        };
        format!(
            "the witness quorum {:?} of the policy is not met: the checkpoint is cosigned by {by} ({} of {} known witnesses)",
            self.quorum,
            self.cosigned_by.len(),
            self.known
        )
    }

    /// Text lines: the verdict, then one line per cosigning witness.
    pub fn render_text(&self) -> String {
        let mut s = if self.quorum_met {
            format!(
                "Witnesses: quorum {:?} met, cosigned by {} of {} known witnesses.\n",
                self.quorum,
                self.cosigned_by.len(),
                self.known
            )
        } else {
            format!("Witnesses: INVALID: {}.\n", self.failure_reason())
        };
        for (name, ts) in &self.cosigned_by {
            s.push_str(&format!(
                "  cosigned by {name} at {} ({ts})\n",
                format_unix_seconds(*ts)
            ));
        }
        s
    }

    /// The `"witnesses"` member of `--json` output.
    pub fn to_json(&self) -> Value {
        let by: Vec<Value> = self
            .cosigned_by
            .iter()
            .map(|(name, ts)| json!({"name": name, "timestamp": ts, "time_utc": format_unix_seconds(*ts)}))
            .collect();
        json!({
            "quorum": self.quorum,
            "quorum_met": self.quorum_met,
            "cosigned_by": by,
            "known_witnesses": self.known,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_errors_name_the_line_and_file() {
        let e = parse_policy(b"# fine\nquorum nobody\n", "p.txt").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("p.txt") && text.contains("line 2"), "{text}");
        assert!(!e.is_verification_failure());
        let e = parse_policy(b"# no quorum\n", "p.txt").unwrap_err();
        assert!(e.to_string().contains("no quorum line"), "{e}");
    }
}
