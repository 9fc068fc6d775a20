//! The operator key and the key history (docs/EVIDENCE_PACKAGE.md §6.3, docs/RECORDS.md
//! §7): `keys.bin` is replayed in log order into a [`KeyHistory`] (and its release
//! records into a [`ReleaseHistory`]), the operator's own chain is checked from genesis, and [`key_for`] then says which key a record must verify
//! with at its log index, or in words why the key it names is not that key.

use ledger_core::hash::{leaf_hash, Hash};
use ledger_record::{
    Body, ChainChecker, ChainId, ChainStart, KeyEndReason, KeyHistory, KeyId, Kind, Record,
    ReleaseHistory, VerifyingKey,
};

use super::chains::chain_finding;
use crate::package::report::{Finding, FindingCode};
use crate::package::Package;

/// Replays `keys.bin` into a key history (docs/RECORDS.md §7) and checks the operator's
/// chain from its first record.
pub(super) fn check_keys(
    pkg: &Package,
    operator_key: VerifyingKey,
    findings: &mut Vec<Finding>,
) -> (KeyHistory, Vec<(u64, Hash)>) {
    let mut history = KeyHistory::new(operator_key);
    let mut releases = ReleaseHistory::new();
    let mut operator_chain = ChainChecker::new(ChainStart::Genesis);
    let mut leaves = Vec::with_capacity(pkg.keys.len());
    for (index, bytes) in pkg.keys.iter() {
        leaves.push((index, leaf_hash(bytes)));
        let record = match Record::decode(bytes) {
            Ok(r) => r,
            Err(e) => {
                findings.push(
                    Finding::new(
                        FindingCode::KeyRecord,
                        format!("key record does not decode: {e}"),
                    )
                    .at(index),
                );
                continue;
            }
        };
        if !matches!(record.kind(), Kind::Key | Kind::Release | Kind::Rollout) {
            findings.push(
                Finding::new(
                    FindingCode::KeyRecord,
                    format!("keys.bin holds a {} record", record.kind().as_str()),
                )
                .at(index)
                .chain(record.chain())
                .sequence(record.sequence()),
            );
            continue;
        }
        let operator_record = is_operator_record(&record);
        if operator_record != (record.chain() == pkg.operator_chain) {
            findings.push(
                Finding::new(
                    FindingCode::KeyRecord,
                    format!(
                        "enrolments, revocations, links, release and rollout records, and only they, belong to the operator chain {}",
                        pkg.operator_chain
                    ),
                )
                .at(index)
                .chain(record.chain()),
            );
        }
        let applied = match record.kind() {
            Kind::Key => history
                .apply(index, &record)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Kind::Release => releases
                .apply(&history, index, &record)
                .map_err(|e| e.to_string()),
            _ => operator_signature(&history, &record),
        };
        if let Err(e) = applied {
            findings.push(
                Finding::new(FindingCode::KeyRecord, e.to_string())
                    .at(index)
                    .chain(record.chain())
                    .sequence(record.sequence()),
            );
        }
        if record.chain() == pkg.operator_chain {
            // Log order is guaranteed by the entry file's parser, so push cannot fail.
            let _ = operator_chain.push(index, &record);
        }
    }
    let report = operator_chain.finish();
    findings.extend(report.findings.into_iter().map(chain_finding));
    (history, leaves)
}

/// Records only the operator writes: enrolments, revocations, links, and its release and
/// rollout records (docs/RECORDS.md §5.4–§5.6).
fn is_operator_record(record: &Record) -> bool {
    match record.body() {
        Body::Key(k) => k.by_operator(),
        Body::Release(_) | Body::Rollout(_) => true,
        _ => false,
    }
}

/// A rollout record is checked for the operator's signature; what it says is the
/// rollout engine's business, not the key history's.
fn operator_signature(history: &KeyHistory, record: &Record) -> Result<(), String> {
    if record.key_id() != history.operator_key_id() {
        return Err(format!(
            "an operator record signed by key {}, not by the operator key {}",
            record.key_id(),
            history.operator_key_id()
        ));
    }
    record
        .verify(history.operator_key())
        .map_err(|e| e.to_string())
}

/// Explains why `key_id` is not the key to verify a record of `chain` at `index`.
fn explain_key(history: &KeyHistory, key_id: KeyId, chain: &ChainId, index: u64) -> String {
    let valid = history.key_at(chain, index).map_or_else(
        || "no key of this appliance is valid there".to_owned(),
        |k| format!("the valid key there is {}", k.key_id),
    );
    let Some(entry) = history.key(&key_id) else {
        return format!(
            "signed by key {key_id}, which no key record in the package introduces; {valid}"
        );
    };
    if entry.chain != *chain {
        return format!(
            "signed by key {key_id}, which belongs to {}; {valid}",
            entry.chain
        );
    }
    if index <= entry.introduced_at {
        return format!(
            "signed by key {key_id}, which becomes valid only after log index {}; {valid}",
            entry.introduced_at
        );
    }
    match entry.ended {
        Some(end) => match end.reason {
            KeyEndReason::Revoked { reason } => format!(
                "signed by key {key_id}, which was revoked at log index {} (reason: {reason:?}); {valid}",
                end.log_index
            ),
            KeyEndReason::Rotated { new_key_id } => format!(
                "signed by key {key_id}, which was rotated to {new_key_id} at log index {}; {valid}",
                end.log_index
            ),
        },
        None => format!("signed by key {key_id}; {valid}"),
    }
}

/// The key a record must verify with, or why there is none.
pub(super) fn key_for<'h>(
    record: &Record,
    index: u64,
    history: &'h KeyHistory,
    operator_key: &'h VerifyingKey,
) -> Result<&'h VerifyingKey, String> {
    if is_operator_record(record) {
        return if record.key_id() == history.operator_key_id() {
            Ok(operator_key)
        } else {
            Err(format!(
                "an operator record signed by key {}, not by the operator key {}",
                record.key_id(),
                history.operator_key_id()
            ))
        };
    }
    let chain = record.chain();
    match history.key_at(&chain, index) {
        Some(k) if k.key_id == record.key_id() => Ok(&k.public_key),
        _ => Err(explain_key(history, record.key_id(), &chain, index)),
    }
}
