//! `ledger-demo` end to end: it must succeed on this machine, print the summary, leave
//! a package that verifies, and stop everything it started.
//!
//! It runs `ledger-agent`, `ledger-verify` and `ledgerd` from the same target directory,
//! which `cargo test --workspace` builds; a narrower run explains what to build.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A workspace binary in the directory of `ledger-demo`.
fn sibling(name: &str) -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_ledger-demo")).with_file_name(name)
}

#[test]
fn demo_runs_every_step_and_prints_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("demo");
    let started = Instant::now();
    let (stdout, stderr, success) = run_serving_demo(&root);
    assert!(success, "demo failed:\n{stdout}\n{stderr}");
    for needle in [
        "local OpenTimestamps calendar",
        "enrolled 3 appliances",
        "recorded 12 records",
        "agents delivered everything",
        "stamped, confirmed in synthetic block",
        "exported the evidence package of clinic-north",
        "ledger-verify package: valid",
        "ledger-verify report: audit report written",
        "steps succeeded",
        "Web console",
        "Repeat the steps by hand",
    ] {
        assert!(
            stdout.contains(needle),
            "`{needle}` missing from:\n{stdout}"
        );
    }
    // What it left behind is real: a package that verifies again by hand.
    let package = root.join("package-clinic-north");
    assert!(package.join("package.json").is_file());
    assert!(package.join("checkpoint.ots").is_file());
    let vkey = std::fs::read_to_string(root.join("log.vkey")).unwrap();
    let verify = sibling("ledger-verify");
    let again = Command::new(&verify)
        .arg("package")
        .arg(&package)
        .args(["--key", vkey.trim(), "--block-headers"])
        .arg(root.join("headers.txt"))
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    // The audit report of that package: the site, and citations of its records.
    let report = std::fs::read_to_string(root.join("audit-report.html")).unwrap();
    assert!(report.contains("clinic-north"));
    assert!(
        report.contains("evidence-ledger:v1:"),
        "no citation in the report"
    );
    // Nothing keeps running: the data directory opens again (RocksDB lock released).
    let key = Command::new(sibling("ledgerd"))
        .args([
            "key",
            "--origin",
            "demo.evidence-ledger.local/log",
            "--data-dir",
        ])
        .arg(root.join("ledgerd-data"))
        .output()
        .unwrap();
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&key.stdout).trim(), vkey.trim());
    eprintln!("demo took {:?}", started.elapsed());
}

/// Runs `ledger-demo --serve`; once it serves, signs in to the console's API with the
/// read token it printed and loads the console page, then stops it with SIGINT (as
/// Ctrl-C does). Returns (stdout, stderr, exited successfully).
fn run_serving_demo(root: &Path) -> (String, String, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger-demo"))
        .arg("--dir")
        .arg(root)
        .arg("--serve")
        .env("LEDGERD_LOG", "warn")
        .env("LEDGER_AGENT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
            if line.starts_with("Serving until Ctrl-C") {
                let _ = tx.send(text.clone());
            }
        }
        text
    });
    let mut err = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    if let Ok(printed) = rx.recv_timeout(Duration::from_secs(300)) {
        check_console(&printed);
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let stdout = reader.join().unwrap();
    (stdout, err_reader.join().unwrap(), status.success())
}

/// The console URL and read token the summary printed work: the page is served with
/// its policy, and the token signs in as a reader of the exported site only.
fn check_console(printed: &str) {
    let field = |name: &str| {
        printed
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(name))
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
            .unwrap_or_else(|| panic!("no `{name}` line in:\n{printed}"))
    };
    let url = field("URL");
    let token = field("read token");
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let page = http_get(&host, "/", None);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.to_ascii_lowercase()
            .contains("content-security-policy:"),
        "{page}"
    );
    let session = http_get(&host, "/v1/session", Some(&token));
    assert!(session.starts_with("HTTP/1.1 200"), "{session}");
    assert!(
        session.contains(r#"{"role":"reader","sites":["clinic-north"]}"#),
        "{session}"
    );
}

/// One plain HTTP/1.1 GET; the whole answer, head and body.
fn http_get(host: &str, path: &str, bearer: Option<&str>) -> String {
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = bearer
        .map(|b| format!("Authorization: Bearer {b}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}
