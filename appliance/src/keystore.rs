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

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use ed25519_dalek::SigningKey;
use ledger_record::KeyId;
use sha2::{Digest, Sha256};

use crate::error::AgentError;

const HEADER: &str = "evidence-ledger agent key v1";
/// A key file is a few lines; anything longer is not one.
const MAX_KEY_FILE: u64 = 1024;

/// The folder holding the key files.
pub fn key_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("keys")
}

/// The file of the key with `key_id`.
pub fn key_path(data_dir: &Path, key_id: &KeyId) -> PathBuf {
    key_dir(data_dir).join(format!("{}.key", hex::encode(key_id.as_bytes())))
}

fn body(seed: &[u8; 32]) -> String {
    format!(
        "{HEADER}\nseed {}\n",
        base64::engine::general_purpose::STANDARD.encode(seed)
    )
}

fn check_line(body: &str) -> String {
    format!("check {}\n", hex::encode(Sha256::digest(body.as_bytes())))
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

/// Writes `key` to its file (mode 0600, synced, directory synced). Refuses to overwrite.
pub fn store(data_dir: &Path, key: &SigningKey) -> Result<PathBuf, AgentError> {
    let dir = key_dir(data_dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| AgentError::io(format!("creating {}", dir.display()), e))?;
    let path = key_path(data_dir, &KeyId::of(&key.verifying_key()));
    let body = body(&key.to_bytes());
    let text = format!("{body}{}", check_line(&body));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| AgentError::io(format!("creating key file {}", path.display()), e))?;
    // Crash note: a crash before the sync leaves a short or empty file. It is not the
    // active key yet (the outbox names the active key only after this returns), and the
    // check line makes any later attempt to load it fail loudly.
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| AgentError::io(format!("writing key file {}", path.display()), e))?;
    sync_dir(&dir)?;
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
    let meta = std::fs::metadata(path).map_err(|e| key_err(path, format!("cannot read: {e}")))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(key_err(
            path,
            format!("mode {mode:o} lets others read the key; it must be 600"),
        ));
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(key_err(path, "too large to be a key file"));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| key_err(path, format!("cannot read: {e}")))?;
    let mut lines = text.split_inclusive('\n');
    let (header, seed_line, check) = match (lines.next(), lines.next(), lines.next(), lines.next())
    {
        (Some(h), Some(s), Some(c), None) => (h, s, c),
        _ => {
            return Err(key_err(
                path,
                "truncated or malformed (expected three lines)",
            ))
        }
    };
    if header != format!("{HEADER}\n") {
        return Err(key_err(path, "not an agent key file (wrong first line)"));
    }
    let body = format!("{header}{seed_line}");
    if check != check_line(&body) {
        return Err(key_err(
            path,
            "integrity check failed: the file was changed or truncated",
        ));
    }
    let seed_b64 = seed_line
        .strip_prefix("seed ")
        .and_then(|s| s.strip_suffix('\n'))
        .ok_or_else(|| key_err(path, "malformed seed line"))?;
    let seed = base64::engine::general_purpose::STANDARD
        .decode(seed_b64)
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or_else(|| key_err(path, "seed is not 32 bytes of base64"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Removes a key file that never became active (enrolment refused).
pub fn discard(data_dir: &Path, key: &SigningKey) {
    let _ = std::fs::remove_file(key_path(data_dir, &KeyId::of(&key.verifying_key())));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_corruption_is_refused() {
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
        // Every truncation fails.
        for len in 0..good.len() {
            std::fs::write(&path, &good[..len]).unwrap();
            assert!(
                matches!(load(dir.path(), &id), Err(AgentError::KeyFile { .. })),
                "truncated to {len}"
            );
        }
        // Every single-bit flip fails.
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                std::fs::write(&path, &bad).unwrap();
                assert!(load(dir.path(), &id).is_err(), "flip {i}:{bit}");
            }
        }
        std::fs::write(&path, &good).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = load(dir.path(), &id).unwrap_err().to_string();
        assert!(err.contains("must be 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(dir.path(), &id).is_ok());
    }
}
