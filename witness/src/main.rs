//! `ledger-witness`: the command line of the witness. `keygen` makes a key file and
//! prints the verifier key, `vkey` prints it again, `serve` runs the HTTP witness until
//! SIGTERM or SIGINT. Everything else lives in the library; this file is glue and
//! owns the exit codes (0 success, 1 failure, 2 usage errors from clap).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use witness::store::Store;
use witness::trust::TrustedLogs;
use witness::{key, Witness};

#[derive(Parser)]
#[command(name = "ledger-witness", version, about = "A C2SP tlog-witness")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates a new witness key file (mode 0600, never overwritten) and prints its
    /// verifier key.
    Keygen {
        /// The witness's name, e.g. `witness.example.org`.
        #[arg(long)]
        name: String,
        /// Where to write the key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Prints the verifier key of an existing key file.
    Vkey {
        #[arg(long)]
        key: PathBuf,
    },
    /// Runs the witness.
    Serve {
        /// The witness key file (from `keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The SQLite state file (created if missing).
        #[arg(long)]
        state: PathBuf,
        /// A tlog-policy file whose `log <vkey> [url]` lines are the trusted logs.
        #[arg(long)]
        logs: PathBuf,
        /// Address to listen on, e.g. 127.0.0.1:7380.
        #[arg(long)]
        listen: SocketAddr,
    },
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ledger-witness: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen { name, key: path } => {
            let signer = key::create(&path, &name)?;
            println!("{}", signer.verifier().verifier_key());
        }
        Command::Vkey { key: path } => {
            println!("{}", key::load(&path)?.verifier().verifier_key());
        }
        Command::Serve {
            key: key_path,
            state,
            logs,
            listen,
        } => serve(key_path, state, logs, listen)?,
    }
    Ok(())
}

fn serve(
    key_path: PathBuf,
    state: PathBuf,
    logs: PathBuf,
    listen: SocketAddr,
) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let signer = key::load(&key_path)?;
    let policy = std::fs::read(&logs)
        .with_context(|| format!("reading the trusted logs file {}", logs.display()))?;
    let trusted = TrustedLogs::from_policy(&policy)
        .with_context(|| format!("trusted logs file {}", logs.display()))?;
    let store = Store::open(&state)?;
    let vkey = signer.verifier().verifier_key();
    let origins: Vec<String> = trusted.origins().into_iter().map(str::to_owned).collect();
    let shared = Arc::new(Witness::new(signer, trusted, store));
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener
            .local_addr()
            .context("reading the listen address")?;
        tracing::info!(%addr, %vkey, ?origins, "ledger-witness listening");
        println!("listening on {addr}");
        witness::http::serve(listener, shared, shutdown_signal())
            .await
            .context("serving HTTP")
    })
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            // Without a SIGTERM handler, SIGINT still stops the witness.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}
