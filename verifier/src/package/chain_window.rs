//! Per-appliance chain checking with memory bounded by the number of chains and
//! findings, not by the number of records (docs/EVIDENCE_PACKAGE.md §6.6).
//!
//! It gives the same findings and summaries as [`ledger_record::ChainChecker`], which
//! keeps about 100 bytes for every record. Per chain this keeps only: the highest
//! sequence (the head), the lowest one, the sequences never seen between them (holes)
//! with the records on either side of each hole, records below a resumed start, and a
//! window of the most recent records. That is all a record arriving in log order can
//! need, except one case: a repeated sequence older than the window (a duplicate or a
//! conflict — never in a package the log's intake accepted). Its first occurrence is
//! then not in memory; the checker says so ([`WindowChecker::pending`]) and the caller
//! looks those few sequences up with a second read of the records before
//! [`WindowChecker::finish`].

use std::collections::{BTreeMap, BTreeSet};

use ledger_core::hash::Hash;
use ledger_record::{ChainFinding, ChainId, ChainReport, ChainStart, ChainSummary, Record};

/// Records of each chain kept beyond the head, holes and bounds.
pub const DEFAULT_WINDOW: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Entry {
    hash: Hash,
    /// `None` for a resumed head, whose own prev hash is not known.
    prev: Option<Hash>,
    log_index: Option<u64>,
}

#[derive(Debug, Clone)]
struct ChainState {
    entries: BTreeMap<u64, Entry>,
    /// Holes: start → end (inclusive) of sequences in `floor..=head` never seen.
    holes: BTreeMap<u64, u64>,
    floor: u64,
    anchored: bool,
    records: u64,
    /// Size of `entries` after the last sweep; the next sweep waits for twice as many.
    swept_len: usize,
}

impl ChainState {
    fn head(&self) -> Option<(u64, Entry)> {
        self.entries.iter().next_back().map(|(s, e)| (*s, *e))
    }

    fn lowest(&self) -> Option<u64> {
        self.entries.keys().next().copied()
    }

    fn in_hole(&self, sequence: u64) -> Option<(u64, u64)> {
        let (&start, &end) = self.holes.range(..=sequence).next_back()?;
        (sequence <= end).then_some((start, end))
    }

    /// Whether `sequence` was pushed before: between the floor and the head and in no
    /// hole, or kept in `entries`.
    fn seen(&self, sequence: u64) -> bool {
        if self.entries.contains_key(&sequence) {
            return true;
        }
        let Some((head, _)) = self.head() else {
            return false;
        };
        sequence >= self.floor && sequence <= head && self.in_hole(sequence).is_none()
    }

    /// Whether the entry at `sequence` must stay: the head, the lowest entry, a record
    /// below the floor (a resumed head included), a hole's neighbour, or in the window.
    fn protected(&self, sequence: u64, head: u64, lowest: u64, window: usize) -> bool {
        sequence >= head.saturating_sub(window as u64)
            || sequence == lowest
            || sequence < self.floor
            || self.holes.contains_key(&(sequence + 1))
            || self
                .holes
                .range(..sequence)
                .next_back()
                .is_some_and(|(_, &end)| end + 1 == sequence)
    }

    fn sweep(&mut self, window: usize) {
        if self.entries.len() <= 2 * (window + 1).max(self.swept_len) {
            return;
        }
        let (Some((head, _)), Some(lowest)) = (self.head(), self.lowest()) else {
            return;
        };
        let drop: Vec<u64> = self
            .entries
            .keys()
            .copied()
            .filter(|&s| !self.protected(s, head, lowest, window))
            .collect();
        for s in drop {
            self.entries.remove(&s);
        }
        self.swept_len = self.entries.len();
    }
}

/// A repeated sequence whose first record is no longer in memory.
#[derive(Debug, Clone)]
struct Pending {
    /// Position in the findings.
    at: usize,
    chain: ChainId,
    sequence: u64,
    log_index: u64,
    hash: Hash,
}

/// The first record of a chain's sequence, as a second read found it.
pub type FirstRecords = BTreeMap<(ChainId, u64), (u64, Hash)>;

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct WindowChecker {
    start: ChainStart,
    window: usize,
    chains: BTreeMap<ChainId, ChainState>,
    /// `None` marks a pending finding.
    findings: Vec<Option<ChainFinding>>,
    pending: Vec<Pending>,
}

impl WindowChecker {
    pub fn new(start: ChainStart, window: usize) -> WindowChecker {
        WindowChecker {
            start,
            window,
            chains: BTreeMap::new(),
            findings: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Declares the known head before the checked window, as
    /// [`ChainChecker::resume`](ledger_record::ChainChecker::resume); ignored for a chain
    /// that already has records.
    pub fn resume(&mut self, chain: ChainId, sequence: u64, head_hash: Hash) {
        if self.chains.contains_key(&chain) {
            return;
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
                holes: BTreeMap::new(),
                floor: sequence.saturating_add(1),
                anchored: true,
                records: 0,
                swept_len: 0,
            },
        );
    }

    /// Feeds one record; records must come in increasing log order (the entry files
    /// guarantee it).
    pub fn push(&mut self, log_index: u64, record: &Record) {
        self.push_parts(
            log_index,
            record.chain(),
            record.sequence(),
            record.hash(),
            *record.prev_hash(),
        );
    }

    fn push_parts(
        &mut self,
        log_index: u64,
        chain: ChainId,
        sequence: u64,
        hash: Hash,
        prev: Hash,
    ) {
        let start = self.start;
        let state = self
            .chains
            .entry(chain.clone())
            .or_insert_with(|| ChainState {
                entries: BTreeMap::new(),
                holes: BTreeMap::new(),
                floor: match start {
                    ChainStart::Genesis => 1,
                    ChainStart::FirstSeen => sequence,
                },
                anchored: start == ChainStart::Genesis,
                records: 0,
                swept_len: 0,
            });
        if state.seen(sequence) {
            match state.entries.get(&sequence) {
                Some(first) => self.findings.push(Some(repeated(
                    chain,
                    sequence,
                    log_index,
                    hash,
                    (first.log_index, first.hash),
                ))),
                None => {
                    self.pending.push(Pending {
                        at: self.findings.len(),
                        chain,
                        sequence,
                        log_index,
                        hash,
                    });
                    self.findings.push(None);
                }
            }
            return;
        }
        let head = state.head();
        if let Some((head_seq, head_entry)) = head {
            if sequence < head_seq {
                self.findings.push(Some(ChainFinding::Reordered {
                    chain: chain.clone(),
                    sequence,
                    log_index,
                    after_sequence: head_seq,
                    after_log_index: head_entry.log_index,
                }));
            }
        }
        link_findings(
            state,
            &chain,
            sequence,
            log_index,
            hash,
            prev,
            &mut self.findings,
        );
        update_holes(state, head.map(|h| h.0), sequence);
        state.entries.insert(
            sequence,
            Entry {
                hash,
                prev: Some(prev),
                log_index: Some(log_index),
            },
        );
        state.records += 1;
        state.sweep(self.window);
    }

    /// The (chain, sequence) pairs whose first record must be looked up before
    /// [`WindowChecker::finish`]; empty unless a sequence repeats beyond the window.
    pub fn pending(&self) -> BTreeSet<(ChainId, u64)> {
        self.pending
            .iter()
            .map(|p| (p.chain.clone(), p.sequence))
            .collect()
    }

    /// Ends the check: resolves pending findings with `first` (the first record of each
    /// pending sequence, found by a second read), reports the gaps and summarises every
    /// chain, as [`ChainChecker::finish`](ledger_record::ChainChecker::finish).
    pub fn finish(self, first: &FirstRecords) -> ChainReport {
        let mut findings = self.findings;
        for p in self.pending {
            let found = first
                .get(&(p.chain.clone(), p.sequence))
                .map(|(i, h)| (Some(*i), *h));
            // The second read always finds the first record; a caller that did not look
            // it up gets a conflict against an unknown (zero) hash rather than nothing.
            let (first_index, first_hash) = found.unwrap_or((None, Hash([0; 32])));
            if let Some(slot) = findings.get_mut(p.at) {
                *slot = Some(repeated(
                    p.chain,
                    p.sequence,
                    p.log_index,
                    p.hash,
                    (first_index, first_hash),
                ));
            }
        }
        let mut findings: Vec<ChainFinding> = findings.into_iter().flatten().collect();
        let mut chains = Vec::with_capacity(self.chains.len());
        for (chain, state) in self.chains {
            let Some((last_sequence, head)) = state.head() else {
                continue;
            };
            let mut missing = Vec::new();
            for (&start, &end) in &state.holes {
                let index_of = |s: Option<u64>| {
                    s.and_then(|s| state.entries.get(&s))
                        .and_then(|e| e.log_index)
                };
                findings.push(ChainFinding::Gap {
                    chain: chain.clone(),
                    missing: start..=end,
                    before_log_index: index_of(start.checked_sub(1)),
                    after_log_index: index_of(end.checked_add(1)),
                });
                missing.push(start..=end);
            }
            chains.push(ChainSummary {
                first_sequence: state.floor.min(last_sequence),
                last_sequence,
                head_hash: head.hash,
                records: state.records,
                missing,
                chain,
            });
        }
        ChainReport { findings, chains }
    }
}

/// A duplicate (same hash) or a conflict (another hash) with the first record.
fn repeated(
    chain: ChainId,
    sequence: u64,
    log_index: u64,
    hash: Hash,
    (first_log_index, first_hash): (Option<u64>, Hash),
) -> ChainFinding {
    if first_hash == hash {
        ChainFinding::Duplicate {
            chain,
            sequence,
            log_index,
            first_log_index,
        }
    } else {
        ChainFinding::Conflict {
            chain,
            sequence,
            log_index,
            hash,
            first_log_index,
            first_hash,
        }
    }
}

/// The links back (to `sequence - 1`) and forward (a successor logged earlier).
fn link_findings(
    state: &ChainState,
    chain: &ChainId,
    sequence: u64,
    log_index: u64,
    hash: Hash,
    prev: Hash,
    findings: &mut Vec<Option<ChainFinding>>,
) {
    if let Some(p) = sequence.checked_sub(1).and_then(|s| state.entries.get(&s)) {
        if p.hash != prev {
            findings.push(Some(ChainFinding::Fork {
                chain: chain.clone(),
                sequence,
                log_index,
                found_prev: prev,
                expected_prev: p.hash,
                prev_log_index: p.log_index,
            }));
        }
    }
    if let Some(n) = sequence.checked_add(1).and_then(|s| state.entries.get(&s)) {
        if let (Some(found_prev), Some(n_index)) = (n.prev, n.log_index) {
            if found_prev != hash {
                findings.push(Some(ChainFinding::Fork {
                    chain: chain.clone(),
                    sequence: sequence + 1,
                    log_index: n_index,
                    found_prev,
                    expected_prev: hash,
                    prev_log_index: Some(log_index),
                }));
            }
        }
    }
}

/// Updates the holes for a new sequence (not seen before): past the head it opens the
/// hole between them; inside a hole it splits it; below an unanchored floor it lowers
/// the floor and opens the hole up to the old one.
fn update_holes(state: &mut ChainState, head: Option<u64>, sequence: u64) {
    if let Some((start, end)) = state.in_hole(sequence) {
        state.holes.remove(&start);
        if start < sequence {
            state.holes.insert(start, sequence - 1);
        }
        if sequence < end {
            state.holes.insert(sequence + 1, end);
        }
        return;
    }
    match head {
        // The chain's first record: from a known start (genesis), what lies before it
        // is missing.
        None => {
            if state.anchored && sequence > state.floor {
                state.holes.insert(state.floor, sequence - 1);
            }
        }
        // Past the head: the sequences between them are missing (from the floor at the
        // least, for a head resumed or logged below it).
        Some(h) if sequence > h => {
            let from = (h + 1).max(state.floor);
            if from < sequence {
                state.holes.insert(from, sequence - 1);
            }
        }
        // Below the head and never seen, so below the floor: a window that started
        // with no known head starts lower; a known start stays where it is.
        Some(_) => {
            if sequence < state.floor && !state.anchored {
                let old = state.floor;
                if sequence + 1 < old {
                    state.holes.insert(sequence + 1, old - 1);
                }
                state.floor = sequence;
            }
        }
    }
}

#[cfg(test)]
mod tests;
