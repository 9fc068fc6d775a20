//! Generates a large version 2 evidence package shaped like real fleet evidence, for the
//! audit report's scale check (docs/AUDIT_REPORT.md §7):
//!
//! ```text
//! cargo run --release -p verifier --example gen_report_package -- --records 1000000 /tmp/rpkg
//! ledger-verify report /tmp/rpkg --key @/tmp/rpkg.vkey --block-headers /tmp/rpkg.headers.txt --out /tmp/rpkg.html
//! ```
//!
//! Each appliance's records are spread evenly over `--days` UTC days, skipping one gap
//! day per appliance; nine records in ten are evidence bundles of three check types
//! (firewall, backup, screen_lock) with varied statuses, one in ten a healing record of
//! varied tier and outcome. The package is written as version 2 (segments), the
//! checkpoint stamped with a synthetic Bitcoin attestation; beside it `DIR.vkey` and
//! `DIR.headers.txt`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Instant;

use ledger_core::hash::Hash;
use ledger_record::{
    Body, ChainId, EvidenceBody, EvidenceItem, HealingBody, Id, KeyId, Outcome, Record, SigningKey,
    Status, Tier, UnsignedRecord,
};
use rayon::prelude::*;
use support::{body_of, chain, stamp, LogSim};
use verifier::package::{DirSink, StreamWriter};

const DAY_MS: u64 = 86_400_000;
/// 2023-11-14T00:00:00Z.
const DAY0: u64 = 19_675 * DAY_MS;

struct Args {
    records: u64,
    appliances: u64,
    days: u64,
    dir: PathBuf,
}

fn number(it: &mut impl Iterator<Item = String>, flag: &str) -> Result<u64, String> {
    it.next()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &u64| n > 0)
        .ok_or(format!("{flag} needs a positive number"))
}

fn parse_args() -> Result<Args, String> {
    let (mut records, mut appliances, mut days, mut dir) = (1_000_000, 100, 90, None);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--records" => records = number(&mut it, "--records")?,
            "--appliances" => appliances = number(&mut it, "--appliances")?,
            "--days" => days = number(&mut it, "--days")?.max(2),
            _ if dir.is_none() && !a.starts_with("--") => dir = Some(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument {a}")),
        }
    }
    let usage = "usage: gen_report_package [--records N] [--appliances A] [--days D] DIR";
    Ok(Args {
        records,
        appliances,
        days,
        dir: dir.ok_or(usage)?,
    })
}

/// The body of record `seq` of appliance `a`.
fn body(a: u64, seq: u64, time: u64) -> Body {
    if seq % 10 == 0 {
        let tier = [Tier::L1, Tier::L2, Tier::L3][(seq / 10 % 3) as usize];
        let outcome =
            [Outcome::Success, Outcome::Failure, Outcome::Escalated][(seq / 30 % 3) as usize];
        return Body::Healing(HealingBody {
            incident_id: Id::new(format!("inc-{a}-{seq}")).unwrap(),
            check_type: Id::new("firewall").unwrap(),
            pattern_signature: "firewall disabled".into(),
            tier,
            runbook_id: Id::new("rb-firewall-on").unwrap(),
            action: "re-enabled the host firewall".into(),
            outcome,
            started_at_ms: time,
            ended_at_ms: time + 1200,
            state_before: "off".into(),
            state_after: "on".into(),
        });
    }
    let items = ["firewall", "backup", "screen_lock"]
        .iter()
        .enumerate()
        .map(|(j, check)| EvidenceItem {
            check_type: Id::new(*check).unwrap(),
            host: Id::new(format!("ws-{:02}", seq % 7)).unwrap(),
            status: [
                Status::Pass,
                Status::Pass,
                Status::Pass,
                Status::Warning,
                Status::Fail,
            ][((seq + j as u64 + a) % 5) as usize],
            observed_at_ms: time,
            details: String::new(),
            controls: vec![],
        })
        .collect();
    Body::Evidence(EvidenceBody::inline(items).unwrap())
}

/// The `count` records of appliance `a`, spread over `days` days minus its gap day.
fn appliance_records(a: u64, c: &ChainId, key: &SigningKey, count: u64, days: u64) -> Vec<Vec<u8>> {
    let gap = a % days;
    let span = (days - 1) * DAY_MS;
    let mut prev = Hash([0; 32]);
    let mut out = Vec::with_capacity(count as usize);
    for seq in 1..=count {
        let t = (seq - 1) * span / count;
        let day = t / DAY_MS;
        let day = if day >= gap { day + 1 } else { day };
        let time = DAY0 + day * DAY_MS + t % DAY_MS;
        let unsigned = UnsignedRecord {
            site_id: c.site_id.clone(),
            appliance_id: c.appliance_id.clone(),
            sequence: seq,
            prev_hash: prev,
            time_ms: time,
            key_id: KeyId::of(&key.verifying_key()),
            body: body(a, seq, time),
        };
        let record = Record::sign(unsigned, key).unwrap();
        prev = record.hash();
        out.push(record.encode());
    }
    out
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let started = Instant::now();
    let mut sim = LogSim::new("example.com/report-scale-log");
    let chains: Vec<_> = (0..args.appliances)
        .map(|i| chain(&format!("site-{}", i % 10), &format!("box-{i}")))
        .collect();
    let keys: Vec<_> = chains.iter().map(|c| sim.enrol_external(c)).collect();
    let (per, extra) = (
        args.records / args.appliances,
        args.records % args.appliances,
    );
    let made: Vec<Vec<Vec<u8>>> = (0..args.appliances)
        .into_par_iter()
        .map(|a| {
            let count = per + u64::from(a < extra);
            appliance_records(a, &chains[a as usize], &keys[a as usize], count, args.days)
        })
        .collect();
    eprintln!(
        "signed {} records in {:.1?}",
        args.records,
        started.elapsed()
    );
    // Interleave the appliances round-robin into the log.
    let mut iters: Vec<_> = made.into_iter().map(Vec::into_iter).collect();
    let mut record_indexes = Vec::with_capacity(args.records as usize);
    let mut any = true;
    while any {
        any = false;
        for it in iters.iter_mut() {
            if let Some(bytes) = it.next() {
                record_indexes.push(sim.append_bytes(bytes));
                any = true;
            }
        }
    }
    write_package(&mut sim, &record_indexes, &args);
    eprintln!("wrote {} in {:.1?}", args.dir.display(), started.elapsed());
}

fn write_package(sim: &mut LogSim, record_indexes: &[u64], args: &Args) {
    let note = sim.checkpoint();
    let (ots, headers) = stamp(body_of(&note).as_bytes(), 840_000, 1_713_571_767);
    let sink = DirSink::create(&args.dir).expect("create the package directory");
    let mut w = StreamWriter::new(
        &note,
        &sim.operator.verifying_key(),
        &sim.operator_chain,
        sink,
    )
    .expect("checkpoint");
    w.log_verifier_key(&sim.vkey()).period_from_records();
    w.timestamp(&ots).expect("timestamp");
    let keys: Vec<(u64, Vec<u8>)> = sim
        .key_indexes
        .iter()
        .map(|&i| (i, sim.entries[i as usize].clone()))
        .collect();
    w.keys(&keys, &sim.tree).expect("keys");
    for &i in record_indexes {
        let bytes = std::mem::take(&mut sim.entries[i as usize]);
        w.add_record(i, bytes, &sim.tree).expect("record");
    }
    w.finish(&sim.tree).expect("finish");
    let side = |ext: &str| {
        let mut p = args.dir.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    std::fs::write(side(".vkey"), format!("{}\n", sim.vkey())).expect("write vkey");
    std::fs::write(side(".headers.txt"), headers).expect("write headers");
}
