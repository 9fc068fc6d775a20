//! The projection and the queries over a small hand-written log whose every answer is
//! known, and the invariants that make the index a pure function of the log: chunk
//! boundaries, a schema change and a rebuild through the log's own reads give the same
//! rows.

mod common;

use common::*;
use ledger::{Log, LogConfig};
use ledger_index::{
    ChainFacts, CompletenessAlarm, IncidentFilter, QueryIndex, RecordFilter, Scope, TierCounts,
};
use ledger_record::{Outcome, Record, RevocationReason, Status, Tier};

const DAY0: i64 = (T0 / DAY_MS) as i64;

fn sites(names: &[&str]) -> Scope {
    Scope::Sites(names.iter().map(|s| s.to_string()).collect())
}

/// The hand-written log: an enrolment, evidence, bytes that are no record, two healing
/// records of one incident (the second after a sequence gap), another site, a repeated
/// sequence, a rotation and a revocation.
fn small_log() -> Vec<Record> {
    let operator = key(200);
    let op = chain("operator", "ledger-operator");
    let a1 = chain("s1", "a1");
    let b1 = chain("s2", "b1");
    let heal = |outcome, tier, started_ms, ended_ms| {
        healing(Healing {
            incident: "inc-1",
            check_type: "firewall",
            pattern: "pattern-a",
            tier,
            outcome,
            started_ms,
            ended_ms,
        })
    };
    vec![
        record(&op, 1, T0, &operator, enrolment(&a1, &key(1))),
        record(
            &a1,
            1,
            T0 + 1_000,
            &key(1),
            evidence(vec![
                item("firewall", Status::Pass, T0),
                item("firewall", Status::Pass, T0),
                item("backup", Status::Fail, T0),
            ]),
        ),
        record(
            &a1,
            2,
            T0 + 5_000,
            &key(1),
            heal(Outcome::Success, Tier::L1, T0 + 2_000, T0 + 5_000),
        ),
        record(
            &a1,
            4,
            T0 + DAY_MS + 3_000,
            &key(1),
            heal(
                Outcome::Failure,
                Tier::L2,
                T0 + DAY_MS + 1_000,
                T0 + DAY_MS + 3_000,
            ),
        ),
        record(
            &b1,
            1,
            T0 + DAY_MS,
            &key(3),
            evidence(vec![item("backup", Status::Warning, T0)]),
        ),
        record(
            &a1,
            4,
            T0 + 2 * DAY_MS,
            &key(1),
            committed(&[item("backup", Status::Fail, T0)]),
        ),
        record(
            &a1,
            5,
            T0 + 2 * DAY_MS + 1,
            &key(1),
            rotation(&key(1), &key(2)),
        ),
        record(
            &op,
            2,
            T0 + 3 * DAY_MS,
            &operator,
            revocation(&a1, &key(2), RevocationReason::Decommissioned),
        ),
    ]
}

/// The entries of [`small_log`] with a non-record entry at index 2: record `k` of the
/// list is at log index `k` for `k < 2` and `k + 1` after.
fn small_entries() -> Vec<Vec<u8>> {
    let mut entries: Vec<Vec<u8>> = small_log().iter().map(Record::encode).collect();
    entries.insert(2, b"not a record".to_vec());
    entries
}

fn indexed_small_log() -> (tempfile::TempDir, QueryIndex) {
    let dir = tempfile::tempdir().unwrap();
    let index = QueryIndex::open(dir.path()).unwrap();
    index.index_entries(0, &small_entries()).unwrap();
    (dir, index)
}

fn indexes<T>(items: &[T], index: impl Fn(&T) -> u64) -> Vec<u64> {
    items.iter().map(index).collect()
}

#[test]
fn lookups_by_hash_and_sequence() {
    let (_dir, index) = indexed_small_log();
    assert_eq!(index.indexed_size().unwrap(), 9);
    let log = small_log();
    assert_eq!(index.find_by_hash(&log[1].hash()).unwrap(), Some(1));
    assert_eq!(index.find_by_hash(&log[7].hash()).unwrap(), Some(8));
    assert_eq!(
        index
            .find_by_hash(&ledger_core::hash::Hash([9; 32]))
            .unwrap(),
        None
    );
    let range = index.chain_range(&chain("s1", "a1"), 1, 10, 100).unwrap();
    let pairs: Vec<(u64, u64)> = range.iter().map(|e| (e.sequence, e.index)).collect();
    assert_eq!(pairs, [(1, 1), (2, 3), (4, 4), (4, 6), (5, 7)]);
    assert_eq!(
        index
            .chain_range(&chain("s1", "a1"), 2, 4, 2)
            .unwrap()
            .len(),
        2
    );
    assert!(index
        .chain_range(&chain("s1", "zz"), 1, 10, 100)
        .unwrap()
        .is_empty());
}

#[test]
fn fleet_facts_alarms_and_key_history() {
    let (_dir, index) = indexed_small_log();
    let facts = ChainFacts {
        records: 5,
        last_sequence: Some(5),
        last_record_index: Some(7),
        last_record_time_ms: Some(T0 + 2 * DAY_MS + 1),
        completeness_alarms: 2,
    };
    assert_eq!(
        index.site_chains("s1").unwrap(),
        [("a1".to_string(), facts)]
    );
    assert_eq!(
        index.chain_alarms("s1", "a1", 10).unwrap(),
        [
            CompletenessAlarm {
                index: 4,
                expected_sequence: 3,
                sequence: 4,
                kind: "gap"
            },
            CompletenessAlarm {
                index: 6,
                expected_sequence: 5,
                sequence: 4,
                kind: "out_of_order"
            },
        ]
    );
    assert_eq!(index.chain_alarms("s1", "a1", 1).unwrap().len(), 1);
    let keys = index.site_keys("s1").unwrap();
    let key_id =
        |seed| hex::encode(ledger_record::KeyId::of(&key(seed).verifying_key()).as_bytes());
    assert_eq!(keys.len(), 2);
    let (first, second) = (&keys[0].1, &keys[1].1);
    assert_eq!(
        (
            first.key_id.clone(),
            first.introduced_by.as_str(),
            first.introduced_at_index
        ),
        (key_id(1), "enrolment", 0)
    );
    assert_eq!(
        first.public_key,
        hex::encode(key(1).verifying_key().as_bytes())
    );
    assert_eq!(
        (
            first.ended_at_index,
            first.end_reason.as_deref(),
            first.replaced_by.clone()
        ),
        (Some(7), Some("rotated"), Some(key_id(2)))
    );
    assert_eq!(
        (
            second.key_id.clone(),
            second.introduced_by.as_str(),
            second.introduced_at_index
        ),
        (key_id(2), "rotation", 7)
    );
    assert_eq!(
        (
            second.ended_at_index,
            second.end_reason.as_deref(),
            second.replaced_by.clone()
        ),
        (Some(8), Some("revoked:decommissioned"), None)
    );
    assert!(index.site_chains("nowhere").unwrap().is_empty());
    // The operator chain's site, the site with keys and records, the other site.
    assert_eq!(index.sites().unwrap(), ["operator", "s1", "s2"]);
}

#[test]
fn daily_counts_cover_every_day_of_the_range() {
    let (_dir, index) = indexed_small_log();
    let days = index
        .daily_status(&Scope::All, None, None, DAY0, DAY0 + 2)
        .unwrap();
    assert_eq!(
        days.iter().map(|d| d.day.as_str()).collect::<Vec<_>>(),
        ["2023-11-14", "2023-11-15", "2023-11-16"]
    );
    let counts = |d: &ledger_index::DayCounts| (d.pass, d.warning, d.fail, d.error);
    assert_eq!(
        days.iter().map(counts).collect::<Vec<_>>(),
        [(2, 0, 1, 0), (0, 1, 0, 0), (0, 0, 0, 0)]
    );
    let s1 = index
        .daily_status(&sites(&["s1"]), None, None, DAY0, DAY0 + 1)
        .unwrap();
    assert_eq!(
        s1.iter().map(counts).collect::<Vec<_>>(),
        [(2, 0, 1, 0), (0, 0, 0, 0)]
    );
    let a1 = index
        .daily_status(&Scope::All, Some("a1"), Some("backup"), DAY0, DAY0)
        .unwrap();
    assert_eq!(a1.iter().map(counts).collect::<Vec<_>>(), [(0, 0, 1, 0)]);
    let none = index
        .daily_status(&sites(&[]), None, None, DAY0, DAY0)
        .unwrap();
    assert_eq!(none.iter().map(counts).collect::<Vec<_>>(), [(0, 0, 0, 0)]);
}

#[test]
fn record_search_filters_and_pages() {
    let (_dir, index) = indexed_small_log();
    let search = |scope: &Scope, f: RecordFilter| index.search_records(scope, &f).unwrap();
    let all = |limit| RecordFilter {
        limit,
        ..RecordFilter::default()
    };
    let failing = search(
        &Scope::All,
        RecordFilter {
            status: Some(2),
            ..all(10)
        },
    );
    assert_eq!(indexes(&failing.items, |h| h.index), [1]);
    let checks: Vec<(&str, &str, u64)> = failing.items[0]
        .checks
        .iter()
        .map(|c| (c.check_type.as_str(), c.status, c.items))
        .collect();
    assert_eq!(checks, [("backup", "fail", 1), ("firewall", "pass", 2)]);
    let firewall = search(
        &Scope::All,
        RecordFilter {
            check_type: Some("firewall".into()),
            ..all(10)
        },
    );
    assert_eq!(indexes(&firewall.items, |h| h.index), [4, 3, 1]);
    assert_eq!(firewall.items[0].tier, Some("L2"));
    assert_eq!(firewall.items[0].outcome, Some("failure"));
    assert_eq!(firewall.items[0].incident_id.as_deref(), Some("inc-1"));
    assert!(firewall.items[0].checks.is_empty());
    let first = search(&sites(&["s1"]), all(2));
    assert_eq!(indexes(&first.items, |h| h.index), [7, 6]);
    assert_eq!(first.next_cursor.as_deref(), Some("6"));
    let second = search(
        &sites(&["s1"]),
        RecordFilter {
            before: Some(6),
            ..all(2)
        },
    );
    assert_eq!(indexes(&second.items, |h| h.index), [4, 3]);
    let last = search(
        &sites(&["s1"]),
        RecordFilter {
            before: Some(3),
            ..all(2)
        },
    );
    assert_eq!(indexes(&last.items, |h| h.index), [1]);
    assert_eq!(last.next_cursor, None);
    let s2 = search(&sites(&["s2"]), all(10));
    assert_eq!(indexes(&s2.items, |h| h.index), [5]);
    assert_eq!(s2.items[0].kind, "evidence");
    let timed = search(
        &Scope::All,
        RecordFilter {
            kind: Some(2),
            from_ms: Some(T0 + 5_000),
            to_ms: Some(T0 + DAY_MS + 3_000),
            ..all(10)
        },
    );
    assert_eq!(indexes(&timed.items, |h| h.index), [3]);
    assert!(search(&sites(&[]), all(10)).items.is_empty());
}

#[test]
fn incidents_group_their_healing_records() {
    let (_dir, index) = indexed_small_log();
    let page = index
        .search_incidents(
            &Scope::All,
            &IncidentFilter {
                limit: 10,
                ..IncidentFilter::default()
            },
        )
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.next_cursor, None);
    let found = &page.items[0];
    assert_eq!(
        (
            found.site_id.as_str(),
            found.incident_id.as_str(),
            found.appliance_id.as_str()
        ),
        ("s1", "inc-1", "a1")
    );
    assert_eq!((found.tier, found.outcome), ("L2", "failure"));
    assert_eq!(
        (found.started_at_ms, found.ended_at_ms),
        (T0 + 2_000, T0 + DAY_MS + 3_000)
    );
    assert_eq!(
        (found.records, found.first_index, found.last_index),
        (2, 3, 4)
    );
    let (detail, records) = index.incident("s1", "inc-1").unwrap().unwrap();
    assert_eq!(&detail, found);
    assert_eq!(records, [3, 4]);
    assert_eq!(index.incident("s2", "inc-1").unwrap(), None);
    let filtered = |f: IncidentFilter| index.search_incidents(&Scope::All, &f).unwrap().items.len();
    let base = IncidentFilter {
        limit: 10,
        ..IncidentFilter::default()
    };
    assert_eq!(
        filtered(IncidentFilter {
            outcome: Some(0),
            ..base.clone()
        }),
        0
    );
    assert_eq!(
        filtered(IncidentFilter {
            tier: Some(2),
            ..base.clone()
        }),
        1
    );
    assert_eq!(
        filtered(IncidentFilter {
            from_ms: Some(T0 + DAY_MS + 3_001),
            ..base.clone()
        }),
        0
    );
    assert_eq!(
        filtered(IncidentFilter {
            to_ms: Some(T0 + 2_001),
            ..base.clone()
        }),
        1
    );
    assert_eq!(
        filtered(IncidentFilter {
            before: Some(3),
            ..base
        }),
        0
    );
}

#[test]
fn pattern_statistics_over_all_days_and_a_range() {
    let (_dir, index) = indexed_small_log();
    let all = index
        .pattern_stats(&Scope::All, None, None, None, None)
        .unwrap();
    assert_eq!(all.len(), 1);
    let p = &all[0];
    assert_eq!(p.pattern_signature, "pattern-a");
    assert_eq!(
        (p.occurrences, p.successes, p.failures, p.escalations),
        (2, 1, 1, 0)
    );
    assert_eq!(p.success_rate, 0.5);
    assert_eq!(p.mean_time_to_resolve_ms, Some(3_000.0));
    assert_eq!(
        p.tiers,
        TierCounts {
            L1: 1,
            L2: 1,
            L3: 0
        }
    );
    assert_eq!(p.check_types, ["firewall"]);
    let second_day = index
        .pattern_stats(&Scope::All, None, None, Some(DAY0 + 1), None)
        .unwrap();
    assert_eq!((second_day[0].occurrences, second_day[0].failures), (1, 1));
    assert_eq!(second_day[0].mean_time_to_resolve_ms, None);
    assert_eq!(second_day[0].success_rate, 0.0);
    let tier_one = index
        .pattern_stats(&Scope::All, Some("firewall"), Some(1), None, None)
        .unwrap();
    assert_eq!(
        tier_one[0].tiers,
        TierCounts {
            L1: 1,
            L2: 0,
            L3: 0
        }
    );
    assert!(index
        .pattern_stats(&sites(&["s2"]), None, None, None, None)
        .unwrap()
        .is_empty());
    assert!(index
        .pattern_stats(&Scope::All, Some("backup"), None, None, None)
        .unwrap()
        .is_empty());
}

#[test]
fn chunk_boundaries_do_not_change_the_rows() {
    let entries = mixed_log(2_500, 9);
    let whole = tempfile::tempdir().unwrap();
    QueryIndex::open(whole.path())
        .unwrap()
        .index_entries(0, &entries)
        .unwrap();
    let expected = dump(whole.path());
    assert!(expected.len() > 5_000, "the fixture fills the tables");
    for chunk in [1, 64, 999] {
        let dir = tempfile::tempdir().unwrap();
        let index = QueryIndex::open(dir.path()).unwrap();
        for (k, part) in entries.chunks(chunk).enumerate() {
            index.index_entries((k * chunk) as u64, part).unwrap();
        }
        assert_eq!(dump(dir.path()), expected, "chunks of {chunk}");
    }
}

#[test]
fn another_schema_version_is_rebuilt_from_scratch() {
    let (dir, index) = indexed_small_log();
    let before = dump(dir.path());
    drop(index);
    let file = rusqlite::Connection::open(dir.path().join("index.sqlite")).unwrap();
    file.pragma_update(None, "user_version", ledger_index::SCHEMA_VERSION - 1)
        .unwrap();
    drop(file);
    let index = QueryIndex::open(dir.path()).unwrap();
    assert_eq!(index.indexed_size().unwrap(), 0);
    assert!(dump(dir.path()).is_empty());
    index.index_entries(0, &small_entries()).unwrap();
    assert_eq!(dump(dir.path()), before);
    drop(index);
    // The same version is kept as it is.
    let index = QueryIndex::open(dir.path()).unwrap();
    assert_eq!(index.indexed_size().unwrap(), 9);
}

#[test]
fn catch_up_projects_a_real_log_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(LogConfig::new(dir.path().join("log"), "index.test/log")).unwrap();
    // More than one read of the log (4096 entries) per chunk.
    for part in mixed_log(5_000, 5).chunks(1_000) {
        log.append_batch(part.to_vec()).unwrap();
    }
    let size = log.latest().size;
    let tailed = dir.path().join("tailed");
    std::fs::create_dir_all(&tailed).unwrap();
    let index = QueryIndex::open(&tailed).unwrap();
    assert_eq!(index.catch_up(&log).unwrap(), size);
    assert_eq!(index.indexed_size().unwrap(), size);
    // Nothing is missing the second time.
    assert_eq!(index.catch_up(&log).unwrap(), size);
    let direct = dir.path().join("direct");
    std::fs::create_dir_all(&direct).unwrap();
    let entries: Vec<Vec<u8>> = (0..size)
        .step_by(4096)
        .flat_map(|at| log.entries(at, size.min(at + 4096)).unwrap())
        .collect();
    QueryIndex::open(&direct)
        .unwrap()
        .index_entries(0, &entries)
        .unwrap();
    assert_eq!(dump(&tailed), dump(&direct));
}
