//! The early signature check: a request's signatures verified before any lock is taken,
//! with the keys valid now, in one batch when there are several (the expensive part of
//! intake). The rules use a result under the lock only if the key is still the one
//! checked against; otherwise they verify again. Large batches run on the blocking pool.

use std::collections::{BTreeMap, HashSet};

use ed25519_dalek::VerifyingKey;
use ledger_record::{Body, ChainId, KeyBody, KeyId, Record};

use super::rules::SignatureCheck;
use super::{Intake, Item};

/// A signature to check: the request position of its record and the key to check with.
struct Job {
    position: usize,
    key: VerifyingKey,
    key_id: KeyId,
}

/// Checks the signatures of `items` (grouped by chain in `by_chain`) and stores each
/// result in its item.
pub(super) async fn check_early(
    intake: &Intake,
    items: Vec<Option<Item>>,
    by_chain: &BTreeMap<ChainId, Vec<usize>>,
) -> Vec<Option<Item>> {
    let jobs = jobs(intake, &items, by_chain);
    if jobs.is_empty() {
        return items;
    }
    let count = items.len();
    // The items move to the checking thread and back, so no record is copied.
    let check = move || verify(items, jobs);
    // A single signature costs tens of microseconds: cheaper inline than a thread hop.
    if count <= 2 {
        return check();
    }
    match crate::blocking::blocking(check).await {
        Ok(items) => items,
        // Only a panic while verifying gets here; the records are answered with an
        // internal error rather than guessed at.
        Err(e) => {
            tracing::error!("signature check failed: {e}");
            (0..count).map(|_| None).collect()
        }
    }
}

/// One job per record whose key id is the key valid for it now, following rotations
/// within the request; a chain's records after one with another key are left to the
/// rules.
fn jobs(
    intake: &Intake,
    items: &[Option<Item>],
    by_chain: &BTreeMap<ChainId, Vec<usize>>,
) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (chain, positions) in by_chain {
        let mut current = intake.current_key(chain).map(|k| (k.public_key, k.key_id));
        for &position in positions {
            let Some(item) = items.get(position).and_then(Option::as_ref) else {
                continue;
            };
            let Some((key, key_id)) = current else { break };
            if key_id != item.record.key_id() {
                continue;
            }
            jobs.push(Job {
                position,
                key,
                key_id,
            });
            if let Body::Key(KeyBody::Rotation { new_public_key, .. }) = item.record.body() {
                current = Some((*new_public_key, KeyId::of(new_public_key)));
            }
        }
    }
    jobs
}

/// Verifies every job's signature in one batch and records the results in the items.
fn verify(mut items: Vec<Option<Item>>, jobs: Vec<Job>) -> Vec<Option<Item>> {
    let failed: HashSet<usize> = {
        let pairs: Vec<(&Record, &VerifyingKey)> = jobs
            .iter()
            .filter_map(|job| {
                items
                    .get(job.position)
                    .and_then(Option::as_ref)
                    .map(|item| (&item.record, &job.key))
            })
            .collect();
        match ledger_record::verify_batch(&pairs) {
            Ok(()) => HashSet::new(),
            Err(fails) => fails.into_iter().map(|(n, _)| n).collect(),
        }
    };
    for (n, job) in jobs.iter().enumerate() {
        if let Some(Some(item)) = items.get_mut(job.position) {
            item.signature = Some(SignatureCheck {
                key_id: job.key_id,
                valid: !failed.contains(&n),
            });
        }
    }
    items
}
