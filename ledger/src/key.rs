//! The log's Ed25519 signing key: created on first start in the data directory with
//! mode 0600, checked on every load, and used to sign checkpoints as C2SP signed notes.
//!
//! File format (text, one field per line):
//!
//! ```text
//! evidence-ledger log key v1
//! name <key name = checkpoint origin>
//! seed <base64 of the 32-byte Ed25519 seed>
//! check <hex SHA-256 of the three lines above, newlines included>
//! ```
//!
//! The check line makes a truncated or edited file fail to load instead of signing with
//! a different key.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::Checkpoint;
use ledger_core::hash::Hash;
use ledger_core::note::{Note, NoteSigner, NoteVerifier};
use sha2::{Digest, Sha256};

use crate::error::LedgerError;

const HEADER: &str = "evidence-ledger log key v1";

/// The log key, loaded and checked.
pub struct LogKey {
    signer: NoteSigner,
    verifier: NoteVerifier,
    path: PathBuf,
}

fn key_err(path: &Path, problem: impl Into<String>) -> LedgerError {
    LedgerError::KeyFile {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

fn body(name: &str, seed: &[u8; 32]) -> String {
    format!(
        "{HEADER}\nname {name}\nseed {}\n",
        base64::engine::general_purpose::STANDARD.encode(seed)
    )
}

fn check_line(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("check {hex}\n")
}

impl LogKey {
    /// Loads the key at `path`, or creates it when the file does not exist.
    pub fn load_or_create(path: &Path, name: &str) -> Result<LogKey, LedgerError> {
        match std::fs::symlink_metadata(path) {
            Ok(_) => LogKey::load(path, name),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LogKey::create(path, name),
            Err(source) => Err(LedgerError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Creates a new random key. Fails if the file exists.
    pub fn create(path: &Path, name: &str) -> Result<LogKey, LedgerError> {
        let seed = SigningKey::generate(&mut rand_core::OsRng).to_bytes();
        let text = {
            let b = body(name, &seed);
            let c = check_line(&b);
            b + &c
        };
        let io = |source| LedgerError::Io {
            path: path.display().to_string(),
            source,
        };
        // Write a temporary file with mode 0600, sync it, then rename it into place and
        // sync the directory. Crash before the rename: a stray temporary file and no key,
        // so the next start creates a fresh key (no checkpoint was signed yet). Crash
        // after: the key is complete.
        let tmp = path.with_extension("key.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::hard_link(&tmp, path).map_err(io)?;
        std::fs::remove_file(&tmp).map_err(io)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        LogKey::from_seed(path, name, seed)
    }

    /// Loads and checks an existing key file.
    pub fn load(path: &Path, name: &str) -> Result<LogKey, LedgerError> {
        let meta = std::fs::metadata(path).map_err(|source| LedgerError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(key_err(
                path,
                format!("permissions {mode:o} let other users read the key; run chmod 600 on it"),
            ));
        }
        if meta.len() > 4096 {
            return Err(key_err(path, "file is larger than any log key file"));
        }
        let raw = std::fs::read(path).map_err(|source| LedgerError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let text =
            std::str::from_utf8(&raw).map_err(|_| key_err(path, "file is not UTF-8 text"))?;
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        if lines.len() != 4 || !text.ends_with('\n') {
            return Err(key_err(
                path,
                "expected exactly four lines (header, name, seed, check); the file is truncated or edited",
            ));
        }
        let b: String = lines[..3].concat();
        if lines[3] != check_line(&b) {
            return Err(key_err(
                path,
                "check line does not match the key; the file is truncated or tampered with",
            ));
        }
        if lines[0] != format!("{HEADER}\n") {
            return Err(key_err(path, "unknown key file header"));
        }
        let file_name = lines[1]
            .strip_prefix("name ")
            .and_then(|s| s.strip_suffix('\n'))
            .ok_or_else(|| key_err(path, "second line must be `name <origin>`"))?;
        if file_name != name {
            return Err(key_err(
                path,
                format!("key is for log `{file_name}`, but this log's origin is `{name}`"),
            ));
        }
        let seed_b64 = lines[2]
            .strip_prefix("seed ")
            .and_then(|s| s.strip_suffix('\n'))
            .ok_or_else(|| key_err(path, "third line must be `seed <base64>`"))?;
        let seed: [u8; 32] = base64::engine::general_purpose::STANDARD
            .decode(seed_b64)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| key_err(path, "seed is not 32 bytes of base64"))?;
        LogKey::from_seed(path, name, seed)
    }

    fn from_seed(path: &Path, name: &str, seed: [u8; 32]) -> Result<LogKey, LedgerError> {
        let signer = NoteSigner::new(name, &seed)
            .map_err(|e| key_err(path, format!("cannot use `{name}` as key name: {e}")))?;
        let verifier = NoteVerifier::parse(&signer.verifier_key())
            .map_err(|e| key_err(path, format!("derived verifier key does not parse: {e}")))?;
        Ok(LogKey {
            signer,
            verifier,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The C2SP verifier key string, `name+hex(keyid)+base64(0x01||pubkey)`.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// Signs the C2SP checkpoint of (size, root) as a signed note.
    pub fn sign_checkpoint(&self, size: u64, root: &Hash) -> Result<Vec<u8>, LedgerError> {
        let cp = Checkpoint {
            origin: self.signer.name().to_string(),
            size,
            root: *root,
            extensions: Vec::new(),
        };
        self.signer
            .sign(&cp.to_text())
            .map(String::into_bytes)
            .map_err(|e| key_err(&self.path, format!("signing failed: {e}")))
    }

    /// Verifies a checkpoint note signed by this key and returns (size, root).
    pub fn verify_checkpoint(&self, note: &[u8]) -> Result<(u64, Hash), LedgerError> {
        let bad = |what: String| LedgerError::corrupt(format!("stored checkpoint: {what}"));
        let parsed = Note::parse(note).map_err(|e| bad(e.to_string()))?;
        let opened = parsed
            .open(&[&self.verifier])
            .map_err(|e| bad(format!("signature does not verify with the log key: {e}")))?;
        let cp = Checkpoint::parse(opened.text()).map_err(|e| bad(e.to_string()))?;
        if cp.origin != self.signer.name() {
            return Err(bad(format!("origin `{}` is not this log's", cp.origin)));
        }
        Ok((cp.size, cp.root))
    }
}
