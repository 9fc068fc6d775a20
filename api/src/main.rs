//! `ledgerd`: the Evidence Ledger server binary. Only glue: parse the command line,
//! load and validate the configuration, open the state, serve. Exit codes: 0 success,
//! 1 runtime failure, 2 invalid configuration or usage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use api::config::{Config, RawConfig};
use clap::{Args, Parser, Subcommand};

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
}

/// Settings that override the configuration file (see docs/API.md).
#[derive(Args)]
struct Settings {
    /// TOML configuration file.
    #[arg(long, short, env = "LEDGERD_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[arg(long, env = "LEDGERD_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[arg(long, env = "LEDGERD_ORIGIN", global = true)]
    origin: Option<String>,
    #[arg(long, env = "LEDGERD_HTTP_LISTEN", global = true)]
    http_listen: Option<String>,
    #[arg(long, env = "LEDGERD_GRPC_LISTEN", global = true)]
    grpc_listen: Option<String>,
    #[arg(long, env = "LEDGERD_MAX_FUTURE_SKEW_SECS", global = true)]
    max_future_skew_secs: Option<i64>,
    #[arg(long, env = "LEDGERD_ADMIN_TOKEN_SHA256", global = true)]
    admin_token_sha256: Option<String>,
    #[arg(long, env = "LEDGERD_SEQUENCER_QUEUE_CAPACITY", global = true)]
    sequencer_queue_capacity: Option<i64>,
    #[arg(long, env = "LEDGERD_SEQUENCER_MAX_BATCH", global = true)]
    sequencer_max_batch: Option<i64>,
    #[arg(long, env = "LEDGERD_SEQUENCER_MAX_DELAY_MS", global = true)]
    sequencer_max_delay_ms: Option<i64>,
}

fn load(settings: Settings) -> Result<Config, api::config::ConfigErrors> {
    let (file, problems) = match &settings.config {
        Some(path) => RawConfig::read_file(path),
        None => (RawConfig::default(), Vec::new()),
    };
    let over = RawConfig {
        data_dir: settings.data_dir,
        origin: settings.origin,
        http_listen: settings.http_listen,
        grpc_listen: settings.grpc_listen,
        max_future_skew_secs: settings.max_future_skew_secs,
        admin_token_sha256: settings.admin_token_sha256,
        sequencer_queue_capacity: settings.sequencer_queue_capacity,
        sequencer_max_batch: settings.sequencer_max_batch,
        sequencer_max_delay_ms: settings.sequencer_max_delay_ms,
        ..RawConfig::default()
    };
    Config::validate_with(file.merge(over), problems)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LEDGERD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ledgerd: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let dir = config.data_dir.display().to_string();
        let listeners = api::Listeners::bind(&config).await?;
        let state = tokio::task::spawn_blocking(move || api::AppState::open(config))
            .await?
            .with_context(|| format!("opening the data directory {dir}"))?;
        let state = Arc::new(state);
        println!("log key: {}", state.log.verifier_key());
        println!(
            "operator key: {} (key id {})",
            hex::encode(state.intake.operator().public_key().as_bytes()),
            state.intake.operator().key_id()
        );
        let shutdown = api::server::shutdown_signal().context("installing signal handlers")?;
        println!(
            "listening: http {} grpc {}",
            listeners.http.local_addr()?,
            listeners.grpc.local_addr()?
        );
        api::run(state, listeners, shutdown).await?;
        Ok(())
    })
}
