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

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::Checkpoint;
use ledger_core::hash::Hash;
use ledger_core::note::{Note, NoteSigner, NoteVerifier};
use ledger_keyfile::{KeyFileError, KeyFormat};

use crate::error::LedgerError;

/// The log key's file: `ledger-keyfile`'s format with the key name on its own line.
const FORMAT: KeyFormat = KeyFormat {
    header: "evidence-ledger log key v1",
    labels: &["name"],
};

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

fn file_err(path: &Path, e: KeyFileError) -> LedgerError {
    match e {
        KeyFileError::Io(source) => LedgerError::Io {
            path: path.display().to_string(),
            source,
        },
        KeyFileError::Invalid(problem) => key_err(path, problem),
    }
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

    /// Creates a new random key. Fails if the file exists. A crash midway leaves no key,
    /// so the next start creates a fresh one (no checkpoint was signed yet).
    pub fn create(path: &Path, name: &str) -> Result<LogKey, LedgerError> {
        let seed = SigningKey::generate(&mut rand_core::OsRng).to_bytes();
        FORMAT
            .create(path, &[name], &seed)
            .map_err(|e| file_err(path, e))?;
        LogKey::from_seed(path, name, seed)
    }

    /// Loads and checks an existing key file.
    pub fn load(path: &Path, name: &str) -> Result<LogKey, LedgerError> {
        let contents = FORMAT.load(path).map_err(|e| file_err(path, e))?;
        let file_name = &contents.values[0];
        if file_name != name {
            return Err(key_err(
                path,
                format!("key is for log `{file_name}`, but this log's origin is `{name}`"),
            ));
        }
        LogKey::from_seed(path, name, contents.seed)
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
