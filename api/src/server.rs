//! Running a ledger's server: HTTP and gRPC on two listeners, the query-index tailer,
//! the anchoring loop and the publisher, with one graceful shutdown (`run(state, listeners,
//! shutdown)`, so tests drive real sockets on `127.0.0.1:0`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::Config;
pub use crate::state::{AppState, ServerError};

/// The two bound listeners.
pub struct Listeners {
    pub http: TcpListener,
    pub grpc: TcpListener,
}

impl Listeners {
    /// Binds both addresses of the configuration.
    pub async fn bind(config: &Config) -> Result<Listeners, ServerError> {
        let bind = |addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Io {
                    what: format!("binding {addr}"),
                    source,
                })
        };
        Ok(Listeners {
            http: bind(config.http_listen).await?,
            grpc: bind(config.grpc_listen).await?,
        })
    }
}

/// Serves HTTP and gRPC until `shutdown` resolves, then stops accepting, lets requests
/// in progress finish, and closes the log (the sequencer answers everything queued).
pub async fn run(
    state: Arc<AppState>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    };
    let indexer = tokio::spawn(crate::index_tailer::run_indexer(
        state.index.clone(),
        state.log.clone(),
        Duration::from_millis(50),
        stop_rx.clone(),
    ));
    let anchorer = tokio::spawn(crate::anchoring::run(
        state.anchoring.clone(),
        stop_rx.clone(),
    ));
    let rollouter = spawn_rollouts(&state, stop_rx.clone());
    let witnesser = state
        .witnessing
        .clone()
        .map(|w| tokio::spawn(crate::witness::run(w, state.log.clone(), stop_rx.clone())));
    let publisher = match crate::publish::open(&state.config.publish).await {
        Ok(bucket) => {
            bucket.map(|b| tokio::spawn(crate::publish::run(state.clone(), b, stop_rx.clone())))
        }
        Err(e) => {
            return Err(ServerError::Io {
                what: "starting the publisher".into(),
                source: std::io::Error::other(e),
            })
        }
    };
    let http = tokio::spawn(crate::http::serve(
        state.clone(),
        listeners.http,
        wait(stop_rx.clone()),
    ));
    let grpc = tokio::spawn(crate::grpc::serve(
        state.clone(),
        listeners.grpc,
        wait(stop_rx.clone()),
    ));
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let http_result = http.await?;
    let grpc_result = grpc.await?;
    let _ = indexer.await;
    let _ = anchorer.await;
    if let Some(rollouter) = rollouter {
        let _ = rollouter.await;
    }
    if let Some(witnesser) = witnesser {
        let _ = witnesser.await;
    }
    if let Some(publisher) = publisher {
        let _ = publisher.await;
    }
    let log = state.log.clone();
    crate::blocking::blocking(move || log.close())
        .await
        .map_err(|e| ServerError::Io {
            what: "closing the log".into(),
            source: std::io::Error::other(e),
        })?;
    http_result?;
    grpc_result?;
    Ok(())
}

/// Starts the rollout task on the intake's feed of update records (taken once: a second
/// `run` of the same state has no rollout task).
fn spawn_rollouts(
    state: &Arc<AppState>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let feed = state
        .rollout_feed
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()?;
    Some(tokio::spawn(crate::rollout::run(
        state.rollouts.clone(),
        feed,
        stop,
    )))
}

/// Logs to stderr at the level of `LEDGERD_LOG` (default `info`), as `ledgerd` and the
/// in-process server of `ledger-demo` do.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LEDGERD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Installs the ctrl-c (SIGINT) and SIGTERM handlers now and returns a future that
/// resolves when either arrives. Installing before the server announces it is listening
/// matters: a SIGTERM sent right after the announcement must stop the server cleanly
/// instead of killing it with the default disposition.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down");
    })
}
