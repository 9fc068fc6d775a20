//! Checkpoint body and signed checkpoint parsers: never panic; a parsed body
//! re-serializes to the same text.
#![no_main]

use ledger_core::checkpoint::{Checkpoint, SignedCheckpoint};
use ledger_core::note::NoteVerifier;
use libfuzzer_sys::fuzz_target;

/// The published log test key of `shared/vectors/merkle/signed_note.json`.
const VKEY: &str =
    "example.com/rfc6962-test-log+bdce588f+ASgNb/RP6DimuucjwneE/yy6IjIyC+W7hrWHPcF2p3do";

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cp) = Checkpoint::parse(text) {
            assert_eq!(cp.to_text(), text, "parse then serialize changed the body");
        }
    }
    let verifier = NoteVerifier::parse(VKEY).expect("test key parses");
    if let Ok(signed) = SignedCheckpoint::verify(data, &verifier) {
        assert_eq!(signed.as_bytes(), data);
        assert_eq!(signed.origin(), verifier.name());
    }
});
