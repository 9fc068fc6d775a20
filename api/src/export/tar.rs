//! An evidence package as one ustar archive, written and read as a stream: the server
//! sends each file as soon as the package writer has it (`TarSink`), the client unpacks
//! each file into the package directory as it arrives (`unpack_stream`). `tar -xf`
//! unpacks it too. The manifest comes last (as on disk), so a truncated download has no
//! manifest and is refused; reading accepts only the package's file names, each at most
//! once.

mod ustar;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use verifier::package::{
    limits, names, segment_name, segment_proof_name, DirSink, PackageSink, KEYS_PROOF,
};
use verifier::VerifyError;

use crate::anchoring::now_ms;

pub use ustar::TarError;

/// Sends the package as a ustar archive through `send`, one piece per file; `send`
/// returns false when the receiver is gone (the client hung up), which ends the export.
pub struct TarSink<F: FnMut(Vec<u8>) -> bool> {
    send: F,
    mtime: u64,
}

impl<F: FnMut(Vec<u8>) -> bool> TarSink<F> {
    pub fn new(send: F) -> TarSink<F> {
        TarSink {
            send,
            mtime: now_ms() / 1000,
        }
    }
}

impl<F: FnMut(Vec<u8>) -> bool> PackageSink for TarSink<F> {
    fn put(&mut self, name: &str, bytes: &[u8]) -> Result<(), VerifyError> {
        let mut piece = Vec::with_capacity(512 + bytes.len() + 512 + 1024);
        piece.extend_from_slice(&ustar::header(name, bytes.len() as u64, self.mtime));
        piece.extend_from_slice(bytes);
        piece.extend(std::iter::repeat_n(0u8, ustar::padding(bytes.len() as u64)));
        if name == names::MANIFEST {
            piece.extend_from_slice(&ustar::END);
        }
        if (self.send)(piece) {
            Ok(())
        } else {
            Err(VerifyError::Io {
                path: name.into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "the receiver of the package archive went away",
                ),
            })
        }
    }
}

/// Whether `name` may appear in a package archive (version 1 or 2).
fn allowed(name: &str) -> bool {
    let fixed = [
        names::MANIFEST,
        names::CHECKPOINT,
        names::RECORDS,
        names::KEYS,
        names::PROOF,
        names::TIMESTAMP,
        names::HEADERS,
        KEYS_PROOF,
    ];
    if fixed.contains(&name) {
        return true;
    }
    let numbered = |prefix: &str, suffix: &str| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .and_then(|digits| digits.parse::<u64>().ok())
            .is_some_and(|n| name == segment_name(n) || name == segment_proof_name(n))
    };
    numbered("records-", ".bin") || numbered("proof-", ".bin")
}

/// Unpacks a package archive read from `input` into the new directory `dir`, one file in
/// memory at a time: only package file names, each at most once, the manifest last.
pub fn unpack_stream(input: &mut impl Read, dir: &Path) -> Result<(), TarError> {
    let mut sink = DirSink::create(dir).map_err(|e| TarError(e.to_string()))?;
    let mut seen = BTreeSet::new();
    ustar::read_stream(input, limits::RECORDS, |name, data| {
        if !allowed(&name) {
            return Err(TarError(format!(
                "unexpected file `{name}` in a package archive"
            )));
        }
        if seen.contains(names::MANIFEST) {
            return Err(TarError(format!("`{name}` comes after the manifest")));
        }
        if !seen.insert(name.clone()) {
            return Err(TarError(format!("`{name}` appears twice")));
        }
        sink.put(&name, &data).map_err(|e| TarError(e.to_string()))
    })?;
    if !seen.contains(names::MANIFEST) {
        return Err(TarError(format!("`{}` is missing", names::MANIFEST)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut sink = TarSink::new(|piece| {
            out.extend_from_slice(&piece);
            true
        });
        for (name, data) in files {
            sink.put(name, data).unwrap();
        }
        out
    }

    #[test]
    fn a_streamed_archive_unpacks_with_its_manifest_last() {
        let bytes = archive(&[
            ("checkpoint", b"checkpoint"),
            ("records-000000.bin", b"records"),
            ("package.json", b"{}"),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("pkg");
        unpack_stream(&mut &bytes[..], &out).unwrap();
        assert_eq!(
            std::fs::read(out.join("records-000000.bin")).unwrap(),
            b"records"
        );
        assert_eq!(std::fs::read(out.join("package.json")).unwrap(), b"{}");
        // Every truncation is refused.
        for cut in [0, 100, 512, bytes.len() - 1024, bytes.len() - 1] {
            let out = dir.path().join(format!("cut-{cut}"));
            assert!(
                unpack_stream(&mut &bytes[..cut], &out).is_err(),
                "cut {cut}"
            );
        }
    }

    /// The files of an archive: (name, contents).
    type Files<'a> = &'a [(&'a str, &'a [u8])];

    #[test]
    fn foreign_duplicate_late_and_missing_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(Files<'_>, &str); 4] = [
            (
                &[("other.txt", b"x"), ("package.json", b"{}")],
                "unexpected file",
            ),
            (
                &[("records-1.bin", b"x"), ("package.json", b"{}")],
                "unexpected file",
            ),
            (
                &[
                    ("keys.bin", b"x"),
                    ("keys.bin", b"x"),
                    ("package.json", b"{}"),
                ],
                "appears twice",
            ),
            (&[("keys.bin", b"x")], "is missing"),
        ];
        for (i, (files, expected)) in cases.iter().enumerate() {
            let mut bytes = archive(files);
            if !files.iter().any(|(n, _)| *n == "package.json") {
                bytes.extend_from_slice(&ustar::END);
            }
            let err =
                unpack_stream(&mut &bytes[..], &dir.path().join(format!("p{i}"))).unwrap_err();
            assert!(err.0.contains(expected), "{err}");
        }
    }
}
