//! Which release an appliance ran at a given time, from an evidence package alone
//! (docs/UPDATES.md "Auditing"): the package is verified first; then the appliance's
//! `update` records (in its record segments) say when it reported `succeeded` for which
//! release record, and the release records (in `keys.bin`, checked against the release
//! keys the operator enrolled) say what that release is. Both are cited.

use std::sync::Mutex;

use ledger_core::hash::Hash;
use ledger_record::{Body, ChainId, KeyHistory, Kind, Record, ReleaseHistory, UpdateState};

use crate::citation::Citation;
use crate::error::VerifyError;
use crate::package::{
    verify_package, verify_segmented, OpenedPackage, RecordObserver, Report, VerifyOptions,
};

/// A `succeeded` step of the appliance: log index, appliance time, release record hash,
/// rollout id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Succeeded {
    index: u64,
    time_ms: u64,
    release_hash: Hash,
    rollout_id: String,
}

struct Watch<'a> {
    chain: &'a ChainId,
    seen: Mutex<Vec<Succeeded>>,
}

impl RecordObserver for Watch<'_> {
    fn observe(&self, index: u64, record: &Record) {
        let Body::Update(update) = record.body() else {
            return;
        };
        if update.state != UpdateState::Succeeded || record.chain() != *self.chain {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.push(Succeeded {
            index,
            time_ms: record.time_ms(),
            release_hash: update.release_hash,
            rollout_id: update.rollout_id.to_string(),
        });
    }
}

/// The release an appliance ran, with the records that prove it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstalledRelease {
    pub version: String,
    pub channel: String,
    pub artifact_sha256: String,
    pub artifact_size: u64,
    pub rollout_id: String,
    /// The appliance's `succeeded` update record: log index, appliance time, citation.
    pub update_index: u64,
    pub update_time_ms: u64,
    pub update_citation: String,
    /// The release record: log index and citation.
    pub release_index: u64,
    pub release_citation: String,
    /// The release key that signed it.
    pub release_key: String,
}

/// The answer: the verification report, and the latest release the appliance reported
/// `succeeded` for at or before the time (None: none in the package).
pub struct ReleaseAt {
    pub report: Report,
    pub installed: Option<InstalledRelease>,
}

/// Verifies `opened` and finds the release `chain` ran at `at_ms` (appliance time of its
/// update records). `installed` is only looked for when the package is valid.
pub fn release_at(
    opened: &OpenedPackage,
    opts: &VerifyOptions<'_>,
    chain: &ChainId,
    at_ms: u64,
) -> Result<ReleaseAt, VerifyError> {
    let watch = Watch {
        chain,
        seen: Mutex::new(Vec::new()),
    };
    let mut opts = *opts;
    opts.observer = Some(&watch);
    let report = match opened {
        OpenedPackage::V1(pkg) => verify_package(pkg, &opts),
        OpenedPackage::V2(pkg) => verify_segmented(pkg, &opts)?,
    };
    if !report.valid {
        return Ok(ReleaseAt {
            report,
            installed: None,
        });
    }
    let operator_key = opts.operator_key.unwrap_or(opened.head().operator_key);
    let seen = std::mem::take(&mut *watch.seen.lock().unwrap_or_else(|p| p.into_inner()));
    let latest = seen
        .into_iter()
        .filter(|s| s.time_ms <= at_ms)
        .max_by_key(|s| s.index);
    let installed = match latest {
        // The verification used the pinned operator key, or the manifest's.
        Some(step) => Some(describe(opened, step, operator_key)?),
        None => None,
    };
    Ok(ReleaseAt { report, installed })
}

/// The release record of `step` from the package's `keys.bin`, replayed against the
/// release keys the operator enrolled.
fn describe(
    opened: &OpenedPackage,
    step: Succeeded,
    operator_key: ledger_record::VerifyingKey,
) -> Result<InstalledRelease, VerifyError> {
    let head = opened.head();
    let mut keys = KeyHistory::new(operator_key);
    let mut releases = ReleaseHistory::new();
    for (index, bytes) in head.keys.iter() {
        let Ok(record) = Record::decode(bytes) else {
            continue;
        };
        // The package verified, so these apply; a refusal would already be a finding.
        let _ = match record.kind() {
            Kind::Key => keys
                .apply(index, &record)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Kind::Release => releases
                .apply(&keys, index, &record)
                .map_err(|e| e.to_string()),
            _ => Ok(()),
        };
    }
    let logged = releases
        .releases()
        .iter()
        .find(|r| r.record_hash == step.release_hash)
        .ok_or_else(|| VerifyError::Malformed {
            what: "package".into(),
            reason: format!(
                "the update record at log index {} names release record {}, which the package's keys.bin does not hold",
                step.index, step.release_hash
            ),
        })?;
    let cite = |index| {
        Citation {
            origin: head.checkpoint.origin.clone(),
            index,
            size: head.checkpoint.size,
            root: head.checkpoint.root,
        }
        .to_string()
    };
    let st = &logged.release.statement;
    Ok(InstalledRelease {
        version: st.version.to_string(),
        channel: st.channel.to_string(),
        artifact_sha256: hex::encode(st.artifact_sha256.as_bytes()),
        artifact_size: st.artifact_size,
        rollout_id: step.rollout_id,
        update_index: step.index,
        update_time_ms: step.time_ms,
        update_citation: cite(step.index),
        release_index: logged.log_index,
        release_citation: cite(logged.log_index),
        release_key: releases.key(&st.key_id).map_or_else(
            || st.key_id.to_string(),
            |k| format!("{} ({})", k.name, k.key_id),
        ),
    })
}
