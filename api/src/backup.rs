//! Online backup of a running server's data directory (`POST /v1/admin/backup`,
//! `ledgerd backup --to DIR`).
//!
//! What a restore needs, and in which order it is copied:
//! 1. the log: `db/` and `log.key`, by [`ledger::Log::backup_to`] (a RocksDB checkpoint,
//!    verified by opening it as a log before anything else is copied);
//! 2. `operator.key`, which signs enrolments and revocations;
//! 3. `ledgerd.sqlite` (enrolment tokens, credential hashes, the admin hash) by SQLite's
//!    `VACUUM INTO`.
//!
//! The order matters for consistency between the two stores. An enrolment stores the
//! appliance's credential first and appends the enrolment record second, so a credential
//! database copied *after* the log holds the credential of every enrolment the copied log
//! holds; at worst it also holds a credential whose enrolment came after the log copy,
//! which authenticates an appliance without a key and so can append nothing (the same
//! state a crash between those two steps leaves). `index.sqlite` is not copied: it is
//! derived from the log and rebuilt on the first start of the restored copy.
//!
//! The admin credential file `admin.token` is not copied either: only its hash (in
//! `ledgerd.sqlite`, or the configured `admin_token_sha256`) is needed, and the secret
//! stays wherever the operator keeps it.

use std::path::{Path, PathBuf};

use ledger::CheckpointInfo;

use crate::state::AppState;

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    /// The backup directory; usable as a `data_dir` as it is.
    pub dir: PathBuf,
    /// The latest signed checkpoint in the copy (verified).
    pub checkpoint: CheckpointInfo,
    /// The top-level names written into `dir`.
    pub files: Vec<&'static str>,
}

/// Why a backup failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The log part failed; target problems are [`ledger::LedgerError::BackupTarget`].
    #[error(transparent)]
    Log(#[from] ledger::LedgerError),
    #[error("backing up the state database: {0}")]
    StateDb(#[from] crate::state_db::StateDbError),
}

impl BackupError {
    /// True when the request itself was unusable (bad target), not the server.
    pub fn is_bad_target(&self) -> bool {
        matches!(
            self,
            BackupError::Log(ledger::LedgerError::BackupTarget { .. })
        )
    }
}

/// Writes a backup of the server's state into `target` (absolute, must not exist) while
/// the server keeps serving. Blocking: run it on the blocking pool.
pub fn backup(state: &AppState, target: &Path) -> Result<BackupReport, BackupError> {
    let checkpoint = state.log.backup_to(target)?;
    ledger::backup::copy_secret_file(
        &state.config.data_dir.join("operator.key"),
        &target.join("operator.key"),
    )?;
    state.state_db.backup_to(&target.join("ledgerd.sqlite"))?;
    ledger::backup::sync_dir(target)?;
    tracing::info!(
        "backup written to {} at tree size {}",
        target.display(),
        checkpoint.size
    );
    Ok(BackupReport {
        dir: target.to_path_buf(),
        checkpoint,
        files: vec!["db", "log.key", "operator.key", "ledgerd.sqlite"],
    })
}
