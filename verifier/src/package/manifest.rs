//! `package.json`, the manifest of an evidence package (docs/EVIDENCE_PACKAGE.md §3).
//!
//! The manifest is the exporter's statement about the package: which log, which sites
//! and period, which appliance chains with which sequence ranges. Nothing in it is
//! trusted: the verifier checks every statement it can against the signed checkpoint and
//! the signed records, and reports disagreements as findings. Unknown fields are refused
//! so that a version 1 manifest has one meaning.

use ledger_core::hash::Hash;
use ledger_record::{ChainId, Id, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::VerifyError;

/// The `format` value of every package.
pub const FORMAT_NAME: &str = "evidence-ledger-package";
/// The package format version exporters write: segmented record files, each with its
/// own multiproof (docs/EVIDENCE_PACKAGE.md, version 2).
pub const FORMAT_VERSION: u32 = 2;
/// The first format version: one `records.bin` and one multiproof. Still read, and
/// written by [`PackageWriter`](super::PackageWriter).
pub const FORMAT_VERSION_V1: u32 = 1;

/// The manifest as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// [`FORMAT_VERSION`] or [`FORMAT_VERSION_V1`].
    pub version: u32,
    /// The log's origin, as in the checkpoint's first line.
    pub log_origin: String,
    /// The log's verifier key as the exporter sees it. Informational only: the auditor
    /// supplies the key they trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_verifier_key: Option<String>,
    /// The operator key that signs enrolments and revocations, and its chain.
    pub operator: OperatorInfo,
    /// The sites the package covers.
    pub sites: Vec<String>,
    /// The period the exporter selected, by record appliance time (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// When the package was made, Unix milliseconds (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported_at_ms: Option<u64>,
    /// The tree size of the checkpoint every proof is against.
    pub checkpoint_size: u64,
    /// Number of entries in `records.bin`.
    pub record_count: u64,
    /// Number of entries in `keys.bin`.
    pub key_count: u64,
    /// Every appliance chain the package covers, with its sequence range.
    pub chains: Vec<ChainDecl>,
    /// Whether `checkpoint.ots` is part of the package.
    pub timestamp: bool,
    /// Whether `headers.txt` is part of the package.
    pub headers: bool,
    /// Version 2: the number of record segments (`records-NNNNNN.bin` with
    /// `proof-NNNNNN.bin`); absent in version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<u64>,
}

/// The operator key and the chain its key records live in (docs/RECORDS.md §5.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorInfo {
    /// The 32-byte Ed25519 public key, lowercase hex.
    pub public_key: String,
    pub site_id: String,
    pub appliance_id: String,
}

/// A period in Unix milliseconds, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub start_ms: u64,
    pub end_ms: u64,
}

/// One appliance chain: the package holds its records with sequences
/// `first_sequence ..= last_sequence`; `prev_hash` is the record hash of the record
/// before `first_sequence` (the `prev_hash` field of the first record), all zeroes when
/// `first_sequence` is 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainDecl {
    pub site_id: String,
    pub appliance_id: String,
    pub first_sequence: u64,
    pub last_sequence: u64,
    /// Lowercase hex of 32 bytes.
    pub prev_hash: String,
}

/// A chain declaration with its fields checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBounds {
    pub chain: ChainId,
    pub first_sequence: u64,
    pub last_sequence: u64,
    pub prev_hash: Hash,
}

fn bad(reason: impl Into<String>) -> VerifyError {
    VerifyError::malformed("package.json", reason)
}

fn parse_id(value: &str, field: &str) -> Result<Id, VerifyError> {
    Id::new(value).map_err(|e| bad(format!("{field}: {e}")))
}

/// Decodes lowercase hex of exactly `N` bytes.
pub(crate) fn parse_hex<const N: usize>(value: &str, field: &str) -> Result<[u8; N], VerifyError> {
    if value.len() != 2 * N || value.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(bad(format!("{field}: expected {N} bytes of lowercase hex")));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(value, &mut out)
        .map_err(|_| bad(format!("{field}: expected {N} bytes of lowercase hex")))?;
    Ok(out)
}

impl Manifest {
    /// Parses and checks the manifest's own consistency (format, version, field syntax).
    pub fn parse(bytes: &[u8]) -> Result<Manifest, VerifyError> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if m.format != FORMAT_NAME {
            return Err(bad(format!(
                "format is {:?}, expected {FORMAT_NAME:?}",
                m.format
            )));
        }
        if m.version != FORMAT_VERSION && m.version != FORMAT_VERSION_V1 {
            return Err(bad(format!(
                "package format version {} is not supported (this verifier reads versions {FORMAT_VERSION_V1} and {FORMAT_VERSION})",
                m.version
            )));
        }
        if (m.version == FORMAT_VERSION) != m.segments.is_some() {
            return Err(bad(format!(
                "`segments` is required in version {FORMAT_VERSION} and unknown in version {FORMAT_VERSION_V1}"
            )));
        }
        if m.log_origin.is_empty() {
            return Err(bad("log_origin is empty"));
        }
        m.operator_key()?;
        m.operator_chain()?;
        for (i, site) in m.sites.iter().enumerate() {
            parse_id(site, &format!("sites[{i}]"))?;
        }
        if let Some(p) = m.period {
            if p.start_ms > p.end_ms {
                return Err(bad("period ends before it starts"));
            }
        }
        m.chain_bounds()?;
        Ok(m)
    }

    /// Serializes the manifest as pretty-printed JSON with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// The operator public key. It is taken from the manifest, but it is trusted only
    /// through what it signs: the key records it verifies must be in the log under the
    /// log key's checkpoint (docs/EVIDENCE_PACKAGE.md §6.3).
    pub fn operator_key(&self) -> Result<VerifyingKey, VerifyError> {
        let bytes = parse_hex::<32>(&self.operator.public_key, "operator.public_key")?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| bad("operator.public_key is not an Ed25519 public key"))?;
        if key.is_weak() {
            return Err(bad("operator.public_key is of small order"));
        }
        Ok(key)
    }

    /// The operator's chain (site id and appliance id of its key records).
    pub fn operator_chain(&self) -> Result<ChainId, VerifyError> {
        Ok(ChainId::new(
            parse_id(&self.operator.site_id, "operator.site_id")?,
            parse_id(&self.operator.appliance_id, "operator.appliance_id")?,
        ))
    }

    /// The declared chains with their fields checked: valid ids, no chain twice,
    /// `1 ≤ first ≤ last`, and a zero `prev_hash` exactly when `first` is 1.
    pub fn chain_bounds(&self) -> Result<Vec<ChainBounds>, VerifyError> {
        let mut out: Vec<ChainBounds> = Vec::with_capacity(self.chains.len());
        let mut seen = std::collections::BTreeSet::new();
        for (i, c) in self.chains.iter().enumerate() {
            let chain = ChainId::new(
                parse_id(&c.site_id, &format!("chains[{i}].site_id"))?,
                parse_id(&c.appliance_id, &format!("chains[{i}].appliance_id"))?,
            );
            if !seen.insert(chain.clone()) {
                return Err(bad(format!("chains[{i}]: chain {chain} is declared twice")));
            }
            if c.first_sequence == 0 || c.last_sequence < c.first_sequence {
                return Err(bad(format!(
                    "chains[{i}]: sequence range {}..={} is not 1 ≤ first ≤ last",
                    c.first_sequence, c.last_sequence
                )));
            }
            let prev_hash = Hash(parse_hex::<32>(
                &c.prev_hash,
                &format!("chains[{i}].prev_hash"),
            )?);
            if (c.first_sequence == 1) != (prev_hash == Hash([0; 32])) {
                return Err(bad(format!(
                    "chains[{i}]: prev_hash must be all zeroes exactly when first_sequence is 1"
                )));
            }
            out.push(ChainBounds {
                chain,
                first_sequence: c.first_sequence,
                last_sequence: c.last_sequence,
                prev_hash,
            });
        }
        Ok(out)
    }
}
