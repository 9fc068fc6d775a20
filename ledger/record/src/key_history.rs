//! Which appliance key was valid at which log position, replayed from `key` records.
//!
//! The server's intake and the offline verifier both replay the log's key records in log
//! order through [`KeyHistory::apply`], then ask [`KeyHistory::key_at`] or
//! [`KeyHistory::verify_record`] about every other record. Rules (docs/RECORDS.md
//! §"Key lifecycle"):
//! - a key record at log index `i` takes effect for entries after `i`; the record itself
//!   is checked against the state before it;
//! - enrolment and revocation are signed by the operator key given to
//!   [`KeyHistory::new`]; rotation is signed by the appliance key it replaces, which must be
//!   the appliance's valid key at that position;
//! - an appliance has at most one valid key at any position: enrolment requires that it
//!   has none (revoke first to re-enrol), rotation swaps one for another;
//! - a key id is never reused, and a key that has been rotated away or revoked never
//!   becomes valid again.
//!
//! Revocation stops a key for entries after the revocation; it does not retroactively
//! invalidate earlier entries: their position in the log proves they were logged while
//! the key was valid.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;

use crate::error::RecordError;
use crate::ids::{ChainId, KeyId};
use crate::key_body::{KeyBody, RevocationReason};
use crate::link_body::LinkBody;
use crate::record::{Body, Kind, Record};

/// Why a key record cannot be applied or a record does not verify against the history.
/// All variants but the first two are verification failures of the log's content; the
/// first two are misuse by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyHistoryError {
    #[error("log index {got} does not follow log index {previous}; key records must be applied in log order")]
    LogIndexNotIncreasing { previous: u64, got: u64 },
    #[error("record at log index {log_index} is a {kind:?} record, not a key record")]
    NotAKeyRecord { log_index: u64, kind: Kind },
    #[error("key record at log index {log_index} is signed by key {key_id}, not by the operator key {operator_key_id}")]
    NotOperatorKey {
        log_index: u64,
        key_id: KeyId,
        operator_key_id: KeyId,
    },
    #[error("record at log index {log_index} of {chain} is signed by key {key_id}, but the valid key there is {current:?}")]
    NotCurrentKey {
        log_index: u64,
        chain: ChainId,
        key_id: KeyId,
        current: Option<KeyId>,
    },
    #[error("enrolment at log index {log_index}: {chain} already has valid key {current}")]
    AlreadyEnrolled {
        log_index: u64,
        chain: ChainId,
        current: KeyId,
    },
    #[error(
        "key record at log index {log_index} introduces key {key_id}, which the log already knows"
    )]
    KeyIdInUse { log_index: u64, key_id: KeyId },
    #[error("revocation at log index {log_index} names unknown key {key_id}")]
    UnknownKey { log_index: u64, key_id: KeyId },
    #[error("revocation at log index {log_index} names key {key_id} of {named}, but that key belongs to {owner}")]
    KeyOwnerMismatch {
        log_index: u64,
        key_id: KeyId,
        owner: ChainId,
        named: ChainId,
    },
    #[error("revocation at log index {log_index}: key {key_id} is no longer valid")]
    KeyNotActive { log_index: u64, key_id: KeyId },
    #[error("link at log index {log_index}: links are the first entries of a log, before any other record")]
    LinkNotAtStart { log_index: u64 },
    #[error("link at log index {log_index} names another previous log, checkpoint or period than the link before it")]
    LinkMismatch { log_index: u64 },
    #[error(
        "link at log index {log_index} carries {chain}, which an earlier link carried already"
    )]
    ChainCarriedTwice { log_index: u64, chain: ChainId },
    #[error("record at log index {log_index}: {error}")]
    Signature {
        log_index: u64,
        #[source]
        error: RecordError,
    },
}

/// How a key stopped being valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEndReason {
    Rotated { new_key_id: KeyId },
    Revoked { reason: RevocationReason },
}

/// The end of a key's validity: valid up to and including `log_index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEnd {
    pub log_index: u64,
    pub reason: KeyEndReason,
}

/// One appliance key and when it was valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    pub key_id: KeyId,
    pub public_key: VerifyingKey,
    /// The appliance the key belongs to.
    pub chain: ChainId,
    /// Log index of the enrolment or rotation that introduced the key; it is valid for
    /// entries after this index.
    pub introduced_at: u64,
    pub ended: Option<KeyEnd>,
}

impl KeyEntry {
    /// Whether the key is valid for the entry at `log_index`.
    pub fn valid_at(&self, log_index: u64) -> bool {
        log_index > self.introduced_at && self.ended.is_none_or(|end| log_index <= end.log_index)
    }
}

/// What the links at the start of a log say about the log it succeeds: the same in
/// every link of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLink {
    pub previous_log: String,
    pub previous_checkpoint: String,
    pub period: String,
    pub previous_period: String,
    /// Log indexes of the links (0, 1, …).
    pub links: u64,
}

/// The key history of one log; see the module documentation.
#[derive(Debug, Clone)]
pub struct KeyHistory {
    operator_key: VerifyingKey,
    operator_key_id: KeyId,
    keys: Vec<KeyEntry>,
    by_id: BTreeMap<KeyId, usize>,
    by_chain: BTreeMap<ChainId, Vec<usize>>,
    last_log_index: Option<u64>,
    link: Option<LogLink>,
    /// Whether a key record other than a link was applied.
    applied_other: bool,
}

impl KeyHistory {
    /// An empty history for a log whose operator signs enrolments and revocations with
    /// `operator_key`.
    pub fn new(operator_key: VerifyingKey) -> KeyHistory {
        KeyHistory {
            operator_key_id: KeyId::of(&operator_key),
            operator_key,
            keys: Vec::new(),
            by_id: BTreeMap::new(),
            by_chain: BTreeMap::new(),
            last_log_index: None,
            link: None,
            applied_other: false,
        }
    }

    /// The log this one succeeds, when it starts with links.
    pub fn link(&self) -> Option<&LogLink> {
        self.link.as_ref()
    }

    pub fn operator_key(&self) -> &VerifyingKey {
        &self.operator_key
    }

    pub fn operator_key_id(&self) -> KeyId {
        self.operator_key_id
    }

    /// Every key seen, in the order they were introduced.
    pub fn keys(&self) -> &[KeyEntry] {
        &self.keys
    }

    pub fn key(&self, key_id: &KeyId) -> Option<&KeyEntry> {
        self.by_id.get(key_id).and_then(|&i| self.keys.get(i))
    }

    /// The key of appliance `chain` valid for the entry at `log_index`, if any. Positions
    /// after the last applied key record are answered from the current state.
    pub fn key_at(&self, chain: &ChainId, log_index: u64) -> Option<&KeyEntry> {
        self.by_chain
            .get(chain)?
            .iter()
            .filter_map(|&i| self.keys.get(i))
            .find(|k| k.valid_at(log_index))
    }

    /// Checks a record against the history: a key record must be signed by the operator
    /// (enrolment, revocation) or by the appliance's valid key (rotation); any other
    /// record by the valid key of its own appliance at `log_index`.
    pub fn verify_record(&self, log_index: u64, record: &Record) -> Result<(), KeyHistoryError> {
        match record.body() {
            Body::Key(k) if k.by_operator() => self.check_operator(log_index, record),
            _ => self.check_appliance_key(log_index, record).map(|_| ()),
        }
    }

    fn check_operator(&self, log_index: u64, record: &Record) -> Result<(), KeyHistoryError> {
        if record.key_id() != self.operator_key_id {
            return Err(KeyHistoryError::NotOperatorKey {
                log_index,
                key_id: record.key_id(),
                operator_key_id: self.operator_key_id,
            });
        }
        record
            .verify(&self.operator_key)
            .map_err(|error| KeyHistoryError::Signature { log_index, error })
    }

    /// Verifies a record made by an appliance with the key valid at `log_index`, and
    /// returns the position of that key.
    fn check_appliance_key(
        &self,
        log_index: u64,
        record: &Record,
    ) -> Result<usize, KeyHistoryError> {
        let chain = record.chain();
        let current = self.by_chain.get(&chain).and_then(|ids| {
            ids.iter()
                .copied()
                .find(|&i| self.keys.get(i).is_some_and(|k| k.valid_at(log_index)))
        });
        let Some((index, key)) = current.and_then(|i| self.keys.get(i).map(|k| (i, k))) else {
            return Err(KeyHistoryError::NotCurrentKey {
                log_index,
                chain,
                key_id: record.key_id(),
                current: None,
            });
        };
        if key.key_id != record.key_id() {
            return Err(KeyHistoryError::NotCurrentKey {
                log_index,
                chain,
                key_id: record.key_id(),
                current: Some(key.key_id),
            });
        }
        record
            .verify(&key.public_key)
            .map_err(|error| KeyHistoryError::Signature { log_index, error })?;
        Ok(index)
    }

    fn check_new_key(&self, log_index: u64, key_id: KeyId) -> Result<(), KeyHistoryError> {
        if self.by_id.contains_key(&key_id) || key_id == self.operator_key_id {
            return Err(KeyHistoryError::KeyIdInUse { log_index, key_id });
        }
        Ok(())
    }

    fn add_key(&mut self, entry: KeyEntry) -> usize {
        let index = self.keys.len();
        self.by_id.insert(entry.key_id, index);
        self.by_chain
            .entry(entry.chain.clone())
            .or_default()
            .push(index);
        self.keys.push(entry);
        index
    }

    /// Applies the key record at `log_index` after checking its signature and the
    /// lifecycle rules. Returns the keys it introduced (enrolment, rotation, link) or
    /// ended (revocation). On error the history is unchanged.
    pub fn apply(
        &mut self,
        log_index: u64,
        record: &Record,
    ) -> Result<Vec<KeyId>, KeyHistoryError> {
        if let Some(previous) = self.last_log_index {
            if log_index <= previous {
                return Err(KeyHistoryError::LogIndexNotIncreasing {
                    previous,
                    got: log_index,
                });
            }
        }
        let Body::Key(body) = record.body() else {
            return Err(KeyHistoryError::NotAKeyRecord {
                log_index,
                kind: record.kind(),
            });
        };
        let touched = match body {
            KeyBody::Link(link) => {
                let touched = self.apply_link(log_index, record, link)?;
                self.last_log_index = Some(log_index);
                return Ok(touched);
            }
            KeyBody::Enrolment {
                subject,
                public_key,
                ..
            } => {
                self.check_operator(log_index, record)?;
                if let Some(current) = self.key_at(subject, log_index) {
                    return Err(KeyHistoryError::AlreadyEnrolled {
                        log_index,
                        chain: subject.clone(),
                        current: current.key_id,
                    });
                }
                let key_id = KeyId::of(public_key);
                self.check_new_key(log_index, key_id)?;
                self.add_key(KeyEntry {
                    key_id,
                    public_key: *public_key,
                    chain: subject.clone(),
                    introduced_at: log_index,
                    ended: None,
                })
            }
            KeyBody::Rotation { new_public_key, .. } => {
                // Decoding guarantees that the body's old key id is the envelope's.
                let old = self.check_appliance_key(log_index, record)?;
                let new_key_id = KeyId::of(new_public_key);
                self.check_new_key(log_index, new_key_id)?;
                if let Some(old) = self.keys.get_mut(old) {
                    old.ended = Some(KeyEnd {
                        log_index,
                        reason: KeyEndReason::Rotated { new_key_id },
                    });
                }
                self.add_key(KeyEntry {
                    key_id: new_key_id,
                    public_key: *new_public_key,
                    chain: record.chain(),
                    introduced_at: log_index,
                    ended: None,
                })
            }
            KeyBody::Revocation {
                subject,
                key_id,
                reason,
            } => {
                self.check_operator(log_index, record)?;
                let Some(&index) = self.by_id.get(key_id) else {
                    return Err(KeyHistoryError::UnknownKey {
                        log_index,
                        key_id: *key_id,
                    });
                };
                let Some(entry) = self.keys.get_mut(index) else {
                    return Err(KeyHistoryError::UnknownKey {
                        log_index,
                        key_id: *key_id,
                    });
                };
                if entry.chain != *subject {
                    return Err(KeyHistoryError::KeyOwnerMismatch {
                        log_index,
                        key_id: *key_id,
                        owner: entry.chain.clone(),
                        named: subject.clone(),
                    });
                }
                if !entry.valid_at(log_index) {
                    return Err(KeyHistoryError::KeyNotActive {
                        log_index,
                        key_id: *key_id,
                    });
                }
                entry.ended = Some(KeyEnd {
                    log_index,
                    reason: KeyEndReason::Revoked { reason: *reason },
                });
                index
            }
        };
        self.last_log_index = Some(log_index);
        self.applied_other = true;
        // `touched` is a position this function just took from `keys` itself.
        Ok(vec![self.keys[touched].key_id])
    }

    /// A link: only at the start of the log (at index n after n links), agreeing with
    /// the links before it, each carried chain new and its key unused.
    fn apply_link(
        &mut self,
        log_index: u64,
        record: &Record,
        link: &LinkBody,
    ) -> Result<Vec<KeyId>, KeyHistoryError> {
        self.check_operator(log_index, record)?;
        let links = self.link.as_ref().map_or(0, |l| l.links);
        if self.applied_other || log_index != links {
            return Err(KeyHistoryError::LinkNotAtStart { log_index });
        }
        if let Some(known) = &self.link {
            if known.previous_log != link.previous_log
                || known.previous_checkpoint != link.previous_checkpoint
                || known.period != link.period
                || known.previous_period != link.previous_period
            {
                return Err(KeyHistoryError::LinkMismatch { log_index });
            }
        }
        for carried in &link.carried {
            if self.by_chain.contains_key(&carried.chain) {
                return Err(KeyHistoryError::ChainCarriedTwice {
                    log_index,
                    chain: carried.chain.clone(),
                });
            }
            self.check_new_key(log_index, KeyId::of(&carried.public_key))?;
        }
        let mut touched = Vec::with_capacity(link.carried.len());
        for carried in &link.carried {
            let key_id = KeyId::of(&carried.public_key);
            self.add_key(KeyEntry {
                key_id,
                public_key: carried.public_key,
                chain: carried.chain.clone(),
                introduced_at: log_index,
                ended: None,
            });
            touched.push(key_id);
        }
        self.link = Some(LogLink {
            previous_log: link.previous_log.clone(),
            previous_checkpoint: link.previous_checkpoint.clone(),
            period: link.period.clone(),
            previous_period: link.previous_period.clone(),
            links: links + 1,
        });
        Ok(touched)
    }
}
