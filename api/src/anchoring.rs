//! Anchoring: OpenTimestamps stamps of the log's checkpoints (issue 4 §4).
//!
//! What it does:
//! - **Stamper.** The latest signed checkpoint is stamped when the log has grown since the
//!   previous stamp and either `anchor_interval_secs` have passed since the previous
//!   attempt or `anchor_every_entries` entries arrived. However many records arrive in
//!   an interval, that is one submission per calendar. An operator can end the interval
//!   early ([`Anchoring::request_stamp`]). The digest is SHA-256 of the
//!   checkpoint body (DESIGN.md, "Anchoring"); the calendar client adds the nonce.
//! - **Store.** Each stamp is one [`StampRecord`] (JSON) in the log's RocksDB, column
//!   family `anchors`, keyed by the checkpoint's tree size, synced on every change. A
//!   submission that reached fewer than `anchor_min_calendars` calendars is stored as
//!   `failed` (with the reasons) so the operator sees it; the next interval tries again
//!   with the then latest checkpoint.
//! - **Upgrade worker.** For every pending stamp, each pending attestation separately:
//!   its commitment is replayed from the digest, `GET /timestamp/<hex>` asked of its
//!   calendar (allow-listed calendars only), a 200 answer merged into a copy, the copy
//!   checked (re-serializes, re-parses, same digest) and only then stored; 404 means
//!   "not yet". Rounds without progress double the wait, up to a day. A stamp is
//!   `complete` once it holds a Bitcoin attestation — with `anchor_bitcoin_api` set,
//!   once one of its Bitcoin attestations matches the header that API serves for its
//!   height (the block is recorded as `bitcoin_verified`); commitments of other
//!   calendars keep being upgraded so one calendar's bad answer cannot shadow another's
//!   good one.
//!   Nothing is deleted for being old; stamps pending longer than
//!   `anchor_pending_alarm_secs` are flagged `overdue`.
//!
//! What it does not do without `anchor_bitcoin_api`: check Bitcoin attestations against
//! block headers; auditors do that with `ledger-verify` and headers they trust, in every
//! case. With it, ledgerd trusts that API to name the main chain's block at a height
//! (the header must hash to the named block and meet its own proof of work).
//! A calendar that is down, slow or answers garbage only produces errors recorded in the
//! stamp record and metrics; appends never wait for anchoring.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anchor::client::{CalendarClient, ClientConfig};
use anchor::header_source::HeaderSource;
use anchor::{Attestation, BlockHeader, DetachedTimestamp, HashOp, HeaderSet, OtsError};
use base64::Engine as _;
use ledger::Log;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::AnchorSettings;

/// Format version of [`StampRecord`].
const RECORD_VERSION: u32 = 1;
/// Longest wait between upgrade rounds of one stamp.
const MAX_UPGRADE_BACKOFF: Duration = Duration::from_secs(86_400);
/// How often the background task wakes up to check its clocks.
const TICK: Duration = Duration::from_millis(200);

/// Where a stamp stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StampStatus {
    /// Submitted to enough calendars; no Bitcoin attestation yet.
    Pending,
    /// Holds a Bitcoin attestation: without a header source any, with one
    /// (`anchor_bitcoin_api`) one that matches its block's header.
    Complete,
    /// The submission did not reach `anchor_min_calendars` calendars.
    Failed,
}

impl StampStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StampStatus::Pending => "pending",
            StampStatus::Complete => "complete",
            StampStatus::Failed => "failed",
        }
    }
}

/// One stamp of one checkpoint, as stored (JSON) in the `anchors` column family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StampRecord {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// Tree size of the stamped checkpoint (also the key).
    pub tree_size: u64,
    /// SHA-256 of the checkpoint body, hex: the stamp's file digest.
    pub digest: String,
    pub status: StampStatus,
    pub created_ms: u64,
    /// Calendars that accepted the submission.
    pub calendars: Vec<String>,
    /// Calendars that did not, with the reason.
    pub submit_failures: Vec<String>,
    /// The detached `.ots` file, base64; absent for a failed submission.
    pub ots: Option<String>,
    /// Pending commitments (hex) whose calendar answer, with a Bitcoin attestation, has
    /// been merged; they are not asked again.
    pub resolved: Vec<String>,
    /// Heights named by the stamp's Bitcoin attestations.
    pub bitcoin_heights: Vec<u64>,
    /// With a header source: the earliest block whose header matched one of the
    /// stamp's Bitcoin attestations. Absent without a header source (and in records
    /// written before it existed).
    #[serde(default)]
    pub bitcoin_verified: Option<VerifiedBlock>,
    pub completed_ms: Option<u64>,
    pub upgrade_attempts: u32,
    /// Upgrade rounds since the last one that merged an answer; the wait between rounds
    /// doubles with each.
    pub idle_rounds: u32,
    /// When the next upgrade round is due (Unix ms).
    pub next_upgrade_ms: u64,
    /// The last upgrade problem, for operators.
    pub last_error: Option<String>,
}

/// The block a verified Bitcoin attestation points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifiedBlock {
    pub height: u64,
    /// The header's nTime (Unix seconds): the checkpoint existed by then.
    pub time: u32,
    /// The block hash as explorers print it.
    pub block_hash: String,
}

impl StampRecord {
    /// The `.ots` bytes, if the submission succeeded.
    pub fn ots_bytes(&self) -> Option<Vec<u8>> {
        self.ots
            .as_deref()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
    }

    /// Whether this stamp has been pending longer than `alarm`.
    pub fn overdue(&self, now_ms: u64, alarm: Duration) -> bool {
        self.status == StampStatus::Pending
            && now_ms.saturating_sub(self.created_ms) > alarm.as_millis() as u64
    }
}

/// Why anchoring state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("anchor store: {0}")]
    Ledger(#[from] ledger::LedgerError),
    #[error("anchor record for tree size {size} is unreadable: {reason}")]
    Record { size: u64, reason: String },
    #[error("anchoring: {0}")]
    Ots(#[from] OtsError),
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct AnchorCounters {
    pub submissions: AtomicU64,
    pub submission_failures: AtomicU64,
    pub upgrade_requests: AtomicU64,
    pub upgrade_merged: AtomicU64,
    pub upgrade_errors: AtomicU64,
    pub header_check_failures: AtomicU64,
}

/// The anchoring service of one log.
pub struct Anchoring {
    log: Arc<Log>,
    settings: AnchorSettings,
    client: Option<CalendarClient>,
    /// Where Bitcoin headers come from (`anchor_bitcoin_api`), if anywhere.
    headers: Option<HeaderSource>,
    /// Headers fetched so far, by height.
    header_cache: Mutex<BTreeMap<u64, BlockHeader>>,
    pub counters: AnchorCounters,
    /// Status and creation time of every stamp, by tree size (for metrics and lists).
    summary: Mutex<BTreeMap<u64, (StampStatus, u64)>>,
    /// Set by [`Anchoring::request_stamp`]: end the current interval now.
    stamp_requested: AtomicBool,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// SHA-256 of a signed checkpoint's body (the note text without signatures).
pub fn checkpoint_digest(note: &[u8]) -> Result<[u8; 32], AnchorError> {
    let parsed = ledger_core::note::Note::parse(note).map_err(|e| AnchorError::Record {
        size: 0,
        reason: format!("checkpoint note does not parse: {e}"),
    })?;
    Ok(Sha256::digest(parsed.text().as_bytes()).into())
}

fn decode_record(size: u64, bytes: &[u8]) -> Result<StampRecord, AnchorError> {
    let record: StampRecord = serde_json::from_slice(bytes).map_err(|e| AnchorError::Record {
        size,
        reason: e.to_string(),
    })?;
    if record.version != RECORD_VERSION || record.tree_size != size {
        return Err(AnchorError::Record {
            size,
            reason: format!(
                "version {} / tree size {} in a record stored under {size}",
                record.version, record.tree_size
            ),
        });
    }
    Ok(record)
}

impl Anchoring {
    /// Loads the stored stamps' summary; builds the calendar client when enabled.
    pub fn open(log: Arc<Log>, settings: AnchorSettings) -> Result<Anchoring, AnchorError> {
        let client = if settings.enabled {
            let calendars: Vec<&str> = settings.calendars.iter().map(String::as_str).collect();
            let mut config = ClientConfig::new(&calendars);
            config.min_successes = settings.min_calendars;
            config.timeout = settings.timeout;
            Some(CalendarClient::new(config)?)
        } else {
            None
        };
        let headers = match (&settings.bitcoin_api, settings.enabled) {
            (Some(api), true) => Some(HeaderSource::new(api, settings.timeout)?),
            _ => None,
        };
        let mut summary = BTreeMap::new();
        for item in log.store().anchors(0, false) {
            let (size, bytes) = item?;
            let record = decode_record(size, &bytes)?;
            summary.insert(size, (record.status, record.created_ms));
        }
        Ok(Anchoring {
            log,
            settings,
            client,
            headers,
            header_cache: Mutex::new(BTreeMap::new()),
            counters: AnchorCounters::default(),
            summary: Mutex::new(summary),
            stamp_requested: AtomicBool::new(false),
        })
    }

    /// Ends the current interval now: the schedule stamps the latest checkpoint on its
    /// next tick if the log has grown since the previous stamp (or that stamp failed).
    /// For operators closing a period (`POST /v1/admin/anchors/stamp-now`) and tests.
    pub fn request_stamp(&self) {
        self.stamp_requested.store(true, Ordering::SeqCst);
    }

    pub fn settings(&self) -> &AnchorSettings {
        &self.settings
    }

    /// The stamp of the checkpoint of exactly this size.
    pub fn stamp(&self, size: u64) -> Result<Option<StampRecord>, AnchorError> {
        match self.log.store().anchor(size)? {
            Some(bytes) => decode_record(size, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Up to `limit` stamps, newest first, with tree size at most `before` (inclusive).
    pub fn list(&self, before: u64, limit: usize) -> Result<Vec<StampRecord>, AnchorError> {
        let mut out = Vec::new();
        for item in self.log.store().anchors(before, true).take(limit) {
            let (size, bytes) = item?;
            out.push(decode_record(size, &bytes)?);
        }
        Ok(out)
    }

    /// The newest complete stamp whose checkpoint covers log index `index`, else the
    /// newest pending one covering it.
    pub fn best_covering(&self, index: u64) -> Result<Option<StampRecord>, AnchorError> {
        let candidates: Vec<(u64, StampStatus)> = {
            let summary = self.lock_summary();
            summary
                .range(index.saturating_add(1)..)
                .rev()
                .map(|(size, (status, _))| (*size, *status))
                .collect()
        };
        for wanted in [StampStatus::Complete, StampStatus::Pending] {
            if let Some((size, _)) = candidates.iter().find(|(_, s)| *s == wanted) {
                return self.stamp(*size);
            }
        }
        Ok(None)
    }

    /// Counts by status and the creation time of the oldest pending stamp.
    pub fn status_counts(&self) -> (BTreeMap<StampStatus, u64>, Option<u64>) {
        let summary = self.lock_summary();
        let mut counts = BTreeMap::new();
        let mut oldest_pending = None;
        for (status, created) in summary.values() {
            *counts.entry(*status).or_insert(0) += 1;
            if *status == StampStatus::Pending {
                oldest_pending = Some(oldest_pending.map_or(*created, |o: u64| o.min(*created)));
            }
        }
        (counts, oldest_pending)
    }

    fn lock_summary(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, (StampStatus, u64)>> {
        self.summary.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, record: &StampRecord) -> Result<(), AnchorError> {
        let bytes = serde_json::to_vec(record).map_err(|e| AnchorError::Record {
            size: record.tree_size,
            reason: e.to_string(),
        })?;
        self.log.store().put_anchor(record.tree_size, &bytes)?;
        self.lock_summary()
            .insert(record.tree_size, (record.status, record.created_ms));
        Ok(())
    }

    /// Stamps the latest checkpoint now, whatever the schedule says (the schedule calls
    /// this). Returns the stored record, or `None` when anchoring is disabled, the log is
    /// empty, or that checkpoint already has a pending or complete stamp.
    pub async fn stamp_latest(&self) -> Result<Option<StampRecord>, AnchorError> {
        let Some(client) = &self.client else {
            return Ok(None);
        };
        let latest = self.log.latest();
        if latest.size == 0 {
            return Ok(None);
        }
        if let Some(existing) = self.stamp(latest.size)? {
            if existing.status != StampStatus::Failed {
                return Ok(None);
            }
        }
        let digest = checkpoint_digest(&latest.note)?;
        let created_ms = now_ms();
        self.counters.submissions.fetch_add(1, Ordering::Relaxed);
        let mut record = StampRecord {
            version: RECORD_VERSION,
            tree_size: latest.size,
            digest: hex::encode(digest),
            status: StampStatus::Failed,
            created_ms,
            calendars: Vec::new(),
            submit_failures: Vec::new(),
            ots: None,
            resolved: Vec::new(),
            bitcoin_heights: Vec::new(),
            bitcoin_verified: None,
            completed_ms: None,
            upgrade_attempts: 0,
            idle_rounds: 0,
            next_upgrade_ms: created_ms + self.settings.upgrade_interval.as_millis() as u64,
            last_error: None,
        };
        match client.stamp(&digest).await {
            Ok(outcome) => {
                let bytes = outcome.stamp.to_bytes()?;
                record.status = StampStatus::Pending;
                record.calendars = outcome.accepted;
                record.submit_failures = outcome
                    .failures
                    .iter()
                    .map(|(url, e)| format!("{url}: {e}"))
                    .collect();
                record.ots = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
                tracing::info!(
                    tree_size = record.tree_size,
                    calendars = ?record.calendars,
                    "checkpoint stamped"
                );
            }
            Err(e) => {
                self.counters
                    .submission_failures
                    .fetch_add(1, Ordering::Relaxed);
                record.last_error = Some(e.to_string());
                record.submit_failures = match &e {
                    OtsError::NotEnoughCalendars { failures, .. } => failures.clone(),
                    other => vec![other.to_string()],
                };
                tracing::warn!(tree_size = record.tree_size, error = %e, "stamping failed");
            }
        }
        self.save(&record)?;
        Ok(Some(record))
    }

    /// Runs one upgrade round for every pending stamp whose round is due (or for all
    /// pending stamps when `force`). Returns how many stamps changed.
    pub async fn upgrade_due(&self, force: bool) -> Result<usize, AnchorError> {
        let Some(client) = &self.client else {
            return Ok(0);
        };
        let pending: Vec<u64> = {
            let summary = self.lock_summary();
            summary
                .iter()
                .filter(|(_, (status, _))| *status != StampStatus::Failed)
                .map(|(size, _)| *size)
                .collect()
        };
        let now = now_ms();
        let mut changed = 0;
        for size in pending {
            let Some(record) = self.stamp(size)? else {
                continue;
            };
            let all_resolved = record.status == StampStatus::Complete
                && record.resolved.len() >= record.calendars.len();
            if all_resolved || (!force && record.next_upgrade_ms > now) {
                continue;
            }
            if self.upgrade_one(client, record).await? {
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// One upgrade round of one stamp: asks each unresolved pending commitment's
    /// calendar, merges good answers into a copy, stores the copy if it is sound.
    async fn upgrade_one(
        &self,
        client: &CalendarClient,
        mut record: StampRecord,
    ) -> Result<bool, AnchorError> {
        let Some(bytes) = record.ots_bytes() else {
            return Ok(false);
        };
        let original = DetachedTimestamp::parse(&bytes)?;
        let mut stamp = original.clone();
        let mut errors = Vec::new();
        let mut progressed = false;
        for p in original.pending_commitments()? {
            let hex_commitment = hex::encode(&p.commitment);
            if record.resolved.contains(&hex_commitment) {
                continue;
            }
            if !client.is_allowed(&p.uri) {
                errors.push(format!("{}: not on the allow-list, not asked", p.uri));
                continue;
            }
            self.counters
                .upgrade_requests
                .fetch_add(1, Ordering::Relaxed);
            match client.fetch(&p.uri, &p.commitment).await {
                Ok(Some(answer)) => {
                    let has_bitcoin = answer
                        .attestations_with_messages(&p.commitment)
                        .map(|list| {
                            list.iter()
                                .any(|a| matches!(a.attestation, Attestation::Bitcoin { .. }))
                        })
                        .unwrap_or(false);
                    let mut candidate = stamp.clone();
                    match candidate
                        .merge_upgrade(&p.commitment, answer)
                        .and_then(|_| sound_copy(&candidate, &original))
                    {
                        Ok(()) => {
                            stamp = candidate;
                            progressed = true;
                            self.counters.upgrade_merged.fetch_add(1, Ordering::Relaxed);
                            if has_bitcoin {
                                record.resolved.push(hex_commitment);
                            }
                        }
                        Err(e) => {
                            self.counters.upgrade_errors.fetch_add(1, Ordering::Relaxed);
                            errors.push(format!("{}: answer refused: {e}", p.uri));
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    self.counters.upgrade_errors.fetch_add(1, Ordering::Relaxed);
                    errors.push(format!("{}: {e}", p.uri));
                }
            }
        }
        let attested = stamp.attestations()?;
        let heights = bitcoin_heights(&attested);
        // Completion: any Bitcoin attestation, or with a header source one that matches
        // its block. Checked every round while pending, so a header source that was
        // down, or a calendar whose proof was for another message, only delays it.
        let mut completed = false;
        if record.status == StampStatus::Pending && !heights.is_empty() {
            match &self.headers {
                None => completed = true,
                Some(source) => {
                    let (verified, problems) =
                        self.check_headers(source, &attested, &heights).await;
                    if !problems.is_empty() {
                        self.counters
                            .header_check_failures
                            .fetch_add(problems.len() as u64, Ordering::Relaxed);
                    }
                    errors.extend(problems);
                    if let Some(block) = verified {
                        record.bitcoin_verified = Some(block);
                        completed = true;
                    }
                }
            }
        }
        let now = now_ms();
        record.upgrade_attempts = record.upgrade_attempts.saturating_add(1);
        record.last_error = (!errors.is_empty()).then(|| errors.join("; "));
        if completed {
            record.status = StampStatus::Complete;
            record.completed_ms = Some(now);
            tracing::info!(
                tree_size = record.tree_size,
                heights = ?heights,
                verified = ?record.bitcoin_verified,
                "stamp complete"
            );
        }
        if progressed {
            record.ots = Some(base64::engine::general_purpose::STANDARD.encode(stamp.to_bytes()?));
        }
        record.bitcoin_heights = heights;
        if progressed || completed {
            record.idle_rounds = 0;
            record.next_upgrade_ms = now + self.settings.upgrade_interval.as_millis() as u64;
        } else {
            record.idle_rounds = record.idle_rounds.saturating_add(1);
            let factor = 1u64 << record.idle_rounds.min(20);
            let wait = (self.settings.upgrade_interval.as_millis() as u64)
                .saturating_mul(factor)
                .min(MAX_UPGRADE_BACKOFF.as_millis() as u64);
            record.next_upgrade_ms = now + wait;
        }
        self.save(&record)?;
        Ok(progressed || completed)
    }

    /// Checks the Bitcoin attestations in `attested` (at `heights`, ascending) against
    /// the headers `source` serves. Returns the earliest block that matched, and one
    /// problem per height whose header could not be fetched or attestation that did
    /// not match.
    async fn check_headers(
        &self,
        source: &HeaderSource,
        attested: &[anchor::AttestedMessage<'_>],
        heights: &[u64],
    ) -> (Option<VerifiedBlock>, Vec<String>) {
        let mut problems = Vec::new();
        let mut best: Option<VerifiedBlock> = None;
        for &height in heights {
            let header = match self.header_at(source, height).await {
                Ok(h) => h,
                Err(e) => {
                    problems.push(format!("header of block {height}: {e}"));
                    continue;
                }
            };
            // One set per header: the source's headers are not required to form a chain.
            let set = match HeaderSet::from_headers([(height, header)]) {
                Ok(set) => set,
                Err(e) => {
                    problems.push(format!("header of block {height}: {e}"));
                    continue;
                }
            };
            for a in attested {
                if !matches!(a.attestation, Attestation::Bitcoin { height: h } if *h == height) {
                    continue;
                }
                match anchor::verify_bitcoin_attestation(&a.message, height, &set) {
                    // Heights ascend, so the first match is the earliest block.
                    Ok(v) => {
                        best.get_or_insert(VerifiedBlock {
                            height: v.height,
                            time: v.time,
                            block_hash: v.block_hash_display,
                        });
                    }
                    Err(e) => problems.push(format!("attestation at block {height}: {e}")),
                }
            }
        }
        (best, problems)
    }

    /// The header at `height`, from the cache or the source (then cached).
    async fn header_at(&self, source: &HeaderSource, height: u64) -> Result<BlockHeader, OtsError> {
        let cached = self
            .header_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&height)
            .copied();
        if let Some(h) = cached {
            return Ok(h);
        }
        let h = source.header(height).await?;
        self.header_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(height, h);
        Ok(h)
    }

    /// Appends the anchoring metrics to a Prometheus exposition.
    pub fn render_metrics(&self, out: &mut String) {
        let (counts, oldest) = self.status_counts();
        let now = now_ms();
        let _ = writeln!(
            out,
            "# HELP ledger_anchor_stamps Checkpoint stamps by status.\n# TYPE ledger_anchor_stamps gauge"
        );
        for status in [
            StampStatus::Pending,
            StampStatus::Complete,
            StampStatus::Failed,
        ] {
            let _ = writeln!(
                out,
                "ledger_anchor_stamps{{status=\"{}\"}} {}",
                status.as_str(),
                counts.get(&status).copied().unwrap_or(0)
            );
        }
        let age = oldest.map_or(0.0, |c| now.saturating_sub(c) as f64 / 1000.0);
        let overdue = oldest.is_some_and(|c| {
            now.saturating_sub(c) > self.settings.pending_alarm.as_millis() as u64
        });
        let mut line = |name: &str, help: &str, kind: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        line(
            "ledger_anchor_oldest_pending_age_seconds",
            "Age of the oldest pending stamp (0 when none).",
            "gauge",
            format!("{age}"),
        );
        line(
            "ledger_anchor_pending_overdue",
            "1 when a stamp has been pending longer than anchor_pending_alarm_secs.",
            "gauge",
            u64::from(overdue).to_string(),
        );
        let c = &self.counters;
        for (name, help, counter) in [
            (
                "ledger_anchor_submissions_total",
                "Checkpoint submissions to the calendars.",
                &c.submissions,
            ),
            (
                "ledger_anchor_submission_failures_total",
                "Submissions that reached too few calendars.",
                &c.submission_failures,
            ),
            (
                "ledger_anchor_upgrade_requests_total",
                "Upgrade requests sent to calendars.",
                &c.upgrade_requests,
            ),
            (
                "ledger_anchor_upgrade_merged_total",
                "Calendar answers merged into stamps.",
                &c.upgrade_merged,
            ),
            (
                "ledger_anchor_upgrade_errors_total",
                "Upgrade requests that failed or whose answer was refused.",
                &c.upgrade_errors,
            ),
            (
                "ledger_anchor_header_check_failures_total",
                "Bitcoin attestations that did not match the header source's block, or whose header could not be fetched (anchor_bitcoin_api).",
                &c.header_check_failures,
            ),
        ] {
            line(
                name,
                help,
                "counter",
                counter.load(Ordering::Relaxed).to_string(),
            );
        }
    }
}

/// The heights named by Bitcoin attestations, ascending, each once.
fn bitcoin_heights(attested: &[anchor::AttestedMessage<'_>]) -> Vec<u64> {
    let mut heights: Vec<u64> = attested
        .iter()
        .filter_map(|a| match a.attestation {
            Attestation::Bitcoin { height } => Some(*height),
            _ => None,
        })
        .collect();
    heights.sort_unstable();
    heights.dedup();
    heights
}

/// Checks that a merged copy is still a sound stamp of the same digest: it serializes,
/// parses back to the same tree, and still holds the original's attestations.
fn sound_copy(candidate: &DetachedTimestamp, original: &DetachedTimestamp) -> Result<(), OtsError> {
    let bytes = candidate.to_bytes()?;
    let reparsed = DetachedTimestamp::parse(&bytes)?;
    if reparsed != *candidate
        || candidate.digest != original.digest
        || candidate.file_hash_op != HashOp::Sha256
    {
        return Err(OtsError::Calendar {
            url: String::new(),
            reason: "merged stamp does not round-trip".into(),
        });
    }
    let before = original.attestations()?.len();
    if candidate.attestations()?.len() < before {
        return Err(OtsError::Calendar {
            url: String::new(),
            reason: "merge lost attestations".into(),
        });
    }
    Ok(())
}

/// The schedule: stamps and upgrades until `shutdown` flips to true.
pub async fn run(anchoring: Arc<Anchoring>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    if anchoring.client.is_none() {
        return;
    }
    let settings = anchoring.settings.clone();
    let mut last_attempt = Instant::now();
    // The newest stored stamp: its size, and whether it failed (then the next interval
    // retries even if the log has not grown).
    let (mut last_size, mut last_failed) = anchoring
        .lock_summary()
        .iter()
        .next_back()
        .map_or((0, false), |(size, (status, _))| {
            (*size, *status == StampStatus::Failed)
        });
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        // The round runs against the shutdown signal: a slow calendar must not hold up
        // a stop. A round cut short stores nothing half-done (records are saved whole).
        let round = async {
            let size = anchoring.log.latest().size;
            let requested = anchoring.stamp_requested.swap(false, Ordering::SeqCst);
            let interval_over = requested || last_attempt.elapsed() >= settings.interval;
            let due = (size > last_size && interval_over)
                || (size >= last_size.saturating_add(settings.every_entries))
                || (last_failed && interval_over && size > 0);
            if due {
                last_attempt = Instant::now();
                match anchoring.stamp_latest().await {
                    Ok(Some(record)) => {
                        last_size = record.tree_size;
                        last_failed = record.status == StampStatus::Failed;
                    }
                    Ok(None) => {
                        last_size = size;
                        last_failed = false;
                    }
                    Err(e) => tracing::error!(error = %e, "anchoring: storing a stamp failed"),
                }
            }
            if let Err(e) = anchoring.upgrade_due(false).await {
                tracing::error!(error = %e, "anchoring: upgrade round failed");
            }
        };
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = round => {}
        }
    }
}
