//! The witness's state in SQLite: per origin, the latest cosigned size, root and note
//! (the log's note as received plus our cosignature line).
//!
//! One connection, opened with `journal_mode=WAL` and `synchronous=FULL` so a commit
//! is on disk when it returns. It is used by one thread at a time (the owner keeps it
//! behind a mutex), and every advance is also a compare-and-set on the old size inside
//! an immediate transaction, so even two connections could never both advance from the
//! same size.
//!
//! SQLite integers are signed 64-bit; sizes are stored as the same 64 bits
//! reinterpreted (`u64` ↔ `i64`), which keeps equality exact for every `u64`. The
//! store never compares sizes in SQL other than for equality.

use std::path::Path;

use ledger_core::hash::Hash;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::error::WitnessError;

/// What the witness stored for one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    pub root: Hash,
    /// The cosigned note: the log's signatures and our cosignature line.
    pub note: String,
}

/// The state database.
pub struct Store {
    conn: Connection,
}

fn to_sql(size: u64) -> i64 {
    i64::from_be_bytes(size.to_be_bytes())
}

fn from_sql(size: i64) -> u64 {
    u64::from_be_bytes(size.to_be_bytes())
}

impl Store {
    /// Opens (creating if needed) the state file at `path`.
    pub fn open(path: &Path) -> Result<Store, WitnessError> {
        let conn = Connection::open(path).map_err(|e| {
            WitnessError::Config(format!("opening witness state {}: {e}", path.display()))
        })?;
        Store::init(conn).map_err(|e| {
            WitnessError::Config(format!("preparing witness state {}: {e}", path.display()))
        })
    }

    fn init(conn: Connection) -> Result<Store, rusqlite::Error> {
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::InvalidParameterName(format!(
                "journal_mode is {mode}, not wal"
            )));
        }
        conn.execute_batch(
            "PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS latest (
                 origin TEXT PRIMARY KEY NOT NULL,
                 size INTEGER NOT NULL,
                 root BLOB NOT NULL CHECK (length(root) = 32),
                 note TEXT NOT NULL
             );",
        )?;
        Ok(Store { conn })
    }

    /// The latest cosigned checkpoint of `origin`, if any.
    pub fn latest(&self, origin: &str) -> Result<Option<Stored>, WitnessError> {
        let row = self
            .conn
            .query_row(
                "SELECT size, root, note FROM latest WHERE origin = ?1",
                params![origin],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()?;
        let Some((size, root, note)) = row else {
            return Ok(None);
        };
        let root = Hash::from_slice(&root).ok_or_else(|| {
            WitnessError::Storage(format!("stored root of {origin:?} is damaged"))
        })?;
        Ok(Some(Stored {
            size: from_sql(size),
            root,
            note,
        }))
    }

    /// Replaces the state of `origin` with `new` if its stored size is still `old`
    /// (`None`: nothing stored yet). Answers false, changing nothing, when another
    /// writer got there first.
    pub fn advance(
        &mut self,
        origin: &str,
        old: Option<u64>,
        new: &Stored,
    ) -> Result<bool, WitnessError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = match old {
            Some(old) => tx.execute(
                "UPDATE latest SET size = ?1, root = ?2, note = ?3
                 WHERE origin = ?4 AND size = ?5",
                params![
                    to_sql(new.size),
                    &new.root.0[..],
                    new.note,
                    origin,
                    to_sql(old)
                ],
            )?,
            None => tx.execute(
                "INSERT INTO latest (origin, size, root, note) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (origin) DO NOTHING",
                params![origin, to_sql(new.size), &new.root.0[..], new.note],
            )?,
        };
        if changed != 1 {
            // Dropping the transaction rolls it back; nothing was written.
            return Ok(false);
        }
        // Crash note: if the process dies before this commit returns, the WAL holds no
        // commit record and recovery keeps the old state; no cosignature has been sent.
        tx.commit()?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(size: u64, b: u8) -> Stored {
        Stored {
            size,
            root: Hash([b; 32]),
            note: format!("note {size}"),
        }
    }

    #[test]
    fn advance_is_a_compare_and_set_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite");
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.latest("a").unwrap(), None);
        assert!(s.advance("a", None, &stored(3, 1)).unwrap());
        assert!(!s.advance("a", None, &stored(4, 2)).unwrap());
        assert!(!s.advance("a", Some(2), &stored(4, 2)).unwrap());
        assert!(s.advance("a", Some(3), &stored(u64::MAX, 3)).unwrap());
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.latest("a").unwrap(), Some(stored(u64::MAX, 3)));
        assert_eq!(s.latest("b").unwrap(), None);
    }
}
