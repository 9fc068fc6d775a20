//! The SQLite outbox (`data_dir/outbox.sqlite`): every record the agent signed, in
//! sequence order, until it is delivered with a verified receipt and, after the
//! retention period, pruned.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`, so a committed transaction is on
//! disk before `COMMIT` returns: a record is durable before `record` returns, and a
//! delivery mark is durable before the uploader moves on. Sequence numbers are assigned
//! inside a `BEGIN IMMEDIATE` transaction (SQLite's write lock), so two processes
//! recording at once (the `record` command while `run` is going) cannot take the same
//! number.
//!
//! The chain head (last sequence, last record hash), the active key id, the identity, the
//! latest trusted checkpoint and any alarm live in the `meta` table, so pruning delivered
//! records never loses them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ledger_core::hash::Hash;
use ledger_record::{KeyId, Record};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::AgentError;

/// File name of the outbox database inside the data directory.
pub const OUTBOX_FILE: &str = "outbox.sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    seq          INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    bytes        BLOB NOT NULL,
    record_hash  BLOB NOT NULL,
    created_ms   INTEGER NOT NULL,
    delivered_ms INTEGER,
    log_index    INTEGER,
    receipt      TEXT
);
CREATE INDEX IF NOT EXISTS records_undelivered ON records(seq) WHERE delivered_ms IS NULL;
CREATE INDEX IF NOT EXISTS records_delivered ON records(delivered_ms) WHERE delivered_ms IS NOT NULL;
CREATE TABLE IF NOT EXISTS alarms (
    id           INTEGER PRIMARY KEY,
    time_ms      INTEGER NOT NULL,
    message      TEXT NOT NULL,
    evidence_dir TEXT NOT NULL
);
";

// Keys of the meta table.
pub(crate) const META_SITE: &str = "site_id";
pub(crate) const META_APPLIANCE: &str = "appliance_id";
pub(crate) const META_ACTIVE_KEY: &str = "active_key_id";
pub(crate) const META_HEAD_SEQ: &str = "head_seq";
pub(crate) const META_HEAD_HASH: &str = "head_hash";
pub(crate) const META_CHECKPOINT: &str = "latest_checkpoint";
pub(crate) const META_LAST_INDEX: &str = "last_receipt_index";
pub(crate) const META_LAST_RECEIPT_MS: &str = "last_receipt_ms";
pub(crate) const META_LAST_ERROR: &str = "last_error";
pub(crate) const META_UNTRUSTED: &str = "untrusted";

/// A record waiting for delivery.
#[derive(Debug, Clone)]
pub struct Pending {
    pub seq: u64,
    pub bytes: Vec<u8>,
    pub record_hash: Hash,
}

/// A delivered record's proof, written in the same transaction as the mark.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub seq: u64,
    pub log_index: u64,
    /// The verified C2SP tlog-proof text.
    pub receipt: String,
}

/// What a freshly recorded record got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    pub sequence: u64,
    /// Hex SHA-256 of the record bytes.
    pub record_hash: String,
}

/// A record kept in the outbox, as listed by [`Outbox::all_records`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptRecord {
    pub sequence: u64,
    pub bytes: Vec<u8>,
    /// The log index, once delivered.
    pub log_index: Option<u64>,
}

/// A raised alarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alarm {
    pub time_ms: u64,
    pub message: String,
    pub evidence_dir: String,
}

/// Outbox figures for `status` and the check-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub site_id: Option<String>,
    pub appliance_id: Option<String>,
    pub active_key_id: Option<String>,
    /// Records recorded so far (the chain head's sequence).
    pub head_sequence: u64,
    /// Records not yet delivered.
    pub outbox_depth: u64,
    /// Age of the oldest undelivered record, seconds.
    pub oldest_undelivered_age_secs: Option<u64>,
    /// Records kept (delivered ones within retention plus undelivered).
    pub records_kept: u64,
    pub last_receipt_index: Option<u64>,
    pub last_receipt_ms: Option<u64>,
    pub last_checkpoint_size: Option<u64>,
    pub last_checkpoint_root: Option<String>,
    pub last_error: Option<String>,
    /// False once an alarm made the agent stop trusting the log.
    pub trusting_log: bool,
    pub alarms: Vec<Alarm>,
}

/// The outbox: one SQLite connection.
pub struct Outbox {
    conn: Connection,
    path: PathBuf,
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Outbox {
    /// Opens (creating if needed) the outbox of `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Outbox, AgentError> {
        create_data_dir(data_dir)?;
        let path = data_dir.join(OUTBOX_FILE);
        let conn = Connection::open(&path)
            .map_err(|e| AgentError::outbox(format!("opening {}", path.display()), e))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(|e| AgentError::outbox("setting busy timeout", e))?;
        // WAL so readers (status, check-in) never block the writer; FULL so a commit is
        // synced to disk before it returns (the WAL is fsynced at every commit).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| AgentError::outbox("enabling WAL", e))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| AgentError::outbox("setting synchronous=FULL", e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| AgentError::outbox("creating schema", e))?;
        Ok(Outbox { conn, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn meta(&self, key: &str) -> Result<Option<String>, AgentError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| AgentError::outbox(format!("reading {key}"), e))
    }

    pub(crate) fn set_meta(&self, key: &str, value: &str) -> Result<(), AgentError> {
        set_meta(&self.conn, key, value)
    }

    /// The active signing key's id, once enrolled.
    pub fn active_key_id(&self) -> Result<Option<KeyId>, AgentError> {
        Ok(self.meta(META_ACTIVE_KEY)?.and_then(|h| {
            hex::decode(h)
                .ok()
                .and_then(|v| <[u8; 8]>::try_from(v).ok())
                .map(KeyId)
        }))
    }

    /// Records the identity and first key after a successful enrolment, in one
    /// transaction.
    pub fn set_enrolled(
        &mut self,
        site_id: &str,
        appliance_id: &str,
        key_id: &KeyId,
        checkpoint: &str,
    ) -> Result<(), AgentError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| AgentError::outbox("beginning enrolment", e))?;
        set_meta(&tx, META_SITE, site_id)?;
        set_meta(&tx, META_APPLIANCE, appliance_id)?;
        set_meta(&tx, META_ACTIVE_KEY, &hex::encode(key_id.as_bytes()))?;
        set_meta(&tx, META_CHECKPOINT, checkpoint)?;
        tx.commit()
            .map_err(|e| AgentError::outbox("committing enrolment", e))
    }

    /// Appends records made by `make`, which gets each record's sequence and previous
    /// hash and returns the signed record (and optionally a new active key id, for a
    /// rotation). All in one transaction: either every record is durable or none.
    pub fn append_with<F>(&mut self, count: usize, mut make: F) -> Result<Vec<Recorded>, AgentError>
    where
        F: FnMut(u64, Hash) -> Result<(Record, Option<KeyId>), AgentError>,
    {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| AgentError::outbox("beginning record", e))?;
        let mut seq = get_meta(&tx, META_HEAD_SEQ)?
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        let mut prev = match get_meta(&tx, META_HEAD_HASH)? {
            Some(h) => Hash::from_slice(&hex::decode(h).unwrap_or_default()).ok_or_else(|| {
                AgentError::InvalidInput("outbox chain head hash is corrupt".into())
            })?,
            None => Hash([0; 32]),
        };
        let now = now_ms();
        let mut out = Vec::with_capacity(count);
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO records (seq, kind, bytes, record_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| AgentError::outbox("preparing insert", e))?;
            for _ in 0..count {
                seq += 1;
                let (record, new_key) = make(seq, prev)?;
                let hash = Hash(Sha256::digest(record.as_bytes()).into());
                insert
                    .execute(params![
                        seq as i64,
                        record.kind().as_str(),
                        record.as_bytes(),
                        hash.as_bytes().as_slice(),
                        now as i64
                    ])
                    .map_err(|e| AgentError::outbox("inserting record", e))?;
                if let Some(k) = new_key {
                    set_meta(&tx, META_ACTIVE_KEY, &hex::encode(k.as_bytes()))?;
                }
                prev = hash;
                out.push(Recorded {
                    sequence: seq,
                    record_hash: hex::encode(hash.as_bytes()),
                });
            }
        }
        set_meta(&tx, META_HEAD_SEQ, &seq.to_string())?;
        set_meta(&tx, META_HEAD_HASH, &hex::encode(prev.as_bytes()))?;
        // Crash note: until this commit returns nothing of the above exists; after it,
        // the records and the new chain head are on disk together (synchronous=FULL).
        tx.commit()
            .map_err(|e| AgentError::outbox("committing record", e))?;
        Ok(out)
    }

    /// Up to `limit` undelivered records, oldest first.
    pub fn pending(&self, limit: usize) -> Result<Vec<Pending>, AgentError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, bytes, record_hash FROM records WHERE delivered_ms IS NULL ORDER BY seq LIMIT ?1",
            )
            .map_err(|e| AgentError::outbox("preparing pending", e))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                let hash: Vec<u8> = r.get(2)?;
                Ok(Pending {
                    seq: u64_of(r.get(0)?),
                    bytes: r.get(1)?,
                    record_hash: Hash::from_slice(&hash).unwrap_or(Hash([0; 32])),
                })
            })
            .map_err(|e| AgentError::outbox("reading pending", e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| AgentError::outbox("reading pending", e))
    }

    /// Marks records delivered with their verified receipts and stores the latest
    /// trusted checkpoint, in one transaction.
    pub fn mark_delivered(
        &mut self,
        deliveries: &[Delivery],
        latest_checkpoint: &str,
    ) -> Result<(), AgentError> {
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| AgentError::outbox("beginning delivery", e))?;
        {
            let mut upd = tx
                .prepare_cached(
                    "UPDATE records SET delivered_ms = ?1, log_index = ?2, receipt = ?3 WHERE seq = ?4 AND delivered_ms IS NULL",
                )
                .map_err(|e| AgentError::outbox("preparing delivery", e))?;
            for d in deliveries {
                upd.execute(params![
                    now as i64,
                    d.log_index as i64,
                    d.receipt,
                    d.seq as i64
                ])
                .map_err(|e| AgentError::outbox("marking delivered", e))?;
            }
        }
        if let Some(last) = deliveries.iter().max_by_key(|d| d.seq) {
            set_meta(&tx, META_LAST_INDEX, &last.log_index.to_string())?;
            set_meta(&tx, META_LAST_RECEIPT_MS, &now.to_string())?;
        }
        set_meta(&tx, META_CHECKPOINT, latest_checkpoint)?;
        tx.execute("DELETE FROM meta WHERE key = ?1", [META_LAST_ERROR])
            .map_err(|e| AgentError::outbox("clearing last error", e))?;
        // Crash note: a crash before this commit leaves the records undelivered; the
        // next attempt re-sends identical bytes and the server answers with the original
        // index (idempotent), so nothing is logged twice.
        tx.commit()
            .map_err(|e| AgentError::outbox("committing delivery", e))
    }

    /// Stores the latest trusted checkpoint (after a verified consistency check).
    pub fn set_checkpoint(&self, note: &str) -> Result<(), AgentError> {
        self.set_meta(META_CHECKPOINT, note)
    }

    /// The latest trusted checkpoint note, if any.
    pub fn checkpoint(&self) -> Result<Option<String>, AgentError> {
        self.meta(META_CHECKPOINT)
    }

    /// Remembers the last delivery problem (shown by `status`, cleared on success).
    pub fn set_last_error(&self, message: &str) -> Result<(), AgentError> {
        self.set_meta(META_LAST_ERROR, message)
    }

    /// Records an alarm and stops trusting the log, in one transaction.
    pub fn raise_alarm(&mut self, message: &str, evidence_dir: &Path) -> Result<(), AgentError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| AgentError::outbox("beginning alarm", e))?;
        tx.execute(
            "INSERT INTO alarms (time_ms, message, evidence_dir) VALUES (?1, ?2, ?3)",
            params![now_ms() as i64, message, evidence_dir.display().to_string()],
        )
        .map_err(|e| AgentError::outbox("recording alarm", e))?;
        set_meta(&tx, META_UNTRUSTED, message)?;
        tx.commit()
            .map_err(|e| AgentError::outbox("committing alarm", e))
    }

    /// The alarm message if the agent stopped trusting the log.
    pub fn untrusted(&self) -> Result<Option<String>, AgentError> {
        self.meta(META_UNTRUSTED)
    }

    /// Every alarm raised, oldest first.
    pub fn alarms(&self) -> Result<Vec<Alarm>, AgentError> {
        let mut stmt = self
            .conn
            .prepare("SELECT time_ms, message, evidence_dir FROM alarms ORDER BY id")
            .map_err(|e| AgentError::outbox("reading alarms", e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Alarm {
                    time_ms: u64_of(r.get(0)?),
                    message: r.get(1)?,
                    evidence_dir: r.get(2)?,
                })
            })
            .map_err(|e| AgentError::outbox("reading alarms", e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| AgentError::outbox("reading alarms", e))
    }

    /// A delivered record's log index and receipt, by sequence (None if unknown,
    /// undelivered or pruned).
    pub fn delivery(&self, seq: u64) -> Result<Option<(Vec<u8>, u64, String)>, AgentError> {
        self.conn
            .query_row(
                "SELECT bytes, log_index, receipt FROM records WHERE seq = ?1 AND delivered_ms IS NOT NULL",
                [seq as i64],
                |r| Ok((r.get(0)?, u64_of(r.get(1)?), r.get(2)?)),
            )
            .optional()
            .map_err(|e| AgentError::outbox("reading delivery", e))
    }

    /// Every record kept, oldest first.
    pub fn all_records(&self) -> Result<Vec<KeptRecord>, AgentError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, bytes, log_index FROM records ORDER BY seq")
            .map_err(|e| AgentError::outbox("reading records", e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(KeptRecord {
                    sequence: u64_of(r.get(0)?),
                    bytes: r.get(1)?,
                    log_index: r.get::<_, Option<i64>>(2)?.map(u64_of),
                })
            })
            .map_err(|e| AgentError::outbox("reading records", e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| AgentError::outbox("reading records", e))
    }

    /// Outbox figures at `now_ms`.
    pub fn stats(&self, now_ms: u64) -> Result<Stats, AgentError> {
        let (depth, oldest): (i64, Option<i64>) = self
            .conn
            .query_row(
                "SELECT COUNT(*), MIN(created_ms) FROM records WHERE delivered_ms IS NULL",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| AgentError::outbox("counting pending", e))?;
        let kept: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
            .map_err(|e| AgentError::outbox("counting records", e))?;
        let checkpoint = self.checkpoint()?;
        let (size, root) = match checkpoint
            .as_deref()
            .and_then(|c| ledger_core::note::Note::parse(c.as_bytes()).ok())
            .and_then(|n| ledger_core::checkpoint::Checkpoint::parse(n.text()).ok())
        {
            Some(c) => (Some(c.size), Some(hex::encode(c.root.as_bytes()))),
            None => (None, None),
        };
        let num = |k: &str| -> Result<Option<u64>, AgentError> {
            Ok(self.meta(k)?.and_then(|v| v.parse().ok()))
        };
        Ok(Stats {
            site_id: self.meta(META_SITE)?,
            appliance_id: self.meta(META_APPLIANCE)?,
            active_key_id: self.meta(META_ACTIVE_KEY)?,
            head_sequence: num(META_HEAD_SEQ)?.unwrap_or(0),
            outbox_depth: u64_of(depth),
            oldest_undelivered_age_secs: oldest.map(|t| now_ms.saturating_sub(u64_of(t)) / 1000),
            records_kept: u64_of(kept),
            last_receipt_index: num(META_LAST_INDEX)?,
            last_receipt_ms: num(META_LAST_RECEIPT_MS)?,
            last_checkpoint_size: size,
            last_checkpoint_root: root,
            last_error: self.meta(META_LAST_ERROR)?,
            trusting_log: self.untrusted()?.is_none(),
            alarms: self.alarms()?,
        })
    }

    /// Deletes delivered records delivered before `now_ms - retention`, never an
    /// undelivered one, then compacts the database. Returns how many were deleted.
    pub fn prune(&mut self, now_ms: u64, retention: Duration) -> Result<usize, AgentError> {
        let cutoff = now_ms.saturating_sub(retention.as_millis() as u64);
        let n = self
            .conn
            .execute(
                "DELETE FROM records WHERE delivered_ms IS NOT NULL AND delivered_ms < ?1",
                [cutoff as i64],
            )
            .map_err(|e| AgentError::outbox("pruning", e))?;
        if n > 0 {
            // VACUUM rewrites the file without the freed pages; then the WAL is
            // truncated so the space is returned to the file system.
            self.conn
                .execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
                .map_err(|e| AgentError::outbox("vacuuming", e))?;
        }
        Ok(n)
    }

    /// Test and benchmark helper: sets the delivery time of delivered records (used to
    /// exercise retention without waiting 30 days).
    #[doc(hidden)]
    pub fn backdate_deliveries(&self, delivered_ms: u64) -> Result<usize, AgentError> {
        self.conn
            .execute(
                "UPDATE records SET delivered_ms = ?1 WHERE delivered_ms IS NOT NULL",
                [delivered_ms as i64],
            )
            .map_err(|e| AgentError::outbox("backdating", e))
    }
}

fn get_meta(conn: &Connection, key: &str) -> Result<Option<String>, AgentError> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .map_err(|e| AgentError::outbox(format!("reading {key}"), e))
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), AgentError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .map(|_| ())
    .map_err(|e| AgentError::outbox(format!("writing {key}"), e))
}

/// Creates the data directory (mode 0700) if it does not exist.
pub fn create_data_dir(data_dir: &Path) -> Result<(), AgentError> {
    use std::os::unix::fs::DirBuilderExt;
    if data_dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| AgentError::io(format!("creating data directory {}", data_dir.display()), e))
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
