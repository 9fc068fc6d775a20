//! Which records, key records, checkpoint and stamp go into a site's evidence package
//! (docs/EVIDENCE_PACKAGE.md). Pure: it works on what one pass over the log found
//! ([`LogScan`]) and on the stored stamps, and reads nothing itself.
//!
//! - **Records.** A chain (site, appliance) takes part when one of its records has an
//!   appliance time inside the period; the package then holds every record of that chain
//!   from the lowest to the highest in-period sequence — including records between them
//!   whose clock was off — so the verifier can check the chain without holes.
//! - **Checkpoint.** The newest checkpoint with a complete stamp that covers every
//!   selected record; when there is none, the latest checkpoint (with its stamp when it
//!   has one, pending or not).
//! - **Keys.** Every key record below the checkpoint's size.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use ledger_record::{ChainId, Id, Kind, Record};

use crate::anchoring::{StampRecord, StampStatus};

/// Where one record of a chain is: its log index and appliance time (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub index: u64,
    pub time_ms: u64,
}

/// What one pass over the log found: the index of every key record, and per chain of
/// the requested sites where each sequence number is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogScan {
    pub keys: Vec<u64>,
    pub chains: BTreeMap<ChainId, BTreeMap<u64, Placed>>,
}

impl LogScan {
    /// Notes the record at log index `index`.
    pub fn add(&mut self, index: u64, record: &Record, sites: &[Id]) {
        if record.kind() == Kind::Key {
            self.keys.push(index);
        }
        if sites.contains(record.site_id()) {
            self.chains.entry(record.chain()).or_default().insert(
                record.sequence(),
                Placed {
                    index,
                    time_ms: record.time_ms(),
                },
            );
        }
    }

    /// The key records a package with a checkpoint of `size` entries holds.
    pub fn keys_below(&self, size: u64) -> Vec<u64> {
        self.keys.iter().copied().filter(|i| *i < size).collect()
    }
}

/// The selected records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Log indexes, ascending.
    pub records: Vec<u64>,
    /// Chains with at least one record in the period.
    pub chains: usize,
}

impl Selection {
    /// The highest selected index (0 when nothing is selected).
    pub fn highest(&self) -> u64 {
        self.records.last().copied().unwrap_or(0)
    }
}

/// Per chain: the in-period sequence range, then every record in it.
pub fn records(scan: &LogScan, period: &RangeInclusive<u64>) -> Selection {
    let mut selection = Selection::default();
    for sequences in scan.chains.values() {
        let mut in_period = sequences
            .iter()
            .filter(|(_, placed)| period.contains(&placed.time_ms))
            .map(|(sequence, _)| *sequence);
        let Some(first) = in_period.next() else {
            continue;
        };
        let last = in_period.next_back().unwrap_or(first);
        selection.chains += 1;
        selection.records.extend(
            sequences
                .range(first..=last)
                .map(|(_, placed)| placed.index),
        );
    }
    selection.records.sort_unstable();
    selection
}

/// The newest complete stamp (of `stamps`, newest first) whose checkpoint covers the
/// record at index `highest`; `None` means "use the latest checkpoint".
pub fn complete_stamp_covering(stamps: Vec<StampRecord>, highest: u64) -> Option<StampRecord> {
    stamps
        .into_iter()
        .find(|stamp| stamp.tree_size > highest && stamp.status == StampStatus::Complete)
}

/// The period the manifest names: as requested, or, when no bound was given, the span of
/// appliance times of the selected records (a report should not say "until year
/// 584,556,019").
pub fn manifest_period(
    scan: &LogScan,
    selection: &Selection,
    period: &RangeInclusive<u64>,
) -> (u64, u64) {
    let (start_ms, end_ms) = (*period.start(), *period.end());
    if start_ms != 0 || end_ms != u64::MAX {
        return (start_ms, end_ms);
    }
    scan.chains
        .values()
        .flat_map(|sequences| sequences.values())
        .filter(|placed| selection.records.binary_search(&placed.index).is_ok())
        .map(|placed| placed.time_ms)
        .fold((u64::MAX, 0), |(lo, hi), t| (lo.min(t), hi.max(t)))
}

/// The stamp's state as the export summary names it.
pub fn stamp_label(stamp: Option<&StampRecord>) -> &'static str {
    match stamp {
        Some(s) if s.status == StampStatus::Complete => "complete",
        Some(s) if s.status == StampStatus::Pending => "pending",
        _ => "none",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn chain(site: &str, appliance: &str) -> ChainId {
        ChainId::new(Id::new(site).unwrap(), Id::new(appliance).unwrap())
    }

    /// A record of a test chain: sequence, log index, appliance time.
    type Entry = (u64, u64, u64);

    /// A scan of chains given with their entries.
    fn scan(chains: &[(ChainId, &[Entry])]) -> LogScan {
        let mut scan = LogScan::default();
        for (id, records) in chains {
            let placed = records
                .iter()
                .map(|&(sequence, index, time_ms)| (sequence, Placed { index, time_ms }))
                .collect();
            scan.chains.insert(id.clone(), placed);
        }
        scan
    }

    fn stamp(tree_size: u64, status: StampStatus) -> StampRecord {
        let mut record = StampRecord::new_submission(tree_size, &[0; 32], 0, Duration::ZERO);
        record.status = status;
        record
    }

    #[test]
    fn a_chain_contributes_everything_between_its_first_and_last_in_period_record() {
        // Sequence 2 has a clock far off the period but lies between in-period records.
        let a = chain("site-a", "box-1");
        let b = chain("site-a", "box-2");
        let scan = scan(&[
            (
                a,
                &[
                    (0, 1, 50),
                    (1, 3, 100),
                    (2, 4, 9_999),
                    (3, 6, 200),
                    (4, 8, 900),
                ],
            ),
            (b, &[(0, 2, 10), (1, 5, 20)]),
        ]);
        let selection = records(&scan, &(100..=500));
        assert_eq!(selection.records, vec![3, 4, 6]);
        assert_eq!(selection.chains, 1);
        assert_eq!(selection.highest(), 6);
        let everything = records(&scan, &(0..=u64::MAX));
        assert_eq!(everything.records, vec![1, 2, 3, 4, 5, 6, 8]);
        assert_eq!(everything.chains, 2);
        assert_eq!(records(&scan, &(10_000..=20_000)), Selection::default());
    }

    #[test]
    fn the_manifest_names_the_records_span_only_when_no_bound_was_given() {
        let scan = scan(&[(chain("s", "a"), &[(0, 0, 40), (1, 1, 70), (2, 2, 90)])]);
        let all = records(&scan, &(0..=u64::MAX));
        assert_eq!(manifest_period(&scan, &all, &(0..=u64::MAX)), (40, 90));
        let some = records(&scan, &(50..=80));
        assert_eq!(manifest_period(&scan, &some, &(50..=80)), (50, 80));
        assert_eq!(manifest_period(&scan, &some, &(0..=80)), (0, 80));
    }

    #[test]
    fn the_checkpoint_is_the_newest_complete_stamp_covering_every_record() {
        let stamps = || {
            vec![
                stamp(40, StampStatus::Pending),
                stamp(30, StampStatus::Complete),
                stamp(20, StampStatus::Complete),
                stamp(10, StampStatus::Failed),
            ]
        };
        assert_eq!(complete_stamp_covering(stamps(), 5).unwrap().tree_size, 30);
        assert_eq!(complete_stamp_covering(stamps(), 29).unwrap().tree_size, 30);
        // A checkpoint of size 30 does not hold index 30.
        assert_eq!(complete_stamp_covering(stamps(), 30), None);
        assert_eq!(complete_stamp_covering(Vec::new(), 0), None);
    }

    #[test]
    fn keys_below_the_checkpoint_and_stamp_labels() {
        let scan = LogScan {
            keys: vec![0, 4, 9],
            ..LogScan::default()
        };
        assert_eq!(scan.keys_below(9), vec![0, 4]);
        assert_eq!(scan.keys_below(10), vec![0, 4, 9]);
        assert_eq!(
            stamp_label(Some(&stamp(1, StampStatus::Complete))),
            "complete"
        );
        assert_eq!(
            stamp_label(Some(&stamp(1, StampStatus::Pending))),
            "pending"
        );
        assert_eq!(stamp_label(Some(&stamp(1, StampStatus::Failed))), "none");
        assert_eq!(stamp_label(None), "none");
    }
}
