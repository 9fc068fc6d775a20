//! The state the intake rules need, and its rebuild from the log.
//!
//! Two things: where every appliance chain stands (its last sequence number and that
//! record's hash, plus the records handed to the sequencer and not yet durable), and the
//! key history (which key of which appliance is valid for which log index, RECORDS.md
//! §7). Nothing here has storage of its own: [`IntakeState::rebuild`] replays every log
//! entry at start-up, so the state is always what the durable log says.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ed25519_dalek::VerifyingKey;
use ledger::Log;
use ledger_core::hash::Hash;
use ledger_record::{Body, ChainId, KeyEntry, KeyHistory, Record};
use tokio::sync::Mutex as AsyncMutex;

use super::error::IntakeOpenError;

/// Where an appliance's chain stands: its last sequence number (0 before the first
/// record) and that record's hash (all zero before the first record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub sequence: u64,
    pub hash: Hash,
}

impl Head {
    pub const EMPTY: Head = Head {
        sequence: 0,
        hash: Hash([0; 32]),
    };
}

/// One appliance chain: its head behind the async lock that serializes the chain's
/// requests, and the records handed over and not yet answered.
pub struct ChainSlot {
    pub head: Arc<AsyncMutex<Head>>,
    /// Records handed to the sequencer and not yet answered: sequence → record hash.
    /// Lets an identical retry of an in-flight record be told from a conflicting one.
    in_flight: Mutex<HashMap<u64, Hash>>,
}

impl ChainSlot {
    fn new(head: Head) -> ChainSlot {
        ChainSlot {
            head: Arc::new(AsyncMutex::new(head)),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Hash>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The hash of the in-flight record with this sequence, if there is one.
    pub fn in_flight_hash(&self, sequence: u64) -> Option<Hash> {
        self.in_flight().get(&sequence).copied()
    }

    pub fn mark_in_flight(&self, sequence: u64, record_hash: Hash) {
        self.in_flight().insert(sequence, record_hash);
    }

    pub fn clear_in_flight(&self, sequence: u64) {
        self.in_flight().remove(&sequence);
    }
}

/// The chains and the key history of one log.
pub struct IntakeState {
    keys: RwLock<KeyHistory>,
    chains: Mutex<HashMap<ChainId, Arc<ChainSlot>>>,
}

impl IntakeState {
    /// Builds the state by replaying every entry of the log: chain heads from every
    /// record, the key history from every key record (RECORDS.md §7). Entries that are
    /// not records are skipped with a warning (the log itself accepts any bytes).
    /// Blocking: reads the whole log.
    pub fn rebuild(log: &Log, operator_key: VerifyingKey) -> Result<IntakeState, IntakeOpenError> {
        let mut replay = Replay::new(operator_key);
        let size = log.latest().size;
        log.for_each_chunk(0, size, |start, entries| {
            for (offset, bytes) in entries.iter().enumerate() {
                replay.entry(start + offset as u64, bytes);
            }
            Ok::<(), IntakeOpenError>(())
        })?;
        if replay.skipped > 0 {
            tracing::warn!(
                "{} log entries are not records and were skipped",
                replay.skipped
            );
        }
        tracing::info!(
            "intake state rebuilt from {size} entries: {} chains, {} keys",
            replay.heads.len(),
            replay.keys.keys().len()
        );
        Ok(IntakeState::from_replay(replay))
    }

    fn from_replay(replay: Replay) -> IntakeState {
        let chains = replay
            .heads
            .into_iter()
            .map(|(chain, head)| (chain, Arc::new(ChainSlot::new(head))))
            .collect();
        IntakeState {
            keys: RwLock::new(replay.keys),
            chains: Mutex::new(chains),
        }
    }

    /// The slot of `chain`, created empty for a chain without records.
    pub fn slot(&self, chain: &ChainId) -> Arc<ChainSlot> {
        let mut chains = self.chains.lock().unwrap_or_else(|p| p.into_inner());
        chains
            .entry(chain.clone())
            .or_insert_with(|| Arc::new(ChainSlot::new(Head::EMPTY)))
            .clone()
    }

    pub fn keys(&self) -> RwLockReadGuard<'_, KeyHistory> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn keys_mut(&self) -> RwLockWriteGuard<'_, KeyHistory> {
        self.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The key of `chain` valid for the next entry, if any.
    pub fn current_key(&self, chain: &ChainId) -> Option<KeyEntry> {
        self.keys().key_at(chain, u64::MAX).cloned()
    }
}

/// The state being rebuilt, one log entry after another.
struct Replay {
    keys: KeyHistory,
    heads: HashMap<ChainId, Head>,
    skipped: u64,
}

impl Replay {
    fn new(operator_key: VerifyingKey) -> Replay {
        Replay {
            keys: KeyHistory::new(operator_key),
            heads: HashMap::new(),
            skipped: 0,
        }
    }

    /// Takes the log entry at `index` into the state.
    fn entry(&mut self, index: u64, bytes: &[u8]) {
        let Ok(record) = Record::decode(bytes) else {
            self.skipped += 1;
            return;
        };
        if matches!(record.body(), Body::Key(_)) {
            if let Err(e) = self.keys.apply(index, &record) {
                tracing::warn!("key record at index {index} not applied: {e}");
            }
        }
        let head = self.heads.entry(record.chain()).or_insert(Head::EMPTY);
        if record.sequence() > head.sequence {
            *head = Head {
                sequence: record.sequence(),
                hash: record.hash(),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::rules::tests::{appliance_record, enrolment, Keys};

    #[test]
    fn replay_takes_heads_keys_and_skips_other_entries() {
        let keys = Keys::new();
        let mut replay = Replay::new(keys.operator.verifying_key());
        let enrol = enrolment(&keys, 1);
        replay.entry(0, enrol.as_bytes());
        replay.entry(1, b"not a record");
        let first = appliance_record(&keys.appliance, 1, Head::EMPTY.hash, 1_000);
        let second = appliance_record(&keys.appliance, 2, first.hash(), 2_000);
        replay.entry(2, first.as_bytes());
        replay.entry(3, second.as_bytes());
        assert_eq!(replay.skipped, 1);
        let state = IntakeState::from_replay(replay);
        let chain = first.chain();
        let head = *state.slot(&chain).head.try_lock().unwrap();
        assert_eq!(
            head,
            Head {
                sequence: 2,
                hash: second.hash()
            }
        );
        assert_eq!(
            state.current_key(&chain).map(|k| k.public_key),
            Some(keys.appliance.verifying_key())
        );
        assert_eq!(
            *state.slot(&enrol.chain()).head.try_lock().unwrap(),
            Head {
                sequence: 1,
                hash: enrol.hash()
            }
        );
    }

    #[test]
    fn in_flight_marks_come_and_go() {
        let state = IntakeState::from_replay(Replay::new(Keys::new().operator.verifying_key()));
        let slot = state.slot(&Keys::chain());
        assert_eq!(slot.in_flight_hash(1), None);
        slot.mark_in_flight(1, Hash([7; 32]));
        assert_eq!(slot.in_flight_hash(1), Some(Hash([7; 32])));
        slot.clear_in_flight(1);
        assert_eq!(slot.in_flight_hash(1), None);
    }
}
