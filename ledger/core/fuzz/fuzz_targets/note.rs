//! Signed-note parser: never panics; whatever parses re-serializes to the same bytes, and
//! opening it with a known key never panics either.
#![no_main]

use ledger_core::note::{Note, NoteVerifier};
use libfuzzer_sys::fuzz_target;

/// The published test key of `shared/vectors/merkle/signed_note.json`.
const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

fuzz_target!(|data: &[u8]| {
    let Ok(note) = Note::parse(data) else {
        return;
    };
    assert_eq!(
        note.to_text().as_bytes(),
        data,
        "parse then serialize changed the note"
    );
    assert_eq!(Note::parse(note.to_text().as_bytes()).as_ref(), Ok(&note));
    let verifier = NoteVerifier::parse(VKEY).expect("test key parses");
    if let Ok(opened) = note.open(&[&verifier]) {
        assert_eq!(
            opened.verified_signatures().len() + opened.unverified_signatures().len(),
            note.signatures().len()
        );
    }
});
