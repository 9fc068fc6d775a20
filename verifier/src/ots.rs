//! The `ots info` and `ots verify` commands, and the timestamp check of evidence
//! packages: OpenTimestamps `.ots` files parsed and replayed by the `anchor` crate
//! (pure build, no calendar client), Bitcoin attestations checked against block headers
//! the auditor supplies.
//!
//! A Bitcoin attestation holds when the 32-byte message at the attestation equals bytes
//! 36..68 of the 80-byte header at its height (the Merkle root field, no byte reversal);
//! the attested time is that header's nTime. Explorers print the Merkle root reversed,
//! which is the form the JSON output uses (`merkle_root`).

use anchor::{
    Attestation, DetachedTimestamp, HeaderSet, OtsError, PendingCommitment, VerifiedAttestation,
};
use serde::Serialize;

use crate::error::VerifyError;

/// `ots info --json`: the file-hash operation, the digest and every attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtsInfo {
    pub file_hash_op: String,
    pub file_digest: String,
    pub attestations: Vec<AttestationInfo>,
}

/// One attestation as `ots info --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum AttestationInfo {
    /// `merkle_root` is the attested message byte-reversed, as block explorers print it.
    Bitcoin {
        height: u64,
        merkle_root: String,
    },
    /// Litecoin uses Bitcoin's header layout, so the same reversed form applies.
    Litecoin {
        height: u64,
        merkle_root: String,
    },
    Ethereum {
        height: u64,
    },
    /// `commitment` is what `GET <uri>/timestamp/<hex>` asks the calendar for.
    Pending {
        uri: String,
        commitment: String,
    },
    Unknown {
        tag: String,
    },
}

fn reversed_hex(message: &[u8]) -> String {
    let mut m = message.to_vec();
    m.reverse();
    hex::encode(m)
}

fn ots_malformed(e: OtsError) -> VerifyError {
    VerifyError::malformed(".ots file", e.to_string())
}

/// Parses a detached timestamp, mapping parse errors to malformed input.
pub fn parse_ots(bytes: &[u8]) -> Result<DetachedTimestamp, VerifyError> {
    DetachedTimestamp::parse(bytes).map_err(ots_malformed)
}

/// Lists what a `.ots` file attests, replaying every operation from its digest.
pub fn ots_info(bytes: &[u8]) -> Result<OtsInfo, VerifyError> {
    let stamp = parse_ots(bytes)?;
    let attested = stamp.attestations().map_err(ots_malformed)?;
    let attestations = attested
        .iter()
        .map(|a| match a.attestation {
            Attestation::Bitcoin { height } => AttestationInfo::Bitcoin {
                height: *height,
                merkle_root: reversed_hex(&a.message),
            },
            Attestation::Litecoin { height } => AttestationInfo::Litecoin {
                height: *height,
                merkle_root: reversed_hex(&a.message),
            },
            Attestation::Ethereum { height } => AttestationInfo::Ethereum { height: *height },
            Attestation::Pending { uri } => AttestationInfo::Pending {
                uri: uri.clone(),
                commitment: hex::encode(&a.message),
            },
            Attestation::Unknown { tag, .. } => AttestationInfo::Unknown {
                tag: hex::encode(tag),
            },
        })
        .collect();
    Ok(OtsInfo {
        file_hash_op: stamp.file_hash_op.name().to_owned(),
        file_digest: hex::encode(&stamp.digest),
        attestations,
    })
}

/// Parses a block headers file (`HEIGHT HEX80` per line).
pub fn parse_headers(text: &str) -> Result<HeaderSet, VerifyError> {
    HeaderSet::parse(text).map_err(|e| VerifyError::malformed("block headers file", e.to_string()))
}

/// Everything learnt from checking a stamp against some data and some headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StampCheck {
    /// Whether the stamp's digest is the hash of the data with the stamp's own
    /// file-hash operation.
    pub digest_matches: bool,
    /// The stamp's digest, hex.
    pub stamp_digest: String,
    /// The digest of the data with the stamp's file-hash operation, hex.
    pub data_digest: String,
    /// Bitcoin attestations whose message is the Merkle root of the supplied header.
    pub verified: Vec<VerifiedAttestation>,
    /// Bitcoin attestations that contradict the supplied header: `(height, reason)`.
    pub mismatched: Vec<(u64, String)>,
    /// Heights of Bitcoin attestations for which no header was supplied.
    pub missing_headers: Vec<u64>,
    /// Pending attestations (not yet anchored).
    pub pending: Vec<PendingCommitment>,
    /// Attestations that cannot be checked offline against Bitcoin headers.
    pub unchecked: Vec<String>,
}

impl StampCheck {
    /// The earliest verified Bitcoin attestation.
    pub fn earliest(&self) -> Option<&VerifiedAttestation> {
        self.verified.iter().min_by_key(|v| v.height)
    }

    /// Valid in the sense of `ots verify`: the digest matches and at least one Bitcoin
    /// attestation matches its header.
    pub fn is_valid(&self) -> bool {
        self.digest_matches && !self.verified.is_empty()
    }
}

/// Checks `stamp` for `data` against `headers`.
pub fn check_stamp(
    stamp: &DetachedTimestamp,
    data: &[u8],
    headers: &HeaderSet,
) -> Result<StampCheck, VerifyError> {
    let data_digest = stamp.file_hash_op.hash(data);
    let report = stamp.verify_bitcoin(headers).map_err(ots_malformed)?;
    let mut check = StampCheck {
        digest_matches: data_digest == stamp.digest,
        stamp_digest: hex::encode(&stamp.digest),
        data_digest: hex::encode(&data_digest),
        verified: report.verified,
        pending: report.pending,
        unchecked: report
            .unchecked
            .iter()
            .map(|u| u.attestation.to_string())
            .collect(),
        ..StampCheck::default()
    };
    for failed in report.failed {
        match (&failed.attestation, failed.error) {
            (_, OtsError::MissingHeader { height }) => check.missing_headers.push(height),
            (Attestation::Bitcoin { height }, error) => {
                check.mismatched.push((*height, error.to_string()))
            }
            (other, error) => check.unchecked.push(format!("{other}: {error}")),
        }
    }
    Ok(check)
}

/// `ots verify`: valid when the target's digest matches and at least one Bitcoin
/// attestation matches its header. Returns the check on success; otherwise a
/// verification failure that says what was wrong.
pub fn verify_ots(
    ots: &[u8],
    target: &[u8],
    headers: &HeaderSet,
) -> Result<StampCheck, VerifyError> {
    let stamp = parse_ots(ots)?;
    let check = check_stamp(&stamp, target, headers)?;
    if !check.digest_matches {
        return Err(VerifyError::Timestamp(format!(
            "the stamp is for digest {} but the target's {} digest is {}",
            check.stamp_digest,
            stamp.file_hash_op.name(),
            check.data_digest
        )));
    }
    if check.verified.is_empty() {
        let mut reasons = Vec::new();
        for (height, reason) in &check.mismatched {
            reasons.push(format!("block {height}: {reason}"));
        }
        for height in &check.missing_headers {
            reasons.push(format!("no header supplied for block {height}"));
        }
        if !check.pending.is_empty() {
            reasons.push(format!(
                "{} pending attestation(s) not yet anchored",
                check.pending.len()
            ));
        }
        if reasons.is_empty() {
            reasons.push("the stamp has no Bitcoin attestation".into());
        }
        return Err(VerifyError::Timestamp(format!(
            "no Bitcoin attestation matches the supplied headers ({})",
            reasons.join("; ")
        )));
    }
    Ok(check)
}
