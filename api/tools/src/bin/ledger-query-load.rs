//! `ledger-query-load`: seeds a real log with signed records and measures the query
//! index: how fast the tailer projects the log (entries/s, target ≥ 20,000/s so it keeps
//! up with the sequencer), and p50/p99/max of the dashboard queries (appliance list of a
//! site, incident search, pattern statistics, record search page, daily counts) with a
//! fully indexed log (target p99 ≤ 50 ms).
//!
//! Seeding goes straight into a RocksDB log with the `ledger` crate (`Log::append_batch`:
//! the sequencer, synced group commits and signed checkpoints, as in the server), not
//! through the HTTP intake: a million intake-verified appends would take the better part
//! of an hour on a shared 2-core machine, and the index never reads the intake's state.
//! The records are real: every appliance is enrolled by an operator-signed `key` record
//! and signs its chained records with its own Ed25519 key.
//!
//! The queries are the functions the HTTP handlers call (`QueryIndex::search_records`,
//! …, and the check-in table for the appliance list), timed in-process, so the figures
//! exclude HTTP framing (well under a millisecond on loopback).
//!
//! ```text
//! cargo run --release -p ledgerd-tools --bin ledger-query-load -- --dir /tmp/query-load --records 1000000
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use api::checkins::{Checkin, CheckinStore};
use clap::Parser;
use ed25519_dalek::SigningKey;
use ledger::{Log, LogConfig};
use ledger_core::hash::Hash;
use ledger_index::{IncidentFilter, QueryIndex, RecordFilter, Scope, DAY_MS};
use ledger_record::{
    Body, ChainId, EvidenceBody, EvidenceItem, HealingBody, Id, KeyBody, KeyId, Outcome, Record,
    Status, Tier, UnsignedRecord,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Parser, Debug)]
#[command(name = "ledger-query-load", about = "Query index load test")]
struct Args {
    /// Directory of the seeded log (reused when it already holds enough records).
    #[arg(long, default_value = "/tmp/ledger-query-load")]
    dir: PathBuf,
    /// Appliance records to seed (enrolments come on top).
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    #[arg(long, default_value_t = 20)]
    sites: usize,
    #[arg(long, default_value_t = 50)]
    appliances_per_site: usize,
    /// Days the record times spread over, ending now.
    #[arg(long, default_value_t = 90)]
    days: u64,
    /// Timed runs of each query.
    #[arg(long, default_value_t = 300)]
    iterations: usize,
    /// Instead of the load test: seed a running ledgerd at this loopback HTTP URL with a
    /// few enrolled appliances, evidence, healing records and check-ins through its API
    /// (used by `scripts/schemathesis`), then exit.
    #[arg(long)]
    seed_server: Option<String>,
    /// The admin credential file of that server.
    #[arg(long, default_value = "./data/admin.token")]
    admin_token_file: PathBuf,
}

const CHECKS: [&str; 8] = [
    "disk_encryption",
    "firewall",
    "backup",
    "antivirus",
    "patch_level",
    "password_policy",
    "audit_logging",
    "ntp_sync",
];

struct Appliance {
    chain: ChainId,
    key: SigningKey,
    seq: u64,
    prev: Hash,
}

fn id(s: impl Into<String>) -> Id {
    Id::new(s).expect("generated ids are valid")
}

fn sign(a: &mut Appliance, time_ms: u64, body: Body) -> anyhow::Result<Vec<u8>> {
    let r = Record::sign(
        UnsignedRecord {
            site_id: a.chain.site_id.clone(),
            appliance_id: a.chain.appliance_id.clone(),
            sequence: a.seq + 1,
            prev_hash: a.prev,
            time_ms,
            key_id: KeyId::of(&a.key.verifying_key()),
            body,
        },
        &a.key,
    )?;
    a.seq += 1;
    a.prev = r.hash();
    Ok(r.encode())
}

fn body(rng: &mut StdRng, n: u64, site: usize, time_ms: u64) -> Body {
    if rng.gen_bool(0.7) {
        let items = (0..rng.gen_range(1..=3))
            .map(|k| {
                let status = match rng.gen_range(0..100) {
                    0..=84 => Status::Pass,
                    85..=92 => Status::Warning,
                    93..=98 => Status::Fail,
                    _ => Status::Error,
                };
                EvidenceItem {
                    check_type: id(CHECKS[rng.gen_range(0..CHECKS.len())]),
                    host: id(format!("host-{k}")),
                    status,
                    observed_at_ms: time_ms,
                    details: String::new(),
                    controls: vec!["HIPAA:164.312(b)".into()],
                }
            })
            .collect();
        Body::Evidence(EvidenceBody::inline(items).expect("1..=3 valid items"))
    } else {
        let pattern = rng.gen_range(0..30);
        let tier = match rng.gen_range(0..10) {
            0..=5 => Tier::L1,
            6..=8 => Tier::L2,
            _ => Tier::L3,
        };
        let outcome = match rng.gen_range(0..20) {
            0..=16 => Outcome::Success,
            17 | 18 => Outcome::Failure,
            _ => Outcome::Escalated,
        };
        let took = rng.gen_range(1_000..600_000);
        Body::Healing(HealingBody {
            incident_id: id(format!("inc-{site}-{n}")),
            check_type: id(CHECKS[pattern % CHECKS.len()]),
            pattern_signature: format!("pattern-{pattern}"),
            tier,
            runbook_id: id(format!("rb-{pattern}")),
            action: "ran the runbook".into(),
            outcome,
            started_at_ms: time_ms.saturating_sub(took),
            ended_at_ms: time_ms,
            state_before: String::new(),
            state_after: String::new(),
        })
    }
}

fn seed(args: &Args, log: &Log) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut operator = Appliance {
        chain: ChainId::new(id("operator"), id("ledger-operator")),
        key: SigningKey::generate(&mut rand::rngs::OsRng),
        seq: 0,
        prev: Hash([0; 32]),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let start_ms = now - args.days * DAY_MS;
    let mut appliances = Vec::new();
    let mut batch = Vec::new();
    for s in 0..args.sites {
        for a in 0..args.appliances_per_site {
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            let chain = ChainId::new(id(format!("site-{s}")), id(format!("box-{a}")));
            let enrol = Body::Key(KeyBody::Enrolment {
                subject: chain.clone(),
                public_key: key.verifying_key(),
                enrolment_token_id: id(format!("seed-{s}-{a}")),
            });
            batch.push(sign(&mut operator, start_ms, enrol)?);
            appliances.push((
                s,
                Appliance {
                    chain,
                    key,
                    seq: 0,
                    prev: Hash([0; 32]),
                },
            ));
        }
    }
    log.append_batch(std::mem::take(&mut batch))?;
    let t = Instant::now();
    let step = (args.days * DAY_MS) / args.records.max(1);
    for n in 0..args.records {
        let time_ms = start_ms + n * step;
        let k = rng.gen_range(0..appliances.len());
        let (site, a) = &mut appliances[k];
        let b = body(&mut rng, n, *site, time_ms);
        batch.push(sign(a, time_ms, b)?);
        if batch.len() == 4096 {
            log.append_batch(std::mem::take(&mut batch))?;
        }
        if n % 100_000 == 99_999 {
            println!(
                "  seeded {} records ({:.0}/s)",
                n + 1,
                (n + 1) as f64 / t.elapsed().as_secs_f64()
            );
        }
    }
    if !batch.is_empty() {
        log.append_batch(batch)?;
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let k = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[k.min(sorted.len() - 1)]
}

fn measure(
    name: &str,
    iterations: usize,
    mut f: impl FnMut(usize) -> anyhow::Result<usize>,
) -> anyhow::Result<()> {
    let mut times = Vec::with_capacity(iterations);
    let mut rows = 0;
    for n in 0..iterations {
        let t = Instant::now();
        rows += f(n)?;
        times.push(t.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<44} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  ({} runs, {:.0} rows/run)",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(*times.last().unwrap_or(&Duration::ZERO)),
        iterations,
        rows as f64 / iterations.max(1) as f64
    );
    Ok(())
}

/// Seeds a running server through its HTTP API: 2 sites × 2 appliances, 30 records
/// each (evidence and healing), one check-in each.
fn seed_server(url: &str, admin_file: &std::path::Path) -> anyhow::Result<()> {
    let host = url
        .strip_prefix("http://")
        .and_then(|r| r.split(['/', ':']).next())
        .unwrap_or("");
    anyhow::ensure!(
        host == "127.0.0.1" || host == "localhost" || host == "[::1]",
        "only loopback servers are seeded, got {url}"
    );
    let admin = std::fs::read_to_string(admin_file)
        .with_context(|| format!("reading {}", admin_file.display()))?
        .trim()
        .to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let server = SeededServer {
            client: reqwest::Client::new(),
            url,
            admin: &admin,
        };
        let mut rng = StdRng::seed_from_u64(11);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as u64;
        for s in 0..2 {
            for a in 0..2 {
                server.seed_appliance(&mut rng, now, s, a).await?;
            }
        }
        println!("seeded {url}: 2 sites, 4 appliances, 120 records, 4 check-ins");
        anyhow::Ok(())
    })
}

/// The running server `--seed-server` fills, and its admin credential.
struct SeededServer<'a> {
    client: reqwest::Client,
    url: &'a str,
    admin: &'a str,
}

impl SeededServer<'_> {
    fn post(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: serde_json::Value,
    ) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> {
        let mut req = self.client.post(format!("{}{path}", self.url)).json(&body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        req.send()
    }

    /// Enrols appliance `box-<a>` of site `site-<s>` with a new key, delivers 30 records
    /// one hour apart ending now, and checks in once.
    async fn seed_appliance(
        &self,
        rng: &mut StdRng,
        now: u64,
        s: usize,
        a: usize,
    ) -> anyhow::Result<()> {
        let (site, box_id) = (format!("site-{s}"), format!("box-{a}"));
        let (key, credential) = self.enrol(&site, &box_id).await?;
        let mut app = Appliance {
            chain: ChainId::new(id(&site), id(&box_id)),
            key,
            seq: 0,
            prev: Hash([0; 32]),
        };
        let mut records = Vec::new();
        for n in 0..30 {
            let t = now - (30 - n) * 3_600_000;
            let b = body(rng, n, s, t);
            records.push(sign(&mut app, t, b)?);
        }
        let r = self
            .client
            .post(format!("{}/v1/records/batch", self.url))
            .bearer_auth(&credential)
            .header("content-type", "application/cbor")
            .body(ledger_record::encode_batch_body(&records))
            .send()
            .await?
            .error_for_status()?;
        let v: serde_json::Value = r.json().await?;
        let ok = v["results"]
            .as_array()
            .map(|l| l.iter().filter(|x| x.get("ok").is_some()).count())
            .unwrap_or(0);
        anyhow::ensure!(ok == records.len(), "seeding {site}/{box_id}: {v}");
        self.post(
            "/v1/checkin",
            Some(&credential),
            serde_json::json!({"agent_version": "0.1.0", "outbox_depth": 0, "health": "ok", "alarms": []}),
        )
        .await?
        .error_for_status()?;
        Ok(())
    }

    /// Enrols one appliance with a new key; returns the key and the credential.
    async fn enrol(&self, site: &str, box_id: &str) -> anyhow::Result<(SigningKey, String)> {
        let v: serde_json::Value = self
            .post(
                "/v1/admin/enrolment-tokens",
                Some(self.admin),
                serde_json::json!({"site_id": site, "appliance_id": box_id}),
            )
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = v["token"].as_str().context("token")?.to_string();
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let v: serde_json::Value = self
            .post(
                "/v1/enrol",
                None,
                serde_json::json!({"token": token, "public_key": hex::encode(key.verifying_key().as_bytes())}),
            )
            .await?
            .error_for_status()?
            .json()
            .await?;
        let credential = v["credential"].as_str().context("credential")?.to_string();
        Ok((key, credential))
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(url) = &args.seed_server {
        return seed_server(url, &args.admin_token_file);
    }
    let log = open_seeded(&args)?;
    let size = log.latest().size;

    // Tailing: a fresh index projects the whole log.
    let index_dir = args.dir.join("index");
    let _ = std::fs::remove_dir_all(&index_dir);
    std::fs::create_dir_all(&index_dir)?;
    let index = QueryIndex::open(&index_dir)?;
    let t = Instant::now();
    index.catch_up(&log)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "index tailing: {size} entries in {secs:.1} s = {:.0} entries/s (target >= 20000)",
        size as f64 / secs
    );

    // Check-ins for every appliance, as the agents would send them.
    let checkins = CheckinStore::new(std::sync::Arc::new(api::state_db::StateDb::open(
        &index_dir,
    )?));
    let c = Checkin::from_json(
        br#"{"agent_version":"0.1.0","outbox_depth":3,"health":"ok","alarms":[]}"#,
    )?;
    for s in 0..args.sites {
        for a in 0..args.appliances_per_site {
            let chain = ChainId::new(id(format!("site-{s}")), id(format!("box-{a}")));
            checkins.record(&chain, &c, 0)?;
        }
    }

    let queries = Queries {
        args: &args,
        index: &index,
        checkins: &checkins,
        today: (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as u64
            / DAY_MS) as i64,
    };
    println!(
        "queries ({} sites x {} appliances):",
        args.sites, args.appliances_per_site
    );
    queries.fleet_and_incidents()?;
    queries.patterns()?;
    queries.record_search()?;
    queries.daily_counts()?;
    println!("(in-process query functions of the HTTP handlers; machine shared with other builds)");
    Ok(())
}

/// Opens the log in `--dir`, seeding it first when it is empty.
fn open_seeded(args: &Args) -> anyhow::Result<Log> {
    std::fs::create_dir_all(&args.dir)?;
    let log = Log::open(LogConfig::new(&args.dir, "query-load.example/log"))
        .with_context(|| format!("opening the log in {}", args.dir.display()))?;
    let want = args.records + (args.sites * args.appliances_per_site) as u64;
    if log.latest().size < want {
        anyhow::ensure!(
            log.latest().size == 0,
            "{} holds a log of another size; use an empty directory",
            args.dir.display()
        );
        println!("seeding {} records into {}", want, args.dir.display());
        let t = Instant::now();
        seed(args, &log)?;
        println!("seeded in {:.1} s", t.elapsed().as_secs_f64());
    }
    Ok(log)
}

/// The timed dashboard queries, against a fully indexed log; run `k` of each query asks
/// about site `k % sites`.
struct Queries<'a> {
    args: &'a Args,
    index: &'a QueryIndex,
    checkins: &'a CheckinStore,
    /// Today as days since the Unix epoch.
    today: i64,
}

impl Queries<'_> {
    fn site(&self, k: usize) -> String {
        format!("site-{}", k % self.args.sites)
    }

    fn one(&self, k: usize) -> Scope {
        Scope::Sites([self.site(k)].into())
    }

    fn page(limit: usize) -> RecordFilter {
        RecordFilter {
            limit,
            ..RecordFilter::default()
        }
    }

    fn fleet_and_incidents(&self) -> anyhow::Result<()> {
        let (n, index) = (self.args.iterations, self.index);
        measure("appliance list of a site", n, |k| {
            let s = self.site(k);
            let chains = index.site_chains(&s)?;
            let keys = index.site_keys(&s)?;
            let c = self.checkins.site(&s)?;
            Ok(chains.len().max(keys.len()).max(c.len()))
        })?;
        measure("incident search, one site, page of 50", n, |k| {
            let f = IncidentFilter {
                limit: 50,
                ..IncidentFilter::default()
            };
            Ok(index.search_incidents(&self.one(k), &f)?.items.len())
        })?;
        measure("incident search, one site, L2 failures", n, |k| {
            let f = IncidentFilter {
                limit: 50,
                tier: Some(2),
                outcome: Some(1),
                ..IncidentFilter::default()
            };
            Ok(index.search_incidents(&self.one(k), &f)?.items.len())
        })?;
        measure("incident search, all sites (admin)", n, |_| {
            let f = IncidentFilter {
                limit: 50,
                ..IncidentFilter::default()
            };
            Ok(index.search_incidents(&Scope::All, &f)?.items.len())
        })
    }

    fn patterns(&self) -> anyhow::Result<()> {
        let (n, index, today) = (self.args.iterations, self.index, self.today);
        measure("pattern statistics, one site, all time", n, |k| {
            Ok(index
                .pattern_stats(&self.one(k), None, None, None, None)?
                .len())
        })?;
        measure("pattern statistics, one site, 30 days", n, |k| {
            Ok(index
                .pattern_stats(&self.one(k), None, None, Some(today - 29), Some(today))?
                .len())
        })?;
        measure("pattern statistics, all sites, all time", n, |_| {
            Ok(index
                .pattern_stats(&Scope::All, None, None, None, None)?
                .len())
        })
    }

    fn record_search(&self) -> anyhow::Result<()> {
        let (n, index, page) = (self.args.iterations, self.index, Self::page);
        measure("record search, one site, page of 50", n, |k| {
            Ok(index.search_records(&self.one(k), &page(50))?.items.len())
        })?;
        measure("record search, one site, status=fail", n, |k| {
            let f = RecordFilter {
                status: Some(2),
                ..page(50)
            };
            Ok(index.search_records(&self.one(k), &f)?.items.len())
        })?;
        measure("record search, one site, check+kind+time", n, |k| {
            let f = RecordFilter {
                check_type: Some(CHECKS[k % CHECKS.len()].to_string()),
                kind: Some(1),
                from_ms: Some((self.today as u64 - 7) * DAY_MS),
                ..page(50)
            };
            Ok(index.search_records(&self.one(k), &f)?.items.len())
        })?;
        measure("record search, one appliance, page of 50", n, |k| {
            let f = RecordFilter {
                appliance: Some(format!("box-{}", k % self.args.appliances_per_site)),
                ..page(50)
            };
            Ok(index.search_records(&self.one(k), &f)?.items.len())
        })?;
        measure("record search, all sites, 10th page", n, |_| {
            let mut f = page(50);
            let mut rows = 0;
            for _ in 0..10 {
                let p = index.search_records(&Scope::All, &f)?;
                rows = p.items.len();
                f.before = p.next_cursor.and_then(|c| c.parse().ok());
            }
            Ok(rows)
        })
    }

    fn daily_counts(&self) -> anyhow::Result<()> {
        let (n, index, today) = (self.args.iterations, self.index, self.today);
        measure("daily counts by status, one site, 30 days", n, |k| {
            Ok(index
                .daily_status(&self.one(k), None, None, today - 29, today)?
                .len())
        })?;
        measure("daily counts, one appliance, 90 days", n, |k| {
            let a = format!("box-{}", k % self.args.appliances_per_site);
            Ok(index
                .daily_status(&self.one(k), Some(&a), None, today - 89, today)?
                .len())
        })
    }
}
