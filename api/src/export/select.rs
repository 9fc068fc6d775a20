//! Which checkpoint and stamp an evidence package uses (docs/EVIDENCE_PACKAGE.md §2).
//! Pure: it works on the stored stamps and reads nothing itself.
//!
//! The newest checkpoint with a complete stamp that covers every selected record; when
//! there is none, the latest checkpoint (with its stamp when it has one, pending or not).
//! Which records go in is `stream.rs`'s business (from the query index).

use crate::anchoring::{StampRecord, StampStatus};

/// The newest complete stamp (of `stamps`, newest first) whose checkpoint covers the
/// record at index `highest`; `None` means "use the latest checkpoint".
pub fn complete_stamp_covering(stamps: Vec<StampRecord>, highest: u64) -> Option<StampRecord> {
    stamps
        .into_iter()
        .find(|stamp| stamp.tree_size > highest && stamp.status == StampStatus::Complete)
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

    fn stamp(tree_size: u64, status: StampStatus) -> StampRecord {
        let mut record = StampRecord::new_submission(tree_size, &[0; 32], 0, Duration::ZERO);
        record.status = status;
        record
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
    fn stamp_labels() {
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
