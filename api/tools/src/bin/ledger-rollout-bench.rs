//! `ledger-rollout-bench`: what the rollout engine adds to intake, and how soon it takes
//! a stage decision, for a simulated fleet (docs/UPDATES.md "Measured").
//!
//! An in-process `AppState` (the real intake, sequencer, RocksDB log and rollout task)
//! with `--appliances` enrolled appliances and one logged release. Then, with every
//! record signed by its appliance beforehand and sent through `Intake::append` by
//! `--workers` concurrent senders, one call per appliance of `--steps` records:
//! 1. the baseline: `--steps` evidence records per appliance, no rollout open;
//! 2. a three-stage rollout (5 → 25 → 100%, soak 0): each stage's offered appliances
//!    report `--steps` update steps ending in `succeeded`, and the time from the append
//!    answer of the stage's last report to the engine's stage-advance (or completion)
//!    record is measured.
//!
//! Printed: this machine's single-core Ed25519 verification rate, records/s of both
//! phases as ratios to it, the rollout phase against the baseline (the engine's share
//! of intake cost) and each stage decision's delay.
//!
//! ```text
//! cargo run --release -p ledgerd-tools --bin ledger-rollout-bench -- --appliances 10000
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use api::auth::Principal;
use api::config::Config;
use api::rollout::Status;
use clap::Parser;
use ed25519_dalek::SigningKey;
use ledger_core::hash::Hash;
use ledger_record::{
    Body, ChainId, Deadlines, EvidenceBody, EvidenceItem, Id, KeyId, Record, ReleaseStatement,
    RolloutPlan, SignedRelease, Status as CheckStatus, UnsignedRecord, UpdateBody, UpdateState,
    Version,
};

#[derive(Parser, Debug)]
#[command(
    name = "ledger-rollout-bench",
    about = "Rollout engine cost and stage-decision delay"
)]
struct Args {
    /// Appliances in the fleet (one site).
    #[arg(long, default_value_t = 10_000)]
    appliances: usize,
    /// Records each appliance sends per phase (the update steps: acknowledged … succeeded).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Concurrent senders.
    #[arg(long, default_value_t = 64)]
    workers: usize,
    /// Data directory (default: a new temporary one, removed at the end).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Signatures verified to measure the Ed25519 rate.
    #[arg(long, default_value_t = 20_000)]
    verify_samples: usize,
}

const SITE: &str = "fleet";
const STEPS: [UpdateState; 9] = [
    UpdateState::Acknowledged,
    UpdateState::Downloading,
    UpdateState::Downloaded,
    UpdateState::Verified,
    UpdateState::Applying,
    UpdateState::Applied,
    UpdateState::Rebooting,
    UpdateState::HealthGate,
    UpdateState::HealthGate,
];

struct Appliance {
    chain: ChainId,
    key: SigningKey,
    sequence: u64,
    prev: Hash,
}

impl Appliance {
    fn sign(&mut self, body: Body) -> anyhow::Result<Record> {
        self.sequence += 1;
        let record = Record::sign(
            UnsignedRecord {
                site_id: self.chain.site_id.clone(),
                appliance_id: self.chain.appliance_id.clone(),
                sequence: self.sequence,
                prev_hash: self.prev,
                time_ms: api::clock::now_ms(),
                key_id: KeyId::of(&self.key.verifying_key()),
                body,
            },
            &self.key,
        )?;
        self.prev = record.hash();
        Ok(record)
    }

    fn evidence(&mut self, n: usize) -> anyhow::Result<Record> {
        self.sign(Body::Evidence(EvidenceBody::inline(vec![EvidenceItem {
            check_type: Id::new("disk_space")?,
            host: Id::new("ws-01.clinic.example")?,
            status: CheckStatus::Pass,
            observed_at_ms: api::clock::now_ms(),
            details: format!("volume /var at {}%", 40 + n % 50),
            controls: vec!["HIPAA:164.312(b)".into()],
        }])?))
    }

    /// The update steps of one appliance, ending in `succeeded`.
    fn update_steps(
        &mut self,
        rollout: &Id,
        release: Hash,
        steps: usize,
    ) -> anyhow::Result<Vec<Record>> {
        let mut out = Vec::with_capacity(steps);
        for i in 0..steps {
            let state = if i + 1 == steps {
                UpdateState::Succeeded
            } else {
                STEPS[i % STEPS.len()]
            };
            out.push(self.sign(Body::Update(UpdateBody {
                rollout_id: rollout.clone(),
                release_hash: release,
                state,
                reason: String::new(),
                detail: i as u64,
            }))?);
        }
        Ok(out)
    }
}

/// Sends each appliance's records in one intake call, `workers` at a time; returns the
/// time taken and the instant the last call was answered.
async fn send(
    state: &Arc<api::AppState>,
    batches: Vec<(ChainId, Vec<Vec<u8>>)>,
    workers: usize,
) -> anyhow::Result<(Duration, Instant)> {
    let started = Instant::now();
    let queue = Arc::new(std::sync::Mutex::new(batches));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (queue, state) = (queue.clone(), state.clone());
        tasks.push(tokio::spawn(async move {
            let mut last = Instant::now();
            loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let Some((chain, raw)) = next else {
                    return Ok::<Instant, anyhow::Error>(last);
                };
                let outcomes = state
                    .intake
                    .append(&Principal::Appliance(chain.clone()), raw)
                    .await?;
                for o in outcomes {
                    o.with_context(|| format!("a record of {chain} was refused"))?;
                }
                last = Instant::now();
            }
        }));
    }
    let mut last = started;
    for t in tasks {
        last = last.max(t.await??);
    }
    Ok((started.elapsed(), last))
}

fn verify_rate(samples: &[(Record, ed25519_dalek::VerifyingKey)], n: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    for i in 0..n {
        let (r, k) = &samples[i % samples.len()];
        r.verify(k).context("a signed record does not verify")?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

async fn setup(state: &Arc<api::AppState>, n: usize) -> anyhow::Result<(Vec<Appliance>, Hash)> {
    let started = Instant::now();
    let mut appliances = Vec::with_capacity(n);
    for i in 0..n {
        let chain = ChainId::new(Id::new(SITE)?, Id::new(format!("box-{i:05}"))?);
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        state
            .intake
            .enrol(&chain, key.verifying_key(), Id::new(format!("bench-{i}"))?)
            .await
            .with_context(|| format!("enrolling {chain}"))?;
        appliances.push(Appliance {
            chain,
            key,
            sequence: 0,
            prev: Hash([0; 32]),
        });
    }
    println!(
        "enrolled {n} appliances in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let team = SigningKey::generate(&mut rand::rngs::OsRng);
    state
        .intake
        .enrol_release_key(Id::new("team")?, team.verifying_key())
        .await?;
    let statement = ReleaseStatement {
        version: Version::parse("24.11.2").map_err(anyhow::Error::msg)?,
        channel: Id::new("stable")?,
        artifact_sha256: Hash([0x42; 32]),
        artifact_size: 700_000_000,
        urls: vec!["https://updates.example/appliance.img".into()],
        min_version: Version::parse("24.5").map_err(anyhow::Error::msg)?,
        notes: String::new(),
        key_id: KeyId::of(&team.verifying_key()),
    };
    let signed = SignedRelease::sign(statement, &team)?;
    state.intake.log_release(&signed.encode()).await?;
    let history = state.intake.releases();
    let release = history
        .releases()
        .last()
        .context("the release is not logged")?;
    Ok((appliances, release.record_hash))
}

fn plan(release: Hash) -> anyhow::Result<RolloutPlan> {
    let hour = 3_600_000;
    Ok(RolloutPlan {
        release_hash: release,
        sites: vec![Id::new(SITE)?],
        appliances: Vec::new(),
        stages: vec![5, 25, 100],
        success_pct: 95,
        failure_pct: 5,
        soak_ms: 0,
        deadlines: Deadlines {
            offered_ms: hour,
            downloading_ms: hour,
            applying_ms: hour,
            rebooting_ms: hour,
            deferred_ms: hour,
        },
    })
}

/// Polls until rollout `id` leaves stage `stage` (or completes); the instant it did.
async fn wait_decision(state: &api::AppState, id: &Id, stage: usize) -> anyhow::Result<Instant> {
    let started = Instant::now();
    loop {
        let now = state
            .rollouts
            .read(|e| e.rollout(id).map(|r| (r.stage, r.status.clone())))
            .await;
        match now {
            Some((s, _)) if s > stage => return Ok(Instant::now()),
            Some((_, Status::Completed)) => return Ok(Instant::now()),
            Some((_, Status::Halted { reason })) => bail!("the rollout halted: {reason}"),
            _ => {}
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("no decision for stage {} within 60 s", stage + 1);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn rollout_phase(
    state: &Arc<api::AppState>,
    appliances: &mut [Appliance],
    release: Hash,
    args: &Args,
) -> anyhow::Result<(usize, Duration)> {
    let id = Id::new("bench")?;
    state
        .rollouts
        .open_rollout(id.clone(), plan(release)?)
        .await?;
    let (mut records, mut busy) = (0, Duration::ZERO);
    for stage in 0..3 {
        let offered: std::collections::HashSet<ChainId> = state
            .rollouts
            .read(|e| {
                e.rollout(&id).map_or_else(Default::default, |r| {
                    r.offered()
                        .filter(|(_, m)| !m.state.is_terminal())
                        .map(|(c, _)| c.clone())
                        .collect()
                })
            })
            .await;
        let mut batches = Vec::new();
        for a in appliances.iter_mut().filter(|a| offered.contains(&a.chain)) {
            let steps = a.update_steps(&id, release, args.steps)?;
            batches.push((a.chain.clone(), steps.iter().map(Record::encode).collect()));
        }
        let count = batches.len() * args.steps;
        let (took, last) = send(state, batches, args.workers).await?;
        let decided = wait_decision(state, &id, stage).await?;
        println!(
            "stage {}: {} appliances, {count} update records in {:.2} s ({:.0} records/s); decision {:.1} ms after the stage's last report was answered",
            stage + 1,
            offered.len(),
            took.as_secs_f64(),
            count as f64 / took.as_secs_f64(),
            decided.saturating_duration_since(last).as_secs_f64() * 1000.0
        );
        records += count;
        busy += took;
    }
    Ok((records, busy))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let temp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().join("data"));
    let config = Config::for_dir(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = Arc::new(tokio::task::spawn_blocking(move || api::AppState::open(config)).await??);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let feed = state
        .rollout_feed
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .context("the rollout feed was taken")?;
    let task = tokio::spawn(api::rollout::run(state.rollouts.clone(), feed, stop_rx));
    let (mut appliances, release) = setup(&state, args.appliances).await?;

    let mut batches = Vec::new();
    let mut samples = Vec::new();
    for a in appliances.iter_mut() {
        let mut raw = Vec::new();
        for n in 0..args.steps {
            let r = a.evidence(n)?;
            if samples.len() < 2000 {
                samples.push((r.clone(), a.key.verifying_key()));
            }
            raw.push(r.encode());
        }
        batches.push((a.chain.clone(), raw));
    }
    let verify = verify_rate(&samples, args.verify_samples)?;
    println!("Ed25519 strict verification on one core: {verify:.0}/s");
    let baseline_records = batches.len() * args.steps;
    let (took, _) = send(&state, batches, args.workers).await?;
    let baseline = baseline_records as f64 / took.as_secs_f64();
    println!(
        "baseline: {baseline_records} evidence records in {:.2} s: {baseline:.0} records/s ({:.2} × the verification rate)",
        took.as_secs_f64(),
        baseline / verify
    );
    let (records, busy) = rollout_phase(&state, &mut appliances, release, &args).await?;
    let rate = records as f64 / busy.as_secs_f64();
    println!(
        "rollout: {records} update records in {:.2} s of sending: {rate:.0} records/s ({:.2} × the verification rate); {:.1}% below the baseline",
        busy.as_secs_f64(),
        rate / verify,
        (1.0 - rate / baseline) * 100.0
    );
    let _ = stop_tx.send(true);
    let _ = task.await;
    Ok(())
}
