//! The tailer: reads log entries in order and projects every record into the index's
//! rows (see the crate documentation for what each table holds).
//!
//! Entries are indexed in chunks, one SQLite transaction each. Per-record rows
//! (`records`, `record_checks`, `chain_alarms`, `keys`) are written as the records are
//! read; the aggregates are summed in memory ([`aggregates`]) and written once at the end
//! of the chunk, in the same transaction as the new indexed size. Everything written
//! depends only on the entries and their order, so rebuilding from the log gives the same
//! rows.

mod aggregates;
mod keys;

use std::collections::HashMap;

use ledger::Log;
use ledger_record::{Body, EvidenceBody, HealingBody, Record};
use rusqlite::{params, CachedStatement, Connection, OptionalExtension};

use crate::sql::u64_to_stored;
use crate::{IndexError, QueryIndex, DAY_MS};
use aggregates::{ChainKey, ChunkAggregates};

/// Entries indexed per transaction.
const CHUNK: u64 = 16_384;

impl QueryIndex {
    /// Indexes every entry of the latest signed tree not yet indexed and returns the new
    /// indexed size. Blocking; when nothing is missing it costs one small read, so the
    /// server may simply call it on every poll.
    pub fn catch_up(&self, log: &Log) -> Result<u64, IndexError> {
        self.catch_up_reporting(log, &mut |_, _| {})
    }

    /// [`QueryIndex::catch_up`], calling `progress(indexed, target)` after every
    /// committed chunk, so a long rebuild can say how far it got.
    pub fn catch_up_reporting(
        &self,
        log: &Log,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64, IndexError> {
        let size = log.latest().size;
        let mut done = self.indexed_size()?;
        while done < size {
            let end = size.min(done + CHUNK);
            let entries = read_entries(log, done, end)?;
            self.index_entries(done, &entries)?;
            done = end;
            progress(done, size);
        }
        Ok(done)
    }

    /// Indexes `entries`, the log entries from index `start` on, in one transaction,
    /// and records `start + entries.len()` as the indexed size. The caller passes
    /// consecutive chunks in log order.
    pub fn index_entries(&self, start: u64, entries: &[Vec<u8>]) -> Result<(), IndexError> {
        let end = start + entries.len() as u64;
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let mut projection = Projection::prepare(&tx)?;
        for (offset, bytes) in entries.iter().enumerate() {
            // Entries that are not records are not indexed; the log accepts any
            // bytes, the intake only records.
            let Ok(record) = Record::decode(bytes) else {
                continue;
            };
            projection.add(&IndexedRecord::new(&record, start + offset as u64))?;
        }
        projection.finish().write(&tx)?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('indexed_size', ?1)",
            params![u64_to_stored(end)],
        )?;
        // Crash note: rows and the indexed size commit together; if the process dies
        // before this commit, the next start indexes this chunk again from the log.
        tx.commit()?;
        Ok(())
    }
}

/// The log entries `from..to`, read in the log's own chunks.
fn read_entries(log: &Log, from: u64, to: u64) -> Result<Vec<Vec<u8>>, IndexError> {
    let mut entries = Vec::with_capacity((to - from) as usize);
    log.for_each_chunk(from, to, |_, chunk| {
        entries.extend(chunk);
        Ok::<(), IndexError>(())
    })?;
    Ok(entries)
}

/// A decoded record and the values of it that its rows store.
struct IndexedRecord<'r> {
    record: &'r Record,
    idx: i64,
    site: String,
    appliance: String,
    seq: i64,
    time_ms: i64,
}

impl<'r> IndexedRecord<'r> {
    fn new(record: &'r Record, index: u64) -> IndexedRecord<'r> {
        IndexedRecord {
            record,
            idx: u64_to_stored(index),
            site: record.site_id().as_str().to_string(),
            appliance: record.appliance_id().as_str().to_string(),
            seq: u64_to_stored(record.sequence()),
            time_ms: u64_to_stored(record.time_ms()),
        }
    }

    /// The UTC day of the appliance time.
    fn day(&self) -> i64 {
        self.time_ms / DAY_MS as i64
    }

    fn healing(&self) -> Option<&'r HealingBody> {
        match self.record.body() {
            Body::Healing(h) => Some(h),
            _ => None,
        }
    }
}

/// One chunk's projection in progress: the per-record statements, prepared once, and the
/// aggregates summed so far.
struct Projection<'tx> {
    conn: &'tx Connection,
    insert_record: CachedStatement<'tx>,
    insert_check: CachedStatement<'tx>,
    last_seq: CachedStatement<'tx>,
    insert_alarm: CachedStatement<'tx>,
    aggregates: ChunkAggregates,
}

impl<'tx> Projection<'tx> {
    fn prepare(conn: &'tx Connection) -> Result<Projection<'tx>, rusqlite::Error> {
        Ok(Projection {
            conn,
            insert_record: conn.prepare_cached(
                "INSERT OR REPLACE INTO records
                   (idx, site, appliance, seq, hash, kind, time_ms, incident, check_type, tier, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?,
            insert_check: conn.prepare_cached(
                "INSERT OR REPLACE INTO record_checks
                   (idx, check_type, status, site, appliance, time_ms, items)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?,
            last_seq: conn.prepare_cached(
                "SELECT last_seq FROM appliances WHERE site = ?1 AND appliance = ?2",
            )?,
            insert_alarm: conn.prepare_cached(
                "INSERT OR REPLACE INTO chain_alarms (site, appliance, idx, expected_seq, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
            aggregates: ChunkAggregates::default(),
        })
    }

    /// Projects one record: its `records` row, the completeness check of its chain, and
    /// what its body adds.
    fn add(&mut self, rec: &IndexedRecord<'_>) -> Result<(), rusqlite::Error> {
        self.insert_record(rec)?;
        self.check_chain(rec)?;
        match rec.record.body() {
            Body::Evidence(evidence) => self.add_evidence(rec, evidence),
            Body::Healing(healing) => self.add_healing(rec, healing),
            Body::Key(key) => keys::index_key(self.conn, rec.idx, rec.record, key),
            // Releases, rollouts and update steps are served from the server's release
            // history and rollout engine, rebuilt from the log on start; the index keeps
            // only their `records` row.
            Body::Release(_) | Body::Rollout(_) | Body::Update(_) => Ok(()),
        }
    }

    /// The aggregates of the chunk, once every record is projected.
    fn finish(self) -> ChunkAggregates {
        self.aggregates
    }

    fn insert_record(&mut self, rec: &IndexedRecord<'_>) -> Result<(), rusqlite::Error> {
        let healing = rec.healing();
        self.insert_record.execute(params![
            rec.idx,
            rec.site,
            rec.appliance,
            rec.seq,
            rec.record.hash().as_bytes().to_vec(),
            rec.record.kind().code() as i64,
            rec.time_ms,
            healing.map(|h| h.incident_id.as_str()),
            healing.map(|h| h.check_type.as_str()),
            healing.map(|h| h.tier.code() as i64),
            healing.map(|h| h.outcome.code() as i64),
        ])?;
        Ok(())
    }

    /// Completeness: the chain's sequence must be its last + 1; anything else is kept as
    /// an alarm. The chain's last sequence comes from this chunk when it already had a
    /// record of the chain, from the table otherwise.
    fn check_chain(&mut self, rec: &IndexedRecord<'_>) -> Result<(), rusqlite::Error> {
        let chain = ChainKey {
            site: rec.site.clone(),
            appliance: rec.appliance.clone(),
        };
        let previous = match self.aggregates.chains.get(&chain) {
            Some(totals) => Some(totals.last_seq),
            None => self
                .last_seq
                .query_row(params![rec.site, rec.appliance], |r| r.get::<_, i64>(0))
                .optional()?,
        };
        let previous = previous.unwrap_or(0);
        let expected = previous + 1;
        if rec.seq != expected {
            self.insert_alarm.execute(params![
                rec.site,
                rec.appliance,
                rec.idx,
                expected,
                rec.seq
            ])?;
        }
        self.aggregates.chains.entry(chain).or_default().add(
            rec.seq,
            previous,
            rec.idx,
            rec.time_ms,
        );
        Ok(())
    }

    /// One `record_checks` row per distinct (check type, status) of the inline items,
    /// and their counts in the day's evidence totals.
    fn add_evidence(
        &mut self,
        rec: &IndexedRecord<'_>,
        evidence: &EvidenceBody,
    ) -> Result<(), rusqlite::Error> {
        let mut counts: HashMap<(&str, i64), i64> = HashMap::new();
        for item in evidence.items().unwrap_or(&[]) {
            *counts
                .entry((item.check_type.as_str(), item.status.code() as i64))
                .or_insert(0) += 1;
        }
        for ((check_type, status), items) in counts {
            self.insert_check.execute(params![
                rec.idx,
                check_type,
                status,
                rec.site,
                rec.appliance,
                rec.time_ms,
                items
            ])?;
            self.aggregates
                .add_evidence(&rec.site, rec.day(), check_type, status, items);
        }
        Ok(())
    }

    fn add_healing(
        &mut self,
        rec: &IndexedRecord<'_>,
        healing: &HealingBody,
    ) -> Result<(), rusqlite::Error> {
        // Healing rows carry the check type with status -1 so a check type filter finds
        // them; status filters never match them.
        self.insert_check.execute(params![
            rec.idx,
            healing.check_type.as_str(),
            -1i64,
            rec.site,
            rec.appliance,
            rec.time_ms,
            1i64
        ])?;
        self.aggregates
            .add_healing(&rec.site, &rec.appliance, rec.idx, healing);
        Ok(())
    }
}
