//! Verifier and signer key string parsers: never panic; an accepted key string is the
//! canonical one the key formats back to.
#![no_main]

use ledger_core::note::{NoteSigner, NoteVerifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = NoteVerifier::parse(s) {
        assert_eq!(v.verifier_key(), s);
    }
    if let Ok(k) = NoteSigner::parse(s) {
        assert_eq!(k.signer_key(), s);
    }
});
