//! The disk reserve: the log refuses new appends at hand-over, with a retryable error,
//! when the data directory's file system has less free space than the reserve. RocksDB never
//! sees a full disk on the write path (after a failed write it refuses every later one
//! until reopened), so the log keeps running and appends succeed again as soon as
//! space is freed, without a restart. Flushes and compactions also need room, which is
//! what the reserve leaves them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::LedgerError;

/// Default reserve: enough for RocksDB to flush its memtables and compact.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 256 << 20;

pub(crate) struct DiskReserve {
    path: PathBuf,
    min_free: u64,
    /// Whether the last check was below the reserve, so the change is logged once.
    low: AtomicBool,
}

/// Bytes available to unprivileged writers on the file system holding `path`.
pub fn available_bytes(path: &Path) -> Result<u64, LedgerError> {
    let stat = rustix::fs::statvfs(path).map_err(|e| LedgerError::Io {
        path: path.display().to_string(),
        source: e.into(),
    })?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

impl DiskReserve {
    pub(crate) fn new(path: &Path, min_free: u64) -> DiskReserve {
        DiskReserve {
            path: path.to_path_buf(),
            min_free,
            low: AtomicBool::new(false),
        }
    }

    /// `Ok` when at least the reserve is free (or no reserve is set).
    pub(crate) fn check(&self) -> Result<(), LedgerError> {
        if self.min_free == 0 {
            return Ok(());
        }
        let available = available_bytes(&self.path)?;
        let low = available < self.min_free;
        if self.low.swap(low, Ordering::Relaxed) != low {
            if low {
                tracing::warn!(
                    "ledger: {} has {available} bytes free, below the reserve of {}: refusing appends until space is freed",
                    self.path.display(),
                    self.min_free
                );
            } else {
                tracing::info!(
                    "ledger: {} has {available} bytes free again: accepting appends",
                    self.path.display()
                );
            }
        }
        if low {
            return Err(LedgerError::NoSpace {
                path: self.path.display().to_string(),
                available,
                reserve: self.min_free,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_above_the_free_space_refuses_and_zero_never_does() {
        let dir = tempfile::tempdir().unwrap();
        let free = available_bytes(dir.path()).unwrap();
        assert!(free > 0);
        assert!(DiskReserve::new(dir.path(), 0).check().is_ok());
        assert!(DiskReserve::new(dir.path(), 1).check().is_ok());
        match DiskReserve::new(dir.path(), u64::MAX).check() {
            Err(LedgerError::NoSpace { reserve, .. }) => assert_eq!(reserve, u64::MAX),
            other => panic!("expected NoSpace, got {other:?}"),
        }
    }
}
