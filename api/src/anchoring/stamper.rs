//! The stamper: submits the latest signed checkpoint's digest to the calendars and
//! stores the outcome. The digest is SHA-256 of the checkpoint body (DESIGN.md,
//! "Anchoring"); the calendar client adds the nonce. A submission that reached fewer than
//! `anchor_min_calendars` calendars is stored as `failed`, with the reasons.

use std::sync::atomic::Ordering;

use anchor::client::StampOutcome;
use anchor::OtsError;
use sha2::{Digest, Sha256};

use super::record::{StampRecord, StampStatus};
use super::{now_ms, AnchorError, Anchoring};

/// SHA-256 of a signed checkpoint's body (the note text without signatures).
pub fn checkpoint_digest(note: &[u8]) -> Result<[u8; 32], AnchorError> {
    let parsed = ledger_core::note::Note::parse(note).map_err(|e| AnchorError::Record {
        size: 0,
        reason: format!("checkpoint note does not parse: {e}"),
    })?;
    Ok(Sha256::digest(parsed.text().as_bytes()).into())
}

impl Anchoring {
    /// Stamps the latest checkpoint now, whatever the schedule says (the schedule calls
    /// this). Returns the stored record, or `None` when anchoring is disabled, the log is
    /// empty, or that checkpoint already has a pending or complete stamp.
    pub async fn stamp_latest(&self) -> Result<Option<StampRecord>, AnchorError> {
        let Some(client) = &self.client else {
            return Ok(None);
        };
        let latest = self.published();
        if latest.size == 0 {
            return Ok(None);
        }
        if let Some(existing) = self.store.get_off_worker(latest.size).await? {
            if existing.status != StampStatus::Failed {
                return Ok(None);
            }
        }
        let digest = checkpoint_digest(&latest.note)?;
        self.counters.submissions.fetch_add(1, Ordering::Relaxed);
        let mut record = StampRecord::new_submission(
            latest.size,
            &digest,
            now_ms(),
            self.settings.upgrade_interval,
        );
        if self.witnessed.get().is_some() {
            record.cosigned_note = Some(String::from_utf8_lossy(&latest.note).into_owned());
        }
        match client.stamp(&digest).await {
            Ok(outcome) => accepted(&mut record, outcome)?,
            Err(e) => {
                self.counters
                    .submission_failures
                    .fetch_add(1, Ordering::Relaxed);
                refused(&mut record, e);
            }
        }
        self.store.put(&record).await?;
        Ok(Some(record))
    }
}

/// Enough calendars accepted the submission: the stamp is pending.
fn accepted(record: &mut StampRecord, outcome: StampOutcome) -> Result<(), AnchorError> {
    let bytes = outcome.stamp.to_bytes()?;
    record.status = StampStatus::Pending;
    record.calendars = outcome.accepted;
    record.submit_failures = outcome
        .failures
        .iter()
        .map(|(url, e)| format!("{url}: {e}"))
        .collect();
    record.set_ots(&bytes);
    tracing::info!(
        tree_size = record.tree_size,
        calendars = ?record.calendars,
        "checkpoint stamped"
    );
    Ok(())
}

/// Too few calendars accepted: the stamp stays `failed`, with every reason.
fn refused(record: &mut StampRecord, error: OtsError) {
    record.last_error = Some(error.to_string());
    record.submit_failures = match &error {
        OtsError::NotEnoughCalendars { failures, .. } => failures.clone(),
        other => vec![other.to_string()],
    };
    tracing::warn!(tree_size = record.tree_size, error = %error, "stamping failed");
}
