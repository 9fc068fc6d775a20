//! The logs a witness trusts, read from a C2SP tlog-policy file: every `log <vkey>
//! [<url>]` line names one log, whose origin is the key's name (tlog-checkpoint
//! §Signatures). Witness, group and quorum lines are accepted and ignored: they say
//! what a client needs, not what a witness cosigns.

use std::collections::BTreeSet;

use ledger_core::note::NoteVerifier;
use ledger_core::policy::Policy;

use crate::error::WitnessError;

/// The trusted logs' keys. A log may appear with several keys (a key rotation); a
/// checkpoint is accepted when a key of its origin signed it.
#[derive(Debug, Clone)]
pub struct TrustedLogs {
    keys: Vec<NoteVerifier>,
}

impl TrustedLogs {
    /// Reads a tlog-policy file; it must name at least one log.
    pub fn from_policy(text: &[u8]) -> Result<TrustedLogs, WitnessError> {
        let policy = Policy::parse(text).map_err(|e| WitnessError::Config(e.to_string()))?;
        TrustedLogs::new(policy.logs().iter().map(|l| l.verifier.clone()).collect())
    }

    /// Trusts exactly these keys; at least one.
    pub fn new(keys: Vec<NoteVerifier>) -> Result<TrustedLogs, WitnessError> {
        if keys.is_empty() {
            return Err(WitnessError::Config(
                "the trusted logs file has no `log <vkey>` line".into(),
            ));
        }
        Ok(TrustedLogs { keys })
    }

    /// The keys of the log with this origin; empty when it is not trusted.
    pub fn keys_for(&self, origin: &str) -> Vec<&NoteVerifier> {
        self.keys.iter().filter(|k| k.name() == origin).collect()
    }

    /// The origins of all trusted logs.
    pub fn origins(&self) -> BTreeSet<&str> {
        self.keys.iter().map(|k| k.name()).collect()
    }
}
