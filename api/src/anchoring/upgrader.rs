//! The upgrader: for every pending stamp, each pending attestation separately, its
//! commitment is replayed from the digest, `GET /timestamp/<hex>` asked of its calendar
//! (allow-listed calendars only), a 200 answer merged into a copy, the copy checked
//! (re-serializes, re-parses, same digest) and only then stored; 404 means "not yet".
//! Rounds without progress double the wait, up to a day.
//!
//! A stamp is `complete` once it holds a Bitcoin attestation — with `anchor_bitcoin_api`
//! set, once one of its Bitcoin attestations matches the header that API serves for its
//! height (the block is recorded as `bitcoin_verified`). Commitments of other calendars
//! keep being upgraded so one calendar's bad answer cannot shadow another's good one.

use std::sync::atomic::Ordering;
use std::time::Duration;

use anchor::client::CalendarClient;
use anchor::{Attestation, AttestedMessage, DetachedTimestamp, HashOp, OtsError, Timestamp};

use super::headers::bitcoin_heights;
use super::record::{StampRecord, StampStatus};
use super::{now_ms, AnchorError, Anchoring};

/// Longest wait between upgrade rounds of one stamp.
const MAX_UPGRADE_BACKOFF: Duration = Duration::from_secs(86_400);

/// What asking the calendars produced in one round of one stamp.
struct Round {
    /// The stamp with every accepted answer merged.
    stamp: DetachedTimestamp,
    /// Whether any answer was merged.
    progressed: bool,
    /// One line per calendar that failed, was not asked, or whose answer was refused.
    errors: Vec<String>,
    /// Calendars that answered "not yet" (404).
    awaiting: Vec<String>,
}

impl Anchoring {
    /// Runs one upgrade round for every pending stamp whose round is due (or for all
    /// pending stamps when `force`). Returns how many stamps changed.
    pub async fn upgrade_due(&self, force: bool) -> Result<usize, AnchorError> {
        let Some(client) = &self.client else {
            return Ok(0);
        };
        let pending: Vec<u64> = self
            .store
            .summary()
            .iter()
            .filter(|(_, (status, _))| *status != StampStatus::Failed)
            .map(|(size, _)| *size)
            .collect();
        let now = now_ms();
        let mut changed = 0;
        for size in pending {
            let Some(record) = self.store.get_off_worker(size).await? else {
                continue;
            };
            let all_resolved = record.status == StampStatus::Complete
                && record.resolved.len() >= record.calendars.len();
            if all_resolved || (!force && record.next_upgrade_ms > now) {
                continue;
            }
            if self.upgrade_one(client, record).await? {
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// One upgrade round of one stamp: asks each unresolved pending commitment's
    /// calendar, merges good answers into a copy, stores the copy if it is sound.
    async fn upgrade_one(
        &self,
        client: &CalendarClient,
        mut record: StampRecord,
    ) -> Result<bool, AnchorError> {
        let Some(bytes) = record.ots_bytes() else {
            return Ok(false);
        };
        let original = DetachedTimestamp::parse(&bytes)?;
        let mut round = self
            .ask_calendars(
                client,
                &original,
                &mut record.resolved,
                record.status == StampStatus::Pending,
            )
            .await?;
        let attested = round.stamp.attestations()?;
        let heights = bitcoin_heights(&attested);
        // Checked every round while pending, so a header source that was down, or a
        // calendar whose proof was for another message, only delays completion.
        let completed = record.status == StampStatus::Pending
            && !heights.is_empty()
            && self
                .bitcoin_confirmed(&mut record, &attested, &heights, &mut round.errors)
                .await;
        let now = now_ms();
        record.upgrade_attempts = record.upgrade_attempts.saturating_add(1);
        record.last_error = (!round.errors.is_empty()).then(|| round.errors.join("; "));
        record.awaiting = std::mem::take(&mut round.awaiting);
        if completed {
            record.status = StampStatus::Complete;
            record.completed_ms = Some(now);
            tracing::info!(
                tree_size = record.tree_size,
                heights = ?heights,
                verified = ?record.bitcoin_verified,
                "stamp complete"
            );
        }
        if round.progressed {
            record.set_ots(&round.stamp.to_bytes()?);
        }
        record.bitcoin_heights = heights;
        self.schedule_next_round(&mut record, round.progressed || completed, now);
        self.store.put(&record).await?;
        Ok(round.progressed || completed)
    }

    /// Asks the calendar of every pending commitment not yet resolved, merging each
    /// sound answer into the round's copy of the stamp. A commitment whose merged answer
    /// settles it ([`Anchoring::settles`]; checked against headers only while the stamp
    /// is `pending`) is added to `resolved`.
    async fn ask_calendars(
        &self,
        client: &CalendarClient,
        original: &DetachedTimestamp,
        resolved: &mut Vec<String>,
        check_headers: bool,
    ) -> Result<Round, AnchorError> {
        let mut round = Round {
            stamp: original.clone(),
            progressed: false,
            errors: Vec::new(),
            awaiting: Vec::new(),
        };
        for pending in original.pending_commitments()? {
            let hex_commitment = hex::encode(&pending.commitment);
            if resolved.contains(&hex_commitment) {
                continue;
            }
            if !client.is_allowed(&pending.uri) {
                round
                    .errors
                    .push(format!("{}: not on the allow-list, not asked", pending.uri));
                continue;
            }
            self.counters
                .upgrade_requests
                .fetch_add(1, Ordering::Relaxed);
            let answer = match client.fetch(&pending.uri, &pending.commitment).await {
                Ok(Some(answer)) => answer,
                Ok(None) => {
                    self.counters
                        .upgrade_not_yet
                        .fetch_add(1, Ordering::Relaxed);
                    round.awaiting.push(pending.uri.clone());
                    continue;
                }
                Err(e) => {
                    self.counters.upgrade_errors.fetch_add(1, Ordering::Relaxed);
                    // Transport and status failures name themselves; anything else is
                    // an answer that did not parse.
                    let refused = if matches!(e, OtsError::Calendar { .. }) {
                        ""
                    } else {
                        "answer refused: "
                    };
                    round.errors.push(format!("{}: {refused}{e}", pending.uri));
                    continue;
                }
            };
            let settled = self
                .settles(&answer, &pending.commitment, check_headers)
                .await;
            match merged(&round.stamp, original, &pending.commitment, answer) {
                Ok(candidate) => {
                    // Merging is idempotent: an answer merged before changes nothing.
                    round.progressed |= candidate != round.stamp;
                    round.stamp = candidate;
                    self.counters.upgrade_merged.fetch_add(1, Ordering::Relaxed);
                    if settled {
                        resolved.push(hex_commitment);
                    }
                }
                Err(e) => {
                    self.counters.upgrade_errors.fetch_add(1, Ordering::Relaxed);
                    round
                        .errors
                        .push(format!("{}: answer refused: {e}", pending.uri));
                }
            }
        }
        Ok(round)
    }

    /// Whether the Bitcoin attestations (at `heights`) complete the stamp: any of them
    /// without a header source; with one, one that matches its block's header (recorded
    /// in `record`). Header problems are added to `errors`.
    async fn bitcoin_confirmed(
        &self,
        record: &mut StampRecord,
        attested: &[AttestedMessage<'_>],
        heights: &[u64],
        errors: &mut Vec<String>,
    ) -> bool {
        let Some(headers) = &self.headers else {
            return true;
        };
        let (verified, problems) = headers.check(attested, heights).await;
        if !problems.is_empty() {
            self.counters
                .header_check_failures
                .fetch_add(problems.len() as u64, Ordering::Relaxed);
        }
        errors.extend(problems);
        match verified {
            Some(block) => {
                record.bitcoin_verified = Some(block);
                true
            }
            None => false,
        }
    }

    /// When the next round of this stamp is due: one interval after a round that
    /// changed something, else doubling with every idle round up to a day.
    fn schedule_next_round(&self, record: &mut StampRecord, changed: bool, now: u64) {
        let interval = self.settings.upgrade_interval.as_millis() as u64;
        if changed {
            record.idle_rounds = 0;
            record.next_upgrade_ms = now + interval;
        } else {
            record.idle_rounds = record.idle_rounds.saturating_add(1);
            let factor = 1u64 << record.idle_rounds.min(20);
            let wait = interval
                .saturating_mul(factor)
                .min(MAX_UPGRADE_BACKOFF.as_millis() as u64);
            record.next_upgrade_ms = now + wait;
        }
    }
}

impl Anchoring {
    /// Whether a calendar's answer settles its commitment, which is then not asked
    /// again: it holds a Bitcoin attestation and, with a header source, one that
    /// matches its block's header. A proof for another message, or one whose header
    /// cannot be fetched yet, is asked for again next round, so the calendar's later
    /// right answer is still fetched. Once the stamp is complete (`check_headers`
    /// false) any Bitcoin attestation settles it: asking again could only add proofs
    /// to a stamp that already has a verified one.
    async fn settles(&self, answer: &Timestamp, commitment: &[u8], check_headers: bool) -> bool {
        if !holds_bitcoin(answer, commitment) {
            return false;
        }
        let Some(headers) = self.headers.as_ref().filter(|_| check_headers) else {
            return true;
        };
        let Ok(attested) = answer.attestations_with_messages(commitment) else {
            return false;
        };
        let heights = bitcoin_heights(&attested);
        headers.check(&attested, &heights).await.0.is_some()
    }
}

/// Whether a calendar's answer for `commitment` holds a Bitcoin attestation.
fn holds_bitcoin(answer: &Timestamp, commitment: &[u8]) -> bool {
    answer
        .attestations_with_messages(commitment)
        .map(|list| {
            list.iter()
                .any(|a| matches!(a.attestation, Attestation::Bitcoin { .. }))
        })
        .unwrap_or(false)
}

/// `stamp` with `answer` merged for `commitment`, if the result is still sound.
fn merged(
    stamp: &DetachedTimestamp,
    original: &DetachedTimestamp,
    commitment: &[u8],
    answer: Timestamp,
) -> Result<DetachedTimestamp, OtsError> {
    let mut candidate = stamp.clone();
    candidate.merge_upgrade(commitment, answer)?;
    sound_copy(&candidate, original)?;
    Ok(candidate)
}

/// Checks that a merged copy is still a sound stamp of the same digest: it serializes,
/// parses back to the same tree, and still holds the original's attestations.
fn sound_copy(candidate: &DetachedTimestamp, original: &DetachedTimestamp) -> Result<(), OtsError> {
    let bytes = candidate.to_bytes()?;
    let reparsed = DetachedTimestamp::parse(&bytes)?;
    if reparsed != *candidate
        || candidate.digest != original.digest
        || candidate.file_hash_op != HashOp::Sha256
    {
        return Err(OtsError::Calendar {
            url: String::new(),
            reason: "merged stamp does not round-trip".into(),
        });
    }
    let before = original.attestations()?.len();
    if candidate.attestations()?.len() < before {
        return Err(OtsError::Calendar {
            url: String::new(),
            reason: "merge lost attestations".into(),
        });
    }
    Ok(())
}
