//! The one way async code of the server reaches blocking storage: RocksDB reads and
//! synced writes, SQLite, file I/O and child processes run on tokio's blocking pool
//! through [`blocking`], never on an async worker thread, where they would stall every
//! other request scheduled on that worker. `.ci/run` checks that no `async fn` of the
//! server calls a known blocking storage method outside such a closure
//! (`api/tests/blocking_calls.py`).

/// The blocking task did not finish: it panicked, or the runtime is shutting down.
#[derive(Debug, thiserror::Error)]
#[error("blocking task failed: {0}")]
pub struct TaskFailed(#[from] tokio::task::JoinError);

/// Runs `f` on the blocking pool and waits for its answer.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TaskFailed> {
    Ok(tokio::task::spawn_blocking(f).await?)
}
