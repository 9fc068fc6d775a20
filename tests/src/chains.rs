//! The checks of the fault-matrix tests: what the log holds (read offline from a killed
//! server's data directory, after `fsck`, or online through the query API) against what
//! each appliance's outbox says it made and had acknowledged.
//!
//! The rules: every record an agent marked delivered is in the log at the index of its
//! receipt (nothing acknowledged is lost); each appliance's logged chain is exactly one
//! unbroken sequence 1..n with correct prev-hash links, each record once (no duplicate,
//! no fork, no conflict, no reordering: `ledger_record::ChainChecker` finds these); the
//! log holds only records the agent made, byte for byte.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use appliance::KeptRecord;
use base64::Engine;
use ledger::{Log, LogConfig};
use ledger_core::note::NoteVerifier;
use ledger_core::receipt::Receipt;
use ledger_record::{ChainChecker, ChainFinding, ChainStart, Record};
use serde_json::Value;

use crate::fleet::{AgentBox, SITE};

/// One logged record of an appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub sequence: u64,
    pub index: u64,
    pub bytes: Vec<u8>,
}

/// What an offline check of a log found.
#[derive(Debug, Clone)]
pub struct LogFacts {
    pub size: u64,
    /// Signed checkpoints `fsck` verified (each one consistent with the one before).
    pub checkpoints: u64,
    /// The chains of [`SITE`]'s appliances, by appliance id, in log order.
    pub chains: BTreeMap<String, Vec<Logged>>,
    /// What the chain checker found over every chain of the log (empty when clean).
    pub findings: Vec<ChainFinding>,
}

impl LogFacts {
    /// The logged chain of `appliance` (empty if nothing was logged yet).
    pub fn chain(&self, appliance: &str) -> &[Logged] {
        self.chains.get(appliance).map_or(&[], Vec::as_slice)
    }
}

/// Counts of what the checks found, summed over all checks of a test; everything but
/// `acknowledged` must stay 0.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Acknowledged (receipted, marked delivered) records checked, summed over checks.
    pub acknowledged: u64,
    /// Acknowledged records not in the log at their receipt's index.
    pub lost: u64,
    /// Records logged more than once.
    pub duplicates: u64,
    /// Forks and conflicts: a broken prev-hash link, or two records with one sequence.
    pub forks: u64,
    /// Anything else: gaps, reorderings, bytes the agent never made, undelivered
    /// records at the end.
    pub other: u64,
}

impl Tally {
    /// Counts chain-checker findings.
    pub fn add_findings(&mut self, findings: &[ChainFinding]) {
        for f in findings {
            match f {
                ChainFinding::Duplicate { .. } => self.duplicates += 1,
                ChainFinding::Fork { .. } | ChainFinding::Conflict { .. } => self.forks += 1,
                ChainFinding::Gap { .. } | ChainFinding::Reordered { .. } => self.other += 1,
            }
        }
    }

    /// True when nothing was lost, duplicated, forked or otherwise wrong.
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.duplicates == 0 && self.forks == 0 && self.other == 0
    }
}

/// Opens the log of a stopped (or killed) server, re-verifies it with `fsck`, reads
/// every entry and checks every chain in it. Any problem is an `Err` saying what.
pub fn check_stopped_log(dir: &Path, origin: &str) -> Result<LogFacts, String> {
    let log = Log::open(LogConfig::new(dir, origin)).map_err(|e| format!("open: {e}"))?;
    let report = log.fsck().map_err(|e| format!("fsck: {e}"))?;
    let mut checker = ChainChecker::new(ChainStart::Genesis);
    let mut chains: BTreeMap<String, Vec<Logged>> = BTreeMap::new();
    let mut start = 0;
    while start < report.size {
        let end = (start + 1000).min(report.size);
        let entries = log
            .entries(start, end)
            .map_err(|e| format!("reading entries {start}..{end}: {e}"))?;
        for (i, bytes) in entries.into_iter().enumerate() {
            let index = start + i as u64;
            let record =
                Record::decode(&bytes).map_err(|e| format!("entry {index} is no record: {e}"))?;
            checker
                .push(index, &record)
                .map_err(|e| format!("chain checker: {e}"))?;
            if record.site_id().as_str() == SITE {
                chains
                    .entry(record.appliance_id().as_str().to_owned())
                    .or_default()
                    .push(Logged {
                        sequence: record.sequence(),
                        index,
                        bytes,
                    });
            }
        }
        start = end;
    }
    Ok(LogFacts {
        size: report.size,
        checkpoints: report.checkpoints,
        chains,
        findings: checker.finish().findings,
    })
}

/// Checks one chain on its own (records in sequence order, as the query API serves
/// them): 1..n, linked, each once; returns the findings.
pub fn check_chain(logged: &[Logged]) -> Vec<ChainFinding> {
    let mut by_index = logged.to_vec();
    by_index.sort_by_key(|l| l.index);
    let mut checker = ChainChecker::new(ChainStart::Genesis);
    for l in &by_index {
        let record = Record::decode(&l.bytes).expect("a logged record decodes");
        assert_eq!(record.sequence(), l.sequence, "index {}", l.index);
        if let Err(e) = checker.push(l.index, &record) {
            panic!("chain checker: {e}");
        }
    }
    checker.finish().findings
}

/// Compares an appliance's logged chain (in sequence order) with its outbox and adds
/// what it finds to `tally`: acknowledged records not at their index are `lost`; a
/// logged record the agent did not make at that sequence, or (with `complete`) a record
/// made but not delivered and logged, is `other`.
pub fn compare_with_outbox(
    logged: &[Logged],
    kept: &[KeptRecord],
    complete: bool,
    tally: &mut Tally,
) {
    for (i, l) in logged.iter().enumerate() {
        let made = kept.get(i).filter(|k| k.sequence == l.sequence);
        if l.sequence != i as u64 + 1 || made.map(|k| &k.bytes) != Some(&l.bytes) {
            tally.other += 1;
        }
    }
    for k in kept {
        let Some(index) = k.log_index else { continue };
        tally.acknowledged += 1;
        let at = logged.get(k.sequence as usize - 1);
        if at.map(|l| (l.index, &l.bytes)) != Some((index, &k.bytes)) {
            tally.lost += 1;
        }
    }
    if complete {
        let undelivered = kept.iter().filter(|k| k.log_index.is_none()).count();
        tally.other += undelivered as u64 + (logged.len() as u64).abs_diff(kept.len() as u64);
    }
}

/// Verifies every receipt the agent stored against the log key: the receipt proves the
/// record's bytes at the index the outbox names, under a checkpoint the key signed.
/// Returns the number verified.
pub fn verify_receipts(agent: &AgentBox, log_key: &NoteVerifier) -> Result<u64, String> {
    let mut verified = 0;
    for k in agent.records() {
        let Some(index) = k.log_index else { continue };
        let (bytes, at, receipt) = agent
            .delivery(k.sequence)
            .ok_or_else(|| format!("{}: no delivery for {}", agent.name, k.sequence))?;
        let receipt = Receipt::parse(receipt.as_bytes())
            .map_err(|e| format!("{}: receipt {}: {e}", agent.name, k.sequence))?;
        let v = receipt
            .verify_entry(&bytes, log_key)
            .map_err(|e| format!("{}: receipt {}: {e}", agent.name, k.sequence))?;
        if v.index() != index || at != index {
            return Err(format!(
                "{}: receipt of {} names another index",
                agent.name, k.sequence
            ));
        }
        verified += 1;
    }
    Ok(verified)
}

/// An appliance's chain as the running server's query API serves it, in sequence
/// order, waiting (up to a minute) until at least `expected` records are visible.
pub async fn chain_via_api(http: &str, admin: &str, name: &str, expected: u64) -> Vec<Logged> {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        let mut out = Vec::new();
        let mut from = 1;
        loop {
            let url = format!(
                "{http}/v1/appliances/{SITE}/{name}/records?from={from}&to={}",
                from + 999
            );
            let v: Value = client
                .get(url)
                .bearer_auth(admin)
                .send()
                .await
                .expect("chain request")
                .json()
                .await
                .expect("chain answer");
            let recs = v["records"].as_array().cloned().unwrap_or_default();
            for rec in &recs {
                out.push(Logged {
                    sequence: rec["sequence"].as_u64().expect("sequence"),
                    index: rec["index"].as_u64().expect("index"),
                    bytes: base64::engine::general_purpose::STANDARD
                        .decode(rec["record"].as_str().expect("record"))
                        .expect("record base64"),
                });
            }
            if recs.len() < 1000 {
                break;
            }
            from += 1000;
        }
        if out.len() as u64 >= expected {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server never showed {expected} records of {name}");
}
