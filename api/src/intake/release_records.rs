//! Release records the server writes itself (RECORDS.md §5.5): release-key enrolment and
//! revocation, and the logging of a release that a release key signed offline; and the
//! append of the rollout engine's records (§5.6). Each is
//! checked against the release history under the key lock, appended on the operator
//! chain with the operator key, and applied before the lock goes, so two requests cannot
//! both log the same version or use a key that is being revoked.

use ed25519_dalek::VerifyingKey;
use ledger_record::{Body, Id, KeyId, ReleaseBody, RevocationReason, SignedRelease};

use super::{Appended, Intake, IntakeError};

impl Intake {
    /// Enrols `public_key`, named `name`, as a release key.
    pub async fn enrol_release_key(
        &self,
        name: Id,
        public_key: VerifyingKey,
    ) -> Result<Appended, IntakeError> {
        self.append_operator_body(None, move |state| {
            state
                .releases()
                .check_enrolment(&state.keys(), &name, &public_key)
                .map_err(IntakeError::Release)?;
            Ok(Body::Release(ReleaseBody::KeyEnrolment {
                name,
                public_key,
            }))
        })
        .await
        .map(|(_, appended)| appended)
    }

    /// Revokes release key `key_id`; releases it signed earlier stay valid.
    pub async fn revoke_release_key(
        &self,
        key_id: KeyId,
        reason: RevocationReason,
    ) -> Result<Appended, IntakeError> {
        self.append_operator_body(None, move |state| {
            state
                .releases()
                .check_revocation(&key_id)
                .map_err(IntakeError::Release)?;
            Ok(Body::Release(ReleaseBody::KeyRevocation { key_id, reason }))
        })
        .await
        .map(|(_, appended)| appended)
    }

    /// Logs the signed release in `bytes` (the file form of `SignedRelease`): it must
    /// decode, be signed by a release key valid now and name a version new on its
    /// channel.
    pub async fn log_release(&self, bytes: &[u8]) -> Result<Appended, IntakeError> {
        let signed = SignedRelease::decode(bytes).map_err(IntakeError::InvalidRelease)?;
        self.append_operator_body(None, move |state| {
            // The next entry's index is not known before the append; any index after
            // the key's enrolment gives the same answer, and u64::MAX is after a
            // revocation too.
            state
                .releases()
                .check_release(u64::MAX, &signed)
                .map_err(IntakeError::Release)?;
            Ok(Body::Release(ReleaseBody::Release(signed)))
        })
        .await
        .map(|(_, appended)| appended)
    }

    /// Appends a rollout record (the rollout engine checked it under its own lock) on
    /// the operator chain.
    pub async fn append_rollout(
        &self,
        body: ledger_record::RolloutBody,
    ) -> Result<(ledger_record::Record, Appended), IntakeError> {
        self.append_operator_body(None, move |_| Ok(Body::Rollout(body)))
            .await
    }

    /// The release history as it is now. A read guard: drop it before awaiting.
    pub fn releases(&self) -> std::sync::RwLockReadGuard<'_, ledger_record::ReleaseHistory> {
        self.state.releases()
    }
}
