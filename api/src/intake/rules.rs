//! The intake rules for one record, as pure functions: given the state, the principal
//! and a decoded record, a plan or the reason for refusing it. No I/O, no locks, no
//! async runtime; the caller gathers the state and acts on the plan.
//!
//! [`admit`] is steps 1 and 2 of the module documentation of [`super`] (decoding and
//! who may append what); [`ChainCheck::check`] is steps 3 to 6 (duplicates, sequence,
//! previous hash, clock skew, key and signature), applied to one chain's records in
//! request order.

use std::collections::HashMap;
use std::time::Duration;

use ledger_core::hash::Hash;
use ledger_record::{
    Body, ChainId, Id, KeyBody, KeyEndReason, KeyEntry, KeyHistory, KeyId, Record,
    RevocationReason, VerifyingKey,
};

use super::error::{Fork, IntakeError};
use super::state::Head;
use crate::auth::Principal;

/// Steps 1 and 2: `bytes` decode as a canonical record (`Record::decode`: size,
/// truncation, trailing bytes, deterministic CBOR, known version and kind), the caller's
/// credential is the appliance's own, and the record is not one only the operator
/// writes.
pub fn admit(
    operator_chain: &ChainId,
    who: &Principal,
    bytes: &[u8],
) -> Result<Record, IntakeError> {
    let record = Record::decode(bytes).map_err(IntakeError::Undecodable)?;
    let chain = record.chain();
    if chain == *operator_chain {
        return Err(IntakeError::OperatorChain { chain });
    }
    if matches!(record.body(), Body::Key(k) if k.by_operator())
        || matches!(record.body(), Body::Release(_) | Body::Rollout(_))
    {
        return Err(IntakeError::OperatorOnlyRecord);
    }
    match who {
        Principal::Appliance(own) if *own == chain => Ok(record),
        Principal::Appliance(own) => Err(IntakeError::WrongAppliance {
            credential: own.clone(),
            record: chain,
        }),
        _ => Err(IntakeError::NotAnAppliance),
    }
}

/// The outcome of an early signature check: which key it used and whether the
/// signature verified. Used only if that key is still the valid one under the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureCheck {
    pub key_id: KeyId,
    pub valid: bool,
}

/// What the rules decided for one record that was not refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// New record: hand it over to the sequencer.
    New,
    /// Identical bytes are in flight: hand it over too; the sequencer answers the
    /// original index.
    InFlightDuplicate,
    /// The sequence is taken and not by a record in flight: the record is a duplicate if
    /// its bytes are in the log, otherwise it is refused as
    /// [`IntakeError::SequenceReplayed`] with `next` as the next sequence.
    LoggedOrReplayed { next: u64 },
}

/// The server clock and how far ahead of it a record's time may be.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now_ms: u64,
    pub max_future_skew: Duration,
}

/// One appliance chain while a request's records of it are checked in order. Each
/// accepted new record advances the head (and a rotation the valid key), as the log will
/// once the record is durable.
pub struct ChainCheck<'a> {
    chain: ChainId,
    head: Head,
    key: Option<KeyEntry>,
    /// This request's new records: sequence → record hash.
    planned: HashMap<u64, Hash>,
    history: &'a KeyHistory,
    clock: Clock,
}

impl<'a> ChainCheck<'a> {
    /// Starts at `head` with the key `history` says is valid now.
    pub fn new(chain: ChainId, head: Head, history: &'a KeyHistory, clock: Clock) -> Self {
        let key = history.key_at(&chain, u64::MAX).cloned();
        ChainCheck {
            chain,
            head,
            key,
            planned: HashMap::new(),
            history,
            clock,
        }
    }

    /// The head after the records accepted so far.
    pub fn head(&self) -> Head {
        self.head
    }

    /// Steps 3–6 for `record` of this chain (its hash is `record_hash`). `in_flight`
    /// answers the hash of the record with a given sequence that earlier requests handed
    /// over and that is not durable yet; it is asked only for sequences already taken.
    pub fn check(
        &mut self,
        record: &Record,
        record_hash: Hash,
        signature: Option<SignatureCheck>,
        in_flight: impl FnOnce(u64) -> Option<Hash>,
    ) -> Result<Plan, IntakeError> {
        let sequence = record.sequence();
        if sequence <= self.head.sequence {
            let taken_by = self
                .planned
                .get(&sequence)
                .copied()
                .or_else(|| in_flight(sequence));
            if taken_by == Some(record_hash) {
                return Ok(Plan::InFlightDuplicate);
            }
            return Ok(Plan::LoggedOrReplayed {
                next: self.head.sequence + 1,
            });
        }
        self.check_order(record)?;
        check_time(record, &self.clock)?;
        let key = self.check_key(record, record_hash, signature)?;
        self.advance(record, record_hash, key);
        Ok(Plan::New)
    }

    /// Step 4: sequence = last + 1 and `prev_hash` = hash of the last record.
    fn check_order(&self, record: &Record) -> Result<(), IntakeError> {
        let expected = self.head.sequence + 1;
        if record.sequence() != expected {
            return Err(IntakeError::SequenceGap {
                chain: self.chain.clone(),
                expected,
                got: record.sequence(),
            });
        }
        if *record.prev_hash() != self.head.hash {
            return Err(IntakeError::PrevHashMismatch(Box::new(Fork {
                chain: self.chain.clone(),
                sequence: record.sequence(),
                expected: self.head.hash,
                last_sequence: self.head.sequence,
                got: *record.prev_hash(),
            })));
        }
        Ok(())
    }

    /// Step 6: signed by the chain's valid key, and the signature verifies. Returns the
    /// key the record will leave valid (the new one after a rotation).
    fn check_key(
        &self,
        record: &Record,
        record_hash: Hash,
        signature: Option<SignatureCheck>,
    ) -> Result<Option<KeyEntry>, IntakeError> {
        let Some(key) = &self.key else {
            return Err(key_problem(
                self.history,
                &self.chain,
                record.key_id(),
                None,
            ));
        };
        if key.key_id != record.key_id() {
            return Err(key_problem(
                self.history,
                &self.chain,
                record.key_id(),
                Some(key.key_id),
            ));
        }
        let valid = match signature {
            Some(checked) if checked.key_id == key.key_id => checked.valid,
            _ => record.verify(&key.public_key).is_ok(),
        };
        if !valid {
            return Err(IntakeError::BadSignature {
                chain: self.chain.clone(),
                record_hash,
                key: key.key_id,
            });
        }
        Ok(key_after(record, &self.chain).or_else(|| self.key.clone()))
    }

    fn advance(&mut self, record: &Record, record_hash: Hash, key: Option<KeyEntry>) {
        self.head = Head {
            sequence: record.sequence(),
            hash: record_hash,
        };
        self.planned.insert(self.head.sequence, record_hash);
        // Later records of this request are checked against a rotation's new key, as
        // they will be once the rotation is logged.
        self.key = key;
    }
}

/// The key a rotation record introduces, if `record` is one.
fn key_after(record: &Record, chain: &ChainId) -> Option<KeyEntry> {
    let Body::Key(KeyBody::Rotation { new_public_key, .. }) = record.body() else {
        return None;
    };
    Some(KeyEntry {
        key_id: KeyId::of(new_public_key),
        public_key: *new_public_key,
        chain: chain.clone(),
        introduced_at: 0,
        ended: None,
    })
}

/// Step 5: the appliance time is not further in the future than the allowed skew.
fn check_time(record: &Record, clock: &Clock) -> Result<(), IntakeError> {
    let skew_ms = u64::try_from(clock.max_future_skew.as_millis()).unwrap_or(u64::MAX);
    if record.time_ms() > clock.now_ms.saturating_add(skew_ms) {
        return Err(IntakeError::FutureTime {
            chain: record.chain(),
            ahead_ms: record.time_ms() - clock.now_ms,
            max_skew_secs: clock.max_future_skew.as_secs(),
        });
    }
    Ok(())
}

/// Explains why key `used` is not the valid key of `chain` (`valid`, if it has one):
/// revoked or rotated if it was this chain's key, otherwise wrong or unknown.
pub fn key_problem(
    history: &KeyHistory,
    chain: &ChainId,
    used: KeyId,
    valid: Option<KeyId>,
) -> IntakeError {
    let ended = history
        .key(&used)
        .filter(|entry| entry.chain == *chain)
        .and_then(|entry| entry.ended);
    if let Some(end) = ended {
        return match end.reason {
            KeyEndReason::Revoked { .. } => IntakeError::KeyRevoked {
                chain: chain.clone(),
                key: used,
                log_index: end.log_index,
            },
            KeyEndReason::Rotated { new_key_id } => IntakeError::KeyRotated {
                chain: chain.clone(),
                key: used,
                new_key: new_key_id,
                log_index: end.log_index,
            },
        };
    }
    match valid {
        Some(valid) => IntakeError::WrongKey {
            chain: chain.clone(),
            used,
            valid,
        },
        None => IntakeError::UnknownKey {
            chain: chain.clone(),
            used,
        },
    }
}

/// The subject of an enrolment or revocation is an appliance, never the operator.
pub fn check_subject(operator_chain: &ChainId, subject: &ChainId) -> Result<(), IntakeError> {
    if subject == operator_chain {
        return Err(IntakeError::OperatorSubject {
            subject: subject.clone(),
        });
    }
    Ok(())
}

/// The body enrolling `public_key` for `subject` with the spent enrolment token
/// `token_id` (RECORDS.md §5.4 enrolment, §7 rule 2): the appliance has no valid key,
/// and key ids are never reused.
pub fn enrolment_body(
    history: &KeyHistory,
    subject: ChainId,
    public_key: VerifyingKey,
    token_id: Id,
) -> Result<KeyBody, IntakeError> {
    if let Some(current) = history.key_at(&subject, u64::MAX) {
        return Err(IntakeError::AlreadyEnrolled {
            subject,
            key: current.key_id,
        });
    }
    let key_id = KeyId::of(&public_key);
    if history.key(&key_id).is_some() || key_id == history.operator_key_id() {
        return Err(IntakeError::KeyInUse { key: key_id });
    }
    Ok(KeyBody::Enrolment {
        subject,
        public_key,
        enrolment_token_id: token_id,
    })
}

/// The body revoking the valid key of `subject` (RECORDS.md §5.4 revocation, §7 rule 4).
pub fn revocation_body(
    history: &KeyHistory,
    subject: ChainId,
    reason: RevocationReason,
) -> Result<KeyBody, IntakeError> {
    let Some(current) = history.key_at(&subject, u64::MAX) else {
        return Err(IntakeError::NothingToRevoke { subject });
    };
    Ok(KeyBody::Revocation {
        key_id: current.key_id,
        subject,
        reason,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ledger_record::{EvidenceBody, EvidenceItem, SigningKey, Status, UnsignedRecord};

    /// The signing keys of a test log: the operator and one appliance.
    pub struct Keys {
        pub operator: SigningKey,
        pub appliance: SigningKey,
    }

    impl Keys {
        pub fn new() -> Keys {
            Keys {
                operator: SigningKey::from_bytes(&[1; 32]),
                appliance: SigningKey::from_bytes(&[2; 32]),
            }
        }

        pub fn chain() -> ChainId {
            chain("site-a", "appliance-1")
        }
    }

    pub fn chain(site: &str, appliance: &str) -> ChainId {
        ChainId::new(Id::new(site).unwrap(), Id::new(appliance).unwrap())
    }

    fn operator_chain() -> ChainId {
        chain("operator", "ledgerd")
    }

    fn sign(
        chain: &ChainId,
        sequence: u64,
        prev: Hash,
        time_ms: u64,
        body: Body,
        key: &SigningKey,
    ) -> Record {
        Record::sign(
            UnsignedRecord {
                site_id: chain.site_id.clone(),
                appliance_id: chain.appliance_id.clone(),
                sequence,
                prev_hash: prev,
                time_ms,
                key_id: KeyId::of(&key.verifying_key()),
                body,
            },
            key,
        )
        .unwrap()
    }

    fn evidence() -> Body {
        Body::Evidence(
            EvidenceBody::inline(vec![EvidenceItem {
                check_type: Id::new("disk_encryption").unwrap(),
                host: Id::new("host-1").unwrap(),
                status: Status::Pass,
                observed_at_ms: 1_700_000_000_000,
                details: "check".into(),
                controls: vec![],
            }])
            .unwrap(),
        )
    }

    /// An evidence record of the test appliance signed with `key`.
    pub fn appliance_record(key: &SigningKey, sequence: u64, prev: Hash, time_ms: u64) -> Record {
        sign(&Keys::chain(), sequence, prev, time_ms, evidence(), key)
    }

    /// The operator's enrolment of the test appliance's key, sequence `sequence` of the
    /// operator chain.
    pub fn enrolment(keys: &Keys, sequence: u64) -> Record {
        let body = Body::Key(KeyBody::Enrolment {
            subject: Keys::chain(),
            public_key: keys.appliance.verifying_key(),
            enrolment_token_id: Id::new("token-1").unwrap(),
        });
        sign(
            &operator_chain(),
            sequence,
            Hash([0; 32]),
            1,
            body,
            &keys.operator,
        )
    }

    /// A key history in which the test appliance's key was enrolled at index 0.
    fn enrolled(keys: &Keys) -> KeyHistory {
        let mut history = KeyHistory::new(keys.operator.verifying_key());
        history.apply(0, &enrolment(keys, 1)).unwrap();
        history
    }

    const NOW: u64 = 1_800_000_000_000;

    fn clock() -> Clock {
        Clock {
            now_ms: NOW,
            max_future_skew: Duration::from_secs(300),
        }
    }

    fn head_after(record: &Record) -> Head {
        Head {
            sequence: record.sequence(),
            hash: record.hash(),
        }
    }

    fn check_one(history: &KeyHistory, head: Head, record: &Record) -> Result<Plan, IntakeError> {
        ChainCheck::new(Keys::chain(), head, history, clock()).check(
            record,
            record.hash(),
            None,
            |_| None,
        )
    }

    #[test]
    fn admit_refuses_undecodable_bytes() {
        let who = Principal::Appliance(Keys::chain());
        let e = admit(&operator_chain(), &who, &[0xff, 0x00]).unwrap_err();
        assert!(matches!(e, IntakeError::Undecodable(_)), "{e:?}");
        let keys = Keys::new();
        let mut bytes = appliance_record(&keys.appliance, 1, Hash([0; 32]), NOW).encode();
        bytes.push(0);
        assert_eq!(
            admit(&operator_chain(), &who, &bytes).unwrap_err().code(),
            "trailing_bytes"
        );
    }

    #[test]
    fn admit_keeps_appliances_to_their_own_chain() {
        let keys = Keys::new();
        let record = appliance_record(&keys.appliance, 1, Hash([0; 32]), NOW);
        let own = Principal::Appliance(Keys::chain());
        assert_eq!(
            admit(&operator_chain(), &own, record.as_bytes()).unwrap(),
            record
        );
        let other = Principal::Appliance(chain("site-b", "appliance-1"));
        let e = admit(&operator_chain(), &other, record.as_bytes()).unwrap_err();
        assert_eq!(e.code(), "wrong_appliance");
        assert_eq!(
            e.to_string(),
            "the credential is for appliance site-b/appliance-1; the record is for site-a/appliance-1"
        );
        let e = admit(&operator_chain(), &Principal::Admin, record.as_bytes()).unwrap_err();
        assert_eq!(e, IntakeError::NotAnAppliance);
    }

    #[test]
    fn admit_keeps_operator_records_to_the_operator() {
        let keys = Keys::new();
        let who = Principal::Appliance(operator_chain());
        let own_chain = sign(
            &operator_chain(),
            1,
            Hash([0; 32]),
            NOW,
            evidence(),
            &keys.appliance,
        );
        let e = admit(&operator_chain(), &who, own_chain.as_bytes()).unwrap_err();
        assert_eq!(
            e,
            IntakeError::OperatorChain {
                chain: operator_chain()
            }
        );
        let revocation = Body::Key(KeyBody::Revocation {
            subject: Keys::chain(),
            key_id: KeyId::of(&keys.appliance.verifying_key()),
            reason: RevocationReason::Unspecified,
        });
        let record = sign(
            &Keys::chain(),
            1,
            Hash([0; 32]),
            NOW,
            revocation,
            &keys.appliance,
        );
        let who = Principal::Appliance(Keys::chain());
        let e = admit(&operator_chain(), &who, record.as_bytes()).unwrap_err();
        assert_eq!(e, IntakeError::OperatorOnlyRecord);
        assert_eq!(e.code(), "operator_only");
    }

    #[test]
    fn first_record_is_accepted_and_advances_the_head() {
        let keys = Keys::new();
        let history = enrolled(&keys);
        let first = appliance_record(&keys.appliance, 1, Hash([0; 32]), NOW);
        let mut check = ChainCheck::new(Keys::chain(), Head::EMPTY, &history, clock());
        assert_eq!(
            check.check(&first, first.hash(), None, |_| None),
            Ok(Plan::New)
        );
        assert_eq!(check.head(), head_after(&first));
        let second = appliance_record(&keys.appliance, 2, first.hash(), NOW);
        assert_eq!(
            check.check(&second, second.hash(), None, |_| None),
            Ok(Plan::New)
        );
    }

    #[test]
    fn sequence_gap_says_what_was_expected() {
        let keys = Keys::new();
        let history = enrolled(&keys);
        let record = appliance_record(&keys.appliance, 3, Hash([1; 32]), NOW);
        let e = check_one(&history, Head::EMPTY, &record).unwrap_err();
        assert_eq!(e.code(), "sequence_gap");
        assert_eq!(
            e.to_string(),
            "sequence gap for site-a/appliance-1: expected sequence 1, got 3"
        );
    }

    #[test]
    fn prev_hash_mismatch_is_a_fork() {
        let keys = Keys::new();
        let history = enrolled(&keys);
        let first = appliance_record(&keys.appliance, 1, Hash([0; 32]), NOW);
        let forked = appliance_record(&keys.appliance, 2, Hash([9; 32]), NOW);
        let e = check_one(&history, head_after(&first), &forked).unwrap_err();
        assert_eq!(
            e,
            IntakeError::PrevHashMismatch(Box::new(Fork {
                chain: Keys::chain(),
                sequence: 2,
                expected: first.hash(),
                last_sequence: 1,
                got: Hash([9; 32]),
            }))
        );
        assert_eq!(
            e.to_string(),
            format!(
                "previous-hash mismatch (fork) for site-a/appliance-1 at sequence 2: expected prev_hash {} (record hash of sequence 1), got {}",
                first.hash(),
                Hash([9; 32])
            )
        );
        assert_eq!(e.code(), "prev_hash_mismatch");
    }

    #[test]
    fn taken_sequences_are_duplicates_only_with_identical_bytes() {
        let keys = Keys::new();
        let history = enrolled(&keys);
        let first = appliance_record(&keys.appliance, 1, Hash([0; 32]), NOW);
        let mut check = ChainCheck::new(Keys::chain(), Head::EMPTY, &history, clock());
        check.check(&first, first.hash(), None, |_| None).unwrap();
        // The same record again in the same request.
        assert_eq!(
            check.check(&first, first.hash(), None, |_| None),
            Ok(Plan::InFlightDuplicate)
        );
        // Another record with a taken sequence, not in flight: the log decides.
        let other = appliance_record(&keys.appliance, 1, Hash([0; 32]), NOW + 1);
        assert_eq!(
            check.check(&other, other.hash(), None, |_| None),
            Ok(Plan::LoggedOrReplayed { next: 2 })
        );
        // Identical bytes handed over by an earlier request.
        let mut later = ChainCheck::new(Keys::chain(), head_after(&first), &history, clock());
        let in_flight = |sequence| (sequence == 1).then(|| first.hash());
        assert_eq!(
            later.check(&first, first.hash(), None, in_flight),
            Ok(Plan::InFlightDuplicate)
        );
    }

    #[test]
    fn future_time_beyond_the_skew_is_refused() {
        let keys = Keys::new();
        let history = enrolled(&keys);
        let at_limit = appliance_record(&keys.appliance, 1, Hash([0; 32]), NOW + 300_000);
        assert_eq!(check_one(&history, Head::EMPTY, &at_limit), Ok(Plan::New));
        let ahead = appliance_record(&keys.appliance, 1, Hash([0; 32]), NOW + 300_001);
        let e = check_one(&history, Head::EMPTY, &ahead).unwrap_err();
        assert_eq!(
            e,
            IntakeError::FutureTime {
                chain: Keys::chain(),
                ahead_ms: 300_001,
                max_skew_secs: 300
            }
        );
        assert_eq!(e.code(), "future_time");
    }

    #[test]
    fn unknown_and_wrong_keys_are_refused() {
        let keys = Keys::new();
        let record = appliance_record(&keys.appliance, 1, Hash([0; 32]), NOW);
        let not_enrolled = KeyHistory::new(keys.operator.verifying_key());
        let e = check_one(&not_enrolled, Head::EMPTY, &record).unwrap_err();
        assert_eq!(e.code(), "unknown_key");
        let stranger = SigningKey::from_bytes(&[3; 32]);
        let record = appliance_record(&stranger, 1, Hash([0; 32]), NOW);
        let e = check_one(&enrolled(&keys), Head::EMPTY, &record).unwrap_err();
        assert_eq!(
            e,
            IntakeError::WrongKey {
                chain: Keys::chain(),
                used: KeyId::of(&stranger.verifying_key()),
                valid: KeyId::of(&keys.appliance.verifying_key()),
            }
        );
    }

    #[test]
    fn revoked_and_rotated_keys_say_when() {
        let keys = Keys::new();
        let mut history = enrolled(&keys);
        let revocation = Body::Key(KeyBody::Revocation {
            subject: Keys::chain(),
            key_id: KeyId::of(&keys.appliance.verifying_key()),
            reason: RevocationReason::KeyCompromise,
        });
        let enrol = enrolment(&keys, 1);
        let revoke = sign(
            &operator_chain(),
            2,
            enrol.hash(),
            1,
            revocation,
            &keys.operator,
        );
        history.apply(5, &revoke).unwrap();
        let record = appliance_record(&keys.appliance, 1, Hash([0; 32]), NOW);
        let e = check_one(&history, Head::EMPTY, &record).unwrap_err();
        assert_eq!(e.code(), "key_revoked");
        assert_eq!(
            e.to_string(),
            format!(
                "key {} of site-a/appliance-1 was revoked at log index 5",
                record.key_id()
            )
        );

        let mut history = enrolled(&keys);
        let new_key = SigningKey::from_bytes(&[4; 32]);
        let rotation = rotation(&keys.appliance, &new_key, 1, Hash([0; 32]));
        history.apply(3, &rotation).unwrap();
        let old = appliance_record(&keys.appliance, 2, rotation.hash(), NOW);
        let e = check_one(&history, head_after(&rotation), &old).unwrap_err();
        assert_eq!(
            e,
            IntakeError::KeyRotated {
                chain: Keys::chain(),
                key: KeyId::of(&keys.appliance.verifying_key()),
                new_key: KeyId::of(&new_key.verifying_key()),
                log_index: 3,
            }
        );
    }

    fn rotation(old: &SigningKey, new: &SigningKey, sequence: u64, prev: Hash) -> Record {
        let body = Body::Key(KeyBody::Rotation {
            old_key_id: KeyId::of(&old.verifying_key()),
            new_public_key: new.verifying_key(),
        });
        sign(&Keys::chain(), sequence, prev, NOW, body, old)
    }

    #[test]
    fn records_after_a_rotation_in_one_request_use_the_new_key() {
        let keys = Keys::new();
        let history = enrolled(&keys);
        let new_key = SigningKey::from_bytes(&[4; 32]);
        let rotate = rotation(&keys.appliance, &new_key, 1, Hash([0; 32]));
        let mut check = ChainCheck::new(Keys::chain(), Head::EMPTY, &history, clock());
        assert_eq!(
            check.check(&rotate, rotate.hash(), None, |_| None),
            Ok(Plan::New)
        );
        let old = appliance_record(&keys.appliance, 2, rotate.hash(), NOW);
        assert_eq!(
            check
                .check(&old, old.hash(), None, |_| None)
                .unwrap_err()
                .code(),
            "wrong_key"
        );
        let new = appliance_record(&new_key, 2, rotate.hash(), NOW);
        assert_eq!(check.check(&new, new.hash(), None, |_| None), Ok(Plan::New));
    }

    #[test]
    fn bad_signatures_are_refused() {
        let keys = Keys::new();
        let history = enrolled(&keys);
        let record = appliance_record(&keys.appliance, 1, Hash([0; 32]), NOW);
        let mut bytes = record.encode();
        // The signature is the last 64 bytes of the envelope; flip one bit of it.
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = Record::decode(&bytes).unwrap();
        let e = check_one(&history, Head::EMPTY, &tampered).unwrap_err();
        assert_eq!(e.code(), "bad_signature");
        // An early check that failed with the valid key is trusted without verifying again.
        let failed = SignatureCheck {
            key_id: record.key_id(),
            valid: false,
        };
        let mut check = ChainCheck::new(Keys::chain(), Head::EMPTY, &history, clock());
        let e = check
            .check(&record, record.hash(), Some(failed), |_| None)
            .unwrap_err();
        assert_eq!(
            e,
            IntakeError::BadSignature {
                chain: Keys::chain(),
                record_hash: record.hash(),
                key: record.key_id(),
            }
        );
    }

    #[test]
    fn operator_chain_is_never_a_subject() {
        assert_eq!(check_subject(&operator_chain(), &Keys::chain()), Ok(()));
        let e = check_subject(&operator_chain(), &operator_chain()).unwrap_err();
        assert_eq!(e.code(), "operator_only");
        assert_eq!(
            e.to_string(),
            "operator/ledgerd is the operator's own chain"
        );
    }

    #[test]
    fn enrolment_needs_a_chain_without_key_and_a_fresh_key() {
        let keys = Keys::new();
        let empty = KeyHistory::new(keys.operator.verifying_key());
        let token = Id::new("token-2").unwrap();
        let body = enrolment_body(
            &empty,
            Keys::chain(),
            keys.appliance.verifying_key(),
            token.clone(),
        );
        assert!(matches!(body, Ok(KeyBody::Enrolment { .. })));
        let history = enrolled(&keys);
        let again = SigningKey::from_bytes(&[5; 32]).verifying_key();
        let e = enrolment_body(&history, Keys::chain(), again, token.clone()).unwrap_err();
        assert_eq!(e.code(), "already_enrolled");
        let other = chain("site-a", "appliance-2");
        let reused = keys.appliance.verifying_key();
        let e = enrolment_body(&history, other.clone(), reused, token.clone()).unwrap_err();
        assert_eq!(
            e,
            IntakeError::KeyInUse {
                key: KeyId::of(&reused)
            }
        );
        let operator = keys.operator.verifying_key();
        let e = enrolment_body(&history, other, operator, token).unwrap_err();
        assert_eq!(e.code(), "key_in_use");
    }

    #[test]
    fn revocation_needs_a_valid_key() {
        let keys = Keys::new();
        let empty = KeyHistory::new(keys.operator.verifying_key());
        let e = revocation_body(&empty, Keys::chain(), RevocationReason::Superseded).unwrap_err();
        assert_eq!(e.code(), "not_found");
        assert_eq!(
            e.to_string(),
            "site-a/appliance-1 has no valid key to revoke"
        );
        let body = revocation_body(
            &enrolled(&keys),
            Keys::chain(),
            RevocationReason::Superseded,
        );
        assert_eq!(
            body,
            Ok(KeyBody::Revocation {
                subject: Keys::chain(),
                key_id: KeyId::of(&keys.appliance.verifying_key()),
                reason: RevocationReason::Superseded,
            })
        );
    }
}
