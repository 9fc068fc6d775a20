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

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use ed25519_dalek::{SigningKey, VerifyingKey};
use ledger_record::KeyId;
use sha2::{Digest, Sha256};

const HEADER: &str = "evidence-ledger operator key v1";
const MAX_FILE: u64 = 4096;

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

/// The loaded operator key.
pub struct OperatorKey {
    key: SigningKey,
}

impl std::fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OperatorKey({})", self.key_id())
    }
}

fn text_for(seed: &[u8; 32]) -> String {
    let body = format!(
        "{HEADER}\nseed {}\n",
        base64::engine::general_purpose::STANDARD.encode(seed)
    );
    let check = hex::encode(Sha256::digest(body.as_bytes()));
    format!("{body}check {check}\n")
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

    fn create(path: &Path) -> Result<OperatorKey, OperatorKeyError> {
        let key = SigningKey::generate(&mut rand_core::OsRng);
        let io = |source| OperatorKeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        // Write a temporary file with mode 0600, sync it, link it into place, sync the
        // directory. A crash before the link leaves no key and the next start creates
        // one; nothing was signed with the lost key. A crash after it leaves a complete key.
        let tmp = path.with_extension("key.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(text_for(&key.to_bytes()).as_bytes())
            .map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::hard_link(&tmp, path).map_err(io)?;
        std::fs::remove_file(&tmp).map_err(io)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(OperatorKey { key })
    }

    /// Loads and checks an existing key file.
    pub fn load(path: &Path) -> Result<OperatorKey, OperatorKeyError> {
        let invalid = |problem: &str| OperatorKeyError::Invalid {
            path: path.to_path_buf(),
            problem: problem.to_string(),
        };
        let io = |source| OperatorKeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(invalid(
                "other users may read it; run chmod 600 on the file",
            ));
        }
        if meta.len() > MAX_FILE {
            return Err(invalid("larger than any operator key file"));
        }
        let raw = std::fs::read(path).map_err(io)?;
        let text = std::str::from_utf8(&raw).map_err(|_| invalid("not UTF-8 text"))?;
        let mut lines = text.split_inclusive('\n');
        let (Some(header), Some(seed_line), Some(check_line), None) =
            (lines.next(), lines.next(), lines.next(), lines.next())
        else {
            return Err(invalid(
                "expected three lines; the file is truncated or edited",
            ));
        };
        let body = format!("{header}{seed_line}");
        let expected = format!("check {}\n", hex::encode(Sha256::digest(body.as_bytes())));
        if check_line != expected {
            return Err(invalid(
                "check line does not match; the file is truncated or edited",
            ));
        }
        if header != format!("{HEADER}\n") {
            return Err(invalid("unknown header"));
        }
        let seed: [u8; 32] = seed_line
            .strip_prefix("seed ")
            .and_then(|s| s.strip_suffix('\n'))
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| invalid("seed is not 32 bytes of base64"))?;
        Ok(OperatorKey {
            key: SigningKey::from_bytes(&seed),
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
    fn every_truncation_and_byte_flip_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("operator.key");
        OperatorKey::load_or_create(&path).unwrap();
        let good = std::fs::read(&path).unwrap();
        for cut in 0..good.len() {
            std::fs::write(&path, &good[..cut]).unwrap();
            assert!(OperatorKey::load(&path).is_err(), "truncated at {cut}");
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            std::fs::write(&path, &bad).unwrap();
            assert!(OperatorKey::load(&path).is_err(), "flipped byte {i}");
        }
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
