//! The intake path shared by HTTP and gRPC: the rules for signed records applied to
//! every submitted record before it reaches the sequencer.
//!
//! For each record, in this order (the rules themselves are in `rules`):
//! 1. it decodes as a canonical record (`Record::decode`: size, truncation, trailing
//!    bytes, deterministic CBOR, known version and kind, docs/RECORDS.md §1);
//! 2. the caller's credential is the appliance's own (a credential for site A never
//!    appends for site B), and the record is not an operator-only key record;
//! 3. identical bytes already logged (or in flight) get the original index and receipt;
//!    a *different* record with an already used sequence number is refused;
//! 4. its sequence is the appliance's last + 1 and its `prev_hash` is the record hash of
//!    the appliance's last record (RECORDS.md §6), otherwise the answer says what was
//!    expected;
//! 5. its appliance time is not further in the future than the configured skew;
//! 6. it is signed by the appliance's key valid now (RECORDS.md §7): unknown, rotated
//!    and revoked keys are refused, and the signature is checked strictly (batch
//!    verification first when a request carries several records, see `signatures`).
//!
//! Concurrency. Every appliance chain has an async mutex held around steps 3–6 and the
//! hand-over to the sequencer, so two concurrent requests of one appliance cannot both
//! take sequence N. The sequencer queue is FIFO, so records handed over in chain order
//! get log indexes in chain order; the chain head advances when a record is handed
//! over, which lets one appliance pipeline many records. Requests that change keys
//! (rotation, enrolment, revocation) additionally take one global key lock and keep
//! their chain locks until the key record is durable and applied to the key history,
//! so a record is never checked against a key that a pending key record is about to
//! end. Lock order: key lock, then appliance chains in `ChainId` order, then the
//! operator chain. Whether a record with a taken sequence is already in the log is
//! looked up after the locks are released, on the blocking pool, with the receipts.
//!
//! State. The chain heads and the key history are persisted by the log with every
//! batch (`derived`) and read back at start-up, so they are always what is durable. A
//! refusal before the hand-over (queue full, disk below its reserve) leaves the heads
//! where they were. If the sequencer fails after accepting a hand-over, the heads in
//! memory are ahead of the log, but a failed sequencer takes no further appends and the
//! next start reads them from what is durable.

pub mod derived;
mod error;
mod key_records;
mod outcomes;
mod release_records;
mod rules;
mod signatures;
mod state;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::{CheckpointInfo, LedgerError, Log};
use ledger_core::hash::{leaf_hash, Hash};
use ledger_record::{Body, ChainId, KeyEntry, Record};
use tokio::sync::{oneshot, Mutex as AsyncMutex, OwnedMutexGuard};

pub use error::{ErrorKind, Fork, IntakeError, IntakeOpenError};
pub use outcomes::Pending;

use crate::auth::Principal;
use crate::clock::now_ms;
use crate::metrics::Metrics;
use crate::operator::OperatorKey;
use rules::{ChainCheck, Clock, Plan, SignatureCheck};
use state::{ChainSlot, Head, IntakeState};

/// Settings of the intake rules.
#[derive(Debug, Clone)]
pub struct IntakeConfig {
    pub max_future_skew: Duration,
    pub max_batch_records: usize,
    pub retry_after_secs: u64,
    pub operator_chain: ChainId,
    /// The tree size a frozen log ended at (`ledgerd period freeze`): every append and
    /// key record is refused with `log_frozen`.
    pub frozen_at: Option<u64>,
}

/// A record in the log, as answered to the client that appended it.
#[derive(Debug, Clone)]
pub struct Appended {
    pub index: u64,
    /// True when identical bytes were logged before; `index` is the original one.
    pub duplicate: bool,
    /// SHA-256 of the record bytes (RECORDS.md §4.1).
    pub record_hash: Hash,
    /// RFC 6962 leaf hash of the log entry.
    pub leaf_hash: Hash,
    /// The signed checkpoint that covers `index`.
    pub checkpoint: Arc<CheckpointInfo>,
    /// Audit path of `index` in `checkpoint`.
    pub proof: Vec<Hash>,
}

/// The outcome for one record of a request.
pub type Outcome = Result<Appended, IntakeError>;

/// The intake state of one log.
pub struct Intake {
    log: Arc<Log>,
    state: IntakeState,
    key_lock: Arc<AsyncMutex<()>>,
    operator: OperatorKey,
    config: IntakeConfig,
    pub metrics: Arc<Metrics>,
    /// With witnesses: answers wait for a cosigned checkpoint that covers them.
    witness: Option<crate::witness::Gate>,
    /// Where newly logged `update` records go (the rollout engine), once set.
    fleet_feed: std::sync::OnceLock<FleetFeed>,
}

/// The channel on which newly logged `update` records (log index, record) are sent.
pub type FleetFeed = tokio::sync::mpsc::UnboundedSender<(u64, Record)>;

/// One record moving through [`Intake::submit`].
struct Item {
    record: Record,
    record_hash: Hash,
    leaf: Hash,
    /// The early signature check, if one was made.
    signature: Option<SignatureCheck>,
}

/// A chain whose lock a request holds.
struct LockedChain {
    chain: ChainId,
    slot: Arc<ChainSlot>,
    guard: OwnedMutexGuard<Head>,
}

/// What the sequencer answers for one hand-over.
type SequencerReply = oneshot::Receiver<Result<Vec<ledger::Appended>, LedgerError>>;

impl Intake {
    /// Opens the intake of `log` with its persisted state (see `derived`), rebuilt
    /// from every entry when it does not cover the log. Blocking.
    pub fn open(
        log: Arc<Log>,
        operator: OperatorKey,
        config: IntakeConfig,
    ) -> Result<Intake, IntakeOpenError> {
        let state = IntakeState::open(&log, operator.public_key())?;
        Ok(Intake {
            log,
            state,
            key_lock: Arc::new(AsyncMutex::new(())),
            operator,
            config,
            metrics: Arc::new(Metrics::default()),
            witness: None,
            fleet_feed: std::sync::OnceLock::new(),
        })
    }

    /// Sends every `update` record logged from now on to `feed` (the rollout engine).
    /// Set once, before the server takes requests.
    pub fn set_fleet_feed(&self, feed: FleetFeed) {
        if self.fleet_feed.set(feed).is_err() {
            tracing::error!("the rollout feed was set twice; the first one stays");
        }
    }

    /// The key history and the release history as they are now. Read guards: drop them
    /// before awaiting.
    pub fn histories(
        &self,
    ) -> (
        std::sync::RwLockReadGuard<'_, ledger_record::KeyHistory>,
        std::sync::RwLockReadGuard<'_, ledger_record::ReleaseHistory>,
    ) {
        (self.state.keys(), self.state.releases())
    }

    /// Makes every answer wait for a checkpoint that met the witness quorum (or, in
    /// fail-open mode, fall back to the log's own while the quorum is not met).
    pub fn with_witness_gate(mut self, gate: Option<crate::witness::Gate>) -> Intake {
        self.witness = gate;
        self
    }

    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    pub fn operator(&self) -> &OperatorKey {
        &self.operator
    }

    pub fn config(&self) -> &IntakeConfig {
        &self.config
    }

    /// What the links at the start of the log say about the log it succeeds.
    pub fn link(&self) -> Option<ledger_record::LogLink> {
        self.state.keys().link().cloned()
    }

    /// The key of `chain` valid for the next entry, if any.
    pub fn current_key(&self, chain: &ChainId) -> Option<KeyEntry> {
        self.state.current_key(chain)
    }

    /// Counts a refused record by reason, and per appliance when the reason concerns
    /// the appliance (its clock, replayed sequence numbers).
    fn reject(&self, e: IntakeError) -> IntakeError {
        self.metrics.reject(e.code().as_str());
        if let Some(chain) = e.appliance() {
            self.metrics
                .refusals
                .count(chain, e.code().as_str(), now_ms());
        }
        e
    }

    /// Appends records submitted by `who` and waits for their receipts: [`Intake::submit`]
    /// then [`Pending::finish`].
    pub async fn append(
        self: &Arc<Self>,
        who: &Principal,
        raw: Vec<Vec<u8>>,
    ) -> Result<Vec<Outcome>, IntakeError> {
        self.submit(who, raw).await?.finish().await
    }

    /// Checks records submitted by `who` and hands the accepted ones to the sequencer.
    /// The outer error refuses the whole request (back-pressure, too many records, a
    /// stopped ledger); otherwise every record gets its own outcome from
    /// [`Pending::finish`], in request order. Calls made one after another hand their
    /// records over in that order, which is what lets a stream pipeline requests.
    pub async fn submit(
        self: &Arc<Self>,
        who: &Principal,
        raw: Vec<Vec<u8>>,
    ) -> Result<Pending, IntakeError> {
        let started = Instant::now();
        if let Some(size) = self.config.frozen_at {
            return Err(IntakeError::LogFrozen { size });
        }
        if raw.len() > self.config.max_batch_records {
            return Err(IntakeError::TooManyRecords {
                count: raw.len(),
                max: self.config.max_batch_records,
            });
        }
        let mut pending = Pending::new(self.clone(), started);
        self.admit_all(&mut pending, who, raw);
        let by_chain = pending.positions_by_chain();
        if by_chain.is_empty() {
            return Ok(pending);
        }
        let items = std::mem::take(&mut pending.items);
        pending.items = signatures::check_early(self, items, &by_chain).await;
        // A rotation changes the key history: take the global key lock (see the module
        // documentation for the lock order).
        if pending.has_key_record() {
            pending.key_guard = Some(self.key_lock.clone().lock_owned().await);
        }
        let mut chains = self.lock_chains(&by_chain).await;
        let (plans, heads) = self.plan(&mut pending, &by_chain, &chains);
        self.hand_over(&mut pending, plans, &chains)?;
        // Handed over: advance the heads. Without key records the chain locks can go
        // now, so the next records of these appliances queue behind these ones.
        for (locked, head) in chains.iter_mut().zip(heads) {
            *locked.guard = head;
        }
        if pending.key_guard.is_some() {
            pending.guards = chains.into_iter().map(|locked| locked.guard).collect();
        }
        Ok(pending)
    }

    /// Steps 1 and 2 for every record of the request.
    fn admit_all(&self, pending: &mut Pending, who: &Principal, raw: Vec<Vec<u8>>) {
        for bytes in raw {
            match rules::admit(&self.config.operator_chain, who, &bytes) {
                Ok(record) => {
                    let record_hash = record.hash();
                    let leaf = leaf_hash(record.as_bytes());
                    pending.items.push(Some(Item {
                        record,
                        record_hash,
                        leaf,
                        signature: None,
                    }));
                    pending.outcomes.push(None);
                }
                Err(e) => {
                    pending.items.push(None);
                    pending.outcomes.push(Some(Err(self.reject(e))));
                }
            }
        }
    }

    /// Takes the locks of the request's chains, in `ChainId` order.
    async fn lock_chains(&self, by_chain: &BTreeMap<ChainId, Vec<usize>>) -> Vec<LockedChain> {
        let mut chains = Vec::with_capacity(by_chain.len());
        for chain in by_chain.keys() {
            let slot = self.state.slot(chain);
            let guard = slot.head.clone().lock_owned().await;
            chains.push(LockedChain {
                chain: chain.clone(),
                slot,
                guard,
            });
        }
        chains
    }

    /// Steps 3–6 under the chain locks: the plan of every record that is not refused
    /// (refusals become outcomes at once), and each chain's head after the request.
    fn plan(
        &self,
        pending: &mut Pending,
        by_chain: &BTreeMap<ChainId, Vec<usize>>,
        chains: &[LockedChain],
    ) -> (Vec<(usize, Plan)>, Vec<Head>) {
        let clock = Clock {
            now_ms: now_ms(),
            max_future_skew: self.config.max_future_skew,
        };
        let history = self.state.keys();
        let mut plans = Vec::new();
        let mut heads = Vec::with_capacity(chains.len());
        for locked in chains {
            let mut check = ChainCheck::new(locked.chain.clone(), *locked.guard, &history, clock);
            for &position in by_chain
                .get(&locked.chain)
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                let Some(item) = pending.items.get(position).and_then(Option::as_ref) else {
                    continue;
                };
                let in_flight = |sequence| locked.slot.in_flight_hash(sequence);
                match check.check(&item.record, item.record_hash, item.signature, in_flight) {
                    Ok(plan) => plans.push((position, plan)),
                    Err(e) => {
                        if let Some(outcome) = pending.outcomes.get_mut(position) {
                            *outcome = Some(Err(self.reject(e)));
                        }
                    }
                }
            }
            heads.push(check.head());
        }
        (plans, heads)
    }

    /// Hands the new records and in-flight duplicates to the sequencer in plan order,
    /// marking new records in flight; records with a taken sequence wait for the log
    /// lookup in [`Pending::finish`].
    fn hand_over(
        &self,
        pending: &mut Pending,
        plans: Vec<(usize, Plan)>,
        chains: &[LockedChain],
    ) -> Result<(), IntakeError> {
        let mut entries: Vec<(Vec<u8>, Hash)> = Vec::new();
        let mut marks: Vec<(Arc<ChainSlot>, u64)> = Vec::new();
        // Update records among the entries (position in `entries`, record), for the
        // rollout engine once they are durable.
        let mut updates: Vec<(usize, Record)> = Vec::new();
        for (position, plan) in plans {
            let Some(item) = pending.items.get(position).and_then(Option::as_ref) else {
                continue;
            };
            match plan {
                Plan::LoggedOrReplayed { next } => {
                    pending.replayed.push((position, next));
                    continue;
                }
                Plan::New => {
                    if matches!(item.record.body(), Body::Update(_)) {
                        updates.push((entries.len(), item.record.clone()));
                    }
                    let chain = item.record.chain();
                    if let Some(locked) = chains.iter().find(|locked| locked.chain == chain) {
                        let sequence = item.record.sequence();
                        locked.slot.mark_in_flight(sequence, item.record_hash);
                        marks.push((locked.slot.clone(), sequence));
                    }
                }
                Plan::InFlightDuplicate => {}
            }
            pending.handed_over.push(position);
            entries.push((item.record.as_bytes().to_vec(), item.leaf));
        }
        if !entries.is_empty() {
            pending.reply = Some(self.submit_entries(entries, marks, updates)?);
        }
        Ok(())
    }

    /// Queues prepared entries on the sequencer. The in-flight marks are cleared once
    /// the sequencer has answered, or at once if it refuses the entries.
    fn submit_entries(
        &self,
        entries: Vec<(Vec<u8>, Hash)>,
        marks: Vec<(Arc<ChainSlot>, u64)>,
        updates: Vec<(usize, Record)>,
    ) -> Result<SequencerReply, IntakeError> {
        let (tx, rx) = oneshot::channel();
        let answered = marks.clone();
        let feed = self
            .fleet_feed
            .get()
            .filter(|_| !updates.is_empty())
            .cloned();
        let submitted = self.log.submit_prepared(
            entries,
            Box::new(move |result| {
                // Runs on the sequencer thread once the batch is durable and signed
                // (or failed): the records are no longer in flight.
                for (slot, sequence) in &answered {
                    slot.clear_in_flight(*sequence);
                }
                if let (Some(feed), Ok(appended)) = (&feed, &result) {
                    send_updates(feed, updates, appended);
                }
                let _ = tx.send(result);
            }),
        );
        if let Err(e) = submitted {
            for (slot, sequence) in &marks {
                slot.clear_in_flight(*sequence);
            }
            if matches!(e, LedgerError::Busy { .. }) {
                self.metrics
                    .busy
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            // Nothing was handed over: the heads stay where they were.
            return Err(IntakeError::from_ledger(e, self.config.retry_after_secs));
        }
        Ok(rx)
    }
}

/// Sends the newly logged update records of a batch to the rollout engine; duplicates
/// were logged before and sent then.
fn send_updates(feed: &FleetFeed, updates: Vec<(usize, Record)>, appended: &[ledger::Appended]) {
    for (position, record) in updates {
        if let Some(a) = appended.get(position).filter(|a| !a.duplicate) {
            let _ = feed.send((a.index, record));
        }
    }
}

/// Runs blocking work (RocksDB reads, signature batches) through
/// [`crate::blocking::blocking`]. A panic in it becomes an internal error.
async fn off_worker<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IntakeError> {
    crate::blocking::blocking(work)
        .await
        .map_err(IntakeError::internal)
}

impl Item {
    fn is_key_record(&self) -> bool {
        matches!(self.record.body(), Body::Key(_))
    }
}
