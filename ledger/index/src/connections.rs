//! The index file and its connections: one writer (the tailer) and a small pool of
//! readers, so dashboard queries are not blocked by an indexing transaction (SQLite's WAL
//! mode lets readers see the last committed state while the writer works).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use crate::sql::stored_to_u64;
use crate::{schema, IndexError};

/// SQLite page cache of the writer connection, in KiB. The record-hash index takes
/// random inserts; with SQLite's default 2 MiB cache each of them would read pages from
/// the OS, which made tailing several times slower than the sequencer on a million
/// entries.
const WRITER_CACHE_KIB: i64 = 128 * 1024;
/// Page cache of each reader connection, in KiB.
const READER_CACHE_KIB: i64 = 16 * 1024;
/// Reader connections kept for reuse; more may be open at once, the rest are closed.
const MAX_POOLED_READERS: usize = 8;

/// The query index: one writer connection (the tailer) and a few reader connections, so
/// dashboard queries are not blocked by an indexing transaction (SQLite WAL mode lets
/// readers see the last committed state while the writer works).
pub struct QueryIndex {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

fn open_connection(path: &Path, cache_kib: i64) -> Result<Connection, rusqlite::Error> {
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
            if pool.len() < MAX_POOLED_READERS {
                pool.push(c);
            }
        }
    }
}

impl QueryIndex {
    /// Opens (creating or rebuilding when the schema version differs) the index file
    /// `<data_dir>/index.sqlite`.
    pub fn open(data_dir: &Path) -> Result<QueryIndex, IndexError> {
        let path = data_dir.join("index.sqlite");
        let conn = open_connection(&path, WRITER_CACHE_KIB)?;
        schema::prepare(&conn)?;
        Ok(QueryIndex {
            path,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// The writer connection; only the tailer writes.
    pub(crate) fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection for read-only queries.
    pub fn reader(&self) -> Result<Reader<'_>, IndexError> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_connection(&self.path, READER_CACHE_KIB)?,
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
        Ok(stored_to_u64(v.unwrap_or(0)))
    }
}
