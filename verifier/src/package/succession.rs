//! Packages of consecutive logs (a log per period, docs/EVIDENCE_PACKAGE.md §14): the
//! newer log's first entries are links (`ledger_record::LinkBody`) that commit to the
//! older log's final checkpoint and carry every appliance chain on, and this check ties
//! the two packages together:
//!
//! - the links name the pinned key of the older log and a final checkpoint signed by it,
//!   and the older package is of exactly that checkpoint;
//! - every chain of the older package that still had a valid key at its end is carried,
//!   with its last sequence number and record hash and that key;
//! - every chain of the newer package that was carried starts right after the carried
//!   head (its declared start is the carried sequence and hash), and no chain of the
//!   older package starts afresh.
//!
//! Each package is verified on its own first ([`super::verify_package`]); this adds only
//! what lies between them. Pure: it reads the parsed packages and their reports.

use std::collections::BTreeMap;

use ledger_core::checkpoint::SignedCheckpoint;
use ledger_core::note::NoteVerifier;
use ledger_record::{Body, CarriedChain, ChainId, Id, KeyBody, KeyHistory, LinkBody, Record};
use serde::Serialize;

use super::{Package, Report};

/// What the check of two consecutive packages found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Succession {
    pub valid: bool,
    pub previous_origin: String,
    pub previous_size: u64,
    pub period: String,
    pub previous_period: String,
    /// Link entries in the newer package and the chains they carry.
    pub links: usize,
    pub carried: usize,
    /// Chains of the older package checked against the links.
    pub chains_checked: usize,
    pub findings: Vec<String>,
}

impl Succession {
    /// A paragraph for the text output.
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "Succession: {} (period {:?}) succeeds {} (period {:?}) at its final checkpoint of size {}: {} link entries carry {} chains; {} chains of the previous package checked.\n",
            if self.valid { "valid" } else { "INVALID" },
            self.period,
            self.previous_origin,
            self.previous_period,
            self.previous_size,
            self.links,
            self.carried,
            self.chains_checked
        );
        for finding in &self.findings {
            out.push_str(&format!("  - {finding}\n"));
        }
        out
    }
}

/// The link bodies in `keys.bin` of `pkg`, in log order.
fn links(pkg: &Package) -> Vec<LinkBody> {
    pkg.keys
        .iter()
        .filter_map(|(_, bytes)| Record::decode(bytes).ok())
        .filter_map(|record| match record.body() {
            Body::Key(KeyBody::Link(link)) => Some(link.clone()),
            _ => None,
        })
        .collect()
}

/// Same key: name, key id and public key.
fn same_key(a: &NoteVerifier, b: &NoteVerifier) -> bool {
    a.name() == b.name() && a.key_id() == b.key_id() && a.public_key() == b.public_key()
}

/// Checks that `new` (verified as `new_report`) succeeds `old` (verified as
/// `old_report` with `old_key`).
pub fn check_succession(
    new: &Package,
    new_report: &Report,
    old: &Package,
    old_report: &Report,
    old_key: &NoteVerifier,
) -> Succession {
    let links = links(new);
    let mut out = Succession {
        valid: false,
        previous_origin: old.checkpoint.origin.clone(),
        previous_size: old.checkpoint.size,
        period: links.first().map(|l| l.period.clone()).unwrap_or_default(),
        previous_period: links
            .first()
            .map(|l| l.previous_period.clone())
            .unwrap_or_default(),
        links: links.len(),
        carried: links.iter().map(|l| l.carried.len()).sum(),
        chains_checked: 0,
        findings: Vec::new(),
    };
    for (report, which) in [(new_report, "newer"), (old_report, "older")] {
        if !report.valid {
            out.findings
                .push(format!("the {which} package does not verify on its own"));
        }
    }
    match links.first() {
        None => out
            .findings
            .push("the newer package's log does not start with a link to a previous log".into()),
        Some(link) => check_link(link, old, old_key, &mut out.findings),
    }
    let carried: BTreeMap<ChainId, &CarriedChain> = links
        .iter()
        .flat_map(|l| l.carried.iter())
        .map(|c| (c.chain.clone(), c))
        .collect();
    out.chains_checked = check_old_chains(old, old_report, &carried, &mut out.findings);
    check_new_chains(new, old_report, &carried, &mut out.findings);
    out.valid = out.findings.is_empty();
    out
}

/// The link names the pinned older key, and the older package is of its checkpoint.
fn check_link(link: &LinkBody, old: &Package, old_key: &NoteVerifier, findings: &mut Vec<String>) {
    match NoteVerifier::parse(&link.previous_log) {
        Ok(named) if same_key(&named, old_key) => {}
        Ok(_) | Err(_) => findings.push(format!(
            "the link names the previous log {}, not the pinned key {}",
            link.previous_log,
            old_key.verifier_key()
        )),
    }
    match SignedCheckpoint::verify(link.previous_checkpoint.as_bytes(), old_key) {
        Ok(last) => {
            if last.size() != old.checkpoint.size || *last.root() != old.checkpoint.root {
                findings.push(format!(
                    "the older package is of the checkpoint of size {}, but the link commits to the final checkpoint of size {} with another root",
                    old.checkpoint.size,
                    last.size()
                ));
            }
        }
        Err(e) => findings.push(format!(
            "the final checkpoint the link commits to is not signed by the pinned previous key: {e}"
        )),
    }
}

fn chain_of(site: &str, appliance: &str) -> Option<ChainId> {
    Some(ChainId::new(Id::new(site).ok()?, Id::new(appliance).ok()?))
}

/// Every chain of the older package with a key valid at its end is carried, at its
/// last record and with that key. Returns how many chains were checked.
fn check_old_chains(
    old: &Package,
    old_report: &Report,
    carried: &BTreeMap<ChainId, &CarriedChain>,
    findings: &mut Vec<String>,
) -> usize {
    let mut history = KeyHistory::new(old.operator_key);
    for (index, bytes) in old.keys.iter() {
        if let Ok(record) = Record::decode(bytes) {
            // Refused key records were reported by the package's own check.
            let _ = history.apply(index, &record);
        }
    }
    let mut checked = 0;
    for summary in &old_report.appliances {
        let Some(chain) = chain_of(&summary.site_id, &summary.appliance_id) else {
            continue;
        };
        let key = history.key_at(&chain, u64::MAX);
        let Some(c) = carried.get(&chain) else {
            if key.is_some() {
                findings.push(format!(
                    "{chain} still had a valid key at the end of the previous log, but no link carries it"
                ));
            }
            continue;
        };
        checked += 1;
        if c.sequence != summary.last_sequence || hex::encode(c.head_hash.0) != summary.head_hash {
            findings.push(format!(
                "{chain}: the link carries sequence {} with hash {}, but the previous log ends it at sequence {} with hash {}",
                c.sequence,
                hex::encode(c.head_hash.0),
                summary.last_sequence,
                summary.head_hash
            ));
        }
        if key.map(|k| k.public_key) != Some(c.public_key) {
            findings.push(format!(
                "{chain}: the link carries another key than the one valid at the end of the previous log"
            ));
        }
    }
    checked
}

/// Chains of the newer package start where the link says, and none of the older
/// package's chains starts afresh.
fn check_new_chains(
    new: &Package,
    old_report: &Report,
    carried: &BTreeMap<ChainId, &CarriedChain>,
    findings: &mut Vec<String>,
) {
    for bounds in &new.chains {
        let start = bounds.first_sequence - 1;
        match carried.get(&bounds.chain) {
            Some(c) if start < c.sequence => findings.push(format!(
                "{}: the newer package declares it from sequence {}, before the carried head at sequence {}",
                bounds.chain, bounds.first_sequence, c.sequence
            )),
            Some(c) if start == c.sequence && bounds.prev_hash != c.head_hash => {
                findings.push(format!(
                    "{}: its first record in the new log does not link to the carried head (sequence {})",
                    bounds.chain, c.sequence
                ))
            }
            Some(_) => {}
            None => {
                let in_old = old_report.appliances.iter().any(|a| {
                    a.site_id == bounds.chain.site_id.as_str()
                        && a.appliance_id == bounds.chain.appliance_id.as_str()
                });
                if in_old {
                    findings.push(format!(
                        "{}: has records in the previous log but is not carried into the new one",
                        bounds.chain
                    ));
                }
            }
        }
    }
}
