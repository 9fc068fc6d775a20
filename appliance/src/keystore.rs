//! The appliance's Ed25519 signing keys, one file per key under `data_dir/keys/`, named
//! by key id (`<16 hex>.key`), mode 0600, with an integrity check line.
//!
//! File format (text):
//!
//! ```text
//! evidence-ledger agent key v1
//! seed <base64 of the 32-byte Ed25519 seed>
//! check <hex SHA-256 of the two lines above, newlines included>
//! ```
//!
//! A file that is truncated, edited, readable by group or others, or whose key id does
//! not match its name is refused with [`AgentError::KeyFile`]: the agent then stops
//! signing rather than sign with a key the log does not know. Which key is active is
//! stored in the outbox (in the same transaction as the record that introduces it), so
//! a crash between writing a new key file and switching to it leaves an unused file and
//! the old key active.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use ledger_keyfile::{KeyFileError, KeyFormat};
use ledger_record::KeyId;

use crate::error::AgentError;

/// The agent's key files: `ledger-keyfile`'s format with no extra lines.
const FORMAT: KeyFormat = KeyFormat {
    header: "evidence-ledger agent key v1",
    labels: &[],
};

/// The folder holding the key files.
pub fn key_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("keys")
}

/// The file of the key with `key_id`.
pub fn key_path(data_dir: &Path, key_id: &KeyId) -> PathBuf {
    key_dir(data_dir).join(format!("{}.key", hex::encode(key_id.as_bytes())))
}

fn key_err(path: &Path, problem: impl Into<String>) -> AgentError {
    AgentError::KeyFile {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// Generates a fresh key from the operating system's random source.
pub fn generate() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

/// Writes `key` to its file (mode 0600, synced, linked into place, directory synced).
/// Refuses to overwrite.
pub fn store(data_dir: &Path, key: &SigningKey) -> Result<PathBuf, AgentError> {
    let dir = key_dir(data_dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| AgentError::io(format!("creating {}", dir.display()), e))?;
    let path = key_path(data_dir, &KeyId::of(&key.verifying_key()));
    // Crash note: a crash before the link leaves no key file; after it, a complete one.
    // Either way it is not the active key yet: the outbox names the active key only
    // after this returns.
    FORMAT
        .create(&path, &[], &key.to_bytes())
        .map_err(|e| match e {
            KeyFileError::Io(e) => {
                AgentError::io(format!("creating key file {}", path.display()), e)
            }
            KeyFileError::Invalid(problem) => key_err(&path, problem),
        })?;
    Ok(path)
}

/// Fsyncs a directory so a new or renamed entry in it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<(), AgentError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| AgentError::io(format!("syncing directory {}", dir.display()), e))
}

/// Loads and checks the key with `key_id`.
pub fn load(data_dir: &Path, key_id: &KeyId) -> Result<SigningKey, AgentError> {
    let path = key_path(data_dir, key_id);
    let key = load_file(&path)?;
    let actual = KeyId::of(&key.verifying_key());
    if actual != *key_id {
        return Err(key_err(
            &path,
            format!("holds key {actual}, not the active key {key_id}"),
        ));
    }
    Ok(key)
}

/// Loads and checks one key file.
pub fn load_file(path: &Path) -> Result<SigningKey, AgentError> {
    let contents = FORMAT
        .load(path)
        .map_err(|e| key_err(path, e.to_string()))?;
    Ok(SigningKey::from_bytes(&contents.seed))
}

/// Removes a key file that never became active (enrolment refused).
pub fn discard(data_dir: &Path, key: &SigningKey) {
    let _ = std::fs::remove_file(key_path(data_dir, &KeyId::of(&key.verifying_key())));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn round_trip_and_damaged_or_swapped_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = generate();
        let id = KeyId::of(&key.verifying_key());
        let path = store(dir.path(), &key).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load(dir.path(), &id).unwrap().to_bytes(), key.to_bytes());
        assert!(store(dir.path(), &key).is_err(), "never overwrites");

        let good = std::fs::read(&path).unwrap();
        // Every truncation and bit flip is covered by ledger-keyfile's tests; here: a
        // damaged file is a KeyFile error, and a sound file holding another key is too.
        std::fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert!(matches!(
            load(dir.path(), &id),
            Err(AgentError::KeyFile { .. })
        ));
        let other = generate();
        let other_path = store(dir.path(), &other).unwrap();
        std::fs::copy(&other_path, &path).unwrap();
        let err = load(dir.path(), &id).unwrap_err().to_string();
        assert!(err.contains("not the active key"), "{err}");
        std::fs::write(&path, &good).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = load(dir.path(), &id).unwrap_err().to_string();
        assert!(err.contains("must be 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(dir.path(), &id).is_ok());
    }
}
