//! Checking one citation against a package: a yes or no for one record, where
//! [`verify_package`](super::verify_package) reports on all of them. The first failed
//! check is the error.

use ledger_core::checkpoint::SignedCheckpoint;
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::note::NoteVerifier;
use ledger_record::{KeyHistory, Record};
use rayon::prelude::*;

use super::inclusion::{inclusion_error, merge_leaves, proof_error};
use super::keys::key_for;
use crate::citation::Citation;
use crate::error::VerifyError;
use crate::hashes::hash_b64;
use crate::package::{segment_name, Package, SegmentedPackage};

/// A cited record, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitedRecord {
    pub citation: Citation,
    pub kind: String,
    pub chain: String,
    pub sequence: u64,
    pub time_ms: u64,
    /// SHA-256 of the record bytes, hex.
    pub record_hash: String,
}

fn fail<T>(message: String) -> Result<T, VerifyError> {
    Err(VerifyError::Citation(message))
}

/// Checks a citation against a package: the package's checkpoint is signed by the log
/// key and is the cited one (origin, size, root); the package holds a record at the
/// cited index; every entry of the package is proven in that checkpoint's tree; and the
/// record's signature verifies with the key valid at its index.
pub fn check_citation(
    pkg: &Package,
    citation: &Citation,
    log_key: &NoteVerifier,
) -> Result<CitedRecord, VerifyError> {
    check_cited_checkpoint(pkg, citation, log_key)?;
    let Some(bytes) = pkg
        .records
        .find(citation.index)
        .or_else(|| pkg.keys.find(citation.index))
    else {
        return fail(format!(
            "the package holds no record at log index {}",
            citation.index
        ));
    };
    check_entries_proven(pkg)?;
    cited_record(pkg, citation, bytes)
}

/// [`check_citation`] for a version 2 package: `keys.bin` and every segment are proven
/// with their own multiproofs, one segment in memory at a time.
pub fn check_citation_segmented(
    pkg: &SegmentedPackage,
    citation: &Citation,
    log_key: &NoteVerifier,
) -> Result<CitedRecord, VerifyError> {
    let head = &pkg.head;
    check_cited_checkpoint(head, citation, log_key)?;
    let key_leaves: Vec<(u64, Hash)> = head.keys.iter().map(|(i, b)| (i, leaf_hash(b))).collect();
    if let Err(e) = proof_error(head, &head.proof, &key_leaves) {
        return fail(format!("keys.bin is not proven in the checkpoint: {e}"));
    }
    let mut cited = head.keys.find(citation.index).map(<[u8]>::to_vec);
    for n in 0..pkg.segments {
        let (file, proof) = pkg.segment(n)?;
        let leaves: Vec<(u64, Hash)> = file
            .refs()
            .par_iter()
            .map(|e| (e.index, leaf_hash(file.bytes_of(e))))
            .collect();
        if let Err(e) = proof_error(head, &proof, &leaves) {
            return fail(format!(
                "{} is not proven in the checkpoint: {e}",
                segment_name(n)
            ));
        }
        if let Some(bytes) = file.find(citation.index) {
            if cited.as_deref().is_some_and(|k| k != bytes) {
                return fail(
                    "a records segment and keys.bin disagree about the cited log index".into(),
                );
            }
            cited = Some(bytes.to_vec());
        }
    }
    let Some(bytes) = cited else {
        return fail(format!(
            "the package holds no record at log index {}",
            citation.index
        ));
    };
    cited_record(head, citation, &bytes)
}

/// The cited record decodes and verifies with the key valid at its index.
fn cited_record(
    pkg: &Package,
    citation: &Citation,
    bytes: &[u8],
) -> Result<CitedRecord, VerifyError> {
    let record = Record::decode(bytes)
        .map_err(|e| VerifyError::Citation(format!("the cited record does not decode: {e}")))?;
    let history = replay_keys(pkg);
    let key = key_for(&record, citation.index, &history, &pkg.operator_key)
        .map_err(VerifyError::Citation)?;
    record
        .verify(key)
        .map_err(|e| VerifyError::Citation(format!("the cited record's signature: {e}")))?;
    Ok(CitedRecord {
        citation: citation.clone(),
        kind: record.kind().as_str().to_owned(),
        chain: record.chain().to_string(),
        sequence: record.sequence(),
        time_ms: record.time_ms(),
        record_hash: record.hash().to_string(),
    })
}

/// The package's checkpoint is signed by the log key and is the cited one.
fn check_cited_checkpoint(
    pkg: &Package,
    citation: &Citation,
    log_key: &NoteVerifier,
) -> Result<(), VerifyError> {
    let signed = match SignedCheckpoint::verify(pkg.checkpoint_note.as_bytes(), log_key) {
        Ok(s) => s,
        Err(e) => {
            return fail(format!(
                "the package's checkpoint does not verify with the log key: {e}"
            ))
        }
    };
    if signed.origin() != citation.origin
        || signed.size() != citation.size
        || *signed.root() != citation.root
    {
        return fail(format!(
            "the citation names log {:?} at size {} with root {}, the package's checkpoint is {:?} at size {} with root {}",
            citation.origin,
            citation.size,
            hash_b64(&citation.root),
            signed.origin(),
            signed.size(),
            hash_b64(signed.root())
        ));
    }
    Ok(())
}

/// Every entry of the package is proven in the checkpoint's tree, and the two entry
/// files agree where they overlap.
fn check_entries_proven(pkg: &Package) -> Result<(), VerifyError> {
    let record_leaves: Vec<(u64, Hash)> = pkg
        .records
        .refs()
        .par_iter()
        .map(|e| (e.index, leaf_hash(pkg.records.bytes_of(e))))
        .collect();
    let key_leaves: Vec<(u64, Hash)> = pkg.keys.iter().map(|(i, b)| (i, leaf_hash(b))).collect();
    let mut conflicts = Vec::new();
    let leaves = merge_leaves(&record_leaves, &key_leaves, &mut conflicts);
    if !conflicts.is_empty() {
        return fail("records.bin and keys.bin disagree about some log indexes".into());
    }
    if let Err(e) = inclusion_error(pkg, &leaves) {
        return fail(format!(
            "the package's entries are not proven in the checkpoint: {e}"
        ));
    }
    Ok(())
}

/// The key history of `keys.bin`. Key records that do not apply leave the history
/// unchanged; whether the cited record's own key is valid is what matters here.
fn replay_keys(pkg: &Package) -> KeyHistory {
    let mut history = KeyHistory::new(pkg.operator_key);
    for (index, key_bytes) in pkg.keys.iter() {
        if let Ok(record) = Record::decode(key_bytes) {
            let _ = history.apply(index, &record);
        }
    }
    history
}
