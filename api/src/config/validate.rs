//! Turning a [`RawConfig`] into a [`Config`]: every setting checked, defaults and bounds
//! taken from the settings table, every problem collected.
//!
//! Problems are reported in a fixed order: whatever reading the file found, then the
//! anchoring settings, then the others in the order of the reference.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ledger_record::Id;

use super::setting::Setting;
use super::settings::TABLE;
use super::{AnchorSettings, Config, ConfigErrors, PublishSettings, RawConfig, WitnessSettings};

impl Config {
    /// Validates every field; `earlier` problems (from reading the file) are reported
    /// first, together with these.
    pub fn validate_with(raw: RawConfig, earlier: Vec<String>) -> Result<Config, ConfigErrors> {
        let mut p = earlier;
        // An integer setting, checked against the bounds of its table entry.
        macro_rules! int {
            ($field:ident) => {
                ranged(&mut p, &TABLE.$field, raw.$field)
            };
        }
        let anchor = anchor_settings(&mut p, &raw);
        let witness = witness_settings(&mut p, &raw);
        let publish = publish_settings(&mut p, &raw);
        let data_dir = data_dir(&mut p, raw.data_dir);
        let origin = origin(&mut p, raw.origin);
        let (http_listen, grpc_listen) = listeners(
            &mut p,
            raw.http_listen.as_deref(),
            raw.grpc_listen.as_deref(),
        );
        let skew = int!(max_future_skew_secs);
        let ttl = int!(enrolment_token_ttl_secs);
        let max_batch_records = int!(max_batch_records);
        let max_request_bytes = int!(max_request_bytes);
        let retry_after_secs = int!(retry_after_secs);
        let admin_token_sha256 = admin_hash(&mut p, raw.admin_token_sha256.as_deref());
        let operator_site_id = identifier(
            &mut p,
            &TABLE.operator_site_id,
            raw.operator_site_id.as_deref(),
        );
        let operator_appliance_id = identifier(
            &mut p,
            &TABLE.operator_appliance_id,
            raw.operator_appliance_id.as_deref(),
        );
        let sequencer_max_batch = int!(sequencer_max_batch);
        let delay = int!(sequencer_max_delay_ms);
        let queue = int!(sequencer_queue_capacity);
        let min_free_disk_mb = int!(min_free_disk_mb);
        let checkin_interval = int!(checkin_interval_secs);
        let stale_after = int!(stale_after_missed_checkins);
        let promotion_min_occurrences = int!(promotion_min_occurrences);
        let rate = number(
            &mut p,
            &TABLE.promotion_min_success_rate,
            raw.promotion_min_success_rate,
        );
        let (true, Some(operator_site_id), Some(operator_appliance_id)) =
            (p.is_empty(), operator_site_id, operator_appliance_id)
        else {
            return Err(ConfigErrors { problems: p });
        };
        Ok(Config {
            data_dir,
            origin,
            http_listen,
            grpc_listen,
            max_future_skew: Duration::from_secs(skew),
            enrolment_token_ttl: Duration::from_secs(ttl),
            max_batch_records: max_batch_records as usize,
            max_request_bytes: max_request_bytes as usize,
            retry_after_secs,
            admin_token_sha256,
            operator_site_id,
            operator_appliance_id,
            sequencer_max_batch: sequencer_max_batch as usize,
            sequencer_max_delay: Duration::from_millis(delay),
            sequencer_queue_capacity: queue as usize,
            min_free_disk_bytes: min_free_disk_mb << 20,
            public_entry_bundles: raw
                .public_entry_bundles
                .unwrap_or(TABLE.public_entry_bundles.bool_default()),
            anchor,
            witness,
            publish,
            checkin_interval: Duration::from_secs(checkin_interval),
            stale_after_missed_checkins: stale_after,
            promotion_min_occurrences,
            promotion_min_success_rate: rate,
        })
    }
}

/// Validates the `witness_*` settings.
fn witness_settings(p: &mut Vec<String>, raw: &RawConfig) -> WitnessSettings {
    WitnessSettings {
        policy: raw.witness_policy.clone(),
        fail_closed: raw
            .witness_fail_closed
            .unwrap_or(TABLE.witness_fail_closed.bool_default()),
        timeout: Duration::from_millis(ranged(
            p,
            &TABLE.witness_timeout_ms,
            raw.witness_timeout_ms,
        )),
        requests_per_day: ranged(
            p,
            &TABLE.witness_requests_per_day,
            raw.witness_requests_per_day,
        ),
        max_wait: Duration::from_millis(ranged(
            p,
            &TABLE.witness_max_wait_ms,
            raw.witness_max_wait_ms,
        )),
    }
}

/// Validates the `publish_*` settings. The credentials file is read when the publisher
/// starts, as the witness policy is.
fn publish_settings(p: &mut Vec<String>, raw: &RawConfig) -> PublishSettings {
    let allow_http = raw
        .publish_allow_http
        .unwrap_or(TABLE.publish_allow_http.bool_default());
    if let Some(bucket) = &raw.publish_bucket {
        // S3 bucket naming rules: 3 to 63 of [a-z0-9.-], starting and ending alphanumeric.
        let ok_char =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
        let edges = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        if !(3..=63).contains(&bucket.len())
            || !bucket.chars().all(ok_char)
            || !edges(bucket.chars().next())
            || !edges(bucket.chars().last())
        {
            p.push(format!(
                "`publish_bucket` `{bucket}` is not an S3 bucket name (3 to 63 of a-z, 0-9, `.` and `-`)"
            ));
        }
    }
    if let Some(url) = &raw.publish_endpoint {
        let http = url.starts_with("http://");
        if !http && !url.starts_with("https://") {
            p.push(format!("`publish_endpoint` `{url}` must be an http(s) URL"));
        } else if http && !allow_http {
            p.push(format!(
                "`publish_endpoint` `{url}` is plain HTTP; set `publish_allow_http = true` to accept it"
            ));
        }
    }
    let prefix = raw.publish_prefix.clone().unwrap_or_default();
    let prefix = prefix.trim_matches('/').to_string();
    let ok_prefix = |c: char| c.is_ascii_alphanumeric() || "-._/".contains(c);
    if !prefix.chars().all(ok_prefix)
        || prefix.split('/').any(|s| s == "." || s == "..")
        || prefix.contains("//")
    {
        p.push(format!(
            "`publish_prefix` `{prefix}` must be path segments of [A-Za-z0-9-._] separated by `/`"
        ));
    }
    PublishSettings {
        bucket: raw.publish_bucket.clone(),
        endpoint: raw.publish_endpoint.clone(),
        region: raw.publish_region.clone(),
        credentials_file: raw.publish_credentials_file.clone(),
        allow_http,
        prefix,
        entry_bundles: raw
            .publish_entry_bundles
            .unwrap_or(TABLE.publish_entry_bundles.bool_default()),
        interval: Duration::from_millis(ranged(
            p,
            &TABLE.publish_interval_ms,
            raw.publish_interval_ms,
        )),
    }
}

/// Validates the `anchor_*` settings.
fn anchor_settings(p: &mut Vec<String>, raw: &RawConfig) -> AnchorSettings {
    let enabled = raw
        .anchor_enabled
        .unwrap_or(TABLE.anchor_enabled.bool_default());
    let calendars = calendars(p, enabled, raw.anchor_calendars.clone());
    // No more calendars can accept a submission than are listed, so the bound is the
    // list's length and the default (2) shrinks to a shorter list.
    let max_min = calendars.len().max(1) as i64;
    let (default_min, lowest_min, _) = TABLE.anchor_min_calendars.int_rule();
    let min_calendars = ranged_within(
        p,
        TABLE.anchor_min_calendars.key,
        raw.anchor_min_calendars,
        (default_min.min(max_min), lowest_min, max_min),
    );
    let interval = ranged(p, &TABLE.anchor_interval_secs, raw.anchor_interval_secs);
    let every = ranged(p, &TABLE.anchor_every_entries, raw.anchor_every_entries);
    let upgrade = ranged(
        p,
        &TABLE.anchor_upgrade_interval_secs,
        raw.anchor_upgrade_interval_secs,
    );
    let alarm = ranged(
        p,
        &TABLE.anchor_pending_alarm_secs,
        raw.anchor_pending_alarm_secs,
    );
    let bitcoin_api = raw.anchor_bitcoin_api.clone();
    if let Some(url) = &bitcoin_api {
        if let Err(e) = anchor::client::check_calendar_url(url) {
            p.push(format!(
                "`anchor_bitcoin_api` `{url}` must be an http(s) URL of [A-Za-z0-9-._/:] characters ({e})"
            ));
        }
    }
    let timeout = ranged(p, &TABLE.anchor_timeout_secs, raw.anchor_timeout_secs);
    AnchorSettings {
        enabled,
        calendars,
        min_calendars: min_calendars as usize,
        interval: Duration::from_secs(interval),
        every_entries: every,
        upgrade_interval: Duration::from_secs(upgrade),
        pending_alarm: Duration::from_secs(alarm),
        timeout: Duration::from_secs(timeout),
        bitcoin_api,
    }
}

/// The calendar list (default: the public calendars), each URL checked.
fn calendars(p: &mut Vec<String>, enabled: bool, given: Option<Vec<String>>) -> Vec<String> {
    let calendars = given.unwrap_or_else(|| {
        TABLE
            .anchor_calendars
            .list_default()
            .iter()
            .map(|c| c.to_string())
            .collect()
    });
    if enabled && calendars.is_empty() {
        p.push("`anchor_calendars` is empty; list at least one calendar or set `anchor_enabled = false`".into());
    }
    for url in &calendars {
        if let Err(e) = anchor::client::check_calendar_url(url) {
            p.push(format!(
                "`anchor_calendars` entry `{url}` must be an http(s) URL of [A-Za-z0-9-._/:] characters ({e})"
            ));
        }
    }
    calendars
}

fn data_dir(p: &mut Vec<String>, given: Option<PathBuf>) -> PathBuf {
    let data_dir = given.unwrap_or_else(|| PathBuf::from(TABLE.data_dir.text_default()));
    if data_dir.as_os_str().is_empty() {
        p.push("`data_dir` is empty".to_string());
    } else if data_dir.exists() && !data_dir.is_dir() {
        p.push(format!(
            "`data_dir` {} exists and is not a directory",
            data_dir.display()
        ));
    }
    data_dir
}

fn origin(p: &mut Vec<String>, given: Option<String>) -> String {
    let origin = given.unwrap_or_else(|| TABLE.origin.text_default().to_string());
    if !ledger_core::note::is_valid_key_name(&origin) {
        p.push(format!(
            "`origin` is `{origin}`; it must be non-empty, without spaces or `+` (it names the log key, C2SP signed-note)"
        ));
    }
    origin
}

/// The HTTP and gRPC addresses, which must be two listeners.
fn listeners(
    p: &mut Vec<String>,
    http: Option<&str>,
    grpc: Option<&str>,
) -> (SocketAddr, SocketAddr) {
    let http_listen = address(p, &TABLE.http_listen, http);
    let grpc_listen = address(p, &TABLE.grpc_listen, grpc);
    if http_listen == grpc_listen && http_listen.port() != 0 {
        p.push(format!(
            "`http_listen` and `grpc_listen` are both {http_listen}; they need two listeners"
        ));
    }
    (http_listen, grpc_listen)
}

fn admin_hash(p: &mut Vec<String>, given: Option<&str>) -> Option<[u8; 32]> {
    let hash = given?;
    let bytes = hex::decode(hash)
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok());
    if bytes.is_none() {
        p.push("`admin_token_sha256` must be 64 hex digits (a SHA-256)".to_string());
    }
    bytes
}

/// Checks that an integer setting lies within its table bounds, recording a problem
/// otherwise (and returning the default).
fn ranged(p: &mut Vec<String>, setting: &Setting, value: Option<i64>) -> u64 {
    ranged_within(p, setting.key, value, setting.int_rule())
}

/// Checks that an integer setting lies in `lo..=hi` of `(default, lo, hi)`.
fn ranged_within(
    p: &mut Vec<String>,
    name: &str,
    value: Option<i64>,
    (default, lo, hi): (i64, i64, i64),
) -> u64 {
    let v = value.unwrap_or(default);
    if v < lo || v > hi {
        p.push(format!("`{name}` is {v}; it must be between {lo} and {hi}"));
        return default as u64;
    }
    v as u64
}

/// Checks that a number setting lies within its table bounds.
fn number(p: &mut Vec<String>, setting: &Setting, value: Option<f64>) -> f64 {
    let (default, lo, hi) = setting.number_rule();
    let v = value.unwrap_or(default);
    if !(lo..=hi).contains(&v) {
        p.push(format!(
            "`{}` is {v}; it must be between {lo} and {hi}",
            setting.key
        ));
    }
    v
}

fn address(p: &mut Vec<String>, setting: &Setting, value: Option<&str>) -> SocketAddr {
    let text = value.unwrap_or(setting.text_default());
    match text.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            p.push(format!(
                "`{}` is `{text}`; expected an IP address and port such as 127.0.0.1:8080",
                setting.key
            ));
            // A placeholder; the caller returns the problems and never uses it.
            SocketAddr::from(([127, 0, 0, 1], 0))
        }
    }
}

fn identifier(p: &mut Vec<String>, setting: &Setting, value: Option<&str>) -> Option<Id> {
    let text = value.unwrap_or(setting.text_default());
    match Id::new(text) {
        Ok(id) => Some(id),
        Err(e) => {
            p.push(format!("`{}` is `{text}`: {e}", setting.key));
            None
        }
    }
}
