//! The query index: a SQLite file (`<data_dir>/index.sqlite`) projected from the log for
//! receipts by record hash, an appliance's records by sequence range, and the dashboard
//! queries of [`crate::query`] (fleet, healing, record search).
//!
//! The index is derived from the log and nothing else: a background task tails the log
//! in order and indexes every new entry, storing how far it got (`indexed_size`) in the
//! same transaction as the rows, so a restart resumes exactly there. It is written with
//! `synchronous=NORMAL`: a crash may lose the last transactions but never corrupts the
//! file, and the next start indexes the missing tail again. Deleting the file rebuilds it
//! from the log; so does a file written by another schema version (`user_version`).
//! Check-ins are not log records and therefore do not live here (see [`crate::fleet`]).
//!
//! What is indexed, per entry that decodes as a record (docs/RECORDS.md):
//! - `records`: index, site, appliance, sequence, record hash, kind, appliance time, and
//!   for healing records the incident, check type, tier and outcome;
//! - `record_checks`: per evidence record, one row per distinct (check type, status) of
//!   its inline items with the number of items (committed bundles reveal no items);
//!   per healing record one row with its check type and no status;
//! - `daily_status`: evidence items per (site, UTC day, check type, status);
//! - `incidents`: healing records grouped by (site, incident id): first and last record,
//!   latest tier and outcome, earliest start and latest end;
//! - `pattern_daily`: healing records per (site, UTC day of start, pattern signature,
//!   check type, tier) with outcome counts and the summed resolve time of successes;
//! - `pattern_totals`: the same without the day, for all-time statistics;
//! - `appliances`: per chain the number of records, last sequence, index and time;
//! - `chain_alarms`: completeness alarms, a record whose sequence is not the chain's last
//!   + 1 (a gap, or a repeated or reordered sequence);
//! - `keys`: appliance keys from `key` records (enrolment, rotation, revocation).
//!
//! Aggregates (`daily_status`, `pattern_daily`, `appliances`, `incidents`) are summed in
//! memory per chunk and written once per chunk, which keeps tailing well above the
//! sequencer's rate. Every write depends only on the log contents and their order, so a
//! rebuild produces the same answers.
//!
//! The index may trail the log by one polling interval; lookups of a record appended a
//! moment ago can miss it (the append answer already carried its receipt). The lag is
//! exported as `ledger_index_lag_entries`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ledger::Log;
use ledger_core::hash::Hash;
use ledger_record::{Body, ChainId, KeyBody, KeyId, Record, RevocationReason};
use rusqlite::{params, Connection, OptionalExtension};

/// Why the index could not be read or written; an internal error for clients.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("query index: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("query index: reading the log: {0}")]
    Log(#[from] ledger::LedgerError),
}

/// Entries indexed per transaction.
const CHUNK: u64 = 16_384;
/// Entries read from the log per call (the log's own limit).
const READ: u64 = 4096;

/// SQLite page cache per connection, in KiB. The record-hash index takes random inserts;
/// with SQLite's default 2 MiB cache each of them would read pages from the OS, which
/// made tailing several times slower than the sequencer on a million entries.
const CACHE_KIB: i64 = 128 * 1024;
/// Page cache of each reader connection (up to 8 of them), in KiB.
const READER_CACHE_KIB: i64 = 16 * 1024;

/// Milliseconds in a UTC day; days are counted from the Unix epoch.
pub const DAY_MS: u64 = 86_400_000;

/// Bumped whenever the schema or the projection changes; a file with another version is
/// dropped and rebuilt from the log.
const SCHEMA_VERSION: i64 = 2;

const TABLES: [&str; 10] = [
    "meta",
    "pattern_totals",
    "records",
    "record_checks",
    "daily_status",
    "incidents",
    "pattern_daily",
    "appliances",
    "chain_alarms",
    "keys",
];

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    idx INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    appliance TEXT NOT NULL,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    kind INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    incident TEXT,
    check_type TEXT,
    tier INTEGER,
    outcome INTEGER
);
CREATE INDEX IF NOT EXISTS records_chain ON records (site, appliance, seq);
CREATE INDEX IF NOT EXISTS records_hash ON records (hash);
CREATE INDEX IF NOT EXISTS records_site ON records (site, idx);
CREATE INDEX IF NOT EXISTS records_incident ON records (site, incident) WHERE incident IS NOT NULL;
CREATE TABLE IF NOT EXISTS record_checks (
    idx INTEGER NOT NULL,
    check_type TEXT NOT NULL,
    status INTEGER NOT NULL,
    site TEXT NOT NULL,
    appliance TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    items INTEGER NOT NULL,
    PRIMARY KEY (idx, check_type, status)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_checks_appliance ON record_checks (site, appliance, time_ms);
CREATE TABLE IF NOT EXISTS daily_status (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    check_type TEXT NOT NULL,
    status INTEGER NOT NULL,
    items INTEGER NOT NULL,
    PRIMARY KEY (site, day, check_type, status)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS incidents (
    site TEXT NOT NULL,
    incident TEXT NOT NULL,
    appliance TEXT NOT NULL,
    check_type TEXT NOT NULL,
    pattern TEXT NOT NULL,
    tier INTEGER NOT NULL,
    outcome INTEGER NOT NULL,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER NOT NULL,
    records INTEGER NOT NULL,
    first_idx INTEGER NOT NULL,
    last_idx INTEGER NOT NULL,
    PRIMARY KEY (site, incident)
);
CREATE INDEX IF NOT EXISTS incidents_site ON incidents (site, first_idx);
CREATE INDEX IF NOT EXISTS incidents_order ON incidents (first_idx);
CREATE TABLE IF NOT EXISTS pattern_daily (
    site TEXT NOT NULL,
    day INTEGER NOT NULL,
    pattern TEXT NOT NULL,
    check_type TEXT NOT NULL,
    tier INTEGER NOT NULL,
    occurrences INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    escalations INTEGER NOT NULL,
    resolve_ms_sum INTEGER NOT NULL,
    PRIMARY KEY (site, day, pattern, check_type, tier)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pattern_totals (
    site TEXT NOT NULL,
    pattern TEXT NOT NULL,
    check_type TEXT NOT NULL,
    tier INTEGER NOT NULL,
    occurrences INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    escalations INTEGER NOT NULL,
    resolve_ms_sum INTEGER NOT NULL,
    PRIMARY KEY (site, pattern, check_type, tier)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS appliances (
    site TEXT NOT NULL,
    appliance TEXT NOT NULL,
    records INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    last_idx INTEGER NOT NULL,
    last_time_ms INTEGER NOT NULL,
    PRIMARY KEY (site, appliance)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chain_alarms (
    site TEXT NOT NULL,
    appliance TEXT NOT NULL,
    idx INTEGER NOT NULL,
    expected_seq INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (site, appliance, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    appliance TEXT NOT NULL,
    public_key TEXT NOT NULL,
    introduced_idx INTEGER NOT NULL,
    introduced_by TEXT NOT NULL,
    ended_idx INTEGER,
    end_reason TEXT,
    replaced_by TEXT
);
CREATE INDEX IF NOT EXISTS keys_chain ON keys (site, appliance, introduced_idx);
";

/// The query index: one writer connection (the tailer) and a few reader connections, so
/// dashboard queries are not blocked by an indexing transaction (SQLite WAL mode lets
/// readers see the last committed state while the writer works).
pub struct QueryIndex {
    path: std::path::PathBuf,
    conn: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

/// One indexed record of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEntry {
    pub sequence: u64,
    pub index: u64,
}

/// Converts a stored non-negative integer back; SQLite integers are signed.
pub(crate) fn u(v: i64) -> u64 {
    v.max(0) as u64
}

/// Converts a `u64` for storage, saturating at `i64::MAX`.
pub(crate) fn i(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

fn open_conn(path: &Path, cache_kib: i64) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

/// A reader connection borrowed from the pool; returned when dropped.
pub struct Reader<'a> {
    index: &'a QueryIndex,
    conn: Option<Connection>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // Always Some until drop.
        self.conn
            .as_ref()
            .expect("reader connection present until drop")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let mut pool = self.index.readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < 8 {
                pool.push(c);
            }
        }
    }
}

/// Per-chunk aggregates, written once per chunk.
#[derive(Default)]
struct Pending {
    daily: HashMap<(String, i64, String, i64), i64>,
    patterns: HashMap<(String, i64, String, String, i64), [i64; 5]>,
    appliances: HashMap<(String, String), (i64, i64, i64, i64)>,
    incidents: HashMap<(String, String), IncidentAgg>,
}

struct IncidentAgg {
    appliance: String,
    check_type: String,
    pattern: String,
    tier: i64,
    outcome: i64,
    started_ms: i64,
    ended_ms: i64,
    records: i64,
    first_idx: i64,
    last_idx: i64,
}

impl QueryIndex {
    /// Opens (creating or rebuilding when the schema version differs) the index file.
    pub fn open(data_dir: &Path) -> Result<QueryIndex, IndexError> {
        let path = data_dir.join("index.sqlite");
        let conn = open_conn(&path, CACHE_KIB)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version != SCHEMA_VERSION {
            // A file of another version (or an empty one) is projected again from the
            // log: the index holds nothing the log does not.
            for t in TABLES {
                conn.execute_batch(&format!("DROP TABLE IF EXISTS {t};"))?;
            }
            conn.execute_batch(SCHEMA)?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        Ok(QueryIndex {
            path,
            conn: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection for read-only queries.
    pub fn reader(&self) -> Result<Reader<'_>, IndexError> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_conn(&self.path, READER_CACHE_KIB)?,
        };
        Ok(Reader {
            index: self,
            conn: Some(conn),
        })
    }

    /// How many log entries are indexed.
    pub fn indexed_size(&self) -> Result<u64, IndexError> {
        let v: Option<i64> = self
            .reader()?
            .query_row(
                "SELECT value FROM meta WHERE key = 'indexed_size'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(u(v.unwrap_or(0)))
    }

    /// Indexes every entry of the latest signed tree not yet indexed. Blocking.
    pub fn catch_up(&self, log: &Log) -> Result<u64, IndexError> {
        let size = log.latest().size;
        let mut done = self.indexed_size()?;
        while done < size {
            let end = size.min(done + CHUNK);
            let mut entries = Vec::with_capacity((end - done) as usize);
            let mut at = done;
            while at < end {
                // The log answers at most READ entries per call.
                let upto = end.min(at + READ);
                entries.extend(log.entries(at, upto)?);
                at = upto;
            }
            self.index_entries(done, &entries)?;
            done = end;
        }
        Ok(done)
    }

    /// Indexes `entries`, the log entries from index `start` on, in one transaction,
    /// and records `start + entries.len()` as the indexed size. The caller passes
    /// consecutive chunks in log order.
    pub fn index_entries(&self, start: u64, entries: &[Vec<u8>]) -> Result<(), IndexError> {
        let end = start + entries.len() as u64;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut pending = Pending::default();
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO records
                   (idx, site, appliance, seq, hash, kind, time_ms, incident, check_type, tier, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            let mut check = tx.prepare_cached(
                "INSERT OR REPLACE INTO record_checks
                   (idx, check_type, status, site, appliance, time_ms, items)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut last_seq = tx.prepare_cached(
                "SELECT last_seq FROM appliances WHERE site = ?1 AND appliance = ?2",
            )?;
            let mut alarm = tx.prepare_cached(
                "INSERT OR REPLACE INTO chain_alarms (site, appliance, idx, expected_seq, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (offset, bytes) in entries.iter().enumerate() {
                // Entries that are not records are not indexed; the log accepts any
                // bytes, the intake only records.
                let Ok(record) = Record::decode(bytes) else {
                    continue;
                };
                let idx = i(start + offset as u64);
                let site = record.site_id().as_str().to_string();
                let appliance = record.appliance_id().as_str().to_string();
                let seq = i(record.sequence());
                let time_ms = i(record.time_ms());
                let day = time_ms / DAY_MS as i64;
                let healing = match record.body() {
                    Body::Healing(h) => Some(h),
                    _ => None,
                };
                insert.execute(params![
                    idx,
                    site,
                    appliance,
                    seq,
                    record.hash().as_bytes().to_vec(),
                    record.kind().code() as i64,
                    time_ms,
                    healing.map(|h| h.incident_id.as_str()),
                    healing.map(|h| h.check_type.as_str()),
                    healing.map(|h| h.tier.code() as i64),
                    healing.map(|h| h.outcome.code() as i64),
                ])?;

                // Completeness: the chain's sequence must be its last + 1.
                let chain_key = (site.clone(), appliance.clone());
                let previous = match pending.appliances.get(&chain_key) {
                    Some(a) => Some(a.1),
                    None => last_seq
                        .query_row(params![site, appliance], |r| r.get::<_, i64>(0))
                        .optional()?,
                };
                let expected = previous.unwrap_or(0) + 1;
                if seq != expected {
                    alarm.execute(params![site, appliance, idx, expected, seq])?;
                }
                let a = pending.appliances.entry(chain_key).or_insert((0, 0, 0, 0));
                a.0 += 1;
                a.1 = a.1.max(seq).max(previous.unwrap_or(0));
                a.2 = idx;
                a.3 = time_ms;

                match record.body() {
                    Body::Evidence(e) => {
                        let mut counts: HashMap<(&str, i64), i64> = HashMap::new();
                        for item in e.items().unwrap_or(&[]) {
                            *counts
                                .entry((item.check_type.as_str(), item.status.code() as i64))
                                .or_insert(0) += 1;
                        }
                        for ((check_type, status), n) in counts {
                            check.execute(params![
                                idx, check_type, status, site, appliance, time_ms, n
                            ])?;
                            *pending
                                .daily
                                .entry((site.clone(), day, check_type.to_string(), status))
                                .or_insert(0) += n;
                        }
                    }
                    Body::Healing(h) => {
                        // Healing rows carry the check type with status -1 so a check
                        // type filter finds them; status filters never match them.
                        check.execute(params![
                            idx,
                            h.check_type.as_str(),
                            -1i64,
                            site,
                            appliance,
                            time_ms,
                            1i64
                        ])?;
                        let started = i(h.started_at_ms);
                        let ended = i(h.ended_at_ms);
                        let p = pending
                            .patterns
                            .entry((
                                site.clone(),
                                started / DAY_MS as i64,
                                h.pattern_signature.clone(),
                                h.check_type.as_str().to_string(),
                                h.tier.code() as i64,
                            ))
                            .or_insert([0; 5]);
                        p[0] += 1;
                        match h.outcome.code() {
                            0 => {
                                p[1] += 1;
                                p[4] += ended - started;
                            }
                            1 => p[2] += 1,
                            _ => p[3] += 1,
                        }
                        let key = (site.clone(), h.incident_id.as_str().to_string());
                        match pending.incidents.get_mut(&key) {
                            Some(inc) => {
                                inc.tier = h.tier.code() as i64;
                                inc.outcome = h.outcome.code() as i64;
                                inc.started_ms = inc.started_ms.min(started);
                                inc.ended_ms = inc.ended_ms.max(ended);
                                inc.records += 1;
                                inc.last_idx = idx;
                            }
                            None => {
                                pending.incidents.insert(
                                    key,
                                    IncidentAgg {
                                        appliance: appliance.clone(),
                                        check_type: h.check_type.as_str().to_string(),
                                        pattern: h.pattern_signature.clone(),
                                        tier: h.tier.code() as i64,
                                        outcome: h.outcome.code() as i64,
                                        started_ms: started,
                                        ended_ms: ended,
                                        records: 1,
                                        first_idx: idx,
                                        last_idx: idx,
                                    },
                                );
                            }
                        }
                    }
                    Body::Key(k) => index_key(&tx, idx, &record, k)?,
                }
            }
        }
        write_pending(&tx, pending)?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('indexed_size', ?1)",
            params![i(end)],
        )?;
        // Crash note: rows and the indexed size commit together; if the process dies
        // before this commit, the next start indexes this chunk again from the log.
        tx.commit()?;
        Ok(())
    }

    /// The log index of the record with this record hash (SHA-256 of its bytes).
    pub fn find_by_hash(&self, hash: &Hash) -> Result<Option<u64>, IndexError> {
        let v: Option<i64> = self
            .reader()?
            .query_row(
                "SELECT idx FROM records WHERE hash = ?1 ORDER BY idx LIMIT 1",
                params![hash.as_bytes().to_vec()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.map(u))
    }

    /// The records of `chain` with sequence numbers `from..=to`, at most `limit`.
    pub fn chain_range(
        &self,
        chain: &ChainId,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<ChainEntry>, IndexError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT seq, idx FROM records WHERE site = ?1 AND appliance = ?2 AND seq >= ?3 AND seq <= ?4
             ORDER BY seq, idx LIMIT ?5",
        )?;
        let rows = stmt.query_map(
            params![
                chain.site_id.as_str(),
                chain.appliance_id.as_str(),
                i(from),
                i(to),
                limit as i64
            ],
            |r| {
                Ok(ChainEntry {
                    sequence: u(r.get::<_, i64>(0)?),
                    index: u(r.get::<_, i64>(1)?),
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

fn key_hex(k: &KeyId) -> String {
    hex::encode(k.as_bytes())
}

fn reason_str(r: RevocationReason) -> &'static str {
    match r {
        RevocationReason::Unspecified => "revoked:unspecified",
        RevocationReason::KeyCompromise => "revoked:key_compromise",
        RevocationReason::Decommissioned => "revoked:decommissioned",
        RevocationReason::Superseded => "revoked:superseded",
    }
}

/// Projects a `key` record into the `keys` table. The intake accepted only valid key
/// records (docs/RECORDS.md §7), so the projection follows them without re-verifying.
fn index_key(
    tx: &rusqlite::Transaction<'_>,
    idx: i64,
    record: &Record,
    body: &KeyBody,
) -> Result<(), rusqlite::Error> {
    let mut new_key = tx.prepare_cached(
        "INSERT OR IGNORE INTO keys (key_id, site, appliance, public_key, introduced_idx, introduced_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut end_key = tx.prepare_cached(
        "UPDATE keys SET ended_idx = ?2, end_reason = ?3, replaced_by = ?4
         WHERE key_id = ?1 AND ended_idx IS NULL",
    )?;
    match body {
        KeyBody::Enrolment {
            subject,
            public_key,
            ..
        } => {
            new_key.execute(params![
                key_hex(&KeyId::of(public_key)),
                subject.site_id.as_str(),
                subject.appliance_id.as_str(),
                hex::encode(public_key.as_bytes()),
                idx,
                "enrolment"
            ])?;
        }
        KeyBody::Rotation {
            old_key_id,
            new_public_key,
        } => {
            let new_id = key_hex(&KeyId::of(new_public_key));
            end_key.execute(params![key_hex(old_key_id), idx, "rotated", new_id])?;
            new_key.execute(params![
                new_id,
                record.site_id().as_str(),
                record.appliance_id().as_str(),
                hex::encode(new_public_key.as_bytes()),
                idx,
                "rotation"
            ])?;
        }
        KeyBody::Revocation { key_id, reason, .. } => {
            end_key.execute(params![
                key_hex(key_id),
                idx,
                reason_str(*reason),
                Option::<String>::None
            ])?;
        }
    }
    Ok(())
}

fn write_pending(tx: &rusqlite::Transaction<'_>, p: Pending) -> Result<(), rusqlite::Error> {
    let mut daily = tx.prepare_cached(
        "INSERT INTO daily_status (site, day, check_type, status, items) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (site, day, check_type, status) DO UPDATE SET items = items + excluded.items",
    )?;
    for ((site, day, check_type, status), n) in p.daily {
        daily.execute(params![site, day, check_type, status, n])?;
    }
    let mut pattern = tx.prepare_cached(
        "INSERT INTO pattern_daily
           (site, day, pattern, check_type, tier, occurrences, successes, failures, escalations, resolve_ms_sum)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (site, day, pattern, check_type, tier) DO UPDATE SET
           occurrences = occurrences + excluded.occurrences,
           successes = successes + excluded.successes,
           failures = failures + excluded.failures,
           escalations = escalations + excluded.escalations,
           resolve_ms_sum = resolve_ms_sum + excluded.resolve_ms_sum",
    )?;
    let mut totals: HashMap<(String, String, String, i64), [i64; 5]> = HashMap::new();
    for ((site, day, pat, check_type, tier), c) in p.patterns {
        pattern.execute(params![
            &site,
            day,
            &pat,
            &check_type,
            tier,
            c[0],
            c[1],
            c[2],
            c[3],
            c[4]
        ])?;
        let t = totals
            .entry((site, pat, check_type, tier))
            .or_insert([0; 5]);
        for (sum, add) in t.iter_mut().zip(c) {
            *sum += add;
        }
    }
    let mut total = tx.prepare_cached(
        "INSERT INTO pattern_totals
           (site, pattern, check_type, tier, occurrences, successes, failures, escalations, resolve_ms_sum)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (site, pattern, check_type, tier) DO UPDATE SET
           occurrences = occurrences + excluded.occurrences,
           successes = successes + excluded.successes,
           failures = failures + excluded.failures,
           escalations = escalations + excluded.escalations,
           resolve_ms_sum = resolve_ms_sum + excluded.resolve_ms_sum",
    )?;
    for ((site, pat, check_type, tier), c) in totals {
        total.execute(params![
            site, pat, check_type, tier, c[0], c[1], c[2], c[3], c[4]
        ])?;
    }
    let mut appliance = tx.prepare_cached(
        "INSERT INTO appliances (site, appliance, records, last_seq, last_idx, last_time_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (site, appliance) DO UPDATE SET
           records = records + excluded.records,
           last_seq = max(last_seq, excluded.last_seq),
           last_idx = excluded.last_idx,
           last_time_ms = excluded.last_time_ms",
    )?;
    for ((site, app), (n, seq, idx, time)) in p.appliances {
        appliance.execute(params![site, app, n, seq, idx, time])?;
    }
    let mut incident = tx.prepare_cached(
        "INSERT INTO incidents
           (site, incident, appliance, check_type, pattern, tier, outcome, started_ms, ended_ms, records, first_idx, last_idx)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (site, incident) DO UPDATE SET
           tier = excluded.tier,
           outcome = excluded.outcome,
           started_ms = min(started_ms, excluded.started_ms),
           ended_ms = max(ended_ms, excluded.ended_ms),
           records = records + excluded.records,
           last_idx = excluded.last_idx",
    )?;
    for ((site, id), a) in p.incidents {
        incident.execute(params![
            site,
            id,
            a.appliance,
            a.check_type,
            a.pattern,
            a.tier,
            a.outcome,
            a.started_ms,
            a.ended_ms,
            a.records,
            a.first_idx,
            a.last_idx
        ])?;
    }
    Ok(())
}

/// Tails the log until `shutdown` resolves, indexing new entries every `interval`.
pub async fn run_indexer(
    index: Arc<QueryIndex>,
    log: Arc<Log>,
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if index.indexed_size().ok() != Some(log.latest().size) {
            let (i, l) = (index.clone(), log.clone());
            match tokio::task::spawn_blocking(move || i.catch_up(&l)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!("indexing failed: {e}"),
                Err(e) => tracing::error!("indexer task failed: {e}"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}
