//! The manifest's statements about the rest of the package (docs/EVIDENCE_PACKAGE.md
//! §6.2): the log origin and tree size it names must be the checkpoint's, and the counts
//! it gives must be the entry files'.

use crate::package::report::{Finding, FindingCode};
use crate::package::Package;

/// One finding per manifest statement the package contradicts (version 1).
pub(super) fn check_manifest(pkg: &Package, findings: &mut Vec<Finding>) {
    check_statements(pkg, Some(pkg.records.len() as u64), findings);
}

/// Version 2: the statements that need no record (origin, tree size, key count). The
/// record count is known only after the last segment ([`record_count_finding`]).
pub(super) fn check_manifest_head(pkg: &Package, findings: &mut Vec<Finding>) {
    check_statements(pkg, None, findings);
}

fn check_statements(pkg: &Package, records: Option<u64>, findings: &mut Vec<Finding>) {
    let m = &pkg.manifest;
    let mut mismatch =
        |what: String| findings.push(Finding::new(FindingCode::ManifestMismatch, what));
    if m.log_origin != pkg.checkpoint.origin {
        mismatch(format!(
            "the manifest names log {:?}, the checkpoint's origin is {:?}",
            m.log_origin, pkg.checkpoint.origin
        ));
    }
    if m.checkpoint_size != pkg.checkpoint.size {
        mismatch(format!(
            "the manifest names checkpoint size {}, the checkpoint's size is {}",
            m.checkpoint_size, pkg.checkpoint.size
        ));
    }
    if let Some(records) = records.filter(|n| *n != m.record_count) {
        mismatch(format!(
            "the manifest lists {} records, records.bin holds {records}",
            m.record_count
        ));
    }
    if m.key_count != pkg.keys.len() as u64 {
        mismatch(format!(
            "the manifest lists {} key records, keys.bin holds {}",
            m.key_count,
            pkg.keys.len()
        ));
    }
}

/// Version 2: the manifest's record count against the records of every segment.
pub(super) fn record_count_finding(pkg: &Package, records: u64) -> Option<Finding> {
    (pkg.manifest.record_count != records).then(|| {
        Finding::new(
            FindingCode::ManifestMismatch,
            format!(
                "the manifest lists {} records, the segments hold {records}",
                pkg.manifest.record_count
            ),
        )
    })
}
