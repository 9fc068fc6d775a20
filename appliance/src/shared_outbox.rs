//! [`SharedOutbox`]: the one way the agent reaches its SQLite outbox, from plain code and
//! from async code alike.
//!
//! Every outbox call blocks its thread: a commit waits for an fsync (`synchronous=FULL`),
//! and a write may wait up to the busy timeout (30 s) while another process (the `record`
//! command during `run`) holds SQLite's write lock. On a tokio worker thread such a wait
//! stalls every task scheduled there: the gRPC stream, the check-in heartbeat and the
//! shutdown signal. So async code never calls the [`Outbox`] itself; it hands the call
//! to [`SharedOutbox::call`], which runs it on tokio's blocking pool
//! (`spawn_blocking`) and awaits the result. `spawn_blocking` rather than
//! `block_in_place` because the latter panics on a current-thread runtime, which is
//! what `ledger-agent enrol` runs on.
//!
//! Plain (synchronous) code, the library's `record` and `rotate` and the command line,
//! takes the lock with [`SharedOutbox::lock`]. The connection sits behind a mutex so
//! that both kinds of caller, and the check-in task beside the uploader, share one
//! connection; the lock is only ever held for the duration of one outbox call, never
//! across an `.await`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::AgentError;
use crate::outbox::Outbox;

/// The outbox behind a mutex, cheap to clone (every clone is the same connection).
#[derive(Clone)]
pub struct SharedOutbox {
    outbox: Arc<Mutex<Outbox>>,
}

impl SharedOutbox {
    pub fn new(outbox: Outbox) -> SharedOutbox {
        SharedOutbox {
            outbox: Arc::new(Mutex::new(outbox)),
        }
    }

    /// Locks the outbox for synchronous code. Never call this from async code: use
    /// [`SharedOutbox::call`] there.
    ///
    /// A panic during an earlier call leaves the mutex poisoned; the outbox is still
    /// sound then (an unfinished SQLite transaction is rolled back when dropped), so
    /// the lock is taken anyway.
    pub fn lock(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `operation` on the outbox on tokio's blocking pool and waits for it without
    /// holding up the async worker thread. A panic inside `operation` is passed on to
    /// the caller, as if the call had been made directly.
    pub async fn call<T, F>(&self, operation: F) -> Result<T, AgentError>
    where
        F: FnOnce(&mut Outbox) -> Result<T, AgentError> + Send + 'static,
        T: Send + 'static,
    {
        let shared = self.clone();
        let joined = tokio::task::spawn_blocking(move || operation(&mut shared.lock())).await;
        match joined {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(AgentError::io(
                "outbox call cancelled (the runtime is shutting down)",
                std::io::Error::other(e),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn calls_run_off_a_current_thread_runtime_and_share_one_connection() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedOutbox::new(Outbox::open(dir.path()).unwrap());
        let clone = shared.clone();
        clone
            .call(|outbox| outbox.set_last_error("written through a clone"))
            .await
            .unwrap();
        let stats = shared.call(|outbox| outbox.stats(0)).await.unwrap();
        assert_eq!(stats.last_error.as_deref(), Some("written through a clone"));
        assert_eq!(shared.lock().stats(0).unwrap().last_error, stats.last_error);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn errors_of_the_operation_come_back_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedOutbox::new(Outbox::open(dir.path()).unwrap());
        let result: Result<(), AgentError> = shared
            .call(|_| Err(AgentError::InvalidInput("refused".into())))
            .await;
        assert!(
            matches!(result, Err(AgentError::InvalidInput(ref m)) if m == "refused"),
            "{result:?}"
        );
    }
}
