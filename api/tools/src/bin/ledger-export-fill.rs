//! `ledger-export-fill`: fills a data directory with signed records of one site through
//! the server's real intake (an in-process `AppState`: enrolment by the operator, then
//! every record checked by `Intake::append` — signature, key, chain — and sequenced), so
//! that `ledgerd export` and `ledger-verify package` can be measured on it with
//! `/usr/bin/time -v` (docs/PERFORMANCE.md, "Streaming export at 1M records").
//!
//! ```text
//! cargo run --release -p ledgerd-tools --bin ledger-export-fill -- --dir /tmp/export-1m --records 1000000
//! ledgerd --data-dir /tmp/export-1m export --sites site-1 --out /tmp/pkg
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use api::auth::Principal;
use api::config::Config;
use clap::Parser;
use ed25519_dalek::SigningKey;
use ledger_core::hash::Hash;
use ledger_record::{
    Body, ChainId, EvidenceBody, EvidenceItem, HealingBody, Id, KeyId, Outcome, Record, Status,
    Tier, UnsignedRecord,
};

#[derive(Parser, Debug)]
#[command(
    name = "ledger-export-fill",
    about = "Fill a data directory for export measurements"
)]
struct Args {
    /// Data directory to create or extend.
    #[arg(long)]
    dir: PathBuf,
    /// Appliance records to add (enrolments come on top).
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Appliances of the site, each with its own chain.
    #[arg(long, default_value_t = 20)]
    appliances: usize,
    #[arg(long, default_value = "site-1")]
    site: String,
    /// Records per intake call.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Make every Nth record a healing record (0: evidence only), so that incident,
    /// pattern and search views have a realistic mix to page through.
    #[arg(long, default_value_t = 0)]
    healing_every: u64,
    /// Spread the records' times evenly over this many days before now (0: one
    /// millisecond apart, ending now), so daily charts have days to show.
    #[arg(long, default_value_t = 0)]
    spread_days: u64,
}

/// A healing record: incidents of 30 patterns, tiers and outcomes in a fixed mix.
fn healing(n: u64, time_ms: u64) -> anyhow::Result<Body> {
    let tier = [Tier::L1, Tier::L1, Tier::L2, Tier::L3][(n % 4) as usize];
    let outcome = [
        Outcome::Success,
        Outcome::Success,
        Outcome::Failure,
        Outcome::Escalated,
    ][((n / 4) % 4) as usize];
    Ok(Body::Healing(HealingBody {
        incident_id: Id::new(format!("inc-{n}"))?,
        check_type: Id::new(["disk_space", "backup", "firewall"][(n % 3) as usize])?,
        pattern_signature: format!("pattern-{}", n % 30),
        tier,
        runbook_id: Id::new(format!("rb-{}", n % 30))?,
        action: "restart service".into(),
        outcome,
        started_at_ms: time_ms.saturating_sub(60_000 + (n % 600) * 1000),
        ended_at_ms: time_ms,
        state_before: "failing".into(),
        state_after: "passing".into(),
    }))
}

fn evidence(n: u64, time_ms: u64) -> anyhow::Result<Body> {
    Ok(Body::Evidence(EvidenceBody::inline(vec![EvidenceItem {
        check_type: Id::new("disk_space").expect("id"),
        host: Id::new(format!("ws-{:02}.clinic.example", n % 10)).expect("id"),
        status: [Status::Pass, Status::Warning, Status::Fail][(n % 3) as usize],
        observed_at_ms: time_ms,
        details: format!("volume /var at {}% after run {n}", 40 + n % 50),
        controls: vec!["HIPAA:164.312(b)".into()],
    }])?))
}

struct Appliance {
    chain: ChainId,
    key: SigningKey,
    sequence: u64,
    prev: Hash,
}

impl Appliance {
    fn next(&mut self, n: u64, time_ms: u64, healing_every: u64) -> anyhow::Result<Vec<u8>> {
        let body = if healing_every > 0 && n % healing_every == healing_every - 1 {
            healing(n, time_ms)?
        } else {
            evidence(n, time_ms)?
        };
        self.sequence += 1;
        let record = Record::sign(
            UnsignedRecord {
                site_id: self.chain.site_id.clone(),
                appliance_id: self.chain.appliance_id.clone(),
                sequence: self.sequence,
                prev_hash: self.prev,
                time_ms,
                key_id: KeyId::of(&self.key.verifying_key()),
                body,
            },
            &self.key,
        )?;
        self.prev = record.hash();
        Ok(record.encode())
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config::for_dir(&args.dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = Arc::new(tokio::task::spawn_blocking(move || api::AppState::open(config)).await??);
    let mut appliances = Vec::new();
    for a in 0..args.appliances {
        let chain = ChainId::new(Id::new(&args.site)?, Id::new(format!("box-{a}"))?);
        let key = SigningKey::from_bytes(&rand::random());
        state
            .intake
            .enrol(&chain, key.verifying_key(), Id::new(format!("fill-{a}"))?)
            .await
            .with_context(|| format!("enrolling {chain}"))?;
        appliances.push(Appliance {
            chain,
            key,
            sequence: 0,
            prev: Hash([0; 32]),
        });
    }
    let started = Instant::now();
    let now = api::anchoring::now_ms();
    let (base_ms, step_ms) = match args.spread_days {
        0 => (now - args.records, 1),
        days => {
            let span = days * 86_400_000;
            (now - span, (span / args.records.max(1)).max(1))
        }
    };
    let mut done = 0u64;
    while done < args.records {
        // One batch per appliance in turn, so chains interleave in the log.
        let k = (done / args.batch as u64) as usize % appliances.len();
        let a = &mut appliances[k];
        let n = (args.batch as u64).min(args.records - done);
        let raw = (0..n)
            .map(|i| {
                let n = done + i;
                a.next(n, base_ms + n * step_ms, args.healing_every)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let who = Principal::Appliance(a.chain.clone());
        let outcomes = state.intake.append(&who, raw).await?;
        if let Some(bad) = outcomes.iter().find(|o| o.is_err()) {
            anyhow::bail!("intake refused a record: {bad:?}");
        }
        done += n;
        if done % 100_000 < n {
            eprintln!(
                "{done} records, {:.0}/s",
                done as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    let log = state.log.clone();
    let index = state.index.clone();
    tokio::task::spawn_blocking(move || index.catch_up(&log)).await??;
    state.log.close();
    println!(
        "filled {} with {done} records of {} on {} appliances in {:.1} s; log size {}",
        args.dir.display(),
        args.site,
        args.appliances,
        started.elapsed().as_secs_f64(),
        state.log.latest().size
    );
    Ok(())
}
