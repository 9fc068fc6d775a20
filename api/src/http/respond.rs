//! How answers are written: plain text, CBOR, JSON, and the JSON of appended records
//! (shared by single and batch appends, enrolment and revocation).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::AppError;
use crate::intake::{Appended, Outcome};
use crate::log_reads::receipt_text;

/// A `text/plain; charset=utf-8` answer.
pub fn text(body: impl Into<String>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body.into(),
    )
        .into_response()
}

/// An `application/cbor` answer.
pub fn cbor(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/cbor")], bytes).into_response()
}

/// A JSON answer of any serialisable value.
pub fn json_ok(v: impl Serialize) -> Result<Response, AppError> {
    Ok(Json(v).into_response())
}

/// Standard base64, as hashes and records travel in JSON.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The JSON answer for one appended record.
pub fn appended_json(a: &Appended) -> Result<Value, AppError> {
    Ok(json!({
        "index": a.index,
        "duplicate": a.duplicate,
        "record_hash": hex::encode(a.record_hash.as_bytes()),
        "leaf_hash": hex::encode(a.leaf_hash.as_bytes()),
        "checkpoint": String::from_utf8_lossy(&a.checkpoint.note),
        "inclusion_proof": a.proof.iter().map(|h| b64(h.as_bytes())).collect::<Vec<_>>(),
        "receipt": receipt_text(a.index, a.proof.clone(), &a.checkpoint.note)?,
    }))
}

/// One result of a batch: `{"ok": …}` or the error body.
pub fn outcome_json(o: &Outcome) -> Value {
    match o {
        Ok(a) => match appended_json(a) {
            Ok(v) => json!({ "ok": v }),
            Err(e) => e.body(),
        },
        Err(e) => AppError::from(e.clone()).body(),
    }
}
