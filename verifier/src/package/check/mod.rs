//! Verifying a parsed package (docs/EVIDENCE_PACKAGE.md §6): every check runs and every
//! problem becomes a [`Finding`]; nothing stops at the first failure.
//!
//! [`verify_package`] runs the checks in a fixed order, so the findings of a package
//! always come out in the same order: the checkpoint signature and the manifest's
//! statements, the key records, the records (signatures, then decoding and the
//! per-appliance chains), the multiproof, and last the checkpoint's timestamp. Each check
//! lives in its own file; [`check_citation`] reuses the key and inclusion checks for one
//! cited record.

mod anchor;
mod chains;
mod checkpoint;
mod citation;
mod inclusion;
mod keys;
mod manifest;
mod records;
mod segmented;
mod signatures;

// `::anchor` is the OpenTimestamps crate; `anchor` alone is the module above.
use ::anchor::HeaderSet;
use ledger_core::note::NoteVerifier;
use ledger_record::VerifyingKey;

use super::chain_window::DEFAULT_WINDOW;
use super::progress::Progress;
use super::report::{Finding, FindingCode, LogSummary, Report};
use super::Package;
use crate::hashes::hash_b64;

pub use citation::{check_citation, check_citation_segmented, CitedRecord};
pub use segmented::verify_segmented;
pub use signatures::SignatureMode;

/// Default records decoded and verified together; bounds memory for large packages.
const CHUNK: usize = 16_384;

/// What the auditor brings.
#[derive(Clone, Copy)]
pub struct VerifyOptions<'a> {
    /// The log key the auditor trusts.
    pub log_key: &'a NoteVerifier,
    /// Block headers the auditor trusts, if any.
    pub headers: Option<&'a HeaderSet>,
    /// An operator key the auditor pins; otherwise the manifest's key is used, trusted
    /// through the logged key records it verifies.
    pub operator_key: Option<VerifyingKey>,
    pub signatures: SignatureMode,
    pub progress: Option<&'a dyn Progress>,
    /// Records decoded and verified together (at least 1): bounds the memory held by
    /// decoded records. The result does not depend on it.
    pub chunk_size: usize,
    /// Recent records kept per chain beyond its head, holes and bounds (see
    /// `chain_window`). The result does not depend on it.
    pub chain_window: usize,
    /// Shown every decodable record of the records files, in log order, while the
    /// checks run (the audit report aggregates them in the same pass). What it sees is
    /// trustworthy only once the whole verification has found nothing.
    pub observer: Option<&'a dyn RecordObserver>,
}

/// Sees each decodable record of a package once, in log order, during verification.
/// Called from the one thread that runs the log-order checks, hence `&self` and `Sync`.
pub trait RecordObserver: Sync {
    fn observe(&self, index: u64, record: &ledger_record::Record);
}

impl<'a> VerifyOptions<'a> {
    pub fn new(log_key: &'a NoteVerifier) -> VerifyOptions<'a> {
        VerifyOptions {
            log_key,
            headers: None,
            operator_key: None,
            signatures: SignatureMode::Batch,
            progress: None,
            chunk_size: CHUNK,
            chain_window: DEFAULT_WINDOW,
            observer: None,
        }
    }
}

/// Runs every check of docs/EVIDENCE_PACKAGE.md §6 and reports.
pub fn verify_package(pkg: &Package, opts: &VerifyOptions<'_>) -> Report {
    let mut findings = Vec::new();
    let mut notes = Vec::new();

    let signature_valid = checkpoint::check_checkpoint(pkg, opts.log_key, &mut findings);
    manifest::check_manifest(pkg, &mut findings);
    let operator_key = resolve_operator_key(pkg, opts.operator_key, &mut findings);

    let (history, key_leaves) = keys::check_keys(pkg, operator_key, &mut findings);
    let (records, leaves) =
        records::check_records(pkg, &history, operator_key, opts, &mut findings);
    inclusion::check_inclusion(pkg, &leaves, &key_leaves, &mut findings);
    let anchor = anchor::check_anchor(pkg, opts.headers, &mut findings, &mut notes);
    report(
        pkg,
        opts,
        operator_key,
        signature_valid,
        records,
        anchor,
        findings,
        notes,
    )
}

/// The report from the checks' results, with the note on an unpinned operator key.
#[allow(clippy::too_many_arguments)]
fn report(
    pkg: &Package,
    opts: &VerifyOptions<'_>,
    operator_key: VerifyingKey,
    signature_valid: bool,
    records: records::RecordsOutcome,
    anchor: super::report::AnchorSummary,
    findings: Vec<Finding>,
    mut notes: Vec<String>,
) -> Report {
    if opts.operator_key.is_none() {
        notes.push(format!(
            "operator key {} taken from the package; it is trusted only through the logged key records it signs.",
            hex::encode(operator_key.as_bytes())
        ));
    }
    Report {
        valid: findings.is_empty(),
        format_version: pkg.manifest.version,
        log: LogSummary {
            origin: pkg.checkpoint.origin.clone(),
            checkpoint_size: pkg.checkpoint.size,
            checkpoint_root: hash_b64(&pkg.checkpoint.root),
            signature_valid,
            verifier_key: opts.log_key.verifier_key(),
        },
        sites: pkg.manifest.sites.clone(),
        period: pkg.manifest.period,
        appliances: records.appliances,
        counts: records.counts,
        signatures: records.signatures,
        anchor,
        findings,
        notes,
    }
}

/// The operator key to verify key records with: the auditor's pinned key if any (a
/// manifest naming another key is a finding), otherwise the manifest's.
fn resolve_operator_key(
    pkg: &Package,
    pinned: Option<VerifyingKey>,
    findings: &mut Vec<Finding>,
) -> VerifyingKey {
    let Some(pinned) = pinned else {
        return pkg.operator_key;
    };
    if pinned != pkg.operator_key {
        findings.push(Finding::new(
            FindingCode::ManifestMismatch,
            format!(
                "the manifest's operator key {} is not the pinned operator key {}",
                hex::encode(pkg.operator_key.as_bytes()),
                hex::encode(pinned.as_bytes())
            ),
        ));
    }
    pinned
}
