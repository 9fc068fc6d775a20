//! The `receipt` command: a C2SP tlog-proof (`.tlog-proof`) for one entry, checked with
//! `ledger-core`'s [`Receipt`]: the checkpoint's signature by the log key (and its origin
//! being the key's name), the RFC 6962 leaf hash of the entry bytes, and the inclusion
//! proof against the signed root.

use ledger_core::hash::Hash;
use ledger_core::note::NoteVerifier;
use ledger_core::receipt::Receipt;

use crate::error::VerifyError;

/// What a valid receipt proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptSummary {
    pub origin: String,
    pub index: u64,
    pub tree_size: u64,
    pub root: Hash,
    pub leaf_hash: Hash,
}

/// Parses and verifies a receipt for `entry` with the log key.
pub fn check_receipt(
    receipt: &[u8],
    entry: &[u8],
    log: &NoteVerifier,
) -> Result<ReceiptSummary, VerifyError> {
    let parsed = Receipt::parse(receipt)?;
    let verified = parsed.verify_entry(entry, log)?;
    let checkpoint = verified.checkpoint();
    Ok(ReceiptSummary {
        origin: checkpoint.origin().to_owned(),
        index: verified.index(),
        tree_size: checkpoint.size(),
        root: *checkpoint.root(),
        leaf_hash: *verified.leaf_hash(),
    })
}
