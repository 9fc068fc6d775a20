//! [`Pending`]: a request's records after the hand-over, until every record has its
//! outcome. Waits for the sequencer, applies logged key records to the key history,
//! looks up records whose sequence was taken, and builds each answer with its inclusion
//! proof. The RocksDB reads run on the blocking pool.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ledger::{CheckpointInfo, LedgerError, Log};
use ledger_core::hash::Hash;
use ledger_record::ChainId;
use tokio::sync::OwnedMutexGuard;

use super::state::Head;
use super::{off_worker, Appended, Intake, IntakeError, Item, Outcome, SequencerReply};
use crate::witness::Cover;

/// Records handed to the sequencer, waiting for their receipts.
pub struct Pending {
    pub(super) intake: Arc<Intake>,
    pub(super) started: Instant,
    /// The request's records by position; `None` where a record was refused early.
    pub(super) items: Vec<Option<Item>>,
    pub(super) outcomes: Vec<Option<Outcome>>,
    /// Request positions of the entries handed over, in hand-over order.
    pub(super) handed_over: Vec<usize>,
    /// Request positions of records whose sequence was taken, with their chain's next
    /// sequence: duplicates if their bytes are logged, refused otherwise.
    pub(super) replayed: Vec<(usize, u64)>,
    pub(super) reply: Option<SequencerReply>,
    /// Chain locks kept until a key record is applied.
    pub(super) guards: Vec<OwnedMutexGuard<Head>>,
    pub(super) key_guard: Option<OwnedMutexGuard<()>>,
}

/// What a replayed record turned out to be.
enum Replay {
    /// Identical bytes are logged at `index`; `proof` is its audit path in the latest tree.
    Logged {
        index: u64,
        proof: Result<Vec<Hash>, LedgerError>,
    },
    /// Its bytes are not in the log: another record took its sequence.
    NotLogged,
    LookupFailed(LedgerError),
}

/// What the blocking pool read for the answers.
struct Reads {
    /// Audit paths of the handed-over entries, in hand-over order.
    handed_over: Vec<Result<Vec<Hash>, LedgerError>>,
    /// One per replayed record, in order.
    replayed: Vec<Replay>,
    /// The checkpoint the replayed records' proofs lead to.
    latest: Arc<CheckpointInfo>,
}

impl Pending {
    pub(super) fn new(intake: Arc<Intake>, started: Instant) -> Pending {
        Pending {
            intake,
            started,
            items: Vec::new(),
            outcomes: Vec::new(),
            handed_over: Vec::new(),
            replayed: Vec::new(),
            reply: None,
            guards: Vec::new(),
            key_guard: None,
        }
    }

    /// The positions of the admitted records, by chain.
    pub(super) fn positions_by_chain(&self) -> BTreeMap<ChainId, Vec<usize>> {
        let mut by_chain: BTreeMap<ChainId, Vec<usize>> = BTreeMap::new();
        for (position, item) in self.items.iter().enumerate() {
            if let Some(item) = item {
                by_chain
                    .entry(item.record.chain())
                    .or_default()
                    .push(position);
            }
        }
        by_chain
    }

    pub(super) fn has_key_record(&self) -> bool {
        self.items.iter().flatten().any(Item::is_key_record)
    }

    /// Waits until the records are durable and signed, applies key records to the key
    /// history, and builds every record's answer with its inclusion proof.
    pub async fn finish(mut self) -> Result<Vec<Outcome>, IntakeError> {
        let answered = self.sequencer_answers().await?;
        if self.key_guard.is_some() {
            self.apply_key_records(&answered);
        }
        self.guards.clear();
        self.key_guard = None;
        let reads = self.read_answers(&answered).await?;
        self.answer_handed_over(&answered, reads.handed_over);
        self.answer_replayed(reads.replayed, &reads.latest);
        self.witness_answers().await?;
        Ok(self.into_outcomes())
    }

    /// With witnesses: moves every answer onto a cosigned checkpoint that covers the
    /// request's records, waiting for one as the gate says. Fail-closed without one in
    /// time refuses the request as retryable: its records are durable, and the retry
    /// gets them as duplicates with their receipts.
    async fn witness_answers(&mut self) -> Result<(), IntakeError> {
        let Some(gate) = self.intake.witness.clone() else {
            return Ok(());
        };
        let indexes: Vec<u64> = self
            .outcomes
            .iter()
            .filter_map(|o| o.as_ref()?.as_ref().ok().map(|a| a.index))
            .collect();
        let Some(end) = indexes.iter().max().map(|i| i + 1) else {
            return Ok(());
        };
        let retry_after_secs = self.intake.config.retry_after_secs;
        let cp = match gate.cover(end).await {
            Cover::Cosigned(cp) => cp,
            Cover::LogOnly => {
                let sizes = self
                    .outcomes
                    .iter()
                    .filter_map(|o| o.as_ref()?.as_ref().ok());
                gate.handed_out_log_only(sizes.map(|a| a.checkpoint.size).max().unwrap_or(0));
                return Ok(());
            }
            Cover::NotInTime => return Err(IntakeError::WitnessQuorum { retry_after_secs }),
        };
        let (log, size) = (self.intake.log.clone(), cp.size);
        let proofs = off_worker(move || {
            let prover = log.inclusion_prover(size)?;
            indexes
                .into_iter()
                .map(|i| prover.proof(i))
                .collect::<Result<Vec<_>, LedgerError>>()
        })
        .await?
        .map_err(|e| IntakeError::from_ledger(e, retry_after_secs))?;
        let answers = self
            .outcomes
            .iter_mut()
            .filter_map(|o| o.as_mut()?.as_mut().ok());
        for (appended, proof) in answers.zip(proofs) {
            appended.checkpoint = cp.clone();
            appended.proof = proof;
        }
        Ok(())
    }

    async fn sequencer_answers(&mut self) -> Result<Vec<ledger::Appended>, IntakeError> {
        let Some(reply) = self.reply.take() else {
            return Ok(Vec::new());
        };
        match reply.await {
            Ok(Ok(answered)) => Ok(answered),
            Ok(Err(e)) => Err(IntakeError::from_ledger(
                e,
                self.intake.config.retry_after_secs,
            )),
            Err(_) => Err(IntakeError::internal("sequencer dropped an answer")),
        }
    }

    /// Applies the newly logged key records of this request to the key history.
    fn apply_key_records(&self, answered: &[ledger::Appended]) {
        let mut keys = self.intake.state.keys_mut();
        for (position, appended) in self.handed_over.iter().zip(answered) {
            let Some(Some(item)) = self.items.get(*position) else {
                continue;
            };
            if item.is_key_record() && !appended.duplicate {
                if let Err(e) = keys.apply(appended.index, &item.record) {
                    tracing::error!("logged key record {} not applied: {e}", appended.index);
                }
            }
        }
    }

    /// Looks up the replayed records and builds every audit path, off the async workers.
    async fn read_answers(&self, answered: &[ledger::Appended]) -> Result<Reads, IntakeError> {
        let log = self.intake.log.clone();
        let handed_over: Vec<(u64, u64)> = answered
            .iter()
            .map(|appended| (appended.index, appended.checkpoint.size))
            .collect();
        let replayed: Vec<Hash> = self
            .replayed
            .iter()
            .filter_map(|(position, _)| self.items.get(*position)?.as_ref())
            .map(|item| item.leaf)
            .collect();
        if handed_over.is_empty() && replayed.is_empty() {
            return Ok(Reads {
                handed_over: Vec::new(),
                replayed: Vec::new(),
                latest: log.latest(),
            });
        }
        off_worker(move || read_blocking(&log, handed_over, replayed)).await
    }

    fn answer_handed_over(
        &mut self,
        answered: &[ledger::Appended],
        proofs: Vec<Result<Vec<Hash>, LedgerError>>,
    ) {
        let handed_over = std::mem::take(&mut self.handed_over);
        for ((position, appended), proof) in handed_over.into_iter().zip(answered).zip(proofs) {
            let checkpoint = appended.checkpoint.clone();
            self.answer(
                position,
                appended.index,
                appended.duplicate,
                checkpoint,
                proof,
            );
        }
    }

    fn answer_replayed(&mut self, replays: Vec<Replay>, latest: &Arc<CheckpointInfo>) {
        let replayed = std::mem::take(&mut self.replayed);
        for ((position, next), replay) in replayed.into_iter().zip(replays) {
            let refused = match replay {
                Replay::Logged { index, proof } => {
                    self.answer(position, index, true, latest.clone(), proof);
                    continue;
                }
                Replay::NotLogged => self.replay_refusal(position, next),
                Replay::LookupFailed(e) => {
                    IntakeError::from_ledger(e, self.intake.config.retry_after_secs)
                }
            };
            let refused = self.intake.reject(refused);
            if let Some(outcome) = self.outcomes.get_mut(position) {
                *outcome = Some(Err(refused));
            }
        }
    }

    /// The refusal of a record whose sequence another record took.
    fn replay_refusal(&self, position: usize, next: u64) -> IntakeError {
        match self.items.get(position).and_then(Option::as_ref) {
            Some(item) => IntakeError::SequenceReplayed {
                chain: item.record.chain(),
                sequence: item.record.sequence(),
                next,
            },
            None => IntakeError::internal("replayed record without its item"),
        }
    }

    /// Records the outcome of the record at `position`, logged at `index`.
    fn answer(
        &mut self,
        position: usize,
        index: u64,
        duplicate: bool,
        checkpoint: Arc<CheckpointInfo>,
        proof: Result<Vec<Hash>, LedgerError>,
    ) {
        let Some(Some(item)) = self.items.get(position) else {
            return;
        };
        let metrics = &self.intake.metrics;
        let outcome = match proof {
            Ok(proof) => {
                let counter = if duplicate {
                    &metrics.duplicates
                } else {
                    &metrics.appended
                };
                counter.fetch_add(1, Ordering::Relaxed);
                Ok(Appended {
                    index,
                    duplicate,
                    record_hash: item.record_hash,
                    leaf_hash: item.leaf,
                    checkpoint,
                    proof,
                })
            }
            Err(e) => Err(IntakeError::from_ledger(
                e,
                self.intake.config.retry_after_secs,
            )),
        };
        if let Some(slot) = self.outcomes.get_mut(position) {
            *slot = Some(outcome);
        }
    }

    /// Every record's outcome in request order; observes the latency of the accepted.
    fn into_outcomes(mut self) -> Vec<Outcome> {
        let elapsed = self.started.elapsed();
        let outcomes: Vec<Outcome> = std::mem::take(&mut self.outcomes)
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(IntakeError::internal("record without outcome"))))
            .collect();
        for _ in outcomes.iter().filter(|o| o.is_ok()) {
            self.intake.metrics.observe_latency(elapsed);
        }
        outcomes
    }
}

/// The blocking reads behind the answers: where the replayed records' bytes are logged,
/// then every audit path, sharing the tiles they read.
fn read_blocking(log: &Log, handed_over: Vec<(u64, u64)>, replayed: Vec<Hash>) -> Reads {
    // Removal from the in-flight marks happens only after a batch is durable and its
    // checkpoint published, so a record that just left them is found here.
    let found: Vec<Result<Option<u64>, LedgerError>> =
        replayed.iter().map(|leaf| log.find_leaf(leaf)).collect();
    // Taken after the lookups, so the tree covers every index they found.
    let latest = log.latest();
    // The latest size never shrinks, so the prover's size check cannot fail here; if
    // it did, every proof reports the size as unknown.
    let prover = log.inclusion_prover(latest.size).ok();
    let proof_at = |index: u64, size: u64| match &prover {
        Some(p) => p.proof_at(index, size),
        None => Err(LedgerError::NotFound {
            what: format!("tree size {size}"),
        }),
    };
    let handed_over = handed_over
        .into_iter()
        .map(|(index, size)| proof_at(index, size))
        .collect();
    let replayed = found
        .into_iter()
        .map(|found| match found {
            Ok(Some(index)) => Replay::Logged {
                index,
                proof: proof_at(index, latest.size),
            },
            Ok(None) => Replay::NotLogged,
            Err(e) => Replay::LookupFailed(e),
        })
        .collect();
    Reads {
        handed_over,
        replayed,
        latest,
    }
}
