//! Read operations shared by the HTTP and gRPC edges: checkpoints, receipts, consistency
//! proofs, records. Each runs its RocksDB and SQLite reads on the blocking pool and
//! answers with an [`AppError`] on failure.

use std::sync::Arc;

use ledger::CheckpointInfo;
use ledger_core::checkpoint::Checkpoint;
use ledger_core::hash::Hash;
use ledger_core::note::Note;
use ledger_core::receipt::Receipt;
use ledger_record::{ChainId, Record};

use crate::auth::Principal;
use crate::error::AppError;
use crate::error_code::ErrorCode;
use crate::state::AppState;

/// Runs blocking work that answers with an [`AppError`] through
/// [`crate::blocking::blocking`].
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    crate::blocking::blocking(f)
        .await
        .map_err(AppError::internal)?
}

/// The C2SP tlog-proof text of an entry, from its audit path and the signed checkpoint
/// note the path leads to.
pub fn receipt_text(index: u64, proof: Vec<Hash>, note: &[u8]) -> Result<String, AppError> {
    let note = std::str::from_utf8(note).map_err(AppError::internal)?;
    Receipt::new(index, proof, note)
        .map(|r| r.to_text())
        .map_err(AppError::internal)
}

/// The signed checkpoint of exactly `size` leaves, or the latest.
pub async fn checkpoint(
    state: &Arc<AppState>,
    size: Option<u64>,
) -> Result<Arc<CheckpointInfo>, AppError> {
    let Some(size) = size else {
        return latest_for_clients(state).await;
    };
    let latest = state.log.latest();
    if size == latest.size {
        return Ok(latest);
    }
    let log = state.log.clone();
    let note = blocking(move || {
        log.checkpoint(size)
            .map_err(|e| AppError::from_ledger(e, 1))
    })
    .await?;
    // The stored note is the log's own; its body names the root.
    let text = std::str::from_utf8(&note).map_err(AppError::internal)?;
    let parsed = Note::parse(text.as_bytes()).map_err(AppError::internal)?;
    let cp = Checkpoint::parse(parsed.text()).map_err(AppError::internal)?;
    Ok(Arc::new(CheckpointInfo {
        size: cp.size,
        root: cp.root,
        note,
    }))
}

/// The latest checkpoint clients are given: without witnesses the log's; with them
/// the latest cosigned one, unless log-only checkpoints beyond it were handed out
/// (fail-open receipts, or nothing cosigned yet) — then the log's own of that size, so
/// the answer never shrinks.
async fn latest_for_clients(state: &Arc<AppState>) -> Result<Arc<CheckpointInfo>, AppError> {
    let Some(w) = &state.witnessing else {
        return Ok(state.log.latest());
    };
    let floor = w.gate.log_only_floor();
    match w.gate.latest() {
        Some(c) if c.size >= floor => Ok(c),
        _ if floor == 0 => {
            let latest = state.log.latest();
            w.gate.handed_out_log_only(latest.size);
            Ok(latest)
        }
        _ => Box::pin(checkpoint(state, Some(floor))).await,
    }
}

/// The `.tlog-proof` receipt of entry `index` against the checkpoint of `size` (or the
/// latest).
pub async fn receipt(
    state: &Arc<AppState>,
    index: u64,
    size: Option<u64>,
) -> Result<String, AppError> {
    let cp = match size {
        Some(size) => checkpoint(state, Some(size)).await?,
        None => receipt_checkpoint(state, index),
    };
    if index >= cp.size {
        return Err(AppError::not_found(format!(
            "entry {index} is not in the tree of size {}",
            cp.size
        )));
    }
    let log = state.log.clone();
    let size = cp.size;
    let proof = blocking(move || {
        log.inclusion_proof(index, size)
            .map_err(|e| AppError::from_ledger(e, 1))
    })
    .await?;
    receipt_text(index, proof, &cp.note)
}

/// The checkpoint a receipt of entry `index` is given against: the latest cosigned one
/// when it covers the entry, else (or without witnesses) the log's latest, noted as a
/// log-only checkpoint handed out.
fn receipt_checkpoint(state: &AppState, index: u64) -> Arc<CheckpointInfo> {
    let Some(w) = &state.witnessing else {
        return state.log.latest();
    };
    match w.gate.latest() {
        Some(c) if c.size > index => c,
        _ => {
            let latest = state.log.latest();
            w.gate.handed_out_log_only(latest.size);
            latest
        }
    }
}

/// The consistency proof between two sizes; `to` defaults to the latest size.
pub async fn consistency(
    state: &Arc<AppState>,
    from: u64,
    to: Option<u64>,
) -> Result<Vec<Hash>, AppError> {
    let to = to.unwrap_or(state.log.latest().size);
    if from == 0 || from > to {
        return Err(AppError::bad_request(
            ErrorCode::InvalidRequest,
            format!(
                "consistency proofs need 0 < from ≤ to (RFC 9162 §2.1.4); got from={from}, to={to}"
            ),
        ));
    }
    let log = state.log.clone();
    blocking(move || {
        log.consistency_proof(from, to)
            .map_err(|e| AppError::from_ledger(e, 1))
    })
    .await
}

/// The log index of a record by record hash.
pub async fn index_of_hash(state: &Arc<AppState>, hash: Hash) -> Result<u64, AppError> {
    let index = state.index.clone();
    blocking(move || index.find_by_hash(&hash).map_err(AppError::internal))
        .await?
        .ok_or_else(|| AppError::not_found(format!("record {hash}")))
}

/// Record `index` if `who` may read it. A record of another site is answered exactly
/// like a missing one: 404, no data.
pub async fn record(
    state: &Arc<AppState>,
    who: &Principal,
    index: u64,
) -> Result<Record, AppError> {
    let log = state.log.clone();
    let missing = move || AppError::not_found(format!("record {index} not found"));
    let bytes = blocking(move || match log.entry(index) {
        Ok(b) => Ok(Some(b)),
        Err(ledger::LedgerError::NotFound { .. }) => Ok(None),
        Err(e) => Err(AppError::from_ledger(e, 1)),
    })
    .await?
    .ok_or_else(missing)?;
    let record = Record::decode(&bytes).map_err(|_| missing())?;
    if !who.may_read(&record.chain()) {
        return Err(missing());
    }
    Ok(record)
}

/// One record of a chain with its audit path.
pub struct ChainRecord {
    pub sequence: u64,
    pub index: u64,
    pub bytes: Vec<u8>,
    pub proof: Vec<Hash>,
}

/// Most records answered by one range query.
pub const MAX_RANGE: u64 = 1000;

/// The records of `chain` with sequences `from..=to` and their proofs against the
/// checkpoint of `size` (or the latest).
pub async fn chain_records(
    state: &Arc<AppState>,
    who: &Principal,
    chain: ChainId,
    from: u64,
    to: u64,
    size: Option<u64>,
) -> Result<(Arc<CheckpointInfo>, Vec<ChainRecord>), AppError> {
    if !who.may_read(&chain) {
        return Err(AppError::not_found(format!("appliance {chain} not found")));
    }
    if from == 0 || to < from || to - from >= MAX_RANGE {
        return Err(AppError::bad_request(
            ErrorCode::InvalidRequest,
            format!("sequence range must satisfy 1 ≤ from ≤ to < from + {MAX_RANGE}"),
        ));
    }
    let cp = checkpoint(state, size).await?;
    let (index, log) = (state.index.clone(), state.log.clone());
    let cp_size = cp.size;
    let out = blocking(move || {
        let found = index
            .chain_range(&chain, from, to, MAX_RANGE as usize)
            .map_err(AppError::internal)?;
        let prover = log
            .inclusion_prover(cp_size)
            .map_err(|e| AppError::from_ledger(e, 1))?;
        let mut out = Vec::with_capacity(found.len());
        for e in found.into_iter().filter(|e| e.index < cp_size) {
            let bytes = log
                .entry(e.index)
                .map_err(|e| AppError::from_ledger(e, 1))?;
            let proof = prover
                .proof(e.index)
                .map_err(|e| AppError::from_ledger(e, 1))?;
            out.push(ChainRecord {
                sequence: e.sequence,
                index: e.index,
                bytes,
                proof,
            });
        }
        Ok(out)
    })
    .await?;
    Ok((cp, out))
}
