//! The table of `ledgerd`'s settings: for each, its TOML key (the field name), kind and
//! bounds, default, flag, environment variable and reference documentation. Everything
//! else about a setting is derived from its entry here: the [`RawConfig`] field, how the
//! TOML file and the command line set it, how files and flags merge, and the default and
//! bounds validation applies. `nix/lib/settings.nix` lists the same keys for the NixOS
//! module; a test in this crate fails when the two disagree.
//!
//! The order is the order of the reference (`docs/API.md`, the NixOS module). Validation
//! reports problems in its own fixed order, see `validate.rs`.

use std::path::PathBuf;

use super::setting::{define_settings, DefaultValue, Kind, Setting};
use super::Config;

const SECS_PER_DAY: i64 = 86_400;

define_settings! {
    /// Data directory, created on first start: RocksDB log (`db/`), log key (`log.key`),
    /// operator key (`operator.key`), SQLite state (`ledgerd.sqlite`). Default `./data`.
    data_dir: PathBuf {
        kind: Kind::Path,
        default: DefaultValue::Text(Config::DEFAULT_DATA_DIR),
        flag: "--data-dir",
        env: "LEDGERD_DATA_DIR",
    }
    /// Checkpoint origin line and log key name, e.g. `ledger.example.org/log/2026`. It is
    /// fixed for the life of a log. Default `evidence-ledger.local/log`.
    origin: String {
        kind: Kind::Text,
        default: DefaultValue::Text(Config::DEFAULT_ORIGIN),
        flag: "--origin",
        env: "LEDGERD_ORIGIN",
    }
    /// HTTP listen address. Default `127.0.0.1:8080`.
    http_listen: String {
        kind: Kind::Listen,
        default: DefaultValue::Text(Config::DEFAULT_HTTP),
        flag: "--http-listen",
        env: "LEDGERD_HTTP_LISTEN",
    }
    /// gRPC listen address, a different port from HTTP. Default `127.0.0.1:8081`.
    grpc_listen: String {
        kind: Kind::Listen,
        default: DefaultValue::Text(Config::DEFAULT_GRPC),
        flag: "--grpc-listen",
        env: "LEDGERD_GRPC_LISTEN",
    }
    /// Largest accepted lead of a record's appliance time over the server clock, in
    /// seconds. Records further in the future are refused. Default 300.
    max_future_skew_secs: i64 {
        kind: Kind::Int { min: 0, max: Some(7 * SECS_PER_DAY) },
        default: DefaultValue::Int(300),
        flag: "--max-future-skew-secs",
        env: "LEDGERD_MAX_FUTURE_SKEW_SECS",
    }
    /// Lifetime of enrolment tokens the operator issues when the request names none, in
    /// seconds. Default 86400 (one day).
    enrolment_token_ttl_secs: i64 {
        kind: Kind::Int { min: 1, max: Some(365 * SECS_PER_DAY) },
        default: DefaultValue::Int(SECS_PER_DAY),
    }
    /// Most records in one append request (HTTP batch or one gRPC message). Default 4096.
    max_batch_records: i64 {
        kind: Kind::Int { min: 1, max: Some(65_536) },
        default: DefaultValue::Int(4096),
    }
    /// Largest HTTP request body, in bytes. Default 16777216 (16 MiB).
    max_request_bytes: i64 {
        kind: Kind::Int { min: 65_536, max: Some(1 << 30) },
        default: DefaultValue::Int(16 << 20),
    }
    /// Seconds sent in `Retry-After` when the append queue is full. Default 1.
    retry_after_secs: i64 {
        kind: Kind::Int { min: 1, max: Some(3600) },
        default: DefaultValue::Int(1),
    }
    /// SHA-256 (64 hex digits) of the admin credential. When absent, the first start
    /// creates a random credential, writes it to `<data_dir>/admin.token` (mode 0600) for
    /// the operator to collect, and keeps only its hash.
    admin_token_sha256: String {
        kind: Kind::Text,
        default: DefaultValue::Absent,
        flag: "--admin-token-sha256",
        env: "LEDGERD_ADMIN_TOKEN_SHA256",
    }
    /// The operator's own chain, which holds enrolments and revocations: its site id.
    /// Must not be used by any appliance. Default `operator`.
    operator_site_id: String {
        kind: Kind::Id,
        default: DefaultValue::Text("operator"),
    }
    /// The operator chain's appliance id. Default `ledger-operator`.
    operator_appliance_id: String {
        kind: Kind::Id,
        default: DefaultValue::Text("ledger-operator"),
    }
    /// Sequencer: a batch closes at this many entries. Default 1024.
    sequencer_max_batch: i64 {
        kind: Kind::Int { min: 1, max: Some(1 << 20) },
        default: DefaultValue::Int(1024),
        flag: "--sequencer-max-batch",
        env: "LEDGERD_SEQUENCER_MAX_BATCH",
    }
    /// Sequencer: a batch closes this many milliseconds after its first entry. Default 5.
    sequencer_max_delay_ms: i64 {
        kind: Kind::Int { min: 0, max: Some(10_000) },
        default: DefaultValue::Int(5),
        flag: "--sequencer-max-delay-ms",
        env: "LEDGERD_SEQUENCER_MAX_DELAY_MS",
    }
    /// Sequencer: append requests that may wait; beyond this, appends get 503 /
    /// UNAVAILABLE. Default 4096.
    sequencer_queue_capacity: i64 {
        kind: Kind::Int { min: 1, max: Some(1 << 20) },
        default: DefaultValue::Int(4096),
        flag: "--sequencer-queue-capacity",
        env: "LEDGERD_SEQUENCER_QUEUE_CAPACITY",
    }
    /// Free space, in MiB, the data directory's file system must keep: below it appends
    /// are refused with 507 / RESOURCE_EXHAUSTED (retryable) and resume by themselves
    /// once space is freed; RocksDB keeps room to flush and compact. 0 disables the
    /// check. Default 256.
    min_free_disk_mb: i64 {
        kind: Kind::Int { min: 0, max: Some(1 << 30) },
        default: DefaultValue::Int(256),
        flag: "--min-free-disk-mb",
        env: "LEDGERD_MIN_FREE_DISK_MB",
    }
    /// Whether entry bundles (`/tile/entries/...`), which hold record contents of every
    /// site, are served without the admin credential. Default false: hash tiles and
    /// checkpoints are public, record contents are not.
    public_entry_bundles: bool {
        kind: Kind::Bool,
        default: DefaultValue::Bool(false),
    }
    /// Anchoring: whether checkpoints are stamped with OpenTimestamps. Default true.
    anchor_enabled: bool {
        kind: Kind::Bool,
        default: DefaultValue::Bool(true),
        flag: "--anchor-enabled",
        env: "LEDGERD_ANCHOR_ENABLED",
    }
    /// Anchoring: calendar URLs (http or https) each stamp is submitted to. Default the
    /// four public calendars (see `Config::DEFAULT_CALENDARS`). The flag is repeatable.
    anchor_calendars: Vec<String> {
        kind: Kind::UrlList,
        default: DefaultValue::List(&Config::DEFAULT_CALENDARS),
        flag: "--anchor-calendar",
        flag_help: "A calendar to stamp checkpoints with (repeat for several); replaces the list of the configuration file",
    }
    /// Anchoring: calendars that must accept a submission for the stamp to count.
    /// Default 2 (as the reference client); at most the number of calendars.
    anchor_min_calendars: i64 {
        kind: Kind::Int { min: 1, max: None },
        default: DefaultValue::Int(2),
    }
    /// Anchoring: the latest checkpoint is stamped at most this many seconds after the
    /// previous stamp, when the log has grown. Default 3600.
    anchor_interval_secs: i64 {
        kind: Kind::Int { min: 1, max: Some(7 * SECS_PER_DAY) },
        default: DefaultValue::Int(3600),
        flag: "--anchor-interval-secs",
        env: "LEDGERD_ANCHOR_INTERVAL_SECS",
    }
    /// Anchoring: ... or as soon as the log has grown by this many entries since the
    /// previous stamp. Default 100000.
    anchor_every_entries: i64 {
        kind: Kind::Int { min: 1, max: None },
        default: DefaultValue::Int(100_000),
    }
    /// Anchoring: seconds between upgrade rounds for a pending stamp; doubled after each
    /// round without progress, up to 24 hours. Default 600.
    anchor_upgrade_interval_secs: i64 {
        kind: Kind::Int { min: 1, max: Some(SECS_PER_DAY) },
        default: DefaultValue::Int(600),
    }
    /// Anchoring: a stamp still pending after this many seconds is flagged as overdue
    /// (metric, anchors list). It is never deleted. Default 86400.
    anchor_pending_alarm_secs: i64 {
        kind: Kind::Int { min: 1, max: Some(365 * SECS_PER_DAY) },
        default: DefaultValue::Int(SECS_PER_DAY),
    }
    /// Anchoring: timeout of each calendar request, in seconds. Default 10.
    anchor_timeout_secs: i64 {
        kind: Kind::Int { min: 1, max: Some(600) },
        default: DefaultValue::Int(10),
    }
    /// Anchoring: base URL of an Esplora-compatible Bitcoin API (e.g.
    /// `https://blockstream.info/api`, or one next to your own node). When set, a stamp
    /// is `complete` only once one of its Bitcoin attestations matches the header that
    /// API serves for its height; when unset (default), any Bitcoin attestation
    /// completes it, unverified (auditors verify offline either way).
    anchor_bitcoin_api: String {
        kind: Kind::Url,
        default: DefaultValue::Absent,
    }
    /// Witnesses: a C2SP tlog-policy file naming the witnesses (each with its submission
    /// URL) that cosign this log's checkpoints and the quorum they must reach. When set,
    /// `/checkpoint`, receipts and anchors use the latest checkpoint that meets the
    /// quorum (see `docs/WITNESSES.md`). Default: none (no witnesses).
    witness_policy: PathBuf {
        kind: Kind::Path,
        default: DefaultValue::Absent,
        flag: "--witness-policy",
        env: "LEDGERD_WITNESS_POLICY",
    }
    /// Witnesses: when true (fail-closed), an append is answered only once a cosigned
    /// checkpoint covers it, or with 503 / UNAVAILABLE after `witness_max_wait_ms`;
    /// when false (fail-open), an append is answered at once, over the latest cosigned
    /// checkpoint if it already covers the records, else over the log's own. Default
    /// false.
    witness_fail_closed: bool {
        kind: Kind::Bool,
        default: DefaultValue::Bool(false),
        flag: "--witness-fail-closed",
        env: "LEDGERD_WITNESS_FAIL_CLOSED",
    }
    /// Witnesses: timeout of each add-checkpoint request, in milliseconds. Default 1000.
    witness_timeout_ms: i64 {
        kind: Kind::Int { min: 10, max: Some(60_000) },
        default: DefaultValue::Int(1000),
    }
    /// Witnesses: most add-checkpoint requests sent to each witness per day; requests
    /// are spaced at least 86400 s / this apart. Default 8640000 (a hundred a second,
    /// for witnesses run for this log; public witnesses ask for far fewer).
    witness_requests_per_day: i64 {
        kind: Kind::Int { min: 1, max: Some(86_400_000) },
        default: DefaultValue::Int(8_640_000),
    }
    /// Witnesses, fail-closed: how long an append waits for a cosigned checkpoint that
    /// covers it before the 503, in milliseconds. Default 5000.
    witness_max_wait_ms: i64 {
        kind: Kind::Int { min: 0, max: Some(600_000) },
        default: DefaultValue::Int(5000),
    }
    /// Publisher: the S3 bucket that the log's public read side (C2SP tlog-tiles hash
    /// tiles, entry bundles when `publish_entry_bundles`, the checkpoint and complete
    /// OpenTimestamps stamps) is copied to, for read replicas and CDNs (see
    /// `docs/SCALE_OUT.md`). Default: none (nothing is published).
    publish_bucket: String {
        kind: Kind::Text,
        default: DefaultValue::Absent,
    }
    /// Publisher: the S3 endpoint, e.g. `http://127.0.0.1:7480` for Ceph RGW or MinIO.
    /// Default: `AWS_ENDPOINT_URL` from the environment, else AWS S3 of the region.
    publish_endpoint: String {
        kind: Kind::Url,
        default: DefaultValue::Absent,
    }
    /// Publisher: the bucket's region. Default: `AWS_REGION` from the environment, else
    /// `us-east-1`.
    publish_region: String {
        kind: Kind::Text,
        default: DefaultValue::Absent,
    }
    /// Publisher: file (mode 0600) with the access key, as `AWS_ACCESS_KEY_ID=…` and
    /// `AWS_SECRET_ACCESS_KEY=…` lines (`export ` before a line and quotes are allowed;
    /// other lines are ignored). Default: the `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` environment variables.
    publish_credentials_file: PathBuf {
        kind: Kind::Path,
        default: DefaultValue::Absent,
    }
    /// Publisher: whether an `http://` endpoint is accepted (a bucket on the same host or
    /// network). Default false.
    publish_allow_http: bool {
        kind: Kind::Bool,
        default: DefaultValue::Bool(false),
    }
    /// Publisher: key prefix inside the bucket, e.g. `log/2026` puts the checkpoint at
    /// `log/2026/checkpoint`. Default: none (the bucket's root).
    publish_prefix: String {
        kind: Kind::Text,
        default: DefaultValue::Absent,
    }
    /// Publisher: whether entry bundles (`tile/entries/…`, the records of every site)
    /// are published. Default false, as `public_entry_bundles` keeps them from
    /// anonymous HTTP readers.
    publish_entry_bundles: bool {
        kind: Kind::Bool,
        default: DefaultValue::Bool(false),
    }
    /// Publisher: how often it looks for a newer checkpoint and publishes everything up
    /// to it, in milliseconds; also the first retry delay after a failure (doubled up to
    /// 30 s). Default 200.
    publish_interval_ms: i64 {
        kind: Kind::Int { min: 10, max: Some(60_000) },
        default: DefaultValue::Int(200),
    }
    /// Fleet: the check-in period agents are configured with, in seconds (the agent's
    /// `checkin_interval_secs`). Default 60.
    checkin_interval_secs: i64 {
        kind: Kind::Int { min: 1, max: Some(7 * SECS_PER_DAY) },
        default: DefaultValue::Int(60),
    }
    /// Fleet: an appliance is `stale` after this many check-in periods without a
    /// check-in. Default 3.
    stale_after_missed_checkins: i64 {
        kind: Kind::Int { min: 1, max: Some(10_000) },
        default: DefaultValue::Int(3),
    }
    /// Healing: a pattern is a promotion candidate when resolved at L2 at least this
    /// many times. Default 5.
    promotion_min_occurrences: i64 {
        kind: Kind::Int { min: 1, max: None },
        default: DefaultValue::Int(5),
    }
    /// Healing: … and its L2 success rate is at least this (0 to 1). Default 0.9.
    promotion_min_success_rate: f64 {
        kind: Kind::Number { min: 0.0, max: 1.0 },
        default: DefaultValue::Number(0.9),
    }
}

/// The table entry of TOML key `key`, if `ledgerd` has such a setting.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.key == key)
}
