//! `ledgerd` configuration: one TOML file, overridden by flags and `LEDGERD_*`
//! environment variables, validated once at start-up with every problem reported at once.
//!
//! Configuration is read in two stages (as ripgrep does): [`RawConfig`] is what the file
//! and the command line said, every field optional; [`Config::validate`] turns it into a
//! [`Config`] whose fields are all checked, or into the full list of problems.
//!
//! Every setting is one entry of the table in [`settings`] (key, kind and bounds,
//! default, flag, variable, documentation); [`RawConfig`], the TOML reader (`parse.rs`),
//! the flags and variables (`flags.rs`, [`Overrides`]) and the defaults and bounds of
//! validation (`validate.rs`) are derived from it. The doc comments in that table are the
//! configuration reference; `docs/API.md` repeats them.

mod flags;
mod parse;
mod setting;
pub mod settings;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ledger_record::{ChainId, Id};

pub use flags::Overrides;
pub use setting::{DefaultValue, Kind, Setting};
pub use settings::{setting, RawConfig, SettingTable, SETTINGS, TABLE};

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

/// Validated witness settings; the policy file is read when the server opens.
#[derive(Debug, Clone, PartialEq)]
pub struct WitnessSettings {
    pub policy: Option<PathBuf>,
    pub fail_closed: bool,
    pub timeout: Duration,
    pub requests_per_day: u64,
    pub max_wait: Duration,
}

/// Validated publisher settings (`publish_*`); the publisher runs when `bucket` is set.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishSettings {
    pub bucket: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub credentials_file: Option<PathBuf>,
    pub allow_http: bool,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
    pub entry_bundles: bool,
    pub interval: Duration,
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
    /// Free space the data directory must keep before appends are refused (0: no check).
    pub min_free_disk_bytes: u64,
    pub public_entry_bundles: bool,
    pub anchor: AnchorSettings,
    pub witness: WitnessSettings,
    pub publish: PublishSettings,
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

#[cfg(test)]
mod tests;
