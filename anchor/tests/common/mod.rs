//! Shared helpers for the integration tests: locating the shared vectors.

#![allow(dead_code)]

use std::path::PathBuf;

/// `<workspace root>/../shared/vectors`, found by walking up from this
/// crate's directory so the tests work wherever the repository is cloned.
pub fn vectors_dir() -> PathBuf {
    let start = &std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    );
    for dir in start.ancestors() {
        let candidate = dir.join("shared").join("vectors");
        if candidate.is_dir() {
            return candidate;
        }
    }
    panic!(
        "no shared/vectors directory above {}; clone shared/ beside the repository",
        start.display()
    );
}

pub fn ots_dir() -> PathBuf {
    vectors_dir().join("ots")
}

pub fn read(relative: &str) -> Vec<u8> {
    let path = ots_dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every file under `ots/` (recursively), as paths relative to `ots/`,
/// sorted for stable test output.
pub fn all_ots_vector_files() -> Vec<String> {
    let root = ots_dir();
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("listing vectors") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(&root).expect("under root");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// The valid detached `.ots` files (everything ending in `.ots` outside
/// `invalid/`).
pub fn valid_detached_files() -> Vec<String> {
    all_ots_vector_files()
        .into_iter()
        .filter(|f| f.ends_with(".ots") && !f.starts_with("invalid/"))
        .collect()
}

/// The digest the `POST /digest` captures were requested for (vectors README).
pub const POST_DIGEST_HEX: &str =
    "4b3a3e7da7b9f5ef4b711e19b3da8f7bef3747cbfb0f4ef1a1915da0bb00043f";

/// The commitment of incomplete.txt.ots's pending attestation (vectors README).
pub const INCOMPLETE_COMMITMENT_HEX: &str =
    "57cfa5c46716df9bd9e83595bce439c58108d8fcc1678f30d4c6731c3f1fa6c79ed712c66fb1ac8d4e4eb0e7";

/// The root message of each calendar capture: POST answers are rooted at the
/// submitted digest, the GET answer at the commitment it was asked for.
pub fn bare_root_for(file: &str) -> Vec<u8> {
    let name = file.rsplit('/').next().unwrap_or(file);
    if name.starts_with("POST_digest_4b3a3e7d") {
        hex::decode(POST_DIGEST_HEX).unwrap()
    } else if name.starts_with("alice_GET_timestamp_57cfa5c4") {
        hex::decode(INCOMPLETE_COMMITMENT_HEX).unwrap()
    } else {
        panic!("no known root message for {file}")
    }
}

/// The bare calendar captures (`calendar_responses/*.bin`).
pub fn bare_files() -> Vec<String> {
    all_ots_vector_files()
        .into_iter()
        .filter(|f| f.ends_with(".bin") && f.starts_with("calendar_responses/"))
        .collect()
}
