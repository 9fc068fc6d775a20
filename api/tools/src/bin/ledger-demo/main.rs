//! `ledger-demo`: the whole product on one machine in about a minute, for newcomers.
//!
//! In a new temporary directory it starts a local OpenTimestamps calendar (the labelled
//! test/dev stand-in with synthetic Bitcoin blocks) and `ledgerd` on free 127.0.0.1
//! ports, enrols three simulated appliances with `ledger-agent`, records a mix of
//! evidence (passing and failing checks) and healing records (L1, L2, L3; success,
//! failure, escalation), lets the agents deliver them with verified receipts, waits for
//! the checkpoint to be stamped and "confirmed", exports an evidence package for one site
//! and verifies it offline with `ledger-verify`, then prints where everything is and the
//! commands to repeat each step by hand. It stops its processes and exits non-zero if any
//! step failed. The data directory is kept so the log can be inspected afterwards.
//!
//! The server runs inside this process through the `api` library; `ledger-agent` and
//! `ledger-verify` run as separate processes, found next to the `ledger-demo` executable
//! together with `ledgerd` (they are built together: `cargo build --workspace`). Exit
//! codes: 0 when every step succeeded, 1 when one failed, 2 for a usage error.

mod inputs;
mod ledgerd;
mod processes;
mod steps;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

use anchor::local_calendar::LocalCalendar;
use anyhow::Context;
use clap::Parser;

use crate::ledgerd::Ledgerd;
use crate::processes::Binaries;
use crate::steps::{Demo, Steps};

#[derive(Parser)]
#[command(
    name = "ledger-demo",
    version,
    about = "Run the whole product once on this machine (local calendar, ledgerd, three \
             ledger-agents, anchoring, export, ledger-verify) and print where everything is. \
             Ends by itself; exit code 0 only if every step succeeded."
)]
struct Cli {
    /// Keep the demo's files here instead of a new temporary directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// After the summary, keep ledgerd (and its web console) running until Ctrl-C.
    #[arg(long)]
    serve: bool,
}

fn main() -> ExitCode {
    // The in-process ledgerd logs as the `ledgerd` binary does.
    api::server::init_logging();
    let cli = Cli::parse();
    match demo(cli.dir, cli.serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ledger-demo: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Runs the demo; `keep` is where the data directory and files go (a new temporary
/// directory when `None`); `serve` keeps ledgerd running after the summary.
fn demo(keep: Option<PathBuf>, serve: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(demo_async(keep, serve))
}

async fn demo_async(keep: Option<PathBuf>, serve: bool) -> anyhow::Result<()> {
    let binaries = Binaries::find()?;
    let root = demo_root(keep)?;
    let mut steps = Steps::start();
    println!("Evidence Ledger demo in {}", root.display());

    // 1. Local calendar.
    let calendar = LocalCalendar::spawn()
        .await
        .context("starting the local calendar")?;
    steps.done(format!(
        "local OpenTimestamps calendar (synthetic Bitcoin) at {}",
        calendar.url
    ));

    // 2. ledgerd, anchoring to that calendar every 2 seconds.
    let ledgerd = Ledgerd::start(&root, &calendar.url).await?;
    steps.done(format!(
        "ledgerd: HTTP {}, gRPC {}, data {}",
        ledgerd.http,
        ledgerd.grpc,
        ledgerd.data.display()
    ));

    let demo = Demo::new(root, binaries, &ledgerd);
    let result = demo
        .run(&mut steps, &calendar.calendar)
        .await
        .map(|outcome| summary::summary(&demo, &steps, &outcome, serve));
    if let (true, Ok(summary)) = (serve, &result) {
        println!("\n{summary}");
        println!("Serving until Ctrl-C ...");
        let _ = tokio::signal::ctrl_c().await;
    }

    let stopped = ledgerd.stop().await;
    let _ = calendar.stop().await;
    match (result, stopped) {
        (Ok(summary), Ok(())) => {
            if !serve {
                println!("\n{summary}");
            }
            Ok(())
        }
        (Err(e), _) => Err(e.context(format!(
            "demo failed; files kept in {}",
            demo.root.display()
        ))),
        (Ok(_), Err(e)) => Err(e),
    }
}

/// The directory the demo's files go into: `keep` (created if missing) or a new one in
/// the temporary directory.
fn demo_root(keep: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match keep {
        Some(path) => {
            std::fs::create_dir_all(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            Ok(path)
        }
        None => {
            let path = std::env::temp_dir().join(format!(
                "evidence-ledger-demo-{}-{}",
                std::process::id(),
                api::anchoring::now_ms()
            ));
            std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
            Ok(path)
        }
    }
}
