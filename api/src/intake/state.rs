//! The state the intake rules need, and its rebuild from the log.
//!
//! Two things: where every appliance chain stands (its last sequence number and that
//! record's hash, plus the records handed to the sequencer and not yet durable), and the
//! key history (which key of which appliance is valid for which log index, RECORDS.md
//! §7). The log persists what this needs with every batch (`derived.rs`), so
//! [`IntakeState::open`] reads one pair per chain and key record instead of every entry,
//! and the state is always what the durable log says.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ed25519_dalek::VerifyingKey;
use ledger::Log;
use ledger_core::hash::Hash;
use ledger_record::{ChainId, KeyEntry, KeyHistory, ReleaseHistory};
use tokio::sync::Mutex as AsyncMutex;

use super::derived::{self, Restored};
use super::error::IntakeOpenError;
use crate::progress::ProgressLog;

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
    /// Release keys and releases (RECORDS.md §5.5), replayed like the key history.
    releases: RwLock<ReleaseHistory>,
    chains: Mutex<HashMap<ChainId, Arc<ChainSlot>>>,
}

impl IntakeState {
    /// Opens the state of `log`: read back from the log's derived state when that
    /// covers the whole log (one read per chain and key record), otherwise rebuilt from
    /// every entry first and written back (an older data directory, or entries appended
    /// without the deriver). Blocking.
    pub fn open(log: &Log, operator_key: VerifyingKey) -> Result<IntakeState, IntakeOpenError> {
        let started = std::time::Instant::now();
        let size = log.latest().size;
        if !derived::is_current(log)? {
            // A new log has nothing to rebuild; say so only when there is a scan to wait for.
            if size > 0 {
                tracing::info!(
                    "intake state does not cover the log's {size} entries: rebuilding it"
                );
            }
            let mut progress = ProgressLog::new("rebuilding the intake state", size);
            let skipped = derived::rebuild_and_store(log, &mut |done| progress.report(done))?;
            if skipped > 0 {
                tracing::warn!("{skipped} log entries are not records and were skipped");
            }
        }
        let restored = derived::restore(log, operator_key)?;
        tracing::info!(
            "intake state of {size} entries open in {} ms: {} chains, {} keys",
            started.elapsed().as_millis(),
            restored.heads.len(),
            restored.keys.keys().len()
        );
        Ok(IntakeState::from_restored(restored))
    }

    fn from_restored(restored: Restored) -> IntakeState {
        let chains = restored
            .heads
            .into_iter()
            .map(|(chain, head)| (chain, Arc::new(ChainSlot::new(head))))
            .collect();
        IntakeState {
            keys: RwLock::new(restored.keys),
            releases: RwLock::new(restored.releases),
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

    pub fn releases(&self) -> RwLockReadGuard<'_, ReleaseHistory> {
        self.releases.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn releases_mut(&self) -> RwLockWriteGuard<'_, ReleaseHistory> {
        self.releases.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The key of `chain` valid for the next entry, if any.
    pub fn current_key(&self, chain: &ChainId) -> Option<KeyEntry> {
        self.keys().key_at(chain, u64::MAX).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::rules::tests::{appliance_record, enrolment, Keys};

    fn log_at(dir: &std::path::Path, with_deriver: bool) -> Log {
        let mut config = ledger::LogConfig::new(dir, "test.example/intake");
        config.store.block_cache_bytes = 8 << 20;
        config.deriver = with_deriver.then(derived::deriver);
        Log::open(config).unwrap()
    }

    fn head(state: &IntakeState, chain: &ChainId) -> Head {
        *state.slot(chain).head.try_lock().unwrap()
    }

    /// The same entries give the same state whether it was persisted batch by batch or
    /// rebuilt from the entries because a tool appended without the deriver.
    #[test]
    fn persisted_and_rebuilt_state_agree_on_heads_and_keys() {
        let keys = Keys::new();
        let enrol = enrolment(&keys, 1);
        let first = appliance_record(&keys.appliance, 1, Head::EMPTY.hash, 1_000);
        let second = appliance_record(&keys.appliance, 2, first.hash(), 2_000);
        let entries = [
            enrol.as_bytes().to_vec(),
            b"not a record".to_vec(),
            first.as_bytes().to_vec(),
            second.as_bytes().to_vec(),
        ];
        let operator = keys.operator.verifying_key();
        let persisted = tempfile::tempdir().unwrap();
        let rebuilt = tempfile::tempdir().unwrap();
        for (dir, with) in [(&persisted, true), (&rebuilt, false)] {
            let log = log_at(dir.path(), with);
            for entry in &entries {
                log.append(entry.clone()).unwrap();
            }
            assert!(!derived::is_current(&log).unwrap());
        }
        let mut pairs = Vec::new();
        for dir in [&persisted, &rebuilt] {
            let log = log_at(dir.path(), true);
            let state = IntakeState::open(&log, operator).unwrap();
            assert!(derived::is_current(&log).unwrap());
            let chain = first.chain();
            assert_eq!(
                head(&state, &chain),
                Head {
                    sequence: 2,
                    hash: second.hash()
                }
            );
            assert_eq!(
                head(&state, &enrol.chain()),
                Head {
                    sequence: 1,
                    hash: enrol.hash()
                }
            );
            assert_eq!(
                state.current_key(&chain).map(|k| k.public_key),
                Some(keys.appliance.verifying_key())
            );
            pairs.push(derived::stored(&log).unwrap());
        }
        assert_eq!(pairs[0], pairs[1]);
        // Once current, a reopen restores without a rebuild and a later append keeps it
        // current.
        let log = log_at(persisted.path(), true);
        let third = appliance_record(&keys.appliance, 3, second.hash(), 3_000);
        log.append(third.as_bytes().to_vec()).unwrap();
        assert!(derived::is_current(&log).unwrap());
        let state = IntakeState::open(&log, operator).unwrap();
        assert_eq!(head(&state, &first.chain()).sequence, 3);
    }

    #[test]
    fn in_flight_marks_come_and_go() {
        let state = IntakeState::from_restored(Restored {
            heads: HashMap::new(),
            keys: KeyHistory::new(Keys::new().operator.verifying_key()),
            releases: ReleaseHistory::new(),
        });
        let slot = state.slot(&Keys::chain());
        assert_eq!(slot.in_flight_hash(1), None);
        slot.mark_in_flight(1, Hash([7; 32]));
        assert_eq!(slot.in_flight_hash(1), Some(Hash([7; 32])));
        slot.clear_in_flight(1);
        assert_eq!(slot.in_flight_hash(1), None);
    }
}
