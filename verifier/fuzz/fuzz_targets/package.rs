//! The whole package path on hostile input: the input is split into the package's files
//! (each prefixed by a 32-bit little-endian length), parsed, and when it parses,
//! verified and reported as text and JSON. Nothing may panic or allocate without bound.
#![no_main]

use ledger_core::note::NoteVerifier;
use libfuzzer_sys::fuzz_target;
use verifier::package::{verify_package, Package, PackageFiles, VerifyOptions};

/// Takes the next length-prefixed part; the length is bounded by what remains.
fn part<'a>(data: &mut &'a [u8]) -> &'a [u8] {
    if data.len() < 4 {
        let rest = *data;
        *data = &[];
        return rest;
    }
    let (len, rest) = data.split_at(4);
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let len = len.min(rest.len());
    let (p, rest) = rest.split_at(len);
    *data = rest;
    p
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let flags = data.first().copied().unwrap_or(0);
    data = data.get(1..).unwrap_or_default();
    let files = PackageFiles {
        manifest: part(&mut data).to_vec(),
        checkpoint: part(&mut data).to_vec(),
        records: part(&mut data).to_vec(),
        keys: part(&mut data).to_vec(),
        proof: part(&mut data).to_vec(),
        timestamp: (flags & 1 != 0).then(|| part(&mut data).to_vec()),
        headers: (flags & 2 != 0).then(|| part(&mut data).to_vec()),
    };
    if let Ok(pkg) = Package::parse(files) {
        let key = NoteVerifier::parse(
            "example.com/rfc6962-test-log+bdce588f+ASgNb/RP6DimuucjwneE/yy6IjIyC+W7hrWHPcF2p3do",
        )
        .expect("fixed key");
        let report = verify_package(&pkg, &VerifyOptions::new(&key));
        let _ = report.render_text();
        let _ = serde_json::to_string(&report).expect("a report always serializes");
    }
});
