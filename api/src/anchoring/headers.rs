//! The optional check of Bitcoin attestations against block headers served by an
//! Esplora-compatible API (`anchor_bitcoin_api`). ledgerd then trusts that API to name
//! the main chain's block at a height; the header must hash to the named block and meet
//! its own proof of work. A header is cached by height once an attestation matched it;
//! one that matched nothing is asked for again next round, so a source that served
//! another chain's block (a misconfigured or lagging explorer, a reorganisation) and is
//! then put right completes the stamp without a restart.

use std::collections::BTreeMap;
use std::sync::Mutex;

use anchor::header_source::HeaderSource;
use anchor::{Attestation, AttestedMessage, BlockHeader, HeaderSet, OtsError};

use super::record::VerifiedBlock;

/// Where Bitcoin headers come from, and the ones fetched so far.
pub struct HeaderCheck {
    source: HeaderSource,
    cache: Mutex<BTreeMap<u64, BlockHeader>>,
}

impl HeaderCheck {
    pub fn new(source: HeaderSource) -> HeaderCheck {
        HeaderCheck {
            source,
            cache: Mutex::new(BTreeMap::new()),
        }
    }

    /// Checks the Bitcoin attestations in `attested` (at `heights`, ascending) against
    /// the headers the source serves. Returns the earliest block that matched, and one
    /// problem per height whose header could not be fetched or attestation that did
    /// not match.
    pub async fn check(
        &self,
        attested: &[AttestedMessage<'_>],
        heights: &[u64],
    ) -> (Option<VerifiedBlock>, Vec<String>) {
        let mut problems = Vec::new();
        let mut best: Option<VerifiedBlock> = None;
        for &height in heights {
            let set = match self.header_set_at(height).await {
                Ok(set) => set,
                Err(e) => {
                    problems.push(format!("header of block {height}: {e}"));
                    continue;
                }
            };
            let mut matched = false;
            for a in attested {
                if !matches!(a.attestation, Attestation::Bitcoin { height: h } if *h == height) {
                    continue;
                }
                match anchor::verify_bitcoin_attestation(&a.message, height, &set) {
                    // Heights ascend, so the first match is the earliest block.
                    Ok(v) => {
                        matched = true;
                        best.get_or_insert(VerifiedBlock {
                            height: v.height,
                            time: v.time,
                            block_hash: v.block_hash_display,
                        });
                    }
                    Err(e) => problems.push(format!("attestation at block {height}: {e}")),
                }
            }
            if !matched {
                self.forget(height);
            }
        }
        (best, problems)
    }

    /// Drops the cached header at `height`, so the next check asks the source again.
    fn forget(&self, height: u64) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&height);
    }

    /// The header at `height` as a set of one: the source's headers are not required to
    /// form a chain.
    async fn header_set_at(&self, height: u64) -> Result<HeaderSet, OtsError> {
        let header = self.header_at(height).await?;
        HeaderSet::from_headers([(height, header)])
    }

    /// The header at `height`, from the cache or the source (then cached).
    async fn header_at(&self, height: u64) -> Result<BlockHeader, OtsError> {
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&height)
            .copied();
        if let Some(h) = cached {
            return Ok(h);
        }
        let h = self.source.header(height).await?;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(height, h);
        Ok(h)
    }
}

/// The heights named by Bitcoin attestations, ascending, each once.
pub fn bitcoin_heights(attested: &[AttestedMessage<'_>]) -> Vec<u64> {
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
