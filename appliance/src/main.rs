//! `ledger-agent`: the command line of the appliance agent. Glue only: every command is
//! a call into the `appliance` library; this file owns the exit codes.
//!
//! Exit codes: 0 success; 1 runtime failure (I/O, key file, server unreachable);
//! 2 invalid configuration, usage or input (nothing was changed); 3 alarm (the log
//! presented inconsistent checkpoints; the agent stopped trusting it).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use appliance::outbox::now_ms;
use appliance::{Agent, AgentError, Config, InputKind, Outbox, RunOptions};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "ledger-agent",
    version,
    about = "Evidence Ledger appliance agent"
)]
struct Cli {
    /// Configuration file (TOML, docs/AGENT.md).
    #[arg(long, env = "LEDGER_AGENT_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Evidence,
    Healing,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the configuration without starting anything.
    CheckConfig,
    /// Generate a key and enrol with the operator's one-time token.
    Enrol {
        /// The token; without it, `enrolment_token_file` of the configuration is read.
        #[arg(long)]
        token: Option<String>,
    },
    /// Sign a record from a JSON file (`-` for stdin) and store it in the outbox.
    Record {
        kind: Kind,
        file: PathBuf,
        /// Record the same input this many times, one durable record each (load and
        /// crash tests).
        #[arg(long, default_value_t = 1, hide = true)]
        repeat: u64,
    },
    /// Deliver the outbox, forever (or until it is empty with --until-drained).
    Run {
        #[arg(long)]
        until_drained: bool,
    },
    /// Outbox depth, oldest undelivered age, last receipt and checkpoint, alarms.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Rotate the signing key (a rotation record signed by the old key is queued).
    Rotate,
    /// Prune delivered records older than the retention and vacuum the outbox.
    Housekeeping,
}

/// Maps a library error to an exit code.
fn code_of(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<AgentError>() {
        Some(AgentError::InvalidInput(_) | AgentError::Config(_)) => 2,
        Some(e) if e.is_alarm() => 3,
        _ => 1,
    }
}

fn load_config(path: &Option<PathBuf>) -> anyhow::Result<Config> {
    let path = path.as_ref().ok_or_else(|| {
        AgentError::Config(vec![
            "no configuration file: give --config FILE or set LEDGER_AGENT_CONFIG".into(),
        ])
    })?;
    Ok(Config::load(path)?)
}

fn read_input(file: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let limit = appliance::agent::MAX_INPUT_BYTES as u64 + 1;
    let mut buf = Vec::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut buf)
            .context("reading standard input")?;
    } else {
        let f = std::fs::File::open(file).map_err(|e| {
            AgentError::InvalidInput(format!("cannot read {}: {e}", file.display()))
        })?;
        f.take(limit)
            .read_to_end(&mut buf)
            .with_context(|| format!("reading {}", file.display()))?;
    }
    Ok(buf)
}

fn print_status(stats: &appliance::Stats) {
    let or = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    println!(
        "appliance:            {}/{}",
        or(stats.site_id.clone()),
        or(stats.appliance_id.clone())
    );
    println!("active key:           {}", or(stats.active_key_id.clone()));
    println!("records made:         {}", stats.head_sequence);
    println!("outbox depth:         {}", stats.outbox_depth);
    println!(
        "oldest undelivered:   {}",
        stats
            .oldest_undelivered_age_secs
            .map_or("-".into(), |s| format!("{s} s ago"))
    );
    println!(
        "last receipt:         {}",
        stats.last_receipt_index.map_or("-".into(), |i| format!(
            "index {i}{}",
            stats.last_receipt_ms.map_or(String::new(), |t| format!(
                ", {} s ago",
                now_ms().saturating_sub(t) / 1000
            ))
        ))
    );
    println!(
        "last checkpoint:      {}",
        stats.last_checkpoint_size.map_or("-".into(), |s| format!(
            "size {s}, root {}",
            stats.last_checkpoint_root.clone().unwrap_or_default()
        ))
    );
    println!("last error:           {}", or(stats.last_error.clone()));
    println!(
        "trusting the log:     {}",
        if stats.trusting_log {
            "yes"
        } else {
            "NO (alarm)"
        }
    );
    if stats.alarms.is_empty() {
        println!("alarms:               none");
    } else {
        for a in &stats.alarms {
            println!(
                "ALARM:                {} (evidence: {})",
                a.message, a.evidence_dir
            );
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn main_inner(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::CheckConfig => {
            load_config(&cli.config)?;
            println!("configuration is valid");
            Ok(())
        }
        Command::Status { json } => status(&cli.config, json),
        Command::Record { kind, file, repeat } => record(&cli.config, kind, &file, repeat),
        Command::Rotate => rotate(&cli.config),
        Command::Housekeeping => housekeeping(&cli.config),
        Command::Enrol { token } => enrol(&cli.config, token),
        Command::Run { until_drained } => run(&cli.config, until_drained),
    }
}

/// `status`: prints the outbox figures; an alarm makes it fail (exit code 3).
fn status(config: &Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let config = load_config(config)?;
    let outbox = Outbox::open(&config.data_dir)?;
    let stats = outbox.stats(now_ms())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print_status(&stats);
    }
    if !stats.trusting_log {
        return Err(AgentError::Untrusted(
            stats
                .alarms
                .last()
                .map(|a| a.message.clone())
                .unwrap_or_default(),
        )
        .into());
    }
    Ok(())
}

/// `record`: signs and stores the input `repeat` times, one durable record each.
fn record(config: &Option<PathBuf>, kind: Kind, file: &PathBuf, repeat: u64) -> anyhow::Result<()> {
    let config = load_config(config)?;
    let json = read_input(file)?;
    let kind = match kind {
        Kind::Evidence => InputKind::Evidence,
        Kind::Healing => InputKind::Healing,
    };
    // Validate before touching the data directory at all.
    let body = appliance::parse_input(kind, &json)?;
    let mut agent = Agent::open(config)?;
    let mut out = std::io::stdout().lock();
    for _ in 0..repeat.max(1) {
        let r = agent.record(body.clone())?;
        writeln!(
            out,
            "recorded sequence {} record_hash {}",
            r.sequence, r.record_hash
        )?;
        out.flush()?;
    }
    Ok(())
}

/// `rotate`: queues a rotation record and switches to the new key.
fn rotate(config: &Option<PathBuf>) -> anyhow::Result<()> {
    let mut agent = Agent::open(load_config(config)?)?;
    let (key_id, r) = agent.rotate()?;
    println!(
        "rotated to key {key_id}; rotation record is sequence {} (delivered by `run`)",
        r.sequence
    );
    Ok(())
}

/// `housekeeping`: prunes delivered records older than the retention and vacuums.
fn housekeeping(config: &Option<PathBuf>) -> anyhow::Result<()> {
    let config = load_config(config)?;
    let retention = std::time::Duration::from_secs(config.retention_days * 86_400);
    let mut outbox = Outbox::open(&config.data_dir)?;
    let n = outbox.prune(now_ms(), retention)?;
    println!(
        "pruned {n} delivered records older than {} days",
        config.retention_days
    );
    Ok(())
}

/// `enrol`: enrols with the token given, or the one in `enrolment_token_file`.
fn enrol(config: &Option<PathBuf>, token: Option<String>) -> anyhow::Result<()> {
    let config = load_config(config)?;
    let token = match token {
        Some(t) => t,
        None => read_token_file(&config)?,
    };
    let mut agent = Agent::open(config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let key_id = rt.block_on(agent.enrol(&token))?;
    println!("enrolled; signing key {key_id}");
    Ok(())
}

fn read_token_file(config: &Config) -> anyhow::Result<String> {
    let path = config.enrolment_token_file.clone().ok_or_else(|| {
        AgentError::InvalidInput("no token: give --token or set enrolment_token_file".into())
    })?;
    let token = std::fs::read_to_string(&path).map_err(|e| {
        AgentError::InvalidInput(format!(
            "cannot read enrolment token file {}: {e}",
            path.display()
        ))
    })?;
    Ok(token)
}

/// `run`: delivers the outbox until a signal (or until it is empty).
fn run(config: &Option<PathBuf>, until_drained: bool) -> anyhow::Result<()> {
    let mut agent = Agent::open(load_config(config)?)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let summary = rt.block_on(appliance::run(
        &mut agent,
        RunOptions { until_drained },
        shutdown_signal(),
    ))?;
    tracing::info!(
        "uploader stopped: {} records delivered, {} failed attempts, {} attempts awaiting witnesses",
        summary.delivered,
        summary.failed_attempts,
        summary.awaiting_witnesses
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LEDGER_AGENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match main_inner(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ledger-agent: error: {e:#}");
            ExitCode::from(code_of(&e))
        }
    }
}
