//! Chain checker scenarios: clean, gap, fork, conflict, swap, duplicate, several
//! appliances, windows and resumed heads.

mod common;

use common::*;
use ledger_record::{
    Body, ChainChecker, ChainError, ChainFinding, ChainStart, Hash, HealingBody, Record,
};

fn body(n: u64) -> Body {
    Body::Healing(HealingBody {
        action: format!("action {n}"),
        ..healing_body()
    })
}

/// Records 1..=n of box-1, correctly chained.
fn chain_of(n: u64) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    for seq in 1..=n {
        let prev = out.last().map_or(Hash([0; 32]), Record::hash);
        out.push(Record::sign(unsigned(seq, prev, body(seq)), &key(1)).unwrap());
    }
    out
}

/// A record of box-1 with the given sequence and prev hash and a distinct body.
fn other(seq: u64, prev: Hash) -> Record {
    Record::sign(unsigned(seq, prev, body(1000 + seq)), &key(1)).unwrap()
}

/// Log index of the i-th record fed; deliberately unlike sequence numbers.
fn ix(i: usize) -> u64 {
    100 + 10 * i as u64
}

fn check(start: ChainStart, records: &[&Record]) -> ledger_record::ChainReport {
    let mut c = ChainChecker::new(start);
    for (i, r) in records.iter().enumerate() {
        c.push(ix(i), r).unwrap();
    }
    c.finish()
}

#[test]
fn clean_chain() {
    let a = chain_of(6);
    let report = check(ChainStart::Genesis, &a.iter().collect::<Vec<_>>());
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.chains.len(), 1);
    let s = &report.chains[0];
    assert_eq!(s.chain, chain("clinic-1", "box-1"));
    assert_eq!((s.first_sequence, s.last_sequence, s.records), (1, 6, 6));
    assert_eq!(s.head_hash, a[5].hash());
    assert!(s.missing.is_empty());
}

#[test]
fn gap() {
    let a = chain_of(6);
    let report = check(ChainStart::Genesis, &[&a[0], &a[1], &a[4], &a[5]]);
    assert_eq!(
        report.findings,
        vec![ChainFinding::Gap {
            chain: chain("clinic-1", "box-1"),
            missing: 3..=4,
            before_log_index: Some(ix(1)),
            after_log_index: Some(ix(2)),
        }]
    );
    assert_eq!(report.chains[0].missing, vec![3..=4]);
    assert_eq!(report.chains[0].records, 4);
}

#[test]
fn missing_start_is_a_gap_only_from_genesis() {
    let a = chain_of(6);
    let window = [&a[2], &a[3], &a[4]];
    let report = check(ChainStart::Genesis, &window);
    assert_eq!(
        report.findings,
        vec![ChainFinding::Gap {
            chain: chain("clinic-1", "box-1"),
            missing: 1..=2,
            before_log_index: None,
            after_log_index: Some(ix(0)),
        }]
    );
    let report = check(ChainStart::FirstSeen, &window);
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.chains[0].first_sequence, 3);
}

#[test]
fn fork() {
    let a = chain_of(6);
    let x3 = other(3, Hash([7; 32]));
    let report = check(ChainStart::Genesis, &[&a[0], &a[1], &x3, &a[3]]);
    assert_eq!(
        report.findings,
        vec![
            ChainFinding::Fork {
                chain: chain("clinic-1", "box-1"),
                sequence: 3,
                log_index: ix(2),
                found_prev: Hash([7; 32]),
                expected_prev: a[1].hash(),
                prev_log_index: Some(ix(1)),
            },
            // The honest fourth record links to the honest third, not to the one logged.
            ChainFinding::Fork {
                chain: chain("clinic-1", "box-1"),
                sequence: 4,
                log_index: ix(3),
                found_prev: a[2].hash(),
                expected_prev: x3.hash(),
                prev_log_index: Some(ix(2)),
            },
        ]
    );
}

#[test]
fn conflict() {
    let a = chain_of(3);
    // Same sequence, same parent, different content: the chain has branched.
    let y3 = other(3, a[1].hash());
    let report = check(ChainStart::Genesis, &[&a[0], &a[1], &a[2], &y3]);
    assert_eq!(
        report.findings,
        vec![ChainFinding::Conflict {
            chain: chain("clinic-1", "box-1"),
            sequence: 3,
            log_index: ix(3),
            hash: y3.hash(),
            first_log_index: Some(ix(2)),
            first_hash: a[2].hash(),
        }]
    );
    assert_eq!(report.chains[0].records, 3);
}

#[test]
fn swap() {
    let a = chain_of(4);
    let report = check(ChainStart::Genesis, &[&a[0], &a[2], &a[1], &a[3]]);
    assert_eq!(
        report.findings,
        vec![ChainFinding::Reordered {
            chain: chain("clinic-1", "box-1"),
            sequence: 2,
            log_index: ix(2),
            after_sequence: 3,
            after_log_index: Some(ix(1)),
        }]
    );
    assert!(report.chains[0].missing.is_empty());
}

#[test]
fn swap_hiding_a_broken_link() {
    let a = chain_of(4);
    let x3 = other(3, Hash([7; 32]));
    let report = check(ChainStart::Genesis, &[&a[0], &x3, &a[1]]);
    assert_eq!(
        report.findings,
        vec![
            ChainFinding::Reordered {
                chain: chain("clinic-1", "box-1"),
                sequence: 2,
                log_index: ix(2),
                after_sequence: 3,
                after_log_index: Some(ix(1)),
            },
            ChainFinding::Fork {
                chain: chain("clinic-1", "box-1"),
                sequence: 3,
                log_index: ix(1),
                found_prev: Hash([7; 32]),
                expected_prev: a[1].hash(),
                prev_log_index: Some(ix(2)),
            },
        ]
    );
}

#[test]
fn duplicate() {
    let a = chain_of(3);
    let report = check(ChainStart::Genesis, &[&a[0], &a[1], &a[1], &a[2]]);
    assert_eq!(
        report.findings,
        vec![ChainFinding::Duplicate {
            chain: chain("clinic-1", "box-1"),
            sequence: 2,
            log_index: ix(2),
            first_log_index: Some(ix(1)),
        }]
    );
}

#[test]
fn interleaved_appliances_are_checked_separately() {
    let a = chain_of(3);
    let mut b: Vec<Record> = Vec::new();
    for seq in 1..=3 {
        let mut u = unsigned(seq, b.last().map_or(Hash([0; 32]), Record::hash), body(seq));
        u.appliance_id = id("box-2");
        b.push(Record::sign(u, &key(1)).unwrap());
    }
    let report = check(
        ChainStart::Genesis,
        &[&b[0], &a[0], &a[1], &b[1], &b[2], &a[2]],
    );
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.chains.len(), 2);
    // Dropping one of box-2's records is a gap of box-2 only.
    let report = check(ChainStart::Genesis, &[&b[0], &a[0], &a[1], &b[2], &a[2]]);
    assert_eq!(report.findings.len(), 1);
    assert!(matches!(
        &report.findings[0],
        ChainFinding::Gap { chain: c, missing, .. } if c.appliance_id.as_str() == "box-2" && *missing == (2..=2)
    ));
}

#[test]
fn resumed_head() {
    let a = chain_of(6);
    let box1 = chain("clinic-1", "box-1");
    let mut c = ChainChecker::new(ChainStart::Genesis);
    c.resume(box1.clone(), 3, a[2].hash()).unwrap();
    for (i, r) in a[3..].iter().enumerate() {
        c.push(ix(i), r).unwrap();
    }
    let report = c.finish();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.chains[0].first_sequence, 4);
    assert_eq!(report.chains[0].records, 3);

    // A fourth record that does not link to the resumed head.
    let mut c = ChainChecker::new(ChainStart::Genesis);
    c.resume(box1.clone(), 3, Hash([5; 32])).unwrap();
    c.push(ix(0), &a[3]).unwrap();
    assert_eq!(
        c.finish().findings,
        vec![ChainFinding::Fork {
            chain: box1.clone(),
            sequence: 4,
            log_index: ix(0),
            found_prev: a[2].hash(),
            expected_prev: Hash([5; 32]),
            prev_log_index: None,
        }]
    );

    // A gap right after the resumed head.
    let mut c = ChainChecker::new(ChainStart::Genesis);
    c.resume(box1.clone(), 3, a[2].hash()).unwrap();
    c.push(ix(0), &a[5]).unwrap();
    assert_eq!(c.finish().chains[0].missing, vec![4..=5]);
}

#[test]
fn misuse() {
    let a = chain_of(2);
    let mut c = ChainChecker::new(ChainStart::Genesis);
    c.push(5, &a[0]).unwrap();
    assert_eq!(
        c.push(5, &a[1]),
        Err(ChainError::LogIndexNotIncreasing {
            previous: 5,
            got: 5
        })
    );
    assert!(matches!(
        c.resume(chain("clinic-1", "box-1"), 1, a[0].hash()),
        Err(ChainError::ResumeAfterRecords { .. })
    ));
}
