//! The records of `records.bin`: decoding, signatures (through [`super::signatures`]),
//! scope and per-appliance completeness (through [`super::chains`]), counts, and the leaf
//! hashes the inclusion check needs.
//!
//! Performance: records are processed in chunks; within a chunk, decoding and hashing
//! run on every core (rayon), then signatures are checked in parallel batches, then the
//! chain checker, which needs log order, takes the chunk sequentially. Memory holds one
//! chunk of decoded records, per-chain state (`chain_window`) and the leaf hashes of the
//! entry file being checked (one segment in version 2).

use std::collections::{BTreeMap, BTreeSet};

use ledger_core::hash::{leaf_hash, Hash};
use ledger_record::{Body, ChainId, ChainStart, KeyHistory, Record, VerifyingKey};
use rayon::prelude::*;

use super::chains::{
    appliance_summary, bounds_finding, chain_finding, out_of_scope_findings, undeclared_findings,
    ChainSeen,
};
use super::signatures::{check_signatures, BatchOutcome, Decoded, SignatureMode, BATCH};
use super::VerifyOptions;
use crate::package::chain_window::{FirstRecords, WindowChecker};
use crate::package::report::{ApplianceSummary, Counts, Finding, FindingCode, SignatureSummary};
use crate::package::{ChainBounds, EntryFile, EntryRef, Package};

/// What the record checks give the report.
pub(super) struct RecordsOutcome {
    pub(super) counts: Counts,
    pub(super) signatures: SignatureSummary,
    pub(super) appliances: Vec<ApplianceSummary>,
}

/// Checks the records of one or more entry files (version 1: `records.bin`; version 2:
/// each segment in turn), keeping per-chain state only. Signature findings come first,
/// in log order, then those of the log-order checks.
pub(super) struct RecordChecks<'p> {
    sequential: Sequential<'p>,
    signatures: SignatureSummary,
    findings: Vec<Finding>,
}

impl<'p> RecordChecks<'p> {
    pub(super) fn new(pkg: &'p Package, opts: &VerifyOptions<'_>) -> RecordChecks<'p> {
        RecordChecks {
            sequential: Sequential::new(pkg, opts.chain_window),
            signatures: SignatureSummary {
                method: opts.signatures.name().to_owned(),
                ..SignatureSummary::default()
            },
            findings: Vec::new(),
        }
    }

    /// Checks every record of `file`; returns their `(log index, leaf hash)` in log
    /// order for the inclusion check.
    pub(super) fn check_file(
        &mut self,
        file: &EntryFile,
        history: &KeyHistory,
        operator_key: VerifyingKey,
        opts: &VerifyOptions<'_>,
    ) -> Vec<(u64, Hash)> {
        // A two-stage pipeline: chunk i is decoded and signature-checked on every core
        // while chunk i - 1 goes through the log-order checks.
        let sequential = &mut self.sequential;
        let mut pending: Option<Vec<Decoded>> = None;
        for chunk in file.refs().chunks(opts.chunk_size.max(1)) {
            let ((decoded, results), ()) = rayon::join(
                || decode_and_verify(file, chunk, history, &operator_key, opts.signatures),
                || {
                    if let Some(previous) = pending.take() {
                        sequential.absorb_and_report(previous, opts);
                    }
                },
            );
            for (checked, valid, batch_findings) in results {
                self.signatures.checked += checked;
                self.signatures.valid += valid;
                self.findings.extend(batch_findings);
            }
            pending = Some(decoded);
        }
        if let Some(last) = pending.take() {
            sequential.absorb_and_report(last, opts);
        }
        std::mem::take(&mut sequential.leaves)
    }

    /// The (chain, sequence) pairs whose first record a second read must find (see
    /// `chain_window`); empty for every package without repeated sequences.
    pub(super) fn pending(&self) -> BTreeSet<(ChainId, u64)> {
        self.sequential.checker.pending()
    }

    /// Appends the findings to `findings` and summarises.
    pub(super) fn finish(
        self,
        first: &FirstRecords,
        findings: &mut Vec<Finding>,
    ) -> RecordsOutcome {
        findings.extend(self.findings);
        let (counts, appliances) = self.sequential.finish(first, findings);
        RecordsOutcome {
            counts,
            signatures: self.signatures,
            appliances,
        }
    }
}

/// The first record of each wanted (chain, sequence) among `entries`, in log order.
pub(super) fn first_records<'a>(
    wanted: &BTreeSet<(ChainId, u64)>,
    entries: impl Iterator<Item = (u64, &'a [u8])>,
    first: &mut FirstRecords,
) {
    if wanted.is_empty() {
        return;
    }
    for (index, bytes) in entries {
        if let Ok(r) = Record::decode(bytes) {
            let key = (r.chain(), r.sequence());
            if wanted.contains(&key) {
                first.entry(key).or_insert((index, r.hash()));
            }
        }
    }
}

/// Checks every record of a version 1 `records.bin`.
pub(super) fn check_records(
    pkg: &Package,
    history: &KeyHistory,
    operator_key: VerifyingKey,
    opts: &VerifyOptions<'_>,
    findings: &mut Vec<Finding>,
) -> (RecordsOutcome, Vec<(u64, Hash)>) {
    if let Some(p) = opts.progress {
        p.start("verifying records", pkg.records.len() as u64);
    }
    let mut checks = RecordChecks::new(pkg, opts);
    let leaves = checks.check_file(&pkg.records, history, operator_key, opts);
    if let Some(p) = opts.progress {
        p.finish();
    }
    let mut first = FirstRecords::new();
    first_records(&checks.pending(), pkg.records.iter(), &mut first);
    (checks.finish(&first, findings), leaves)
}

/// Decodes and hashes a chunk on every core, then checks its signatures in parallel
/// batches.
fn decode_and_verify(
    file: &EntryFile,
    chunk: &[EntryRef],
    history: &KeyHistory,
    operator_key: &VerifyingKey,
    mode: SignatureMode,
) -> (Vec<Decoded>, Vec<BatchOutcome>) {
    let decoded: Vec<Decoded> = chunk
        .par_iter()
        .map(|e| {
            let bytes = file.bytes_of(e);
            (e.index, leaf_hash(bytes), Record::decode(bytes))
        })
        .collect();
    let results = decoded
        .par_chunks(BATCH)
        .map(|batch| check_signatures(batch, history, operator_key, mode))
        .collect();
    (decoded, results)
}

/// The log-order part of the record checks: chains, scope, counts, leaves. It runs on
/// one thread, overlapped with the parallel decoding and signature checks of the next
/// chunk.
struct Sequential<'p> {
    pkg: &'p Package,
    sites: BTreeSet<&'p str>,
    declared: BTreeMap<ChainId, &'p ChainBounds>,
    checker: WindowChecker,
    seen: BTreeMap<ChainId, ChainSeen>,
    /// Records of undeclared chains: (count, first log index) per chain.
    undeclared: BTreeMap<ChainId, (u64, u64)>,
    /// Records of unlisted sites: (count, first log index) per site.
    out_of_scope: BTreeMap<String, (u64, u64)>,
    counts: Counts,
    leaves: Vec<(u64, Hash)>,
    findings: Vec<Finding>,
}

impl<'p> Sequential<'p> {
    fn new(pkg: &'p Package, window: usize) -> Sequential<'p> {
        let mut checker = WindowChecker::new(ChainStart::FirstSeen, window);
        let mut declared = BTreeMap::new();
        for bounds in &pkg.chains {
            // A declared chain resumes from the head before its first record: sequence
            // first - 1 with the declared hash (sequence 0 and the zero hash at genesis),
            // so a missing first record is a gap rather than a silent new start.
            checker.resume(
                bounds.chain.clone(),
                bounds.first_sequence - 1,
                bounds.prev_hash,
            );
            declared.insert(bounds.chain.clone(), bounds);
        }
        Sequential {
            pkg,
            sites: pkg.manifest.sites.iter().map(String::as_str).collect(),
            declared,
            checker,
            seen: BTreeMap::new(),
            undeclared: BTreeMap::new(),
            out_of_scope: BTreeMap::new(),
            counts: Counts {
                key_records: pkg.keys.len() as u64,
                ..Counts::default()
            },
            leaves: Vec::new(),
            findings: Vec::new(),
        }
    }

    /// Absorbs a chunk and tells the progress reporter.
    fn absorb_and_report(&mut self, decoded: Vec<Decoded>, opts: &VerifyOptions<'_>) {
        let n = decoded.len() as u64;
        self.absorb(decoded, opts.observer);
        if let Some(p) = opts.progress {
            p.advance(n);
        }
    }

    fn absorb(&mut self, decoded: Vec<Decoded>, observer: Option<&dyn super::RecordObserver>) {
        for (index, leaf, record) in decoded {
            self.leaves.push((index, leaf));
            self.counts.records += 1;
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    self.findings.push(
                        Finding::new(
                            FindingCode::RecordMalformed,
                            format!("the record does not decode: {e}"),
                        )
                        .at(index),
                    );
                    continue;
                }
            };
            tally(&record, self.pkg, &mut self.counts);
            if let Some(o) = observer {
                o.observe(index, &record);
            }
            let chain = record.chain();
            if !self.sites.contains(record.site_id().as_str()) {
                let e = self
                    .out_of_scope
                    .entry(record.site_id().to_string())
                    .or_insert((0, index));
                e.0 += 1;
            }
            if !self.declared.contains_key(&chain) {
                let e = self.undeclared.entry(chain.clone()).or_insert((0, index));
                e.0 += 1;
            }
            let s = self.seen.entry(chain).or_default();
            s.first_index.get_or_insert(index);
            s.last_index = Some(index);
            // Entries are in strictly increasing log order (checked when parsing, and
            // across version 2 segments by the segment reader).
            self.checker.push(index, &record);
        }
    }

    /// Appends the findings of the log-order checks to `findings`, in this order: records
    /// that do not decode, out-of-scope sites, undeclared chains, the chain checker's
    /// findings, and chains that do not end at their declared last sequence. Returns the
    /// counts and one summary per chain.
    fn finish(
        mut self,
        first: &FirstRecords,
        findings: &mut Vec<Finding>,
    ) -> (Counts, Vec<ApplianceSummary>) {
        findings.append(&mut self.findings);
        findings.extend(out_of_scope_findings(self.out_of_scope));
        findings.extend(undeclared_findings(self.undeclared));
        let report = self.checker.finish(first);
        findings.extend(report.findings.into_iter().map(chain_finding));
        let mut appliances = Vec::with_capacity(report.chains.len());
        for summary in report.chains {
            if let Some(declared) = self.declared.get(&summary.chain) {
                findings.extend(bounds_finding(&summary, declared));
            }
            appliances.push(appliance_summary(&summary, self.seen.get(&summary.chain)));
        }
        (self.counts, appliances)
    }
}

/// Counts a record by kind, status and outcome.
fn tally(record: &Record, pkg: &Package, counts: &mut Counts) {
    *counts
        .by_kind
        .entry(record.kind().as_str().to_owned())
        .or_default() += 1;
    match record.body() {
        Body::Evidence(e) => match e.items() {
            Some(items) => {
                for item in items {
                    *counts
                        .evidence_items_by_status
                        .entry(item.status.as_str().to_owned())
                        .or_default() += 1;
                }
            }
            None => counts.committed_bundles += 1,
        },
        Body::Healing(h) => {
            let outcome = match h.outcome {
                ledger_record::Outcome::Success => "success",
                ledger_record::Outcome::Failure => "failure",
                ledger_record::Outcome::Escalated => "escalated",
            };
            *counts
                .healing_by_outcome
                .entry(outcome.to_owned())
                .or_default() += 1;
        }
        Body::Key(_) | Body::Release(_) | Body::Rollout(_) | Body::Update(_) => {}
    }
    if let Some(p) = pkg.manifest.period {
        if record.time_ms() < p.start_ms || record.time_ms() > p.end_ms {
            counts.outside_period += 1;
        }
    }
}
