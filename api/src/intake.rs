//! The intake path shared by HTTP and gRPC: the rules of issue 3 §3 applied to every
//! submitted record before it reaches the sequencer.
//!
//! For each record, in this order:
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
//!    verification first when a request carries several records).
//!
//! Concurrency. Every appliance chain has an async mutex held around steps 3–6 and the
//! hand-over to the sequencer, so two concurrent requests of one appliance cannot both
//! take sequence N. The sequencer queue is FIFO, so records handed over in chain order
//! get log indexes in chain order; the chain head advances when a record is handed
//! over, which lets one appliance pipeline many records. Requests that change keys
//! (rotation, enrolment, revocation) additionally take one global key lock and keep
//! their chain locks until the key record is durable and applied to the
//! [`KeyHistory`], so a record is never checked against a key that a pending key
//! record is about to end. Lock order: key lock, then appliance chains in `ChainId`
//! order, then the operator chain.
//!
//! State. The chain heads and the key history are rebuilt from the log at start-up
//! ([`Intake::open`] scans every entry), so nothing here needs its own storage. If the
//! sequencer fails after accepting a hand-over, the heads in memory are ahead of the
//! log, but a failed sequencer takes no further appends and the next start rebuilds
//! them from what is durable.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use ed25519_dalek::VerifyingKey;
use ledger::{CheckpointInfo, Log};
use ledger_core::hash::{leaf_hash, Hash};
use ledger_record::{
    Body, ChainId, Id, KeyBody, KeyEndReason, KeyEntry, KeyHistory, KeyId, Record, RecordError,
    RevocationReason, UnsignedRecord,
};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::auth::{now_ms, Principal};
use crate::error::AppError;
use crate::metrics::Metrics;
use crate::operator::OperatorKey;
use crate::proofs::CachedSource;

/// Settings of the intake rules.
#[derive(Debug, Clone)]
pub struct IntakeConfig {
    pub max_future_skew: Duration,
    pub max_batch_records: usize,
    pub retry_after_secs: u64,
    pub operator_chain: ChainId,
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
pub type Outcome = Result<Appended, AppError>;

/// Where an appliance's chain stands: its last sequence number (0 before the first
/// record) and that record's hash (all zero before the first record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    seq: u64,
    hash: Hash,
}

impl Head {
    const EMPTY: Head = Head {
        seq: 0,
        hash: Hash([0; 32]),
    };
}

struct ChainSlot {
    head: Arc<AsyncMutex<Head>>,
    /// Records handed to the sequencer and not yet answered: sequence → record hash.
    /// Lets an identical retry of an in-flight record be told from a conflicting one.
    in_flight: Mutex<HashMap<u64, Hash>>,
}

/// The intake state of one log.
pub struct Intake {
    log: Arc<Log>,
    keys: RwLock<KeyHistory>,
    chains: Mutex<HashMap<ChainId, Arc<ChainSlot>>>,
    key_lock: Arc<AsyncMutex<()>>,
    operator: OperatorKey,
    config: IntakeConfig,
    pub metrics: Arc<Metrics>,
}

/// Maps a decoding error to its stable reason code and status.
pub fn decode_error(e: &RecordError) -> AppError {
    let (status, code) = match e {
        RecordError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        RecordError::Truncated { .. } => (StatusCode::BAD_REQUEST, "truncated"),
        RecordError::TrailingBytes { .. } => (StatusCode::BAD_REQUEST, "trailing_bytes"),
        RecordError::InvalidCbor { .. } => (StatusCode::BAD_REQUEST, "invalid_cbor"),
        RecordError::NonCanonical { .. } | RecordError::DuplicateKey { .. } => {
            (StatusCode::BAD_REQUEST, "non_canonical")
        }
        RecordError::UnsupportedVersion { .. } | RecordError::UnsupportedBodyVersion { .. } => {
            (StatusCode::BAD_REQUEST, "unknown_version")
        }
        RecordError::UnknownKind { .. } => (StatusCode::BAD_REQUEST, "unknown_kind"),
        _ => (StatusCode::BAD_REQUEST, "invalid_record"),
    };
    AppError::new(status, code, format!("record refused: {e}"))
}

/// One record moving through [`Intake::append`].
struct Item {
    record: Record,
    record_hash: Hash,
    leaf: Hash,
    /// The pre-check: which key the signature was checked with and whether it verified.
    presig: Option<(KeyId, bool)>,
}

/// What step 3–6 decided for one record.
enum Plan {
    /// New record: hand over to the sequencer.
    New,
    /// Identical bytes in flight: hand over too; the sequencer answers the original index.
    InFlightDuplicate,
    /// Identical bytes already logged at this index.
    Logged(u64),
}

impl Intake {
    /// Builds the intake state by replaying every entry of the log: chain heads from
    /// every record, the key history from every key record (RECORDS.md §7). Entries that
    /// are not records are skipped with a warning (the log itself accepts any bytes).
    pub fn open(
        log: Arc<Log>,
        operator: OperatorKey,
        config: IntakeConfig,
    ) -> Result<Intake, AppError> {
        let mut keys = KeyHistory::new(operator.public_key());
        let mut heads: HashMap<ChainId, Head> = HashMap::new();
        let size = log.latest().size;
        let mut start = 0u64;
        let mut skipped = 0u64;
        while start < size {
            let end = size.min(start + 4096);
            let entries = log
                .entries(start, end)
                .map_err(|e| AppError::from_ledger(e, 1))?;
            for (offset, bytes) in entries.iter().enumerate() {
                let index = start + offset as u64;
                let Ok(record) = Record::decode(bytes) else {
                    skipped += 1;
                    continue;
                };
                if matches!(record.body(), Body::Key(_)) {
                    if let Err(e) = keys.apply(index, &record) {
                        tracing::warn!("key record at index {index} not applied: {e}");
                    }
                }
                let head = heads.entry(record.chain()).or_insert(Head::EMPTY);
                if record.sequence() > head.seq {
                    *head = Head {
                        seq: record.sequence(),
                        hash: record.hash(),
                    };
                }
            }
            start = end;
        }
        if skipped > 0 {
            tracing::warn!("{skipped} log entries are not records and were skipped");
        }
        tracing::info!(
            "intake state rebuilt from {size} entries: {} chains, {} keys",
            heads.len(),
            keys.keys().len()
        );
        let chains = heads
            .into_iter()
            .map(|(c, h)| (c, Arc::new(ChainSlot::new(h))))
            .collect();
        Ok(Intake {
            log,
            keys: RwLock::new(keys),
            chains: Mutex::new(chains),
            key_lock: Arc::new(AsyncMutex::new(())),
            operator,
            config,
            metrics: Arc::new(Metrics::default()),
        })
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

    fn slot(&self, chain: &ChainId) -> Arc<ChainSlot> {
        let mut chains = self.chains.lock().unwrap_or_else(|p| p.into_inner());
        chains
            .entry(chain.clone())
            .or_insert_with(|| Arc::new(ChainSlot::new(Head::EMPTY)))
            .clone()
    }

    fn keys(&self) -> std::sync::RwLockReadGuard<'_, KeyHistory> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The key of `chain` valid for the next entry, if any.
    pub fn current_key(&self, chain: &ChainId) -> Option<KeyEntry> {
        self.keys().key_at(chain, u64::MAX).cloned()
    }

    fn reject(&self, e: AppError) -> AppError {
        self.metrics.reject(e.code);
        e
    }

    /// Appends records submitted by `who` and waits for their receipts: [`Intake::submit`]
    /// then [`Pending::finish`].
    pub async fn append(
        self: &Arc<Self>,
        who: &Principal,
        raw: Vec<Vec<u8>>,
    ) -> Result<Vec<Outcome>, AppError> {
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
    ) -> Result<Pending, AppError> {
        let started = Instant::now();
        if raw.len() > self.config.max_batch_records {
            return Err(AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_records",
                format!(
                    "{} records in one request; at most {} are accepted",
                    raw.len(),
                    self.config.max_batch_records
                ),
            ));
        }
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(raw.len());
        let mut items: Vec<Option<Item>> = Vec::with_capacity(raw.len());
        // Steps 1 and 2: decoding and authorization.
        for bytes in raw {
            match self.admit(who, &bytes) {
                Ok(record) => {
                    let record_hash = record.hash();
                    let leaf = leaf_hash(record.as_bytes());
                    items.push(Some(Item {
                        record,
                        record_hash,
                        leaf,
                        presig: None,
                    }));
                    outcomes.push(None);
                }
                Err(e) => {
                    items.push(None);
                    outcomes.push(Some(Err(self.reject(e))));
                }
            }
        }
        let mut by_chain: BTreeMap<ChainId, Vec<usize>> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(item) = item {
                by_chain.entry(item.record.chain()).or_default().push(i);
            }
        }
        let mut pending = Pending {
            intake: self.clone(),
            started,
            items,
            outcomes,
            plans: Vec::new(),
            submit_positions: Vec::new(),
            reply: None,
            guards: Vec::new(),
            key_guard: None,
        };
        if by_chain.is_empty() {
            return Ok(pending);
        }
        pending.items = self
            .presign_check(std::mem::take(&mut pending.items), &by_chain)
            .await;

        let has_key_record = pending
            .items
            .iter()
            .flatten()
            .any(|it| matches!(it.record.body(), Body::Key(_)));
        // A rotation changes the key history: take the global key lock (see the module
        // documentation for the lock order).
        if has_key_record {
            pending.key_guard = Some(self.key_lock.clone().lock_owned().await);
        }
        let mut guards: Vec<(ChainId, Arc<ChainSlot>, OwnedMutexGuard<Head>)> = Vec::new();
        for chain in by_chain.keys() {
            let slot = self.slot(chain);
            let guard = slot.head.clone().lock_owned().await;
            guards.push((chain.clone(), slot, guard));
        }

        // Steps 3–6 under the chain locks.
        let now = now_ms();
        let mut new_heads: Vec<Head> = Vec::with_capacity(guards.len());
        for (chain, slot, guard) in &guards {
            let mut head = **guard;
            let mut current = self.current_key(chain);
            let mut planned: HashMap<u64, Hash> = HashMap::new();
            for &i in by_chain.get(chain).map(Vec::as_slice).unwrap_or(&[]) {
                let Some(item) = pending.items.get(i).and_then(Option::as_ref) else {
                    continue;
                };
                match self.check(item, &head, current.as_ref(), slot, &planned, now) {
                    Ok(plan) => {
                        if let Plan::New = plan {
                            head = Head {
                                seq: item.record.sequence(),
                                hash: item.record_hash,
                            };
                            planned.insert(head.seq, head.hash);
                            if let Body::Key(KeyBody::Rotation { new_public_key, .. }) =
                                item.record.body()
                            {
                                // Later records of this request are checked against the
                                // new key, as they will be once the rotation is logged.
                                current = Some(KeyEntry {
                                    key_id: KeyId::of(new_public_key),
                                    public_key: *new_public_key,
                                    chain: chain.clone(),
                                    introduced_at: 0,
                                    ended: None,
                                });
                            }
                        }
                        pending.plans.push((i, plan));
                    }
                    Err(e) => {
                        if let Some(o) = pending.outcomes.get_mut(i) {
                            *o = Some(Err(self.reject(e)));
                        }
                    }
                }
            }
            new_heads.push(head);
        }

        // Hand-over to the sequencer.
        let mut entries: Vec<(Vec<u8>, Hash)> = Vec::new();
        let mut in_flight_marks: Vec<(Arc<ChainSlot>, u64)> = Vec::new();
        for (i, plan) in &pending.plans {
            let Some(item) = pending.items.get(*i).and_then(Option::as_ref) else {
                continue;
            };
            match plan {
                Plan::New | Plan::InFlightDuplicate => {
                    pending.submit_positions.push(*i);
                    entries.push((item.record.as_bytes().to_vec(), item.leaf));
                    if let Plan::New = plan {
                        if let Some((_, slot, _)) =
                            guards.iter().find(|(c, _, _)| *c == item.record.chain())
                        {
                            in_flight_marks.push((slot.clone(), item.record.sequence()));
                            slot.in_flight
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(item.record.sequence(), item.record_hash);
                        }
                    }
                }
                Plan::Logged(_) => {}
            }
        }
        if !entries.is_empty() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let marks = in_flight_marks.clone();
            let submitted = self.log.submit_prepared(
                entries,
                Box::new(move |result| {
                    // Runs on the sequencer thread once the batch is durable and signed
                    // (or failed): the records are no longer in flight.
                    for (slot, seq) in &marks {
                        slot.in_flight
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(seq);
                    }
                    let _ = tx.send(result);
                }),
            );
            if let Err(e) = submitted {
                for (slot, seq) in &in_flight_marks {
                    slot.in_flight
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(seq);
                }
                if matches!(e, ledger::LedgerError::Busy { .. }) {
                    self.metrics
                        .busy
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                // Nothing was handed over: the heads stay where they were.
                return Err(AppError::from_ledger(e, self.config.retry_after_secs));
            }
            pending.reply = Some(rx);
        }
        // Handed over: advance the heads. Without key records the chain locks can go
        // now, so the next records of these appliances queue behind these ones.
        for ((_, _, guard), head) in guards.iter_mut().zip(new_heads) {
            **guard = head;
        }
        if pending.key_guard.is_some() {
            pending.guards = guards.into_iter().map(|(_, _, g)| g).collect();
        }
        Ok(pending)
    }

    /// Steps 1 and 2 for one record.
    fn admit(&self, who: &Principal, bytes: &[u8]) -> Result<Record, AppError> {
        let record = Record::decode(bytes).map_err(|e| decode_error(&e))?;
        let chain = record.chain();
        if chain == self.config.operator_chain {
            return Err(AppError::forbidden(
                "operator_only",
                format!("chain {chain} is the operator's; appliances cannot append to it"),
            ));
        }
        if let Body::Key(KeyBody::Enrolment { .. } | KeyBody::Revocation { .. }) = record.body() {
            return Err(AppError::forbidden(
                "operator_only",
                "enrolment and revocation records are written by the server (POST /v1/enrol, POST /v1/admin/appliances/{site}/{appliance}/revoke)",
            ));
        }
        match who {
            Principal::Appliance(own) if *own == chain => Ok(record),
            Principal::Appliance(own) => Err(AppError::forbidden(
                "wrong_appliance",
                format!("the credential is for appliance {own}; the record is for {chain}"),
            )),
            _ => Err(AppError::forbidden(
                "not_an_appliance",
                "records are appended with the appliance credential issued at enrolment",
            )),
        }
    }

    /// Verifies signatures before any lock is taken, with the keys valid now, in one
    /// batch when there are several (the expensive part of intake). The result is used
    /// under the lock only if the key is still the one checked against.
    async fn presign_check(
        &self,
        items: Vec<Option<Item>>,
        by_chain: &BTreeMap<ChainId, Vec<usize>>,
    ) -> Vec<Option<Item>> {
        let mut pairs: Vec<(usize, VerifyingKey, KeyId)> = Vec::new();
        for (chain, positions) in by_chain {
            let mut current = self.current_key(chain).map(|k| (k.public_key, k.key_id));
            for &i in positions {
                let Some(item) = items.get(i).and_then(Option::as_ref) else {
                    continue;
                };
                let Some((key, key_id)) = current else { break };
                if key_id != item.record.key_id() {
                    continue;
                }
                pairs.push((i, key, key_id));
                if let Body::Key(KeyBody::Rotation { new_public_key, .. }) = item.record.body() {
                    current = Some((*new_public_key, KeyId::of(new_public_key)));
                }
            }
        }
        if pairs.is_empty() {
            return items;
        }
        let count = items.len();
        // The items move to the checking thread and back, so no record is copied.
        let check = move || {
            let mut items = items;
            let refs: Vec<(&Record, &VerifyingKey)> = pairs
                .iter()
                .filter_map(|(i, k, _)| {
                    items
                        .get(*i)
                        .and_then(Option::as_ref)
                        .map(|it| (&it.record, k))
                })
                .collect();
            let failed: std::collections::HashSet<usize> = match ledger_record::verify_batch(&refs)
            {
                Ok(()) => Default::default(),
                Err(fails) => fails.into_iter().map(|(n, _)| n).collect(),
            };
            drop(refs);
            for (n, (i, _, key_id)) in pairs.iter().enumerate() {
                if let Some(Some(item)) = items.get_mut(*i) {
                    item.presig = Some((*key_id, !failed.contains(&n)));
                }
            }
            items
        };
        // A single signature costs tens of microseconds: cheaper inline than a thread hop.
        if count <= 2 {
            check()
        } else {
            match tokio::task::spawn_blocking(check).await {
                Ok(items) => items,
                // Only a panic while verifying gets here; the records are answered with
                // an internal error rather than guessed at.
                Err(e) => {
                    tracing::error!("signature check failed: {e}");
                    (0..count).map(|_| None).collect()
                }
            }
        }
    }

    /// Steps 3–6 for one record against the chain head and key under the lock.
    fn check(
        &self,
        item: &Item,
        head: &Head,
        current: Option<&KeyEntry>,
        slot: &ChainSlot,
        planned: &HashMap<u64, Hash>,
        now: u64,
    ) -> Result<Plan, AppError> {
        let r = &item.record;
        let chain = r.chain();
        let seq = r.sequence();
        if seq <= head.seq {
            if planned.get(&seq) == Some(&item.record_hash) {
                return Ok(Plan::InFlightDuplicate);
            }
            let in_flight = slot
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&seq)
                .copied();
            if in_flight == Some(item.record_hash) {
                return Ok(Plan::InFlightDuplicate);
            }
            // Removal from `in_flight` happens only after the batch is durable and the
            // checkpoint published, so a record that just left it is found here.
            if let Some(index) = self
                .log
                .find_leaf(&item.leaf)
                .map_err(|e| AppError::from_ledger(e, self.config.retry_after_secs))?
            {
                return Ok(Plan::Logged(index));
            }
            return Err(AppError::conflict(
                "sequence_replayed",
                format!(
                    "{chain} already logged a different record with sequence {seq}; the next sequence is {}",
                    head.seq + 1
                ),
            ));
        }
        if seq != head.seq + 1 {
            return Err(AppError::conflict(
                "sequence_gap",
                format!(
                    "sequence gap for {chain}: expected sequence {}, got {seq}",
                    head.seq + 1
                ),
            ));
        }
        if *r.prev_hash() != head.hash {
            return Err(AppError::conflict(
                "prev_hash_mismatch",
                format!(
                    "previous-hash mismatch (fork) for {chain} at sequence {seq}: expected prev_hash {} (record hash of sequence {}), got {}",
                    head.hash, head.seq, r.prev_hash()
                ),
            ));
        }
        let skew_ms = u64::try_from(self.config.max_future_skew.as_millis()).unwrap_or(u64::MAX);
        if r.time_ms() > now.saturating_add(skew_ms) {
            return Err(AppError::rejected(
                "future_time",
                format!(
                    "record time is {} ms ahead of the server clock; at most {} s of future skew is accepted",
                    r.time_ms() - now,
                    self.config.max_future_skew.as_secs()
                ),
            ));
        }
        let Some(key) = current else {
            return Err(self.key_problem(&chain, r.key_id(), None));
        };
        if key.key_id != r.key_id() {
            return Err(self.key_problem(&chain, r.key_id(), Some(key.key_id)));
        }
        let ok = match item.presig {
            Some((checked_with, ok)) if checked_with == key.key_id => ok,
            _ => r.verify(&key.public_key).is_ok(),
        };
        if !ok {
            return Err(AppError::rejected(
                "bad_signature",
                format!(
                    "signature of record {} does not verify with key {} of {chain}",
                    item.record_hash, key.key_id
                ),
            ));
        }
        Ok(Plan::New)
    }

    /// Explains why a record's key is not the valid key of its appliance.
    fn key_problem(&self, chain: &ChainId, used: KeyId, valid: Option<KeyId>) -> AppError {
        let keys = self.keys();
        if let Some(entry) = keys.key(&used) {
            if let Some(end) = entry.ended {
                if entry.chain == *chain {
                    return match end.reason {
                        KeyEndReason::Revoked { .. } => AppError::rejected(
                            "key_revoked",
                            format!(
                                "key {used} of {chain} was revoked at log index {}",
                                end.log_index
                            ),
                        ),
                        KeyEndReason::Rotated { new_key_id } => AppError::rejected(
                            "key_rotated",
                            format!(
                                "key {used} of {chain} was rotated to {new_key_id} at log index {}",
                                end.log_index
                            ),
                        ),
                    };
                }
            }
        }
        match valid {
            Some(valid) => AppError::rejected(
                "wrong_key",
                format!("record is signed by key {used}, but the valid key of {chain} is {valid}"),
            ),
            None => AppError::rejected(
                "unknown_key",
                format!("{chain} has no valid key (not enrolled, or its key was revoked); the record names key {used}"),
            ),
        }
    }

    /// Appends an operator-signed key record for `subject` (enrolment or revocation),
    /// holding the key lock and both chain locks until it is durable and applied.
    async fn append_operator_record(
        &self,
        subject: &ChainId,
        make_body: impl FnOnce(&KeyHistory) -> Result<KeyBody, AppError>,
    ) -> Result<(Record, Appended), AppError> {
        if *subject == self.config.operator_chain {
            return Err(AppError::bad_request(
                "operator_only",
                format!("{subject} is the operator's own chain"),
            ));
        }
        let _key_guard = self.key_lock.lock().await;
        let subject_slot = self.slot(subject);
        let _subject_guard = subject_slot.head.clone().lock_owned().await;
        let op_slot = self.slot(&self.config.operator_chain);
        let mut op_guard = op_slot.head.clone().lock_owned().await;
        let body = make_body(&self.keys())?;
        let unsigned = UnsignedRecord {
            site_id: self.config.operator_chain.site_id.clone(),
            appliance_id: self.config.operator_chain.appliance_id.clone(),
            sequence: op_guard.seq + 1,
            prev_hash: op_guard.hash,
            time_ms: now_ms(),
            key_id: self.operator.key_id(),
            body: Body::Key(body),
        };
        let record =
            Record::sign(unsigned, self.operator.signing_key()).map_err(AppError::internal)?;
        let appended = self
            .log
            .append_async(record.as_bytes().to_vec(), self.config.retry_after_secs)
            .await?;
        {
            let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
            keys.apply(appended.index, &record)
                .map_err(|e| AppError::internal(format!("logged key record not applied: {e}")))?;
        }
        *op_guard = Head {
            seq: record.sequence(),
            hash: record.hash(),
        };
        self.metrics
            .appended
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = self.log.clone();
        let (index, size) = (appended.index, appended.checkpoint.size);
        let proof = tokio::task::spawn_blocking(move || log.inclusion_proof(index, size))
            .await
            .map_err(AppError::internal)?
            .map_err(|e| AppError::from_ledger(e, 1))?;
        let answer = Appended {
            index,
            duplicate: appended.duplicate,
            record_hash: record.hash(),
            leaf_hash: appended.leaf,
            checkpoint: appended.checkpoint,
            proof,
        };
        Ok((record, answer))
    }

    /// Enrols `public_key` for appliance `subject` with the spent enrolment token
    /// `token_id` (RECORDS.md §5.4 enrolment, §7 rule 2).
    pub async fn enrol(
        &self,
        subject: &ChainId,
        public_key: VerifyingKey,
        token_id: Id,
    ) -> Result<Appended, AppError> {
        let key_id = KeyId::of(&public_key);
        let subject_c = subject.clone();
        self.append_operator_record(subject, move |keys| {
            if let Some(current) = keys.key_at(&subject_c, u64::MAX) {
                return Err(AppError::conflict(
                    "already_enrolled",
                    format!(
                        "{subject_c} already has valid key {}; rotate it, or revoke it before enrolling again",
                        current.key_id
                    ),
                ));
            }
            if keys.key(&key_id).is_some() || key_id == keys.operator_key_id() {
                return Err(AppError::conflict(
                    "key_in_use",
                    format!("key {key_id} is already known to this log; key ids are never reused"),
                ));
            }
            Ok(KeyBody::Enrolment {
                subject: subject_c,
                public_key,
                enrolment_token_id: token_id,
            })
        })
        .await
        .map(|(_, appended)| appended)
    }

    /// Revokes the valid key of `subject` (RECORDS.md §5.4 revocation, §7 rule 4).
    pub async fn revoke(
        &self,
        subject: &ChainId,
        reason: RevocationReason,
    ) -> Result<(KeyId, Appended), AppError> {
        let subject_c = subject.clone();
        let (record, appended) = self
            .append_operator_record(subject, move |keys| {
                let Some(current) = keys.key_at(&subject_c, u64::MAX) else {
                    return Err(AppError::not_found(format!(
                        "{subject_c} has no valid key to revoke"
                    )));
                };
                Ok(KeyBody::Revocation {
                    subject: subject_c,
                    key_id: current.key_id,
                    reason,
                })
            })
            .await?;
        match record.body() {
            Body::Key(KeyBody::Revocation { key_id, .. }) => Ok((*key_id, appended)),
            _ => Err(AppError::internal("revocation record has another body")),
        }
    }
}

/// Records handed to the sequencer, waiting for their receipts.
pub struct Pending {
    intake: Arc<Intake>,
    started: Instant,
    items: Vec<Option<Item>>,
    outcomes: Vec<Option<Outcome>>,
    plans: Vec<(usize, Plan)>,
    /// Request positions of the entries handed over, in hand-over order.
    submit_positions: Vec<usize>,
    reply:
        Option<tokio::sync::oneshot::Receiver<Result<Vec<ledger::Appended>, ledger::LedgerError>>>,
    /// Chain locks kept until a key record is applied.
    guards: Vec<OwnedMutexGuard<Head>>,
    key_guard: Option<OwnedMutexGuard<()>>,
}

impl Pending {
    /// Waits until the records are durable and signed, applies key records to the key
    /// history, and builds every record's answer with its inclusion proof.
    pub async fn finish(mut self) -> Result<Vec<Outcome>, AppError> {
        let intake = self.intake.clone();
        let retry_after = intake.config.retry_after_secs;
        let answered = match self.reply.take() {
            None => Vec::new(),
            Some(rx) => match rx.await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => return Err(AppError::from_ledger(e, retry_after)),
                Err(_) => return Err(AppError::internal("sequencer dropped an answer")),
            },
        };
        if self.key_guard.is_some() {
            let mut keys = intake.keys.write().unwrap_or_else(|p| p.into_inner());
            for (pos, appended) in self.submit_positions.iter().zip(&answered) {
                if let Some(Some(item)) = self.items.get(*pos) {
                    if matches!(item.record.body(), Body::Key(_)) && !appended.duplicate {
                        if let Err(e) = keys.apply(appended.index, &item.record) {
                            tracing::error!(
                                "logged key record {} not applied: {e}",
                                appended.index
                            );
                        }
                    }
                }
            }
        }
        self.guards.clear();
        self.key_guard = None;

        // Answers with proofs, built off the async workers (RocksDB reads).
        let latest = intake.log.latest();
        let mut todo: Vec<(usize, u64, bool, Arc<CheckpointInfo>)> = Vec::new();
        for (pos, a) in self.submit_positions.iter().zip(&answered) {
            todo.push((*pos, a.index, a.duplicate, a.checkpoint.clone()));
        }
        for (i, plan) in &self.plans {
            if let Plan::Logged(index) = plan {
                todo.push((*i, *index, true, latest.clone()));
            }
        }
        let log = intake.log.clone();
        let jobs: Vec<(u64, u64)> = todo.iter().map(|(_, idx, _, cp)| (*idx, cp.size)).collect();
        let proofs = if jobs.is_empty() {
            Vec::new()
        } else {
            tokio::task::spawn_blocking(move || {
                let source = CachedSource::new(&log);
                jobs.into_iter()
                    .map(|(index, size)| source.inclusion_proof(index, size))
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(AppError::internal)?
        };
        for ((pos, index, duplicate, checkpoint), proof) in todo.into_iter().zip(proofs) {
            let Some(Some(item)) = self.items.get(pos) else {
                continue;
            };
            let outcome = match proof {
                Ok(proof) => {
                    let counter = if duplicate {
                        &intake.metrics.duplicates
                    } else {
                        &intake.metrics.appended
                    };
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Ok(Appended {
                        index,
                        duplicate,
                        record_hash: item.record_hash,
                        leaf_hash: item.leaf,
                        checkpoint,
                        proof,
                    })
                }
                Err(e) => Err(AppError::from_ledger(e, retry_after)),
            };
            if let Some(o) = self.outcomes.get_mut(pos) {
                *o = Some(outcome);
            }
        }
        let elapsed = self.started.elapsed();
        let result: Vec<Outcome> = std::mem::take(&mut self.outcomes)
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(AppError::internal("record without outcome"))))
            .collect();
        for _ in result.iter().filter(|o| o.is_ok()) {
            intake.metrics.observe_latency(elapsed);
        }
        Ok(result)
    }
}

impl ChainSlot {
    fn new(head: Head) -> ChainSlot {
        ChainSlot {
            head: Arc::new(AsyncMutex::new(head)),
            in_flight: Mutex::new(HashMap::new()),
        }
    }
}

/// Async appends on the log without blocking a runtime thread.
trait AppendAsync {
    async fn append_async(
        &self,
        entry: Vec<u8>,
        retry_after: u64,
    ) -> Result<ledger::Appended, AppError>;
}

impl AppendAsync for Arc<Log> {
    async fn append_async(
        &self,
        entry: Vec<u8>,
        retry_after: u64,
    ) -> Result<ledger::Appended, AppError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(
            vec![entry],
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )
        .map_err(|e| AppError::from_ledger(e, retry_after))?;
        let mut answers = rx
            .await
            .map_err(|_| AppError::internal("sequencer dropped an answer"))?
            .map_err(|e| AppError::from_ledger(e, retry_after))?;
        answers
            .pop()
            .ok_or_else(|| AppError::internal("sequencer answered without an entry"))
    }
}
