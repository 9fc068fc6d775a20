//! The configuration's tests: defaults, every problem at once and in a fixed order,
//! merging, the settings table against the field types, the flags and the NixOS module.

use super::*;

#[test]
fn defaults_validate() {
    let c = Config::validate(RawConfig::default()).expect("defaults are valid");
    assert_eq!(c.http_listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.max_future_skew, Duration::from_secs(300));
    assert_eq!(c.operator_site_id.as_str(), "operator");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"
        origin = "has space"
        http_listen = "nowhere"
        max_future_skew_secs = -1
        admin_token_sha256 = "abc"
        operator_site_id = "bad/id"
    "#;
    let raw = RawConfig::from_toml(text).expect("types are right");
    let err = Config::validate(raw).unwrap_err();
    assert_eq!(err.problems.len(), 5, "{err}");
    for needle in [
        "origin",
        "http_listen",
        "max_future_skew_secs",
        "admin_token_sha256",
        "operator_site_id",
    ] {
        assert!(
            err.to_string().contains(needle),
            "{needle} missing in {err}"
        );
    }
}

#[test]
fn unknown_keys_and_wrong_types_are_all_reported() {
    let err = RawConfig::from_toml("colour = 1\nhttp_listen = 5\nmax_batch_records = \"x\"\n")
        .unwrap_err();
    assert_eq!(err.problems.len(), 3, "{err}");
    assert!(err
        .problems
        .iter()
        .any(|p| p.contains("unknown setting `colour`")));
}

#[test]
fn fleet_keys_are_read_validated_and_defaulted() {
    let c = Config::validate(RawConfig::default()).unwrap();
    assert_eq!(c.checkin_interval, Duration::from_secs(60));
    assert_eq!(c.stale_after_missed_checkins, 3);
    assert_eq!(c.promotion_min_occurrences, 5);
    assert_eq!(c.promotion_min_success_rate, 0.9);
    let raw = RawConfig::from_toml(
        "checkin_interval_secs = 30\nstale_after_missed_checkins = 2\npromotion_min_occurrences = 10\npromotion_min_success_rate = 1",
    )
    .unwrap();
    let c = Config::validate(raw).unwrap();
    assert_eq!(c.checkin_interval, Duration::from_secs(30));
    assert_eq!(c.promotion_min_success_rate, 1.0);
    let raw = RawConfig::from_toml(
        "checkin_interval_secs = 0\nstale_after_missed_checkins = 0\npromotion_min_occurrences = 0\npromotion_min_success_rate = 1.5",
    )
    .unwrap();
    assert_eq!(Config::validate(raw).unwrap_err().problems.len(), 4);
    assert!(RawConfig::from_toml("promotion_min_success_rate = \"high\"").is_err());
}

#[test]
fn same_listener_twice_is_refused() {
    let raw = RawConfig {
        http_listen: Some("127.0.0.1:9000".into()),
        grpc_listen: Some("127.0.0.1:9000".into()),
        ..RawConfig::default()
    };
    assert!(Config::validate(raw).unwrap_err().problems[0].contains("two listeners"));
}

#[test]
fn flags_override_the_file() {
    let file =
        RawConfig::from_toml("origin = \"a.example/log\"\nhttp_listen = \"127.0.0.1:1\"").unwrap();
    let flags = RawConfig {
        origin: Some("b.example/log".into()),
        ..RawConfig::default()
    };
    let merged = file.merge(flags);
    assert_eq!(merged.origin.as_deref(), Some("b.example/log"));
    assert_eq!(merged.http_listen.as_deref(), Some("127.0.0.1:1"));
}

#[test]
fn problems_come_in_a_fixed_order_anchoring_first() {
    let text = r#"
        anchor_calendars = ["ftp://calendar.example"]
        anchor_min_calendars = 5
        anchor_interval_secs = 0
        anchor_every_entries = 0
        anchor_upgrade_interval_secs = 0
        anchor_pending_alarm_secs = 0
        anchor_bitcoin_api = "ftp://bitcoin.example"
        anchor_timeout_secs = 0
        data_dir = ""
        origin = "a b"
        http_listen = "nowhere"
        grpc_listen = "elsewhere"
        max_future_skew_secs = -1
        enrolment_token_ttl_secs = 0
        max_batch_records = 0
        max_request_bytes = 0
        retry_after_secs = 0
        admin_token_sha256 = "zz"
        operator_site_id = "bad/id"
        operator_appliance_id = "bad/id"
        sequencer_max_batch = 0
        sequencer_max_delay_ms = -1
        sequencer_queue_capacity = 0
        checkin_interval_secs = 0
        stale_after_missed_checkins = 0
        promotion_min_occurrences = 0
        promotion_min_success_rate = 2.0
    "#;
    let raw = RawConfig::from_toml(text).expect("types are right");
    let err = Config::validate_with(raw, vec!["`earlier` from the file".into()]).unwrap_err();
    let named: Vec<&str> = err
        .problems
        .iter()
        .map(|p| p.split('`').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        named,
        [
            "earlier",
            "anchor_calendars",
            "anchor_min_calendars",
            "anchor_interval_secs",
            "anchor_every_entries",
            "anchor_upgrade_interval_secs",
            "anchor_pending_alarm_secs",
            "anchor_bitcoin_api",
            "anchor_timeout_secs",
            "data_dir",
            "origin",
            "http_listen",
            "grpc_listen",
            "max_future_skew_secs",
            "enrolment_token_ttl_secs",
            "max_batch_records",
            "max_request_bytes",
            "retry_after_secs",
            "admin_token_sha256",
            "operator_site_id",
            "operator_appliance_id",
            "sequencer_max_batch",
            "sequencer_max_delay_ms",
            "sequencer_queue_capacity",
            "checkin_interval_secs",
            "stale_after_missed_checkins",
            "promotion_min_occurrences",
            "promotion_min_success_rate",
        ],
        "{err}"
    );
    assert!(
        err.problems[2].ends_with("it must be between 1 and 1"),
        "{err}"
    );
    assert!(
        err.problems[27].ends_with("it must be between 0 and 1"),
        "{err}"
    );
}

/// A TOML value of the kind a setting's table entry names.
fn sample_value(kind: Kind) -> toml::Value {
    match kind {
        Kind::Path | Kind::Text | Kind::Listen | Kind::Id | Kind::Url => "x".into(),
        Kind::UrlList => toml::Value::Array(vec!["https://a.example".into()]),
        Kind::Int { min, .. } => min.into(),
        Kind::Bool => true.into(),
        Kind::Number { min, .. } => min.into(),
    }
}

#[test]
fn every_setting_reads_the_kind_its_entry_names_and_refuses_others() {
    for setting in SETTINGS {
        let mut raw = RawConfig::default();
        assert_eq!(
            raw.set_from_toml(setting.key, &sample_value(setting.kind)),
            Some(true),
            "`{}` does not read its own kind",
            setting.key
        );
        assert_ne!(
            raw,
            RawConfig::default(),
            "`{}` stored nothing",
            setting.key
        );
        let wrong = match setting.kind {
            Kind::Bool => toml::Value::from("yes"),
            _ => toml::Value::Boolean(false),
        };
        assert_eq!(raw.set_from_toml(setting.key, &wrong), Some(false));
        assert_eq!(
            raw,
            RawConfig::default(),
            "`{}` kept a wrong value",
            setting.key
        );
    }
    assert_eq!(
        RawConfig::default().set_from_toml("colour", &toml::Value::Integer(1)),
        None
    );
}

#[test]
fn keys_are_unique_and_every_entry_has_a_default_validation_can_read() {
    let mut keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), SETTINGS.len());
    for setting in SETTINGS {
        assert!(
            !setting.doc_text().is_empty(),
            "`{}` is undocumented",
            setting.key
        );
        match setting.kind {
            Kind::Int { .. } => {
                let (default, min, max) = setting.int_rule();
                assert!((min..=max).contains(&default), "`{}`", setting.key);
            }
            Kind::Number { .. } => {
                let (default, min, max) = setting.number_rule();
                assert!((min..=max).contains(&default), "`{}`", setting.key);
            }
            _ => {}
        }
        if let Some(env) = setting.env {
            assert_eq!(env, format!("LEDGERD_{}", setting.key.to_uppercase()));
        }
    }
}

/// Parses `ledgerd` with only the override flags (as `main.rs` flattens them).
fn parse_flags(args: &[&str]) -> Result<RawConfig, clap::Error> {
    use clap::{Args as _, FromArgMatches as _};
    let command = Overrides::augment_args(clap::Command::new("ledgerd"));
    let matches =
        command.try_get_matches_from(std::iter::once("ledgerd").chain(args.iter().copied()))?;
    Ok(Overrides::from_arg_matches(&matches)?.0)
}

#[test]
fn flags_are_the_table_entries_that_name_one() {
    let flagged: Vec<&str> = SETTINGS
        .iter()
        .filter(|s| s.flag.is_some())
        .map(|s| s.key)
        .collect();
    assert_eq!(
        flagged,
        [
            "data_dir",
            "origin",
            "http_listen",
            "grpc_listen",
            "max_future_skew_secs",
            "admin_token_sha256",
            "sequencer_max_batch",
            "sequencer_max_delay_ms",
            "sequencer_queue_capacity",
            "min_free_disk_mb",
            "anchor_enabled",
            "anchor_calendars",
            "anchor_interval_secs",
            "witness_policy",
            "witness_fail_closed",
        ]
    );
    if std::env::vars().any(|(k, _)| k.starts_with("LEDGERD_") && k != "LEDGERD_LOG") {
        eprintln!("skipped: LEDGERD_* variables are set and would override the flags");
        return;
    }
    let raw = parse_flags(&[
        "--data-dir",
        "/srv/ledger",
        "--max-future-skew-secs",
        "7",
        "--anchor-enabled",
        "false",
        "--anchor-calendar",
        "https://a.example",
        "--anchor-calendar",
        "https://b.example",
    ])
    .unwrap();
    assert_eq!(
        raw,
        RawConfig {
            data_dir: Some("/srv/ledger".into()),
            max_future_skew_secs: Some(7),
            anchor_enabled: Some(false),
            anchor_calendars: Some(vec!["https://a.example".into(), "https://b.example".into()]),
            ..RawConfig::default()
        }
    );
    assert_eq!(parse_flags(&[]).unwrap(), RawConfig::default());
    assert!(parse_flags(&["--max-future-skew-secs", "soon"]).is_err());
    assert!(
        parse_flags(&["--max-batch-records", "5"]).is_err(),
        "a file-only setting"
    );
}

/// Lowest and highest value as `nix/lib/settings.nix` writes them.
type NixBounds = Option<(String, String)>;

/// The `ledgerd` entries of `nix/lib/settings.nix`: key, type and, for numbers, the
/// bounds as written (`null` for none).
fn nix_settings() -> Vec<(String, String, NixBounds)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../nix/lib/settings.nix");
    let text = std::fs::read_to_string(path).expect("nix/lib/settings.nix");
    let start = text.find("ledgerd = [").expect("a ledgerd list");
    let block = &text[start..];
    let block = &block[..block.find("\n  ];").expect("the end of the ledgerd list")];
    let field = |chunk: &str, name: &str| -> Option<String> {
        let at = chunk.find(&format!(" {name} = "))? + name.len() + 4;
        let value = &chunk[at..];
        Some(
            value[..value.find(';')?]
                .trim()
                .trim_matches('"')
                .to_string(),
        )
    };
    block
        .split("key = \"")
        .skip(1)
        .map(|chunk| {
            let key = chunk[..chunk.find('"').unwrap()].to_string();
            if let Some(at) = chunk.find("// int ") {
                let bounds: Vec<&str> = chunk[at + 7..]
                    .split([' ', ')'])
                    .filter(|b| !b.is_empty())
                    .take(2)
                    .collect();
                let bounds = Some((bounds[0].to_string(), bounds[1].to_string()));
                return (key, "int".to_string(), bounds);
            }
            let kind = field(chunk, "type").expect("a type");
            let bounds = field(chunk, "min").zip(field(chunk, "max"));
            (key, kind, bounds)
        })
        .collect()
}

#[test]
fn the_nixos_module_offers_every_setting_with_the_same_kind_and_bounds() {
    let nix = nix_settings();
    // The admin hash is deliberately not a module setting: the module reads it from
    // `adminTokenSha256File` at start and passes it as LEDGERD_ADMIN_TOKEN_SHA256.
    let ours: Vec<&Setting> = SETTINGS
        .iter()
        .filter(|s| s.key != "admin_token_sha256")
        .collect();
    let mut nix_keys: Vec<&str> = nix.iter().map(|(key, _, _)| key.as_str()).collect();
    let mut our_keys: Vec<&str> = ours.iter().map(|s| s.key).collect();
    nix_keys.sort_unstable();
    our_keys.sort_unstable();
    assert_eq!(
        nix_keys, our_keys,
        "nix/lib/settings.nix and config/settings.rs differ"
    );
    for setting in ours {
        let (_, nix_kind, nix_bounds) = nix.iter().find(|(key, _, _)| key == setting.key).unwrap();
        let (kind, bounds) = match setting.kind {
            Kind::Path => ("absPath", None),
            Kind::Text => ("str", None),
            Kind::Listen => ("listen", None),
            Kind::Id => ("id", None),
            Kind::Url => ("url", None),
            Kind::UrlList => ("urlList", None),
            Kind::Bool => ("bool", None),
            Kind::Int { min, max } => ("int", Some((min.to_string(), max.map(|m| m.to_string())))),
            Kind::Number { min, max } => (
                "float",
                Some((format!("{min:?}"), Some(format!("{max:?}")))),
            ),
        };
        assert_eq!(nix_kind, kind, "`{}`: kind", setting.key);
        assert_eq!(
            nix_bounds.is_some(),
            bounds.is_some(),
            "`{}`: bounds",
            setting.key
        );
        if let (Some((nix_min, nix_max)), Some((min, max))) = (nix_bounds, bounds) {
            assert_eq!(*nix_min, min, "`{}`: lowest value", setting.key);
            // The module may leave the upper bound to the program (`null`).
            if nix_max != "null" {
                assert_eq!(
                    Some(nix_max.clone()),
                    max,
                    "`{}`: highest value",
                    setting.key
                );
            }
        }
    }
}
