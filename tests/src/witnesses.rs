//! Real `ledger-witness` processes for the witnessing tests: a key made with `keygen`,
//! a trusted-logs file naming the log under test, a state file kept across restarts,
//! and a fixed port on 127.0.0.1 so ledgerd's policy file can name it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::procs::locate;

/// The `ledger-witness` binary.
pub fn witness_bin() -> PathBuf {
    locate("LEDGER_WITNESS_BIN", "ledger-witness")
}

/// One witness.
pub struct WitnessProc {
    /// Its key name (also its name in the policies the tests write).
    pub name: String,
    /// Its cosignature/v1 verifier key.
    pub vkey: String,
    pub addr: SocketAddr,
    key: PathBuf,
    state: PathBuf,
    logs: PathBuf,
    log_file: PathBuf,
    child: Option<Child>,
}

impl Drop for WitnessProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    l.local_addr().expect("local address")
}

impl WitnessProc {
    /// Makes the key (`ledger-witness keygen`) and the trusted-logs file for `log_vkey`
    /// under `root/name`. Not started yet.
    pub fn create(root: &Path, name: &str, log_vkey: &str) -> WitnessProc {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("witness directory");
        let key = dir.join("witness.key");
        let out = Command::new(witness_bin())
            .args(["keygen", "--name", name, "--key"])
            .arg(&key)
            .output()
            .expect("running ledger-witness keygen");
        assert!(
            out.status.success(),
            "keygen {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vkey = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&format!("{name}+")))
            .expect("keygen prints the verifier key")
            .to_owned();
        let logs = dir.join("logs.policy");
        std::fs::write(&logs, format!("log {log_vkey}\nquorum none\n")).expect("logs file");
        WitnessProc {
            name: name.to_owned(),
            vkey,
            addr: free_port(),
            key,
            state: dir.join("state.sqlite"),
            logs,
            log_file: dir.join("witness.log"),
            child: None,
        }
    }

    /// Starts `ledger-witness serve` on its port and waits until it accepts
    /// connections (at most 30 s).
    pub fn start(&mut self) {
        if self.child.is_some() {
            return;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .expect("witness log file");
        let child = Command::new(witness_bin())
            .arg("serve")
            .arg("--key")
            .arg(&self.key)
            .arg("--state")
            .arg(&self.state)
            .arg("--logs")
            .arg(&self.logs)
            .arg("--listen")
            .arg(self.addr.to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning ledger-witness serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "witness {} did not listen on {}",
                self.name,
                self.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, reaped.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The submission prefix.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A policy file: these witnesses (with their URLs), `k` of them required.
pub fn policy(log_vkey: &str, witnesses: &[&WitnessProc], k: usize) -> String {
    let mut text = format!("log {log_vkey}\n");
    for w in witnesses {
        text.push_str(&format!("witness {} {} {}\n", w.name, w.vkey, w.url()));
    }
    let names: Vec<&str> = witnesses.iter().map(|w| w.name.as_str()).collect();
    text.push_str(&format!(
        "group quorum {k} {}\nquorum quorum\n",
        names.join(" ")
    ));
    text
}
