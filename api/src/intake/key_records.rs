//! Key records the server writes itself: enrolment and revocation, signed with the
//! operator key on the operator's own chain (RECORDS.md §5.4, §7); the release records of
//! `release_records.rs` go through the same append. Each is appended while
//! holding the key lock and both chain locks, and applied to the key history before the
//! locks go, so no appliance record is checked against a key that is about to change.

use std::sync::Arc;

use ed25519_dalek::VerifyingKey;
use ledger::Log;
use ledger_record::{
    Body, ChainId, Id, KeyBody, KeyHistory, KeyId, Record, RevocationReason, UnsignedRecord,
};
use tokio::sync::OwnedMutexGuard;

use super::state::{Head, IntakeState};
use super::{off_worker, rules, Appended, Intake, IntakeError};
use crate::clock::now_ms;

impl Intake {
    /// Enrols `public_key` for appliance `subject` with the spent enrolment token
    /// `token_id` (RECORDS.md §5.4 enrolment, §7 rule 2).
    pub async fn enrol(
        &self,
        subject: &ChainId,
        public_key: VerifyingKey,
        token_id: Id,
    ) -> Result<Appended, IntakeError> {
        let subject_owned = subject.clone();
        self.append_operator_record(subject, move |keys| {
            rules::enrolment_body(keys, subject_owned, public_key, token_id)
        })
        .await
        .map(|(_, appended)| appended)
    }

    /// Revokes the valid key of `subject` (RECORDS.md §5.4 revocation, §7 rule 4).
    pub async fn revoke(
        &self,
        subject: &ChainId,
        reason: RevocationReason,
    ) -> Result<(KeyId, Appended), IntakeError> {
        let subject_owned = subject.clone();
        let (record, appended) = self
            .append_operator_record(subject, move |keys| {
                rules::revocation_body(keys, subject_owned, reason)
            })
            .await?;
        match record.body() {
            Body::Key(KeyBody::Revocation { key_id, .. }) => Ok((*key_id, appended)),
            _ => Err(IntakeError::internal("revocation record has another body")),
        }
    }

    /// Appends an operator-signed key record for `subject` (enrolment or revocation),
    /// holding the key lock and both chain locks until it is durable and applied.
    async fn append_operator_record(
        &self,
        subject: &ChainId,
        make_body: impl FnOnce(&KeyHistory) -> Result<KeyBody, IntakeError>,
    ) -> Result<(Record, Appended), IntakeError> {
        self.append_operator_body(Some(subject), |state| {
            make_body(&state.keys()).map(Body::Key)
        })
        .await
    }

    /// Appends the next record of the operator chain with the body `make_body` makes
    /// from the state (a key or release record), holding the key lock, the lock of the
    /// appliance chain the record is about (if any) and the operator chain's lock, in
    /// that order, until it is durable and applied to the key or release history.
    pub(super) async fn append_operator_body(
        &self,
        subject: Option<&ChainId>,
        make_body: impl FnOnce(&IntakeState) -> Result<Body, IntakeError>,
    ) -> Result<(Record, Appended), IntakeError> {
        if let Some(size) = self.config.frozen_at {
            return Err(IntakeError::LogFrozen { size });
        }
        if let Some(subject) = subject {
            rules::check_subject(&self.config.operator_chain, subject)?;
        }
        let _key_guard = self.key_lock.lock().await;
        let _subject_guard = match subject {
            Some(subject) => Some(self.state.slot(subject).head.clone().lock_owned().await),
            None => None,
        };
        let operator_slot = self.state.slot(&self.config.operator_chain);
        let mut operator_guard = operator_slot.head.clone().lock_owned().await;
        let body = make_body(&self.state)?;
        let record = self.sign_operator_record(&operator_guard, body)?;
        let appended = append_one(
            &self.log,
            record.as_bytes().to_vec(),
            self.config.retry_after_secs,
        )
        .await?;
        self.apply_operator_record(appended.index, &record)?;
        advance(&mut operator_guard, &record);
        self.metrics
            .appended
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = self.log.clone();
        let (index, size) = (appended.index, appended.checkpoint.size);
        let proof = off_worker(move || log.inclusion_proof(index, size))
            .await?
            .map_err(|e| IntakeError::from_ledger(e, 1))?;
        let answer = Appended {
            index,
            duplicate: appended.duplicate,
            record_hash: record.hash(),
            leaf_hash: appended.leaf,
            checkpoint: appended.checkpoint,
            proof,
        };
        Ok((record, answer))
    }

    /// Applies a durable operator record to the history it changes.
    fn apply_operator_record(&self, index: u64, record: &Record) -> Result<(), IntakeError> {
        let applied = match record.body() {
            // Rollout records are the rollout engine's, which applies them itself.
            Body::Rollout(_) => Ok(()),
            Body::Release(_) => {
                let keys = self.state.keys();
                self.state
                    .releases_mut()
                    .apply(&keys, index, record)
                    .map_err(|e| e.to_string())
            }
            _ => self
                .state
                .keys_mut()
                .apply(index, record)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        applied
            .map_err(|e| IntakeError::internal(format!("logged operator record not applied: {e}")))
    }

    /// The next record of the operator chain (at `head`) with `body`, signed with the
    /// operator key.
    fn sign_operator_record(&self, head: &Head, body: Body) -> Result<Record, IntakeError> {
        let operator_chain = &self.config.operator_chain;
        let unsigned = UnsignedRecord {
            site_id: operator_chain.site_id.clone(),
            appliance_id: operator_chain.appliance_id.clone(),
            sequence: head.sequence + 1,
            prev_hash: head.hash,
            time_ms: now_ms(),
            key_id: self.operator.key_id(),
            body,
        };
        Record::sign(unsigned, self.operator.signing_key()).map_err(IntakeError::internal)
    }
}

/// Moves a chain's head to `record`, which is now in the log.
fn advance(head: &mut OwnedMutexGuard<Head>, record: &Record) {
    **head = Head {
        sequence: record.sequence(),
        hash: record.hash(),
    };
}

/// Appends one entry and waits for the sequencer's answer without blocking an async
/// worker.
async fn append_one(
    log: &Arc<Log>,
    entry: Vec<u8>,
    retry_after_secs: u64,
) -> Result<ledger::Appended, IntakeError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    log.submit(
        vec![entry],
        Box::new(move |result| {
            let _ = tx.send(result);
        }),
    )
    .map_err(|e| IntakeError::from_ledger(e, retry_after_secs))?;
    let mut answers = rx
        .await
        .map_err(|_| IntakeError::internal("sequencer dropped an answer"))?
        .map_err(|e| IntakeError::from_ledger(e, retry_after_secs))?;
    answers
        .pop()
        .ok_or_else(|| IntakeError::internal("sequencer answered without an entry"))
}
