//! `ledgerd` inside the demo's process: the server library on free 127.0.0.1 ports,
//! stamping its checkpoints with the demo's local calendar every 2 seconds, stopped
//! gracefully at the end so its data directory can be opened again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use api::config::{AnchorSettings, Config, RawConfig};
use api::server::ServerError;
use api::{AppState, Listeners};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The log's origin in the demo.
pub const ORIGIN: &str = "demo.evidence-ledger.local/log";

/// A running in-process ledgerd and what the demo's steps need from it.
pub struct Ledgerd {
    /// HTTP base URL, `http://127.0.0.1:<port>`.
    pub http: String,
    /// gRPC URL, `http://127.0.0.1:<port>`.
    pub grpc: String,
    /// The data directory.
    pub data: PathBuf,
    pub state: Arc<AppState>,
    /// The admin credential ledgerd wrote on first start.
    pub admin: String,
    /// The log's verifier key, also written to `vkey_file` for the agents.
    pub vkey: String,
    pub vkey_file: PathBuf,
    stop_tx: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl Ledgerd {
    /// Opens a new data directory in `root` and serves it, anchoring to `calendar_url`.
    pub async fn start(root: &Path, calendar_url: &str) -> anyhow::Result<Ledgerd> {
        let data = root.join("ledgerd-data");
        let config = demo_config(&data, calendar_url)?;
        let listeners = Listeners::bind(&config).await?;
        let http = format!("http://{}", listeners.http.local_addr()?);
        let grpc = format!("http://{}", listeners.grpc.local_addr()?);
        let state = Arc::new(tokio::task::spawn_blocking(move || AppState::open(config)).await??);
        let vkey = state.log.verifier_key();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(api::run(state.clone(), listeners, async move {
            let _ = stop_rx.await;
        }));
        let admin = std::fs::read_to_string(data.join("admin.token"))
            .context("reading the admin token")?
            .trim()
            .to_string();
        let vkey_file = root.join("log.vkey");
        std::fs::write(&vkey_file, format!("{vkey}\n"))?;
        Ok(Ledgerd {
            http,
            grpc,
            data,
            state,
            admin,
            vkey,
            vkey_file,
            stop_tx,
            task,
        })
    }

    /// Stops the server and waits until it has closed the log.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop_tx.send(());
        match self.task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(anyhow::anyhow!("ledgerd stopped with an error: {e}")),
            Err(e) => Err(anyhow::anyhow!("ledgerd task failed: {e}")),
        }
    }
}

/// The demo's configuration: ephemeral loopback ports and fast anchoring.
fn demo_config(data: &Path, calendar_url: &str) -> anyhow::Result<Config> {
    let mut config = Config::validate(RawConfig {
        data_dir: Some(data.to_path_buf()),
        origin: Some(ORIGIN.into()),
        http_listen: Some("127.0.0.1:0".into()),
        grpc_listen: Some("127.0.0.1:0".into()),
        ..RawConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    config.anchor = AnchorSettings {
        enabled: true,
        calendars: vec![calendar_url.to_string()],
        min_calendars: 1,
        interval: Duration::from_secs(2),
        every_entries: 1_000_000,
        upgrade_interval: Duration::from_secs(1),
        pending_alarm: Duration::from_secs(3600),
        timeout: Duration::from_secs(5),
        // The local calendar serves its synthetic chain the way an Esplora API serves
        // Bitcoin's, so the demo's stamp completes only once its header matches.
        bitcoin_api: Some(format!("{calendar_url}/api")),
    };
    Ok(config)
}
