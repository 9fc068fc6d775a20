//! Shared fixtures for the agent tests: a real `ledgerd` (the server binary, spawned on
//! 127.0.0.1), agent configurations, a proxy that can turn hostile, and a reader of an
//! appliance's chain as logged.
//!
//! The `ledgerd` binary is taken from `LEDGERD_BIN` if set, else from the cargo target
//! directory these tests run from (`cargo test --workspace` builds it).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use appliance::{Agent, Config};
use base64::Engine;
use serde_json::{json, Value};

pub const SITE: &str = "clinic-1";
pub const APPLIANCE: &str = "box-1";

/// The `ledgerd` binary.
pub fn ledgerd_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("LEDGERD_BIN") {
        return PathBuf::from(p);
    }
    // <target>/<profile>/deps/<test binary>: ledgerd is in <target>/<profile>.
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target layout");
    let bin = profile_dir.join("ledgerd");
    assert!(
        bin.exists(),
        "{} not found: build it (cargo build --workspace) or set LEDGERD_BIN",
        bin.display()
    );
    bin
}

/// A ledgerd process on 127.0.0.1.
pub struct Server {
    pub http: String,
    pub grpc: String,
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    pub admin: String,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn parse_listening(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let rest = line.strip_prefix("listening: http ")?;
    let (http, grpc) = rest.split_once(" grpc ")?;
    Some((http.trim().parse().ok()?, grpc.trim().parse().ok()?))
}

impl Server {
    /// Starts on fresh ports.
    pub async fn start(dir: &Path) -> Server {
        Server::start_at(dir, None).await
    }

    /// Starts on the given (http, grpc) addresses, or fresh ports.
    pub async fn start_at(dir: &Path, addrs: Option<(SocketAddr, SocketAddr)>) -> Server {
        let (h, g) = addrs.map_or(
            ("127.0.0.1:0".to_owned(), "127.0.0.1:0".to_owned()),
            |(h, g)| (h.to_string(), g.to_string()),
        );
        let dir = dir.to_path_buf();
        // A just-stopped server's port may take a moment to be free again.
        for attempt in 0..50 {
            let mut child = Command::new(ledgerd_bin())
                .arg("serve")
                .arg("--data-dir")
                .arg(&dir)
                .args(["--http-listen", &h, "--grpc-listen", &g])
                .env("LEDGERD_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawning ledgerd");
            let stdout = child.stdout.take().unwrap();
            let found = tokio::task::spawn_blocking(move || {
                let mut lines = BufReader::new(stdout).lines();
                let found = lines
                    .by_ref()
                    .map_while(Result::ok)
                    .find_map(|l| parse_listening(&l));
                // Keep draining so the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines {});
                found
            })
            .await
            .unwrap();
            match found {
                Some((http_addr, grpc_addr)) => {
                    let admin = std::fs::read_to_string(dir.join("admin.token"))
                        .expect("admin token")
                        .trim()
                        .to_owned();
                    return Server {
                        http: format!("http://{http_addr}"),
                        grpc: format!("http://{grpc_addr}"),
                        http_addr,
                        grpc_addr,
                        admin,
                        dir,
                        child: Some(child),
                    };
                }
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    assert!(attempt < 49, "ledgerd did not start");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        unreachable!()
    }

    /// Stops the server (SIGKILL: ledgerd acknowledges nothing before it is durable, so
    /// this is also a crash).
    pub async fn stop(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub async fn log_key(&self) -> String {
        reqwest::get(format!("{}/log-key", self.http))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn token(&self, site: &str, appliance: &str) -> String {
        let v: Value = reqwest::Client::new()
            .post(format!("{}/v1/admin/enrolment-tokens", self.http))
            .bearer_auth(&self.admin)
            .json(&json!({"site_id": site, "appliance_id": appliance}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["token"].as_str().expect("token").to_owned()
    }

    pub async fn tree_size(&self) -> u64 {
        let v: Value = reqwest::get(format!("{}/healthz", self.http))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["tree_size"].as_u64().unwrap()
    }

    /// The chain of (site, appliance) as logged: (sequence, index, bytes), in sequence
    /// order, waiting until `expected` records are visible in the query index.
    pub async fn chain(&self, credential: &str, expected: u64) -> Vec<(u64, u64, Vec<u8>)> {
        let client = reqwest::Client::new();
        for _ in 0..100 {
            let mut out = Vec::new();
            let mut from = 1;
            loop {
                let r = client
                    .get(format!(
                        "{}/v1/appliances/{SITE}/{APPLIANCE}/records?from={from}&to={}",
                        self.http,
                        from + 999
                    ))
                    .bearer_auth(credential)
                    .send()
                    .await
                    .unwrap();
                if r.status() != 200 {
                    break;
                }
                let v: Value = r.json().await.unwrap();
                let recs = v["records"].as_array().unwrap();
                for rec in recs {
                    out.push((
                        rec["sequence"].as_u64().unwrap(),
                        rec["index"].as_u64().unwrap(),
                        base64::engine::general_purpose::STANDARD
                            .decode(rec["record"].as_str().unwrap())
                            .unwrap(),
                    ));
                }
                if recs.len() < 1000 {
                    break;
                }
                from += 1000;
            }
            if out.len() as u64 >= expected {
                return out;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server's index never showed {expected} records");
    }
}

/// Writes the pinned log key file and returns the agent configuration text.
pub fn config_text(dir: &Path, log_key: &str, http: &str, grpc: &str, transport: &str) -> String {
    let key_file = dir.join("log.pub");
    std::fs::write(&key_file, log_key).unwrap();
    format!(
        "data_dir = {:?}\nserver_url = {http:?}\ngrpc_url = {grpc:?}\ntransport = {transport:?}\nlog_key_file = {:?}\nsite_id = {SITE:?}\nappliance_id = {APPLIANCE:?}\nbatch_size = 16\nmax_backoff_secs = 1\ncheckin_interval_secs = 1\n",
        dir.join("agent").display().to_string(),
        key_file.display().to_string(),
    )
}

/// An enrolled agent talking to `server` directly.
pub async fn enrolled_agent(dir: &Path, server: &Server, transport: &str) -> Agent {
    let text = config_text(
        dir,
        &server.log_key().await,
        &server.http,
        &server.grpc,
        transport,
    );
    let mut agent = Agent::open(Config::parse(&text).unwrap()).unwrap();
    agent
        .enrol(&server.token(SITE, APPLIANCE).await)
        .await
        .unwrap();
    agent
}

pub fn evidence_json(n: u64) -> String {
    format!(
        r#"{{"items": [{{"check_type": "disk_encryption", "host": "ws-{n}", "status": "pass",
            "observed_at": 1700000000000, "details": "BitLocker on C:",
            "controls": ["HIPAA:164.312(a)(2)(iv)", "SOC2:CC6.1"]}}]}}"#
    )
}

pub fn healing_json(outcome: &str) -> String {
    format!(
        r#"{{"incident_id": "inc-42", "check_type": "disk_space", "pattern_signature": "disk_full:/var",
            "tier": "L1", "runbook_id": "rb-clean-tmp", "action": "removed stale files",
            "outcome": "{outcome}", "started_at": 1700000000000, "ended_at": 1700000005000}}"#
    )
}

/// Checks that the logged chain is exactly the outbox's records, in order, once each,
/// with a clean `ChainChecker` report, and that every stored receipt verifies.
pub fn assert_chain_matches(agent: &Agent, logged: &[(u64, u64, Vec<u8>)]) {
    let records = agent.outbox().all_records().unwrap();
    assert_eq!(logged.len(), records.len(), "logged vs recorded count");
    let mut checker = ledger_record::ChainChecker::new(ledger_record::ChainStart::Genesis);
    let mut last_index = None;
    for ((seq, index, bytes), kept) in logged.iter().zip(&records) {
        let (oseq, obytes, oindex) = (&kept.sequence, &kept.bytes, &kept.log_index);
        assert_eq!(seq, oseq, "sequence order");
        assert_eq!(
            bytes, obytes,
            "logged bytes are the outbox bytes (seq {seq})"
        );
        assert_eq!(Some(*index), *oindex, "outbox log index (seq {seq})");
        assert!(
            last_index < Some(*index),
            "log order follows sequence order"
        );
        last_index = Some(*index);
        let record = ledger_record::Record::decode(bytes).unwrap();
        checker.push(*index, &record).unwrap();
        let (_, rindex, receipt) = agent.outbox().delivery(*seq).unwrap().expect("delivered");
        assert_eq!(rindex, *index);
        ledger_core::receipt::Receipt::parse(receipt.as_bytes())
            .unwrap()
            .verify_entry(bytes, agent.log_key())
            .expect("stored receipt verifies with the pinned key");
    }
    let report = checker.finish();
    assert!(report.is_clean(), "chain report: {report:?}");
}

/// How the test proxy treats requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything to the upstream server unchanged.
    Honest,
    /// Answer uploads with bytes that are not JSON.
    Garbage,
    /// Answer uploads with JSON of the wrong shape.
    WrongShape,
    /// Forward uploads, then flip one proof hash in every receipt.
    TamperProof,
    /// Forward uploads, then name a different record hash.
    WrongRecordHash,
    /// Forward uploads, then replace every receipt's checkpoint with this signed note
    /// (a checkpoint the pinned key did not sign, or one of another tree).
    ForeignCheckpoint(String),
    /// Serve `/checkpoint` and `/proof/consistency` from this other server.
    ReadsFrom(String),
    /// Play the witnesses: forward everything, then cosign (cosignature/v1) the
    /// checkpoint of every receipt and of `/checkpoint` with these witnesses, given as
    /// (name, Ed25519 seed), as ledgerd does once its witness quorum is met.
    Cosign(Vec<(String, [u8; 32])>),
}

/// `note` with a cosignature by each witness (name, seed) appended.
pub fn cosign_note(note: &str, witnesses: &[(String, [u8; 32])]) -> String {
    let Ok(mut parsed) = ledger_core::note::Note::parse(note.as_bytes()) else {
        return note.to_owned();
    };
    let body = parsed.text().to_owned();
    for (i, (name, seed)) in witnesses.iter().enumerate() {
        let signer = ledger_core::cosignature::CosignatureSigner::new(name, seed).unwrap();
        let c = signer.cosign(&body, 1_700_000_000 + i as u64).unwrap();
        parsed.push_signature(c.to_note_signature()).unwrap();
    }
    parsed.to_text()
}

/// Captured check-ins: (Authorization header, JSON body).
pub type Checkins = Arc<std::sync::Mutex<Vec<(Option<String>, Value)>>>;

/// A hostile (or honest) HTTP proxy in front of a real ledgerd, on 127.0.0.1. It also
/// captures check-ins and answers them 404, like a server without the fleet API.
pub struct Proxy {
    pub url: String,
    pub mode: Arc<std::sync::Mutex<Mode>>,
    pub checkins: Checkins,
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    mode: Arc<std::sync::Mutex<Mode>>,
    checkins: Checkins,
    client: reqwest::Client,
}

fn tamper_receipt(receipt: &str) -> String {
    let mut lines: Vec<String> = receipt.split('\n').map(str::to_owned).collect();
    // Line 2 is the first audit-path hash when there is one; else the root line of the
    // checkpoint (which breaks the signature instead).
    let i = if lines.len() > 2 && !lines[2].is_empty() {
        2
    } else {
        lines.len() - 4
    };
    let first = lines[i].chars().next().unwrap();
    let repl = if first == 'A' { 'B' } else { 'A' };
    lines[i].replace_range(0..1, &repl.to_string());
    lines.join("\n")
}

fn replace_checkpoint(receipt: &str, note: &str) -> String {
    let head = receipt.split("\n\n").next().unwrap();
    format!("{head}\n\n{note}")
}

async fn proxy_handler(
    axum::extract::State(s): axum::extract::State<ProxyState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if uri.path() == "/v1/checkin" {
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        s.checkins.lock().unwrap().push((auth, v));
        return (axum::http::StatusCode::NOT_FOUND, "not found").into_response();
    }
    let mode = s.mode.lock().unwrap().clone();
    let upload = uri.path() == "/v1/records/batch";
    match (&mode, upload) {
        (Mode::Garbage, true) => {
            return (axum::http::StatusCode::OK, "\u{1}garbage{").into_response()
        }
        (Mode::WrongShape, true) => {
            return axum::Json(json!({"results": [{"ok": {"index": "seven"}}]})).into_response()
        }
        _ => {}
    }
    let base = match &mode {
        Mode::ReadsFrom(other)
            if uri.path() == "/checkpoint" || uri.path() == "/proof/consistency" =>
        {
            other.clone()
        }
        _ => s.upstream.clone(),
    };
    let mut req = s
        .client
        .request(method, format!("{base}{path}"))
        .body(body.to_vec());
    if let Some(a) = &auth {
        req = req.header("authorization", a);
    }
    if let Some(ct) = headers.get("content-type") {
        req = req.header("content-type", ct.as_bytes());
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(_) => return (axum::http::StatusCode::BAD_GATEWAY, "upstream down").into_response(),
    };
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap_or_default();
    if let (Mode::Cosign(w), "/checkpoint", 200) = (&mode, uri.path(), status) {
        let note = cosign_note(&String::from_utf8_lossy(&bytes), w);
        return (axum::http::StatusCode::OK, note).into_response();
    }
    if upload && status == 200 {
        if let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) {
            for r in v["results"].as_array_mut().into_iter().flatten() {
                let Some(ok) = r.get_mut("ok") else { continue };
                let receipt = ok["receipt"].as_str().unwrap_or_default().to_owned();
                match &mode {
                    Mode::TamperProof => ok["receipt"] = json!(tamper_receipt(&receipt)),
                    Mode::WrongRecordHash => ok["record_hash"] = json!("00".repeat(32)),
                    Mode::ForeignCheckpoint(note) => {
                        ok["receipt"] = json!(replace_checkpoint(&receipt, note))
                    }
                    Mode::Cosign(w) => {
                        let (head, note) = receipt.split_once("\n\n").unwrap_or_default();
                        ok["receipt"] = json!(format!("{head}\n\n{}", cosign_note(note, w)))
                    }
                    _ => {}
                }
            }
            return (axum::http::StatusCode::OK, axum::Json(v)).into_response();
        }
    }
    (
        axum::http::StatusCode::from_u16(status).unwrap(),
        bytes.to_vec(),
    )
        .into_response()
}

impl Proxy {
    pub async fn start(upstream: &str) -> Proxy {
        let mode = Arc::new(std::sync::Mutex::new(Mode::Honest));
        let checkins = Arc::new(std::sync::Mutex::new(Vec::new()));
        let state = ProxyState {
            upstream: upstream.to_owned(),
            mode: mode.clone(),
            checkins: checkins.clone(),
            client: reqwest::Client::new(),
        };
        let app = axum::Router::new()
            .fallback(proxy_handler)
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy {
            url,
            mode,
            checkins,
        }
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}
