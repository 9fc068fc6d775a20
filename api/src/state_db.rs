//! The server's state database, `<data_dir>/ledgerd.sqlite`: what the server keeps
//! besides the log and cannot rebuild from it — the admin credential hash, enrolment
//! tokens, credential hashes (the `auth` store) and the latest agent check-ins (the
//! `checkins` table). Opened once, with one set of pragmas (WAL, `synchronous=FULL`
//! so an acknowledged write survives power loss, a busy timeout for the online backup)
//! and one schema, and copied consistently by [`StateDb::backup_to`].
//!
//! The query index (`index.sqlite`) is a separate file on purpose: it is derived from
//! the log and may be deleted and rebuilt at any time; this one may not.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection};

/// Every table of the state database. `CREATE TABLE IF NOT EXISTS` keeps opening an
/// existing database a no-op; a change of a table needs a migration step here.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS enrolment_tokens (
    id TEXT PRIMARY KEY,
    secret_sha256 BLOB NOT NULL,
    site TEXT NOT NULL,
    appliance TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_ms INTEGER
);
CREATE TABLE IF NOT EXISTS credentials (
    sha256 BLOB PRIMARY KEY,
    role TEXT NOT NULL,
    site TEXT,
    appliance TEXT,
    sites TEXT,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER
);
CREATE TABLE IF NOT EXISTS checkins (
    site TEXT NOT NULL,
    appliance TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    agent_version TEXT NOT NULL,
    outbox_depth INTEGER NOT NULL,
    oldest_undelivered_age_secs INTEGER,
    last_receipt_index INTEGER,
    last_checkpoint_size INTEGER,
    health TEXT NOT NULL,
    alarms TEXT NOT NULL,
    checkins INTEGER NOT NULL,
    PRIMARY KEY (site, appliance)
);
";

/// Why the state database could not be opened or copied.
#[derive(Debug, thiserror::Error)]
pub enum StateDbError {
    #[error("state database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("state database file {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("backup path {0} is not UTF-8")]
    PathNotUtf8(String),
}

/// The open state database; one connection shared by its users.
pub struct StateDb {
    conn: Mutex<Connection>,
}

impl StateDb {
    /// Opens (creating on first start) `<data_dir>/ledgerd.sqlite`. Blocking.
    pub fn open(data_dir: &Path) -> Result<StateDb, StateDbError> {
        let conn = Connection::open(data_dir.join("ledgerd.sqlite"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        Ok(StateDb {
            conn: Mutex::new(conn),
        })
    }

    /// The connection. Blocking: callers run on the blocking pool.
    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        // A poisoned lock only means another thread panicked mid-statement; SQLite's own
        // transactions keep the file consistent, so the connection stays usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes a consistent copy to `target` (which must not exist) with SQLite's
    /// `VACUUM INTO`, a transactionally consistent snapshot taken while the server keeps
    /// running, then syncs it and makes it readable by the owner only.
    pub fn backup_to(&self, target: &Path) -> Result<(), StateDbError> {
        let io = |source| StateDbError::File {
            path: target.display().to_string(),
            source,
        };
        let name = target
            .to_str()
            .ok_or_else(|| StateDbError::PathNotUtf8(target.display().to_string()))?;
        self.conn().execute("VACUUM INTO ?1", params![name])?;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .open(target)
            .map_err(io)?;
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(io)?;
        f.sync_all().map_err(io)
    }
}
