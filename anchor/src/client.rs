//! Async OpenTimestamps calendar client (feature `client`).
//!
//! Wire protocol as the reference client and server speak it (DESIGN.md,
//! "Anchoring"):
//! - submit: append a 16-byte random nonce to the digest, SHA-256, and
//!   `POST <calendar>/digest` with those 32 raw bytes; the answer is a bare
//!   timestamp rooted at them, ending in a pending attestation;
//! - upgrade: `GET <calendar>/timestamp/<hex commitment>`, where the
//!   commitment is the message at the pending attestation; 200 carries a
//!   bare timestamp rooted at the commitment, 404 means "not yet" (for hours
//!   or days after submission).
//!
//! Every response is read to at most 10,000 bytes and parsed with the same
//! hostile-input parser as files. Calendars are contacted only if they are
//! on the allow-list, redirects are not followed, and each request has a
//! timeout. Submission goes to every configured calendar concurrently and
//! needs a minimum number of answers (2 by default, as the reference).

use std::time::Duration;

use rand_core::{OsRng, RngCore};
use tokio::task::JoinSet;

use crate::attestation::check_uri;
use crate::builder::TimestampBuilder;
use crate::detached::DetachedTimestamp;
use crate::error::{Limit, OtsError};
use crate::op::{HashOp, Op};
use crate::timestamp::{PendingCommitment, Timestamp};

/// Largest response body read from a calendar (the reference client's bound).
pub const MAX_RESPONSE_LEN: usize = 10_000;
/// Largest digest a calendar accepts.
pub const MAX_DIGEST_LEN: usize = 64;
/// The reference client's `Accept` header.
const ACCEPT: &str = "application/vnd.opentimestamps.v1";

/// Client settings, validated once by [`CalendarClient::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Calendars a new digest is submitted to, e.g.
    /// `https://alice.btc.calendar.opentimestamps.org`.
    pub calendars: Vec<String>,
    /// Every calendar the client may contact. Pending attestations naming a
    /// calendar outside this list are never queried (a stamp is untrusted
    /// input and its URIs must not steer the client). Submission calendars
    /// must be on it too.
    pub allowed: Vec<String>,
    /// How many calendars must accept a submission (the reference: 2).
    pub min_successes: usize,
    /// Timeout of each request, connection to last body byte.
    pub timeout: Duration,
}

impl ClientConfig {
    /// Submits to and allows exactly `calendars`, requiring two answers,
    /// with a 10-second timeout.
    pub fn new(calendars: &[&str]) -> ClientConfig {
        let calendars: Vec<String> = calendars.iter().map(|c| c.to_string()).collect();
        ClientConfig {
            allowed: calendars.clone(),
            calendars,
            min_successes: 2,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The result of [`CalendarClient::stamp`].
#[derive(Debug, Clone)]
pub struct StampOutcome {
    /// The new stamp: digest, nonce, SHA-256, then every calendar's answer.
    pub stamp: DetachedTimestamp,
    /// Calendars whose answer was merged.
    pub accepted: Vec<String>,
    /// Calendars that failed, with the reason.
    pub failures: Vec<(String, OtsError)>,
}

/// The result of [`CalendarClient::upgrade`].
#[derive(Debug, Clone, Default)]
pub struct UpgradeOutcome {
    /// Commitments whose calendar answered and whose answer was merged.
    pub upgraded: Vec<PendingCommitment>,
    /// Commitments the calendar does not have a proof for yet (404).
    pub not_yet: Vec<PendingCommitment>,
    /// Commitments naming a calendar outside the allow-list (not queried).
    pub not_allowed: Vec<PendingCommitment>,
    /// Commitments whose query failed, with the reason.
    pub failed: Vec<(PendingCommitment, OtsError)>,
}

/// An OpenTimestamps calendar client.
#[derive(Debug, Clone)]
pub struct CalendarClient {
    http: reqwest::Client,
    config: ClientConfig,
}

/// Removes one trailing `/` so `https://a/` and `https://a` name one calendar.
fn normalize(url: &str) -> &str {
    url.strip_suffix('/').unwrap_or(url)
}

/// Checks that `url` can name a calendar: http or https, a host, and the reference's
/// pending-URI rules (it ends up in pending attestations). [`CalendarClient::new`] calls
/// it; configuration readers call it to report every bad URL at once.
pub fn check_calendar_url(url: &str) -> Result<(), OtsError> {
    let reject = |reason| OtsError::CalendarUrl {
        url: url.to_owned(),
        reason,
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| reject("scheme must be http or https"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(reject("no host"));
    }
    // The calendar URL ends up in pending attestations, so it must satisfy
    // the reference's URI rules.
    check_uri(url.as_bytes()).map_err(|_| reject("characters outside [A-Za-z0-9-._/:] or too long"))
}

impl CalendarClient {
    /// Validates the configuration, reporting the first problem.
    pub fn new(config: ClientConfig) -> Result<CalendarClient, OtsError> {
        for url in config.allowed.iter().chain(&config.calendars) {
            check_calendar_url(url)?;
        }
        for url in &config.calendars {
            if !config
                .allowed
                .iter()
                .any(|a| normalize(a) == normalize(url))
            {
                return Err(OtsError::CalendarUrl {
                    url: url.clone(),
                    reason: "submission calendar is not on the allow-list",
                });
            }
        }
        if config.min_successes == 0 || config.min_successes > config.calendars.len() {
            return Err(OtsError::ClientConfig {
                reason: "min_successes must be between 1 and the number of calendars",
            });
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| OtsError::Calendar {
                url: String::new(),
                reason: format!("building HTTP client: {e}"),
            })?;
        Ok(CalendarClient { http, config })
    }

    /// The validated configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// True if `url` is on the allow-list.
    pub fn is_allowed(&self, url: &str) -> bool {
        self.config
            .allowed
            .iter()
            .any(|a| normalize(a) == normalize(url))
    }

    /// Stamps a SHA-256 `digest` (of a checkpoint body): appends a random
    /// 16-byte nonce, hashes, submits to every calendar concurrently and
    /// merges the answers. Fails unless at least `min_successes` answered.
    pub async fn stamp(&self, digest: &[u8]) -> Result<StampOutcome, OtsError> {
        let mut nonce = [0u8; 16];
        OsRng.fill_bytes(&mut nonce);
        self.stamp_with_nonce(digest, nonce).await
    }

    /// [`CalendarClient::stamp`] with a caller-chosen nonce (for tests).
    pub async fn stamp_with_nonce(
        &self,
        digest: &[u8],
        nonce: [u8; 16],
    ) -> Result<StampOutcome, OtsError> {
        let mut stamp = DetachedTimestamp::new(HashOp::Sha256, digest)?;
        let chain = TimestampBuilder::new(digest)?
            .op(Op::Append(nonce.to_vec()))?
            .op(Op::SHA256)?;
        let submitted = chain.message().to_vec();

        let mut tasks = JoinSet::new();
        for calendar in &self.config.calendars {
            let http = self.http.clone();
            let calendar = calendar.clone();
            let msg = submitted.clone();
            tasks.spawn(async move {
                let answer = submit(&http, &calendar, &msg).await;
                (calendar, answer)
            });
        }
        let mut merged = Timestamp::new();
        let mut accepted = Vec::new();
        let mut failures = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((calendar, Ok(answer))) => {
                    merged.merge(answer);
                    accepted.push(calendar);
                }
                Ok((calendar, Err(e))) => failures.push((calendar, e)),
                Err(e) => failures.push((
                    String::new(),
                    OtsError::Calendar {
                        url: String::new(),
                        reason: format!("submission task failed: {e}"),
                    },
                )),
            }
        }
        if accepted.len() < self.config.min_successes {
            return Err(OtsError::NotEnoughCalendars {
                successes: accepted.len(),
                required: self.config.min_successes,
                failures: failures
                    .iter()
                    .map(|(url, e)| format!("{url}: {e}"))
                    .collect(),
            });
        }
        accepted.sort();
        stamp.timestamp.merge(chain.finish(merged)?);
        Ok(StampOutcome {
            stamp,
            accepted,
            failures,
        })
    }

    /// Submits one message to one calendar and parses the answer.
    pub async fn submit_to(&self, calendar: &str, msg: &[u8]) -> Result<Timestamp, OtsError> {
        if !self.is_allowed(calendar) {
            return Err(OtsError::CalendarUrl {
                url: calendar.to_owned(),
                reason: "not on the allow-list",
            });
        }
        submit(&self.http, calendar, msg).await
    }

    /// Asks `calendar` for the timestamp of `commitment`: `Some` on 200,
    /// `None` on 404 (not yet).
    pub async fn fetch(
        &self,
        calendar: &str,
        commitment: &[u8],
    ) -> Result<Option<Timestamp>, OtsError> {
        if !self.is_allowed(calendar) {
            return Err(OtsError::CalendarUrl {
                url: calendar.to_owned(),
                reason: "not on the allow-list",
            });
        }
        let url = format!(
            "{}/timestamp/{}",
            normalize(calendar),
            hex::encode(commitment)
        );
        let response = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, ACCEPT)
            .send()
            .await
            .map_err(|e| io_error(calendar, e))?;
        match response.status() {
            reqwest::StatusCode::OK => {
                let body = read_bounded(calendar, response).await?;
                Timestamp::parse(&body, commitment).map(Some)
            }
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            status => Err(OtsError::Calendar {
                url: calendar.to_owned(),
                reason: format!("unexpected status {status}"),
            }),
        }
    }

    /// Queries every pending attestation's calendar (if allowed) and merges
    /// each answer into `stamp`. Pending attestations are kept, as the
    /// reference does; the caller decides when a stamp is complete.
    pub async fn upgrade(&self, stamp: &mut DetachedTimestamp) -> Result<UpgradeOutcome, OtsError> {
        let mut outcome = UpgradeOutcome::default();
        let mut pending = stamp.pending_commitments()?;
        pending.sort();
        pending.dedup();
        for p in pending {
            if !self.is_allowed(&p.uri) {
                outcome.not_allowed.push(p);
                continue;
            }
            match self.fetch(&p.uri, &p.commitment).await {
                Ok(Some(answer)) => match stamp.merge_upgrade(&p.commitment, answer) {
                    Ok(_) => outcome.upgraded.push(p),
                    Err(e) => outcome.failed.push((p, e)),
                },
                Ok(None) => outcome.not_yet.push(p),
                Err(e) => outcome.failed.push((p, e)),
            }
        }
        Ok(outcome)
    }
}

async fn submit(http: &reqwest::Client, calendar: &str, msg: &[u8]) -> Result<Timestamp, OtsError> {
    if msg.len() > MAX_DIGEST_LEN {
        return Err(OtsError::LimitExceeded {
            limit: Limit::Digest,
            offset: None,
            actual: msg.len(),
            max: MAX_DIGEST_LEN,
        });
    }
    let response = http
        .post(format!("{}/digest", normalize(calendar)))
        .header(reqwest::header::ACCEPT, ACCEPT)
        .body(msg.to_vec())
        .send()
        .await
        .map_err(|e| io_error(calendar, e))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(OtsError::Calendar {
            url: calendar.to_owned(),
            reason: format!("unexpected status {}", response.status()),
        });
    }
    let body = read_bounded(calendar, response).await?;
    Timestamp::parse(&body, msg)
}

/// Reads a response body, refusing more than [`MAX_RESPONSE_LEN`] bytes
/// whatever the declared length says.
async fn read_bounded(
    calendar: &str,
    mut response: reqwest::Response,
) -> Result<Vec<u8>, OtsError> {
    let too_long = |actual: usize| OtsError::LimitExceeded {
        limit: Limit::Response,
        offset: None,
        actual,
        max: MAX_RESPONSE_LEN,
    };
    if let Some(declared) = response.content_length() {
        if declared > MAX_RESPONSE_LEN as u64 {
            return Err(too_long(usize::try_from(declared).unwrap_or(usize::MAX)));
        }
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| io_error(calendar, e))? {
        let total = body.len().saturating_add(chunk.len());
        if total > MAX_RESPONSE_LEN {
            return Err(too_long(total));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What kind of failure a request error is, for messages.
pub(crate) fn failure_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

fn io_error(calendar: &str, e: reqwest::Error) -> OtsError {
    let kind = failure_kind(&e);
    OtsError::Calendar {
        url: calendar.to_owned(),
        reason: format!("{kind}: {e}"),
    }
}
