//! `ledger-demo` end to end: it must succeed on this machine, print the summary, leave
//! a package that verifies, and stop everything it started.
//!
//! It runs `ledger-agent`, `ledger-verify` and `ledgerd` from the same target directory,
//! which `cargo test --workspace` builds; a narrower run explains what to build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// A workspace binary in the directory of `ledger-demo`.
fn sibling(name: &str) -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_ledger-demo")).with_file_name(name)
}

#[test]
fn demo_runs_every_step_and_prints_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("demo");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_ledger-demo"))
        .arg("--dir")
        .arg(&root)
        .env("LEDGERD_LOG", "warn")
        .env("LEDGER_AGENT_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
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
