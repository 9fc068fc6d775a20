//! Opening a ledger's server state and running HTTP and gRPC on two listeners with one
//! graceful shutdown (`run(state, listeners, shutdown)`, so tests drive real sockets on
//! `127.0.0.1:0`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ledger::{Log, LogConfig, SequencerConfig};
use ledger_index::{IndexError, QueryIndex};
use tokio::net::TcpListener;

use crate::anchoring::{AnchorError, Anchoring};
use crate::auth::{Auth, AuthStoreError};
use crate::config::Config;
use crate::fleet::{CheckinStore, CheckinStoreError};
use crate::intake::{Intake, IntakeConfig, IntakeOpenError};
use crate::operator::{OperatorKey, OperatorKeyError};

/// Everything the handlers share.
pub struct AppState {
    pub config: Config,
    pub log: Arc<Log>,
    pub intake: Arc<Intake>,
    pub auth: Arc<Auth>,
    pub index: Arc<QueryIndex>,
    pub anchoring: Arc<Anchoring>,
    /// Agent check-ins (not log records), in `ledgerd.sqlite`.
    pub checkins: Arc<CheckinStore>,
    /// One evidence-package export at a time: an export holds its whole package in
    /// memory (hundreds of MB for a large site), so concurrent ones answer 503.
    pub exports: Arc<tokio::sync::Semaphore>,
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("opening the log in {dir}: {source}")]
    Ledger {
        dir: String,
        #[source]
        source: ledger::LedgerError,
    },
    #[error(transparent)]
    OperatorKey(#[from] OperatorKeyError),
    #[error(transparent)]
    Auth(#[from] AuthStoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Anchor(#[from] AnchorError),
    #[error(transparent)]
    Checkins(#[from] CheckinStoreError),
    #[error("rebuilding intake state from the log: {0}")]
    Intake(IntakeOpenError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("background task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl AppState {
    /// Opens (creating on first start) the log, the operator key, the auth database and
    /// the query index in the data directory, then rebuilds the intake state from the
    /// log. Blocking: call it before starting the runtime's servers or on the blocking
    /// pool.
    pub fn open(config: Config) -> Result<AppState, ServerError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::Io {
            what: format!("creating data directory {}", config.data_dir.display()),
            source,
        })?;
        let mut log_config = LogConfig::new(&config.data_dir, &config.origin);
        log_config.sequencer = SequencerConfig {
            max_batch: config.sequencer_max_batch,
            max_delay: config.sequencer_max_delay,
            queue_capacity: config.sequencer_queue_capacity,
        };
        let log = Arc::new(Log::open(log_config).map_err(|source| ServerError::Ledger {
            dir: config.data_dir.display().to_string(),
            source,
        })?);
        let operator = OperatorKey::load_or_create(&config.data_dir.join("operator.key"))?;
        let auth = Arc::new(Auth::open(&config.data_dir, config.admin_token_sha256)?);
        let anchoring = Arc::new(Anchoring::open(log.clone(), config.anchor.clone())?);
        let checkins = Arc::new(CheckinStore::open(&config.data_dir)?);
        let index = Arc::new(QueryIndex::open(&config.data_dir)?);
        index.catch_up(&log)?;
        let intake = Arc::new(
            Intake::open(
                log.clone(),
                operator,
                IntakeConfig {
                    max_future_skew: config.max_future_skew,
                    max_batch_records: config.max_batch_records,
                    retry_after_secs: config.retry_after_secs,
                    operator_chain: config.operator_chain(),
                },
            )
            .map_err(ServerError::Intake)?,
        );
        Ok(AppState {
            config,
            log,
            intake,
            auth,
            index,
            anchoring,
            checkins,
            exports: Arc::new(tokio::sync::Semaphore::new(1)),
        })
    }
}

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
    let http = {
        let app = crate::http::router(state.clone());
        let signal = wait(stop_rx.clone());
        tokio::spawn(async move {
            axum::serve(listeners.http, app)
                .with_graceful_shutdown(signal)
                .await
                .map_err(|source| ServerError::Io {
                    what: "HTTP server".into(),
                    source,
                })
        })
    };
    let grpc = {
        let service = crate::grpc::service(state.clone());
        let signal = wait(stop_rx.clone());
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listeners.grpc);
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, signal)
                .await
                .map_err(ServerError::Grpc)
        })
    };
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let http_result = http.await?;
    let grpc_result = grpc.await?;
    let _ = indexer.await;
    let _ = anchorer.await;
    let log = state.log.clone();
    tokio::task::spawn_blocking(move || log.close()).await?;
    http_result?;
    grpc_result?;
    Ok(())
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
