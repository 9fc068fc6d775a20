//! Complete OpenTimestamps stamps in the bucket: `ots/<size>.ots` (the detached `.ots`
//! file, as `GET /v1/anchors/{size}/ots` serves it) and `ots/<size>.checkpoint` (the
//! checkpoint note it stamps, with cosignatures when witnesses signed it).
//!
//! A stamp is published once it is settled: complete, and every calendar it was
//! submitted to has answered, since the upgrader still merges later answers into a
//! complete stamp until then and an immutable object must not change. Only stamps of
//! sizes the bucket's tiles cover are published.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::bucket::{Bucket, OCTETS, TEXT};
use super::{PublishError, ORDER};
use crate::anchoring::{StampRecord, StampStatus};
use crate::blocking::blocking;
use crate::state::AppState;

/// Stamps looked at in one pass, newest first.
const PASS_LIMIT: usize = 1000;

/// How often the stamps are looked at when the count of complete ones did not change.
const RESCAN: Duration = Duration::from_secs(60);

/// Which stamps the bucket has, and when they were last looked at.
#[derive(Default)]
pub struct StampCursor {
    inner: Mutex<Cursor>,
}

#[derive(Default)]
struct Cursor {
    published: BTreeSet<u64>,
    complete_seen: Option<u64>,
    last_pass: Option<Instant>,
}

impl StampCursor {
    /// Learns which stamps the bucket holds already (`ots/*.ots`).
    pub async fn load(&self, bucket: &Bucket) -> Result<(), PublishError> {
        let keys = bucket.list("ots").await?;
        let sizes = keys.iter().filter_map(|k| {
            k.strip_prefix("ots/")?
                .strip_suffix(".ots")?
                .parse::<u64>()
                .ok()
        });
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.published.extend(sizes);
        Ok(())
    }

    /// Publishes the settled stamps of sizes up to `covered` that the bucket lacks.
    /// Looks only when the number of complete stamps changed or a minute passed.
    pub async fn publish(
        &self,
        state: &std::sync::Arc<AppState>,
        bucket: &Bucket,
        covered: u64,
    ) -> Result<(), PublishError> {
        let complete = state
            .anchoring
            .status_counts()
            .0
            .get(&StampStatus::Complete)
            .copied()
            .unwrap_or(0);
        {
            let c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let due = c.last_pass.is_none_or(|t| t.elapsed() >= RESCAN);
            if complete == 0 || (c.complete_seen == Some(complete) && !due) {
                return Ok(());
            }
        }
        let anchoring = state.anchoring.clone();
        let log = state.log.clone();
        let found = blocking(move || -> Result<Vec<(u64, Bytes, Bytes)>, String> {
            let records = anchoring
                .list(covered, PASS_LIMIT)
                .map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            for r in records.into_iter().filter(settled) {
                let note = match &r.cosigned_note {
                    Some(n) => n.clone().into_bytes(),
                    None => log.checkpoint(r.tree_size).map_err(|e| e.to_string())?,
                };
                if let Some(ots) = r.ots_bytes() {
                    out.push((r.tree_size, Bytes::from(ots), Bytes::from(note)));
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| PublishError::Log(e.to_string()))?
        .map_err(PublishError::Log)?;
        for (size, ots, note) in found {
            if self.has(size) {
                continue;
            }
            self.put(state, bucket, size, ots, note).await?;
        }
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.complete_seen = Some(complete);
        c.last_pass = Some(Instant::now());
        Ok(())
    }

    fn has(&self, size: u64) -> bool {
        let c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.published.contains(&size)
    }

    /// The checkpoint note first, then the stamp: a reader that finds the `.ots` finds
    /// what it stamps.
    async fn put(
        &self,
        state: &AppState,
        bucket: &Bucket,
        size: u64,
        ots: Bytes,
        note: Bytes,
    ) -> Result<(), PublishError> {
        let m = &state.intake.metrics.publish;
        for (key, bytes, kind) in [
            (format!("ots/{size}.checkpoint"), note, TEXT),
            (format!("ots/{size}.ots"), ots, OCTETS),
        ] {
            match bucket.put_immutable(&key, bytes, kind).await? {
                super::PutOutcome::Written => m.written.fetch_add(1, ORDER),
                super::PutOutcome::Equal => m.skipped_equal.fetch_add(1, ORDER),
            };
        }
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.published.insert(size);
        Ok(())
    }
}

/// Complete, with an answer from every calendar it was submitted to.
fn settled(r: &StampRecord) -> bool {
    r.status == StampStatus::Complete && r.resolved.len() >= r.calendars.len() && r.ots.is_some()
}
