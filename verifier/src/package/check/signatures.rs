//! Record signatures (docs/EVIDENCE_PACKAGE.md §6.4): every decoded record against the key
//! valid for its chain at its log index.
//!
//! In [`SignatureMode::Batch`], the default, records are verified in batches with
//! `ledger_record::verify_batch`; a batch that fails is re-verified record by record with
//! strict single verification, which names the failing records. Batch verification uses
//! the cofactored equation, so a signature crafted *by the key holder* with small-order
//! components could pass a batch and fail strict verification (docs/RECORDS.md §4.3); no
//! one without the key can make such a signature. ledgerd's intake uses the same
//! batch-then-strict rule, so it may have accepted such a record; [`SignatureMode::Strict`]
//! (`--strict-signatures`) verifies every record strictly, the verdict RECORDS.md §4.3
//! recommends when the appliance itself is not trusted to sign canonically, at about twice
//! the cost.

use ledger_core::hash::Hash;
use ledger_record::{verify_batch, KeyHistory, Record, RecordError, VerifyingKey};

use super::keys::key_for;
use crate::package::report::{Finding, FindingCode};

/// Records per signature batch.
pub(super) const BATCH: usize = 1024;

/// How record signatures are verified.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SignatureMode {
    /// Batch verification, strict single verification of failing batches.
    #[default]
    Batch,
    /// Strict single verification of every record.
    Strict,
}

impl SignatureMode {
    /// The name the report gives the method.
    pub(super) fn name(self) -> &'static str {
        match self {
            SignatureMode::Batch => "batch",
            SignatureMode::Strict => "strict",
        }
    }
}

/// A record of `records.bin` as decoded: its log index, leaf hash and the record or why
/// it does not decode.
pub(super) type Decoded = (u64, Hash, Result<Record, RecordError>);
/// Signatures checked, signatures valid, and findings, for one batch.
pub(super) type BatchOutcome = (u64, u64, Vec<Finding>);

/// Verifies the signatures of one batch; returns (checked, valid, findings).
pub(super) fn check_signatures(
    batch: &[Decoded],
    history: &KeyHistory,
    operator_key: &VerifyingKey,
    mode: SignatureMode,
) -> BatchOutcome {
    let mut findings = Vec::new();
    let mut pairs: Vec<(&Record, &VerifyingKey)> = Vec::with_capacity(batch.len());
    let mut indexes = Vec::with_capacity(batch.len());
    for (index, _, record) in batch {
        let Ok(record) = record else { continue };
        match key_for(record, *index, history, operator_key) {
            Ok(key) => {
                pairs.push((record, key));
                indexes.push(*index);
            }
            Err(why) => findings.push(
                Finding::new(FindingCode::RecordKey, why)
                    .at(*index)
                    .chain(record.chain())
                    .sequence(record.sequence()),
            ),
        }
    }
    let failures: Vec<(usize, RecordError)> = match mode {
        SignatureMode::Batch => verify_batch(&pairs).err().unwrap_or_default(),
        SignatureMode::Strict => pairs
            .iter()
            .enumerate()
            .filter_map(|(i, (r, k))| r.verify(k).err().map(|e| (i, e)))
            .collect(),
    };
    let checked = pairs.len() as u64;
    let valid = checked - failures.len() as u64;
    for (i, e) in failures {
        if let (Some((record, _)), Some(index)) = (pairs.get(i), indexes.get(i)) {
            findings.push(
                Finding::new(FindingCode::RecordSignature, e.to_string())
                    .at(*index)
                    .chain(record.chain())
                    .sequence(record.sequence()),
            );
        }
    }
    (checked, valid, findings)
}
