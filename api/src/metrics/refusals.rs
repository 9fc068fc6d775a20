//! Refusals that say something about an appliance rather than about one record — its
//! clock runs ahead (`future_time`), it reuses sequence numbers already logged
//! (`sequence_replayed`, typically an appliance restored from an old backup) — counted
//! per appliance for the fleet view.
//!
//! Refused records never reach the log, so the query index (rebuilt from the log alone)
//! cannot know them; these counts live in memory and start from zero when the server
//! starts. Only the appliance's own credential can append to its chain, so there is one
//! entry per appliance that has a credential, not per request.

use std::collections::BTreeMap;
use std::sync::Mutex;

use ledger_record::ChainId;
use serde::Serialize;

/// How often one appliance was refused for one reason, and when last (Unix ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RefusalCount {
    pub count: u64,
    pub last_ms: u64,
}

/// The refusals of one appliance, by reason code.
pub type ApplianceRefusals = BTreeMap<&'static str, RefusalCount>;

/// Per-appliance refusal counts since the server started.
#[derive(Debug, Default)]
pub struct Refusals {
    by_chain: Mutex<BTreeMap<ChainId, ApplianceRefusals>>,
}

impl Refusals {
    /// Counts one refusal of `chain`'s record for `reason` at `now_ms`.
    pub fn count(&self, chain: &ChainId, reason: &'static str, now_ms: u64) {
        let mut all = self.by_chain.lock().unwrap_or_else(|p| p.into_inner());
        let entry = all
            .entry(chain.clone())
            .or_default()
            .entry(reason)
            .or_default();
        entry.count = entry.count.saturating_add(1);
        entry.last_ms = entry.last_ms.max(now_ms);
    }

    /// The refusals of every appliance of `site`, by appliance id.
    pub fn site(&self, site: &str) -> BTreeMap<String, ApplianceRefusals> {
        let all = self.by_chain.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .filter(|(chain, _)| chain.site_id.as_str() == site)
            .map(|(chain, counts)| (chain.appliance_id.as_str().to_owned(), counts.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_record::Id;

    fn chain(site: &str, appliance: &str) -> ChainId {
        ChainId::new(Id::new(site).unwrap(), Id::new(appliance).unwrap())
    }

    #[test]
    fn refusals_are_counted_per_appliance_and_reason() {
        let r = Refusals::default();
        r.count(&chain("site-a", "box-1"), "future_time", 10);
        r.count(&chain("site-a", "box-1"), "future_time", 5);
        r.count(&chain("site-a", "box-1"), "sequence_replayed", 7);
        r.count(&chain("site-b", "box-1"), "future_time", 9);
        let a = r.site("site-a");
        assert_eq!(a.len(), 1);
        let box1 = &a["box-1"];
        assert_eq!(
            box1["future_time"],
            RefusalCount {
                count: 2,
                last_ms: 10
            }
        );
        assert_eq!(box1["sequence_replayed"].count, 1);
        assert_eq!(r.site("site-b")["box-1"]["future_time"].count, 1);
        assert!(r.site("site-c").is_empty());
    }
}
