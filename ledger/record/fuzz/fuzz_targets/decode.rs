//! Fuzzes `Record::decode`, `Disclosure::decode` and `SignedRelease::decode` with
//! arbitrary bytes.
//!
//! Neither may panic, and whatever decodes must be the one deterministic encoding of
//! itself: re-encoding gives back the input byte for byte.
#![no_main]

use ledger_record::{Disclosure, Record, SignedRelease};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = Record::decode(data) {
        assert_eq!(record.encode(), data);
        // Hashing and building the signing message must not panic either.
        let _ = record.hash();
        let _ = record.signing_message();
    }
    if let Ok(disclosure) = Disclosure::decode(data) {
        assert_eq!(disclosure.encode(), data);
        // Verification of a hostile disclosure must fail cleanly, never panic.
        let _ = disclosure.root();
    }
    if let Ok(release) = SignedRelease::decode(data) {
        assert_eq!(release.encode(), data);
        let _ = release.statement.signing_message();
    }
});
