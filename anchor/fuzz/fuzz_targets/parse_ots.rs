//! Feeds arbitrary bytes to the detached (`.ots`) and bare (calendar answer)
//! parsers. Whatever parses must serialize, parse back to an equal value and
//! replay without error; nothing may panic.

#![no_main]

use anchor::{DetachedTimestamp, HeaderSet, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(stamp) = DetachedTimestamp::parse(data) {
        let bytes = stamp.to_bytes().expect("a parsed stamp serializes");
        let back = DetachedTimestamp::parse(&bytes).expect("serialized output parses");
        assert_eq!(back, stamp);
        stamp.attestations().expect("a parsed stamp replays");
        stamp
            .verify_bitcoin(&HeaderSet::default())
            .expect("a parsed stamp verifies or reports");
    }
    // Bare timestamps depend on the root message's length only through the
    // limits; try the lengths calendars and digests actually have.
    for root_len in [20usize, 32, 44] {
        let root = vec![0xa5u8; root_len];
        if let Ok(t) = Timestamp::parse(data, &root) {
            let bytes = t.to_bytes(&root).expect("a parsed timestamp serializes");
            assert_eq!(Timestamp::parse(&bytes, &root).as_ref(), Ok(&t));
            t.pending_commitments(&root)
                .expect("a parsed timestamp replays");
        }
    }
});
