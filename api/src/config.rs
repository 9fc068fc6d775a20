//! `ledgerd` configuration: one TOML file, overridden by flags and `LEDGERD_*`
//! environment variables, validated once at start-up with every problem reported at once.
//!
//! Configuration is read in two stages (as ripgrep does): [`RawConfig`] is what the file
//! and the command line said, every field optional; [`Config::validate`] turns it into a
//! [`Config`] whose fields are all checked, or into the full list of problems. The doc
//! comments on [`RawConfig`] are the configuration reference; `docs/API.md` repeats them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ledger_record::{ChainId, Id};

/// Every setting, as written in the TOML file (keys are the field names) or given by a
/// flag or environment variable. Absent fields take the default named in each comment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawConfig {
    /// Data directory, created on first start: RocksDB log (`db/`), log key (`log.key`),
    /// operator key (`operator.key`), SQLite state (`ledgerd.sqlite`). Default `./data`.
    /// Flag `--data-dir`, variable `LEDGERD_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// Checkpoint origin line and log key name, e.g. `ledger.example.org/log/2026`. It is
    /// fixed for the life of a log. Default `evidence-ledger.local/log`.
    /// Flag `--origin`, variable `LEDGERD_ORIGIN`.
    pub origin: Option<String>,
    /// HTTP listen address. Default `127.0.0.1:8080`. Flag `--http-listen`, variable
    /// `LEDGERD_HTTP_LISTEN`.
    pub http_listen: Option<String>,
    /// gRPC listen address, a different port from HTTP. Default `127.0.0.1:8081`. Flag
    /// `--grpc-listen`, variable `LEDGERD_GRPC_LISTEN`.
    pub grpc_listen: Option<String>,
    /// Largest accepted lead of a record's appliance time over the server clock, in
    /// seconds. Records further in the future are refused. Default 300.
    pub max_future_skew_secs: Option<i64>,
    /// Lifetime of enrolment tokens the operator issues when the request names none, in
    /// seconds. Default 86400 (one day).
    pub enrolment_token_ttl_secs: Option<i64>,
    /// Most records in one append request (HTTP batch or one gRPC message). Default 4096.
    pub max_batch_records: Option<i64>,
    /// Largest HTTP request body, in bytes. Default 16777216 (16 MiB).
    pub max_request_bytes: Option<i64>,
    /// Seconds sent in `Retry-After` when the append queue is full. Default 1.
    pub retry_after_secs: Option<i64>,
    /// SHA-256 (64 hex digits) of the admin credential. When absent, the first start
    /// creates a random credential, writes it to `<data_dir>/admin.token` (mode 0600) for
    /// the operator to collect, and keeps only its hash. Variable
    /// `LEDGERD_ADMIN_TOKEN_SHA256`.
    pub admin_token_sha256: Option<String>,
    /// The operator's own chain, which holds enrolments and revocations: its site id.
    /// Must not be used by any appliance. Default `operator`.
    pub operator_site_id: Option<String>,
    /// The operator chain's appliance id. Default `ledger-operator`.
    pub operator_appliance_id: Option<String>,
    /// Sequencer: a batch closes at this many entries. Default 1024.
    pub sequencer_max_batch: Option<i64>,
    /// Sequencer: a batch closes this many milliseconds after its first entry. Default 5.
    pub sequencer_max_delay_ms: Option<i64>,
    /// Sequencer: append requests that may wait; beyond this, appends get 503 /
    /// UNAVAILABLE. Default 4096.
    pub sequencer_queue_capacity: Option<i64>,
    /// Whether entry bundles (`/tile/entries/...`), which hold record contents of every
    /// site, are served without the admin credential. Default false: hash tiles and
    /// checkpoints are public, record contents are not.
    pub public_entry_bundles: Option<bool>,
    /// Anchoring: whether checkpoints are stamped with OpenTimestamps. Default true.
    /// Variable `LEDGERD_ANCHOR_ENABLED`.
    pub anchor_enabled: Option<bool>,
    /// Anchoring: calendar URLs (http or https) each stamp is submitted to. Default the
    /// four public calendars (see `Config::DEFAULT_CALENDARS`). Flag `--anchor-calendar`
    /// (repeatable).
    pub anchor_calendars: Option<Vec<String>>,
    /// Anchoring: calendars that must accept a submission for the stamp to count.
    /// Default 2 (as the reference client); at most the number of calendars.
    pub anchor_min_calendars: Option<i64>,
    /// Anchoring: the latest checkpoint is stamped at most this many seconds after the
    /// previous stamp, when the log has grown. Default 3600. Flag
    /// `--anchor-interval-secs`.
    pub anchor_interval_secs: Option<i64>,
    /// Anchoring: ... or as soon as the log has grown by this many entries since the
    /// previous stamp. Default 100000.
    pub anchor_every_entries: Option<i64>,
    /// Anchoring: seconds between upgrade rounds for a pending stamp; doubled after each
    /// round without progress, up to 24 hours. Default 600.
    pub anchor_upgrade_interval_secs: Option<i64>,
    /// Anchoring: a stamp still pending after this many seconds is flagged as overdue
    /// (metric, anchors list). It is never deleted. Default 86400.
    pub anchor_pending_alarm_secs: Option<i64>,
    /// Anchoring: timeout of each calendar request, in seconds. Default 10.
    pub anchor_timeout_secs: Option<i64>,
    /// Anchoring: base URL of an Esplora-compatible Bitcoin API (e.g.
    /// `https://blockstream.info/api`, or one next to your own node). When set, a stamp
    /// is `complete` only once one of its Bitcoin attestations matches the header that
    /// API serves for its height; when unset (default), any Bitcoin attestation
    /// completes it, unverified (auditors verify offline either way).
    pub anchor_bitcoin_api: Option<String>,
    /// Fleet: the check-in period agents are configured with, in seconds (contract A,
    /// the agent's `checkin_interval_secs`). Default 60.
    pub checkin_interval_secs: Option<i64>,
    /// Fleet: an appliance is `stale` after this many check-in periods without a
    /// check-in. Default 3.
    pub stale_after_missed_checkins: Option<i64>,
    /// Healing: a pattern is a promotion candidate when resolved at L2 at least this
    /// many times. Default 5.
    pub promotion_min_occurrences: Option<i64>,
    /// Healing: … and its L2 success rate is at least this (0 to 1). Default 0.9.
    pub promotion_min_success_rate: Option<f64>,
}

/// Validated anchoring settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AnchorSettings {
    pub enabled: bool,
    pub calendars: Vec<String>,
    pub min_calendars: usize,
    pub interval: Duration,
    pub every_entries: u64,
    pub upgrade_interval: Duration,
    pub pending_alarm: Duration,
    pub timeout: Duration,
    /// Esplora-compatible API whose headers verify Bitcoin attestations; see
    /// `RawConfig::anchor_bitcoin_api`.
    pub bitcoin_api: Option<String>,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub origin: String,
    pub http_listen: SocketAddr,
    pub grpc_listen: SocketAddr,
    pub max_future_skew: Duration,
    pub enrolment_token_ttl: Duration,
    pub max_batch_records: usize,
    pub max_request_bytes: usize,
    pub retry_after_secs: u64,
    pub admin_token_sha256: Option<[u8; 32]>,
    pub operator_site_id: Id,
    pub operator_appliance_id: Id,
    pub sequencer_max_batch: usize,
    pub sequencer_max_delay: Duration,
    pub sequencer_queue_capacity: usize,
    pub public_entry_bundles: bool,
    pub anchor: AnchorSettings,
    pub checkin_interval: Duration,
    pub stale_after_missed_checkins: u64,
    pub promotion_min_occurrences: u64,
    pub promotion_min_success_rate: f64,
}

/// Every problem found in a configuration, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors {
    pub problems: Vec<String>,
}

/// Largest TOML file read; a configuration is a few hundred bytes.
const MAX_CONFIG_FILE: u64 = 1 << 20;

impl RawConfig {
    /// Reads TOML text. Unknown keys and wrong types are collected as problems, not
    /// stopped at, and the settings that were readable are returned beside them, so
    /// [`Config::validate_with`] can report the value problems in the same run.
    pub fn parse_toml(text: &str) -> (RawConfig, Vec<String>) {
        let table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                let e: toml::de::Error = e;
                return (
                    RawConfig::default(),
                    vec![format!("TOML syntax: {}", e.message())],
                );
            }
        };
        let mut problems = Vec::new();
        let mut raw = RawConfig::default();
        for (key, value) in table {
            let mut put = |slot: &mut dyn FnMut(&toml::Value) -> bool, expected: &str| {
                if !slot(&value) {
                    problems.push(format!("`{key}` must be {expected}"));
                }
            };
            match key.as_str() {
                "data_dir" => put(
                    &mut |v| set_string(v, &mut raw.data_dir, PathBuf::from),
                    "a string",
                ),
                "origin" => put(&mut |v| set_string(v, &mut raw.origin, |s| s), "a string"),
                "http_listen" => put(
                    &mut |v| set_string(v, &mut raw.http_listen, |s| s),
                    "a string",
                ),
                "grpc_listen" => put(
                    &mut |v| set_string(v, &mut raw.grpc_listen, |s| s),
                    "a string",
                ),
                "max_future_skew_secs" => put(
                    &mut |v| set_int(v, &mut raw.max_future_skew_secs),
                    "an integer",
                ),
                "enrolment_token_ttl_secs" => put(
                    &mut |v| set_int(v, &mut raw.enrolment_token_ttl_secs),
                    "an integer",
                ),
                "max_batch_records" => put(
                    &mut |v| set_int(v, &mut raw.max_batch_records),
                    "an integer",
                ),
                "max_request_bytes" => put(
                    &mut |v| set_int(v, &mut raw.max_request_bytes),
                    "an integer",
                ),
                "retry_after_secs" => {
                    put(&mut |v| set_int(v, &mut raw.retry_after_secs), "an integer")
                }
                "admin_token_sha256" => put(
                    &mut |v| set_string(v, &mut raw.admin_token_sha256, |s| s),
                    "a string",
                ),
                "operator_site_id" => put(
                    &mut |v| set_string(v, &mut raw.operator_site_id, |s| s),
                    "a string",
                ),
                "operator_appliance_id" => put(
                    &mut |v| set_string(v, &mut raw.operator_appliance_id, |s| s),
                    "a string",
                ),
                "sequencer_max_batch" => put(
                    &mut |v| set_int(v, &mut raw.sequencer_max_batch),
                    "an integer",
                ),
                "sequencer_max_delay_ms" => put(
                    &mut |v| set_int(v, &mut raw.sequencer_max_delay_ms),
                    "an integer",
                ),
                "sequencer_queue_capacity" => put(
                    &mut |v| set_int(v, &mut raw.sequencer_queue_capacity),
                    "an integer",
                ),
                "public_entry_bundles" => put(
                    &mut |v| match v.as_bool() {
                        Some(b) => {
                            raw.public_entry_bundles = Some(b);
                            true
                        }
                        None => false,
                    },
                    "true or false",
                ),
                "anchor_enabled" => put(
                    &mut |v| match v.as_bool() {
                        Some(b) => {
                            raw.anchor_enabled = Some(b);
                            true
                        }
                        None => false,
                    },
                    "true or false",
                ),
                "anchor_calendars" => put(
                    &mut |v| match v.as_array() {
                        Some(items) => {
                            let urls: Option<Vec<String>> = items
                                .iter()
                                .map(|i| i.as_str().map(str::to_string))
                                .collect();
                            let ok = urls.is_some();
                            raw.anchor_calendars = urls;
                            ok
                        }
                        None => false,
                    },
                    "a list of URL strings",
                ),
                "anchor_min_calendars" => put(
                    &mut |v| set_int(v, &mut raw.anchor_min_calendars),
                    "an integer",
                ),
                "anchor_interval_secs" => put(
                    &mut |v| set_int(v, &mut raw.anchor_interval_secs),
                    "an integer",
                ),
                "anchor_every_entries" => put(
                    &mut |v| set_int(v, &mut raw.anchor_every_entries),
                    "an integer",
                ),
                "anchor_upgrade_interval_secs" => put(
                    &mut |v| set_int(v, &mut raw.anchor_upgrade_interval_secs),
                    "an integer",
                ),
                "anchor_pending_alarm_secs" => put(
                    &mut |v| set_int(v, &mut raw.anchor_pending_alarm_secs),
                    "an integer",
                ),
                "anchor_timeout_secs" => put(
                    &mut |v| set_int(v, &mut raw.anchor_timeout_secs),
                    "an integer",
                ),
                "anchor_bitcoin_api" => put(
                    &mut |v| set_string(v, &mut raw.anchor_bitcoin_api, |s| s),
                    "a URL string",
                ),
                "checkin_interval_secs" => put(
                    &mut |v| set_int(v, &mut raw.checkin_interval_secs),
                    "an integer",
                ),
                "stale_after_missed_checkins" => put(
                    &mut |v| set_int(v, &mut raw.stale_after_missed_checkins),
                    "an integer",
                ),
                "promotion_min_occurrences" => put(
                    &mut |v| set_int(v, &mut raw.promotion_min_occurrences),
                    "an integer",
                ),
                "promotion_min_success_rate" => put(
                    &mut |v| match v.as_float().or_else(|| v.as_integer().map(|i| i as f64)) {
                        Some(f) => {
                            raw.promotion_min_success_rate = Some(f);
                            true
                        }
                        None => false,
                    },
                    "a number",
                ),
                other => problems.push(format!("unknown setting `{other}`")),
            }
        }
        (raw, problems)
    }

    /// Reads TOML text, failing on any unknown key or wrong type.
    pub fn from_toml(text: &str) -> Result<RawConfig, ConfigErrors> {
        let (raw, problems) = RawConfig::parse_toml(text);
        if problems.is_empty() {
            Ok(raw)
        } else {
            Err(ConfigErrors { problems })
        }
    }

    /// Reads and parses a TOML file; problems are prefixed with the file name.
    pub fn read_file(path: &Path) -> (RawConfig, Vec<String>) {
        let one = |p: String| (RawConfig::default(), vec![p]);
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => return one(format!("cannot read {}: {e}", path.display())),
        };
        if meta.len() > MAX_CONFIG_FILE {
            return one(format!(
                "{} is {} bytes; a configuration file is at most {MAX_CONFIG_FILE}",
                path.display(),
                meta.len()
            ));
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return one(format!("cannot read {}: {e}", path.display())),
        };
        let (raw, problems) = RawConfig::parse_toml(&text);
        let problems = problems
            .into_iter()
            .map(|p| format!("{}: {p}", path.display()))
            .collect();
        (raw, problems)
    }

    /// Fields set in `over` replace those in `self` (flags and variables over the file).
    pub fn merge(self, over: RawConfig) -> RawConfig {
        RawConfig {
            data_dir: over.data_dir.or(self.data_dir),
            origin: over.origin.or(self.origin),
            http_listen: over.http_listen.or(self.http_listen),
            grpc_listen: over.grpc_listen.or(self.grpc_listen),
            max_future_skew_secs: over.max_future_skew_secs.or(self.max_future_skew_secs),
            enrolment_token_ttl_secs: over
                .enrolment_token_ttl_secs
                .or(self.enrolment_token_ttl_secs),
            max_batch_records: over.max_batch_records.or(self.max_batch_records),
            max_request_bytes: over.max_request_bytes.or(self.max_request_bytes),
            retry_after_secs: over.retry_after_secs.or(self.retry_after_secs),
            admin_token_sha256: over.admin_token_sha256.or(self.admin_token_sha256),
            operator_site_id: over.operator_site_id.or(self.operator_site_id),
            operator_appliance_id: over.operator_appliance_id.or(self.operator_appliance_id),
            sequencer_max_batch: over.sequencer_max_batch.or(self.sequencer_max_batch),
            sequencer_max_delay_ms: over.sequencer_max_delay_ms.or(self.sequencer_max_delay_ms),
            sequencer_queue_capacity: over
                .sequencer_queue_capacity
                .or(self.sequencer_queue_capacity),
            public_entry_bundles: over.public_entry_bundles.or(self.public_entry_bundles),
            anchor_enabled: over.anchor_enabled.or(self.anchor_enabled),
            anchor_calendars: over.anchor_calendars.or(self.anchor_calendars),
            anchor_min_calendars: over.anchor_min_calendars.or(self.anchor_min_calendars),
            anchor_interval_secs: over.anchor_interval_secs.or(self.anchor_interval_secs),
            anchor_every_entries: over.anchor_every_entries.or(self.anchor_every_entries),
            anchor_upgrade_interval_secs: over
                .anchor_upgrade_interval_secs
                .or(self.anchor_upgrade_interval_secs),
            anchor_pending_alarm_secs: over
                .anchor_pending_alarm_secs
                .or(self.anchor_pending_alarm_secs),
            anchor_timeout_secs: over.anchor_timeout_secs.or(self.anchor_timeout_secs),
            anchor_bitcoin_api: over.anchor_bitcoin_api.or(self.anchor_bitcoin_api),
            checkin_interval_secs: over.checkin_interval_secs.or(self.checkin_interval_secs),
            stale_after_missed_checkins: over
                .stale_after_missed_checkins
                .or(self.stale_after_missed_checkins),
            promotion_min_occurrences: over
                .promotion_min_occurrences
                .or(self.promotion_min_occurrences),
            promotion_min_success_rate: over
                .promotion_min_success_rate
                .or(self.promotion_min_success_rate),
        }
    }
}

fn set_string<T>(v: &toml::Value, slot: &mut Option<T>, f: impl Fn(String) -> T) -> bool {
    match v.as_str() {
        Some(s) => {
            *slot = Some(f(s.to_string()));
            true
        }
        None => false,
    }
}

fn set_int(v: &toml::Value, slot: &mut Option<i64>) -> bool {
    match v.as_integer() {
        Some(i) => {
            *slot = Some(i);
            true
        }
        None => false,
    }
}

/// Checks that an integer setting lies in `lo..=hi`, recording a problem otherwise.
fn ranged(
    problems: &mut Vec<String>,
    name: &str,
    value: Option<i64>,
    default: i64,
    lo: i64,
    hi: i64,
) -> u64 {
    let v = value.unwrap_or(default);
    if v < lo || v > hi {
        problems.push(format!("`{name}` is {v}; it must be between {lo} and {hi}"));
        return default as u64;
    }
    v as u64
}

fn address(
    problems: &mut Vec<String>,
    name: &str,
    value: Option<&str>,
    default: &str,
) -> SocketAddr {
    let text = value.unwrap_or(default);
    match text.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            problems.push(format!(
                "`{name}` is `{text}`; expected an IP address and port such as 127.0.0.1:8080"
            ));
            // A placeholder; the caller returns the problems and never uses it.
            SocketAddr::from(([127, 0, 0, 1], 0))
        }
    }
}

fn identifier(
    problems: &mut Vec<String>,
    name: &str,
    value: Option<&str>,
    default: &str,
) -> Option<Id> {
    let text = value.unwrap_or(default);
    match Id::new(text) {
        Ok(id) => Some(id),
        Err(e) => {
            problems.push(format!("`{name}` is `{text}`: {e}"));
            None
        }
    }
}

impl Config {
    pub const DEFAULT_DATA_DIR: &'static str = "./data";
    pub const DEFAULT_ORIGIN: &'static str = "evidence-ledger.local/log";
    pub const DEFAULT_HTTP: &'static str = "127.0.0.1:8080";
    pub const DEFAULT_GRPC: &'static str = "127.0.0.1:8081";
    /// The public OpenTimestamps calendars (the reference client's defaults).
    pub const DEFAULT_CALENDARS: [&'static str; 4] = [
        "https://a.pool.opentimestamps.org",
        "https://b.pool.opentimestamps.org",
        "https://a.pool.eternitywall.com",
        "https://ots.btc.catallaxy.com",
    ];

    /// Validates every field, reporting all problems together.
    pub fn validate(raw: RawConfig) -> Result<Config, ConfigErrors> {
        Config::validate_with(raw, Vec::new())
    }

    /// Validates every field; `earlier` problems (from reading the file) are reported
    /// first, together with these.
    pub fn validate_with(raw: RawConfig, earlier: Vec<String>) -> Result<Config, ConfigErrors> {
        let mut p = earlier;
        let anchor = anchor_settings(&mut p, &raw);
        let data_dir = raw
            .data_dir
            .unwrap_or_else(|| PathBuf::from(Config::DEFAULT_DATA_DIR));
        if data_dir.as_os_str().is_empty() {
            p.push("`data_dir` is empty".to_string());
        } else if data_dir.exists() && !data_dir.is_dir() {
            p.push(format!(
                "`data_dir` {} exists and is not a directory",
                data_dir.display()
            ));
        }
        let origin = raw
            .origin
            .unwrap_or_else(|| Config::DEFAULT_ORIGIN.to_string());
        if !ledger_core::note::is_valid_key_name(&origin) {
            p.push(format!(
                "`origin` is `{origin}`; it must be non-empty, without spaces or `+` (it names the log key, C2SP signed-note)"
            ));
        }
        let http_listen = address(
            &mut p,
            "http_listen",
            raw.http_listen.as_deref(),
            Config::DEFAULT_HTTP,
        );
        let grpc_listen = address(
            &mut p,
            "grpc_listen",
            raw.grpc_listen.as_deref(),
            Config::DEFAULT_GRPC,
        );
        if http_listen == grpc_listen && http_listen.port() != 0 {
            p.push(format!(
                "`http_listen` and `grpc_listen` are both {http_listen}; they need two listeners"
            ));
        }
        let skew = ranged(
            &mut p,
            "max_future_skew_secs",
            raw.max_future_skew_secs,
            300,
            0,
            7 * 86_400,
        );
        let ttl = ranged(
            &mut p,
            "enrolment_token_ttl_secs",
            raw.enrolment_token_ttl_secs,
            86_400,
            1,
            365 * 86_400,
        );
        let max_batch_records = ranged(
            &mut p,
            "max_batch_records",
            raw.max_batch_records,
            4096,
            1,
            65_536,
        );
        let max_request_bytes = ranged(
            &mut p,
            "max_request_bytes",
            raw.max_request_bytes,
            16 << 20,
            65_536,
            1 << 30,
        );
        let retry_after_secs = ranged(&mut p, "retry_after_secs", raw.retry_after_secs, 1, 1, 3600);
        let admin_token_sha256 = match raw.admin_token_sha256.as_deref() {
            None => None,
            Some(h) => match hex::decode(h)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
            {
                Some(b) => Some(b),
                None => {
                    p.push("`admin_token_sha256` must be 64 hex digits (a SHA-256)".to_string());
                    None
                }
            },
        };
        let operator_site_id = identifier(
            &mut p,
            "operator_site_id",
            raw.operator_site_id.as_deref(),
            "operator",
        );
        let operator_appliance_id = identifier(
            &mut p,
            "operator_appliance_id",
            raw.operator_appliance_id.as_deref(),
            "ledger-operator",
        );
        let sequencer_max_batch = ranged(
            &mut p,
            "sequencer_max_batch",
            raw.sequencer_max_batch,
            1024,
            1,
            1 << 20,
        );
        let delay = ranged(
            &mut p,
            "sequencer_max_delay_ms",
            raw.sequencer_max_delay_ms,
            5,
            0,
            10_000,
        );
        let queue = ranged(
            &mut p,
            "sequencer_queue_capacity",
            raw.sequencer_queue_capacity,
            4096,
            1,
            1 << 20,
        );
        let checkin_interval = ranged(
            &mut p,
            "checkin_interval_secs",
            raw.checkin_interval_secs,
            60,
            1,
            7 * 86_400,
        );
        let stale_after = ranged(
            &mut p,
            "stale_after_missed_checkins",
            raw.stale_after_missed_checkins,
            3,
            1,
            10_000,
        );
        let promotion_min_occurrences = ranged(
            &mut p,
            "promotion_min_occurrences",
            raw.promotion_min_occurrences,
            5,
            1,
            i64::MAX,
        );
        let rate = raw.promotion_min_success_rate.unwrap_or(0.9);
        if !(0.0..=1.0).contains(&rate) {
            p.push(format!(
                "`promotion_min_success_rate` is {rate}; it must be between 0 and 1"
            ));
        }
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
            public_entry_bundles: raw.public_entry_bundles.unwrap_or(false),
            anchor,
            checkin_interval: Duration::from_secs(checkin_interval),
            stale_after_missed_checkins: stale_after,
            promotion_min_occurrences,
            promotion_min_success_rate: rate,
        })
    }

    /// The operator's own chain (enrolments, revocations).
    pub fn operator_chain(&self) -> ChainId {
        ChainId::new(
            self.operator_site_id.clone(),
            self.operator_appliance_id.clone(),
        )
    }

    /// A configuration for tests and tools: defaults, ephemeral ports on 127.0.0.1.
    pub fn for_dir(dir: &Path) -> Result<Config, ConfigErrors> {
        Config::validate(RawConfig {
            data_dir: Some(dir.to_path_buf()),
            http_listen: Some("127.0.0.1:0".into()),
            grpc_listen: Some("127.0.0.1:0".into()),
            // Tests never reach the public calendars; anchoring tests configure a local one.
            anchor_enabled: Some(false),
            ..RawConfig::default()
        })
    }
}

/// Validates the `anchor_*` settings.
fn anchor_settings(p: &mut Vec<String>, raw: &RawConfig) -> AnchorSettings {
    let calendars: Vec<String> = raw.anchor_calendars.clone().unwrap_or_else(|| {
        Config::DEFAULT_CALENDARS
            .iter()
            .map(|c| c.to_string())
            .collect()
    });
    let enabled = raw.anchor_enabled.unwrap_or(true);
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
    let max_min = calendars.len().max(1) as i64;
    let min_calendars = ranged(
        p,
        "anchor_min_calendars",
        raw.anchor_min_calendars,
        2.min(max_min),
        1,
        max_min,
    );
    let interval = ranged(
        p,
        "anchor_interval_secs",
        raw.anchor_interval_secs,
        3600,
        1,
        7 * 86_400,
    );
    let every = ranged(
        p,
        "anchor_every_entries",
        raw.anchor_every_entries,
        100_000,
        1,
        i64::MAX,
    );
    let upgrade = ranged(
        p,
        "anchor_upgrade_interval_secs",
        raw.anchor_upgrade_interval_secs,
        600,
        1,
        86_400,
    );
    let alarm = ranged(
        p,
        "anchor_pending_alarm_secs",
        raw.anchor_pending_alarm_secs,
        86_400,
        1,
        365 * 86_400,
    );
    let bitcoin_api = raw.anchor_bitcoin_api.clone();
    if let Some(url) = &bitcoin_api {
        if let Err(e) = anchor::client::check_calendar_url(url) {
            p.push(format!(
                "`anchor_bitcoin_api` `{url}` must be an http(s) URL of [A-Za-z0-9-._/:] characters ({e})"
            ));
        }
    }
    let timeout = ranged(
        p,
        "anchor_timeout_secs",
        raw.anchor_timeout_secs,
        10,
        1,
        600,
    );
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

#[cfg(test)]
mod tests {
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
            RawConfig::from_toml("origin = \"a.example/log\"\nhttp_listen = \"127.0.0.1:1\"")
                .unwrap();
        let flags = RawConfig {
            origin: Some("b.example/log".into()),
            ..RawConfig::default()
        };
        let merged = file.merge(flags);
        assert_eq!(merged.origin.as_deref(), Some("b.example/log"));
        assert_eq!(merged.http_listen.as_deref(), Some("127.0.0.1:1"));
    }
}
