//! The selection of an evidence-package export, read page by page so that an export of
//! any size holds a bounded amount of it (docs/EVIDENCE_PACKAGE.md §4.1): which chains of
//! the sites have records in a period and their sequence range, every record of those
//! ranges in log order, and every key record. Every query takes a tree size `below`:
//! the checkpoint the package is built against, which the index must have covered.

use rusqlite::params;

use crate::codes::kind_code;
use crate::sql::{stored_to_u64, u64_to_stored};
use crate::{IndexError, QueryIndex};

/// A chain that takes part in an export: its records with sequences
/// `first_sequence..=last_sequence` go into the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportChain {
    pub site: String,
    pub appliance: String,
    pub first_sequence: u64,
    pub last_sequence: u64,
}

/// One record of a site: log index, appliance, sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRecord {
    pub index: u64,
    pub appliance: String,
    pub sequence: u64,
}

impl QueryIndex {
    /// Per chain of `site` with at least one record below `below` whose appliance time
    /// is in `from_ms..=to_ms`: the lowest and highest such sequence.
    pub fn export_chains(
        &self,
        site: &str,
        below: u64,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<Vec<ExportChain>, IndexError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT appliance, MIN(seq), MAX(seq) FROM records
             WHERE site = ?1 AND idx < ?2 AND time_ms >= ?3 AND time_ms <= ?4
             GROUP BY appliance ORDER BY appliance",
        )?;
        let rows = stmt.query_map(
            params![
                site,
                u64_to_stored(below),
                u64_to_stored(from_ms),
                u64_to_stored(to_ms)
            ],
            |r| {
                Ok(ExportChain {
                    site: site.to_owned(),
                    appliance: r.get(0)?,
                    first_sequence: stored_to_u64(r.get(1)?),
                    last_sequence: stored_to_u64(r.get(2)?),
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The highest log index below `below` of a record of `chain` in its range.
    pub fn export_highest(&self, chain: &ExportChain, below: u64) -> Result<u64, IndexError> {
        let conn = self.reader()?;
        let v: Option<i64> = conn.query_row(
            "SELECT MAX(idx) FROM records
             WHERE site = ?1 AND appliance = ?2 AND seq >= ?3 AND seq <= ?4 AND idx < ?5",
            params![
                chain.site,
                chain.appliance,
                u64_to_stored(chain.first_sequence),
                u64_to_stored(chain.last_sequence),
                u64_to_stored(below)
            ],
            |r| r.get(0),
        )?;
        Ok(v.map(stored_to_u64).unwrap_or(0))
    }

    /// Up to `limit` records of `site` with log indexes after `after` (all when `None`)
    /// and below `below`, in log order: one page of a keyset scan over `(site, idx)`.
    pub fn site_records_page(
        &self,
        site: &str,
        after: Option<u64>,
        below: u64,
        limit: usize,
    ) -> Result<Vec<SiteRecord>, IndexError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT idx, appliance, seq FROM records
             WHERE site = ?1 AND idx >= ?2 AND idx < ?3 ORDER BY idx LIMIT ?4",
        )?;
        let from = after.map_or(0, |a| a.saturating_add(1));
        let rows = stmt.query_map(
            params![
                site,
                u64_to_stored(from),
                u64_to_stored(below),
                limit.min(i64::MAX as usize) as i64
            ],
            |r| {
                Ok(SiteRecord {
                    index: stored_to_u64(r.get(0)?),
                    appliance: r.get(1)?,
                    sequence: stored_to_u64(r.get(2)?),
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The log indexes of every `key`, `release` and `rollout` record below `below`,
    /// ascending: the key history, and with the operator's release and rollout records
    /// the operator's whole chain (docs/EVIDENCE_PACKAGE.md §4.2).
    pub fn key_record_indexes(&self, below: u64) -> Result<Vec<u64>, IndexError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT idx FROM records WHERE kind IN (?1, ?2, ?3) AND idx < ?4 ORDER BY idx",
        )?;
        let code = |name| kind_code(name).unwrap_or(-1);
        let rows = stmt.query_map(
            params![
                code("key"),
                code("release"),
                code("rollout"),
                u64_to_stored(below)
            ],
            |r| r.get::<_, i64>(0).map(stored_to_u64),
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}
