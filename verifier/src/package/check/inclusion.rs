//! Inclusion (docs/EVIDENCE_PACKAGE.md §6.7): the entries of `records.bin` and `keys.bin`
//! together, proven by one multiproof against the checkpoint's root. An index present in
//! both files must hold the same bytes.

use ledger_core::hash::Hash;

use crate::package::multiproof::{verify_multiproof, MultiproofError};
use crate::package::report::{Finding, FindingCode};
use crate::package::{Package, ProofFile};

/// Merges the leaves of `records.bin` and `keys.bin` in log order. An index may be in
/// both, with the same bytes; different bytes are an `entry_conflict` finding.
pub(super) fn merge_leaves(
    records: &[(u64, Hash)],
    keys: &[(u64, Hash)],
    findings: &mut Vec<Finding>,
) -> Vec<(u64, Hash)> {
    let mut out = Vec::with_capacity(records.len() + keys.len());
    let (mut a, mut b) = (records.iter().peekable(), keys.iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                if x.1 != y.1 {
                    findings.push(
                        Finding::new(
                            FindingCode::EntryConflict,
                            "records.bin and keys.bin hold different entries for this log index",
                        )
                        .at(x.0),
                    );
                }
                out.push(**x);
                a.next();
                b.next();
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                out.push(**x);
                a.next();
            }
            (Some(_), Some(y)) | (None, Some(y)) => {
                out.push(**y);
                b.next();
            }
            (Some(x), None) => {
                out.push(**x);
                a.next();
            }
            (None, None) => break,
        }
    }
    out
}

/// One finding if the package's entries are not proven in the checkpoint's tree.
pub(super) fn check_inclusion(
    pkg: &Package,
    records: &[(u64, Hash)],
    keys: &[(u64, Hash)],
    findings: &mut Vec<Finding>,
) {
    let leaves = merge_leaves(records, keys, findings);
    if let Err(e) = inclusion_error(pkg, &leaves) {
        findings.push(Finding::new(
            FindingCode::Inclusion,
            format!(
                "the package's {} entries are not proven in the checkpoint's tree: {e}",
                leaves.len()
            ),
        ));
    }
}

/// Checks the multiproof of `leaves` (sorted by log index) against the checkpoint.
pub(super) fn inclusion_error(
    pkg: &Package,
    leaves: &[(u64, Hash)],
) -> Result<(), MultiproofError> {
    proof_error(pkg, &pkg.proof, leaves)
}

/// Checks a multiproof file of `leaves` (sorted by log index) against the checkpoint.
pub(super) fn proof_error(
    pkg: &Package,
    proof: &ProofFile,
    leaves: &[(u64, Hash)],
) -> Result<(), MultiproofError> {
    if proof.tree_size != pkg.checkpoint.size {
        return Err(MultiproofError::WrongSize {
            proof_size: proof.tree_size,
            size: pkg.checkpoint.size,
        });
    }
    verify_multiproof(
        pkg.checkpoint.size,
        leaves,
        &proof.hashes,
        &pkg.checkpoint.root,
    )
}
