//! The object-storage publisher: copies the log's public read side into an
//! S3-compatible bucket (AWS S3, MinIO, Ceph RGW, R2) so read replicas and CDNs serve
//! proofs without the sequencer (`docs/SCALE_OUT.md`).
//!
//! Layout under `publish_prefix`, as the C2SP tlog-tiles static API names it:
//! `checkpoint`, `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]` (with
//! `publish_entry_bundles`), and for every complete stamp `ots/<size>.ots` with the
//! checkpoint note it stamps at `ots/<size>.checkpoint`. The bytes are those `ledgerd`
//! serves over HTTP: the same `Log::hash_tile` and `Log::entry_bundle` produce them.
//!
//! Rules. Immutable objects are written create-only (`If-None-Match: *`); an object
//! already there is read back and compared: equal counts as published, different is a
//! conflict that stops publication (the bucket disagrees with the log; it is never
//! overwritten). `checkpoint` is written last, after every tile and bundle of its size,
//! so the bucket's checkpoint is never ahead of its tiles. On start the bucket's
//! checkpoint is verified with the log key and compared with the log's root at its size
//! (a mismatch refuses to publish); publication continues from there, an empty bucket
//! from size 0. The checkpoint followed is the one `/checkpoint` serves: with witnesses
//! the latest cosigned one.
//!
//! The rooms: `plan.rs` (which objects a growth adds, pure), `bucket.rs` (the S3
//! client), `credentials.rs` (the access key), `stamps.rs` (complete stamps),
//! `lag.rs` (when each checkpoint was signed). The figures live in
//! [`crate::metrics::publish`].
//!
//! What it does not do: publish anything the log has not signed, delay an append (it
//! is a background task reading the log; a stopped bucket only makes it retry with
//! back-off), or allow two writers: one publisher per log and bucket prefix.

mod bucket;
mod credentials;
mod lag;
mod plan;
mod stamps;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ledger::Log;
use ledger_core::checkpoint::SignedCheckpoint;
use ledger_core::note::NoteVerifier;
use tokio::sync::watch;

pub use bucket::{Bucket, PutOutcome, IMMUTABLE, MUTABLE, OCTETS, TEXT};
pub use credentials::Credentials;
pub use plan::{objects_between, Object};

use crate::blocking::blocking;
use crate::config::PublishSettings;
use crate::metrics::publish::{PublishMetrics, PublishState};
use crate::state::AppState;

/// Longest wait between two attempts after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Objects read from the log and uploaded together.
const UPLOAD_BATCH: usize = 32;

/// Why publication failed or stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    #[error("publisher credentials file {path}: {reason}")]
    Credentials { path: String, reason: String },
    #[error("publisher S3 client: {0}")]
    Client(String),
    /// The bucket did not answer or refused a request; retried with back-off.
    #[error("bucket: {0}")]
    Bucket(String),
    /// An immutable object in the bucket holds other bytes than the log's.
    #[error("bucket object {key} differs from the log's ({bucket_len} bytes in the bucket, {log_len} from the log); it is left as it is and publication stopped")]
    Conflict {
        key: String,
        bucket_len: usize,
        log_len: usize,
    },
    /// The bucket's checkpoint is not one of this log's.
    #[error("the bucket's checkpoint does not match the log, refusing to publish: {0}")]
    Mismatch(String),
    #[error("reading the log: {0}")]
    Log(String),
}

impl PublishError {
    /// Whether publication must stop until an operator looks (never retried).
    pub fn refuses(&self) -> bool {
        matches!(
            self,
            PublishError::Conflict { .. } | PublishError::Mismatch(_)
        )
    }
}

/// The bucket's checkpoint as last read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub size: u64,
    /// The note verbatim; empty for an empty bucket.
    pub note: Bytes,
}

/// The bucket of the settings, when a bucket is configured. Reads the credentials
/// file (blocking, on the pool).
pub async fn open(settings: &PublishSettings) -> Result<Option<Bucket>, PublishError> {
    if settings.bucket.is_none() {
        return Ok(None);
    }
    let credentials = match settings.credentials_file.clone() {
        Some(path) => Some(
            blocking(move || credentials::load_file(&path))
                .await
                .map_err(|e| PublishError::Client(e.to_string()))??,
        ),
        None => None,
    };
    Bucket::open(settings, credentials).map(Some)
}

/// One log's publisher.
pub struct Publisher {
    state: Arc<AppState>,
    bucket: Bucket,
    entry_bundles: bool,
    stamps: stamps::StampCursor,
}

impl Publisher {
    pub fn new(state: Arc<AppState>, bucket: Bucket) -> Publisher {
        let entry_bundles = state.config.publish.entry_bundles;
        Publisher {
            state,
            bucket,
            entry_bundles,
            stamps: stamps::StampCursor::default(),
        }
    }

    fn log(&self) -> &Arc<Log> {
        &self.state.log
    }

    fn metrics(&self) -> &PublishMetrics {
        &self.state.intake.metrics.publish
    }

    /// Reads the bucket's checkpoint and checks it against the log: signed by the log
    /// key, for this origin, no larger than the log, the log's root at its size.
    pub async fn start(&self) -> Result<Published, PublishError> {
        let Some(note) = self.bucket.get("checkpoint").await? else {
            return Ok(Published {
                size: 0,
                note: Bytes::new(),
            });
        };
        let log = self.log().clone();
        let verifier = NoteVerifier::parse(&log.verifier_key())
            .map_err(|e| PublishError::Log(format!("the log's verifier key: {e}")))?;
        let cp =
            SignedCheckpoint::verify_for_origin(&note, &verifier, log.origin()).map_err(|e| {
                PublishError::Mismatch(format!("it does not verify with the log key: {e}"))
            })?;
        let (size, root) = (cp.size(), *cp.root());
        let latest = log.latest().size;
        if size > latest {
            return Err(PublishError::Mismatch(format!(
                "it is of size {size}, the log's latest is {latest}"
            )));
        }
        let ours = blocking(move || log.root_at(size))
            .await
            .map_err(|e| PublishError::Log(e.to_string()))?
            .map_err(|e| PublishError::Log(e.to_string()))?;
        if ours != root {
            return Err(PublishError::Mismatch(format!(
                "at size {size} its root is {}, the log's is {}",
                hex::encode(root.as_bytes()),
                hex::encode(ours.as_bytes())
            )));
        }
        self.stamps.load(&self.bucket).await?;
        Ok(Published { size, note })
    }

    /// Publishes the checkpoint `/checkpoint` serves, if it is not the bucket's yet:
    /// its new tiles and bundles, settled stamps, then the checkpoint. Returns what the
    /// bucket holds now, `None` when there was nothing to do.
    pub async fn step(&self, at: &Published) -> Result<Option<Published>, PublishError> {
        let target = self.state.anchoring.published();
        if target.size < at.size || (target.size == at.size && target.note == at.note) {
            self.stamps
                .publish(&self.state, &self.bucket, at.size)
                .await?;
            return Ok(None);
        }
        self.publish_objects(at.size, target.size).await?;
        self.stamps
            .publish(&self.state, &self.bucket, target.size)
            .await?;
        // Crash here: the tiles of `target` are in the bucket, its checkpoint is not; the
        // next start reads the older checkpoint and publishes again from it, each tile
        // found equal. A reader sees the older, complete state meanwhile.
        let note = Bytes::from(target.note.clone());
        self.bucket.put_checkpoint(note.clone()).await?;
        self.metrics().written.fetch_add(1, ORDER);
        Ok(Some(Published {
            size: target.size,
            note,
        }))
    }

    /// Uploads every tile (and bundle) the tree of `to` has beyond the tree of `from`,
    /// a batch at a time: read on the blocking pool, then written concurrently.
    async fn publish_objects(&self, from: u64, to: u64) -> Result<(), PublishError> {
        let objects = objects_between(from, to, self.entry_bundles);
        for batch in objects.chunks(UPLOAD_BATCH) {
            let log = self.log().clone();
            let wanted = batch.to_vec();
            let contents = blocking(move || read_objects(&log, &wanted))
                .await
                .map_err(|e| PublishError::Log(e.to_string()))??;
            let puts = batch.iter().zip(contents).map(|(object, bytes)| {
                let key = object.key();
                async move { self.bucket.put_immutable(&key, bytes, OCTETS).await }
            });
            for outcome in futures_util::future::join_all(puts).await {
                self.count(outcome?);
            }
        }
        Ok(())
    }

    fn count(&self, outcome: PutOutcome) {
        let m = self.metrics();
        match outcome {
            PutOutcome::Written => m.written.fetch_add(1, ORDER),
            PutOutcome::Equal => m.skipped_equal.fetch_add(1, ORDER),
        };
    }
}

const ORDER: std::sync::atomic::Ordering = std::sync::atomic::Ordering::Relaxed;

/// The bytes of each object, as `GET /tile/...` answers them. Blocking.
pub fn read_objects(log: &Log, objects: &[Object]) -> Result<Vec<Bytes>, PublishError> {
    objects
        .iter()
        .map(|object| read_object(log, object))
        .collect()
}

/// The bytes of one object. Blocking.
pub fn read_object(log: &Log, object: &Object) -> Result<Bytes, PublishError> {
    let bytes = match object {
        Object::Tile(t) => log.hash_tile(t.level(), t.index(), u64::from(t.width())),
        Object::Bundle(b) => log.entry_bundle(b.index(), u64::from(b.width())),
    };
    bytes
        .map(Bytes::from)
        .map_err(|e| PublishError::Log(format!("{}: {e}", object.key())))
}

/// The background task: follows the checkpoint `/checkpoint` serves until `stop`,
/// retrying failures with capped back-off and stopping for good on a refusal.
pub async fn run(state: Arc<AppState>, bucket: Bucket, mut stop: watch::Receiver<bool>) {
    let interval = state.config.publish.interval;
    let publisher = Publisher::new(state.clone(), bucket);
    let signed = lag::SignedTimes::start(state.anchoring.clone(), stop.clone());
    let metrics = &state.intake.metrics.publish;
    metrics.set_state(PublishState::Starting, None);
    let mut at: Option<Published> = None;
    let mut backoff = interval;
    while !*stop.borrow() {
        let attempt = async {
            match &at {
                None => publisher.start().await.map(Some),
                Some(at) => publisher.step(at).await,
            }
        };
        let result = tokio::select! {
            r = attempt => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        let pause = match result {
            Ok(now) => {
                if let Some(now) = now {
                    published(metrics, &signed, &now, at.is_some());
                    at = Some(now);
                }
                metrics.set_state(PublishState::Ok, None);
                backoff = interval;
                interval
            }
            Err(e) if e.refuses() => {
                refuse(metrics, &e);
                let _ = stop.wait_for(|s| *s).await;
                break;
            }
            Err(e) => {
                failed(metrics, &e, backoff);
                let pause = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                pause
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
}

/// Records a checkpoint now in the bucket: its size and, when this process wrote it,
/// the time since it was signed.
fn published(metrics: &PublishMetrics, signed: &lag::SignedTimes, now: &Published, wrote: bool) {
    metrics.published_size.store(now.size, ORDER);
    if wrote {
        if let Some(lag) = signed.lag_of(now.size) {
            metrics.observe_lag(lag);
        }
    } else {
        tracing::info!(
            size = now.size,
            "publisher: the bucket's checkpoint matches the log; continuing from it"
        );
    }
}

fn refuse(metrics: &PublishMetrics, e: &PublishError) {
    if matches!(e, PublishError::Conflict { .. }) {
        metrics.conflicts.fetch_add(1, ORDER);
    }
    metrics.failures.fetch_add(1, ORDER);
    tracing::error!("publisher stopped: {e}");
    metrics.set_state(PublishState::Refused, Some(e.to_string()));
}

fn failed(metrics: &PublishMetrics, e: &PublishError, retry_in: Duration) {
    metrics.failures.fetch_add(1, ORDER);
    tracing::warn!("publisher: {e}; retrying in {retry_in:?}");
    metrics.set_state(PublishState::Failing, Some(e.to_string()));
}
