//! The server's shared state: the log, the intake, the credential store, the query
//! index, anchoring and check-ins, opened once from the data directory and shared by
//! the HTTP and gRPC edges and the background tasks.

use std::sync::Arc;

use ledger::{Log, LogConfig, SequencerConfig};
use ledger_index::{IndexError, QueryIndex};

use crate::anchoring::{AnchorError, Anchoring};
use crate::auth::{Auth, AuthStoreError};
use crate::checkins::CheckinStore;
use crate::config::Config;
use crate::intake::{Intake, IntakeConfig, IntakeOpenError};
use crate::operator::{OperatorKey, OperatorKeyError};
use crate::state_db::{StateDb, StateDbError};

/// Evidence-package exports that run at once (`AppState::exports`).
pub const EXPORT_SLOTS: usize = 4;

/// Everything the handlers share.
pub struct AppState {
    pub config: Config,
    pub log: Arc<Log>,
    pub intake: Arc<Intake>,
    pub auth: Arc<Auth>,
    pub index: Arc<QueryIndex>,
    pub anchoring: Arc<Anchoring>,
    /// Agent check-ins (not log records), in the state database.
    pub checkins: Arc<CheckinStore>,
    /// `ledgerd.sqlite`, shared by `auth` and `checkins`; copied by backups.
    pub state_db: Arc<StateDb>,
    /// Evidence-package exports running at once; more wait for a slot. Each streams
    /// with bounded memory; the bound keeps the blocking pool and the disk for intake.
    pub exports: Arc<tokio::sync::Semaphore>,
    /// The witnesses of the policy file, when one is configured.
    pub witnessing: Option<Arc<crate::witness::Witnessing>>,
    /// Where the log ended, when its period is over (`ledgerd period freeze`).
    pub frozen: Option<crate::period::Frozen>,
    /// Staged rollouts of releases (docs/UPDATES.md).
    pub rollouts: Arc<crate::rollout::Rollouts>,
    /// The intake's newly logged update records, taken once by the rollout task.
    pub rollout_feed: std::sync::Mutex<
        Option<tokio::sync::mpsc::UnboundedReceiver<(u64, ledger_record::Record)>>,
    >,
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
    StateDb(#[from] StateDbError),
    #[error(transparent)]
    Witness(#[from] crate::witness::WitnessError),
    #[error(transparent)]
    Period(#[from] crate::period::PeriodError),
    #[error("opening the intake state: {0}")]
    Intake(#[from] IntakeOpenError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("gRPC server: {0}")]
    Grpc(String),
    #[error("background task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The log's configuration from the server's: origin, batching, and the intake's
/// deriver (chain heads and key-record positions are written with every batch, so
/// opening the intake does not scan the log).
pub fn log_config(config: &Config) -> LogConfig {
    let mut log_config = LogConfig::new(&config.data_dir, &config.origin);
    log_config.sequencer = SequencerConfig {
        max_batch: config.sequencer_max_batch,
        max_delay: config.sequencer_max_delay,
        queue_capacity: config.sequencer_queue_capacity,
    };
    log_config.store.min_free_bytes = config.min_free_disk_bytes;
    log_config.deriver = Some(crate::intake::derived::deriver());
    log_config
}

impl AppState {
    /// Opens (creating on first start) the log, the operator key, the state database,
    /// the query index and the intake state in the data directory. Blocking: call it before starting the runtime's servers or on the blocking
    /// pool.
    pub fn open(config: Config) -> Result<AppState, ServerError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::Io {
            what: format!("creating data directory {}", config.data_dir.display()),
            source,
        })?;
        let log_config = log_config(&config);
        let log = Arc::new(Log::open(log_config).map_err(|source| ServerError::Ledger {
            dir: config.data_dir.display().to_string(),
            source,
        })?);
        let operator = OperatorKey::load_or_create(&config.data_dir.join("operator.key"))?;
        let frozen = crate::period::read_frozen(&config.data_dir)?;
        if let Some(f) = &frozen {
            tracing::warn!(
                "the log is frozen at tree size {} (its period is over): appends are refused, reads go on",
                f.size
            );
        }
        let state_db = Arc::new(StateDb::open(&config.data_dir)?);
        let auth = Arc::new(Auth::open(
            state_db.clone(),
            &config.data_dir,
            config.admin_token_sha256,
        )?);
        let anchoring = Arc::new(Anchoring::open(log.clone(), config.anchor.clone())?);
        let checkins = Arc::new(CheckinStore::new(state_db.clone()));
        let witnessing = crate::witness::Witnessing::open(&config.witness, &log, state_db.clone())?;
        let gate = witnessing.as_ref().map(|w| w.gate.clone());
        if let Some(gate) = &gate {
            anchoring.set_witness_gate(gate.clone());
        }
        // The index catches up in the background (`index_tailer`), so a missing or
        // lagging index never delays the start; its lag is a metric.
        let index = Arc::new(QueryIndex::open(&config.data_dir)?);
        let intake = Arc::new(
            Intake::open(
                log.clone(),
                operator,
                IntakeConfig {
                    max_future_skew: config.max_future_skew,
                    max_batch_records: config.max_batch_records,
                    retry_after_secs: config.retry_after_secs,
                    operator_chain: config.operator_chain(),
                    frozen_at: frozen.as_ref().map(|f| f.size),
                },
            )
            .map_err(ServerError::Intake)?
            .with_witness_gate(gate),
        );
        let (feed_tx, feed_rx) = tokio::sync::mpsc::unbounded_channel();
        intake.set_fleet_feed(feed_tx);
        let stale_after = config.checkin_interval * config.stale_after_missed_checkins as u32;
        let rollouts = Arc::new(
            crate::rollout::Rollouts::open(&log, intake.clone(), checkins.clone(), stale_after)
                .map_err(ServerError::Intake)?,
        );
        Ok(AppState {
            rollouts,
            rollout_feed: std::sync::Mutex::new(Some(feed_rx)),
            config,
            log,
            intake,
            auth,
            index,
            anchoring,
            checkins,
            state_db,
            exports: Arc::new(tokio::sync::Semaphore::new(EXPORT_SLOTS)),
            witnessing,
            frozen,
        })
    }
}
