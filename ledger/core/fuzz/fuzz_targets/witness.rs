//! The witnessing parsers: cosignature/v1 lines and verifier keys, tlog-policy files and
//! their quorum check, the tlog-witness `add-checkpoint` body, `409` size body and
//! answer lines. None may panic; what parses re-serializes to the same bytes.
#![no_main]

use ledger_core::cosignature::{Cosignature, CosignatureVerifier};
use ledger_core::policy::Policy;
use ledger_core::witness::{parse_cosignature_lines, parse_size_body, size_body, AddCheckpoint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines() {
            if let Ok(c) = Cosignature::parse_line(line) {
                assert_eq!(c.to_line(), format!("{line}\n"), "cosignature line did not round-trip");
            }
            if let Ok(v) = CosignatureVerifier::parse(line) {
                assert_eq!(v.verifier_key(), line, "verifier key did not round-trip");
            }
        }
    }
    if let Ok(policy) = Policy::parse(data) {
        // Checking any note against any policy answers, never panics.
        let _ = policy.check(data, None);
        let _ = policy.needs_no_witness();
    }
    if let Ok(request) = AddCheckpoint::parse(data) {
        assert_eq!(request.to_body(), data, "add-checkpoint body did not round-trip");
    }
    if let Some(size) = parse_size_body(data) {
        assert_eq!(parse_size_body(size_body(size).as_bytes()), Some(size));
    }
    let _ = parse_cosignature_lines(data);
});
