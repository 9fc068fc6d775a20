//! The window checker against the full [`ChainChecker`] as the oracle: random orders of
//! chained, repeated, conflicting, dropped and reordered records over two appliances,
//! with the smallest windows, so that pruned first records must be looked up again.

use ledger_record::{
    Body, ChainChecker, HealingBody, Id, KeyId, Outcome, SigningKey, Tier, UnsignedRecord,
};

use super::*;

fn healing(n: u64) -> Body {
    Body::Healing(HealingBody {
        incident_id: Id::new("inc-1").unwrap(),
        check_type: Id::new("disk_space").unwrap(),
        pattern_signature: "disk_full:/var".into(),
        tier: Tier::L1,
        runbook_id: Id::new("rb.clean").unwrap(),
        action: format!("action {n}"),
        outcome: Outcome::Success,
        started_at_ms: 1,
        ended_at_ms: 2,
        state_before: "full".into(),
        state_after: "fine".into(),
    })
}

fn record(appliance: &str, sequence: u64, prev: Hash, n: u64) -> Record {
    let key = SigningKey::from_bytes(&[7; 32]);
    Record::sign(
        UnsignedRecord {
            site_id: Id::new("clinic-1").unwrap(),
            appliance_id: Id::new(appliance).unwrap(),
            sequence,
            prev_hash: prev,
            time_ms: 1_700_000_000_000 + sequence,
            key_id: KeyId::of(&key.verifying_key()),
            body: healing(n),
        },
        &key,
    )
    .unwrap()
}

/// Per appliance: a correct chain of 12 and, for some sequences, a conflicting record.
fn pool() -> Vec<Record> {
    let mut out = Vec::new();
    for appliance in ["box-1", "box-2"] {
        let mut prev = Hash([0; 32]);
        for seq in 1..=12 {
            let r = record(appliance, seq, prev, seq);
            prev = r.hash();
            out.push(r);
            if seq % 4 == 0 {
                out.push(record(appliance, seq, Hash([9; 32]), 100 + seq));
            }
        }
    }
    out
}

/// A small deterministic generator (64-bit LCG); the test needs no randomness crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % below as u64) as usize
    }
}

fn run_both(start: ChainStart, window: usize, feed: &[&Record], resume: bool) {
    let mut oracle = ChainChecker::new(start);
    let mut checker = WindowChecker::new(start, window);
    if resume {
        let head = feed[0];
        let _ = oracle.resume(head.chain(), 2, Hash([3; 32]));
        checker.resume(head.chain(), 2, Hash([3; 32]));
    }
    for (i, r) in feed.iter().enumerate() {
        let index = 10 + 3 * i as u64;
        oracle.push(index, r).unwrap();
        checker.push(index, r);
    }
    // The second read: the first record of every pending sequence, in log order.
    let wanted = checker.pending();
    let mut first = FirstRecords::new();
    for (i, r) in feed.iter().enumerate() {
        let key = (r.chain(), r.sequence());
        if wanted.contains(&key) {
            first.entry(key).or_insert((10 + 3 * i as u64, r.hash()));
        }
    }
    assert_eq!(checker.finish(&first), oracle.finish(), "feed {feed:?}");
}

#[test]
fn same_findings_as_the_full_checker_with_tiny_windows() {
    let pool = pool();
    let mut rng = Lcg(42);
    let mut pending_seen = false;
    for round in 0..400 {
        let len = 1 + rng.next(30);
        let mut feed: Vec<&Record> = Vec::with_capacity(len);
        // Mostly in order with some noise, so chains are long enough to prune.
        let mut cursor = rng.next(pool.len());
        for _ in 0..len {
            cursor = match rng.next(6) {
                0 => rng.next(pool.len()),
                1 => cursor.saturating_sub(rng.next(8)),
                _ => (cursor + 1) % pool.len(),
            };
            feed.push(&pool[cursor]);
        }
        let start = if round % 2 == 0 {
            ChainStart::Genesis
        } else {
            ChainStart::FirstSeen
        };
        for window in [0, 1, 3] {
            let mut probe = WindowChecker::new(start, window);
            for (i, r) in feed.iter().enumerate() {
                probe.push(i as u64, r);
            }
            pending_seen |= !probe.pending().is_empty();
            run_both(start, window, &feed, round % 5 == 0);
        }
    }
    assert!(pending_seen, "no case exercised the second read");
}

#[test]
fn memory_stays_bounded_on_a_long_clean_chain() {
    let mut checker = WindowChecker::new(ChainStart::Genesis, 8);
    let mut prev = Hash([0; 32]);
    for seq in 1..=2_000u64 {
        // Only the parts the checker reads; signing 2,000 records is not needed.
        let hash = Hash([(seq % 251) as u8; 32]);
        checker.push_parts(
            seq,
            ChainId::new(Id::new("s").unwrap(), Id::new("a").unwrap()),
            seq,
            hash,
            prev,
        );
        prev = hash;
    }
    let kept: usize = checker.chains.values().map(|c| c.entries.len()).sum();
    assert!(kept <= 2 * 9 + 1, "kept {kept} entries for one clean chain");
    let report = checker.finish(&FirstRecords::new());
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.chains[0].records, 2_000);
}
