//! tlog-tiles path and entry bundle parsers: never panic; accepted paths are canonical
//! and bundles re-encode to the same bytes.
#![no_main]

use ledger_core::tiles::{encode_entry_bundle, parse_entry_bundle, parse_path, EntryBundle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(p) = parse_path(s) {
            assert_eq!(p.path(), s, "accepted a non-canonical path");
        }
    }
    // The first byte picks the expected width, the rest is the bundle.
    if let Some((&w, bundle)) = data.split_first() {
        let id = EntryBundle::new(0, u16::from(w) + 1).expect("width 1..=256");
        if let Ok(entries) = parse_entry_bundle(bundle, &id) {
            assert_eq!(entries.len(), usize::from(w) + 1);
            assert_eq!(encode_entry_bundle(&entries).as_deref(), Ok(bundle));
        }
    }
});
