//! Online backup of a log: [`Log::backup_to`] writes a consistent copy of the store and
//! the log key into a new directory while appends continue, then opens the copy on its
//! own and checks it before calling it a backup.
//!
//! The copy is a RocksDB checkpoint ([`crate::store::Store::checkpoint_to`]): hard links
//! to the immutable SST files plus a copy of the live WAL, so it is cheap and needs no
//! pause of the sequencer. Every group commit is one WAL record, so the copy ends on a
//! batch boundary, and the batch's signed checkpoint is part of it.
//!
//! The check is the one every start performs ([`Log::open`]: recompute the tree and
//! compare it with the last signed checkpoint, verify that checkpoint's signature with
//! the log key), plus one more: the copy's root must equal this log's root at the copy's
//! size, so the backup is a prefix of the live log and not some other history.
//!
//! The layout of the target is that of a data directory (`db/`, `log.key`), so a
//! restore is a copy of the directory; the server adds its own files next to them.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use crate::error::LedgerError;
use crate::log::{CheckpointInfo, Log, LogConfig};

fn target_err(path: &Path, problem: impl Into<String>) -> LedgerError {
    LedgerError::BackupTarget {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Copies a secret file (mode 0600) durably. `to` must not exist.
pub fn copy_secret_file(from: &Path, to: &Path) -> Result<(), LedgerError> {
    let bytes = std::fs::read(from).map_err(io_err(from))?;
    ledger_keyfile::write_secret_file(to, &bytes).map_err(io_err(to))
}

/// Syncs a directory so the names created in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Creates `target` as a new, empty directory with mode 0700 (it will hold the log
/// key). Refuses relative paths, existing paths and missing parents.
pub fn create_target_dir(target: &Path) -> Result<(), LedgerError> {
    if !target.is_absolute() {
        return Err(target_err(target, "must be an absolute path"));
    }
    match std::fs::symlink_metadata(target) {
        Ok(_) => {
            return Err(target_err(
                target,
                "already exists; a backup goes into a new directory",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(target_err(target, e.to_string())),
    }
    let parent = target
        .parent()
        .ok_or_else(|| target_err(target, "has no parent directory"))?;
    if !parent.is_dir() {
        return Err(target_err(
            target,
            format!("parent directory {} does not exist", parent.display()),
        ));
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(target)
        .map_err(|e| target_err(target, e.to_string()))
}

impl Log {
    /// Writes a backup of this log into `target` (absolute, must not exist): `db/` (a
    /// RocksDB checkpoint) and `log.key`. Appends continue meanwhile. Before returning,
    /// the copy is opened as a log of its own, which checks its tree against its last
    /// signed checkpoint and that checkpoint's signature, and its root is compared with
    /// this log's root at the same size. Returns the copy's latest signed checkpoint.
    ///
    /// On failure the partly written directory is left in place for inspection; it is
    /// never a valid backup (the caller reports the error).
    pub fn backup_to(&self, target: &Path) -> Result<CheckpointInfo, LedgerError> {
        create_target_dir(target)?;
        // Crash from here on: `target` holds a partial copy and no success was
        // reported; the live log is untouched (the checkpoint only adds hard links).
        self.store().checkpoint_to(&target.join("db"))?;
        copy_secret_file(&self.dir().join("log.key"), &target.join("log.key"))?;
        sync_dir(target)?;
        let copy = Log::open(LogConfig::new(target, self.origin())).map_err(|e| {
            LedgerError::BackupUnverified {
                path: target.display().to_string(),
                problem: format!("the copy does not open as a log: {e}"),
            }
        })?;
        let info = (*copy.latest()).clone();
        copy.close();
        drop(copy);
        let live_root = self.root_at(info.size)?;
        if live_root != info.root {
            return Err(LedgerError::BackupUnverified {
                path: target.display().to_string(),
                problem: format!(
                    "the copy's root at size {} is {}, the live log's is {live_root}",
                    info.size, info.root
                ),
            });
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_copies_a_verified_prefix_and_refuses_bad_targets() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(LogConfig::new(dir.path().join("live"), "example.org/log")).unwrap();
        for i in 0..300u32 {
            log.append(format!("entry {i}").into_bytes()).unwrap();
        }
        let target = dir.path().join("backup");
        let info = log.backup_to(&target).unwrap();
        assert_eq!(info.size, 300);
        assert_eq!(info.root, log.latest().root);
        // Appends continue on the live log; the copy stays at its size.
        log.append(b"after the backup".to_vec()).unwrap();
        let copy = Log::open(LogConfig::new(&target, "example.org/log")).unwrap();
        assert_eq!(copy.latest().size, 300);
        assert_eq!(copy.entry(299).unwrap(), b"entry 299");
        assert_eq!(copy.verifier_key(), log.verifier_key());
        copy.fsck().unwrap();
        drop(copy);

        // Existing, relative and parentless targets are refused and nothing is written.
        for bad in [
            target.clone(),
            "relative/backup".into(),
            dir.path().join("no/such/parent"),
        ] {
            let err = log.backup_to(&bad).unwrap_err();
            assert!(
                matches!(err, LedgerError::BackupTarget { .. }),
                "{bad:?}: {err}"
            );
        }
        assert!(!dir.path().join("no").exists());
    }
}
