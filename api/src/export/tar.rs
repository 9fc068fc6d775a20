//! An evidence package as one ustar archive, for shipping it over HTTP as one
//! `application/x-tar` body that `tar -xf` unpacks into the package directory. The
//! manifest comes last (as on disk), so a truncated download has no manifest and is
//! refused; reading accepts only the package's file names, each at most once.

mod ustar;

use std::collections::BTreeSet;

use verifier::package::{limits, names, PackageFiles};

use crate::anchoring::now_ms;

pub use ustar::TarError;

/// The package as one ustar archive, the manifest last.
pub fn to_tar(files: &PackageFiles) -> Vec<u8> {
    let mtime = now_ms() / 1000;
    let mut out = Vec::new();
    let mut add = |name: &str, data: &[u8]| ustar::append_file(&mut out, name, data, mtime);
    add(names::CHECKPOINT, &files.checkpoint);
    add(names::RECORDS, &files.records);
    add(names::KEYS, &files.keys);
    add(names::PROOF, &files.proof);
    if let Some(t) = &files.timestamp {
        add(names::TIMESTAMP, t);
    }
    if let Some(h) = &files.headers {
        add(names::HEADERS, h);
    }
    add(names::MANIFEST, &files.manifest);
    ustar::finish(&mut out);
    out
}

/// Reads a package archive made by [`to_tar`]: only the package's file names, each at
/// most once, every required file present.
pub fn from_tar(archive: &[u8]) -> Result<PackageFiles, TarError> {
    let bad = |m: String| TarError(m);
    let mut files = PackageFiles::default();
    let mut seen = BTreeSet::new();
    for (name, data) in ustar::read_files(archive, limits::RECORDS)? {
        if !seen.insert(name.clone()) {
            return Err(bad(format!("`{name}` appears twice")));
        }
        match name.as_str() {
            n if n == names::MANIFEST => files.manifest = data,
            n if n == names::CHECKPOINT => files.checkpoint = data,
            n if n == names::RECORDS => files.records = data,
            n if n == names::KEYS => files.keys = data,
            n if n == names::PROOF => files.proof = data,
            n if n == names::TIMESTAMP => files.timestamp = Some(data),
            n if n == names::HEADERS => files.headers = Some(data),
            other => {
                return Err(bad(format!(
                    "unexpected file `{other}` in a package archive"
                )))
            }
        }
    }
    for required in [
        names::MANIFEST,
        names::CHECKPOINT,
        names::RECORDS,
        names::KEYS,
        names::PROOF,
    ] {
        if !seen.contains(required) {
            return Err(bad(format!("`{required}` is missing")));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package() -> PackageFiles {
        PackageFiles {
            manifest: b"{}".to_vec(),
            checkpoint: b"checkpoint".to_vec(),
            records: b"records".to_vec(),
            keys: b"keys".to_vec(),
            proof: b"proof".to_vec(),
            timestamp: Some(b"ots".to_vec()),
            ..PackageFiles::default()
        }
    }

    #[test]
    fn a_package_round_trips_with_its_manifest_last() {
        let files = package();
        let archive = to_tar(&files);
        assert_eq!(from_tar(&archive).unwrap(), files);
        let names: Vec<String> = ustar::read_files(&archive, 1 << 20)
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names.last().map(String::as_str), Some(names::MANIFEST));
    }

    #[test]
    fn foreign_duplicate_and_missing_files_are_refused() {
        let mut archive = Vec::new();
        ustar::append_file(&mut archive, "other.txt", b"x", 0);
        ustar::finish(&mut archive);
        assert!(from_tar(&archive)
            .unwrap_err()
            .0
            .contains("unexpected file"));
        let mut archive = Vec::new();
        ustar::append_file(&mut archive, names::KEYS, b"x", 0);
        ustar::append_file(&mut archive, names::KEYS, b"x", 0);
        ustar::finish(&mut archive);
        assert!(from_tar(&archive).unwrap_err().0.contains("appears twice"));
        let mut archive = Vec::new();
        ustar::append_file(&mut archive, names::KEYS, b"x", 0);
        ustar::finish(&mut archive);
        assert!(from_tar(&archive).unwrap_err().0.contains("is missing"));
    }
}
