//! `ledgerd demo`: the whole product on one machine in about a minute, for newcomers.
//!
//! In a new temporary directory it starts a local OpenTimestamps calendar (the labelled
//! test/dev stand-in with synthetic Bitcoin blocks) and `ledgerd` on free 127.0.0.1
//! ports, enrols three simulated appliances with `ledger-agent`, records a mix of
//! evidence (passing and failing checks) and healing records (L1, L2, L3; success,
//! failure, escalation), lets the agents deliver them with verified receipts, waits for
//! the checkpoint to be stamped and "confirmed", exports an evidence package for one site
//! and verifies it offline with `ledger-verify`, then prints where everything is and the
//! commands to repeat each step by hand. It stops its processes and exits non-zero if any
//! step failed. The data directory is kept so the log can be inspected afterwards.
//!
//! `ledger-agent` and `ledger-verify` are run as separate processes, found next to the
//! `ledgerd` executable (they are built together: `cargo build --workspace`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anchor::local_calendar::LocalCalendar;
use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::config::{AnchorSettings, Config, RawConfig};
use crate::server::{AppState, Listeners};

/// The demo's sites and appliances.
const APPLIANCES: [(&str, &str); 3] = [
    ("clinic-north", "nas-01"),
    ("clinic-north", "fw-01"),
    ("office-south", "srv-01"),
];

/// A binary built beside `ledgerd`.
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("locating the ledgerd executable")?;
    let dir = me.parent().context("ledgerd has no directory")?;
    // Test binaries live in target/<profile>/deps; the programs one level up.
    for candidate in [dir.join(name), dir.join("..").join(name)] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "{name} not found next to {} — build the whole workspace first (cargo build --workspace)",
        me.display()
    )
}

/// Runs a command to completion, failing with its output when it fails.
fn run(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{what}: starting {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Progress: each finished step is printed with the time since the start.
struct Steps {
    started: Instant,
    done: usize,
}

impl Steps {
    fn done(&mut self, what: impl Into<String>) {
        println!(
            "[{:>5.1} s] ok  {}",
            self.started.elapsed().as_secs_f64(),
            what.into()
        );
        self.done += 1;
    }
}

/// Processes the demo started; killed on drop so a failed step leaves nothing running.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
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

/// The evidence and healing inputs of appliance `n` (JSON files for `ledger-agent
/// record`): passing and failing checks, healings at every tier and outcome.
fn inputs(n: usize, now_ms: u64) -> Vec<(&'static str, Value)> {
    let host = format!("host-{n}");
    let t = now_ms - 60_000;
    vec![
        (
            "evidence",
            json!({"items": [
                {"check_type": "disk_encryption", "host": host, "status": "pass", "observed_at": t,
                 "details": "volume encrypted", "controls": ["HIPAA:164.312(a)(2)(iv)"]},
                {"check_type": "backup_age", "host": host, "status": if n == 1 { "fail" } else { "pass" },
                 "observed_at": t + 1000, "details": if n == 1 { "last backup 9 days ago" } else { "last backup 6 hours ago" },
                 "controls": ["HIPAA:164.308(a)(7)(ii)(A)"]}
            ]}),
        ),
        (
            "healing",
            json!({"incident_id": format!("inc-{n}-1"), "check_type": "disk_space",
                   "pattern_signature": "disk_full:/var", "tier": "L1", "runbook_id": "rb-clean-tmp",
                   "action": "removed files older than 7 days from /var/tmp", "outcome": "success",
                   "started_at": t + 2000, "ended_at": t + 5000,
                   "state_before": "93% used", "state_after": "61% used"}),
        ),
        (
            "healing",
            json!({"incident_id": format!("inc-{n}-2"), "check_type": "service_down",
                   "pattern_signature": "service_crashloop:backup-agent",
                   "tier": if n == 2 { "L3" } else { "L2" },
                   "runbook_id": "rb-restart-service", "action": "restarted backup-agent",
                   "outcome": if n == 2 { "escalated" } else if n == 1 { "failure" } else { "success" },
                   "started_at": t + 6000, "ended_at": t + 9000}),
        ),
        (
            "evidence",
            json!({"items": [
                {"check_type": "firewall_enabled", "host": host, "status": "pass", "observed_at": t + 10_000},
                {"check_type": "av_signatures", "host": host, "status": if n == 2 { "warning" } else { "pass" },
                 "observed_at": t + 11_000, "details": "definitions 3 days old"}
            ]}),
        ),
    ]
}

/// Runs the demo; `keep` is where the data directory and files go (a new temporary
/// directory when `None`).
pub fn demo(keep: Option<PathBuf>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(demo_async(keep))
}

async fn demo_async(keep: Option<PathBuf>) -> anyhow::Result<()> {
    let agent_bin = sibling_binary("ledger-agent")?;
    let verify_bin = sibling_binary("ledger-verify")?;
    let ledgerd_bin = std::env::current_exe()?;
    let root = match keep {
        Some(p) => {
            std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
            p
        }
        None => {
            let p = std::env::temp_dir().join(format!(
                "evidence-ledger-demo-{}-{}",
                std::process::id(),
                crate::anchoring::now_ms()
            ));
            std::fs::create_dir(&p).with_context(|| format!("creating {}", p.display()))?;
            p
        }
    };
    let mut steps = Steps {
        started: Instant::now(),
        done: 0,
    };
    println!("Evidence Ledger demo in {}", root.display());

    // 1. Local calendar.
    let calendar = LocalCalendar::spawn()
        .await
        .context("starting the local calendar")?;
    steps.done(format!(
        "local OpenTimestamps calendar (synthetic Bitcoin) at {}",
        calendar.url
    ));

    // 2. ledgerd, anchoring to that calendar every 2 seconds.
    let data = root.join("ledgerd-data");
    let mut config = Config::validate(RawConfig {
        data_dir: Some(data.clone()),
        origin: Some("demo.evidence-ledger.local/log".into()),
        http_listen: Some("127.0.0.1:0".into()),
        grpc_listen: Some("127.0.0.1:0".into()),
        ..RawConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    config.anchor = AnchorSettings {
        enabled: true,
        calendars: vec![calendar.url.clone()],
        min_calendars: 1,
        interval: Duration::from_secs(2),
        every_entries: 1_000_000,
        upgrade_interval: Duration::from_secs(1),
        pending_alarm: Duration::from_secs(3600),
        timeout: Duration::from_secs(5),
        // The local calendar serves its synthetic chain the way an Esplora API serves
        // Bitcoin's, so the demo's stamp completes only once its header matches.
        bitcoin_api: Some(format!("{}/api", calendar.url)),
    };
    let listeners = Listeners::bind(&config).await?;
    let http = format!("http://{}", listeners.http.local_addr()?);
    let grpc = format!("http://{}", listeners.grpc.local_addr()?);
    let c = config.clone();
    let state = Arc::new(tokio::task::spawn_blocking(move || AppState::open(c)).await??);
    let vkey = state.log.verifier_key();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::run(state.clone(), listeners, async move {
        let _ = stop_rx.await;
    }));
    let admin = std::fs::read_to_string(data.join("admin.token"))
        .context("reading the admin token")?
        .trim()
        .to_string();
    let vkey_file = root.join("log.vkey");
    std::fs::write(&vkey_file, format!("{vkey}\n"))?;
    steps.done(format!(
        "ledgerd: HTTP {http}, gRPC {grpc}, data {}",
        data.display()
    ));

    let result = demo_steps(
        &mut steps,
        &root,
        &http,
        &grpc,
        &admin,
        &vkey,
        &vkey_file,
        &agent_bin,
        &verify_bin,
        &ledgerd_bin,
        &state,
        &calendar.calendar,
    )
    .await;

    let _ = stop_tx.send(());
    let stopped = server.await;
    let _ = calendar.stop().await;
    match (result, stopped) {
        (Ok(summary), Ok(Ok(()))) => {
            println!("\n{summary}");
            Ok(())
        }
        (Err(e), _) => Err(e.context(format!("demo failed; files kept in {}", root.display()))),
        (Ok(_), Ok(Err(e))) => Err(anyhow::anyhow!("ledgerd stopped with an error: {e}")),
        (Ok(_), Err(e)) => Err(anyhow::anyhow!("ledgerd task failed: {e}")),
    }
}

#[allow(clippy::too_many_arguments)]
async fn demo_steps(
    steps: &mut Steps,
    root: &Path,
    http: &str,
    grpc: &str,
    admin: &str,
    vkey: &str,
    vkey_file: &Path,
    agent_bin: &Path,
    verify_bin: &Path,
    ledgerd_bin: &Path,
    state: &Arc<AppState>,
    calendar: &LocalCalendar,
) -> anyhow::Result<String> {
    let client = reqwest::Client::new();
    let now_ms = crate::anchoring::now_ms();
    let mut agents: Vec<(String, String, PathBuf)> = Vec::new();
    let mut children = Children(Vec::new());

    // 3. Enrol the appliances with ledger-agent.
    for (site, appliance) in APPLIANCES {
        let token = http_json(
            &client,
            reqwest::Method::POST,
            &format!("{http}/v1/admin/enrolment-tokens"),
            Some(admin),
            Some(json!({"site_id": site, "appliance_id": appliance})),
        )
        .await?["token"]
            .as_str()
            .context("enrolment token answer")?
            .to_string();
        let dir = root.join(format!("agent-{appliance}"));
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("agent.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = \"{}\"\nserver_url = \"{http}\"\ngrpc_url = \"{grpc}\"\ntransport = \"grpc\"\nlog_key_file = \"{}\"\nsite_id = \"{site}\"\nappliance_id = \"{appliance}\"\nbatch_size = 64\ncheckin_interval_secs = 2\n",
                dir.join("data").display(),
                vkey_file.display()
            ),
        )?;
        run(
            Command::new(agent_bin)
                .arg("--config")
                .arg(&config)
                .args(["enrol", "--token", &token]),
            &format!("ledger-agent enrol ({site}/{appliance})"),
        )?;
        agents.push((site.to_string(), appliance.to_string(), config));
    }
    steps.done(format!(
        "enrolled {} appliances with one-time tokens (ledger-agent enrol)",
        agents.len()
    ));

    // 4. Record evidence and healing records, durably into each agent's outbox.
    let mut recorded = 0;
    for (n, (_, appliance, config)) in agents.iter().enumerate() {
        for (i, (kind, input)) in inputs(n, now_ms).into_iter().enumerate() {
            let file = config
                .parent()
                .context("agent dir")?
                .join(format!("{appliance}-{i}-{kind}.json"));
            std::fs::write(&file, serde_json::to_vec_pretty(&input)?)?;
            run(
                Command::new(agent_bin)
                    .arg("--config")
                    .arg(config)
                    .args(["record", kind])
                    .arg(&file),
                &format!("ledger-agent record {kind} {}", file.display()),
            )?;
            recorded += 1;
        }
    }
    steps.done(format!(
        "recorded {recorded} records (evidence: pass/warning/fail; healing: L1/L2/L3, success/failure/escalated)"
    ));

    // 5. Deliver: each agent uploads over gRPC, verifying every receipt, until its
    // outbox is empty; the three agents run at the same time.
    for (_, _, config) in &agents {
        let child = Command::new(agent_bin)
            .arg("--config")
            .arg(config)
            .args(["run", "--until-drained"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting ledger-agent run")?;
        children.0.push(child);
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    for (child, (site, appliance, _)) in children.0.iter_mut().zip(&agents) {
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        let _ = std::io::Read::read_to_string(&mut e, &mut err);
                    }
                    bail!("ledger-agent run for {site}/{appliance} failed ({status}): {err}");
                }
                break;
            }
            if Instant::now() > deadline {
                bail!("ledger-agent run for {site}/{appliance} did not drain its outbox in 90 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for (site, appliance, config) in &agents {
        let out = run(
            Command::new(agent_bin)
                .arg("--config")
                .arg(config)
                .args(["status", "--json"]),
            "ledger-agent status",
        )?;
        let v: Value = serde_json::from_str(&out).context("ledger-agent status --json")?;
        if v["outbox_depth"].as_u64() != Some(0) {
            bail!("{site}/{appliance} still has undelivered records: {v}");
        }
    }
    children.0.clear();
    let size = state.log.latest().size;
    steps.done(format!(
        "agents delivered everything with verified receipts; log size {size}"
    ));

    // 6. Anchoring: wait for the stamp of the current checkpoint, confirm, upgrade.
    let anchors = format!("{http}/v1/anchors/{size}");
    wait_until("the checkpoint's stamp", Duration::from_secs(30), || {
        let client = client.clone();
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
        .confirm((now_ms / 1000) as u32)?
        .context("the calendar had nothing to confirm")?;
    let complete = wait_until("the stamp's upgrade", Duration::from_secs(30), || {
        let client = client.clone();
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
    let headers_file = root.join("headers.txt");
    std::fs::write(
        &headers_file,
        format!("{height} {}\n", hex::encode(header.as_bytes())),
    )?;
    steps.done(format!(
        "checkpoint {size} stamped, confirmed in synthetic block {height}, upgraded (complete, header checked by ledgerd)"
    ));

    // 7. Export the evidence package of one site and verify it offline.
    let site = APPLIANCES[0].0;
    let package = root.join(format!("package-{site}"));
    let state2 = state.clone();
    let request = crate::export::ExportRequest {
        sites: vec![ledger_record::Id::new(site)?],
        period: now_ms.saturating_sub(3_600_000)..=now_ms + 3_600_000,
    };
    let files = tokio::task::spawn_blocking(move || {
        crate::export_http::export_from_state(&state2, &request)
    })
    .await??
    .0;
    files.write_dir(&package)?;
    steps.done(format!(
        "exported the evidence package of {site} to {}",
        package.display()
    ));
    let verdict = run(
        Command::new(verify_bin)
            .arg("package")
            .arg(&package)
            .arg("--key")
            .arg(vkey)
            .arg("--block-headers")
            .arg(&headers_file),
        "ledger-verify package",
    )?;
    steps.done(
        "ledger-verify package: valid (signatures, chains, inclusion, checkpoint, timestamp)",
    );

    let mut s = String::new();
    let _ = writeln!(
        s,
        "=== Evidence Ledger demo: all {} steps succeeded in {:.1} s ===",
        steps.done,
        steps.started.elapsed().as_secs_f64()
    );
    let _ = writeln!(s, "\nledger-verify said:\n{}", verdict.trim_end());
    let _ = writeln!(
        s,
        "\nWhere everything is (ledgerd and the calendar have stopped):"
    );
    let _ = writeln!(s, "  files             {}", root.display());
    let _ = writeln!(
        s,
        "  log data          {}",
        root.join("ledgerd-data").display()
    );
    let _ = writeln!(s, "  log verifier key  {vkey}");
    let _ = writeln!(s, "  evidence package  {}", package.display());
    let _ = writeln!(s, "  block headers     {}", headers_file.display());
    let _ = writeln!(s, "\nRepeat the steps by hand:");
    let _ = writeln!(
        s,
        "  {} serve --data-dir {} --origin demo.evidence-ledger.local/log --anchor-enabled false --http-listen {} --grpc-listen {}",
        ledgerd_bin.display(),
        root.join("ledgerd-data").display(),
        http.trim_start_matches("http://"),
        grpc.trim_start_matches("http://")
    );
    let _ = writeln!(
        s,
        "    (the same ports as this run, which the agents' configuration files name)"
    );
    let (_, appliance, config) = &agents[0];
    let _ = writeln!(
        s,
        "  {} --config {} record evidence {}",
        agent_bin.display(),
        config.display(),
        config
            .parent()
            .unwrap_or(root)
            .join(format!("{appliance}-0-evidence.json"))
            .display()
    );
    let _ = writeln!(
        s,
        "  {} --config {} run",
        agent_bin.display(),
        config.display()
    );
    let _ = writeln!(
        s,
        "  {} --config {} status",
        agent_bin.display(),
        config.display()
    );
    let _ = writeln!(
        s,
        "  curl {http}/checkpoint   curl {http}/v1/anchors   (while ledgerd runs; ports change per run)"
    );
    let _ = writeln!(
        s,
        "  {} export --data-dir {} --origin demo.evidence-ledger.local/log --sites {site} --out /tmp/my-package",
        ledgerd_bin.display(),
        root.join("ledgerd-data").display()
    );
    let _ = writeln!(
        s,
        "  {} package {} --key '{vkey}' --block-headers {}",
        verify_bin.display(),
        package.display(),
        headers_file.display()
    );
    Ok(s)
}
