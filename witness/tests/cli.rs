//! The command line: `keygen` writes a 0600 key file once and prints the verifier key,
//! refuses to overwrite, `vkey` prints the same key again, and `serve` refuses a bad
//! key file or a policy without logs with a message naming the file, and stops
//! cleanly (exit 0) on SIGTERM with its state kept.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{keygen, Log, WitnessProc, BIN};
use ledger_core::cosignature::CosignatureVerifier;

#[test]
fn keygen_once_then_vkey_prints_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("w.key");
    let vkey = keygen("witness.example", &key);
    assert!(vkey.starts_with("witness.example+"), "{vkey}");
    CosignatureVerifier::parse(&vkey).expect("a cosignature/v1 verifier key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let before = std::fs::read(&key).unwrap();

    let again = Command::new(BIN)
        .args(["keygen", "--name", "other", "--key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(!again.status.success(), "keygen must not overwrite");
    assert_eq!(std::fs::read(&key).unwrap(), before);

    let out = Command::new(BIN)
        .args(["vkey", "--key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), vkey);
}

#[test]
fn serve_refuses_bad_inputs_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("w.key");
    keygen("witness.example", &key);
    let empty = dir.path().join("empty.policy");
    std::fs::write(&empty, "quorum none\n").unwrap();
    let serve = |key: &std::path::Path, logs: &std::path::Path| {
        Command::new(BIN)
            .arg("serve")
            .arg("--key")
            .arg(key)
            .arg("--state")
            .arg(dir.path().join("s.sqlite"))
            .arg("--logs")
            .arg(logs)
            .args(["--listen", "127.0.0.1:0"])
            .output()
            .unwrap()
    };
    let out = serve(&key, &empty);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no `log <vkey>` line"));

    let tampered = dir.path().join("t.key");
    let text = std::fs::read_to_string(&key)
        .unwrap()
        .replace("witness.example", "witness.evil");
    std::fs::write(&tampered, text).unwrap();
    std::fs::set_permissions(&tampered, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = serve(&tampered, &empty);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("t.key") && err.contains("integrity check"),
        "{err}"
    );
}

#[test]
fn serve_stops_on_sigterm_and_keeps_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::new("example.com/term", 6);
    let mut w = WitnessProc::create(dir.path(), "witness.example", &[log.vkey()]);
    w.start();
    log.grow(3, "t");
    assert_eq!(w.add(&log.body(0, 3)).status, 200);
    let before = w.latest(None);
    assert!(w.terminate(), "exit status 0 after SIGTERM");
    w.start();
    assert_eq!(w.latest(None), before);
}
