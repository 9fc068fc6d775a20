//! The index's one error type. Everything here is storage I/O (SQLite, or RocksDB while
//! reading the log): there is no malformed input, because entries that do not decode as
//! records are skipped, and no verification, because the log already verified them. The
//! server answers these as internal errors without leaking the details.

/// Why the index could not be read or written; an internal error for clients.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("query index: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("query index: reading the log: {0}")]
    Log(#[from] ledger::LedgerError),
}
