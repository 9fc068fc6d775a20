//! Witnessing: the log sends its latest checkpoint to the witnesses of its C2SP
//! tlog-policy file (tlog-witness `add-checkpoint`), verifies the cosignatures they
//! answer, and publishes the checkpoint with them merged in once the policy's quorum is
//! met. `/checkpoint`, receipts and anchors then use that checkpoint (`gate`).
//!
//! Rounds. One round at a time runs on the latest checkpoint, never on every batch
//! (batches close every few milliseconds): each witness gets a request in parallel,
//! and the round ends as soon as the answers so far meet the quorum, so one slow
//! witness delays nothing; its request goes on in the background and it sits out the
//! rounds until it answers. Each witness's requests are spaced at least 86400 s /
//! `witness_requests_per_day` apart, which also paces the rounds.
//!
//! State. What each witness last cosigned lives in memory only: after a restart every
//! witness starts at `old 0` and its `409` says its size, as Tessera does. The latest
//! published checkpoint is kept in the state database, so `/checkpoint` serves it after
//! a restart; it is checked against the log and the policy before it is used again.

pub mod client;
pub mod gate;
pub mod metrics;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ledger::{CheckpointInfo, Log};
use ledger_core::checkpoint::Checkpoint;
use ledger_core::note::{Note, NoteSignature, NoteVerifier};
use ledger_core::policy::{Policy, PolicyError};
use tokio::sync::{mpsc, watch};

use crate::config::WitnessSettings;
use crate::state_db::StateDb;
use client::{Exchange, WitnessClient};
pub use gate::{Cover, Gate, Witnessed};
use metrics::RoundCounters;

/// Largest policy file read.
const MAX_POLICY_BYTES: u64 = 1 << 20;

/// The state database key of the latest published checkpoint.
const STORED_KEY: &str = "witnessed_checkpoint";

/// How often an idle witness loop looks for a new checkpoint.
const POLL: Duration = Duration::from_millis(2);

/// Pause after a round that missed the quorum before the next one.
const AFTER_MISS: Duration = Duration::from_millis(50);

/// How a round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    Met,
    Missed,
    /// Neither: the witnesses that could still meet the quorum were not asked now.
    NotYet,
}

/// Why witnessing could not start.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("reading the witness policy {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("witness policy {path}: {source}")]
    Policy {
        path: PathBuf,
        #[source]
        source: PolicyError,
    },
    #[error("witness policy {path}: witness {name} has no http(s) submission URL; the log must reach every witness of its policy")]
    NoUrl { path: PathBuf, name: String },
    #[error("witness policy {path}: its log lines do not list this log's key {key}")]
    WrongLog { path: PathBuf, key: String },
    #[error("witness HTTP client: {0}")]
    Http(String),
}

/// The witnesses of one log and what they have cosigned.
pub struct Witnessing {
    policy: Policy,
    /// One per policy witness, in policy order.
    witnesses: Vec<WitnessClient>,
    tx: watch::Sender<Witnessed>,
    /// The read side, for the intake and the checkpoint reads.
    pub gate: Gate,
    state_db: Arc<StateDb>,
    pub rounds: RoundCounters,
}

impl Witnessing {
    /// Reads the policy and the stored checkpoint; `None` when no policy is configured.
    pub fn open(
        settings: &WitnessSettings,
        log: &Log,
        state_db: Arc<StateDb>,
    ) -> Result<Option<Arc<Witnessing>>, WitnessError> {
        let Some(path) = &settings.policy else {
            return Ok(None);
        };
        let policy = read_policy(path, &log.verifier_key())?;
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| WitnessError::Http(e.to_string()))?;
        let mut witnesses = Vec::new();
        for w in policy.witnesses() {
            let url = w
                .url
                .clone()
                .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
                .ok_or_else(|| WitnessError::NoUrl {
                    path: path.clone(),
                    name: w.name.clone(),
                })?;
            witnesses.push(WitnessClient::new(
                w.name.clone(),
                w.verifier.clone(),
                url,
                http.clone(),
                settings.timeout,
                settings.requests_per_day,
            ));
        }
        let stored = restore(&state_db, log, &policy);
        // Optimistic until the first round says otherwise (read by /healthz and
        // /metrics only).
        let (tx, rx) = watch::channel(Witnessed {
            checkpoint: stored,
            quorum_met: true,
        });
        Ok(Some(Arc::new(Witnessing {
            policy,
            witnesses,
            tx,
            gate: Gate::new(
                rx,
                settings.fail_closed,
                settings.max_wait,
                log.latest().size,
            ),
            state_db,
            rounds: RoundCounters::default(),
        })))
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn quorum_met(&self) -> bool {
        self.tx.borrow().quorum_met
    }

    /// One round on `checkpoint`: published when the quorum was met; missed when the
    /// witnesses that failed leave too few to meet it; otherwise not yet decided (the
    /// others were busy or out of request budget), which changes nothing.
    async fn round(self: &Arc<Self>, log: &Arc<Log>, checkpoint: Arc<CheckpointInfo>) -> Round {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for i in 0..self.witnesses.len() {
            let (me, log, cp, tx) = (self.clone(), log.clone(), checkpoint.clone(), tx.clone());
            tokio::spawn(async move {
                let result = me.witnesses[i].exchange(&log, &cp).await;
                let _ = tx.send((i, result));
            });
        }
        drop(tx);
        let mut cosigned: BTreeMap<usize, Vec<NoteSignature>> = BTreeMap::new();
        let mut not_failed: BTreeSet<usize> = (0..self.witnesses.len()).collect();
        loop {
            if self.policy.is_met_by(&cosigned.keys().copied().collect()) {
                return match self.publish(&checkpoint, cosigned).await {
                    true => Round::Met,
                    false => Round::Missed,
                };
            }
            if !self.policy.is_met_by(&not_failed) {
                return Round::Missed;
            }
            match rx.recv().await {
                Some((i, Exchange::Cosigned(lines))) => {
                    cosigned.insert(i, lines);
                }
                Some((i, Exchange::Failed | Exchange::Blocked)) => {
                    not_failed.remove(&i);
                }
                Some((_, Exchange::NotYet)) => {}
                None => return Round::NotYet,
            }
        }
    }

    /// Merges the cosignatures into the checkpoint's note, stores it and publishes it.
    async fn publish(
        &self,
        checkpoint: &CheckpointInfo,
        cosigned: BTreeMap<usize, Vec<NoteSignature>>,
    ) -> bool {
        let merged = match merge(checkpoint, cosigned.into_values().flatten()) {
            Ok(m) => Arc::new(m),
            Err(e) => {
                tracing::error!(
                    "merging cosignatures into checkpoint {}: {e}",
                    checkpoint.size
                );
                return false;
            }
        };
        let (db, note) = (self.state_db.clone(), merged.note.clone());
        let stored = crate::blocking::blocking(move || {
            db.conn().execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                rusqlite::params![STORED_KEY, note],
            )
        })
        .await;
        if !matches!(stored, Ok(Ok(_))) {
            // Serving it is still right; only a restart would fall back to an older one.
            tracing::warn!("cosigned checkpoint {} not stored: {stored:?}", merged.size);
        }
        self.tx.send_modify(|w| {
            if w.checkpoint.as_ref().is_none_or(|c| c.size <= merged.size) {
                w.checkpoint = Some(merged.clone());
            }
            w.quorum_met = true;
        });
        true
    }

    fn missed(&self) {
        self.tx
            .send_if_modified(|w| std::mem::replace(&mut w.quorum_met, false));
    }
}

/// The checkpoint's note with the cosignature lines added after the log's signature.
fn merge(
    checkpoint: &CheckpointInfo,
    lines: impl Iterator<Item = NoteSignature>,
) -> Result<CheckpointInfo, ledger_core::note::NoteError> {
    let mut note = Note::parse(&checkpoint.note)?;
    for line in lines {
        note.push_signature(line)?;
    }
    Ok(CheckpointInfo {
        size: checkpoint.size,
        root: checkpoint.root,
        note: note.to_text().into_bytes(),
    })
}

/// Reads and parses the policy file; its `log` lines, if any, must include this log.
fn read_policy(path: &Path, log_vkey: &str) -> Result<Policy, WitnessError> {
    use std::io::Read as _;
    let read_err = |source| WitnessError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(read_err)?
        .take(MAX_POLICY_BYTES)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    let policy = Policy::parse(&bytes).map_err(|source| WitnessError::Policy {
        path: path.to_path_buf(),
        source,
    })?;
    let ours = NoteVerifier::parse(log_vkey).ok();
    let listed = policy.logs().is_empty()
        || policy
            .logs()
            .iter()
            .any(|l| Some(&l.verifier) == ours.as_ref());
    if !listed {
        return Err(WitnessError::WrongLog {
            path: path.to_path_buf(),
            key: log_vkey.to_owned(),
        });
    }
    Ok(policy)
}

/// The stored checkpoint, if it still holds: signed by this log, the same tree as the
/// log's at its size, and meeting the policy.
fn restore(db: &StateDb, log: &Log, policy: &Policy) -> Option<Arc<CheckpointInfo>> {
    let note: Vec<u8> = db
        .conn()
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [STORED_KEY],
            |row| row.get(0),
        )
        .ok()?;
    let verifier = NoteVerifier::parse(&log.verifier_key()).ok()?;
    let verdict = match policy.check(&note, Some(&verifier)) {
        Ok(v) if v.quorum_met => v,
        other => {
            tracing::warn!("stored cosigned checkpoint not used: {other:?}");
            return None;
        }
    };
    let cp: Checkpoint = verdict.checkpoint;
    let same_tree = cp.size <= log.latest().size && log.root_at(cp.size).ok() == Some(cp.root);
    if !same_tree {
        tracing::error!(
            "stored cosigned checkpoint of size {} is not this log's tree; not used",
            cp.size
        );
        return None;
    }
    Some(Arc::new(CheckpointInfo {
        size: cp.size,
        root: cp.root,
        note,
    }))
}

/// Runs witness rounds on the latest checkpoint until `stop` turns true.
pub async fn run(witnessing: Arc<Witnessing>, log: Arc<Log>, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let latest = log.latest();
        let witnessed = witnessing.gate.latest().map_or(0, |c| c.size);
        let pause = if latest.size == 0 || latest.size <= witnessed {
            POLL
        } else {
            match witnessing.round(&log, latest).await {
                Round::Met => {
                    witnessing.rounds.met.fetch_add(1, Ordering::Relaxed);
                    Duration::ZERO
                }
                Round::Missed => {
                    witnessing.rounds.missed.fetch_add(1, Ordering::Relaxed);
                    witnessing.missed();
                    AFTER_MISS
                }
                Round::NotYet => POLL,
            }
        };
        if !pause.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
