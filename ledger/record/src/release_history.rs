//! Which release keys were valid when, and which releases the log holds, replayed from
//! `release` records (docs/RECORDS.md §"Release lifecycle").
//!
//! The server and the offline verifier replay a log's release records in log order
//! through [`ReleaseHistory::apply`]; the server runs [`ReleaseHistory::check_release`]
//! before it appends a release, so what it appends is what a replay accepts. Rules:
//! - every release record is signed by the log's operator key;
//! - a release key enrolled at index `i` may sign releases logged after `i`, until and
//!   including the index of its revocation; a key id is never reused, neither among
//!   release keys nor with the operator's or an appliance's key;
//! - a release is signed by a release key valid at its own index, and no two releases
//!   share a channel and an (equal) version.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use ledger_core::hash::Hash;

use crate::error::RecordError;
use crate::ids::{Id, KeyId};
use crate::key_body::RevocationReason;
use crate::key_history::KeyHistory;
use crate::record::{Body, Kind, Record};
use crate::release_body::{ReleaseBody, SignedRelease};

/// Why a release record cannot be applied, or a release could not be logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("log index {got} does not follow log index {previous}; release records must be applied in log order")]
    LogIndexNotIncreasing { previous: u64, got: u64 },
    #[error("record at log index {log_index} is a {kind:?} record, not a release record")]
    NotAReleaseRecord { log_index: u64, kind: Kind },
    #[error("release record at log index {log_index} is signed by key {key_id}, not by the operator key {operator_key_id}")]
    NotOperatorKey {
        log_index: u64,
        key_id: KeyId,
        operator_key_id: KeyId,
    },
    #[error("release key {key_id} is already known to the log (as a release, appliance or operator key)")]
    KeyIdInUse { key_id: KeyId },
    #[error("a valid release key is already named {name:?}")]
    NameInUse { name: Id },
    #[error("release key {key_id} is not enrolled in this log")]
    UnknownReleaseKey { key_id: KeyId },
    #[error("release key {key_id} ({name}) was revoked at log index {revoked_at}")]
    ReleaseKeyRevoked {
        key_id: KeyId,
        name: Id,
        revoked_at: u64,
    },
    #[error("release key {key_id} ({name}) is enrolled at log index {introduced_at} and signs only releases logged after it")]
    ReleaseKeyNotYetValid {
        key_id: KeyId,
        name: Id,
        introduced_at: u64,
    },
    #[error("{channel} {version} is already released (log index {log_index})")]
    AlreadyReleased {
        channel: Id,
        version: String,
        log_index: u64,
    },
    #[error("the release's signature does not verify with release key {key_id} ({name}): it was changed after signing, or signed with another key")]
    BadReleaseSignature { key_id: KeyId, name: Id },
    #[error("release record at log index {log_index}: {error}")]
    Signature {
        log_index: u64,
        #[source]
        error: RecordError,
    },
}

/// One release key and when it was valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseKeyEntry {
    pub key_id: KeyId,
    pub name: Id,
    pub public_key: VerifyingKey,
    /// Index of the enrolment; the key signs releases logged after it.
    pub introduced_at: u64,
    /// Index and reason of the revocation; the key signs releases up to and including it.
    pub revoked: Option<(u64, RevocationReason)>,
}

impl ReleaseKeyEntry {
    pub fn valid_at(&self, log_index: u64) -> bool {
        log_index > self.introduced_at && self.revoked.is_none_or(|(at, _)| log_index <= at)
    }
}

/// A release in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRelease {
    pub log_index: u64,
    /// Record hash of the release record.
    pub record_hash: Hash,
    /// The operator's time on the record, Unix milliseconds.
    pub logged_at_ms: u64,
    pub release: SignedRelease,
}

/// The release keys and releases of one log; see the module documentation.
#[derive(Debug, Clone)]
pub struct ReleaseHistory {
    keys: Vec<ReleaseKeyEntry>,
    by_id: BTreeMap<KeyId, usize>,
    releases: Vec<LoggedRelease>,
    by_version: BTreeMap<(Id, Vec<u32>), usize>,
    last_log_index: Option<u64>,
}

impl Default for ReleaseHistory {
    fn default() -> Self {
        ReleaseHistory::new()
    }
}

impl ReleaseHistory {
    pub fn new() -> ReleaseHistory {
        ReleaseHistory {
            keys: Vec::new(),
            by_id: BTreeMap::new(),
            releases: Vec::new(),
            by_version: BTreeMap::new(),
            last_log_index: None,
        }
    }

    /// Every release key, in the order they were enrolled.
    pub fn keys(&self) -> &[ReleaseKeyEntry] {
        &self.keys
    }

    pub fn key(&self, key_id: &KeyId) -> Option<&ReleaseKeyEntry> {
        self.by_id.get(key_id).and_then(|&i| self.keys.get(i))
    }

    /// Every release, in log order.
    pub fn releases(&self) -> &[LoggedRelease] {
        &self.releases
    }

    /// The release of `channel` whose version equals `version`, if one is logged.
    pub fn release(&self, channel: &Id, version: &crate::Version) -> Option<&LoggedRelease> {
        self.by_version
            .get(&(channel.clone(), version.normalized()))
            .and_then(|&i| self.releases.get(i))
    }

    /// Checks that `signed` could be logged at `log_index`: its key is an enrolled
    /// release key valid there, the signature verifies and the version is new on its
    /// channel.
    pub fn check_release(
        &self,
        log_index: u64,
        signed: &SignedRelease,
    ) -> Result<(), ReleaseError> {
        let statement = &signed.statement;
        let key = self
            .key(&statement.key_id)
            .ok_or(ReleaseError::UnknownReleaseKey {
                key_id: statement.key_id,
            })?;
        if let Some((revoked_at, _)) = key.revoked.filter(|(at, _)| log_index > *at) {
            return Err(ReleaseError::ReleaseKeyRevoked {
                key_id: key.key_id,
                name: key.name.clone(),
                revoked_at,
            });
        }
        if !key.valid_at(log_index) {
            return Err(ReleaseError::ReleaseKeyNotYetValid {
                key_id: key.key_id,
                name: key.name.clone(),
                introduced_at: key.introduced_at,
            });
        }
        signed
            .verify(&key.public_key)
            .map_err(|_| ReleaseError::BadReleaseSignature {
                key_id: key.key_id,
                name: key.name.clone(),
            })?;
        if let Some(known) = self.release(&statement.channel, &statement.version) {
            return Err(ReleaseError::AlreadyReleased {
                channel: statement.channel.clone(),
                version: known.release.statement.version.to_string(),
                log_index: known.log_index,
            });
        }
        Ok(())
    }

    /// Checks that a new release key could be enrolled: its id is new to the log and no
    /// valid release key has its name.
    pub fn check_enrolment(
        &self,
        keys: &KeyHistory,
        name: &Id,
        public_key: &VerifyingKey,
    ) -> Result<(), ReleaseError> {
        let key_id = KeyId::of(public_key);
        if self.by_id.contains_key(&key_id)
            || keys.key(&key_id).is_some()
            || key_id == keys.operator_key_id()
        {
            return Err(ReleaseError::KeyIdInUse { key_id });
        }
        if self
            .keys
            .iter()
            .any(|k| k.revoked.is_none() && k.name == *name)
        {
            return Err(ReleaseError::NameInUse { name: name.clone() });
        }
        Ok(())
    }

    /// Checks that release key `key_id` exists and is not revoked.
    pub fn check_revocation(&self, key_id: &KeyId) -> Result<&ReleaseKeyEntry, ReleaseError> {
        let key = self
            .key(key_id)
            .ok_or(ReleaseError::UnknownReleaseKey { key_id: *key_id })?;
        if let Some((revoked_at, _)) = key.revoked {
            return Err(ReleaseError::ReleaseKeyRevoked {
                key_id: *key_id,
                name: key.name.clone(),
                revoked_at,
            });
        }
        Ok(key)
    }

    /// Applies the release record at `log_index` after checking the operator's
    /// signature (with `keys`' operator key) and the rules. On error nothing changes.
    pub fn apply(
        &mut self,
        keys: &KeyHistory,
        log_index: u64,
        record: &Record,
    ) -> Result<(), ReleaseError> {
        if let Some(previous) = self.last_log_index.filter(|&p| log_index <= p) {
            return Err(ReleaseError::LogIndexNotIncreasing {
                previous,
                got: log_index,
            });
        }
        let Body::Release(body) = record.body() else {
            return Err(ReleaseError::NotAReleaseRecord {
                log_index,
                kind: record.kind(),
            });
        };
        if record.key_id() != keys.operator_key_id() {
            return Err(ReleaseError::NotOperatorKey {
                log_index,
                key_id: record.key_id(),
                operator_key_id: keys.operator_key_id(),
            });
        }
        record
            .verify(keys.operator_key())
            .map_err(|error| ReleaseError::Signature { log_index, error })?;
        match body {
            ReleaseBody::KeyEnrolment { name, public_key } => {
                self.check_enrolment(keys, name, public_key)?;
                let key_id = KeyId::of(public_key);
                self.by_id.insert(key_id, self.keys.len());
                self.keys.push(ReleaseKeyEntry {
                    key_id,
                    name: name.clone(),
                    public_key: *public_key,
                    introduced_at: log_index,
                    revoked: None,
                });
            }
            ReleaseBody::KeyRevocation { key_id, reason } => {
                self.check_revocation(key_id)?;
                if let Some(&i) = self.by_id.get(key_id) {
                    self.keys[i].revoked = Some((log_index, *reason));
                }
            }
            ReleaseBody::Release(signed) => {
                self.check_release(log_index, signed)?;
                let statement = &signed.statement;
                self.by_version.insert(
                    (statement.channel.clone(), statement.version.normalized()),
                    self.releases.len(),
                );
                self.releases.push(LoggedRelease {
                    log_index,
                    record_hash: record.hash(),
                    logged_at_ms: record.time_ms(),
                    release: signed.clone(),
                });
            }
        }
        self.last_log_index = Some(log_index);
        Ok(())
    }
}
