//! The binary package files alone: `records.bin`/`keys.bin` framing, `proof.bin`, and the
//! manifest's JSON schema, each on the raw input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verifier::package::{EntryFile, Manifest, ProofFile, KEYS_MAGIC, RECORDS_MAGIC};

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = EntryFile::parse(data.to_vec(), &RECORDS_MAGIC, "records.bin") {
        // Whatever parses re-encodes to the same bytes.
        let again = EntryFile::encode(&RECORDS_MAGIC, f.iter()).expect("re-encode");
        assert_eq!(again, data);
    }
    let _ = EntryFile::parse(data.to_vec(), &KEYS_MAGIC, "keys.bin");
    if let Ok(p) = ProofFile::parse(data) {
        assert_eq!(p.encode(), data);
    }
    if let Ok(m) = Manifest::parse(data) {
        let _ = m.to_json();
    }
});
