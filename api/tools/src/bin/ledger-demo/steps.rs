//! The demo's steps after the calendar and ledgerd are up: enrol the appliances, record
//! evidence and healing records, deliver them with verified receipts, anchor the
//! checkpoint, export one site's evidence package and verify it offline. Each step prints
//! one line when it has succeeded; the first failure ends the demo.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anchor::local_calendar::LocalCalendar;
use anyhow::{bail, Context};
use api::AppState;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use crate::inputs::{inputs, APPLIANCES};
use crate::ledgerd::Ledgerd;
use crate::processes::{run, Binaries};

/// Progress: each finished step is printed with the time since the start.
pub struct Steps {
    pub started: Instant,
    pub done: usize,
}

impl Steps {
    pub fn start() -> Steps {
        Steps {
            started: Instant::now(),
            done: 0,
        }
    }

    pub fn done(&mut self, what: impl Into<String>) {
        println!(
            "[{:>5.1} s] ok  {}",
            self.started.elapsed().as_secs_f64(),
            what.into()
        );
        self.done += 1;
    }
}

/// What the steps share: where the files go, the programs, and the running ledgerd.
pub struct Demo {
    pub root: PathBuf,
    pub binaries: Binaries,
    pub http: String,
    pub grpc: String,
    admin: String,
    pub vkey: String,
    vkey_file: PathBuf,
    state: Arc<AppState>,
    client: reqwest::Client,
    /// The demo's "now": record times and the export period are taken around it.
    now_ms: u64,
}

/// What the steps produced, for the summary.
pub struct Outcome {
    pub agents: Vec<Agent>,
    /// The site whose evidence package was exported.
    pub site: &'static str,
    pub package: PathBuf,
    pub headers_file: PathBuf,
    /// What `ledger-verify package` printed.
    pub verdict: String,
    /// The site's audit report (`ledger-verify report`), HTML.
    pub report: PathBuf,
    /// A read token of `site` for the web console.
    pub console_token: String,
}

/// One enrolled appliance and its agent's configuration file.
pub struct Agent {
    pub site: String,
    pub appliance: String,
    pub config: PathBuf,
}

impl Demo {
    pub fn new(root: PathBuf, binaries: Binaries, ledgerd: &Ledgerd) -> Demo {
        Demo {
            root,
            binaries,
            http: ledgerd.http.clone(),
            grpc: ledgerd.grpc.clone(),
            admin: ledgerd.admin.clone(),
            vkey: ledgerd.vkey.clone(),
            vkey_file: ledgerd.vkey_file.clone(),
            state: ledgerd.state.clone(),
            client: reqwest::Client::new(),
            now_ms: api::anchoring::now_ms(),
        }
    }

    /// Runs every step and returns what they produced.
    pub async fn run(
        &self,
        steps: &mut Steps,
        calendar: &LocalCalendar,
    ) -> anyhow::Result<Outcome> {
        let agents = self.enrol(steps).await?;
        self.record(steps, &agents).await?;
        let size = self.deliver(steps, &agents).await?;
        let headers_file = self.anchor(steps, calendar, size).await?;
        let (site, package) = self.export(steps).await?;
        let verdict = self.verify(steps, &package, &headers_file).await?;
        let report = self.report(steps, &package, &headers_file).await?;
        let console_token = self.console_token(steps, site).await?;
        Ok(Outcome {
            agents,
            site,
            package,
            headers_file,
            verdict,
            report,
            console_token,
        })
    }

    /// `ledger-agent --config <config>`, to which the caller adds the subcommand.
    fn agent(&self, config: &Path) -> Command {
        let mut command = Command::new(&self.binaries.agent);
        command.arg("--config").arg(config);
        command
    }

    /// Step 3: enrol the appliances with ledger-agent.
    async fn enrol(&self, steps: &mut Steps) -> anyhow::Result<Vec<Agent>> {
        let mut agents = Vec::new();
        for (site, appliance) in APPLIANCES {
            let token = http_json(
                &self.client,
                reqwest::Method::POST,
                &format!("{}/v1/admin/enrolment-tokens", self.http),
                Some(&self.admin),
                Some(json!({"site_id": site, "appliance_id": appliance})),
            )
            .await?["token"]
                .as_str()
                .context("enrolment token answer")?
                .to_string();
            let config = self.write_agent_config(site, appliance)?;
            run(
                self.agent(&config).args(["enrol", "--token", &token]),
                &format!("ledger-agent enrol ({site}/{appliance})"),
            )
            .await?;
            agents.push(Agent {
                site: site.to_string(),
                appliance: appliance.to_string(),
                config,
            });
        }
        steps.done(format!(
            "enrolled {} appliances with one-time tokens (ledger-agent enrol)",
            agents.len()
        ));
        Ok(agents)
    }

    /// Writes the configuration file of one appliance's agent and returns its path.
    fn write_agent_config(&self, site: &str, appliance: &str) -> anyhow::Result<PathBuf> {
        let dir = self.root.join(format!("agent-{appliance}"));
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("agent.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = \"{}\"\nserver_url = \"{}\"\ngrpc_url = \"{}\"\ntransport = \"grpc\"\nlog_key_file = \"{}\"\nsite_id = \"{site}\"\nappliance_id = \"{appliance}\"\nbatch_size = 64\ncheckin_interval_secs = 2\n",
                dir.join("data").display(),
                self.http,
                self.grpc,
                self.vkey_file.display()
            ),
        )?;
        Ok(config)
    }

    /// Step 4: record evidence and healing records, durably into each agent's outbox.
    async fn record(&self, steps: &mut Steps, agents: &[Agent]) -> anyhow::Result<()> {
        let mut recorded = 0;
        for (n, agent) in agents.iter().enumerate() {
            for (i, (kind, input)) in inputs(n, self.now_ms).into_iter().enumerate() {
                let file = agent
                    .config
                    .parent()
                    .context("agent dir")?
                    .join(format!("{}-{i}-{kind}.json", agent.appliance));
                std::fs::write(&file, serde_json::to_vec_pretty(&input)?)?;
                run(
                    self.agent(&agent.config).args(["record", kind]).arg(&file),
                    &format!("ledger-agent record {kind} {}", file.display()),
                )
                .await?;
                recorded += 1;
            }
        }
        steps.done(format!(
            "recorded {recorded} records (evidence: pass/warning/fail; healing: L1/L2/L3, success/failure/escalated)"
        ));
        Ok(())
    }

    /// Step 5, deliver: each agent uploads over gRPC, verifying every receipt, until its
    /// outbox is empty; the three agents run at the same time. Returns the log's size.
    async fn deliver(&self, steps: &mut Steps, agents: &[Agent]) -> anyhow::Result<u64> {
        // Killed on drop, so a failed step leaves no agent running.
        let mut children = Vec::new();
        for agent in agents {
            let child = self
                .agent(&agent.config)
                .args(["run", "--until-drained"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .context("starting ledger-agent run")?;
            children.push(child);
        }
        wait_drained(&mut children, agents).await?;
        for agent in agents {
            let out = run(
                self.agent(&agent.config).args(["status", "--json"]),
                "ledger-agent status",
            )
            .await?;
            let v: Value = serde_json::from_str(&out).context("ledger-agent status --json")?;
            if v["outbox_depth"].as_u64() != Some(0) {
                bail!(
                    "{}/{} still has undelivered records: {v}",
                    agent.site,
                    agent.appliance
                );
            }
        }
        drop(children);
        let size = self.state.log.latest().size;
        steps.done(format!(
            "agents delivered everything with verified receipts; log size {size}"
        ));
        Ok(size)
    }

    /// Step 6, anchoring: wait for the stamp of the current checkpoint, confirm, upgrade.
    /// Returns the file of block headers the offline verifier checks the stamp with.
    async fn anchor(
        &self,
        steps: &mut Steps,
        calendar: &LocalCalendar,
        size: u64,
    ) -> anyhow::Result<PathBuf> {
        let anchors = format!("{}/v1/anchors/{size}", self.http);
        wait_until("the checkpoint's stamp", Duration::from_secs(30), || {
            let client = self.client.clone();
            let anchors = anchors.clone();
            async move {
                let r = client.get(&anchors).send().await?;
                if r.status() != 200 {
                    return Ok(None);
                }
                let v: Value = r.json().await?;
                Ok((v["status"] == "pending" || v["status"] == "complete").then_some(v))
            }
        })
        .await?;
        let (height, header) = calendar
            .confirm((self.now_ms / 1000) as u32)?
            .context("the calendar had nothing to confirm")?;
        let complete = wait_until("the stamp's upgrade", Duration::from_secs(30), || {
            let client = self.client.clone();
            let anchors = anchors.clone();
            async move {
                let v: Value = client.get(&anchors).send().await?.json().await?;
                Ok((v["status"] == "complete").then_some(v))
            }
        })
        .await?;
        // ledgerd checked the attestation against the header its header source serves.
        anyhow::ensure!(
            complete["bitcoin_verified"]["block_hash"] == header.hash_display().as_str(),
            "the complete stamp does not name the confirming block: {complete}"
        );
        let headers_file = self.root.join("headers.txt");
        std::fs::write(
            &headers_file,
            format!("{height} {}\n", hex::encode(header.as_bytes())),
        )?;
        steps.done(format!(
            "checkpoint {size} stamped, confirmed in synthetic block {height}, upgraded (complete, header checked by ledgerd)"
        ));
        Ok(headers_file)
    }

    /// Step 7: export the evidence package of one site; returns the site and the package.
    async fn export(&self, steps: &mut Steps) -> anyhow::Result<(&'static str, PathBuf)> {
        let site = APPLIANCES[0].0;
        let package = self.root.join(format!("package-{site}"));
        let state = self.state.clone();
        let request = api::export::ExportRequest {
            sites: vec![ledger_record::Id::new(site)?],
            period: self.now_ms.saturating_sub(3_600_000)..=self.now_ms + 3_600_000,
        };
        let out = package.clone();
        tokio::task::spawn_blocking(move || {
            let sink = verifier::package::DirSink::create(&out)?;
            api::export::export_from_state(&state, &request, sink).map(|_| ())?;
            Ok::<(), anyhow::Error>(())
        })
        .await??;
        steps.done(format!(
            "exported the evidence package of {site} to {}",
            package.display()
        ));
        Ok((site, package))
    }

    /// The end of step 7: verify the package offline with ledger-verify; returns what it
    /// printed.
    async fn verify(
        &self,
        steps: &mut Steps,
        package: &Path,
        headers_file: &Path,
    ) -> anyhow::Result<String> {
        let verdict = run(
            Command::new(&self.binaries.verify)
                .arg("package")
                .arg(package)
                .arg("--key")
                .arg(&self.vkey)
                .arg("--block-headers")
                .arg(headers_file),
            "ledger-verify package",
        )
        .await?;
        steps.done(
            "ledger-verify package: valid (signatures, chains, inclusion, checkpoint, timestamp)",
        );
        Ok(verdict)
    }

    /// Step 8: the site's audit report, made offline from the verified package by
    /// `ledger-verify report`; returns its path.
    async fn report(
        &self,
        steps: &mut Steps,
        package: &Path,
        headers_file: &Path,
    ) -> anyhow::Result<PathBuf> {
        let out = self.root.join("audit-report.html");
        run(
            Command::new(&self.binaries.verify)
                .arg("report")
                .arg(package)
                .arg("--key")
                .arg(&self.vkey)
                .arg("--block-headers")
                .arg(headers_file)
                .arg("--out")
                .arg(&out),
            "ledger-verify report",
        )
        .await?;
        steps.done(format!(
            "ledger-verify report: audit report written to {} (every figure cites its records)",
            out.display()
        ));
        Ok(out)
    }

    /// Last step: a read token of the exported site, to sign in to the web console
    /// with (valid for a week, so a restarted ledgerd on the kept data still takes it).
    async fn console_token(&self, steps: &mut Steps, site: &str) -> anyhow::Result<String> {
        let v = http_json(
            &self.client,
            reqwest::Method::POST,
            &format!("{}/v1/admin/read-tokens", self.http),
            Some(&self.admin),
            Some(json!({"sites": [site], "ttl_secs": 7 * 24 * 3600})),
        )
        .await?;
        let token = v["token"]
            .as_str()
            .context("read-token answer without a token")?;
        steps.done(format!(
            "web console at {}/ with a read token of {site}",
            self.http
        ));
        Ok(token.to_owned())
    }
}

/// Waits until every agent has drained its outbox and exited, 90 s at most in all.
async fn wait_drained(children: &mut [Child], agents: &[Agent]) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    for (child, agent) in children.iter_mut().zip(agents) {
        let (site, appliance) = (&agent.site, &agent.appliance);
        let Ok(status) = tokio::time::timeout_at(deadline, child.wait()).await else {
            bail!("ledger-agent run for {site}/{appliance} did not drain its outbox in 90 s");
        };
        let status = status?;
        if !status.success() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err).await;
            }
            bail!("ledger-agent run for {site}/{appliance} failed ({status}): {err}");
        }
    }
    Ok(())
}

async fn http_json(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut req = client.request(method, url);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req
        .send()
        .await
        .with_context(|| format!("request to {url}"))?;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{url} answered {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("{url} answered non-JSON: {text}"))
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F) -> anyhow::Result<Value>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<Value>>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
