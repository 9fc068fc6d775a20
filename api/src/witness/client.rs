//! One witness as the log sees it: its key, its submission URL, the size it last
//! cosigned, its request budget and back-off, and one C2SP tlog-witness
//! `add-checkpoint` exchange (with the `409` size recovery).
//!
//! Status handling (tlog-witness and what deployed witnesses answer): `200` gives
//! cosignature lines, each verified with the witness's key before use; `409` with a
//! `text/x.tlog.size` body gives the witness's size, after which the request is sent
//! once more from there; `429` backs off (its `Retry-After`, capped at a minute, or
//! doubling from 100 ms); `400`, `403`, `404`, `422` and a `409` without a usable size are permanent
//! (logged, counted, alarmed; the witness is retried only after [`PERMANENT_RETRY`]);
//! anything else — `5xx`, a refused connection, a timeout — is transient.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::{CheckpointInfo, Log};
use ledger_core::cosignature::CosignatureVerifier;
use ledger_core::hash::Hash;
use ledger_core::note::NoteSignature;
use ledger_core::witness::{parse_cosignature_lines, parse_size_body, AddCheckpoint};
use std::sync::{Mutex, MutexGuard};

use super::metrics::{Outcome, WitnessCounters};

/// How long a witness that answered with a permanent error is left alone.
pub const PERMANENT_RETRY: Duration = Duration::from_secs(600);

/// Longest back-off after transient failures or `429`.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What the log remembers about one witness between rounds (memory only: after a
/// restart every witness starts at `old 0` and the `409` tells its size).
#[derive(Debug, Default)]
struct Known {
    /// The size the witness last cosigned, as far as the log knows.
    size: u64,
    /// The witness sits out rounds until this instant (back-off, permanent errors).
    blocked_until: Option<Instant>,
    /// The next request slot under the requests-per-day budget: a round waits for it
    /// when it comes before the round's deadline.
    next_slot: Option<Instant>,
    /// The current back-off, doubled on each failure in a row.
    backoff: Duration,
    /// Set while a request is out, so a slow witness never has two.
    busy: bool,
    /// The last permanent error, for the alarm; cleared by the next success.
    permanent: Option<String>,
}

/// One witness of the policy.
pub struct WitnessClient {
    /// The witness's name in the policy file.
    pub name: String,
    verifier: CosignatureVerifier,
    url: String,
    http: reqwest::Client,
    timeout: Duration,
    /// Least time between two requests: 86400 s / requests per day.
    spacing: Duration,
    known: Mutex<Known>,
    pub counters: WitnessCounters,
}

/// What one exchange ended with.
#[derive(Debug)]
pub enum Exchange {
    /// Verified cosignature lines of this witness for the checkpoint.
    Cosigned(Vec<NoteSignature>),
    /// Not sent now, for no fault of the witness: its previous request is still out,
    /// or its next request slot under the daily budget comes after the deadline.
    NotYet,
    /// Not sent: the witness is backing off or left alone after a permanent error, or
    /// the size it holds is beyond this checkpoint.
    Blocked,
    Failed,
}

/// One HTTP answer, reduced to what the exchange needs.
enum Answer {
    Ok(Vec<u8>),
    Conflict(Option<u64>),
    TooMany(Option<Duration>),
    Permanent(u16, String),
    Transient(String),
}

impl WitnessClient {
    pub fn new(
        name: String,
        verifier: CosignatureVerifier,
        url: String,
        http: reqwest::Client,
        timeout: Duration,
        requests_per_day: u64,
    ) -> WitnessClient {
        let spacing = Duration::from_secs_f64(86_400.0 / requests_per_day.max(1) as f64);
        WitnessClient {
            name,
            verifier,
            url: format!("{}/add-checkpoint", url.trim_end_matches('/')),
            http,
            timeout,
            spacing,
            known: Mutex::new(Known::default()),
            counters: WitnessCounters::default(),
        }
    }

    fn known(&self) -> MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The size this witness last cosigned, as far as the log knows.
    pub fn known_size(&self) -> u64 {
        self.known().size
    }

    /// The last permanent error, while it stands.
    pub fn permanent_error(&self) -> Option<String> {
        self.known().permanent.clone()
    }

    /// Whether a request may go out now (`None`, and the witness is marked busy) or
    /// why not.
    fn try_start(&self, size: u64) -> Option<Exchange> {
        let mut k = self.known();
        if k.busy {
            return Some(Exchange::NotYet);
        }
        if k.blocked_until.is_some_and(|t| Instant::now() < t) || k.size > size {
            return Some(Exchange::Blocked);
        }
        k.busy = true;
        None
    }

    /// Takes one request from the budget: waits for the spacing if it ends within
    /// `deadline`, else answers false.
    async fn spend(&self, deadline: Instant) -> bool {
        let at = {
            let mut k = self.known();
            let now = Instant::now();
            let at = k.next_slot.map_or(now, |t| t.max(now));
            if at >= deadline {
                return false;
            }
            k.next_slot = Some(at + self.spacing);
            at
        };
        tokio::time::sleep_until(at.into()).await;
        true
    }

    /// Sends `checkpoint` to this witness, recovering once from a `409` that tells its
    /// size, and answers its verified cosignature lines.
    pub async fn exchange(&self, log: &Arc<Log>, checkpoint: &CheckpointInfo) -> Exchange {
        if let Some(not_sent) = self.try_start(checkpoint.size) {
            return not_sent;
        }
        let deadline = Instant::now() + self.timeout;
        let mut result = Exchange::Failed;
        for attempt in 0..2 {
            if !self.spend(deadline).await {
                result = Exchange::NotYet;
                break;
            }
            let old = self.known().size;
            match self.send(log, checkpoint, old, deadline).await {
                Some(Answer::Conflict(Some(size))) if size != old && size <= checkpoint.size => {
                    self.known().size = size;
                    self.counters.count(Outcome::Conflict);
                    if attempt == 1 {
                        // Its size moved again between the two requests: try next round.
                        self.transient(format!("409 twice in a row, now at size {size}"));
                    }
                    continue;
                }
                Some(answer) => result = self.settle(answer, checkpoint, old),
                None => self.transient("no consistency proof from the log".into()),
            }
            break;
        }
        self.known().busy = false;
        result
    }

    /// One `add-checkpoint` request from `old`; `None` when the log could not build the
    /// proof.
    async fn send(
        &self,
        log: &Arc<Log>,
        checkpoint: &CheckpointInfo,
        old: u64,
        deadline: Instant,
    ) -> Option<Answer> {
        let proof = consistency(log, old, checkpoint.size).await?;
        let body = AddCheckpoint {
            old,
            proof,
            checkpoint: checkpoint.note.clone(),
        }
        .to_body();
        let left = deadline.saturating_duration_since(Instant::now());
        let request = self.http.post(&self.url).body(body).timeout(left).send();
        Some(match request.await {
            Err(e) => Answer::Transient(format!("request: {e}")),
            Ok(response) => read_answer(response).await,
        })
    }

    /// Turns an answer into the exchange's result and the witness's new state.
    fn settle(&self, answer: Answer, checkpoint: &CheckpointInfo, old: u64) -> Exchange {
        match answer {
            Answer::Ok(body) => match self.verified_lines(&body, checkpoint) {
                Ok(lines) => {
                    let mut k = self.known();
                    k.size = checkpoint.size;
                    k.backoff = Duration::ZERO;
                    k.permanent = None;
                    drop(k);
                    self.counters.count(Outcome::Cosigned);
                    Exchange::Cosigned(lines)
                }
                Err(why) => {
                    self.permanent(200, why);
                    Exchange::Failed
                }
            },
            Answer::Conflict(size) => {
                let why = match size {
                    Some(s) if s == old => format!(
                        "409: the witness holds size {s} with another root than this log's (a fork or a reset witness)"
                    ),
                    Some(s) => format!("409: the witness is at size {s}, beyond this checkpoint"),
                    None => "409 without a text/x.tlog.size body".into(),
                };
                self.permanent(409, why);
                Exchange::Failed
            }
            Answer::TooMany(after) => {
                self.counters.count(Outcome::RateLimited);
                self.back_off(after);
                Exchange::Failed
            }
            Answer::Permanent(status, why) => {
                self.permanent(status, why);
                Exchange::Failed
            }
            Answer::Transient(why) => {
                self.transient(why);
                Exchange::Failed
            }
        }
    }

    /// The lines of a `200` body that are this witness's, each verified over the
    /// checkpoint body; an answer without one valid line of ours is refused whole.
    fn verified_lines(
        &self,
        body: &[u8],
        checkpoint: &CheckpointInfo,
    ) -> Result<Vec<NoteSignature>, String> {
        let lines = parse_cosignature_lines(body).map_err(|e| e.to_string())?;
        let text = std::str::from_utf8(&checkpoint.note).map_err(|e| e.to_string())?;
        let note = ledger_core::note::Note::parse(text.as_bytes()).map_err(|e| e.to_string())?;
        let ours: Vec<NoteSignature> = lines
            .into_iter()
            .filter(|l| self.verifier.matches(l))
            .collect();
        for line in &ours {
            self.verifier
                .verify(note.text(), line)
                .map_err(|e| format!("cosignature refused: {e}"))?;
        }
        if ours.is_empty() {
            return Err("the answer holds no cosignature of this witness's key".into());
        }
        Ok(ours)
    }

    fn permanent(&self, status: u16, why: String) {
        tracing::error!(witness = %self.name, status, "witness refused the checkpoint: {why}");
        self.counters.count(Outcome::Permanent);
        let mut k = self.known();
        k.permanent = Some(format!("{status}: {why}"));
        k.blocked_until = Some(Instant::now() + PERMANENT_RETRY);
    }

    fn transient(&self, why: String) {
        tracing::warn!(witness = %self.name, "witness unreachable: {why}");
        self.counters.count(Outcome::Transient);
        self.back_off(None);
    }

    fn back_off(&self, after: Option<Duration>) {
        let mut k = self.known();
        k.backoff = after.unwrap_or_else(|| {
            (k.backoff * 2)
                .max(Duration::from_millis(100))
                .min(MAX_BACKOFF)
        });
        let until = Instant::now() + k.backoff;
        k.blocked_until = Some(k.blocked_until.map_or(until, |t| t.max(until)));
    }
}

/// The consistency proof from `old` to `size` (empty from 0 or for equal sizes), built
/// on the blocking pool.
async fn consistency(log: &Arc<Log>, old: u64, size: u64) -> Option<Vec<Hash>> {
    if old == 0 || old == size {
        return Some(Vec::new());
    }
    let log = log.clone();
    crate::blocking::blocking(move || log.consistency_proof(old, size).ok())
        .await
        .ok()
        .flatten()
}

/// Largest answer body read from a witness.
const MAX_ANSWER_BYTES: usize = 64 << 10;

async fn read_answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let size_body = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(ledger_core::witness::SIZE_CONTENT_TYPE));
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(MAX_BACKOFF));
    let body = match response.bytes().await {
        Ok(b) if b.len() <= MAX_ANSWER_BYTES => b.to_vec(),
        Ok(_) => return Answer::Transient("answer larger than 64 KiB".into()),
        Err(e) => return Answer::Transient(format!("reading the answer: {e}")),
    };
    let text = || {
        String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_owned()
    };
    match status {
        200 => Answer::Ok(body),
        409 => Answer::Conflict(size_body.then(|| parse_size_body(&body)).flatten()),
        429 => Answer::TooMany(retry_after),
        400 | 403 | 404 | 422 => Answer::Permanent(status, text()),
        _ => Answer::Transient(format!("status {status}: {}", text())),
    }
}
