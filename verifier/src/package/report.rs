//! The result of verifying a package: a summary an auditor can read and every finding,
//! as text and as JSON (docs/EVIDENCE_PACKAGE.md §8 lists the finding codes).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::utc::{format_unix_millis, format_unix_seconds};

/// What kind of problem a finding is. Serialized as the snake_case code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingCode {
    /// The checkpoint is not signed by the auditor's log key, or names another origin.
    CheckpointSignature,
    /// A manifest statement contradicts the package (origin, tree size, counts).
    ManifestMismatch,
    /// A record does not decode as a canonical record.
    RecordMalformed,
    /// A record's signature does not verify with the key valid at its log index.
    RecordSignature,
    /// A record names a key that is not the appliance's valid key at its log index
    /// (unknown, rotated away or revoked).
    RecordKey,
    /// A key record is malformed or breaks the key lifecycle (docs/RECORDS.md §7).
    KeyRecord,
    /// The same log index holds different bytes in `records.bin` and `keys.bin`.
    EntryConflict,
    /// The entries and `proof.bin` do not lead to the checkpoint's root.
    Inclusion,
    /// Sequence numbers of a chain are missing.
    ChainGap,
    /// A record does not link to the record hash of its predecessor.
    ChainFork,
    /// Two different records have the same sequence number.
    ChainConflict,
    /// The same record appears twice.
    ChainDuplicate,
    /// A record is logged after a record of its chain with a higher sequence.
    ChainReordered,
    /// A chain's records do not cover the declared sequence range.
    ChainBounds,
    /// Records of a chain the manifest does not declare.
    UndeclaredChain,
    /// A record of a site outside the package's declared sites.
    OutOfScope,
    /// The manifest declares a timestamp, but there is none.
    StampMissing,
    /// The timestamp file does not parse.
    StampMalformed,
    /// The timestamp is for something other than this checkpoint's body.
    StampDigest,
    /// A Bitcoin attestation contradicts the block header at its height.
    StampHeaderMismatch,
    /// The package's `headers.txt` does not parse or is not a consistent chain.
    HeadersMalformed,
}

impl FindingCode {
    /// The code as serialized, e.g. `chain_gap`.
    pub fn as_str(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// One problem, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: FindingCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// `site/appliance`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
}

impl Finding {
    pub fn new(code: FindingCode, message: impl Into<String>) -> Finding {
        Finding {
            code,
            message: message.into(),
            log_index: None,
            chain: None,
            sequence: None,
        }
    }

    pub fn at(mut self, log_index: u64) -> Finding {
        self.log_index = Some(log_index);
        self
    }

    pub fn chain(mut self, chain: impl ToString) -> Finding {
        self.chain = Some(chain.to_string());
        self
    }

    pub fn sequence(mut self, sequence: u64) -> Finding {
        self.sequence = Some(sequence);
        self
    }
}

/// The log and checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogSummary {
    pub origin: String,
    pub checkpoint_size: u64,
    /// Padded standard base64, as in the checkpoint.
    pub checkpoint_root: String,
    /// Whether the checkpoint is signed by the auditor's log key.
    pub signature_valid: bool,
    /// The verifier key the checkpoint was checked with.
    pub verifier_key: String,
}

/// One appliance chain as found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplianceSummary {
    pub site_id: String,
    pub appliance_id: String,
    pub first_sequence: u64,
    pub last_sequence: u64,
    pub records: u64,
    /// Record hash of the last record, hex: where the next period's package starts.
    pub head_hash: String,
    /// First and last log index of the chain's records in the package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_log_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_log_index: Option<u64>,
}

/// Record counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Entries in `records.bin`.
    pub records: u64,
    /// Entries in `keys.bin`.
    pub key_records: u64,
    /// Decodable records of `records.bin` by kind (`evidence`, `healing`, `key`).
    pub by_kind: BTreeMap<String, u64>,
    /// Items of inline evidence bundles by status (`pass`, `warning`, `fail`, `error`).
    pub evidence_items_by_status: BTreeMap<String, u64>,
    /// Evidence bundles that commit to their items by root without showing them.
    pub committed_bundles: u64,
    /// Healing records by outcome (`success`, `failure`, `escalated`).
    pub healing_by_outcome: BTreeMap<String, u64>,
    /// Records whose appliance time is outside the declared period.
    pub outside_period: u64,
}

/// Signature checking.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SignatureSummary {
    /// `batch` (batch verification, strict single verification of failing batches) or
    /// `strict` (strict single verification of every record).
    pub method: String,
    pub checked: u64,
    pub valid: u64,
}

/// The timestamp of the checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AnchorSummary {
    /// `verified` (against the auditor's headers), `package_headers` (matches headers
    /// shipped in the package, not independently trusted), `unverified` (Bitcoin
    /// attestation but no header to check it), `pending`, `none` or `invalid`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_utc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_hash: Option<String>,
    /// Pending calendar URIs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
}

/// The whole result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// True when there is no finding.
    pub valid: bool,
    pub format_version: u32,
    pub log: LogSummary,
    pub sites: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<super::Period>,
    pub appliances: Vec<ApplianceSummary>,
    pub counts: Counts,
    pub signatures: SignatureSummary,
    pub anchor: AnchorSummary,
    pub findings: Vec<Finding>,
    /// Facts worth knowing that are not failures (pending stamps, untrusted headers …).
    pub notes: Vec<String>,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

fn map_line(map: &BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Report {
    /// The report as readable sentences.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let verdict = if self.valid {
            "VALID: every check passed."
        } else {
            "INVALID: the package failed some checks (findings below)."
        };
        let _ = writeln!(
            s,
            "Evidence package (format version {}): {verdict}",
            self.format_version
        );
        let _ = writeln!(
            s,
            "Log {} at tree size {} with root {}; the checkpoint signature {} with key {}.",
            self.log.origin,
            self.log.checkpoint_size,
            self.log.checkpoint_root,
            if self.log.signature_valid {
                "is valid"
            } else {
                "does NOT verify"
            },
            self.log.verifier_key
        );
        if !self.sites.is_empty() {
            let _ = writeln!(s, "Sites: {}.", self.sites.join(", "));
        }
        if let Some(p) = self.period {
            let _ = writeln!(
                s,
                "Period: {} to {} (appliance time; informational).",
                format_unix_millis(p.start_ms),
                format_unix_millis(p.end_ms)
            );
        }
        let c = &self.counts;
        let _ = writeln!(
            s,
            "Records: {} and {}.",
            plural(c.records, "record", "records"),
            plural(c.key_records, "key record", "key records")
        );
        if !c.by_kind.is_empty() {
            let _ = writeln!(s, "  by kind: {}.", map_line(&c.by_kind));
        }
        if !c.evidence_items_by_status.is_empty() {
            let _ = writeln!(
                s,
                "  evidence items by status: {}.",
                map_line(&c.evidence_items_by_status)
            );
        }
        if c.committed_bundles > 0 {
            let _ = writeln!(
                s,
                "  {} commit to their items by root only.",
                plural(c.committed_bundles, "evidence bundle", "evidence bundles")
            );
        }
        if !c.healing_by_outcome.is_empty() {
            let _ = writeln!(
                s,
                "  healing by outcome: {}.",
                map_line(&c.healing_by_outcome)
            );
        }
        if c.outside_period > 0 {
            let _ = writeln!(
                s,
                "  {} carry an appliance time outside the period.",
                plural(c.outside_period, "record", "records")
            );
        }
        let _ = writeln!(s, "Appliances ({}):", self.appliances.len());
        for a in &self.appliances {
            let _ = writeln!(
                s,
                "  {}/{}: sequences {} to {}, {}, head {}.",
                a.site_id,
                a.appliance_id,
                a.first_sequence,
                a.last_sequence,
                plural(a.records, "record", "records"),
                a.head_hash
            );
        }
        let _ = writeln!(
            s,
            "Signatures: {} of {} valid ({} verification).",
            self.signatures.valid, self.signatures.checked, self.signatures.method
        );
        let a = &self.anchor;
        match (a.status.as_str(), a.height, a.time) {
            ("verified", Some(h), Some(t)) => {
                let _ = writeln!(
                    s,
                    "Anchored: the checkpoint existed by Bitcoin block {h} ({}, block time {t}), verified against your block headers.",
                    format_unix_seconds(u64::from(t))
                );
            }
            ("package_headers", Some(h), Some(t)) => {
                let _ = writeln!(
                    s,
                    "Anchored per the package's own headers: Bitcoin block {h} ({}); pass --block-headers to verify against headers you trust.",
                    format_unix_seconds(u64::from(t))
                );
            }
            ("unverified", Some(h), _) => {
                let _ = writeln!(
                    s,
                    "Anchor: Bitcoin attestation at block {h}, not checked (no header for it); pass --block-headers."
                );
            }
            ("pending", _, _) => {
                let _ = writeln!(
                    s,
                    "Anchor: pending at {} (not yet in Bitcoin).",
                    a.pending.join(", ")
                );
            }
            ("none", _, _) => {
                let _ = writeln!(s, "Anchor: the package has no timestamp.");
            }
            _ => {
                let _ = writeln!(s, "Anchor: the timestamp does not check (see findings).");
            }
        }
        if self.findings.is_empty() {
            let _ = writeln!(s, "Findings: none.");
        } else {
            let _ = writeln!(s, "Findings ({}):", self.findings.len());
            for f in &self.findings {
                let mut place = Vec::new();
                if let Some(c) = &f.chain {
                    place.push(c.clone());
                }
                if let Some(q) = f.sequence {
                    place.push(format!("sequence {q}"));
                }
                if let Some(i) = f.log_index {
                    place.push(format!("log index {i}"));
                }
                let place = if place.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", place.join(", "))
                };
                let _ = writeln!(s, "  [{}]{place} {}", f.code.as_str(), f.message);
            }
        }
        for n in &self.notes {
            let _ = writeln!(s, "Note: {n}");
        }
        s
    }
}
