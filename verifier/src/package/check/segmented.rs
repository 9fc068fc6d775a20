//! Verifying a version 2 package in one pass over its segments (docs/EVIDENCE_PACKAGE.md
//! §6): the same checks and findings as version 1, with memory bounded by one segment,
//! the key records and per-chain state, whatever the number of records.
//!
//! Per segment: its records go through the record checks (`records.rs`, which keep the
//! chains' state across segments), and its multiproof is checked against the checkpoint
//! with that segment's leaves; an index also in `keys.bin` must hold the same bytes.
//! The records of all segments together must be in strictly increasing log order (a
//! package that breaks this is malformed). Only a repeated sequence older than the chain
//! window needs a second read of the segments (see `chain_window`).

use std::collections::BTreeMap;

use ledger_core::hash::Hash;

use super::inclusion::proof_error;
use super::manifest::{check_manifest_head, record_count_finding};
use super::records::{first_records, RecordChecks};
use super::{anchor, checkpoint, keys, report, resolve_operator_key, VerifyOptions};
use crate::error::VerifyError;
use crate::package::chain_window::FirstRecords;
use crate::package::report::{Finding, FindingCode, Report};
use crate::package::SegmentedPackage;

/// Runs every check on a version 2 package. An error means a segment is missing,
/// unreadable or malformed (exit code 2), as for an unreadable version 1 file.
pub fn verify_segmented(
    pkg: &SegmentedPackage,
    opts: &VerifyOptions<'_>,
) -> Result<Report, VerifyError> {
    let head = &pkg.head;
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let signature_valid = checkpoint::check_checkpoint(head, opts.log_key, &mut findings);
    check_manifest_head(head, &mut findings);
    let count_at = findings.len();
    let operator_key = resolve_operator_key(head, opts.operator_key, &mut findings);
    let (history, key_leaves) = keys::check_keys(head, operator_key, &mut findings);

    let mut inclusion = Vec::new();
    if let Err(e) = proof_error(head, &head.proof, &key_leaves) {
        inclusion.push(Finding::new(
            FindingCode::Inclusion,
            format!(
                "keys.bin's {} entries are not proven in the checkpoint's tree: {e}",
                key_leaves.len()
            ),
        ));
    }
    let key_map: BTreeMap<u64, Hash> = key_leaves.into_iter().collect();
    let mut checks = RecordChecks::new(head, opts);
    if let Some(p) = opts.progress {
        p.start("verifying records", head.manifest.record_count);
    }
    let mut last_index: Option<u64> = None;
    let mut records = 0u64;
    for n in 0..pkg.segments {
        let (file, proof) = pkg.segment(n)?;
        if let (Some(first), Some(last)) = (file.refs().first(), last_index) {
            if first.index <= last {
                return Err(VerifyError::malformed(
                    crate::package::segment_name(n),
                    format!(
                        "log index {} does not follow log index {last} of the previous segment",
                        first.index
                    ),
                ));
            }
        }
        last_index = file.refs().last().map(|e| e.index).or(last_index);
        records += file.len() as u64;
        let leaves = checks.check_file(&file, &history, operator_key, opts);
        segment_inclusion(head, n, &proof, &leaves, &key_map, &mut inclusion);
    }
    if let Some(p) = opts.progress {
        p.finish();
    }
    let mut first = FirstRecords::new();
    let wanted = checks.pending();
    if !wanted.is_empty() {
        for n in 0..pkg.segments {
            let (file, _) = pkg.segment(n)?;
            first_records(&wanted, file.iter(), &mut first);
        }
    }
    let outcome = checks.finish(&first, &mut findings);
    if let Some(f) = record_count_finding(head, records) {
        findings.insert(count_at, f);
    }
    findings.extend(inclusion);
    let anchor = anchor::check_anchor(head, opts.headers, &mut findings, &mut notes);
    Ok(report(
        head,
        opts,
        operator_key,
        signature_valid,
        outcome,
        anchor,
        findings,
        notes,
    ))
}

/// A segment's entries against `keys.bin` (same bytes at a shared index) and its
/// multiproof against the checkpoint.
fn segment_inclusion(
    head: &crate::package::Package,
    n: u64,
    proof: &crate::package::ProofFile,
    leaves: &[(u64, Hash)],
    key_map: &BTreeMap<u64, Hash>,
    findings: &mut Vec<Finding>,
) {
    for (index, leaf) in leaves {
        if key_map.get(index).is_some_and(|k| k != leaf) {
            findings.push(
                Finding::new(
                    FindingCode::EntryConflict,
                    "a records segment and keys.bin hold different entries for this log index",
                )
                .at(*index),
            );
        }
    }
    if let Err(e) = proof_error(head, proof, leaves) {
        findings.push(Finding::new(
            FindingCode::Inclusion,
            format!(
                "the {} entries of {} are not proven in the checkpoint's tree: {e}",
                leaves.len(),
                crate::package::segment_name(n)
            ),
        ));
    }
}
