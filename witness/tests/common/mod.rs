//! Shared pieces of the witness tests: a real `ledger-witness serve` process (key made
//! with `keygen`, a tlog-policy file of trusted logs, a state file kept across
//! restarts, an OS-chosen port read from its "listening on" line), a test log that
//! signs real checkpoints over ledger-core's Merkle tree, and a minimal HTTP/1.1
//! client over a TCP socket.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use ledger_core::checkpoint::Checkpoint;
use ledger_core::hash::Hash;
use ledger_core::note::NoteSigner;
use ledger_core::proof::consistency_proof;
use ledger_core::tree::MemoryTree;
use ledger_core::witness::AddCheckpoint;

pub const BIN: &str = env!("CARGO_BIN_EXE_ledger-witness");

/// One HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request (`Connection: close`) and reads the whole answer.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> std::io::Result<Answer> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_answer(&raw)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad HTTP answer"))
}

fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut content_type = String::new();
    let mut chunked = false;
    for l in lines {
        let (k, v) = l.split_once(':')?;
        if k.eq_ignore_ascii_case("content-type") {
            content_type = v.trim().to_owned();
        }
        if k.eq_ignore_ascii_case("transfer-encoding") && v.trim() == "chunked" {
            chunked = true;
        }
    }
    let body = &raw[end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Some(Answer {
        status,
        content_type,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let i = b.windows(2).position(|w| w == b"\r\n")?;
        let n = usize::from_str_radix(std::str::from_utf8(&b[..i]).ok()?.trim(), 16).ok()?;
        if n == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(i + 2..i + 2 + n)?);
        b = b.get(i + 4 + n..)?;
    }
}

/// A test log: a signing key and an in-memory Merkle tree.
pub struct Log {
    pub signer: NoteSigner,
    pub tree: MemoryTree,
}

impl Log {
    pub fn new(origin: &str, seed_byte: u8) -> Log {
        Log {
            signer: NoteSigner::new(origin, &[seed_byte; 32]).expect("log key"),
            tree: MemoryTree::new(),
        }
    }

    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    pub fn vkey(&self) -> String {
        self.signer.verifier_key()
    }

    /// Appends `n` entries named by `tag` and their position.
    pub fn grow(&mut self, n: u64, tag: &str) {
        for _ in 0..n {
            let i = self.tree.size();
            self.tree.push_entry(format!("{tag} {i}").as_bytes());
        }
    }

    pub fn root(&self, size: u64) -> Hash {
        self.tree.root_at(size).expect("size within the tree")
    }

    /// The signed checkpoint note at `size`.
    pub fn note(&self, size: u64) -> Vec<u8> {
        self.note_with_root(size, self.root(size))
    }

    /// A signed checkpoint note with any root (for forks and bad roots).
    pub fn note_with_root(&self, size: u64, root: Hash) -> Vec<u8> {
        let cp = Checkpoint {
            origin: self.origin().to_owned(),
            size,
            root,
            extensions: vec![],
        };
        cp.sign(&self.signer).expect("signing").as_bytes().to_vec()
    }

    /// The consistency proof `old → size` (empty when `old` is 0 or equal).
    pub fn proof(&self, old: u64, size: u64) -> Vec<Hash> {
        if old == 0 || old == size {
            return vec![];
        }
        consistency_proof(&self.tree, old, size).expect("proof")
    }

    /// A well-formed request `old → size`.
    pub fn body(&self, old: u64, size: u64) -> Vec<u8> {
        AddCheckpoint {
            old,
            proof: self.proof(old, size),
            checkpoint: self.note(size),
        }
        .to_body()
    }
}

/// A `ledger-witness serve` process and its files.
pub struct WitnessProc {
    pub dir: PathBuf,
    pub name: String,
    pub vkey: String,
    pub key: PathBuf,
    pub state: PathBuf,
    pub logs: PathBuf,
    pub addr: Option<SocketAddr>,
    child: Option<(Child, BufReader<ChildStdout>)>,
}

impl Drop for WitnessProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `ledger-witness keygen` and answers the printed verifier key.
pub fn keygen(name: &str, key: &Path) -> String {
    let out = Command::new(BIN)
        .args(["keygen", "--name", name, "--key"])
        .arg(key)
        .output()
        .expect("running keygen");
    assert!(
        out.status.success(),
        "keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl WitnessProc {
    /// Makes the key and a policy trusting `log_vkeys` under `dir`; not started.
    pub fn create(dir: &Path, name: &str, log_vkeys: &[String]) -> WitnessProc {
        let key = dir.join("witness.key");
        let vkey = keygen(name, &key);
        let logs = dir.join("logs.policy");
        let mut policy = String::from("# trusted logs\n");
        for v in log_vkeys {
            policy.push_str(&format!("log {v} http://127.0.0.1:1/\n"));
        }
        policy.push_str("quorum none\n");
        std::fs::write(&logs, policy).expect("policy file");
        WitnessProc {
            dir: dir.to_owned(),
            name: name.to_owned(),
            vkey,
            key,
            state: dir.join("state.sqlite"),
            logs,
            addr: None,
            child: None,
        }
    }

    /// Starts `serve` on 127.0.0.1:0 and waits for its "listening on" line.
    pub fn start(&mut self) -> SocketAddr {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("witness.log"))
            .expect("log file");
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--key")
            .arg(&self.key)
            .arg("--state")
            .arg(&self.state)
            .arg("--logs")
            .arg(&self.logs)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawning serve");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("reading the listen line");
        let addr: SocketAddr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("listen address");
        self.addr = Some(addr);
        self.child = Some((child, out));
        addr
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("started")
    }

    /// SIGKILL, reaped.
    pub fn kill(&mut self) {
        if let Some((mut c, _)) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits up to 10 s for the exit; answers whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        let Some((mut c, _)) = self.child.take() else {
            return false;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .expect("running kill");
        assert!(sent.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Some(status) = c.try_wait().expect("waiting") {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    pub fn add(&self, body: &[u8]) -> Answer {
        request(self.addr(), "POST", "/add-checkpoint", body).expect("add-checkpoint")
    }

    /// `GET /checkpoint` (with `?origin=` when given, URL-encoded).
    pub fn latest(&self, origin: Option<&str>) -> Answer {
        let path = match origin {
            Some(o) => format!("/checkpoint?origin={}", urlencode(o)),
            None => "/checkpoint".to_owned(),
        };
        request(self.addr(), "GET", &path, b"").expect("GET /checkpoint")
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
