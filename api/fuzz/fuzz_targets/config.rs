//! The configuration file on arbitrary text: reading it (`RawConfig::parse_toml`) and
//! validating the result (`Config::validate_with`) never panic, every refusal names at
//! least one problem, a file with reading problems is never accepted, and what is
//! accepted keeps the rules validation promises.
#![no_main]

use api::config::{Config, RawConfig};
use ledger_core::note::is_valid_key_name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (raw, problems) = RawConfig::parse_toml(text);
    assert_eq!(RawConfig::from_toml(text).is_ok(), problems.is_empty());
    let read_cleanly = problems.is_empty();
    match Config::validate_with(raw, problems) {
        Ok(config) => {
            assert!(read_cleanly, "accepted a file with reading problems");
            assert!(is_valid_key_name(&config.origin));
            assert!(
                config.http_listen != config.grpc_listen || config.http_listen.port() == 0,
                "one listener for HTTP and gRPC"
            );
            let anchor = &config.anchor;
            assert!(!anchor.enabled || !anchor.calendars.is_empty());
            assert!(anchor.min_calendars >= 1);
            assert!(anchor.min_calendars <= anchor.calendars.len().max(1));
            assert!(config.promotion_min_success_rate.is_finite());
        }
        Err(e) => assert!(!e.problems.is_empty(), "a refusal names its problems"),
    }
});
