//! Generates a large evidence package for the verifier's performance check (`verifier/perf.sh`):
//!
//! ```text
//! cargo run --release -p verifier --example gen_package -- --records 1000000 /tmp/pkg
//! ledger-verify package /tmp/pkg --key "$(cat /tmp/pkg.vkey)" --block-headers /tmp/pkg.headers.txt
//! ```
//!
//! The log holds one enrolment per appliance, then the appliances' records interleaved
//! round-robin (evidence and healing bodies alternating); the package covers every
//! record, the checkpoint is stamped with a synthetic Bitcoin attestation. Beside the
//! package it writes `DIR.vkey` (the log's verifier key) and `DIR.headers.txt` (the
//! trusted header for the stamp).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;
use support::{appliance_chain, body_of, chain, stamp, LogSim};
use verifier::package::PackageWriter;

struct Args {
    records: u64,
    appliances: u64,
    dir: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut records = 1_000_000u64;
    let mut appliances = 100u64;
    let mut dir = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--records" => {
                records = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--records needs a number")?
            }
            "--appliances" => {
                appliances = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--appliances needs a positive number")?
            }
            other if !other.starts_with('-') && dir.is_none() => dir = Some(PathBuf::from(other)),
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    Ok(Args {
        records,
        appliances,
        dir: dir.ok_or("usage: gen_package [--records N] [--appliances A] DIR")?,
    })
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let mut sim = LogSim::new("example.com/perf-log");
    let chains: Vec<_> = (0..args.appliances)
        .map(|i| chain(&format!("site-{}", i % 10), &format!("box-{i}")))
        .collect();
    let keys: Vec<_> = chains.iter().map(|c| sim.enrol_external(c)).collect();
    let per = args.records / args.appliances;
    let extra = args.records % args.appliances;
    // Each appliance's chain is sequential (every record links to the previous one's
    // hash), but appliances are independent: sign them on every core.
    let made: Vec<Vec<Vec<u8>>> = chains
        .par_iter()
        .zip(keys.par_iter())
        .enumerate()
        .map(|(i, (c, k))| {
            appliance_chain(c, k, per + u64::from((i as u64) < extra), 1_700_000_000_000)
        })
        .collect();
    eprintln!(
        "signed {} records in {:.1?}",
        args.records,
        started.elapsed()
    );
    let mut iters: Vec<_> = made.into_iter().map(Vec::into_iter).collect();
    let mut record_indexes = Vec::with_capacity(args.records as usize);
    loop {
        let mut any = false;
        for it in iters.iter_mut() {
            if let Some(bytes) = it.next() {
                record_indexes.push(sim.append_bytes(bytes));
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    let note = sim.checkpoint();
    let (ots, headers) = stamp(body_of(&note).as_bytes(), 840_000, 1_713_571_767);
    let mut w = PackageWriter::new(&note, &sim.operator.verifying_key(), &sim.operator_chain)
        .expect("checkpoint");
    w.log_verifier_key(&sim.vkey());
    w.period(1_700_000_000_000, 1_800_000_000_000);
    for &i in &sim.key_indexes {
        w.add_key_record(i, sim.entries[i as usize].clone())
            .expect("key record");
    }
    for &i in &record_indexes {
        w.add_record(i, std::mem::take(&mut sim.entries[i as usize]))
            .expect("record");
    }
    w.timestamp(ots);
    w.prove_with(&sim.tree).expect("proof");
    w.write(&args.dir).expect("write package");
    let side = |ext: &str| {
        let mut p = args.dir.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    std::fs::write(side(".vkey"), format!("{}\n", sim.vkey())).expect("write vkey");
    std::fs::write(side(".headers.txt"), headers).expect("write headers");
    eprintln!(
        "wrote {} ({} records, {} appliances) in {:.1?}",
        args.dir.display(),
        args.records,
        args.appliances,
        started.elapsed()
    );
    println!(
        "ledger-verify package {} --key @{} --block-headers {}",
        args.dir.display(),
        side(".vkey").display(),
        side(".headers.txt").display()
    );
}
