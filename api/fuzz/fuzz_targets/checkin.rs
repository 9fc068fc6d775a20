//! Check-in bodies (`POST /v1/checkin`) on arbitrary bytes: `Checkin::from_json` never
//! panics, and an accepted check-in, written back as JSON, is accepted again as the same
//! check-in (the fields it reads are the fields it reports).
#![no_main]

use api::checkins::Checkin;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Checkin::from_json(data) {
        Ok(checkin) => {
            let json = serde_json::to_vec(&checkin).expect("a check-in serializes");
            assert_eq!(Checkin::from_json(&json).as_ref(), Ok(&checkin));
        }
        Err(e) => assert!(!e.0.is_empty(), "a refusal names its problem"),
    }
});
