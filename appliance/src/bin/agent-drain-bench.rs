//! `agent-drain-bench`: measures how fast the agent drains a backlog to a local ledgerd.
//!
//! It enrols a fresh appliance (with an enrolment token issued with the admin
//! credential), fills its outbox with N signed evidence records (the backlog, as after
//! days offline), then times `ledger-agent run --until-drained`'s code path: in-order
//! upload, every receipt verified with the pinned log key, every new checkpoint proven
//! consistent, every delivery marked durably in SQLite. It prints the fill rate, the
//! drain rate and checks that the outbox is empty and the server's tree grew by N.
//! Loopback targets only.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use appliance::{Agent, Config, RunOptions};
use clap::Parser;
use ledger_record::{Body, EvidenceBody, EvidenceItem, Id, Status};

#[derive(Parser)]
struct Args {
    /// ledgerd HTTP base URL (127.0.0.1 only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    http: String,
    /// ledgerd gRPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    grpc: String,
    /// File holding the admin credential (ledgerd's `admin.token`).
    #[arg(long)]
    admin_token_file: PathBuf,
    /// Backlog size.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Records per upload request.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// `grpc` or `http`.
    #[arg(long, default_value = "grpc")]
    transport: String,
    /// Working directory (a fresh temporary one by default).
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn body(n: usize) -> Body {
    Body::Evidence(
        EvidenceBody::inline(vec![EvidenceItem {
            check_type: Id::new("disk_encryption").expect("valid id"),
            host: Id::new(format!("ws-{:04}", n % 10_000)).expect("valid id"),
            status: Status::Pass,
            observed_at_ms: 1_700_000_000_000 + n as u64,
            details: format!("BitLocker on C:, check {n}"),
            controls: vec!["HIPAA:164.312(a)(2)(iv)".into(), "SOC2:CC6.1".into()],
        }])
        .expect("valid body"),
    )
}

async fn tree_size(http: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let v: serde_json::Value = http
        .get(format!("{base}/healthz"))
        .send()
        .await?
        .json()
        .await?;
    v["tree_size"].as_u64().context("healthz without tree_size")
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    check_loopback(&args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile_dir()?;
            tmp.clone()
        }
    };
    let admin = std::fs::read_to_string(&args.admin_token_file)
        .with_context(|| format!("reading {}", args.admin_token_file.display()))?;
    let http = reqwest::Client::new();
    let appliance = format!("bench-{}", appliance::outbox::now_ms());
    let (log_key, token) = rt.block_on(log_key_and_token(&http, &args, &admin, &appliance))?;
    std::fs::create_dir_all(&dir)?;
    let key_file = dir.join("log.pub");
    std::fs::write(&key_file, log_key)?;
    let config = bench_config(&args, &dir, &key_file, &appliance)?;
    let mut agent = Agent::open(config)?;
    rt.block_on(agent.enrol(&token))?;
    fill_backlog(&mut agent, args.records)?;
    drain_and_check(&rt, &http, &args, &mut agent)
}

/// Refuses any target but this machine.
fn check_loopback(args: &Args) -> anyhow::Result<()> {
    for url in [&args.http, &args.grpc] {
        let u = url::Url::parse(url)?;
        if !matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) {
            bail!("{url}: only loopback targets are allowed");
        }
    }
    Ok(())
}

/// The server's log key and a fresh enrolment token for `appliance`.
async fn log_key_and_token(
    http: &reqwest::Client,
    args: &Args,
    admin: &str,
    appliance: &str,
) -> anyhow::Result<(String, String)> {
    let log_key = http
        .get(format!("{}/log-key", args.http))
        .send()
        .await?
        .text()
        .await?;
    let v: serde_json::Value = http
        .post(format!("{}/v1/admin/enrolment-tokens", args.http))
        .bearer_auth(admin.trim())
        .json(&serde_json::json!({"site_id": "bench-site", "appliance_id": appliance}))
        .send()
        .await?
        .json()
        .await?;
    let token = v["token"]
        .as_str()
        .context("no token in answer")?
        .to_owned();
    Ok((log_key, token))
}

/// The agent configuration of the benchmark appliance.
fn bench_config(
    args: &Args,
    dir: &Path,
    key_file: &Path,
    appliance: &str,
) -> anyhow::Result<Config> {
    Ok(Config::parse(&format!(
        "data_dir = {:?}\nserver_url = {:?}\ngrpc_url = {:?}\ntransport = {:?}\nlog_key_file = {:?}\nsite_id = \"bench-site\"\nappliance_id = {:?}\nbatch_size = {}\nmax_backoff_secs = 2\n",
        dir.join("agent").display().to_string(),
        args.http,
        args.grpc,
        args.transport,
        key_file.display().to_string(),
        appliance,
        args.batch
    ))?)
}

/// Signs and stores `records` evidence records, 1000 per transaction.
fn fill_backlog(agent: &mut Agent, records: usize) -> anyhow::Result<()> {
    let t = Instant::now();
    let mut n = 0;
    while n < records {
        let chunk = (records - n).min(1000);
        agent.record_many((n..n + chunk).map(body).collect())?;
        n += chunk;
    }
    let fill = t.elapsed();
    println!(
        "backlog: {} records signed and stored in {:.2} s ({:.0} records/s, one transaction per 1000)",
        records,
        fill.as_secs_f64(),
        records as f64 / fill.as_secs_f64()
    );
    Ok(())
}

/// Drains the outbox, prints the rate, and fails unless everything reached the log.
fn drain_and_check(
    rt: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    args: &Args,
    agent: &mut Agent,
) -> anyhow::Result<()> {
    let before = rt.block_on(tree_size(http, &args.http))?;
    let t = Instant::now();
    let summary = rt.block_on(appliance::run(
        agent,
        RunOptions {
            until_drained: true,
        },
        std::future::pending(),
    ))?;
    let drain = t.elapsed();
    let after = rt.block_on(tree_size(http, &args.http))?;
    let stats = agent.outbox().stats(appliance::outbox::now_ms())?;
    println!(
        "drain: {} records delivered over {} in {:.2} s = {:.0} records/s (receipts verified, {} failed attempts)",
        summary.delivered,
        args.transport,
        drain.as_secs_f64(),
        summary.delivered as f64 / drain.as_secs_f64(),
        summary.failed_attempts
    );
    println!(
        "check: outbox depth {}, server tree grew by {} (expected at least {})",
        stats.outbox_depth,
        after - before,
        args.records
    );
    if stats.outbox_depth != 0
        || summary.delivered != args.records as u64
        || after - before < args.records as u64
    {
        bail!("the backlog did not drain completely");
    }
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("agent-drain-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
