//! `ledgerd`: the Evidence Ledger server binary. Only glue: parse the command line,
//! load and validate the configuration, open the state, serve. Exit codes: 0 success,
//! 1 runtime failure, 2 invalid configuration or usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use api::config::{Config, Overrides, RawConfig};
use clap::{Args, Parser, Subcommand};
use ledger_record::Id;

#[derive(Parser)]
#[command(
    name = "ledgerd",
    version,
    about = "Evidence Ledger server (HTTP + gRPC)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default). Creates the data directory, log key and operator
    /// key on first start and prints the log's verifier key.
    Serve,
    /// Validate the configuration without starting; every problem is reported.
    CheckConfig,
    /// Print the log's verifier key (opens the data directory).
    Key,
    /// Export an evidence package (docs/EVIDENCE_PACKAGE.md) for sites and a period:
    /// from the data directory of a stopped server, or with `--server` from a running
    /// one. Verify it with `ledger-verify package DIR --key VKEY`.
    Export(ExportArgs),
    /// Check a stopped server's data directory: re-verify the whole log (every entry,
    /// stored hash, dedup key and signed checkpoint) and cross-check the persisted intake
    /// state against a rebuild from every entry. Exit code 1 when something is wrong.
    Fsck(FsckArgs),
    /// Ask the running server for an online backup into a new directory (needs the admin
    /// credential). Appends continue meanwhile; see docs/OPERATIONS.md.
    Backup(BackupArgs),
    /// Serve the log's public read side (checkpoint, tiles, receipts, consistency
    /// proofs) from the publisher's S3 bucket alone, trusting only `--log-key`; no data
    /// directory. Listens on `--http-listen`. See docs/REPLICAS.md.
    Replica(ReplicaArgs),
    /// A log per period (docs/OPERATIONS.md): `freeze` ends this log's period, `start`
    /// begins a new log that succeeds a frozen one. The server must be stopped.
    #[command(subcommand)]
    Period(PeriodCommand),
    /// Release keys and signed releases, offline (docs/UPDATES.md): `keygen` makes a
    /// release key file, `sign` signs a release description for `POST /v1/releases`.
    #[command(subcommand)]
    Release(ReleaseCommand),
}

#[derive(Subcommand)]
enum ReleaseCommand {
    /// Create a release key file (mode 0600) and print its public key and key id, for
    /// `POST /v1/admin/release-keys`.
    Keygen {
        /// Where to write the key file; it must not exist.
        #[arg(long)]
        out: PathBuf,
        /// The key's name, e.g. `release-team` (an id).
        #[arg(long)]
        name: String,
    },
    /// Sign a release description (TOML, see docs/UPDATES.md) and write the signed
    /// release that `POST /v1/releases` takes.
    Sign {
        /// The release key file.
        #[arg(long)]
        key: PathBuf,
        /// The release description.
        #[arg(long)]
        description: PathBuf,
        /// Where to write the signed release; it must not exist.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum PeriodCommand {
    /// Freeze the log at its latest checkpoint (appends are refused from now on, reads go
    /// on) and write the hand-off file for `ledgerd period start`.
    Freeze {
        /// Where to write the hand-off file (JSON).
        #[arg(long)]
        out: PathBuf,
        /// The period this log covered, e.g. 2026 (default: the one its links name).
        #[arg(long)]
        period: Option<String>,
    },
    /// Start this (empty) log as the successor of the frozen log of a hand-off file: its
    /// first entries commit to that log's final checkpoint and carry every chain.
    Start {
        /// The hand-off file `ledgerd period freeze` wrote.
        #[arg(long)]
        from: PathBuf,
        /// The period this log covers, e.g. 2027.
        #[arg(long)]
        period: String,
    },
}

/// Arguments of `ledgerd replica`.
#[derive(Args)]
struct ReplicaArgs {
    /// The bucket the primary publishes to.
    #[arg(long)]
    bucket: String,
    /// The S3 endpoint, e.g. `http://127.0.0.1:7480` (default: AWS_ENDPOINT_URL or AWS).
    #[arg(long)]
    endpoint: Option<String>,
    /// The bucket's region (default: AWS_REGION, else us-east-1).
    #[arg(long)]
    region: Option<String>,
    /// Key prefix inside the bucket, the primary's `publish_prefix`.
    #[arg(long, default_value = "")]
    prefix: String,
    /// File (mode 0600) with AWS_ACCESS_KEY_ID= and AWS_SECRET_ACCESS_KEY= lines
    /// (default: those variables).
    #[arg(long)]
    credentials_file: Option<PathBuf>,
    /// Accept a plain-HTTP endpoint.
    #[arg(long)]
    allow_http: bool,
    /// The log's verifier key (`name+hex+base64`), or @FILE: the only key trusted.
    #[arg(long)]
    log_key: String,
    /// Directory for the disk cache of tiles and the record-hash table (default: none,
    /// memory only).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// How often the bucket's checkpoint is read, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    refresh_ms: u64,
    /// Bound of the memory cache of tiles, in MiB.
    #[arg(long, default_value_t = 256)]
    memory_cache_mb: usize,
}

#[derive(Args)]
struct ExportArgs {
    /// Comma-separated site ids.
    #[arg(long, required = true)]
    sites: String,
    /// Start of the period, Unix milliseconds of appliance time (inclusive).
    #[arg(long)]
    from_ms: Option<u64>,
    /// End of the period, Unix milliseconds (inclusive).
    #[arg(long)]
    to_ms: Option<u64>,
    /// Package directory to create (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// Ask a running ledgerd (its HTTP base URL) instead of opening the data directory.
    #[arg(long)]
    server: Option<String>,
    /// File holding the credential for `--server` (admin or a read token of the sites).
    #[arg(long)]
    token_file: Option<PathBuf>,
}

/// Arguments of `ledgerd fsck`.
#[derive(Args)]
struct FsckArgs {
    /// Replace the persisted intake state with the rebuild when they differ (or when it
    /// does not cover the log), instead of only reporting it.
    #[arg(long)]
    rebuild_state: bool,
}

/// Arguments of `ledgerd backup`.
#[derive(Args)]
struct BackupArgs {
    /// New directory for the backup, on the server's machine; it must not exist. A
    /// relative path is taken from the current directory.
    #[arg(long)]
    to: PathBuf,
    /// The server's HTTP base URL. Default: `http://` + `http_listen` of the
    /// configuration (an unspecified address means the loopback address).
    #[arg(long)]
    server: Option<String>,
    /// File holding the admin credential. Default: `<data_dir>/admin.token`.
    #[arg(long, env = "LEDGERD_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
}

/// Settings that override the configuration file (see docs/API.md): the file itself,
/// and one flag (and variable) per setting the table in `api::config::settings` gives one.
#[derive(Args)]
struct Settings {
    /// TOML configuration file.
    #[arg(long, short, env = "LEDGERD_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    overrides: Overrides,
}

fn load(settings: Settings) -> Result<Config, api::config::ConfigErrors> {
    let (file, problems) = match &settings.config {
        Some(path) => RawConfig::read_file(path),
        None => (RawConfig::default(), Vec::new()),
    };
    Config::validate_with(file.merge(settings.overrides.0), problems)
}

fn main() -> ExitCode {
    api::server::init_logging();
    let cli = Cli::parse();
    let config = match load(cli.settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ledgerd: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => {
            println!("configuration is valid");
            Ok(())
        }
        Command::Key => api::AppState::open(config)
            .context("opening the data directory")
            .map(|s| println!("{}", s.log.verifier_key())),
        Command::Serve => serve(config),
        Command::Export(args) => export(config, args),
        Command::Backup(args) => backup(&config, args),
        Command::Fsck(args) => fsck(&config, args),
        Command::Replica(args) => replica(&config, args),
        Command::Period(command) => period(&config, command),
        Command::Release(command) => release(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ledgerd: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `ledgerd fsck`: prints what was checked, with rates, and fails when the log or the
/// intake state is wrong.
fn fsck(config: &Config, args: FsckArgs) -> anyhow::Result<()> {
    let summary = api::fsck::run(config, args.rebuild_state)?;
    let rate = |n: u64, secs: f64| n as f64 / secs.max(1e-6);
    let log = &summary.log;
    println!(
        "log: {} entries, {} signed checkpoints, root {}: ok in {:.1} s ({:.0} entries/s)",
        log.size,
        log.checkpoints,
        log.root,
        summary.log_secs,
        rate(log.size, summary.log_secs)
    );
    let state = &summary.state;
    println!(
        "intake state: {} chains, {} key records, {} entries not records; rebuilt from the log in {:.1} s ({:.0} entries/s)",
        state.chains,
        state.key_records,
        state.skipped,
        state.secs,
        rate(log.size, state.secs)
    );
    let diff = &state.diff;
    for (what, keys) in [
        ("missing from the persisted state", &diff.missing),
        ("in the persisted state only", &diff.extra),
        ("different in the persisted state", &diff.changed),
    ] {
        for key in keys.iter().take(10) {
            println!("  {what}: {}", api::intake::derived::describe_key(key));
        }
        if keys.len() > 10 {
            println!("  … and {} more {what}", keys.len() - 10);
        }
    }
    match (state.was_current && diff.is_empty(), state.rebuilt) {
        (true, _) => println!("intake state: matches the rebuild"),
        (false, true) => println!("intake state: replaced by the rebuild"),
        (false, false) => anyhow::bail!(
            "the persisted intake state does not match the log ({} missing, {} extra, {} different{}); run `ledgerd fsck --rebuild-state` with the server stopped",
            diff.missing.len(),
            diff.extra.len(),
            diff.changed.len(),
            if state.was_current { "" } else { ", does not cover the whole log" }
        ),
    }
    Ok(())
}

/// `ledgerd release keygen|sign`: offline, no data directory.
fn release(command: ReleaseCommand) -> anyhow::Result<()> {
    use api::release_tool;
    match command {
        ReleaseCommand::Keygen { out, name } => {
            let key = release_tool::keygen(&out, &name)?;
            println!(
                "release key {} ({}) written to {}",
                key.key_id(),
                key.name,
                out.display()
            );
            println!(
                "public_key {}",
                hex::encode(key.key.verifying_key().as_bytes())
            );
            println!("enrol it: POST /v1/admin/release-keys {{\"name\": \"{}\", \"public_key\": \"{}\"}}", key.name, hex::encode(key.key.verifying_key().as_bytes()));
        }
        ReleaseCommand::Sign {
            key,
            description,
            out,
        } => {
            let key = release_tool::load_key(&key)?;
            let signed = release_tool::sign(&description, &key)?;
            release_tool::write_signed(&out, &signed)?;
            let st = &signed.statement;
            println!(
                "{} {} ({} bytes, sha256 {}) signed by release key {} ({}) into {}",
                st.channel,
                st.version,
                st.artifact_size,
                hex::encode(st.artifact_sha256.as_bytes()),
                key.key_id(),
                key.name,
                out.display()
            );
        }
    }
    Ok(())
}

/// `ledgerd period freeze|start`.
fn period(config: &Config, command: PeriodCommand) -> anyhow::Result<()> {
    match command {
        PeriodCommand::Freeze { out, period } => {
            let handoff =
                api::period::freeze(config, api::state::log_config(config), period.as_deref())?;
            let json = serde_json::to_vec_pretty(&handoff).context("encoding the hand-off")?;
            std::fs::write(&out, json).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "log {} frozen at its final checkpoint; {} chains handed off in {}",
                handoff.log_key,
                handoff.chains.len(),
                out.display()
            );
            println!("next: ledgerd period start --from {} --period LABEL (with the new log's configuration)", out.display());
        }
        PeriodCommand::Start { from, period } => {
            let bytes =
                std::fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
            let handoff: api::period::Handoff =
                serde_json::from_slice(&bytes).context("parsing the hand-off file")?;
            let started =
                api::period::start(config, api::state::log_config(config), &handoff, &period)?;
            println!(
                "log {} started for period {period}: {} link entries carry {} chains from {}",
                started.log_key, started.links, started.chains, handoff.log_key
            );
        }
    }
    Ok(())
}

/// `ledgerd export`: the package from a running server (`--server`) or from the data
/// directory of a stopped one, written into a new directory as a stream.
fn export(config: Config, args: ExportArgs) -> anyhow::Result<()> {
    if args.out.exists() {
        anyhow::bail!(
            "{} already exists; a package goes into a new directory",
            args.out.display()
        );
    }
    match &args.server {
        Some(server) => export_from_server(server, &args)?,
        None => export_from_data_dir(&config, &args)?,
    };
    print_package_summary(&args.out)
}

/// Asks a running ledgerd for the package (`GET /v1/export`) and unpacks its archive
/// into the package directory as it arrives.
fn export_from_server(server: &str, args: &ExportArgs) -> anyhow::Result<()> {
    let token_file = args
        .token_file
        .as_ref()
        .context("--server needs --token-file with a credential")?;
    let token = std::fs::read_to_string(token_file)
        .with_context(|| format!("reading {}", token_file.display()))?;
    let mut url = format!(
        "{}/v1/export?sites={}&from_ms={}",
        server.trim_end_matches('/'),
        args.sites,
        args.from_ms.unwrap_or(0)
    );
    if let Some(to) = args.to_ms {
        url.push_str(&format!("&to_ms={to}"));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    let out = args.out.clone();
    let unpacker = std::thread::spawn(move || {
        let mut reader = ChannelReader {
            rx,
            piece: Vec::new(),
            at: 0,
        };
        api::export::unpack_stream(&mut reader, &out)
    });
    let fetched = runtime.block_on(fetch_into(&url, token.trim(), tx));
    let unpacked = unpacker
        .join()
        .map_err(|_| anyhow::anyhow!("the archive reader panicked"))?;
    fetched?;
    unpacked.context("the server's package archive")
}

/// Streams the response body into `tx`, piece by piece.
async fn fetch_into(
    url: &str,
    token: &str,
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
) -> anyhow::Result<()> {
    let mut response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if !status.is_success() {
        let bytes = response.bytes().await.unwrap_or_default();
        anyhow::bail!(
            "the server answered {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(500)])
        );
    }
    while let Some(chunk) = response.chunk().await.context("reading the export")? {
        // A full channel blocks this (current-thread) runtime until the unpacker has
        // written a file: the back-pressure that bounds memory.
        if tx.send(chunk.to_vec()).is_err() {
            break;
        }
    }
    Ok(())
}

/// `Read` over the pieces of a channel (the HTTP body as it arrives).
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    piece: Vec<u8>,
    at: usize,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.piece.len() {
            match self.rx.recv() {
                Ok(p) => {
                    self.piece = p;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.piece.len() - self.at);
        buf[..n].copy_from_slice(&self.piece[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// RocksDB block cache of `ledgerd export` from a data directory.
const EXPORT_BLOCK_CACHE_BYTES: usize = 16 << 20;

/// Writes the package from the data directory of a stopped server (the log is opened
/// for reading and closed again; anchoring is read, never run; the query index is
/// brought up to the log first).
fn export_from_data_dir(config: &Config, args: &ExportArgs) -> anyhow::Result<()> {
    let db = config.data_dir.join("db");
    if !db.is_dir() {
        anyhow::bail!(
            "{} holds no log (no db/ directory)",
            config.data_dir.display()
        );
    }
    let operator = api::operator::OperatorKey::load(&config.data_dir.join("operator.key"))
        .context("reading the operator key")?;
    let mut log_config = ledger::LogConfig::new(&config.data_dir, &config.origin);
    // One pass over the log, each block read once: a large block cache would only add
    // to the export's memory.
    log_config.store.block_cache_bytes = EXPORT_BLOCK_CACHE_BYTES;
    let log = Arc::new(ledger::Log::open(log_config).with_context(|| {
        format!(
            "opening the log in {} (if ledgerd is running on it, use --server URL)",
            config.data_dir.display()
        )
    })?);
    let mut settings = config.anchor.clone();
    settings.enabled = false;
    let anchoring = api::anchoring::Anchoring::open(log.clone(), settings)?;
    let index = ledger_index::QueryIndex::open(&config.data_dir).context("opening the index")?;
    let sites = args
        .sites
        .split(',')
        .map(|s| Id::new(s).with_context(|| format!("site id `{s}`")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sink = verifier::package::DirSink::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let result = api::export::export(
        &api::export::Sources {
            log: &log,
            index: &index,
            anchoring: &anchoring,
            operator_key: &operator.public_key(),
            operator_chain: &config.operator_chain(),
        },
        &api::export::ExportRequest {
            sites,
            period: args.from_ms.unwrap_or(0)..=args.to_ms.unwrap_or(u64::MAX),
        },
        sink,
    );
    log.close();
    if result.is_err() {
        // No manifest was written; remove the partial directory so a retry can use it.
        let _ = std::fs::remove_dir_all(&args.out);
    }
    result?;
    Ok(())
}

/// Prints what the package holds and how to verify it.
fn print_package_summary(out: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(out.join(verifier::package::names::MANIFEST))
        .context("reading the package manifest")?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&bytes).context("the package manifest")?;
    println!("package: {}", out.display());
    println!(
        "format version {}, checkpoint size {}, {} records in {} segments, {} key records, {} appliance chains, timestamp {}",
        manifest["version"],
        manifest["checkpoint_size"],
        manifest["record_count"],
        manifest["segments"],
        manifest["key_count"],
        manifest["chains"].as_array().map_or(0, Vec::len),
        if manifest["timestamp"] == true {
            "included"
        } else {
            "none"
        }
    );
    if let Some(vkey) = manifest["log_verifier_key"].as_str() {
        println!(
            "verify with: ledger-verify package {} --key '{vkey}'",
            out.display()
        );
    }
    Ok(())
}

fn serve(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let dir = config.data_dir.display().to_string();
        let listeners = api::Listeners::bind(&config).await?;
        let state = api::blocking::blocking(move || api::AppState::open(config))
            .await?
            .with_context(|| format!("opening the data directory {dir}"))?;
        let state = Arc::new(state);
        tracing::info!(
            "store {}: flushes and compactions {}",
            state.log.store().path().display(),
            if state.log.store().direct_io() {
                "use O_DIRECT"
            } else {
                "are buffered (the file system refused O_DIRECT)"
            }
        );
        println!("log key: {}", state.log.verifier_key());
        println!(
            "operator key: {} (key id {})",
            hex::encode(state.intake.operator().public_key().as_bytes()),
            state.intake.operator().key_id()
        );
        let shutdown = api::server::shutdown_signal().context("installing signal handlers")?;
        println!(
            "web console: http://{}/ (sign in with a read token or the admin credential, then pin the log key under Settings)",
            listeners.http.local_addr()?
        );
        // The last line before serving: supervisors and tests read up to it and may then
        // close the pipe, so nothing is printed after it.
        println!(
            "listening: http {} grpc {}",
            listeners.http.local_addr()?,
            listeners.grpc.local_addr()?
        );
        api::run(state, listeners, shutdown).await?;
        Ok(())
    })
}

/// The replica's settings from its flags.
fn replica_settings(args: ReplicaArgs) -> anyhow::Result<api::replica::ReplicaSettings> {
    let log_key = match args.log_key.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the log key from {path}"))?
            .trim()
            .to_string(),
        None => args.log_key,
    };
    if let Some(e) = &args.endpoint {
        if e.starts_with("http://") && !args.allow_http {
            anyhow::bail!("--endpoint {e} is plain HTTP; add --allow-http to accept it");
        }
    }
    Ok(api::replica::ReplicaSettings {
        bucket: api::config::PublishSettings {
            bucket: Some(args.bucket),
            endpoint: args.endpoint,
            region: args.region,
            credentials_file: args.credentials_file,
            allow_http: args.allow_http,
            prefix: args.prefix.trim_matches('/').to_string(),
            entry_bundles: false,
            interval: std::time::Duration::from_millis(args.refresh_ms),
        },
        log_key,
        cache_dir: args.cache_dir,
        refresh: std::time::Duration::from_millis(args.refresh_ms),
        memory_cache_bytes: args.memory_cache_mb.saturating_mul(1 << 20),
    })
}

/// `ledgerd replica`: the bucket's follower and its HTTP edge, with one shutdown.
fn replica(config: &Config, args: ReplicaArgs) -> anyhow::Result<()> {
    let settings = replica_settings(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let listen = config.http_listen;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let replica = api::replica::Replica::open(settings)
            .await
            .context("opening the replica")?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let follower = tokio::spawn(api::replica::run(replica.clone(), stopped));
        let shutdown = api::server::shutdown_signal().context("installing signal handlers")?;
        println!("log key: {}", replica.verifier_key());
        println!("listening: http {}", listener.local_addr()?);
        api::http::replica::serve(replica, listener, shutdown)
            .await
            .context("serving HTTP")?;
        let _ = stop.send(true);
        let _ = follower.await;
        Ok(())
    })
}

/// `ledgerd backup`: one admin request to the running server, which writes the copy.
fn backup(config: &Config, args: BackupArgs) -> anyhow::Result<()> {
    let to = if args.to.is_absolute() {
        args.to
    } else {
        std::env::current_dir()
            .context("reading the current directory")?
            .join(args.to)
    };
    let to = to
        .to_str()
        .context("the backup path must be valid UTF-8")?
        .to_string();
    let server = match args.server {
        Some(s) => s.trim_end_matches('/').to_string(),
        None => {
            let mut addr = config.http_listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(if addr.is_ipv4() {
                    std::net::Ipv4Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                });
            }
            format!("http://{addr}")
        }
    };
    let token_file = args
        .admin_token_file
        .unwrap_or_else(|| config.data_dir.join("admin.token"));
    let token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("reading the admin credential from {}", token_file.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let answer: serde_json::Value = runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{server}/v1/admin/backup"))
            .bearer_auth(token.trim())
            .json(&serde_json::json!({ "to": to }))
            .send()
            .await
            .with_context(|| format!("sending the backup request to {server}"))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .with_context(|| format!("reading the answer of {server} ({status})"))?;
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or("no message");
            anyhow::bail!("the server refused the backup ({status}): {message}");
        }
        Ok(body)
    })?;
    println!(
        "backup written to {} at tree size {}",
        answer["path"].as_str().unwrap_or(&to),
        answer["tree_size"]
    );
    print!("{}", answer["checkpoint"].as_str().unwrap_or_default());
    Ok(())
}
