//! `ledger-publish-bench`: publication lag of the object-storage publisher at a target
//! append rate. An in-process `ledgerd` (the real intake: signatures, keys and chains
//! checked, group commit, the publisher task of `api::publish`) takes signed records at
//! `--rate` for `--seconds` while two observers run beside it: one notes when each
//! checkpoint is signed (the checkpoint `/checkpoint` serves, sampled every
//! millisecond), the other polls the bucket's `checkpoint` with its own S3 client. The
//! lag of a checkpoint is the time from its signing to its object being visible to that
//! second client. Prints lag p50/p99/max, objects/s, and this machine's single-core
//! Ed25519 verification rate as the baseline.
//!
//! The bucket comes from the standard variables (`AWS_ENDPOINT_URL`, `AWS_REGION`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`), e.g. those `scripts/ceph-rgw` writes:
//!
//! ```text
//! scripts/ceph-rgw start /dev/shm/s3 && . /dev/shm/s3/s3.env
//! cargo run --release -p ledgerd-tools --bin ledger-publish-bench -- --rate 10000 --seconds 20
//! ```
//!
//! Only loopback endpoints are accepted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use api::auth::Principal;
use api::config::{Config, PublishSettings};
use api::{AppState, Listeners};
use clap::Parser;
use ed25519_dalek::SigningKey;
use ledger_core::hash::Hash;
use ledger_record::{
    Body, ChainId, EvidenceBody, EvidenceItem, Id, KeyId, Record, Status, UnsignedRecord,
};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _};

#[derive(Parser, Debug)]
#[command(
    name = "ledger-publish-bench",
    about = "Publication lag of the S3 publisher at a target append rate"
)]
struct Args {
    /// Records appended per second.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// How long records are appended.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Appliances appending at once, each its own chain.
    #[arg(long, default_value_t = 8)]
    appliances: usize,
    /// Bucket (it must exist; `scripts/ceph-rgw` leaves `check`).
    #[arg(long, default_value = "check")]
    bucket: String,
    /// The publisher's `publish_interval_ms`.
    #[arg(long, default_value_t = 200)]
    interval_ms: u64,
    /// Publish entry bundles too.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    entry_bundles: bool,
    /// Signatures verified for the single-core Ed25519 rate.
    #[arg(long, default_value_t = 20_000)]
    verify_samples: usize,
}

/// First sightings of growing tree sizes.
type Sightings = Arc<Mutex<Vec<(u64, Instant)>>>;

fn evidence(n: u64, time_ms: u64) -> anyhow::Result<Body> {
    Ok(Body::Evidence(EvidenceBody::inline(vec![EvidenceItem {
        check_type: Id::new("disk_space")?,
        host: Id::new(format!("ws-{:02}.clinic.example", n % 10))?,
        status: [Status::Pass, Status::Warning, Status::Fail][(n % 3) as usize],
        observed_at_ms: time_ms,
        details: format!("volume /var at {}% after run {n}", 40 + n % 50),
        controls: vec!["HIPAA:164.312(b)".into()],
    }])?))
}

/// One appliance's records, signed before the run so signing costs nothing during it.
struct Chain {
    chain: ChainId,
    key: SigningKey,
    records: Vec<Vec<u8>>,
}

fn sign_chain(a: usize, count: u64, base_ms: u64) -> anyhow::Result<(Chain, Vec<Record>)> {
    let chain = ChainId::new(Id::new("site-1")?, Id::new(format!("box-{a}"))?);
    let key = SigningKey::from_bytes(&rand::random());
    let mut prev = Hash([0; 32]);
    let mut records = Vec::with_capacity(count as usize);
    let mut samples = Vec::new();
    for seq in 1..=count {
        let record = Record::sign(
            UnsignedRecord {
                site_id: chain.site_id.clone(),
                appliance_id: chain.appliance_id.clone(),
                sequence: seq,
                prev_hash: prev,
                time_ms: base_ms + seq,
                key_id: KeyId::of(&key.verifying_key()),
                body: evidence(seq, base_ms + seq)?,
            },
            &key,
        )?;
        prev = record.hash();
        records.push(record.encode());
        if samples.len() < 1000 {
            samples.push(record);
        }
    }
    Ok((
        Chain {
            chain,
            key,
            records,
        },
        samples,
    ))
}

/// Single-core Ed25519 verification rate: strict verification of record signatures, as
/// the intake checks them.
fn verify_rate(samples: &[(Record, ed25519_dalek::VerifyingKey)], n: usize) -> anyhow::Result<f64> {
    if samples.is_empty() {
        bail!("no records to measure verification with");
    }
    let start = Instant::now();
    for i in 0..n {
        let (r, k) = &samples[i % samples.len()];
        r.verify(k).context("a generated record does not verify")?;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Appends one chain's records at `rate` per second from `start`, in the batches that
/// are due each time the previous append was answered.
async fn append_paced(
    state: Arc<AppState>,
    chain: Chain,
    rate: f64,
    start: Instant,
) -> anyhow::Result<u64> {
    let who = Principal::Appliance(chain.chain.clone());
    let mut sent = 0usize;
    let total = chain.records.len();
    while sent < total {
        let due = ((start.elapsed().as_secs_f64() * rate) as usize).min(total);
        if due <= sent {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let take = (due - sent).min(1000);
        let batch = chain.records[sent..sent + take].to_vec();
        for outcome in state.intake.append(&who, batch).await? {
            if let Err(e) = outcome {
                bail!("intake refused a record: {e:?}");
            }
        }
        sent += take;
    }
    Ok(sent as u64)
}

/// Notes every new size of the checkpoint `/checkpoint` serves, every millisecond.
fn watch_signed(state: Arc<AppState>, until: Arc<std::sync::atomic::AtomicBool>) -> Sightings {
    let seen: Sightings = Arc::default();
    let out = seen.clone();
    std::thread::spawn(move || {
        let mut last = u64::MAX;
        while !until.load(std::sync::atomic::Ordering::Relaxed) {
            let size = state.anchoring.published().size;
            if size != last {
                last = size;
                out.lock().unwrap().push((size, Instant::now()));
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    });
    seen
}

/// Polls the bucket's checkpoint with a client of its own until it reaches `*goal`
/// (known once appending ends) or the time limit passes.
async fn watch_bucket(
    store: Arc<dyn ObjectStore>,
    key: ObjectPath,
    goal: Arc<std::sync::atomic::AtomicU64>,
    limit: Instant,
) -> anyhow::Result<Vec<(u64, Instant)>> {
    let mut seen: Vec<(u64, Instant)> = Vec::new();
    while Instant::now() < limit {
        let size = match store.get(&key).await {
            Ok(found) => {
                let note = found.bytes().await?;
                let text = String::from_utf8_lossy(&note);
                text.lines().nth(1).and_then(|l| l.parse::<u64>().ok())
            }
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(e).context("polling the bucket's checkpoint"),
        };
        if let Some(size) = size {
            if seen.last().is_none_or(|(s, _)| size > *s) {
                seen.push((size, Instant::now()));
            }
            if size >= goal.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(seen);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bail!("the bucket did not catch up before the time limit")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The bucket settings from the standard variables; loopback endpoints only.
fn bucket_settings(args: &Args, prefix: &str) -> anyhow::Result<PublishSettings> {
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL").context("AWS_ENDPOINT_URL is not set (source s3.env)")?;
    let host = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .unwrap_or("");
    if !(host.starts_with("127.") || host.starts_with("localhost")) {
        bail!("{endpoint}: ledger-publish-bench only targets loopback addresses");
    }
    Ok(PublishSettings {
        bucket: Some(args.bucket.clone()),
        endpoint: Some(endpoint.clone()),
        region: std::env::var("AWS_REGION").ok(),
        credentials_file: None,
        allow_http: endpoint.starts_with("http://"),
        prefix: prefix.to_string(),
        entry_bundles: args.entry_bundles,
        interval: Duration::from_millis(args.interval_ms),
    })
}

/// The observer's own client, from the same variables but built separately.
fn observer_client(settings: &PublishSettings) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(settings.bucket.clone().unwrap_or_default())
        .with_allow_http(settings.allow_http);
    if let Some(e) = &settings.endpoint {
        b = b.with_endpoint(e);
    }
    Ok(Arc::new(b.build()?))
}

/// Lag of every checkpoint the observer saw: from the first sighting of a signed size
/// at least as large (the sampler may miss a size that lived under a millisecond, which
/// makes the figure a little small, by at most that) to its sighting in the bucket.
fn lags(signed: &[(u64, Instant)], bucket: &[(u64, Instant)]) -> Vec<Duration> {
    let mut out: Vec<Duration> = bucket
        .iter()
        .filter(|(size, _)| *size > 0)
        .filter_map(|(size, at)| {
            let (_, t) = signed.iter().find(|(s, _)| s >= size)?;
            Some(at.saturating_duration_since(*t))
        })
        .collect();
    out.sort();
    out
}

async fn start_server(
    dir: &std::path::Path,
    settings: PublishSettings,
) -> anyhow::Result<Arc<AppState>> {
    let mut config = Config::for_dir(dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    config.publish = settings;
    let listeners = Listeners::bind(&config).await?;
    let state = Arc::new(tokio::task::spawn_blocking(move || AppState::open(config)).await??);
    tokio::spawn(api::run(state.clone(), listeners, std::future::pending()));
    Ok(state)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let prefix = format!("bench-{}", api::anchoring::now_ms());
    let settings = bucket_settings(&args, &prefix)?;
    let store = observer_client(&settings)?;
    let per_chain = args.rate * args.seconds / args.appliances as u64;
    let base_ms = api::anchoring::now_ms() - per_chain - 1;
    let mut chains = Vec::new();
    let mut samples = Vec::new();
    for a in 0..args.appliances {
        let (chain, some) = sign_chain(a, per_chain, base_ms)?;
        samples.extend(some.into_iter().map(|r| (r, chain.key.verifying_key())));
        chains.push(chain);
    }
    let verify = verify_rate(&samples, args.verify_samples)?;
    println!(
        "single-core Ed25519 strict verification: {verify:.0} signatures/s ({} samples)",
        args.verify_samples
    );
    let dir = std::env::temp_dir().join(&prefix);
    let state = start_server(&dir, settings.clone()).await?;
    for (a, c) in chains.iter().enumerate() {
        state
            .intake
            .enrol(
                &c.chain,
                c.key.verifying_key(),
                Id::new(format!("bench-{a}"))?,
            )
            .await?;
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let signed = watch_signed(state.clone(), stop.clone());
    let goal = Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX));
    let key = ObjectPath::parse(format!("{prefix}/checkpoint"))?;
    let limit = Instant::now() + Duration::from_secs(args.seconds + 120);
    let observer = tokio::spawn(watch_bucket(store, key, goal.clone(), limit));
    let start = Instant::now();
    let per_rate = args.rate as f64 / args.appliances as f64;
    let tasks: Vec<_> = chains
        .into_iter()
        .map(|c| tokio::spawn(append_paced(state.clone(), c, per_rate, start)))
        .collect();
    let mut appended = 0;
    for t in tasks {
        appended += t.await??;
    }
    let append_time = start.elapsed();
    let final_size = state.log.latest().size;
    goal.store(final_size, std::sync::atomic::Ordering::Relaxed);
    let bucket = observer.await??;
    let total_time = start.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    report(
        &args,
        &state,
        appended,
        append_time,
        total_time,
        &signed.lock().unwrap(),
        &bucket,
        verify,
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &Args,
    state: &AppState,
    appended: u64,
    append_time: Duration,
    total_time: Duration,
    signed: &[(u64, Instant)],
    bucket: &[(u64, Instant)],
    verify: f64,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let rate = appended as f64 / append_time.as_secs_f64();
    println!(
        "appended {appended} records in {:.2} s = {rate:.0} records/s (target {}); ratio to single-core verify rate {:.2}",
        append_time.as_secs_f64(),
        args.rate,
        rate / verify
    );
    let lag = lags(signed, bucket);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "publication lag (checkpoint signed -> checkpoint object visible to a second client), {} checkpoints seen in the bucket: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        lag.len(),
        ms(percentile(&lag, 50.0)),
        ms(percentile(&lag, 99.0)),
        ms(percentile(&lag, 100.0))
    );
    let m = &state.intake.metrics.publish;
    let objects = m.written.load(Relaxed) + m.skipped_equal.load(Relaxed);
    println!(
        "objects written {} (equal {}, conflicts {}, failures {}) in {:.2} s = {:.0} objects/s; entry bundles {}; interval {} ms",
        m.written.load(Relaxed),
        m.skipped_equal.load(Relaxed),
        m.conflicts.load(Relaxed),
        m.failures.load(Relaxed),
        total_time.as_secs_f64(),
        objects as f64 / total_time.as_secs_f64(),
        args.entry_bundles,
        args.interval_ms
    );
}
