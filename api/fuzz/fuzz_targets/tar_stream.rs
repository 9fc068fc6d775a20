//! The streaming package-archive reader (`unpack_stream`) on arbitrary bytes: it never
//! panics and every refusal says why; an accepted archive holds the manifest, and
//! written back with `TarSink` (manifest last, as the server sends it) it unpacks again
//! to the same files.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use api::export::{unpack_stream, TarSink};
use libfuzzer_sys::fuzz_target;
use verifier::package::{names, PackageSink};

/// A fresh directory per input under the system temp directory.
fn scratch() -> std::path::PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("tar-stream-fuzz-{}-{n}", std::process::id()))
}

/// Every file of `dir` with its contents.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("unpacked directory")
        .map(|e| {
            let e = e.expect("directory entry");
            let name = e.file_name().into_string().expect("file names are ASCII");
            (name, std::fs::read(e.path()).expect("unpacked file"))
        })
        .collect()
}

/// The files as an archive the way the server writes it: the manifest last.
fn repack(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut sink = TarSink::new(|piece| {
        out.extend_from_slice(&piece);
        true
    });
    let others = files.iter().filter(|(n, _)| *n != names::MANIFEST);
    for (name, bytes) in others {
        sink.put(name, bytes).expect("collecting into memory");
    }
    sink.put(names::MANIFEST, &files[names::MANIFEST])
        .expect("collecting into memory");
    out
}

fuzz_target!(|data: &[u8]| {
    let (first, second) = (scratch(), scratch());
    match unpack_stream(&mut &data[..], &first) {
        Ok(()) => {
            let unpacked = files(&first);
            assert!(unpacked.contains_key(names::MANIFEST), "accepted without a manifest");
            let again = repack(&unpacked);
            unpack_stream(&mut &again[..], &second).expect("a repacked archive unpacks");
            assert_eq!(files(&second), unpacked, "repacking changed the files");
        }
        Err(e) => assert!(!e.0.is_empty(), "a refusal says why"),
    }
    let _ = std::fs::remove_dir_all(&first);
    let _ = std::fs::remove_dir_all(&second);
});
