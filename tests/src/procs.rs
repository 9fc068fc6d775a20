//! The real server and agent processes of the fault-matrix tests: where their binaries
//! are, a `ledgerd` that can be killed, stopped and restarted on the same ports, and
//! signals sent with the system's `kill` command (the workspace forbids `unsafe`, so
//! there is no direct `kill(2)` call here).
//!
//! The binaries are taken from `LEDGERD_BIN` / `LEDGER_AGENT_BIN` if set, else from the
//! cargo target directory the test runs from (`<target>/<profile>/ledgerd`), which
//! `cargo test --workspace` and `cargo build -p api -p appliance --bins` fill.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

/// The `ledgerd` binary.
pub fn ledgerd_bin() -> PathBuf {
    locate("LEDGERD_BIN", "ledgerd")
}

/// The `ledger-agent` binary.
pub fn agent_bin() -> PathBuf {
    locate("LEDGER_AGENT_BIN", "ledger-agent")
}

pub fn locate(variable: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(variable) {
        return PathBuf::from(p);
    }
    // <target>/<profile>/deps/<test binary>: the binaries are in <target>/<profile>.
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target layout");
    let bin = profile_dir.join(name);
    assert!(
        bin.exists(),
        "{} not found: build it first (cargo build -p api -p appliance --bins, with --release for a release run) or set {variable}",
        bin.display()
    );
    bin
}

/// Sends `signal` (a name such as `KILL`, `STOP`, `CONT`) to process `pid`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// A `ledgerd serve` process on 127.0.0.1, anchoring off (tests never reach the public
/// calendars), its warnings appended to `<data dir>.log`.
pub struct Ledgerd {
    pub dir: PathBuf,
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    /// The admin credential the server wrote on first start.
    pub admin: String,
    /// Extra `ledgerd serve` arguments, kept for restarts.
    args: Vec<String>,
    child: Option<Child>,
}

impl Drop for Ledgerd {
    fn drop(&mut self) {
        self.kill();
    }
}

fn parse_listening(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let rest = line.strip_prefix("listening: http ")?;
    let (http, grpc) = rest.split_once(" grpc ")?;
    Some((http.trim().parse().ok()?, grpc.trim().parse().ok()?))
}

/// One attempt to start: the child and its addresses, or None if it did not come up.
fn spawn_once(
    dir: &Path,
    http: &str,
    grpc: &str,
    args: &[String],
) -> Option<(Child, SocketAddr, SocketAddr)> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.with_extension("log"))
        .expect("server log file");
    let mut child = Command::new(ledgerd_bin())
        .arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .args(["--http-listen", http, "--grpc-listen", grpc])
        .args(["--anchor-enabled", "false"])
        .args(args)
        .env("LEDGERD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawning ledgerd");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let found = lines.by_ref().find_map(|l| parse_listening(&l));
        let _ = tx.send(found);
        // Keep draining so the server never blocks on a full pipe.
        for _ in lines {}
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Some((h, g))) => Some((child, h, g)),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    }
}

impl Ledgerd {
    /// Starts on fresh ports.
    pub async fn start(dir: &Path) -> Ledgerd {
        Ledgerd::start_at(dir, None).await
    }

    /// Starts on fresh ports with extra `ledgerd serve` arguments (kept for restarts).
    pub async fn start_with(dir: &Path, args: &[&str]) -> Ledgerd {
        let args = args.iter().map(|a| (*a).to_owned()).collect();
        Ledgerd::start_full(dir, None, args).await
    }

    /// Starts on the given (http, grpc) addresses, or on fresh ports. A port the killed
    /// predecessor held may take a moment to be free, so binding is retried.
    pub async fn start_at(dir: &Path, addrs: Option<(SocketAddr, SocketAddr)>) -> Ledgerd {
        Ledgerd::start_full(dir, addrs, Vec::new()).await
    }

    async fn start_full(
        dir: &Path,
        addrs: Option<(SocketAddr, SocketAddr)>,
        args: Vec<String>,
    ) -> Ledgerd {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let (h, g) = addrs.map_or(("127.0.0.1:0".into(), "127.0.0.1:0".into()), |(h, g)| {
                (h.to_string(), g.to_string())
            });
            for _ in 0..50 {
                if let Some((child, http_addr, grpc_addr)) = spawn_once(&dir, &h, &g, &args) {
                    let admin = std::fs::read_to_string(dir.join("admin.token"))
                        .expect("admin token file")
                        .trim()
                        .to_owned();
                    return Ledgerd {
                        dir,
                        http_addr,
                        grpc_addr,
                        admin,
                        args,
                        child: Some(child),
                    };
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            panic!("ledgerd did not start in {}", dir.display());
        })
        .await
        .expect("start task")
    }

    /// Starts again on the same ports (after [`Ledgerd::kill`]).
    pub async fn restart(&mut self) {
        let addrs = Some((self.http_addr, self.grpc_addr));
        let next = Ledgerd::start_full(&self.dir, addrs, self.args.clone()).await;
        *self = next;
    }

    pub fn http(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    pub fn grpc(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server runs").id()
    }

    /// SIGKILL, then reaps the process (its RocksDB lock is gone once this returns).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP: the process freezes; the kernel still accepts connections on its
    /// listening sockets and buffers what clients send, but nothing is answered.
    pub fn freeze(&self) {
        send_signal(self.pid(), "STOP");
    }

    /// SIGCONT after [`Ledgerd::freeze`].
    pub fn thaw(&self) {
        send_signal(self.pid(), "CONT");
    }

    /// The log's verifier key (C2SP note verifier string).
    pub async fn log_key(&self) -> String {
        let text = reqwest::get(format!("{}/log-key", self.http()))
            .await
            .expect("GET /log-key")
            .text()
            .await
            .expect("log key text");
        text.trim().to_owned()
    }

    /// A one-time enrolment token for (site, appliance).
    pub async fn token(&self, site: &str, appliance: &str) -> String {
        let v: Value = reqwest::Client::new()
            .post(format!("{}/v1/admin/enrolment-tokens", self.http()))
            .bearer_auth(&self.admin)
            .json(&json!({"site_id": site, "appliance_id": appliance}))
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token answer");
        v["token"].as_str().expect("token").to_owned()
    }
}

/// The checkpoint origin of a log, from its verifier key (`<name>+<hash>+<key>`).
pub fn origin_of(log_key: &str) -> String {
    log_key
        .split('+')
        .next()
        .expect("verifier key has a name")
        .to_owned()
}
