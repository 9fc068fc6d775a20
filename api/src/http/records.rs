//! Records: appending signed records (one, or a batch as a CBOR array), reading a record
//! by log index or record hash, and an appliance's records by sequence range with their
//! inclusion proofs. Reading needs a credential that covers the record's site (or the
//! appliance's own credential); anything else is answered like a missing record.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Json;
use serde_json::{json, Value};

use super::endpoint::{decimal, endpoint, sref, Endpoint, Op};
use super::extract::Caller;
use super::params::{chain, opt_u64, parse_hash, parse_u64, RangeQuery};
use super::respond::{appended_json, b64, cbor, outcome_json};
use crate::error::AppError;
use crate::log_reads;
use crate::state::AppState;

type Shared = State<Arc<AppState>>;

fn binary() -> Value {
    json!({"type": "string", "format": "binary"})
}

/// The routes of this file.
pub fn endpoints() -> Vec<Endpoint> {
    let mut all = append_endpoints();
    all.extend(lookup_endpoints());
    all
}

fn append_endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(
            Op::new(
                "post",
                "/v1/records",
                "records",
                "Append one signed record (CBOR)",
            )
            .auth()
            .body("application/cbor", binary())
            .json(
                "200",
                "appended (or the original of identical bytes)",
                sref("Appended"),
            )
            .error(
                "403",
                "another appliance's chain or an operator-only record",
            )
            .error("409", "sequence or prev-hash conflict")
            .error("422", "key, clock or signature refused")
            .error("503", "append queue full; retry after Retry-After")
            .too_large(),
            post(append_one),
        ),
        endpoint(
            Op::new(
                "post",
                "/v1/records/batch",
                "records",
                "Append a CBOR array of records",
            )
            .auth()
            .body("application/cbor", binary())
            .json("200", "one result per record", sref("BatchResults"))
            .error("403", "another appliance's chain")
            .error("503", "append queue full")
            .too_large(),
            post(append_batch),
        ),
        endpoint(
            Op::new(
                "get",
                "/v1/records/{index}",
                "records",
                "Record bytes by log index",
            )
            .auth()
            .response("200", "the record", Some(("application/cbor", binary())))
            .error("403", "not allowed")
            .error("404", "no such record, or outside the credential's sites"),
            get(get_record),
        ),
    ]
}

fn lookup_endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(
            Op::new(
                "get",
                "/v1/records/by-hash/{hash}",
                "records",
                "Record bytes by record hash",
            )
            .auth()
            .response("200", "the record", Some(("application/cbor", binary())))
            .error("404", "no such record, or outside the credential's sites"),
            get(get_record_by_hash),
        ),
        endpoint(
            Op::new(
                "get",
                "/v1/appliances/{site}/{appliance}/records",
                "records",
                "An appliance's records by sequence range, with proofs",
            )
            .auth()
            .query("from", decimal(), "first sequence (default 1)")
            .query("to", decimal(), "last sequence (at most from + 999)")
            .query("size", decimal(), "tree size to prove against")
            .json("200", "records", sref("ChainRecords"))
            .error("404", "outside the credential's sites"),
            get(chain_records),
        ),
    ]
}

async fn append_one(
    State(s): Shared,
    Caller(who): Caller,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let mut outcomes = s.intake.append(&who, vec![body.to_vec()]).await?;
    match outcomes.pop() {
        Some(Ok(a)) => Ok(Json(appended_json(&a)?)),
        Some(Err(e)) => Err(e.into()),
        None => Err(AppError::internal("no outcome for a single record")),
    }
}

async fn append_batch(
    State(s): Shared,
    Caller(who): Caller,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let records = ledger_record::decode_batch_body(&body, s.config.max_batch_records)?;
    let outcomes = s.intake.append(&who, records).await?;
    Ok(Json(json!({
        "results": outcomes.iter().map(outcome_json).collect::<Vec<_>>()
    })))
}

async fn get_record(
    State(s): Shared,
    Path(index): Path<String>,
    Caller(who): Caller,
) -> Result<Response, AppError> {
    let index = parse_u64("index", &index)?;
    Ok(cbor(log_reads::record(&s, &who, index).await?.encode()))
}

async fn get_record_by_hash(
    State(s): Shared,
    Path(hash): Path<String>,
    Caller(who): Caller,
) -> Result<Response, AppError> {
    let hash = parse_hash(&hash)?;
    let index = log_reads::index_of_hash(&s, hash).await?;
    Ok(cbor(log_reads::record(&s, &who, index).await?.encode()))
}

async fn chain_records(
    State(s): Shared,
    Path((site, appliance)): Path<(String, String)>,
    Query(q): Query<RangeQuery>,
    Caller(who): Caller,
) -> Result<Json<Value>, AppError> {
    let chain = chain(&site, &appliance)?;
    let from = opt_u64("from", &q.from)?.unwrap_or(1);
    let to = opt_u64("to", &q.to)?.unwrap_or(from.saturating_add(log_reads::MAX_RANGE - 1));
    let size = opt_u64("size", &q.size)?;
    let (cp, records) = log_reads::chain_records(&s, &who, chain, from, to, size).await?;
    Ok(Json(json!({
        "checkpoint": String::from_utf8_lossy(&cp.note),
        "tree_size": cp.size,
        "records": records.iter().map(|r| json!({
            "sequence": r.sequence,
            "index": r.index,
            "record": b64(&r.bytes),
            "inclusion_proof": r.proof.iter().map(|h| b64(h.as_bytes())).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })))
}
