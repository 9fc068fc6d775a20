//! Completeness of per-appliance chains: gaps, forks, reorderings and duplicates.
//!
//! Every appliance numbers its records 1, 2, 3 … and links each to the record hash of the
//! previous one (docs/RECORDS.md §"Chains"). Fed the records of a log in log order, the
//! [`ChainChecker`] reports, with appliance, sequence numbers and log indexes:
//! - a **gap**: sequence numbers never seen between the chain's start and its highest
//!   sequence (reported by [`ChainChecker::finish`], once every record has been seen, so
//!   a record that arrives late is a reordering, not a gap);
//! - a **fork**: a record whose prev hash is not the record hash of the record with the
//!   previous sequence number;
//! - a **conflict**: two different records with the same sequence number;
//! - a **duplicate**: the same record logged twice;
//! - a **reordering**: a record logged after one with a higher sequence number.
//!
//! The checker keeps about 100 bytes per record (record hash, prev hash and log index per
//! sequence number), so a verifier can check tens of millions of records in memory. It checks structure only:
//! signatures and keys are [`Record::verify`](crate::Record::verify) and
//! [`KeyHistory`](crate::KeyHistory)'s business.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use ledger_core::hash::Hash;

use crate::ids::ChainId;
use crate::record::Record;

/// Where chains are expected to begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainStart {
    /// Every chain must start at sequence 1: the whole log is being checked.
    Genesis,
    /// A chain starts at the lowest sequence seen: a window of the log is being checked
    /// and nothing is known about what came before (use [`ChainChecker::resume`] when the
    /// previous head is known).
    FirstSeen,
}

/// Misuse of the checker itself, as opposed to a finding about the records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error(
        "log index {got} does not follow log index {previous}; records must be fed in log order"
    )]
    LogIndexNotIncreasing { previous: u64, got: u64 },
    #[error("chain {chain} already has records; resume it before feeding any")]
    ResumeAfterRecords { chain: ChainId },
}

/// Something wrong with a chain, with the log indexes that show it. Log indexes are
/// `None` only where they refer to a head given to [`ChainChecker::resume`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainFinding {
    /// Sequences `missing` were never logged; `before_log_index` and `after_log_index`
    /// locate the records on either side, when they exist.
    Gap {
        chain: ChainId,
        missing: RangeInclusive<u64>,
        before_log_index: Option<u64>,
        after_log_index: Option<u64>,
    },
    /// The record at `log_index` (sequence `sequence`) links to `found_prev`, but the
    /// record with sequence `sequence - 1` (at `prev_log_index`) hashes to `expected_prev`.
    Fork {
        chain: ChainId,
        sequence: u64,
        log_index: u64,
        found_prev: Hash,
        expected_prev: Hash,
        prev_log_index: Option<u64>,
    },
    /// A second, different record with an already logged sequence number.
    Conflict {
        chain: ChainId,
        sequence: u64,
        log_index: u64,
        hash: Hash,
        first_log_index: Option<u64>,
        first_hash: Hash,
    },
    /// The same record (same record hash) logged again.
    Duplicate {
        chain: ChainId,
        sequence: u64,
        log_index: u64,
        first_log_index: Option<u64>,
    },
    /// The record was logged after a record of the same chain with a higher sequence.
    Reordered {
        chain: ChainId,
        sequence: u64,
        log_index: u64,
        after_sequence: u64,
        after_log_index: Option<u64>,
    },
}

/// What is known about one chain at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    pub chain: ChainId,
    /// Lowest sequence the chain is checked from (1 under [`ChainStart::Genesis`]).
    pub first_sequence: u64,
    /// Highest sequence seen.
    pub last_sequence: u64,
    /// Record hash of the highest sequence: the head to [`ChainChecker::resume`] from.
    pub head_hash: Hash,
    /// Number of distinct records seen (duplicates and conflicts not counted).
    pub records: u64,
    /// Sequence ranges never seen between `first_sequence` and `last_sequence`.
    pub missing: Vec<RangeInclusive<u64>>,
}

/// The result of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Findings in the order they were discovered; gaps come last.
    pub findings: Vec<ChainFinding>,
    /// One summary per chain, ordered by site id then appliance id.
    pub chains: Vec<ChainSummary>,
}

impl ChainReport {
    /// True when no chain has a gap, fork, conflict, duplicate or reordering.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

#[derive(Debug, Clone)]
struct Entry {
    hash: Hash,
    /// `None` for a resumed head, whose own prev hash is not known.
    prev: Option<Hash>,
    log_index: Option<u64>,
}

#[derive(Debug, Clone)]
struct ChainState {
    entries: BTreeMap<u64, Entry>,
    floor: u64,
    /// Whether `floor` is known (genesis or resumed) rather than the lowest seen.
    anchored: bool,
    /// Records seen, resumed head excluded.
    records: u64,
}

impl ChainState {
    fn head(&self) -> Option<(u64, &Entry)> {
        self.entries.iter().next_back().map(|(s, e)| (*s, e))
    }
}

/// Checks chains record by record; see the module documentation.
#[derive(Debug, Clone)]
pub struct ChainChecker {
    start: ChainStart,
    chains: BTreeMap<ChainId, ChainState>,
    findings: Vec<ChainFinding>,
    last_log_index: Option<u64>,
}

impl ChainChecker {
    pub fn new(start: ChainStart) -> ChainChecker {
        ChainChecker {
            start,
            chains: BTreeMap::new(),
            findings: Vec::new(),
            last_log_index: None,
        }
    }

    /// Declares the known head of a chain before the checked window: its next record
    /// must have sequence `sequence + 1` and link to `head_hash`.
    pub fn resume(
        &mut self,
        chain: ChainId,
        sequence: u64,
        head_hash: Hash,
    ) -> Result<(), ChainError> {
        if self.chains.contains_key(&chain) {
            return Err(ChainError::ResumeAfterRecords { chain });
        }
        let mut entries = BTreeMap::new();
        entries.insert(
            sequence,
            Entry {
                hash: head_hash,
                prev: None,
                log_index: None,
            },
        );
        self.chains.insert(
            chain,
            ChainState {
                entries,
                floor: sequence.saturating_add(1),
                anchored: true,
                records: 0,
            },
        );
        Ok(())
    }

    /// Feeds the record at `log_index`. Records must come in increasing log order.
    pub fn push(&mut self, log_index: u64, record: &Record) -> Result<(), ChainError> {
        if let Some(previous) = self.last_log_index {
            if log_index <= previous {
                return Err(ChainError::LogIndexNotIncreasing {
                    previous,
                    got: log_index,
                });
            }
        }
        self.last_log_index = Some(log_index);
        let chain = record.chain();
        let sequence = record.sequence();
        let hash = record.hash();
        let prev = *record.prev_hash();
        let start = self.start;
        let state = self
            .chains
            .entry(chain.clone())
            .or_insert_with(|| ChainState {
                entries: BTreeMap::new(),
                floor: match start {
                    ChainStart::Genesis => 1,
                    ChainStart::FirstSeen => sequence,
                },
                anchored: start == ChainStart::Genesis,
                records: 0,
            });

        if let Some(first) = state.entries.get(&sequence) {
            self.findings.push(if first.hash == hash {
                ChainFinding::Duplicate {
                    chain,
                    sequence,
                    log_index,
                    first_log_index: first.log_index,
                }
            } else {
                ChainFinding::Conflict {
                    chain,
                    sequence,
                    log_index,
                    hash,
                    first_log_index: first.log_index,
                    first_hash: first.hash,
                }
            });
            return Ok(());
        }

        if let Some((head, head_entry)) = state.head() {
            if sequence < head {
                self.findings.push(ChainFinding::Reordered {
                    chain: chain.clone(),
                    sequence,
                    log_index,
                    after_sequence: head,
                    after_log_index: head_entry.log_index,
                });
            }
        }
        // The link back: this record's prev hash against its predecessor, if seen.
        if let Some(p) = sequence.checked_sub(1).and_then(|s| state.entries.get(&s)) {
            if p.hash != prev {
                self.findings.push(ChainFinding::Fork {
                    chain: chain.clone(),
                    sequence,
                    log_index,
                    found_prev: prev,
                    expected_prev: p.hash,
                    prev_log_index: p.log_index,
                });
            }
        }
        // The link forward: a successor logged earlier (a reordering) must link here.
        if let Some(n) = sequence.checked_add(1).and_then(|s| state.entries.get(&s)) {
            if let (Some(found_prev), Some(n_index)) = (n.prev, n.log_index) {
                if found_prev != hash {
                    self.findings.push(ChainFinding::Fork {
                        chain: chain.clone(),
                        sequence: sequence + 1,
                        log_index: n_index,
                        found_prev,
                        expected_prev: hash,
                        prev_log_index: Some(log_index),
                    });
                }
            }
        }
        if sequence < state.floor && !state.anchored {
            state.floor = sequence;
        }
        state.entries.insert(
            sequence,
            Entry {
                hash,
                prev: Some(prev),
                log_index: Some(log_index),
            },
        );
        state.records += 1;
        Ok(())
    }

    /// Ends the check: reports the gaps and summarises every chain.
    pub fn finish(self) -> ChainReport {
        let mut findings = self.findings;
        let mut chains = Vec::with_capacity(self.chains.len());
        for (chain, state) in self.chains {
            let Some((last_sequence, head)) = state.head() else {
                continue;
            };
            let head_hash = head.hash;
            let mut missing = Vec::new();
            let mut expected = state.floor;
            for (&seq, _) in state.entries.range(state.floor..) {
                if seq > expected {
                    missing.push(expected..=seq - 1);
                }
                expected = seq.saturating_add(1);
            }
            for range in &missing {
                let before = range
                    .start()
                    .checked_sub(1)
                    .and_then(|s| state.entries.get(&s))
                    .and_then(|e| e.log_index);
                let after = range
                    .end()
                    .checked_add(1)
                    .and_then(|s| state.entries.get(&s))
                    .and_then(|e| e.log_index);
                findings.push(ChainFinding::Gap {
                    chain: chain.clone(),
                    missing: range.clone(),
                    before_log_index: before,
                    after_log_index: after,
                });
            }
            chains.push(ChainSummary {
                first_sequence: state.floor.min(last_sequence),
                last_sequence,
                head_hash,
                records: state.records,
                missing,
                chain,
            });
        }
        ChainReport { findings, chains }
    }
}
