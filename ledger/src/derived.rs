//! Derived state: key/value pairs that a caller computes from each new entry and that
//! the log writes in the same synced `WriteBatch` as the entries themselves.
//!
//! The log knows nothing of what the entries mean. A caller that needs a summary of the
//! whole log on every start (the server's intake: the head of every appliance chain and
//! where the key records are) hands the log a [`Deriver`]; the sequencer calls it for
//! every new entry, in index order, and the writer commits its output together with the
//! batch. So after a crash the derived state covers exactly the entries that survived,
//! and opening the log costs a scan of the derived state (one key per chain) instead of
//! a scan of every entry.
//!
//! The store keeps the tree size the derived state covers. A batch written by a log
//! opened without a deriver (a tool, an older build) leaves that size behind the log's,
//! and the caller sees the state as stale and rebuilds it from the entries
//! ([`crate::Log::replace_state`]).

use std::sync::Arc;

/// Key/value pairs for the derived-state family, applied in order (a later write of the
/// same key wins).
pub type StateWrites = Vec<(Vec<u8>, Vec<u8>)>;

type DeriveFn = dyn Fn(u64, &[u8], &mut StateWrites) + Send + Sync;

/// Computes the derived-state writes of one new entry: called with the entry's index
/// and bytes, it appends what that entry changes. It runs on the sequencer thread, once
/// per new entry (never for duplicates), so it must be quick and must not block.
#[derive(Clone)]
pub struct Deriver(Arc<DeriveFn>);

impl Deriver {
    pub fn new(derive: impl Fn(u64, &[u8], &mut StateWrites) + Send + Sync + 'static) -> Deriver {
        Deriver(Arc::new(derive))
    }

    /// The writes of one entry at `index`.
    pub fn derive_one(&self, index: u64, entry: &[u8]) -> StateWrites {
        let mut writes = Vec::new();
        (self.0)(index, entry, &mut writes);
        writes
    }

    /// The writes of `entries`, the new entries of one batch starting at `first_index`.
    pub(crate) fn derive<'a>(
        &self,
        first_index: u64,
        entries: impl Iterator<Item = &'a [u8]>,
    ) -> StateWrites {
        let mut writes = Vec::new();
        for (offset, entry) in entries.enumerate() {
            (self.0)(first_index + offset as u64, entry, &mut writes);
        }
        writes
    }
}

impl std::fmt::Debug for Deriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deriver")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_passes_consecutive_indexes_and_keeps_the_order_of_writes() {
        let deriver = Deriver::new(|index, entry, out| {
            out.push((entry.to_vec(), index.to_be_bytes().to_vec()));
        });
        let entries: [&[u8]; 3] = [b"a", b"b", b"a"];
        let writes = deriver.derive(7, entries.into_iter());
        let indexes: Vec<u64> = writes
            .iter()
            .map(|(_, v)| u64::from_be_bytes(v.as_slice().try_into().unwrap()))
            .collect();
        assert_eq!(indexes, vec![7, 8, 9]);
        assert_eq!(writes[2].0, b"a".to_vec());
    }
}
