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
        self.write_log(&mut s);
        self.counts.write_text(&mut s);
        self.write_appliances(&mut s);
        self.anchor.write_text(&mut s);
        write_findings(&self.findings, &mut s);
        for n in &self.notes {
            let _ = writeln!(s, "Note: {n}");
        }
        s
    }

    /// The verdict, the log and checkpoint, the sites and the period.
    fn write_log(&self, s: &mut String) {
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
    }

    /// One line per appliance chain, then the signature tally.
    fn write_appliances(&self, s: &mut String) {
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
    }
}

impl Counts {
    /// The record counts, with a line per breakdown that has anything in it.
    fn write_text(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "Records: {} and {}.",
            plural(self.records, "record", "records"),
            plural(self.key_records, "key record", "key records")
        );
        if !self.by_kind.is_empty() {
            let _ = writeln!(s, "  by kind: {}.", map_line(&self.by_kind));
        }
        if !self.evidence_items_by_status.is_empty() {
            let _ = writeln!(
                s,
                "  evidence items by status: {}.",
                map_line(&self.evidence_items_by_status)
            );
        }
        if self.committed_bundles > 0 {
            let _ = writeln!(
                s,
                "  {} commit to their items by root only.",
                plural(
                    self.committed_bundles,
                    "evidence bundle",
                    "evidence bundles"
                )
            );
        }
        if !self.healing_by_outcome.is_empty() {
            let _ = writeln!(
                s,
                "  healing by outcome: {}.",
                map_line(&self.healing_by_outcome)
            );
        }
        if self.outside_period > 0 {
            let _ = writeln!(
                s,
                "  {} carry an appliance time outside the period.",
                plural(self.outside_period, "record", "records")
            );
        }
    }
}

impl AnchorSummary {
    /// One sentence on the anchor, by status.
    fn write_text(&self, s: &mut String) {
        match (self.status.as_str(), self.height, self.time) {
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
                    self.pending.join(", ")
                );
            }
            ("none", _, _) => {
                let _ = writeln!(s, "Anchor: the package has no timestamp.");
            }
            _ => {
                let _ = writeln!(s, "Anchor: the timestamp does not check (see findings).");
            }
        }
    }
}

/// Every finding with its code and where it is, or that there is none.
fn write_findings(findings: &[Finding], s: &mut String) {
    if findings.is_empty() {
        let _ = writeln!(s, "Findings: none.");
        return;
    }
    let _ = writeln!(s, "Findings ({}):", findings.len());
    for f in findings {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An invalid report with every optional section filled in.
    fn invalid_report() -> Report {
        let mut counts = Counts {
            records: 1,
            key_records: 2,
            committed_bundles: 1,
            outside_period: 3,
            ..Counts::default()
        };
        counts.by_kind.insert("evidence".into(), 1);
        counts.evidence_items_by_status.insert("pass".into(), 4);
        counts.healing_by_outcome.insert("success".into(), 2);
        Report {
            valid: false,
            format_version: 1,
            log: LogSummary {
                origin: "example.com/log".into(),
                checkpoint_size: 9,
                checkpoint_root: "ROOT=".into(),
                signature_valid: false,
                verifier_key: "example.com/log+0+KEY".into(),
            },
            sites: vec!["clinic-1".into(), "clinic-2".into()],
            period: Some(super::super::Period {
                start_ms: 0,
                end_ms: 86_400_000,
            }),
            appliances: vec![ApplianceSummary {
                site_id: "clinic-1".into(),
                appliance_id: "box-1".into(),
                first_sequence: 1,
                last_sequence: 1,
                records: 1,
                head_hash: "ab".into(),
                first_log_index: Some(3),
                last_log_index: Some(3),
            }],
            counts,
            signatures: SignatureSummary {
                method: "batch".into(),
                checked: 1,
                valid: 0,
            },
            anchor: AnchorSummary {
                status: "pending".into(),
                pending: vec!["https://calendar.example".into()],
                ..AnchorSummary::default()
            },
            findings: vec![
                Finding::new(FindingCode::ChainGap, "sequence 2 is missing")
                    .at(5)
                    .chain("clinic-1/box-1")
                    .sequence(2),
                Finding::new(FindingCode::Inclusion, "not proven"),
            ],
            notes: vec!["a note.".into()],
        }
    }

    #[test]
    fn text_of_an_invalid_report_names_every_section_and_finding() {
        let expected = concat!(
            "Evidence package (format version 1): INVALID: the package failed some checks (findings below).\n",
            "Log example.com/log at tree size 9 with root ROOT=; the checkpoint signature does NOT verify with key example.com/log+0+KEY.\n",
            "Sites: clinic-1, clinic-2.\n",
            "Period: 1970-01-01T00:00:00Z to 1970-01-02T00:00:00Z (appliance time; informational).\n",
            "Records: 1 record and 2 key records.\n",
            "  by kind: 1 evidence.\n",
            "  evidence items by status: 4 pass.\n",
            "  1 evidence bundle commit to their items by root only.\n",
            "  healing by outcome: 2 success.\n",
            "  3 records carry an appliance time outside the period.\n",
            "Appliances (1):\n",
            "  clinic-1/box-1: sequences 1 to 1, 1 record, head ab.\n",
            "Signatures: 0 of 1 valid (batch verification).\n",
            "Anchor: pending at https://calendar.example (not yet in Bitcoin).\n",
            "Findings (2):\n",
            "  [chain_gap] (clinic-1/box-1, sequence 2, log index 5) sequence 2 is missing\n",
            "  [inclusion] not proven\n",
            "Note: a note.\n",
        );
        assert_eq!(invalid_report().render_text(), expected);
    }

    #[test]
    fn text_of_a_valid_report_without_anchor() {
        let mut report = invalid_report();
        report.valid = true;
        report.log.signature_valid = true;
        report.sites.clear();
        report.period = None;
        report.counts = Counts::default();
        report.appliances.clear();
        report.anchor = AnchorSummary {
            status: "none".into(),
            ..AnchorSummary::default()
        };
        report.findings.clear();
        report.notes.clear();
        let expected = concat!(
            "Evidence package (format version 1): VALID: every check passed.\n",
            "Log example.com/log at tree size 9 with root ROOT=; the checkpoint signature is valid with key example.com/log+0+KEY.\n",
            "Records: 0 records and 0 key records.\n",
            "Appliances (0):\n",
            "Signatures: 0 of 1 valid (batch verification).\n",
            "Anchor: the package has no timestamp.\n",
            "Findings: none.\n",
        );
        assert_eq!(report.render_text(), expected);
    }
}
