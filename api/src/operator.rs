//! The operator key: the Ed25519 key that signs enrolment and revocation records
//! (docs/RECORDS.md §5.4, §7). It is a second key beside the log key, kept in
//! `<data_dir>/operator.key` with mode 0600, created on first start.
//!
//! File format (text):
//!
//! ```text
//! evidence-ledger operator key v1
//! seed <base64 of the 32-byte Ed25519 seed>
//! check <hex SHA-256 of the two lines above, newlines included>
//! ```
//!
//! The check line makes a truncated or edited file fail to load rather than sign
//! enrolments with a key no verifier trusts.

use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use ledger_keyfile::{KeyFileError, KeyFormat};
use ledger_record::KeyId;

/// The operator key's file: `ledger-keyfile`'s format with no extra lines.
const FORMAT: KeyFormat = KeyFormat {
    header: "evidence-ledger operator key v1",
    labels: &[],
};

/// Why the operator key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum OperatorKeyError {
    #[error("operator key file {path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error("operator key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl OperatorKeyError {
    fn of(path: &Path, e: KeyFileError) -> OperatorKeyError {
        match e {
            KeyFileError::Io(source) => OperatorKeyError::Io {
                path: path.to_path_buf(),
                source,
            },
            KeyFileError::Invalid(problem) => OperatorKeyError::Invalid {
                path: path.to_path_buf(),
                problem,
            },
        }
    }
}

/// The loaded operator key.
pub struct OperatorKey {
    key: SigningKey,
}

impl std::fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OperatorKey({})", self.key_id())
    }
}

impl OperatorKey {
    /// Loads `path`, or creates a new random key there when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<OperatorKey, OperatorKeyError> {
        match std::fs::symlink_metadata(path) {
            Ok(_) => OperatorKey::load(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => OperatorKey::create(path),
            Err(source) => Err(OperatorKeyError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// A crash midway leaves no key and the next start creates one; nothing was signed
    /// with the lost key.
    fn create(path: &Path) -> Result<OperatorKey, OperatorKeyError> {
        let key = SigningKey::generate(&mut rand_core::OsRng);
        FORMAT
            .create(path, &[], &key.to_bytes())
            .map_err(|e| OperatorKeyError::of(path, e))?;
        Ok(OperatorKey { key })
    }

    /// Loads and checks an existing key file.
    pub fn load(path: &Path) -> Result<OperatorKey, OperatorKeyError> {
        let contents = FORMAT
            .load(path)
            .map_err(|e| OperatorKeyError::of(path, e))?;
        Ok(OperatorKey {
            key: SigningKey::from_bytes(&contents.seed),
        })
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.key.verifying_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_key_reloads_and_has_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("operator.key");
        let a = OperatorKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = OperatorKey::load_or_create(&path).unwrap();
        assert_eq!(a.public_key(), b.public_key());
    }

    #[test]
    fn damaged_file_or_another_kind_of_key_is_refused() {
        // Every truncation and bit flip is covered by ledger-keyfile's tests; here: the
        // operator key takes that format's checks, and an appliance's key file is not
        // accepted as the operator's.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("operator.key");
        OperatorKey::load_or_create(&path).unwrap();
        let good = std::fs::read(&path).unwrap();
        std::fs::write(&path, &good[..good.len() - 1]).unwrap();
        let err = OperatorKey::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("operator key file") && err.contains("truncated"),
            "{err}"
        );
        let agent = KeyFormat {
            header: "evidence-ledger agent key v1",
            labels: &[],
        };
        std::fs::remove_file(&path).unwrap();
        agent.create(&path, &[], &[5u8; 32]).unwrap();
        let err = OperatorKey::load(&path).unwrap_err().to_string();
        assert!(err.contains("unknown header"), "{err}");
    }

    #[test]
    fn readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("operator.key");
        OperatorKey::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(OperatorKey::load(&path)
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
    }
}
