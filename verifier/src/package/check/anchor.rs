//! Anchoring (docs/EVIDENCE_PACKAGE.md §6.8): the OpenTimestamps stamp of the checkpoint
//! body, checked against Bitcoin block headers.
//!
//! Headers the auditor supplies are trusted; the package's own `headers.txt` is used only
//! when the auditor supplies none, and the anchor is then reported as `package_headers`,
//! not `verified`. A missing header or a pending attestation is a note, not a finding.

use anchor::{DetachedTimestamp, HashOp, HeaderSet};

use crate::error::VerifyError;
use crate::ots::{check_stamp, parse_headers, parse_ots, StampCheck};
use crate::package::report::{AnchorSummary, Finding, FindingCode};
use crate::package::Package;

/// Checks the package's stamp, if any, and summarizes the anchor for the report.
pub(super) fn check_anchor(
    pkg: &Package,
    trusted: Option<&HeaderSet>,
    findings: &mut Vec<Finding>,
    notes: &mut Vec<String>,
) -> AnchorSummary {
    let mut summary = AnchorSummary {
        status: "none".into(),
        ..AnchorSummary::default()
    };
    let Some(bytes) = &pkg.timestamp else {
        if pkg.manifest.timestamp {
            findings.push(Finding::new(
                FindingCode::StampMissing,
                "the manifest declares checkpoint.ots, but the package has none",
            ));
            summary.status = "invalid".into();
        }
        return summary;
    };
    if !pkg.manifest.timestamp {
        notes.push("checkpoint.ots is present although the manifest does not declare it; it was checked anyway.".into());
    }
    // Until an attestation is found to be verified, unverified or pending, the stamp is
    // invalid.
    summary.status = "invalid".into();
    let Some(stamp) = parse_stamp(bytes, findings) else {
        return summary;
    };
    let package_headers = match trusted {
        Some(_) => None,
        None => package_headers(pkg, findings),
    };
    let empty = HeaderSet::default();
    let (headers, trusted_headers) = match trusted {
        Some(headers) => (headers, true),
        None => (package_headers.as_ref().unwrap_or(&empty), false),
    };
    let check = match check_stamp(&stamp, pkg.checkpoint_body.as_bytes(), headers) {
        Ok(c) => c,
        Err(e) => {
            findings.push(Finding::new(FindingCode::StampMalformed, e.to_string()));
            return summary;
        }
    };
    if !check.digest_matches {
        findings.push(Finding::new(
            FindingCode::StampDigest,
            format!(
                "the timestamp is for digest {}, but the SHA-256 of this checkpoint's body is {}: it stamps another checkpoint",
                check.stamp_digest, check.data_digest
            ),
        ));
        return summary;
    }
    for (height, reason) in &check.mismatched {
        findings.push(Finding::new(
            FindingCode::StampHeaderMismatch,
            format!("Bitcoin attestation at block {height}: {reason}"),
        ));
    }
    summarize(&check, trusted_headers, &mut summary, notes);
    summary
}

/// Parses `checkpoint.ots`; a stamp that does not parse or whose file hash is not
/// SHA-256 is a finding.
fn parse_stamp(bytes: &[u8], findings: &mut Vec<Finding>) -> Option<DetachedTimestamp> {
    let stamp = match parse_ots(bytes) {
        Ok(s) => s,
        Err(e) => {
            findings.push(Finding::new(FindingCode::StampMalformed, e.to_string()));
            return None;
        }
    };
    if stamp.file_hash_op != HashOp::Sha256 {
        findings.push(Finding::new(
            FindingCode::StampDigest,
            format!(
                "the stamp's file hash is {}, a package's stamp is SHA-256 of the checkpoint body",
                stamp.file_hash_op.name()
            ),
        ));
        return None;
    }
    Some(stamp)
}

/// The package's own `headers.txt`, if it has one that parses; one that does not is a
/// finding.
fn package_headers(pkg: &Package, findings: &mut Vec<Finding>) -> Option<HeaderSet> {
    let text = pkg.headers.as_ref()?;
    match std::str::from_utf8(text)
        .map_err(|_| VerifyError::malformed("headers.txt", "not UTF-8"))
        .and_then(parse_headers)
    {
        Ok(set) => Some(set),
        Err(e) => {
            findings.push(Finding::new(FindingCode::HeadersMalformed, e.to_string()));
            None
        }
    }
}

/// The anchor's status from a stamp whose digest matches: the earliest verified
/// attestation, else the lowest attested block without a header, else pending, else
/// unverified (unless an attestation contradicted its header, which stays invalid).
fn summarize(
    check: &StampCheck,
    trusted_headers: bool,
    summary: &mut AnchorSummary,
    notes: &mut Vec<String>,
) {
    summary.pending = check.pending.iter().map(|p| p.uri.clone()).collect();
    if let Some(v) = check.earliest() {
        summary.status = if trusted_headers {
            "verified"
        } else {
            "package_headers"
        }
        .into();
        summary.height = Some(v.height);
        summary.time = Some(v.time);
        summary.time_utc = Some(crate::utc::format_unix_seconds(u64::from(v.time)));
        summary.block_hash = Some(v.block_hash_display.clone());
        if !trusted_headers {
            notes.push("the anchor was checked against block headers shipped in the package; pass --block-headers with headers you trust.".into());
        }
    } else if let Some(&h) = check.missing_headers.iter().min() {
        summary.status = "unverified".into();
        summary.height = Some(h);
        notes.push(format!(
            "the checkpoint has a Bitcoin attestation at block {h}, but no header for that block was supplied."
        ));
    } else if !check.pending.is_empty() {
        summary.status = "pending".into();
        notes.push("the checkpoint's timestamp is still pending at its calendars.".into());
    } else if check.mismatched.is_empty() {
        summary.status = "unverified".into();
        notes.push(
            "the timestamp has no attestation that can be checked against Bitcoin headers.".into(),
        );
    }
}
