//! Citation strings: parse whatever is given; what parses formats back to the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verifier::citation::Citation;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(c) = Citation::parse(s) {
            assert_eq!(c.to_string_form(), s);
        }
    }
});
