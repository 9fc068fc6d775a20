//! The gRPC API (tonic), `proto/ledger.proto`: the same intake path and answers as HTTP.
//!
//! Back-pressure: a unary `Append` that meets a full sequencer queue fails with
//! UNAVAILABLE (and `retry-after` metadata). The streaming calls instead stop reading
//! the stream and retry the hand-over after a short pause, so HTTP/2 flow control slows
//! the client down and memory stays bounded; after [`STREAM_BUSY_LIMIT`] of continuous
//! refusal they fail with UNAVAILABLE.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{bearer, Principal};
use crate::error::AppError;
use crate::intake::{IntakeError, Outcome, Pending};
use crate::log_reads::{self, receipt_text};
use crate::state::{AppState, ServerError};

/// Code generated from `proto/ledger.proto`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("evidence_ledger.v1");
}

use pb::ledger_server::{Ledger, LedgerServer};

/// How long a stream keeps retrying a hand-over refused as busy.
pub const STREAM_BUSY_LIMIT: Duration = Duration::from_secs(30);
/// Requests of one stream handed over and not yet answered.
const PIPELINE_DEPTH: usize = 64;

/// The gRPC service.
#[derive(Clone)]
pub struct GrpcService {
    state: Arc<AppState>,
}

/// The tonic server for `state`, with message limits from the configuration.
pub fn service(state: Arc<AppState>) -> LedgerServer<GrpcService> {
    let limit = state.config.max_request_bytes;
    LedgerServer::new(GrpcService { state })
        .max_decoding_message_size(limit)
        .max_encoding_message_size(usize::MAX)
}

/// Serves the gRPC API on `listener` until `shutdown` resolves.
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tonic::transport::Server::builder()
        .add_service(service(state))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| ServerError::Grpc(e.to_string()))
}

// tonic's `Status` is large by design and every handler returns it; boxing it here
// would only add an allocation on the error path.
#[allow(clippy::result_large_err)]
fn principal<T>(state: &AppState, request: &Request<T>) -> Result<Principal, Status> {
    let value = request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    Ok(state
        .auth
        .authenticate(bearer(value))
        .map_err(AppError::from)?)
}

fn result_of(o: Outcome) -> pb::AppendResult {
    let result = match o.map_err(AppError::from).and_then(|a| {
        let receipt = receipt_text(a.index, a.proof.clone(), &a.checkpoint.note)?;
        Ok(pb::Appended {
            index: a.index,
            duplicate: a.duplicate,
            record_hash: a.record_hash.as_bytes().to_vec(),
            checkpoint: String::from_utf8_lossy(&a.checkpoint.note).into_owned(),
            inclusion_proof: a.proof.iter().map(|h| h.as_bytes().to_vec()).collect(),
            receipt,
        })
    }) {
        Ok(a) => pb::append_result::Result::Appended(a),
        Err(e) => pb::append_result::Result::Error(pb::Error {
            code: e.code.to_string(),
            message: e.message,
        }),
    };
    pb::AppendResult {
        result: Some(result),
    }
}

fn response_of(outcomes: Vec<Outcome>) -> pb::AppendResponse {
    pb::AppendResponse {
        results: outcomes.into_iter().map(result_of).collect(),
    }
}

/// Hands a stream's request over, waiting out a busy sequencer (see module docs).
async fn submit_patiently(
    state: &Arc<AppState>,
    who: &Principal,
    records: Vec<Vec<u8>>,
) -> Result<Pending, AppError> {
    let deadline = Instant::now() + STREAM_BUSY_LIMIT;
    let mut pause = Duration::from_millis(1);
    loop {
        match state
            .intake
            .submit(who, records.clone())
            .await
            .map_err(AppError::from)
        {
            Err(e) if e.code == "busy" && Instant::now() < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

type PipelineStream = Pin<Box<dyn Stream<Item = Result<pb::AppendResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Ledger for GrpcService {
    async fn append(
        &self,
        request: Request<pb::AppendRequest>,
    ) -> Result<Response<pb::AppendResponse>, Status> {
        let who = principal(&self.state, &request)?;
        let outcomes = self
            .state
            .intake
            .append(&who, request.into_inner().records)
            .await?;
        Ok(Response::new(response_of(outcomes)))
    }

    async fn append_stream(
        &self,
        request: Request<Streaming<pb::AppendRequest>>,
    ) -> Result<Response<pb::AppendResponse>, Status> {
        let who = principal(&self.state, &request)?;
        let mut stream = request.into_inner();
        let mut waiting = std::collections::VecDeque::new();
        let mut results = Vec::new();
        while let Some(message) = stream.message().await? {
            let pending = submit_patiently(&self.state, &who, message.records).await?;
            waiting.push_back(tokio::spawn(pending.finish()));
            while waiting.len() > PIPELINE_DEPTH {
                if let Some(h) = waiting.pop_front() {
                    let outcomes = h.await.map_err(AppError::internal)??;
                    results.extend(outcomes.into_iter().map(result_of));
                }
            }
        }
        for h in waiting {
            let outcomes = h.await.map_err(AppError::internal)??;
            results.extend(outcomes.into_iter().map(result_of));
        }
        Ok(Response::new(pb::AppendResponse { results }))
    }

    type AppendPipelineStream = PipelineStream;

    async fn append_pipeline(
        &self,
        request: Request<Streaming<pb::AppendRequest>>,
    ) -> Result<Response<Self::AppendPipelineStream>, Status> {
        let who = principal(&self.state, &request)?;
        let mut stream = request.into_inner();
        let state = self.state.clone();
        let (pending_tx, mut pending_rx) = tokio::sync::mpsc::channel::<
            tokio::task::JoinHandle<Result<Vec<Outcome>, IntakeError>>,
        >(PIPELINE_DEPTH);
        let (out_tx, out_rx) = tokio::sync::mpsc::channel(PIPELINE_DEPTH);
        let err_tx = out_tx.clone();
        // Reader: hands requests over one after another, so their records keep their
        // order; the answers are awaited by the writer below.
        tokio::spawn(async move {
            loop {
                let message = match stream.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => return,
                    Err(status) => {
                        let _ = err_tx.send(Err(status)).await;
                        return;
                    }
                };
                match submit_patiently(&state, &who, message.records).await {
                    Ok(pending) => {
                        if pending_tx
                            .send(tokio::spawn(pending.finish()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = err_tx.send(Err(e.to_status())).await;
                        return;
                    }
                }
            }
        });
        // Writer: answers in request order.
        tokio::spawn(async move {
            while let Some(handle) = pending_rx.recv().await {
                let answer = match handle.await {
                    Ok(Ok(outcomes)) => Ok(response_of(outcomes)),
                    Ok(Err(e)) => Err(e.into()),
                    Err(e) => Err(AppError::internal(e).to_status()),
                };
                let failed = answer.is_err();
                if out_tx.send(answer).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(out_rx),
        )))
    }

    async fn get_receipt(
        &self,
        request: Request<pb::GetReceiptRequest>,
    ) -> Result<Response<pb::ReceiptResponse>, Status> {
        let r = request.into_inner();
        let size = r.size.filter(|s| *s != 0);
        let receipt = log_reads::receipt(&self.state, r.index, size).await?;
        Ok(Response::new(pb::ReceiptResponse { receipt }))
    }

    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::CheckpointResponse>, Status> {
        let cp = log_reads::checkpoint(&self.state, request.into_inner().size).await?;
        Ok(Response::new(pb::CheckpointResponse {
            size: cp.size,
            root: cp.root.as_bytes().to_vec(),
            note: String::from_utf8_lossy(&cp.note).into_owned(),
        }))
    }

    async fn get_consistency(
        &self,
        request: Request<pb::GetConsistencyRequest>,
    ) -> Result<Response<pb::ConsistencyResponse>, Status> {
        let r = request.into_inner();
        let proof = log_reads::consistency(&self.state, r.from, Some(r.to)).await?;
        Ok(Response::new(pb::ConsistencyResponse {
            proof: proof.iter().map(|h| h.as_bytes().to_vec()).collect(),
        }))
    }
}
