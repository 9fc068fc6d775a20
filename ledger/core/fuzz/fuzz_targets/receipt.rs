//! tlog-proof receipt parser: never panics; a parsed receipt re-serializes to the same
//! bytes, and verifying it never panics.
#![no_main]

use ledger_core::hash::Hash;
use ledger_core::note::NoteVerifier;
use ledger_core::receipt::Receipt;
use libfuzzer_sys::fuzz_target;

/// The published log test key of `shared/vectors/merkle/signed_note.json`.
const VKEY: &str =
    "example.com/rfc6962-test-log+bdce588f+ASgNb/RP6DimuucjwneE/yy6IjIyC+W7hrWHPcF2p3do";

fuzz_target!(|data: &[u8]| {
    let Ok(receipt) = Receipt::parse(data) else {
        return;
    };
    assert_eq!(
        receipt.to_text().as_bytes(),
        data,
        "parse then serialize changed the receipt"
    );
    assert!(receipt.index() < receipt.unverified_checkpoint().size);
    let verifier = NoteVerifier::parse(VKEY).expect("test key parses");
    let _ = receipt.verify(&Hash([0u8; 32]), &verifier);
});
