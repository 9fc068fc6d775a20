//! Validated identifiers: site, appliance and other ids ([`Id`]), Ed25519 key ids
//! ([`KeyId`]) and the per-appliance chain a record belongs to ([`ChainId`]).

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

/// Domain-separation prefix of key ids (docs/RECORDS.md §"Key id").
pub const KEY_ID_DOMAIN: &[u8] = b"evidence-ledger/key/v1";

/// Why a string is not a valid [`Id`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("identifier is empty")]
    Empty,
    #[error("identifier is {len} bytes long, more than {max}")]
    TooLong { len: usize, max: usize },
    #[error("identifier has {ch:?} at byte {index}; only A-Z a-z 0-9 . _ : - are allowed")]
    InvalidChar { index: usize, ch: char },
}

/// An identifier: 1 to 128 characters from `[A-Za-z0-9._:-]`.
///
/// Site ids, appliance ids, check types, hosts, incident ids, runbook ids and enrolment
/// token ids all use this form, so they can appear in file names, URLs and log lines
/// without escaping.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(String);

impl Id {
    /// Longest identifier, in bytes (all allowed characters are ASCII).
    pub const MAX_LEN: usize = 128;

    /// Validates and wraps an identifier.
    pub fn new(value: impl Into<String>) -> Result<Id, IdError> {
        let value = value.into();
        Id::check(&value)?;
        Ok(Id(value))
    }

    /// Checks a string against the identifier rules without taking it.
    pub fn check(value: &str) -> Result<(), IdError> {
        if value.is_empty() {
            return Err(IdError::Empty);
        }
        if value.len() > Id::MAX_LEN {
            return Err(IdError::TooLong {
                len: value.len(),
                max: Id::MAX_LEN,
            });
        }
        if let Some((index, ch)) = value
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
        {
            return Err(IdError::InvalidChar { index, ch });
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Id {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Id, IdError> {
        Id::new(s)
    }
}

impl TryFrom<String> for Id {
    type Error = IdError;

    fn try_from(s: String) -> Result<Id, IdError> {
        Id::new(s)
    }
}

impl TryFrom<&str> for Id {
    type Error = IdError;

    fn try_from(s: &str) -> Result<Id, IdError> {
        Id::new(s)
    }
}

impl AsRef<str> for Id {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The id of an Ed25519 public key: the first 8 bytes of
/// SHA-256("evidence-ledger/key/v1" || 0x00 || public key).
///
/// Eight bytes make accidental collisions negligible (birthday bound near 2^32 keys) while
/// keeping every envelope small; the full key is always looked up and checked, so a
/// collision can only make verification fail, never succeed wrongly.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    pub const LEN: usize = 8;

    /// The key id of an Ed25519 public key.
    pub fn of(key: &VerifyingKey) -> KeyId {
        let mut h = Sha256::new();
        h.update(KEY_ID_DOMAIN);
        h.update([0x00]);
        h.update(key.as_bytes());
        let digest = h.finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }

    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// One appliance's chain of records: the unit of sequence numbers and prev-hash links.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainId {
    pub site_id: Id,
    pub appliance_id: Id,
}

impl ChainId {
    pub fn new(site_id: Id, appliance_id: Id) -> ChainId {
        ChainId {
            site_id,
            appliance_id,
        }
    }
}

impl std::fmt::Display for ChainId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.site_id, self.appliance_id)
    }
}
