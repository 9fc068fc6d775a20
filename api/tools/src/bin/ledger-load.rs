//! `ledger-load`: drives a running `ledgerd` with N simulated appliances, each with its
//! own Ed25519 key, over gRPC streaming and HTTP, and prints in one run the records per
//! second, the p50/p99/max latency from submit to receipt, and this machine's
//! single-core Ed25519 verification rate measured in the same run, with the ratio.
//!
//! Records are signed before the timed phase so the generator's own signing does not
//! compete with the server for the machine's cores; the server verifies every one.
//! Only loopback addresses are accepted as targets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use api::grpc::pb;
use clap::{Parser, ValueEnum};
use ed25519_dalek::SigningKey;
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::note::NoteVerifier;
use ledger_core::receipt::Receipt;
use ledger_record::{
    Body, ChainId, EvidenceBody, EvidenceItem, Id, KeyId, Record, Status, UnsignedRecord,
};
use serde_json::{json, Value};

/// The requests of one appliance: its credential and, per message, the records it sends.
type PlannedRequest = (String, Vec<Vec<Vec<u8>>>);

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum Mode {
    Grpc,
    Http,
    Both,
}

#[derive(Parser, Debug)]
#[command(
    name = "ledger-load",
    about = "Load generator for ledgerd (loopback only)"
)]
struct Args {
    /// ledgerd HTTP base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    http: String,
    /// ledgerd gRPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    grpc: String,
    /// File holding the admin credential (ledgerd writes `<data_dir>/admin.token`).
    #[arg(long, default_value = "./data/admin.token")]
    admin_token_file: std::path::PathBuf,
    /// Simulated appliances (each enrolled with its own key).
    #[arg(long, default_value_t = 16)]
    appliances: usize,
    /// Records per appliance and per protocol.
    #[arg(long, default_value_t = 2000)]
    records: usize,
    /// Records per gRPC message or HTTP batch request.
    #[arg(long, default_value_t = 25)]
    batch: usize,
    /// gRPC messages of one stream sent and not yet answered (a client-side window, so
    /// latency measures the server and not a queue inside the generator).
    #[arg(long, default_value_t = 4)]
    window: usize,
    /// Target total records per second (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    mode: Mode,
    /// Signatures verified for the single-core Ed25519 rate.
    #[arg(long, default_value_t = 20_000)]
    verify_samples: usize,
    /// Site id for the simulated appliances (a fresh run needs fresh appliance ids).
    #[arg(long, default_value = "load-site")]
    site: String,
}

struct Appliance {
    chain: ChainId,
    key: SigningKey,
    credential: String,
    seq: u64,
    prev: Hash,
}

impl Appliance {
    fn sign_next(&mut self, n: u64) -> anyhow::Result<Record> {
        let item = EvidenceItem {
            check_type: Id::new("disk_encryption")?,
            host: Id::new(format!("host-{}", n % 64))?,
            status: Status::Pass,
            observed_at_ms: now_ms(),
            details: "LUKS2 volume unlocked by TPM2, cipher aes-xts-plain64".into(),
            controls: vec!["HIPAA:164.312(a)(2)(iv)".into(), "SOC2:CC6.1".into()],
        };
        let record = Record::sign(
            UnsignedRecord {
                site_id: self.chain.site_id.clone(),
                appliance_id: self.chain.appliance_id.clone(),
                sequence: self.seq + 1,
                prev_hash: self.prev,
                time_ms: now_ms(),
                key_id: KeyId::of(&self.key.verifying_key()),
                body: Body::Evidence(EvidenceBody::inline(vec![item])?),
            },
            &self.key,
        )?;
        self.seq += 1;
        self.prev = record.hash();
        Ok(record)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn check_loopback(url: &str) -> anyhow::Result<()> {
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap_or("");
    if !(host == "localhost" || host.starts_with("127.") || host == "[") {
        bail!("{url}: ledger-load only targets loopback addresses");
    }
    Ok(())
}

/// Single-core Ed25519 verification rate, strict single verification of record
/// signatures exactly as the server checks them.
fn verify_rate(
    records: &[(Record, ed25519_dalek::VerifyingKey)],
    samples: usize,
) -> anyhow::Result<f64> {
    if records.is_empty() {
        bail!("no records to measure verification with");
    }
    let start = Instant::now();
    for i in 0..samples {
        let (r, k) = &records[i % records.len()];
        r.verify(k).context("a generated record does not verify")?;
    }
    Ok(samples as f64 / start.elapsed().as_secs_f64())
}

struct RunResult {
    records: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    checked: Vec<(Vec<u8>, String)>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What one stream or request loop measured: a latency per accepted record, and for
/// each message its first record's bytes with the receipt the server returned.
type StreamOutcome = (Vec<Duration>, Vec<(Vec<u8>, String)>);

/// Joins the per-appliance tasks started at `start` into one result.
async fn collect(
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<StreamOutcome>>>,
    start: Instant,
    capacity: usize,
) -> anyhow::Result<RunResult> {
    let mut latencies = Vec::with_capacity(capacity);
    let mut checked = Vec::new();
    for t in tasks {
        let (l, c) = t.await??;
        latencies.extend(l);
        checked.extend(c);
    }
    Ok(RunResult {
        records: latencies.len(),
        elapsed: start.elapsed(),
        latencies,
        checked,
    })
}

/// The pause between messages of one of `streams` streams so that all streams together
/// send `--rate` records/s (none when the rate is unlimited).
fn pacing(args: &Args, streams: usize) -> Option<Duration> {
    (args.rate > 0)
        .then(|| Duration::from_secs_f64(args.batch as f64 * streams as f64 / args.rate as f64))
}

async fn run_grpc(args: &Args, plan: Vec<PlannedRequest>) -> anyhow::Result<RunResult> {
    let total: usize = plan
        .iter()
        .map(|(_, m)| m.iter().map(Vec::len).sum::<usize>())
        .sum();
    // Each stream paces its messages so that all streams together send `rate` records/s.
    let interval = pacing(args, plan.len().max(1));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (credential, messages) in plan {
        let url = args.grpc.clone();
        let window = args.window.max(1);
        tasks.push(tokio::spawn(grpc_stream(
            url, credential, messages, interval, window,
        )));
    }
    collect(tasks, start, total).await
}

/// The send times of messages not answered yet, oldest first (answers come in order).
type SentAt = Arc<std::sync::Mutex<std::collections::VecDeque<Instant>>>;

/// One appliance's gRPC append stream: sends its messages with at most `window`
/// unanswered, and checks every answer.
async fn grpc_stream(
    url: String,
    credential: String,
    messages: Vec<Vec<Vec<u8>>>,
    interval: Option<Duration>,
    window: usize,
) -> anyhow::Result<StreamOutcome> {
    let mut client = pb::ledger_client::LedgerClient::connect(url)
        .await?
        .max_decoding_message_size(64 << 20);
    let window = Arc::new(tokio::sync::Semaphore::new(window));
    let sent_at = SentAt::default();
    let count: Vec<usize> = messages.iter().map(Vec::len).collect();
    let firsts: Vec<Vec<u8>> = messages.iter().filter_map(|m| m.first().cloned()).collect();
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::AppendRequest>(256);
    let sender = tokio::spawn(send_paced(
        messages,
        interval,
        window.clone(),
        sent_at.clone(),
        tx,
    ));
    let mut req = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    req.metadata_mut()
        .insert("authorization", format!("Bearer {credential}").parse()?);
    let answers = client.append_pipeline(req).await?.into_inner();
    let outcome = check_answers(answers, &sent_at, &window, &count, &firsts).await?;
    sender.await?;
    Ok(outcome)
}

/// Feeds one stream: waits for the pace and for room in the window, notes the send
/// time, sends.
async fn send_paced(
    messages: Vec<Vec<Vec<u8>>>,
    interval: Option<Duration>,
    window: Arc<tokio::sync::Semaphore>,
    sent_at: SentAt,
    tx: tokio::sync::mpsc::Sender<pb::AppendRequest>,
) {
    let mut ticker = interval.map(|i| {
        let mut t = tokio::time::interval(i);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        t
    });
    for m in messages {
        if let Some(t) = ticker.as_mut() {
            t.tick().await;
        }
        match window.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => break,
        }
        sent_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Instant::now());
        if tx.send(pb::AppendRequest { records: m }).await.is_err() {
            break;
        }
    }
}

/// Reads one stream's answers: every record must be appended; the latency of a message
/// runs from its send time to its answer, and its first receipt is kept for checking.
async fn check_answers(
    mut answers: tonic::Streaming<pb::AppendResponse>,
    sent_at: &SentAt,
    window: &tokio::sync::Semaphore,
    count: &[usize],
    firsts: &[Vec<u8>],
) -> anyhow::Result<StreamOutcome> {
    let mut latencies = Vec::new();
    let mut checked = Vec::new();
    let mut n = 0usize;
    while let Some(resp) = answers.message().await? {
        let sent = sent_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
            .unwrap_or_else(Instant::now);
        let latency = sent.elapsed();
        window.add_permits(1);
        if resp.results.len() != count.get(n).copied().unwrap_or(0) {
            bail!("answer {n} has {} results", resp.results.len());
        }
        for (k, res) in resp.results.iter().enumerate() {
            match &res.result {
                Some(pb::append_result::Result::Appended(a)) => {
                    latencies.push(latency);
                    if k == 0 {
                        if let Some(first) = firsts.get(n) {
                            checked.push((first.clone(), a.receipt.clone()));
                        }
                    }
                }
                Some(pb::append_result::Result::Error(e)) => {
                    bail!("record refused: {} {}", e.code, e.message)
                }
                None => bail!("empty result"),
            }
        }
        n += 1;
    }
    Ok((latencies, checked))
}

async fn run_http(args: &Args, plan: Vec<PlannedRequest>) -> anyhow::Result<RunResult> {
    let client = reqwest::Client::new();
    let interval = pacing(args, plan.len().max(1));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (credential, messages) in plan {
        let client = client.clone();
        let url = format!("{}/v1/records/batch", args.http);
        tasks.push(tokio::spawn(async move {
            let mut ticker = interval.map(tokio::time::interval);
            let mut latencies = Vec::new();
            let mut checked = Vec::new();
            for m in messages {
                if let Some(t) = ticker.as_mut() {
                    t.tick().await;
                }
                let body = ledger_record::encode_batch_body(&m);
                let mut backoff = Duration::from_millis(5);
                let sent = Instant::now();
                let v: Value = loop {
                    let r = client
                        .post(&url)
                        .bearer_auth(&credential)
                        .body(body.clone())
                        .send()
                        .await?;
                    if r.status().as_u16() == 503 {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_millis(500));
                        continue;
                    }
                    if !r.status().is_success() {
                        bail!(
                            "HTTP {}: {}",
                            r.status(),
                            r.text().await.unwrap_or_default()
                        );
                    }
                    break r.json().await?;
                };
                let latency = sent.elapsed();
                let results = v["results"].as_array().cloned().unwrap_or_default();
                if results.len() != m.len() {
                    bail!("{} results for {} records", results.len(), m.len());
                }
                for (k, res) in results.iter().enumerate() {
                    let Some(receipt) = res["ok"]["receipt"].as_str() else {
                        bail!("record refused: {res}");
                    };
                    latencies.push(latency);
                    if k == 0 {
                        checked.push((m[0].clone(), receipt.to_string()));
                    }
                }
            }
            Ok::<_, anyhow::Error>((latencies, checked))
        }));
    }
    collect(tasks, start, 0).await
}

fn report(
    name: &str,
    r: &mut RunResult,
    verify_rate: f64,
    log: &NoteVerifier,
) -> anyhow::Result<()> {
    r.latencies.sort();
    // Every answer was checked for shape; one receipt per message is verified fully.
    for (bytes, receipt) in &r.checked {
        Receipt::parse(receipt.as_bytes())
            .context("receipt does not parse")?
            .verify(&leaf_hash(bytes), log)
            .context("receipt does not verify")?;
    }
    let rate = r.records as f64 / r.elapsed.as_secs_f64();
    println!(
        "{name}: {} records in {:.2} s = {:.0} records/s; submit-to-receipt latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; ratio to single-core verify rate {:.2}; {} receipts verified",
        r.records,
        r.elapsed.as_secs_f64(),
        rate,
        percentile(&r.latencies, 50.0).as_secs_f64() * 1e3,
        percentile(&r.latencies, 99.0).as_secs_f64() * 1e3,
        r.latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        rate / verify_rate,
        r.checked.len(),
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    check_loopback(&args.http)?;
    check_loopback(&args.grpc)?;
    if args.batch == 0 || args.appliances == 0 {
        bail!("--batch and --appliances must be at least 1");
    }
    let admin = std::fs::read_to_string(&args.admin_token_file)
        .with_context(|| format!("reading {}", args.admin_token_file.display()))?
        .trim()
        .to_string();
    let http = reqwest::Client::new();
    let log_key = http
        .get(format!("{}/log-key", args.http))
        .send()
        .await?
        .text()
        .await?;
    let log = NoteVerifier::parse(log_key.trim()).context("log key")?;
    let mut appliances = enrol_appliances(&args, &http, &admin).await?;

    let protocols: Vec<Mode> = match args.mode {
        Mode::Both => vec![Mode::Grpc, Mode::Http],
        m => vec![m],
    };
    let (plans, samples) = sign_plans(&args, &mut appliances, protocols.len())?;
    let verify = verify_rate(&samples, args.verify_samples)?;
    println!(
        "single-core Ed25519 strict verification: {verify:.0} signatures/s ({} samples)",
        args.verify_samples
    );
    for (protocol, plan) in protocols.into_iter().zip(plans) {
        let mut result = match protocol {
            Mode::Grpc => run_grpc(&args, plan).await?,
            _ => run_http(&args, plan).await?,
        };
        let name = match protocol {
            Mode::Grpc => "grpc-stream",
            _ => "http-batch",
        };
        report(name, &mut result, verify, &log)?;
    }
    // The verification rate again after the load, to show the machine did not change.
    let verify_after = verify_rate(&samples, args.verify_samples)?;
    println!(
        "single-core Ed25519 strict verification after the run: {verify_after:.0} signatures/s"
    );
    Ok(())
}

/// Enrols `--appliances` appliances, each with a new key. A per-run suffix of the
/// appliance ids keeps re-runs against one server apart.
async fn enrol_appliances(
    args: &Args,
    http: &reqwest::Client,
    admin: &str,
) -> anyhow::Result<Vec<Appliance>> {
    let run_id = format!("{:x}", now_ms());
    let mut appliances = Vec::new();
    for i in 0..args.appliances {
        let appliance_id = format!("load-{run_id}-{i}");
        let token: Value = http
            .post(format!("{}/v1/admin/enrolment-tokens", args.http))
            .bearer_auth(admin)
            .json(&json!({ "site_id": args.site, "appliance_id": appliance_id }))
            .send()
            .await?
            .json()
            .await?;
        let token = token["token"]
            .as_str()
            .context("no enrolment token")?
            .to_string();
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let enrolled: Value = http
            .post(format!("{}/v1/enrol", args.http))
            .json(&json!({ "token": token, "public_key": hex::encode(key.verifying_key().as_bytes()) }))
            .send()
            .await?
            .json()
            .await?;
        let credential = enrolled["credential"]
            .as_str()
            .with_context(|| format!("enrolment failed: {enrolled}"))?
            .to_string();
        appliances.push(Appliance {
            chain: ChainId::new(Id::new(args.site.clone())?, Id::new(appliance_id)?),
            key,
            credential,
            seq: 0,
            prev: Hash([0; 32]),
        });
    }
    Ok(appliances)
}

/// Records signed for the verification-rate measurement, with the key that verifies each.
type Samples = Vec<(Record, ed25519_dalek::VerifyingKey)>;

/// Signs everything up front, so the generator's signing does not compete with the
/// server during the timed phase: one plan per protocol run, each continuing every
/// appliance's chain, plus up to 4096 sample records for the verification rate.
fn sign_plans(
    args: &Args,
    appliances: &mut [Appliance],
    runs: usize,
) -> anyhow::Result<(Vec<Vec<PlannedRequest>>, Samples)> {
    let mut plans: Vec<Vec<PlannedRequest>> = Vec::new();
    let mut samples = Vec::new();
    for _ in 0..runs {
        let mut plan = Vec::new();
        for a in appliances.iter_mut() {
            let mut messages = Vec::new();
            let mut current = Vec::with_capacity(args.batch);
            for n in 0..args.records {
                let r = a.sign_next(n as u64)?;
                if samples.len() < 4096 {
                    samples.push((r.clone(), a.key.verifying_key()));
                }
                current.push(r.encode());
                if current.len() == args.batch {
                    messages.push(std::mem::take(&mut current));
                }
            }
            if !current.is_empty() {
                messages.push(current);
            }
            plan.push((a.credential.clone(), messages));
        }
        plans.push(plan);
    }
    Ok((plans, samples))
}
