//! The stamp of one checkpoint as stored: a [`StampRecord`] (JSON) in the `anchors`
//! column family of the log's RocksDB, keyed by the checkpoint's tree size. This module
//! defines the record and its encoding; `store.rs` reads and writes it.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::AnchorError;

/// Format version of [`StampRecord`].
pub const RECORD_VERSION: u32 = 1;

/// Where a stamp stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StampStatus {
    /// Submitted to enough calendars; no Bitcoin attestation yet.
    Pending,
    /// Holds a Bitcoin attestation: without a header source any, with one
    /// (`anchor_bitcoin_api`) one that matches its block's header.
    Complete,
    /// The submission did not reach `anchor_min_calendars` calendars.
    Failed,
}

impl StampStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StampStatus::Pending => "pending",
            StampStatus::Complete => "complete",
            StampStatus::Failed => "failed",
        }
    }
}

/// One stamp of one checkpoint, as stored (JSON) in the `anchors` column family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StampRecord {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// Tree size of the stamped checkpoint (also the key).
    pub tree_size: u64,
    /// SHA-256 of the checkpoint body, hex: the stamp's file digest.
    pub digest: String,
    pub status: StampStatus,
    pub created_ms: u64,
    /// Calendars that accepted the submission.
    pub calendars: Vec<String>,
    /// Calendars that did not, with the reason.
    pub submit_failures: Vec<String>,
    /// The detached `.ots` file, base64; absent for a failed submission.
    pub ots: Option<String>,
    /// Pending commitments (hex) whose calendar answer, with a Bitcoin attestation, has
    /// been merged; they are not asked again.
    pub resolved: Vec<String>,
    /// Heights named by the stamp's Bitcoin attestations.
    pub bitcoin_heights: Vec<u64>,
    /// With a header source: the earliest block whose header matched one of the
    /// stamp's Bitcoin attestations. Absent without a header source (and in records
    /// written before it existed).
    #[serde(default)]
    pub bitcoin_verified: Option<VerifiedBlock>,
    pub completed_ms: Option<u64>,
    pub upgrade_attempts: u32,
    /// Upgrade rounds since the last one that merged an answer; the wait between rounds
    /// doubles with each.
    pub idle_rounds: u32,
    /// When the next upgrade round is due (Unix ms).
    pub next_upgrade_ms: u64,
    /// The last upgrade problem, for operators.
    pub last_error: Option<String>,
    /// Calendars that answered "not yet" (404) for their pending attestation in the last
    /// upgrade round: why a stamp without errors is still pending. Absent in records
    /// written before it existed.
    #[serde(default)]
    pub awaiting: Vec<String>,
    /// With witnesses: the checkpoint note that was stamped, cosignatures included, so a
    /// package built on this stamp carries the witnesses' statements. Absent without
    /// witnesses (the log's own note is in the log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosigned_note: Option<String>,
}

/// The block a verified Bitcoin attestation points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifiedBlock {
    pub height: u64,
    /// The header's nTime (Unix seconds): the checkpoint existed by then.
    pub time: u32,
    /// The block hash as explorers print it.
    pub block_hash: String,
}

impl StampRecord {
    /// A submission of the checkpoint of `tree_size` with file digest `digest`, not yet
    /// answered: `failed` until a calendar outcome says otherwise, first upgrade round
    /// due one `upgrade_interval` after creation.
    pub fn new_submission(
        tree_size: u64,
        digest: &[u8; 32],
        created_ms: u64,
        upgrade_interval: Duration,
    ) -> StampRecord {
        StampRecord {
            version: RECORD_VERSION,
            tree_size,
            digest: hex::encode(digest),
            status: StampStatus::Failed,
            created_ms,
            calendars: Vec::new(),
            submit_failures: Vec::new(),
            ots: None,
            resolved: Vec::new(),
            bitcoin_heights: Vec::new(),
            bitcoin_verified: None,
            completed_ms: None,
            upgrade_attempts: 0,
            idle_rounds: 0,
            next_upgrade_ms: created_ms + upgrade_interval.as_millis() as u64,
            last_error: None,
            awaiting: Vec::new(),
            cosigned_note: None,
        }
    }

    /// The `.ots` bytes, if the submission succeeded.
    pub fn ots_bytes(&self) -> Option<Vec<u8>> {
        self.ots
            .as_deref()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
    }

    /// Stores `.ots` bytes (base64).
    pub fn set_ots(&mut self, bytes: &[u8]) {
        self.ots = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
    }

    /// Whether this stamp has been pending longer than `alarm`.
    pub fn overdue(&self, now_ms: u64, alarm: Duration) -> bool {
        self.status == StampStatus::Pending
            && now_ms.saturating_sub(self.created_ms) > alarm.as_millis() as u64
    }
}

/// The stored bytes of a record.
pub fn encode_record(record: &StampRecord) -> Result<Vec<u8>, AnchorError> {
    serde_json::to_vec(record).map_err(|e| AnchorError::Record {
        size: record.tree_size,
        reason: e.to_string(),
    })
}

/// A record read back from under key `size`; refuses another version or a record
/// stored under the wrong key.
pub fn decode_record(size: u64, bytes: &[u8]) -> Result<StampRecord, AnchorError> {
    let record: StampRecord = serde_json::from_slice(bytes).map_err(|e| AnchorError::Record {
        size,
        reason: e.to_string(),
    })?;
    if record.version != RECORD_VERSION || record.tree_size != size {
        return Err(AnchorError::Record {
            size,
            reason: format!(
                "version {} / tree size {} in a record stored under {size}",
                record.version, record.tree_size
            ),
        });
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_is_refused_under_another_key() {
        let mut record = StampRecord::new_submission(7, &[1; 32], 1_000, Duration::from_secs(2));
        assert_eq!(record.next_upgrade_ms, 3_000);
        record.set_ots(b"ots bytes");
        assert_eq!(record.ots_bytes().as_deref(), Some(&b"ots bytes"[..]));
        let bytes = encode_record(&record).unwrap();
        assert_eq!(decode_record(7, &bytes).unwrap(), record);
        assert!(decode_record(8, &bytes).is_err());
        assert!(decode_record(7, b"{}").is_err());
    }

    #[test]
    fn only_pending_stamps_become_overdue() {
        let mut record = StampRecord::new_submission(1, &[0; 32], 0, Duration::ZERO);
        let alarm = Duration::from_secs(1);
        assert!(!record.overdue(5_000, alarm), "failed");
        record.status = StampStatus::Pending;
        assert!(!record.overdue(1_000, alarm));
        assert!(record.overdue(1_001, alarm));
    }
}
