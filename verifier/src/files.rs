//! Reading input files with a size limit, so a hostile or mistaken path (a device, a
//! multi-gigabyte file) cannot make the verifier allocate without bound.

use std::io::Read as _;
use std::path::Path;

use ledger_core::note::NoteVerifier;

use crate::error::VerifyError;

/// Limit for small text inputs: proofs, receipts, entries, keys, block header files.
pub const MAX_SMALL_FILE: u64 = 64 << 20;

/// Reads the whole file, refusing it when it is longer than `max` bytes. The read itself
/// is bounded (`take(max + 1)`), so a file that grows while being read is caught too.
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, VerifyError> {
    let io = |source| VerifyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let declared = file.metadata().map_err(io)?.len();
    if declared > max {
        return Err(VerifyError::TooLarge {
            path: path.to_path_buf(),
            len: declared,
            max,
        });
    }
    let mut out = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(io)?;
    if out.len() as u64 > max {
        return Err(VerifyError::TooLarge {
            path: path.to_path_buf(),
            len: out.len() as u64,
            max,
        });
    }
    Ok(out)
}

/// Reads a UTF-8 text file of at most `max` bytes.
pub fn read_text_limited(path: &Path, max: u64) -> Result<String, VerifyError> {
    let bytes = read_limited(path, max)?;
    String::from_utf8(bytes)
        .map_err(|_| VerifyError::malformed(path.display().to_string(), "file is not UTF-8 text"))
}

/// Parses a log verifier key argument: a C2SP verifier key string
/// (`name+keyid+base64key`), or `@FILE` naming a file that holds one (surrounding
/// whitespace is ignored).
pub fn load_verifier_key(arg: &str) -> Result<NoteVerifier, VerifyError> {
    let text = match arg.strip_prefix('@') {
        Some(path) => read_text_limited(Path::new(path), 64 << 10)?,
        None => arg.to_owned(),
    };
    NoteVerifier::parse(text.trim())
        .map_err(|e| VerifyError::malformed("verifier key", e.to_string()))
}
