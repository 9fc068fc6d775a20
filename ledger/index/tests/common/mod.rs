//! Signed records for the index tests: enrolments signed by an operator key, evidence
//! and healing records, rotations and revocations, sequence gaps and repeats, and bytes
//! that are not a record. Everything is deterministic (fixed keys, a small linear
//! congruential generator), so a failing test fails the same way every time.

#![allow(dead_code)]

use std::path::Path;

use ledger_core::hash::Hash;
use ledger_record::{
    Body, ChainId, EvidenceBody, EvidenceItem, HealingBody, Id, KeyBody, KeyId, Outcome, Record,
    RevocationReason, SigningKey, Status, Tier, UnsignedRecord,
};
use rusqlite::Connection;

pub const DAY_MS: u64 = 86_400_000;
/// 2023-11-14T00:00:00Z, the day most fixture records fall on.
pub const T0: u64 = 19_675 * DAY_MS;

pub fn id(s: &str) -> Id {
    Id::new(s).expect("test ids are valid")
}

pub fn chain(site: &str, appliance: &str) -> ChainId {
    ChainId::new(id(site), id(appliance))
}

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// Signs `body` as record `sequence` of `chain` at `time_ms` with `key`.
pub fn record(
    chain: &ChainId,
    sequence: u64,
    time_ms: u64,
    key: &SigningKey,
    body: Body,
) -> Record {
    let prev_hash = if sequence == 1 {
        Hash([0; 32])
    } else {
        Hash([1; 32])
    };
    Record::sign(
        UnsignedRecord {
            site_id: chain.site_id.clone(),
            appliance_id: chain.appliance_id.clone(),
            sequence,
            prev_hash,
            time_ms,
            key_id: KeyId::of(&key.verifying_key()),
            body,
        },
        key,
    )
    .expect("fixture records are valid")
}

pub fn item(check_type: &str, status: Status, time_ms: u64) -> EvidenceItem {
    EvidenceItem {
        check_type: id(check_type),
        host: id("host-1"),
        status,
        observed_at_ms: time_ms,
        details: String::new(),
        controls: vec!["HIPAA:164.312(b)".into()],
    }
}

pub fn evidence(items: Vec<EvidenceItem>) -> Body {
    Body::Evidence(EvidenceBody::inline(items).expect("valid items"))
}

pub fn committed(items: &[EvidenceItem]) -> Body {
    Body::Evidence(EvidenceBody::committed(items).expect("valid items"))
}

pub struct Healing<'a> {
    pub incident: &'a str,
    pub check_type: &'a str,
    pub pattern: &'a str,
    pub tier: Tier,
    pub outcome: Outcome,
    pub started_ms: u64,
    pub ended_ms: u64,
}

pub fn healing(h: Healing<'_>) -> Body {
    Body::Healing(HealingBody {
        incident_id: id(h.incident),
        check_type: id(h.check_type),
        pattern_signature: h.pattern.to_string(),
        tier: h.tier,
        runbook_id: id("rb-1"),
        action: "ran the runbook".into(),
        outcome: h.outcome,
        started_at_ms: h.started_ms,
        ended_at_ms: h.ended_ms,
        state_before: String::new(),
        state_after: String::new(),
    })
}

pub fn enrolment(subject: &ChainId, key: &SigningKey) -> Body {
    Body::Key(KeyBody::Enrolment {
        subject: subject.clone(),
        public_key: key.verifying_key(),
        enrolment_token_id: id("token-1"),
    })
}

pub fn rotation(old: &SigningKey, new: &SigningKey) -> Body {
    Body::Key(KeyBody::Rotation {
        old_key_id: KeyId::of(&old.verifying_key()),
        new_public_key: new.verifying_key(),
    })
}

pub fn revocation(subject: &ChainId, key: &SigningKey, reason: RevocationReason) -> Body {
    Body::Key(KeyBody::Revocation {
        subject: subject.clone(),
        key_id: KeyId::of(&key.verifying_key()),
        reason,
    })
}

/// A small linear congruential generator (Knuth's MMIX constants).
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

const CHECKS: [&str; 4] = ["disk_encryption", "firewall", "backup", "ntp_sync"];
const STATUSES: [Status; 4] = [Status::Pass, Status::Warning, Status::Fail, Status::Error];
const TIERS: [Tier; 3] = [Tier::L1, Tier::L2, Tier::L3];
const OUTCOMES: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Escalated];

/// `n` log entries of two sites with three appliances each over five days: enrolments
/// first, then mostly evidence and healing records (incidents spanning several records),
/// with a rotation, a revocation, sequence gaps and repeats, and entries that are not
/// records.
pub fn mixed_log(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Lcg::new(seed);
    let operator = key(200);
    let operator_chain = chain("operator", "ledger-operator");
    let mut operator_seq = 0;
    let mut chains = Vec::new();
    let mut out = Vec::new();
    for s in 0..2u8 {
        for a in 0..3u8 {
            let c = chain(&format!("site-{s}"), &format!("box-{a}"));
            let k = key(10 * s + a + 1);
            operator_seq += 1;
            out.push(
                record(
                    &operator_chain,
                    operator_seq,
                    T0,
                    &operator,
                    enrolment(&c, &k),
                )
                .encode(),
            );
            chains.push((c, k, 0u64));
        }
    }
    while out.len() < n {
        let pick = rng.below(chains.len() as u64) as usize;
        let roll = rng.below(100);
        let time_ms = T0 + rng.below(5 * DAY_MS);
        let (c, k, seq) = &mut chains[pick];
        // Mostly the next sequence; sometimes a gap or a repeat.
        *seq = match rng.below(40) {
            0 => *seq + 2,
            1 if *seq > 1 => *seq - 1,
            _ => *seq + 1,
        };
        let body = match roll {
            0 => {
                out.push(b"not a record".to_vec());
                continue;
            }
            1 => {
                let new = key(100 + (out.len() % 90) as u8);
                let body = rotation(k, &new);
                let r = record(c, *seq, time_ms, k, body);
                *k = new;
                out.push(r.encode());
                continue;
            }
            2 => {
                operator_seq += 1;
                let body = revocation(c, k, RevocationReason::KeyCompromise);
                out.push(record(&operator_chain, operator_seq, time_ms, &operator, body).encode());
                continue;
            }
            3..=9 => committed(&[item("backup", Status::Pass, time_ms)]),
            10..=59 => {
                let items = (0..1 + rng.below(4))
                    .map(|_| {
                        let check = CHECKS[rng.below(4) as usize];
                        item(check, STATUSES[rng.below(4) as usize], time_ms)
                    })
                    .collect();
                evidence(items)
            }
            _ => {
                let took = 1_000 + rng.below(600_000);
                healing(Healing {
                    incident: &format!("inc-{}", rng.below(12)),
                    check_type: CHECKS[rng.below(4) as usize],
                    pattern: &format!("pattern-{}", rng.below(5)),
                    tier: TIERS[rng.below(3) as usize],
                    outcome: OUTCOMES[rng.below(3) as usize],
                    started_ms: time_ms.saturating_sub(took),
                    ended_ms: time_ms,
                })
            }
        };
        out.push(record(c, *seq, time_ms, k, body).encode());
    }
    out
}

/// Every row of every table of the index file in `dir`, as text, in a fixed order.
pub fn dump(dir: &Path) -> Vec<String> {
    let conn = Connection::open(dir.join("index.sqlite")).unwrap();
    let mut out = Vec::new();
    for table in [
        "meta",
        "records",
        "record_checks",
        "daily_status",
        "incidents",
        "pattern_daily",
        "pattern_totals",
        "appliances",
        "chain_alarms",
        "keys",
    ] {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let columns = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                let mut row = format!("{table}:");
                for c in 0..columns {
                    let v: rusqlite::types::Value = r.get(c)?;
                    row.push_str(&format!(" {v:?}"));
                }
                Ok(row)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        out.extend(rows);
    }
    out
}
