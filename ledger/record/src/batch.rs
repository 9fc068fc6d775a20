//! Verifying many record signatures at once.
//!
//! `ed25519_dalek::verify_batch` checks n signatures for roughly the cost of n/2 single
//! checks but only answers "all valid" or "not all valid"; when it says no, each record is
//! verified on its own to find which failed.
//!
//! Caveat (documented in docs/RECORDS.md): batch verification uses the cofactored
//! equation, single verification ([`Record::verify`]) the strict cofactorless one. They
//! agree on every signature made by an honest signer and on every forgery attempt by
//! someone without the key; only the holder of a key can craft a signature with torsion
//! components that passes the batch and fails strict verification. Strict single
//! verification of every record is `ledger-verify package --strict-signatures`.

use ed25519_dalek::VerifyingKey;

use crate::error::RecordError;
use crate::ids::KeyId;
use crate::record::Record;

/// Verifies every `(record, key)` pair. On failure, returns the position and error of each
/// pair that does not verify, in input order.
pub fn verify_batch(pairs: &[(&Record, &VerifyingKey)]) -> Result<(), Vec<(usize, RecordError)>> {
    // Key ids are compared first: a record verified with the wrong key is a caller or
    // intake problem worth naming precisely, and needs no curve arithmetic to find.
    let mismatched: Vec<(usize, RecordError)> = pairs
        .iter()
        .enumerate()
        .filter_map(|(i, (record, key))| {
            let key_id = KeyId::of(key);
            (key_id != record.key_id()).then_some((
                i,
                RecordError::KeyIdMismatch {
                    record: record.key_id(),
                    key: key_id,
                },
            ))
        })
        .collect();
    if mismatched.is_empty() && !pairs.is_empty() {
        let messages: Vec<Vec<u8>> = pairs.iter().map(|(r, _)| r.signing_message()).collect();
        let message_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let signatures: Vec<_> = pairs.iter().map(|(r, _)| *r.signature()).collect();
        let keys: Vec<VerifyingKey> = pairs.iter().map(|(_, k)| **k).collect();
        if ed25519_dalek::verify_batch(&message_refs, &signatures, &keys).is_ok() {
            return Ok(());
        }
    }
    let failures: Vec<(usize, RecordError)> = pairs
        .iter()
        .enumerate()
        .filter_map(|(i, (record, key))| record.verify(key).err().map(|e| (i, e)))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}
