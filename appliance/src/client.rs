//! The agent's side of the ledgerd wire protocol (docs/API.md): enrolment, record upload
//! over gRPC (`AppendPipeline`) or HTTP (`POST /v1/records/batch`), the latest checkpoint,
//! consistency proofs and the fleet check-in.
//!
//! Nothing here trusts the server: answers are parsed into plain values, bounded in
//! size, and handed to [`crate::trust`] for verification. Network failures, timeouts and
//! "busy" answers are [`AgentError::Transient`] (retry later); refusals of a record are
//! per-record [`ItemResult::Refused`].

use std::time::Duration;

use base64::Engine;
use ledger_core::hash::Hash;
use serde_json::Value;

use crate::error::AgentError;

/// Code generated from `api/proto/ledger.proto` (client only).
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("evidence_ledger.v1");
}

/// Largest answer body read from the server (a 4096-record batch answer is ~10 MiB).
const MAX_ANSWER_BYTES: usize = 64 << 20;
/// Per-request timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The server's answer for one appended record, not yet verified.
#[derive(Debug, Clone)]
pub struct Answer {
    pub index: u64,
    pub duplicate: bool,
    pub record_hash: Hash,
    /// The C2SP tlog-proof text.
    pub receipt: String,
}

/// The server's answer for one record of an upload.
#[derive(Debug, Clone)]
pub enum ItemResult {
    Appended(Answer),
    Refused { code: String, message: String },
}

/// What happened to a check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckinOutcome {
    Accepted,
    /// 404: a server without the fleet API.
    NotSupported,
    Refused {
        status: u16,
        message: String,
    },
}

/// The answer to `POST /v1/enrol`.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub credential: String,
    pub answer: Answer,
}

/// HTTP and gRPC client for one ledgerd.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// Where consistency proofs are asked first (a read replica), if not `base`.
    proofs: Option<String>,
    grpc_url: Option<String>,
    grpc: Option<pb::ledger_client::LedgerClient<tonic::transport::Channel>>,
    credential: Option<String>,
}

/// HTTP answers after which the same upload may succeed later: the records stay in the
/// outbox. 507 is the server's disk below its reserve (it resumes once space is freed).
fn retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504 | 507)
}

fn transient(what: &str, e: impl std::fmt::Display) -> AgentError {
    AgentError::Transient(format!("{what}: {e}"))
}

fn bad(what: &str, e: impl std::fmt::Display) -> AgentError {
    AgentError::BadAnswer(format!("{what}: {e}"))
}

/// Reads a body of at most `MAX_ANSWER_BYTES`.
async fn read_capped(mut resp: reqwest::Response, what: &str) -> Result<Vec<u8>, AgentError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transient(what, e))? {
        if out.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(bad(what, "answer too large"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The `{"error":{"code","message"}}` of an error answer, or a description.
fn error_of(status: u16, body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => (
            v["error"]["code"].as_str().unwrap_or("unknown").to_owned(),
            v["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .to_owned(),
        ),
        Err(_) => (
            format!("http_{status}"),
            String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        ),
    }
}

/// Parses one appended-record JSON object of the HTTP API.
fn answer_of(v: &Value) -> Result<Answer, AgentError> {
    let what = "append answer";
    let index = v["index"].as_u64().ok_or_else(|| bad(what, "no index"))?;
    let duplicate = v["duplicate"]
        .as_bool()
        .ok_or_else(|| bad(what, "no duplicate flag"))?;
    let record_hash = v["record_hash"]
        .as_str()
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| Hash::from_slice(&b))
        .ok_or_else(|| bad(what, "no record_hash"))?;
    let receipt = v["receipt"]
        .as_str()
        .ok_or_else(|| bad(what, "no receipt"))?
        .to_owned();
    Ok(Answer {
        index,
        duplicate,
        record_hash,
        receipt,
    })
}

fn grpc_item(r: pb::AppendResult) -> Result<ItemResult, AgentError> {
    match r.result {
        Some(pb::append_result::Result::Appended(a)) => Ok(ItemResult::Appended(Answer {
            index: a.index,
            duplicate: a.duplicate,
            record_hash: Hash::from_slice(&a.record_hash)
                .ok_or_else(|| bad("gRPC answer", "record_hash is not 32 bytes"))?,
            receipt: a.receipt,
        })),
        Some(pb::append_result::Result::Error(e)) => Ok(ItemResult::Refused {
            code: e.code,
            message: e.message,
        }),
        None => Err(bad("gRPC answer", "empty result")),
    }
}

fn grpc_status(s: tonic::Status) -> AgentError {
    use tonic::Code;
    let code = s
        .metadata()
        .get("x-error-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    match s.code() {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Unknown
        | Code::Internal
        | Code::Cancelled
        | Code::ResourceExhausted
        | Code::Aborted => transient("gRPC", format!("{:?}: {}", s.code(), s.message())),
        other => AgentError::Refused {
            code: if code.is_empty() {
                format!("grpc_{other:?}")
            } else {
                code
            },
            message: s.message().to_owned(),
        },
    }
}

impl Client {
    /// A client for the HTTP base URL and, optionally, a gRPC URL (connected lazily).
    pub fn new(base: &str, grpc_url: Option<&str>, credential: Option<String>) -> Client {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            proofs: None,
            grpc_url: grpc_url.map(str::to_owned),
            grpc: None,
            credential,
        }
    }

    /// Asks `proof_url` (a read replica, docs/REPLICAS.md) for consistency proofs before
    /// the server. Checkpoints still come from the server: a replica lags, and a lagging
    /// "latest" checkpoint would look like a rollback.
    pub fn with_proof_url(mut self, proof_url: Option<&str>) -> Client {
        self.proofs = proof_url.map(|u| u.trim_end_matches('/').to_owned());
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn with_auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credential {
            Some(c) => req.bearer_auth(c),
            None => req,
        }
    }

    /// `POST /v1/enrol` with a one-time token and the new public key.
    pub async fn enrol(&self, token: &str, public_key: &[u8; 32]) -> Result<Enrolled, AgentError> {
        let body = serde_json::json!({ "token": token, "public_key": hex::encode(public_key) });
        let resp = self
            .http
            .post(self.url("/v1/enrol"))
            .json(&body)
            .send()
            .await
            .map_err(|e| transient("enrolment request", e))?;
        let status = resp.status().as_u16();
        let body = read_capped(resp, "enrolment answer").await?;
        if status != 200 {
            let (code, message) = error_of(status, &body);
            if status >= 500 {
                return Err(AgentError::Transient(format!(
                    "enrolment: {code}: {message}"
                )));
            }
            return Err(AgentError::Refused { code, message });
        }
        let v: Value = serde_json::from_slice(&body).map_err(|e| bad("enrolment answer", e))?;
        let credential = v["credential"]
            .as_str()
            .ok_or_else(|| bad("enrolment answer", "no credential"))?
            .to_owned();
        Ok(Enrolled {
            credential,
            answer: answer_of(&v["enrolment"])?,
        })
    }

    /// Uploads one batch over HTTP.
    pub async fn append_http(&self, records: &[&[u8]]) -> Result<Vec<ItemResult>, AgentError> {
        let resp = self
            .with_auth(self.http.post(self.url("/v1/records/batch")))
            .header("content-type", "application/cbor")
            .body(ledger_record::encode_batch_body(records))
            .send()
            .await
            .map_err(|e| transient("HTTP upload", e))?;
        let status = resp.status().as_u16();
        let body = read_capped(resp, "HTTP upload answer").await?;
        match status {
            200 => {}
            s if retryable_status(s) => {
                let (code, message) = error_of(status, &body);
                return Err(AgentError::Transient(format!(
                    "HTTP {status} {code}: {message}"
                )));
            }
            _ => {
                let (code, message) = error_of(status, &body);
                return Err(AgentError::Refused { code, message });
            }
        }
        let v: Value = serde_json::from_slice(&body).map_err(|e| bad("HTTP upload answer", e))?;
        let results = v["results"]
            .as_array()
            .ok_or_else(|| bad("HTTP upload answer", "no results array"))?;
        if results.len() != records.len() {
            return Err(bad(
                "HTTP upload answer",
                format!("{} results for {} records", results.len(), records.len()),
            ));
        }
        results
            .iter()
            .map(|r| {
                if let Some(ok) = r.get("ok") {
                    answer_of(ok).map(ItemResult::Appended)
                } else if let Some(e) = r.get("error") {
                    Ok(ItemResult::Refused {
                        code: e["code"].as_str().unwrap_or("unknown").to_owned(),
                        message: e["message"].as_str().unwrap_or("").to_owned(),
                    })
                } else {
                    Err(bad("HTTP upload answer", "result is neither ok nor error"))
                }
            })
            .collect()
    }

    async fn grpc_client(
        &mut self,
    ) -> Result<pb::ledger_client::LedgerClient<tonic::transport::Channel>, AgentError> {
        if let Some(c) = &self.grpc {
            return Ok(c.clone());
        }
        let url = self
            .grpc_url
            .clone()
            .ok_or_else(|| AgentError::InvalidInput("no grpc_url configured".into()))?;
        let endpoint = tonic::transport::Endpoint::from_shared(url)
            .map_err(|e| AgentError::InvalidInput(format!("grpc_url: {e}")))?
            .connect_timeout(Duration::from_secs(10))
            .timeout(REQUEST_TIMEOUT);
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| transient("gRPC connect", e))?;
        let client = pb::ledger_client::LedgerClient::new(channel)
            .max_decoding_message_size(MAX_ANSWER_BYTES);
        self.grpc = Some(client.clone());
        Ok(client)
    }

    /// Forgets the gRPC connection (after a transport failure) so the next call
    /// reconnects.
    pub fn reset_grpc(&mut self) {
        self.grpc = None;
    }

    /// Uploads several batches on one `AppendPipeline` stream; the server answers each
    /// batch as soon as it is durable. Returns the answers received, in order, and the
    /// error that ended the stream early, if any (answers before it stay valid).
    pub async fn append_grpc(
        &mut self,
        batches: Vec<Vec<Vec<u8>>>,
    ) -> (Vec<Vec<ItemResult>>, Option<AgentError>) {
        let mut got = Vec::with_capacity(batches.len());
        let mut client = match self.grpc_client().await {
            Ok(c) => c,
            Err(e) => return (got, Some(e)),
        };
        let expected: Vec<usize> = batches.iter().map(Vec::len).collect();
        let stream = tokio_stream::iter(
            batches
                .into_iter()
                .map(|records| pb::AppendRequest { records }),
        );
        let mut req = tonic::Request::new(stream);
        if let Some(c) = &self.credential {
            match format!("Bearer {c}").parse() {
                Ok(value) => {
                    req.metadata_mut().insert("authorization", value);
                }
                Err(_) => {
                    let e = AgentError::InvalidInput("credential is not valid metadata".into());
                    return (got, Some(e));
                }
            }
        }
        let mut answers = match client.append_pipeline(req).await {
            Ok(r) => r.into_inner(),
            Err(s) => {
                self.reset_grpc();
                return (got, Some(grpc_status(s)));
            }
        };
        for want in expected {
            let msg = match answers.message().await {
                Ok(Some(m)) => m,
                Ok(None) => return (got, Some(transient("gRPC", "stream ended early"))),
                Err(s) => return (got, Some(grpc_status(s))),
            };
            if msg.results.len() != want {
                let e = bad(
                    "gRPC answer",
                    format!("{} results for {want} records", msg.results.len()),
                );
                return (got, Some(e));
            }
            match msg.results.into_iter().map(grpc_item).collect() {
                Ok(items) => got.push(items),
                Err(e) => return (got, Some(e)),
            }
        }
        (got, None)
    }

    /// `GET /checkpoint`: the latest signed checkpoint note (not verified here).
    pub async fn checkpoint(&self) -> Result<String, AgentError> {
        let resp = self
            .http
            .get(self.url("/checkpoint"))
            .send()
            .await
            .map_err(|e| transient("GET /checkpoint", e))?;
        let status = resp.status().as_u16();
        let body = read_capped(resp, "checkpoint").await?;
        if status != 200 {
            return Err(transient("GET /checkpoint", format!("HTTP {status}")));
        }
        String::from_utf8(body).map_err(|_| bad("checkpoint", "not UTF-8"))
    }

    /// `GET /proof/consistency?from=A&to=B`: the proof hashes (not verified here), from
    /// the proof URL when one is set and it answers, else from the server. Any answer is
    /// verified by the caller, so the replica is not trusted either way.
    pub async fn consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>, AgentError> {
        if let Some(proofs) = &self.proofs {
            match self.consistency_from(proofs, from, to).await {
                Ok(proof) => return Ok(proof),
                Err(e) => {
                    tracing::debug!("consistency proof from {proofs}: {e}; asking the server")
                }
            }
        }
        self.consistency_from(&self.base, from, to).await
    }

    async fn consistency_from(
        &self,
        base: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<Hash>, AgentError> {
        let resp = self
            .http
            .get(format!("{base}/proof/consistency?from={from}&to={to}"))
            .send()
            .await
            .map_err(|e| transient("GET /proof/consistency", e))?;
        let status = resp.status().as_u16();
        let body = read_capped(resp, "consistency proof").await?;
        if status != 200 {
            return Err(transient(
                "GET /proof/consistency",
                format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                ),
            ));
        }
        let text = String::from_utf8(body).map_err(|_| bad("consistency proof", "not UTF-8"))?;
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                base64::engine::general_purpose::STANDARD
                    .decode(l)
                    .ok()
                    .and_then(|b| Hash::from_slice(&b))
                    .ok_or_else(|| bad("consistency proof", "a line is not a base64 hash"))
            })
            .collect()
    }

    /// `POST /v1/checkin` (the check-in of docs/AGENT.md).
    pub async fn checkin(&self, body: &Value) -> Result<CheckinOutcome, AgentError> {
        let resp = self
            .with_auth(self.http.post(self.url("/v1/checkin")))
            .json(body)
            .send()
            .await
            .map_err(|e| transient("check-in", e))?;
        let status = resp.status().as_u16();
        let body = read_capped(resp, "check-in answer").await?;
        Ok(match status {
            200..=299 => CheckinOutcome::Accepted,
            404 => CheckinOutcome::NotSupported,
            _ => CheckinOutcome::Refused {
                status,
                message: error_of(status, &body).1,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    /// A server that is out of disk, busy or failing keeps the records in the outbox;
    /// refusals of the request itself do not.
    #[test]
    fn full_disk_and_overload_answers_are_retried() {
        for status in [429, 500, 502, 503, 504, 507] {
            assert!(super::retryable_status(status), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 413, 422] {
            assert!(!super::retryable_status(status), "{status}");
        }
    }

    /// Serves `/proof/consistency` answering `hash` (one base64 line) for `to` = `only_to`
    /// and 404 otherwise; returns the base URL.
    async fn proof_server(hash: [u8; 32], only_to: Option<u64>) -> String {
        use axum::extract::Query;
        use axum::http::StatusCode;
        use base64::Engine as _;
        let line = base64::engine::general_purpose::STANDARD.encode(hash);
        let app = axum::Router::new().route(
            "/proof/consistency",
            axum::routing::get(
                move |Query(q): Query<std::collections::HashMap<String, u64>>| async move {
                    match only_to {
                        Some(to) if q.get("to") != Some(&to) => {
                            (StatusCode::NOT_FOUND, String::new())
                        }
                        _ => (StatusCode::OK, format!("{line}\n")),
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    /// With a proof URL, consistency proofs come from it, and from the server when it
    /// cannot answer (a replica that has not seen that size).
    #[tokio::test]
    async fn consistency_proofs_come_from_the_proof_url_first() {
        let server = proof_server([1; 32], None).await;
        let replica = proof_server([2; 32], Some(5)).await;
        let client = super::Client::new(&server, None, None).with_proof_url(Some(&replica));
        assert_eq!(
            client.consistency(3, 5).await.unwrap(),
            vec![super::Hash([2; 32])]
        );
        assert_eq!(
            client.consistency(3, 6).await.unwrap(),
            vec![super::Hash([1; 32])]
        );
        let plain = super::Client::new(&server, None, None);
        assert_eq!(
            plain.consistency(3, 5).await.unwrap(),
            vec![super::Hash([1; 32])]
        );
    }

    #[test]
    fn batch_encoding_uses_shortest_heads() {
        let a = vec![1u8; 23];
        let b = vec![2u8; 24];
        let c = vec![3u8; 300];
        let out = ledger_record::encode_batch_body(&[&a, &b, &c]);
        assert_eq!(out[0], 0x83);
        assert_eq!(out[1], 0x57);
        assert_eq!(&out[25..27], &[0x58, 24]);
        assert_eq!(&out[51..54], &[0x59, 0x01, 0x2c]);
        assert_eq!(out.len(), 1 + 1 + 23 + 2 + 24 + 3 + 300);
    }
}
