//! Bitcoin block headers from an Esplora-compatible HTTP API (feature `client`), so a
//! server can check the Bitcoin attestations calendars hand it before calling a stamp
//! complete.
//!
//! Two requests per height, as Esplora (Blockstream's and mempool.space's explorers, or
//! a self-hosted instance next to a Bitcoin node) answers them:
//! - `GET <api>/block-height/<height>` → the block hash as explorers print it (64 hex);
//! - `GET <api>/block/<hash>/header` → the 80-byte header as 160 hex.
//!
//! The header must hash to that block hash and meet the proof of work of its own nBits.
//! That binds the header to the hash the API named, not to the heaviest chain: the API
//! is trusted to name the main chain's block. An auditor still verifies offline against
//! headers of their own choosing (`ledger-verify --headers`). Bodies are read to at most
//! [`MAX_BODY_LEN`] bytes, redirects are not followed, each request has a timeout.

use std::time::Duration;

use crate::bitcoin::BlockHeader;
use crate::client::{check_calendar_url, failure_kind};
use crate::error::OtsError;

/// Longest answer read from the API: a header is 160 hex digits plus a newline.
pub const MAX_BODY_LEN: usize = 512;

/// Fetches headers by height from one Esplora-compatible API.
#[derive(Debug, Clone)]
pub struct HeaderSource {
    http: reqwest::Client,
    base: String,
}

impl HeaderSource {
    /// `api` is the API's base URL, e.g. `https://blockstream.info/api`; http or https,
    /// with a host.
    pub fn new(api: &str, timeout: Duration) -> Result<HeaderSource, OtsError> {
        check_calendar_url(api).map_err(|e| match e {
            OtsError::CalendarUrl { reason, .. } => OtsError::HeaderSource {
                url: api.to_owned(),
                reason: format!("not a usable API URL: {reason}"),
            },
            other => other,
        })?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| OtsError::HeaderSource {
                url: api.to_owned(),
                reason: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(HeaderSource {
            http,
            base: api.strip_suffix('/').unwrap_or(api).to_owned(),
        })
    }

    /// The API's base URL, without a trailing `/`.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn fail(&self, reason: String) -> OtsError {
        OtsError::HeaderSource {
            url: self.base.clone(),
            reason,
        }
    }

    /// GETs `path` below the base URL and returns the trimmed text body.
    async fn get_text(&self, path: &str) -> Result<String, OtsError> {
        let url = format!("{}{path}", self.base);
        let mut response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| self.fail(format!("GET {path}: {}: {e}", failure_kind(&e))))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(self.fail(format!("GET {path}: status {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.fail(format!("GET {path}: reading the answer: {e}")))?
        {
            if body.len() + chunk.len() > MAX_BODY_LEN {
                return Err(self.fail(format!(
                    "GET {path}: answer longer than {MAX_BODY_LEN} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body)
            .map(|s| s.trim().to_owned())
            .map_err(|_| self.fail(format!("GET {path}: answer is not text")))
    }

    /// The header of the block at `height`, checked as the module text says.
    pub async fn header(&self, height: u64) -> Result<BlockHeader, OtsError> {
        let hash = self.get_text(&format!("/block-height/{height}")).await?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.fail(format!(
                "block hash at height {height} is not 64 hex digits"
            )));
        }
        let hash = hash.to_ascii_lowercase();
        let text = self.get_text(&format!("/block/{hash}/header")).await?;
        let header = BlockHeader::from_hex(&text)
            .map_err(|e| self.fail(format!("header of block {hash}: {e}")))?;
        if header.hash_display() != hash {
            return Err(self.fail(format!(
                "header served for block {hash} (height {height}) hashes to {}",
                header.hash_display()
            )));
        }
        header.check_pow(height)?;
        Ok(header)
    }
}
