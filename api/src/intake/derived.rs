//! The intake state as the log persists it (the log's derived state, see
//! `ledger::derived`): written with every batch, read back on start, so a restart costs
//! one read per chain and per key record instead of a scan of every entry.
//!
//! Layout of the pairs (all integers big-endian):
//!
//! | key | value | meaning |
//! |---|---|---|
//! | `v` | u64 | layout version; written by a rebuild only |
//! | `h` ‖ site length u8 ‖ site ‖ appliance | sequence u64 ‖ record hash (32) | chain head |
//! | `k` ‖ log index u64 | empty | a key record (or a period link) or a release record is at this index |
//! | `u` ‖ log index u64 | empty | a rollout or update record is at this index (the rollout engine's) |
//!
//! A key record's content stays in the log: the restore reads those entries and applies
//! them in index order. The state counts as current only when it covers the log's whole
//! size and carries this layout's version; anything else (an older data directory, a
//! batch appended by a tool without the deriver) makes the server rebuild it from the
//! entries and write it back. The rebuild derives exactly what the deriver derives, so
//! there is one way of computing the state, whichever path wrote it.

use std::collections::{BTreeMap, HashMap};

use ed25519_dalek::VerifyingKey;
use ledger::{Deriver, Log, StateWrites};
use ledger_core::hash::Hash;
use ledger_record::{Body, ChainId, Id, KeyBody, KeyHistory, Record, ReleaseHistory};

use super::error::IntakeOpenError;
use super::state::Head;

const VERSION_KEY: &[u8] = b"v";
const LAYOUT_VERSION: u64 = 1;
const HEAD_PREFIX: u8 = b'h';
const KEY_PREFIX: u8 = b'k';
const FLEET_PREFIX: u8 = b'u';
const HEAD_VALUE_LEN: usize = 40;

/// Every pair of a derived state, in key order.
pub type StatePairs = BTreeMap<Vec<u8>, Vec<u8>>;

/// The deriver the server's log runs: a chain head per record (and per chain a period link
/// carries), a marker per key record.
pub fn deriver() -> Deriver {
    Deriver::new(|index, bytes, out| {
        // Entries that are not records derive nothing (the log accepts any bytes).
        if let Ok(record) = Record::decode(bytes) {
            derive_record(index, &record, out);
        }
    })
}

fn derive_record(index: u64, record: &Record, out: &mut StateWrites) {
    let head = Head {
        sequence: record.sequence(),
        hash: record.hash(),
    };
    out.push((head_key(&record.chain()), head_value(&head)));
    match record.body() {
        Body::Release(_) => out.push((key_record_key(index), Vec::new())),
        Body::Rollout(_) | Body::Update(_) => {
            out.push((marker_key(FLEET_PREFIX, index), Vec::new()))
        }
        _ => {}
    }
    if let Body::Key(key) = record.body() {
        out.push((key_record_key(index), Vec::new()));
        // A period link starts every chain it carries at its head in the previous log.
        if let KeyBody::Link(link) = key {
            for carried in &link.carried {
                let head = Head {
                    sequence: carried.sequence,
                    hash: carried.head_hash,
                };
                out.push((head_key(&carried.chain), head_value(&head)));
            }
        }
    }
}

fn head_key(chain: &ChainId) -> Vec<u8> {
    let site = chain.site_id.as_str().as_bytes();
    let appliance = chain.appliance_id.as_str().as_bytes();
    let mut key = Vec::with_capacity(2 + site.len() + appliance.len());
    key.push(HEAD_PREFIX);
    // Ids are at most `Id::MAX_LEN` (128) bytes, so one length byte suffices.
    key.push(site.len() as u8);
    key.extend_from_slice(site);
    key.extend_from_slice(appliance);
    key
}

fn head_value(head: &Head) -> Vec<u8> {
    let mut value = Vec::with_capacity(HEAD_VALUE_LEN);
    value.extend_from_slice(&head.sequence.to_be_bytes());
    value.extend_from_slice(&head.hash.0);
    value
}

/// A marker of the record at `index`: `prefix` ‖ index.
fn marker_key(prefix: u8, index: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(9);
    key.push(prefix);
    key.extend_from_slice(&index.to_be_bytes());
    key
}

fn key_record_key(index: u64) -> Vec<u8> {
    marker_key(KEY_PREFIX, index)
}

fn damaged(what: &str, key: &[u8]) -> IntakeOpenError {
    IntakeOpenError::DamagedState(format!("{what} under key {}", hex::encode(key)))
}

fn parse_chain(key: &[u8]) -> Result<ChainId, IntakeOpenError> {
    let site_len = *key.get(1).ok_or_else(|| damaged("short chain key", key))? as usize;
    let site = key
        .get(2..2 + site_len)
        .ok_or_else(|| damaged("short chain key", key))?;
    let appliance = &key[2 + site_len..];
    let id = |bytes: &[u8]| {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| Id::new(s).ok())
            .ok_or_else(|| damaged("invalid id in chain key", key))
    };
    Ok(ChainId::new(id(site)?, id(appliance)?))
}

fn parse_head(key: &[u8], value: &[u8]) -> Result<(ChainId, Head), IntakeOpenError> {
    let chain = parse_chain(key)?;
    if value.len() != HEAD_VALUE_LEN {
        return Err(damaged("chain head not 40 bytes", key));
    }
    let sequence = u64::from_be_bytes(value[..8].try_into().expect("8 bytes"));
    let hash = Hash(value[8..].try_into().expect("32 bytes"));
    Ok((chain, Head { sequence, hash }))
}

fn parse_key_index(key: &[u8]) -> Result<u64, IntakeOpenError> {
    let index: [u8; 8] = key[1..]
        .try_into()
        .map_err(|_| damaged("key-record marker not 9 bytes", key))?;
    Ok(u64::from_be_bytes(index))
}

/// What a restore produces: every chain head, the key history and the release history.
pub struct Restored {
    pub heads: HashMap<ChainId, Head>,
    pub keys: KeyHistory,
    pub releases: ReleaseHistory,
}

/// Whether the persisted state covers the whole log in this layout.
pub fn is_current(log: &Log) -> Result<bool, IntakeOpenError> {
    if log.state_size()? != Some(log.latest().size) {
        return Ok(false);
    }
    match log.state_scan(VERSION_KEY).next() {
        Some(item) => {
            let (key, value) = item?;
            Ok(key == VERSION_KEY && value == LAYOUT_VERSION.to_be_bytes())
        }
        None => Ok(false),
    }
}

/// Reads the persisted state: the heads, then the key and release records it names,
/// applied in index order. Blocking: one read per chain and per such record.
pub fn restore(log: &Log, operator_key: VerifyingKey) -> Result<Restored, IntakeOpenError> {
    let mut heads = HashMap::new();
    for item in log.state_scan(&[HEAD_PREFIX]) {
        let (key, value) = item?;
        let (chain, head) = parse_head(&key, &value)?;
        heads.insert(chain, head);
    }
    let mut keys = KeyHistory::new(operator_key);
    let mut releases = ReleaseHistory::new();
    for item in log.state_scan(&[KEY_PREFIX]) {
        let (key, _) = item?;
        let index = parse_key_index(&key)?;
        let record = Record::decode(&log.entry(index)?).map_err(|e| {
            IntakeOpenError::DamagedState(format!(
                "derived intake state names entry {index} as a key record, but it is not a record: {e}"
            ))
        })?;
        // The log holds key and release records the histories refuse (RECORDS.md §7,
        // §5.5): they stay in the log and change nothing, as when they were appended.
        let applied = match record.body() {
            Body::Release(_) => releases
                .apply(&keys, index, &record)
                .map_err(|e| e.to_string()),
            _ => keys
                .apply(index, &record)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = applied {
            tracing::warn!(
                "{} record at index {index} not applied: {e}",
                record.kind().as_str()
            );
        }
    }
    Ok(Restored {
        heads,
        keys,
        releases,
    })
}

/// The rollout and update records the persisted state marks, in index order, for the
/// rollout engine. Blocking: one read per record.
pub fn fleet_records(log: &Log) -> Result<Vec<(u64, Record)>, IntakeOpenError> {
    let mut records = Vec::new();
    for item in log.state_scan(&[FLEET_PREFIX]) {
        let (key, _) = item?;
        let index = parse_key_index(&key)?;
        let record = Record::decode(&log.entry(index)?).map_err(|e| {
            IntakeOpenError::DamagedState(format!(
                "derived intake state names entry {index} as a rollout record, but it is not a record: {e}"
            ))
        })?;
        records.push((index, record));
    }
    Ok(records)
}

/// The derived state of the log's first `size` entries computed from the entries
/// themselves, and how many entries were not records. `progress` is called after each
/// chunk with the entries read so far. Blocking: reads every entry.
pub fn rebuild(
    log: &Log,
    size: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<(StatePairs, u64), IntakeOpenError> {
    let mut state = StatePairs::new();
    state.insert(VERSION_KEY.to_vec(), LAYOUT_VERSION.to_be_bytes().to_vec());
    let mut skipped = 0u64;
    let mut writes = StateWrites::new();
    log.for_each_chunk(0, size, |start, entries| {
        for (offset, bytes) in entries.iter().enumerate() {
            match Record::decode(bytes) {
                Ok(record) => derive_record(start + offset as u64, &record, &mut writes),
                Err(_) => skipped += 1,
            }
        }
        state.extend(writes.drain(..));
        progress(start + entries.len() as u64);
        Ok::<(), IntakeOpenError>(())
    })?;
    Ok((state, skipped))
}

/// The persisted state as it is on disk, every pair.
pub fn stored(log: &Log) -> Result<StatePairs, IntakeOpenError> {
    Ok(log.state_scan(b"").collect::<Result<_, _>>()?)
}

/// Rebuilds the state from the entries and replaces the persisted one with it. Call it
/// before anything is appended. Returns the number of entries that were not records.
pub fn rebuild_and_store(log: &Log, progress: &mut dyn FnMut(u64)) -> Result<u64, IntakeOpenError> {
    let size = log.latest().size;
    let (state, skipped) = rebuild(log, size, progress)?;
    store(log, state, size)?;
    Ok(skipped)
}

/// Replaces the persisted state with `state`, a rebuild of the first `size` entries.
pub fn store(log: &Log, state: StatePairs, size: u64) -> Result<(), IntakeOpenError> {
    let writes: StateWrites = state.into_iter().collect();
    log.replace_state(&writes, size)?;
    Ok(())
}

/// The chains and key records of a derived state.
pub fn count(state: &StatePairs) -> (usize, usize) {
    let chains = state
        .keys()
        .filter(|k| k.first() == Some(&HEAD_PREFIX))
        .count();
    let keys = state
        .keys()
        .filter(|k| k.first() == Some(&KEY_PREFIX))
        .count();
    (chains, keys)
}

/// How a persisted state differs from a rebuild, for `ledgerd fsck`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StateDiff {
    /// Keys the rebuild has and the persisted state lacks.
    pub missing: Vec<Vec<u8>>,
    /// Keys the persisted state has and the rebuild lacks.
    pub extra: Vec<Vec<u8>>,
    /// Keys whose values differ.
    pub changed: Vec<Vec<u8>>,
}

impl StateDiff {
    pub fn of(expected: &StatePairs, stored: &StatePairs) -> StateDiff {
        let mut diff = StateDiff::default();
        for (key, value) in expected {
            match stored.get(key) {
                None => diff.missing.push(key.clone()),
                Some(v) if v != value => diff.changed.push(key.clone()),
                Some(_) => {}
            }
        }
        diff.extra = stored
            .keys()
            .filter(|k| !expected.contains_key(*k))
            .cloned()
            .collect();
        diff
    }

    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.changed.is_empty()
    }
}

/// A key of the persisted state in words, for fsck reports.
pub fn describe_key(key: &[u8]) -> String {
    match key.first() {
        Some(&HEAD_PREFIX) => match parse_chain(key) {
            Ok(chain) => format!("head of chain {chain}"),
            Err(_) => format!("damaged chain key {}", hex::encode(key)),
        },
        Some(&KEY_PREFIX) => match parse_key_index(key) {
            Ok(index) => format!("key record at index {index}"),
            Err(_) => format!("damaged key-record marker {}", hex::encode(key)),
        },
        Some(&FLEET_PREFIX) => match parse_key_index(key) {
            Ok(index) => format!("rollout or update record at index {index}"),
            Err(_) => format!("damaged rollout-record marker {}", hex::encode(key)),
        },
        _ if key == VERSION_KEY => "layout version".to_string(),
        _ => format!("unknown key {}", hex::encode(key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::rules::tests::{appliance_record, enrolment, Keys};

    #[test]
    fn chain_keys_round_trip_and_keep_sites_apart() {
        let chain = ChainId::new(Id::new("site-a").unwrap(), Id::new("b").unwrap());
        // The same bytes split differently: the length byte keeps the two apart.
        let other = ChainId::new(Id::new("site-").unwrap(), Id::new("ab").unwrap());
        assert_ne!(head_key(&chain), head_key(&other));
        let head = Head {
            sequence: 42,
            hash: Hash([7; 32]),
        };
        let (parsed, back) = parse_head(&head_key(&chain), &head_value(&head)).unwrap();
        assert_eq!((parsed, back), (chain.clone(), head));
        assert_eq!(describe_key(&head_key(&chain)), "head of chain site-a/b");
        assert!(parse_head(&head_key(&chain), &[0; 39]).is_err());
        assert!(parse_head(&[HEAD_PREFIX, 200, b'x'], &head_value(&head)).is_err());
        assert_eq!(describe_key(&key_record_key(9)), "key record at index 9");
        assert!(describe_key(&[KEY_PREFIX, 1]).starts_with("damaged"));
    }

    #[test]
    fn records_derive_their_head_and_key_records_a_marker() {
        let keys = Keys::new();
        let enrol = enrolment(&keys, 1);
        let first = appliance_record(&keys.appliance, 1, Hash([0; 32]), 1_000);
        let second = appliance_record(&keys.appliance, 2, first.hash(), 2_000);
        let mut writes = StateWrites::new();
        let derive = deriver();
        for (index, bytes) in [
            (0u64, enrol.as_bytes()),
            (1, b"not a record".as_slice()),
            (2, first.as_bytes()),
            (3, second.as_bytes()),
        ] {
            writes.extend(derive.derive_one(index, bytes));
        }
        let pairs: StatePairs = writes.into_iter().collect();
        let chain = first.chain();
        let (_, head) = parse_head(&head_key(&chain), &pairs[&head_key(&chain)]).unwrap();
        assert_eq!(head.sequence, 2);
        assert_eq!(head.hash, second.hash());
        assert!(pairs.contains_key(&key_record_key(0)));
        // The enrolment's own chain (the operator's) and the appliance chain; no marker
        // for the entry that is not a record.
        assert_eq!(pairs.len(), 3);
    }

    #[test]
    fn diff_names_missing_extra_and_changed_keys() {
        let expected: StatePairs = [(b"a".to_vec(), vec![1]), (b"b".to_vec(), vec![2])].into();
        let stored: StatePairs = [(b"b".to_vec(), vec![3]), (b"c".to_vec(), vec![4])].into();
        let diff = StateDiff::of(&expected, &stored);
        assert_eq!(diff.missing, vec![b"a".to_vec()]);
        assert_eq!(diff.changed, vec![b"b".to_vec()]);
        assert_eq!(diff.extra, vec![b"c".to_vec()]);
        assert!(StateDiff::of(&expected, &expected).is_empty());
    }
}
