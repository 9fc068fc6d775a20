//! The checkpoint's signature (docs/EVIDENCE_PACKAGE.md §6.2): the one statement every
//! other check relies on, verified with the log key the auditor brings.

use ledger_core::checkpoint::SignedCheckpoint;
use ledger_core::note::NoteVerifier;

use crate::package::report::{Finding, FindingCode};
use crate::package::Package;

/// Whether the checkpoint note is signed by `log_key`; a finding if not.
pub(super) fn check_checkpoint(
    pkg: &Package,
    log_key: &NoteVerifier,
    findings: &mut Vec<Finding>,
) -> bool {
    match SignedCheckpoint::verify(pkg.checkpoint_note.as_bytes(), log_key) {
        Ok(_) => true,
        Err(e) => {
            findings.push(Finding::new(
                FindingCode::CheckpointSignature,
                format!(
                    "the checkpoint does not verify with the log key {}: {e}",
                    log_key.verifier_key()
                ),
            ));
            false
        }
    }
}
