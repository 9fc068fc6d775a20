//! The witness's key file: `ledger-keyfile`'s format with header
//! `evidence-ledger witness key v1` and the cosigner name on its own `name` line, so a
//! damaged, truncated or world-readable file stops the witness instead of silently
//! becoming another key. The key is never overwritten.

use std::path::Path;

use ed25519_dalek::SigningKey;
use ledger_core::cosignature::CosignatureSigner;
use ledger_keyfile::{KeyFileError, KeyFormat};

use crate::error::WitnessError;

/// The witness key file format.
pub const KEY_FORMAT: KeyFormat = KeyFormat {
    header: "evidence-ledger witness key v1",
    labels: &["name"],
};

fn key_err(path: &Path, e: KeyFileError) -> WitnessError {
    WitnessError::Config(format!("witness key file {}: {e}", path.display()))
}

/// Creates a new random key named `name` at `path` (mode 0600); fails if the file
/// exists or the name is not a valid cosigner name. A crash midway leaves no key.
pub fn create(path: &Path, name: &str) -> Result<CosignatureSigner, WitnessError> {
    let seed = SigningKey::generate(&mut rand::rngs::OsRng).to_bytes();
    // The name is checked before anything is written, so a bad name leaves no file.
    let signer = CosignatureSigner::new(name, &seed)
        .map_err(|e| WitnessError::Config(format!("witness name: {e}")))?;
    KEY_FORMAT
        .create(path, &[name], &seed)
        .map_err(|e| key_err(path, e))?;
    Ok(signer)
}

/// Loads and checks the key at `path`.
pub fn load(path: &Path) -> Result<CosignatureSigner, WitnessError> {
    let contents = KEY_FORMAT.load(path).map_err(|e| key_err(path, e))?;
    let name = contents
        .values
        .first()
        .ok_or_else(|| WitnessError::Config(format!("{}: no name line", path.display())))?;
    CosignatureSigner::new(name, &contents.seed)
        .map_err(|e| WitnessError::Config(format!("witness key file {}: {e}", path.display())))
}
