//! `ledger-replica-bench`: receipts per second served by one core, for the primary
//! (`ledgerd serve`, RocksDB) and for a read replica (`ledgerd replica`, the bucket and
//! its warm cache) of the same log, in the same run, and their ratio.
//!
//! The bench builds a log in process (signed records through the real intake), starts
//! the real `ledgerd` on it with the publisher and waits until the bucket holds the
//! whole log, then starts `ledgerd replica` on that bucket and waits until it serves the
//! primary's checkpoint. Both servers run under `taskset -c 1`; the bench pins itself
//! (every thread) to core 0. The load is `--connections` keep-alive HTTP/1.1
//! connections asking `GET /receipt/{i}` for random entries, written and parsed by hand
//! so the client costs little next to the server. Rounds alternate primary, replica,
//! primary, replica; the figure of each server is its best round. Before measuring, the
//! replica's receipts are checked byte for byte against the primary's.
//!
//! The bucket comes from the standard variables, e.g. those `scripts/ceph-rgw` writes:
//!
//! ```text
//! scripts/ceph-rgw start /dev/shm/s3 && . /dev/shm/s3/s3.env
//! cargo run --release -p ledgerd-tools --bin ledger-replica-bench -- --ledgerd target/release/ledgerd
//! ```
//!
//! Only loopback endpoints are accepted.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use api::auth::Principal;
use api::config::Config;
use api::AppState;
use clap::Parser;
use ed25519_dalek::SigningKey;
use ledger_core::hash::Hash;
use ledger_record::{
    Body, ChainId, EvidenceBody, EvidenceItem, Id, KeyId, Record, Status, UnsignedRecord,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

#[derive(Parser, Debug)]
#[command(
    name = "ledger-replica-bench",
    about = "Receipts/s on one core: primary against read replica"
)]
struct Args {
    /// The `ledgerd` binary (a release build for figures worth quoting).
    #[arg(long)]
    ledgerd: PathBuf,
    /// Records in the log.
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    /// Concurrent keep-alive connections of the load.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds of each measured round.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Bucket (it must exist; `scripts/ceph-rgw` leaves `check`).
    #[arg(long, default_value = "check")]
    bucket: String,
    /// Core the servers are pinned to; the bench takes core 0.
    #[arg(long, default_value_t = 1)]
    server_core: usize,
}

/// A server process, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    log_key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `taskset -c CORE ledgerd ARGS` and reads its key and address from stdout.
fn spawn(args: &Args, ledgerd_args: &[String]) -> anyhow::Result<Server> {
    let mut child = Command::new("taskset")
        .args(["-c", &args.server_core.to_string()])
        .arg(&args.ledgerd)
        .args(ledgerd_args)
        .env("LEDGERD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting ledgerd under taskset")?;
    let stdout = child.stdout.take().context("ledgerd stdout")?;
    let (mut log_key, mut addr) = (String::new(), None);
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(k) = line.strip_prefix("log key: ") {
            log_key = k.to_string();
        }
        if let Some(rest) = line.strip_prefix("listening: http ") {
            addr = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    let Some(addr) = addr else {
        let _ = child.kill();
        bail!("ledgerd {ledgerd_args:?} did not start");
    };
    Ok(Server {
        child,
        addr,
        log_key,
    })
}

fn evidence(n: u64, time_ms: u64) -> anyhow::Result<Body> {
    Ok(Body::Evidence(EvidenceBody::inline(vec![EvidenceItem {
        check_type: Id::new("disk_space")?,
        host: Id::new(format!("ws-{:02}.clinic.example", n % 10))?,
        status: Status::Pass,
        observed_at_ms: time_ms,
        details: format!("volume /var at {}% after run {n}", 40 + n % 50),
        controls: vec!["HIPAA:164.312(b)".into()],
    }])?))
}

/// Fills a new log in `dir` with `records` signed records from 8 appliances.
async fn fill(dir: &Path, records: u64) -> anyhow::Result<()> {
    let config = Config::for_dir(dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = Arc::new(tokio::task::spawn_blocking(move || AppState::open(config)).await??);
    let appliances = 8u64;
    let now = api::anchoring::now_ms();
    for a in 0..appliances {
        let chain = ChainId::new(Id::new("site-1")?, Id::new(format!("box-{a}"))?);
        let key = SigningKey::from_bytes(&rand::random());
        let token = Id::new(format!("tok-{a}"))?;
        state
            .intake
            .enrol(&chain, key.verifying_key(), token)
            .await?;
        let who = Principal::Appliance(chain.clone());
        let mut prev = Hash([0; 32]);
        let per = records / appliances;
        let mut seq = 0;
        while seq < per {
            let mut batch = Vec::new();
            for _ in 0..500.min(per - seq) {
                seq += 1;
                let r = Record::sign(
                    UnsignedRecord {
                        site_id: chain.site_id.clone(),
                        appliance_id: chain.appliance_id.clone(),
                        sequence: seq,
                        prev_hash: prev,
                        time_ms: now - per + seq,
                        key_id: KeyId::of(&key.verifying_key()),
                        body: evidence(seq, now - per + seq)?,
                    },
                    &key,
                )?;
                prev = r.hash();
                batch.push(r.encode());
            }
            for outcome in state.intake.append(&who, batch).await? {
                outcome.map_err(|e| anyhow::anyhow!("append: {e}"))?;
            }
        }
    }
    state.log.close();
    Ok(())
}

/// The bucket's endpoint from the standard variables; loopback only.
fn endpoint() -> anyhow::Result<String> {
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL").context("AWS_ENDPOINT_URL is not set (source s3.env)")?;
    let host = endpoint.strip_prefix("http://").unwrap_or("");
    if !(host.starts_with("127.") || host.starts_with("localhost")) {
        bail!("{endpoint}: ledger-replica-bench only targets http:// loopback addresses");
    }
    Ok(endpoint)
}

fn primary_config(args: &Args, dir: &Path, prefix: &str) -> anyhow::Result<PathBuf> {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let text = format!(
        "data_dir = {dir:?}\nhttp_listen = \"127.0.0.1:0\"\ngrpc_listen = \"127.0.0.1:0\"\n\
         anchor_enabled = false\npublish_bucket = {:?}\npublish_endpoint = {:?}\n\
         publish_region = {region:?}\npublish_allow_http = true\npublish_prefix = {prefix:?}\n\
         publish_entry_bundles = false\npublish_interval_ms = 100\n",
        args.bucket,
        endpoint()?,
    );
    let path = dir.with_extension("toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// One GET on a keep-alive connection: the status and the body.
async fn request(
    conn: &mut TcpStream,
    buf: &mut Vec<u8>,
    path: &str,
) -> anyhow::Result<(u16, Vec<u8>)> {
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").as_bytes())
        .await?;
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 16384];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head.get(9..12).unwrap_or("0").parse().unwrap_or(0);
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap_or(0))
        .context("no content-length")?;
    while buf.len() < head_end + len {
        let mut chunk = [0u8; 16384];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    Ok((status, body))
}

/// Receipts/s of the server at `addr` for `seconds`, over `connections` connections.
async fn measure(addr: &str, size: u64, connections: usize, seconds: u64) -> anyhow::Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (stop, done, addr) = (stop.clone(), done.clone(), addr.to_string());
        tasks.push(tokio::spawn(async move {
            let mut conn = TcpStream::connect(&addr).await?;
            conn.set_nodelay(true)?;
            let mut buf = Vec::new();
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ c as u64;
            while !stop.load(Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let (status, _) =
                    request(&mut conn, &mut buf, &format!("/receipt/{}", x % size)).await?;
                if status != 200 {
                    bail!("{addr}: status {status}");
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let n = done.load(Ordering::Relaxed);
    let secs = start.elapsed().as_secs_f64();
    for t in tasks {
        t.await??;
    }
    Ok(n as f64 / secs)
}

async fn get_text(addr: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let mut conn = TcpStream::connect(addr).await?;
    let (status, body) = request(&mut conn, &mut Vec::new(), path).await?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Polls `path` on `addr` until `done` says yes, for at most `limit`.
async fn wait_until(
    addr: &str,
    path: &str,
    limit: Duration,
    done: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    let start = Instant::now();
    loop {
        if let Ok((200, body)) = get_text(addr, path).await {
            if done(&body) {
                return Ok(body);
            }
        }
        if start.elapsed() > limit {
            bail!("{addr}{path}: not ready after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Every thread of this process (the runtime's start after this) on core 0.
    let pinned = Command::new("taskset")
        .args(["-a", "-cp", "0", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()?;
    if !pinned.success() {
        bail!("taskset could not pin the bench to core 0");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let prefix = format!("replica-bench-{}", api::anchoring::now_ms());
    let dir = std::env::temp_dir().join(&prefix);
    let t = Instant::now();
    fill(&dir, args.records).await?;
    println!(
        "log of {} records built in {:.1} s",
        args.records,
        t.elapsed().as_secs_f64()
    );
    let config = primary_config(&args, &dir, &prefix)?;
    let primary = spawn(
        &args,
        &[
            "--config".into(),
            config.display().to_string(),
            "serve".into(),
        ],
    )?;
    let checkpoint = wait_until(&primary.addr, "/healthz", Duration::from_secs(600), |h| {
        let v: serde_json::Value = serde_json::from_str(h).unwrap_or_default();
        v["publish"]["published_size"] == v["tree_size"] && v["tree_size"].as_u64() > Some(0)
    })
    .await
    .and(Ok(()));
    checkpoint?;
    let note = get_text(&primary.addr, "/checkpoint").await?.1;
    let size: u64 = note.lines().nth(1).context("checkpoint size")?.parse()?;
    println!(
        "published to the bucket after {:.1} s: size {size}",
        t.elapsed().as_secs_f64()
    );
    let replica_args: Vec<String> = [
        "replica",
        "--bucket",
        &args.bucket,
        "--endpoint",
        &endpoint()?,
        "--prefix",
        &prefix,
        "--allow-http",
        "--log-key",
        &primary.log_key,
        "--http-listen",
        "127.0.0.1:0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let replica = spawn(&args, &replica_args)?;
    wait_until(
        &replica.addr,
        "/checkpoint",
        Duration::from_secs(120),
        |b| b == note,
    )
    .await?;
    compare_and_warm(&primary.addr, &replica.addr, size).await?;
    let mut best = [0f64; 2];
    for round in 0..4 {
        let (which, addr) = if round % 2 == 0 {
            (0, &primary.addr)
        } else {
            (1, &replica.addr)
        };
        let rate = measure(addr, size, args.connections, args.seconds).await?;
        println!(
            "round {}: {} {rate:.0} receipts/s",
            round + 1,
            ["primary", "replica"][which]
        );
        best[which] = best[which].max(rate);
    }
    println!(
        "receipts/s on one core (best round, {} connections, tree size {size}): primary {:.0}, replica {:.0}; replica/primary = {:.2} (target >= 0.8)",
        args.connections,
        best[0],
        best[1],
        best[1] / best[0]
    );
    drop((replica, primary));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_file(config).ok();
    Ok(())
}

/// Receipts of a sample equal byte for byte; then every level-0 tile is read once
/// through the replica (a warm cache).
async fn compare_and_warm(primary: &str, replica: &str, size: u64) -> anyhow::Result<()> {
    for i in (0..size).step_by((size / 50).max(1) as usize) {
        let a = get_text(primary, &format!("/receipt/{i}?size={size}")).await?;
        let b = get_text(replica, &format!("/receipt/{i}")).await?;
        if a != b || a.0 != 200 {
            bail!("receipt {i}: primary {a:?}, replica {b:?}");
        }
    }
    let t = Instant::now();
    for i in (0..size).step_by(256) {
        get_text(replica, &format!("/receipt/{i}")).await?;
    }
    get_text(replica, &format!("/receipt/{}", size - 1)).await?;
    println!(
        "replica receipts equal the primary's; cache warmed in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
