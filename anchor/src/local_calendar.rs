//! TEST AND DEVELOPMENT SUPPORT ONLY (feature `local-calendar`): an
//! in-process stand-in for an OpenTimestamps calendar server, so tests and
//! local setups never reach the internet. It proves nothing: its "Bitcoin"
//! blocks are synthetic headers it makes up itself.
//!
//! It speaks the real wire protocol:
//! - `POST /digest` with 1..=64 raw bytes answers a bare timestamp ending in
//!   a pending attestation naming this calendar. Like the public calendars,
//!   the path is: append an 8-byte nonce, sha256, prepend a 4-byte time,
//!   append 8 bytes; so the commitment is 44 bytes.
//! - `GET /timestamp/<hex commitment>` answers 200 with a bare timestamp
//!   rooted at the commitment once it is confirmed, 404 before.
//!
//! - `GET /api/block-height/<height>` and `GET /api/block/<hash>/header`
//!   serve its synthetic chain the way an Esplora explorer API serves
//!   Bitcoin's (block hash as 64 hex; header as 160 hex; 404 when unknown),
//!   so a server configured with `<calendar>/api` as its header source can
//!   check this calendar's attestations ([`crate::header_source`]).
//!
//! [`LocalCalendar::confirm`] "mines" every pending commitment into a new
//! synthetic block: a Merkle tree over the commitments (the reference's
//! `make_merkle_tree` shape, append/prepend then sha256 per pair), embedded
//! in a fake transaction whose double SHA-256 is the block's Merkle root.
//! Headers chain (prev-hash) and meet regtest proof of work (nBits
//! 0x207fffff), so [`crate::HeaderSet`] accepts runs of them.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;

use crate::attestation::Attestation;
use crate::bitcoin::BlockHeader;
use crate::builder::TimestampBuilder;
use crate::error::OtsError;
use crate::op::Op;
use crate::timestamp::Timestamp;

/// Regtest's compact target: about every second nonce satisfies it.
const REGTEST_BITS: u32 = 0x207f_ffff;
/// Height of the first synthetic block.
pub const FIRST_HEIGHT: u64 = 1_000_000;
/// Stand-ins for the bytes of a Bitcoin transaction around the commitment.
const TX_PREFIX: &[u8] = b"\x01\x00\x00\x00synthetic-tx-in";
const TX_SUFFIX: &[u8] = b"synthetic-tx-out\x00\x00\x00\x00";

#[derive(Debug)]
struct Inner {
    uri: String,
    counter: u64,
    /// Commitments not yet in a block, in arrival order.
    pending: Vec<Vec<u8>>,
    /// Serialized upgrade answers by commitment.
    answers: HashMap<Vec<u8>, Vec<u8>>,
    /// Synthetic headers by height.
    headers: Vec<(u64, BlockHeader)>,
}

/// A local calendar; cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct LocalCalendar {
    inner: Arc<Mutex<Inner>>,
}

/// A calendar serving on a local socket.
#[derive(Debug)]
pub struct RunningCalendar {
    /// `http://127.0.0.1:<port>`, also the URI in its pending attestations.
    pub url: String,
    pub calendar: LocalCalendar,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningCalendar {
    /// Stops the server and waits for it.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

impl LocalCalendar {
    /// A calendar whose pending attestations name `uri`.
    pub fn new(uri: &str) -> Result<LocalCalendar, OtsError> {
        Attestation::pending(uri)?;
        Ok(LocalCalendar {
            inner: Arc::new(Mutex::new(Inner {
                uri: uri.to_owned(),
                counter: 0,
                pending: Vec::new(),
                answers: HashMap::new(),
                headers: Vec::new(),
            })),
        })
    }

    /// Binds `127.0.0.1:0` and serves until [`RunningCalendar::stop`].
    pub async fn spawn() -> std::io::Result<RunningCalendar> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let calendar = LocalCalendar::new(&url).map_err(std::io::Error::other)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = calendar.clone();
        let task = tokio::spawn(async move {
            served
                .serve(listener, async {
                    let _ = rx.await;
                })
                .await
        });
        Ok(RunningCalendar {
            url,
            calendar,
            shutdown: Some(tx),
            task,
        })
    }

    /// Serves the calendar on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// The HTTP routes, for `oneshot` tests or embedding.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/digest", post(post_digest))
            .route("/timestamp/{commitment}", get(get_timestamp))
            .route("/api/block-height/{height}", get(get_block_hash))
            .route("/api/block/{hash}/header", get(get_block_header))
            // Digests are at most 64 bytes; refuse anything larger early.
            .layer(DefaultBodyLimit::max(64))
            .with_state(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would be a bug in this test helper;
        // the state itself stays consistent, so keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of commitments waiting for a block.
    pub fn pending_count(&self) -> usize {
        self.lock().pending.len()
    }

    /// Every synthetic header made so far, by height.
    pub fn headers(&self) -> Vec<(u64, BlockHeader)> {
        self.lock().headers.clone()
    }

    /// Handles a submission as `POST /digest` does; returns the bare
    /// timestamp bytes.
    pub fn submit(&self, digest: &[u8]) -> Result<Vec<u8>, OtsError> {
        let mut inner = self.lock();
        inner.counter += 1;
        let counter = inner.counter;
        let noise = |label: &[u8]| {
            let mut h = Sha256::new();
            h.update(label);
            h.update(inner.uri.as_bytes());
            h.update(counter.to_be_bytes());
            h.finalize()
        };
        let nonce = noise(b"nonce")[..8].to_vec();
        let tail = noise(b"tail")[..8].to_vec();
        let time = u32::try_from(counter).unwrap_or(u32::MAX).to_be_bytes();
        let chain = TimestampBuilder::new(digest)?
            .op(Op::Append(nonce))?
            .op(Op::SHA256)?
            .op(Op::Prepend(time.to_vec()))?
            .op(Op::Append(tail))?;
        let commitment = chain.message().to_vec();
        let tree = chain.attest(Attestation::pending(&inner.uri)?)?;
        let bytes = tree.to_bytes(digest)?;
        if !inner.answers.contains_key(&commitment) && !inner.pending.contains(&commitment) {
            inner.pending.push(commitment);
        }
        Ok(bytes)
    }

    /// How many digests were submitted (`POST /digest` answered) since start.
    pub fn submissions(&self) -> u64 {
        self.lock().counter
    }

    /// The upgrade answer for `commitment`, if confirmed.
    pub fn answer(&self, commitment: &[u8]) -> Option<Vec<u8>> {
        self.lock().answers.get(commitment).cloned()
    }

    /// Puts every pending commitment into a new synthetic block with time
    /// `time`; returns its height and header, or `None` if nothing was
    /// pending.
    pub fn confirm(&self, time: u32) -> Result<Option<(u64, BlockHeader)>, OtsError> {
        let mut inner = self.lock();
        if inner.pending.is_empty() {
            return Ok(None);
        }
        let leaves = std::mem::take(&mut inner.pending);
        let (tip, paths) = merkle_paths(&leaves)?;
        // The tip goes into a fake transaction; its txid (double SHA-256) is
        // the block's only transaction hash and so its Merkle root.
        let tx_ops = vec![
            Op::Prepend(TX_PREFIX.to_vec()),
            Op::Append(TX_SUFFIX.to_vec()),
            Op::SHA256,
            Op::SHA256,
        ];
        let mut merkle_root = tip;
        for op in &tx_ops {
            merkle_root = op.apply(&merkle_root)?;
        }
        let (height, prev) = match inner.headers.last() {
            Some((h, header)) => (h + 1, header.hash()),
            None => (FIRST_HEIGHT, [0u8; 32]),
        };
        let header = mine(prev, &merkle_root, time)?;
        let attestation = Attestation::Bitcoin { height };
        for (leaf, mut path) in leaves.iter().zip(paths) {
            path.extend(tx_ops.iter().cloned());
            let mut builder = TimestampBuilder::new(leaf)?;
            for op in path {
                builder = builder.op(op)?;
            }
            let answer: Timestamp = builder.attest(attestation.clone())?;
            let bytes = answer.to_bytes(leaf)?;
            inner.answers.insert(leaf.clone(), bytes);
        }
        inner.headers.push((height, header));
        Ok(Some((height, header)))
    }
}

/// The reference's Merkle tree shape: pair neighbours left to right (left
/// appends the right's message, right prepends the left's, then sha256),
/// carry an odd last node up unchanged. Returns the tip and each leaf's ops.
fn merkle_paths(leaves: &[Vec<u8>]) -> Result<(Vec<u8>, Vec<Vec<Op>>), OtsError> {
    let mut paths: Vec<Vec<Op>> = vec![Vec::new(); leaves.len()];
    // Each level: (message, indices of the leaves below it).
    let mut level: Vec<(Vec<u8>, Vec<usize>)> = leaves
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), vec![i]))
        .collect();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        let mut nodes = level.into_iter();
        while let Some((left, left_leaves)) = nodes.next() {
            let Some((right, right_leaves)) = nodes.next() else {
                next.push((left, left_leaves));
                break;
            };
            for &i in &left_leaves {
                paths[i].push(Op::Append(right.clone()));
                paths[i].push(Op::SHA256);
            }
            for &i in &right_leaves {
                paths[i].push(Op::Prepend(left.clone()));
                paths[i].push(Op::SHA256);
            }
            let mut joined = left;
            joined.extend_from_slice(&right);
            let parent = Op::SHA256.apply(&joined)?;
            let mut below = left_leaves;
            below.extend(right_leaves);
            next.push((parent, below));
        }
        level = next;
    }
    let tip = level.pop().map(|(m, _)| m).unwrap_or_default();
    Ok((tip, paths))
}

/// A header on `prev` with the given Merkle root whose nonce meets the
/// regtest target.
fn mine(prev: [u8; 32], merkle_root: &[u8], time: u32) -> Result<BlockHeader, OtsError> {
    let mut bytes = [0u8; 80];
    bytes[..4].copy_from_slice(&0x2000_0000u32.to_le_bytes());
    bytes[4..36].copy_from_slice(&prev);
    bytes[36..68].copy_from_slice(merkle_root);
    bytes[68..72].copy_from_slice(&time.to_le_bytes());
    bytes[72..76].copy_from_slice(&REGTEST_BITS.to_le_bytes());
    let mut nonce: u32 = 0;
    loop {
        bytes[76..].copy_from_slice(&nonce.to_le_bytes());
        let header = BlockHeader::from_bytes(&bytes)?;
        // Each try succeeds with probability about 1/2; failing 2^32 times
        // in a row does not happen, but the error keeps this panic-free.
        match header.check_pow(0) {
            Ok(()) => return Ok(header),
            Err(e) if nonce == u32::MAX => return Err(e),
            Err(_) => nonce += 1,
        }
    }
}

async fn post_digest(State(calendar): State<LocalCalendar>, body: Bytes) -> Response {
    if body.is_empty() || body.len() > 64 {
        return (StatusCode::BAD_REQUEST, "digest must be 1..=64 bytes").into_response();
    }
    match calendar.submit(&body) {
        Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "cannot timestamp this digest").into_response(),
    }
}

async fn get_timestamp(
    State(calendar): State<LocalCalendar>,
    Path(commitment): Path<String>,
) -> Response {
    let Ok(commitment) = hex::decode(&commitment) else {
        return (StatusCode::BAD_REQUEST, "commitment must be hex").into_response();
    };
    match calendar.answer(&commitment) {
        Some(bytes) => (StatusCode::OK, bytes).into_response(),
        None if calendar.lock().pending.contains(&commitment) => (
            StatusCode::NOT_FOUND,
            "Pending confirmation in Bitcoin blockchain",
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "Not found").into_response(),
    }
}

async fn get_block_hash(
    State(calendar): State<LocalCalendar>,
    Path(height): Path<String>,
) -> Response {
    let header = height.parse::<u64>().ok().and_then(|h| {
        calendar
            .lock()
            .headers
            .iter()
            .find(|(at, _)| *at == h)
            .map(|(_, hd)| *hd)
    });
    match header {
        Some(header) => (StatusCode::OK, header.hash_display()).into_response(),
        None => (StatusCode::NOT_FOUND, "Block not found").into_response(),
    }
}

async fn get_block_header(
    State(calendar): State<LocalCalendar>,
    Path(hash): Path<String>,
) -> Response {
    let header = calendar
        .lock()
        .headers
        .iter()
        .map(|(_, header)| *header)
        .find(|header| header.hash_display() == hash);
    match header {
        Some(header) => (StatusCode::OK, hex::encode(header.as_bytes())).into_response(),
        None => (StatusCode::NOT_FOUND, "Block not found").into_response(),
    }
}
