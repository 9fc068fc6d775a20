//! Key files: the one on-disk form of every Ed25519 signing key Evidence Ledger keeps
//! (the log key, the operator key, an appliance's keys).
//!
//! A key file is text, one field per line, and ends with a check line:
//!
//! ```text
//! <header, naming the kind of key and the format version>
//! <label> <value>          (zero or more, fixed per kind: the log key has `name`)
//! seed <base64 of the 32-byte Ed25519 seed>
//! check <hex SHA-256 of every line above, newlines included>
//! ```
//!
//! Loading refuses, each with its own message: a file other users may read (mode must
//! be 0600), a file larger than any key file, text that is not UTF-8, the wrong number
//! of lines or a missing final newline (truncated), a check line that does not match
//! (tampered or truncated), an unknown header, a wrong label, and a seed that is not 32
//! bytes of base64. So a damaged file stops the signer instead of silently becoming a
//! different key.
//!
//! Creating writes a temporary file with mode 0600, syncs it, hard-links it into place
//! (which fails if the key exists: a key is never overwritten), removes the temporary
//! name and syncs the directory. A crash before the link leaves no key; after it, a
//! complete one.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use sha2::{Digest, Sha256};

/// Larger than any key file this crate writes; a bigger file is not a key file.
const MAX_FILE: u64 = 4096;

/// Why a key file could not be written or used. The caller adds the path.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file system refused (missing file, permissions, full disk...).
    #[error("cannot read or write: {0}")]
    Io(#[from] std::io::Error),
    /// The file exists but is not a usable key file of this kind.
    #[error("{0}")]
    Invalid(String),
}

/// The fixed shape of one kind of key file.
#[derive(Debug, Clone, Copy)]
pub struct KeyFormat {
    /// First line, without its newline, e.g. `evidence-ledger log key v1`.
    pub header: &'static str,
    /// Labels of the lines between the header and the seed, in order.
    pub labels: &'static [&'static str],
}

/// A key file's contents after every check passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFileContents {
    /// The values of [`KeyFormat::labels`], in order.
    pub values: Vec<String>,
    pub seed: [u8; 32],
}

fn check_line(body: &str) -> String {
    let hex: String = Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("check {hex}\n")
}

fn invalid(problem: impl Into<String>) -> KeyFileError {
    KeyFileError::Invalid(problem.into())
}

impl KeyFormat {
    /// The file text for `values` (one per label) and `seed`. A value must be one line.
    pub fn encode(&self, values: &[&str], seed: &[u8; 32]) -> Result<String, KeyFileError> {
        if values.len() != self.labels.len() {
            return Err(invalid(format!(
                "{} values for the {} labels {:?}",
                values.len(),
                self.labels.len(),
                self.labels
            )));
        }
        let mut body = format!("{}\n", self.header);
        for (label, value) in self.labels.iter().zip(values) {
            if value.contains('\n') {
                return Err(invalid(format!("the {label} must be one line")));
            }
            body.push_str(&format!("{label} {value}\n"));
        }
        body.push_str(&format!(
            "seed {}\n",
            base64::engine::general_purpose::STANDARD.encode(seed)
        ));
        let check = check_line(&body);
        Ok(body + &check)
    }

    /// Writes a new key file at `path` (see the module text); fails if it exists.
    pub fn create(
        &self,
        path: &Path,
        values: &[&str],
        seed: &[u8; 32],
    ) -> Result<(), KeyFileError> {
        let text = self.encode(values, seed)?;
        write_secret_file(path, text.as_bytes())?;
        Ok(())
    }

    /// Reads `path` and checks everything the module text lists.
    pub fn load(&self, path: &Path) -> Result<KeyFileContents, KeyFileError> {
        let meta = std::fs::metadata(path)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(invalid(format!(
                "mode {mode:o} lets other users read the key; it must be 600 (run chmod 600 on it)"
            )));
        }
        if meta.len() > MAX_FILE {
            return Err(invalid(format!(
                "{} bytes, larger than any key file",
                meta.len()
            )));
        }
        let raw = std::fs::read(path)?;
        let text = std::str::from_utf8(&raw).map_err(|_| invalid("not UTF-8 text"))?;
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let expected = self.labels.len() + 3;
        if lines.len() != expected || !text.ends_with('\n') {
            return Err(invalid(format!(
                "expected {expected} lines (header, {}seed, check); the file is truncated or edited",
                self.labels
                    .iter()
                    .map(|l| format!("{l}, "))
                    .collect::<String>()
            )));
        }
        let (check, body_lines) = lines.split_last().expect("at least three lines");
        let body: String = body_lines.concat();
        if *check != check_line(&body) {
            return Err(invalid(
                "integrity check failed: the check line does not match, the file is truncated or tampered with",
            ));
        }
        if body_lines[0] != format!("{}\n", self.header) {
            return Err(invalid(format!(
                "unknown header; expected `{}`",
                self.header
            )));
        }
        let value = |line: &str, label: &str| {
            line.strip_prefix(label)
                .and_then(|s| s.strip_prefix(' '))
                .and_then(|s| s.strip_suffix('\n'))
                .map(str::to_string)
                .ok_or_else(|| invalid(format!("expected a `{label} <value>` line")))
        };
        let values = self
            .labels
            .iter()
            .zip(&body_lines[1..])
            .map(|(label, line)| value(line, label))
            .collect::<Result<Vec<_>, _>>()?;
        let seed_b64 = value(body_lines[body_lines.len() - 1], "seed")?;
        let seed: [u8; 32] = base64::engine::general_purpose::STANDARD
            .decode(seed_b64)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| invalid("seed is not 32 bytes of base64"))?;
        Ok(KeyFileContents { values, seed })
    }
}

/// Writes a new file readable by its owner only (mode 0600) with `contents`, durably:
/// written to a temporary name, synced, linked into place (failing if `path` exists),
/// then the directory is synced. A crash midway leaves either no file at `path` or the
/// whole file; never a partial secret. Used for every key and credential file.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp_name);
    // A temporary file left by a crash during an earlier write was never linked into
    // place, so it never was a secret anyone used.
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = f.write_all(contents).and_then(|_| f.sync_all());
    drop(f);
    let linked = written.and_then(|_| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    linked?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMED: KeyFormat = KeyFormat {
        header: "evidence-ledger test key v1",
        labels: &["name"],
    };
    const PLAIN: KeyFormat = KeyFormat {
        header: "evidence-ledger other key v1",
        labels: &[],
    };

    fn problem(r: Result<KeyFileContents, KeyFileError>) -> String {
        match r {
            Err(KeyFileError::Invalid(p)) => p,
            other => panic!("expected an invalid key file, got {other:?}"),
        }
    }

    #[test]
    fn created_file_is_private_reloads_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.key");
        let seed = [7u8; 32];
        NAMED.create(&path, &["log.example/one"], &seed).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let got = NAMED.load(&path).unwrap();
        assert_eq!(got.seed, seed);
        assert_eq!(got.values, vec!["log.example/one".to_string()]);
        let before = std::fs::read(&path).unwrap();
        let err = NAMED.create(&path, &["x"], &[8u8; 32]).unwrap_err();
        assert!(
            matches!(err, KeyFileError::Io(ref e) if e.kind() == std::io::ErrorKind::AlreadyExists),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // Only the key file is left: the temporary name is gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_text_is_the_documented_format() {
        let text = PLAIN.encode(&[], &[0u8; 32]).unwrap();
        let body =
            "evidence-ledger other key v1\nseed AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        assert!(text.starts_with(body), "{text}");
        let check: String = Sha256::digest(body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(&text[body.len()..], format!("check {check}\n"));
        assert!(NAMED.encode(&["two\nlines"], &[0u8; 32]).is_err());
        assert!(NAMED.encode(&[], &[0u8; 32]).is_err());
    }

    #[test]
    fn every_truncation_and_bit_flip_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.key");
        NAMED
            .create(&path, &["log.example/one"], &[9u8; 32])
            .unwrap();
        let good = std::fs::read(&path).unwrap();
        for cut in 0..good.len() {
            std::fs::write(&path, &good[..cut]).unwrap();
            let p = problem(NAMED.load(&path));
            assert!(p.contains("truncated"), "cut at {cut}: {p}");
        }
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                std::fs::write(&path, &bad).unwrap();
                assert!(NAMED.load(&path).is_err(), "flip {i}:{bit}");
            }
        }
        std::fs::write(&path, &good).unwrap();
        assert!(NAMED.load(&path).is_ok());
    }

    #[test]
    fn each_problem_has_its_own_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.key");
        NAMED.create(&path, &["n"], &[1u8; 32]).unwrap();
        let good = std::fs::read_to_string(&path).unwrap();
        let rewrite = |text: &str| {
            std::fs::write(&path, text).unwrap();
        };
        // A self-consistent file (valid check line) of the wrong kind or shape.
        let with_check = |body: &str| format!("{body}{}", check_line(body));
        rewrite(&with_check(
            "evidence-ledger other key v1\nname n\nseed AQ==\n",
        ));
        assert!(problem(NAMED.load(&path)).contains("unknown header"));
        rewrite(&with_check(
            "evidence-ledger test key v1\nnom n\nseed AQ==\n",
        ));
        assert!(problem(NAMED.load(&path)).contains("`name <value>`"));
        rewrite(&with_check(
            "evidence-ledger test key v1\nname n\nseed AQ==\n",
        ));
        assert!(problem(NAMED.load(&path)).contains("32 bytes of base64"));
        rewrite(&good.replacen("seed ", "seed  ", 1));
        assert!(problem(NAMED.load(&path)).contains("integrity check failed"));
        rewrite(&"x".repeat(5000));
        assert!(problem(NAMED.load(&path)).contains("larger than any key file"));
        std::fs::write(&path, [0xffu8, b'\n', b'\n', b'\n']).unwrap();
        assert!(problem(NAMED.load(&path)).contains("not UTF-8"));
        rewrite(&good);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let p = problem(NAMED.load(&path));
        assert!(p.contains("must be 600") && p.contains("chmod 600"), "{p}");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(NAMED.load(&path), Err(KeyFileError::Io(_))));
    }
}
