//! The manifest's statements about the rest of the package (docs/EVIDENCE_PACKAGE.md
//! §6.2): the log origin and tree size it names must be the checkpoint's, and the counts
//! it gives must be the entry files'.

use crate::package::report::{Finding, FindingCode};
use crate::package::Package;

/// One finding per manifest statement the package contradicts.
pub(super) fn check_manifest(pkg: &Package, findings: &mut Vec<Finding>) {
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
    if m.record_count != pkg.records.len() as u64 {
        mismatch(format!(
            "the manifest lists {} records, records.bin holds {}",
            m.record_count,
            pkg.records.len()
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
