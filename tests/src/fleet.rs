//! Appliances of the fault-matrix tests: each one a data directory, a configuration
//! file, a real `ledger-agent run` process that delivers, and the agent library opened
//! in the test process to add records to the same outbox (sequence numbers are assigned
//! under SQLite's write lock, so the two never take the same number).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use appliance::outbox::now_ms;
use appliance::{Agent, Config, InputKind, KeptRecord, Outbox, Stats};

use crate::procs::{agent_bin, Ledgerd};

/// The site every test appliance belongs to.
pub const SITE: &str = "fault-site";

/// One appliance.
pub struct AgentBox {
    pub name: String,
    pub transport: &'static str,
    pub data_dir: PathBuf,
    pub config_file: PathBuf,
    /// Where the `run` processes' log lines (warnings and errors) are appended.
    pub log_file: PathBuf,
    agent: Agent,
    child: Option<Child>,
    /// Records made so far through [`AgentBox::record`].
    next_input: u64,
}

impl Drop for AgentBox {
    fn drop(&mut self) {
        self.kill();
    }
}

fn evidence_json(n: u64) -> String {
    format!(
        r#"{{"items": [{{"check_type": "disk_encryption", "host": "ws-{n}", "status": "pass",
            "observed_at": 1700000000000, "details": "check {n}",
            "controls": ["HIPAA:164.312(a)(2)(iv)"]}}]}}"#
    )
}

impl AgentBox {
    /// Writes the configuration under `root/name`, pointed at `server_url` and
    /// `grpc_url` (the server itself or a proxy in front of it), and enrols with the
    /// real `ledger-agent enrol` and a token from `server`.
    pub async fn enrol(
        root: &Path,
        name: &str,
        transport: &'static str,
        server: &Ledgerd,
        urls: (&str, &str),
    ) -> AgentBox {
        AgentBox::enrol_with(root, name, transport, server, urls, "").await
    }

    /// As [`AgentBox::enrol`], with `extra` TOML lines appended to the configuration.
    pub async fn enrol_with(
        root: &Path,
        name: &str,
        transport: &'static str,
        server: &Ledgerd,
        urls: (&str, &str),
        extra: &str,
    ) -> AgentBox {
        AgentBox::enrol_at(root, SITE, name, transport, server, urls, extra).await
    }

    /// As [`AgentBox::enrol_with`], for an appliance of `site` (its directory is
    /// `root/name`, so names must differ across sites).
    pub async fn enrol_at(
        root: &Path,
        site: &str,
        name: &str,
        transport: &'static str,
        server: &Ledgerd,
        urls: (&str, &str),
        extra: &str,
    ) -> AgentBox {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("agent directory");
        let key_file = dir.join("log.pub");
        std::fs::write(&key_file, server.log_key().await).expect("log key file");
        let data_dir = dir.join("data");
        let text = format!(
            "data_dir = {:?}\nserver_url = {:?}\ngrpc_url = {:?}\ntransport = {transport:?}\nlog_key_file = {:?}\nsite_id = {site:?}\nappliance_id = {name:?}\nbatch_size = 16\nmax_backoff_secs = 1\ncheckin_interval_secs = 1\n",
            data_dir.display().to_string(),
            urls.0,
            urls.1,
            key_file.display().to_string(),
        ) + extra;
        let config_file = dir.join("agent.toml");
        std::fs::write(&config_file, &text).expect("agent configuration");
        let token = server.token(site, name).await;
        let out = agent_cmd(&config_file)
            .args(["enrol", "--token", &token])
            .output()
            .expect("running ledger-agent enrol");
        assert!(
            out.status.success(),
            "enrol {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let agent = Agent::open(Config::parse(&text).expect("agent configuration parses"))
            .expect("opening the agent");
        AgentBox {
            name: name.to_owned(),
            transport,
            data_dir,
            config_file,
            log_file: dir.join("agent.log"),
            agent,
            child: None,
            next_input: 0,
        }
    }

    /// Signs and stores `n` more evidence records (one transaction).
    pub fn record(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        let bodies = (self.next_input..self.next_input + n)
            .map(|i| {
                appliance::parse_input(InputKind::Evidence, evidence_json(i).as_bytes())
                    .expect("evidence input")
            })
            .collect();
        self.agent.record_many(bodies).expect("recording");
        self.next_input += n;
    }

    /// Signs and stores one record per JSON input of `kind` (the agent's input format,
    /// docs/RECORDS.md §8), in one transaction.
    pub fn record_inputs(&mut self, kind: InputKind, inputs: &[serde_json::Value]) {
        if inputs.is_empty() {
            return;
        }
        let bodies = inputs
            .iter()
            .map(|input| {
                let json = serde_json::to_vec(input).expect("input JSON");
                appliance::parse_input(kind, &json).expect("valid input")
            })
            .collect();
        self.agent.record_many(bodies).expect("recording");
    }

    /// Starts `ledger-agent run` (delivering forever) unless it is running.
    pub fn start(&mut self) {
        if self.child.is_some() {
            return;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .expect("agent log file");
        let child = agent_cmd(&self.config_file)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning ledger-agent run");
        self.child = Some(child);
    }

    /// SIGKILL of the `run` process, reaped. Returns whether one was running.
    pub fn kill(&mut self) -> bool {
        match self.child.take() {
            Some(mut c) => {
                let _ = c.kill();
                let _ = c.wait();
                true
            }
            None => false,
        }
    }

    /// Outbox figures, read from a fresh connection (as `ledger-agent status` would).
    pub fn stats(&self) -> Stats {
        Outbox::open(&self.data_dir)
            .expect("the outbox opens")
            .stats(now_ms())
            .expect("outbox figures")
    }

    /// Every record kept, oldest first.
    pub fn records(&self) -> Vec<KeptRecord> {
        Outbox::open(&self.data_dir)
            .expect("the outbox opens")
            .all_records()
            .expect("outbox records")
    }

    /// A delivered record's (bytes, log index, receipt).
    pub fn delivery(&self, seq: u64) -> Option<(Vec<u8>, u64, String)> {
        Outbox::open(&self.data_dir)
            .expect("the outbox opens")
            .delivery(seq)
            .expect("reading a delivery")
    }

    /// What the `run` processes logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }
}

fn agent_cmd(config: &Path) -> Command {
    let mut c = Command::new(agent_bin());
    c.arg("--config")
        .arg(config)
        .env("LEDGER_AGENT_LOG", "warn");
    c
}

/// Delivered records of each box (head minus outbox depth).
pub fn delivered(boxes: &[AgentBox]) -> Vec<u64> {
    boxes
        .iter()
        .map(|b| {
            let s = b.stats();
            s.head_sequence - s.outbox_depth
        })
        .collect()
}
