//! Restart without a scan of the log: the intake state (chain heads, key history) is
//! persisted with every batch and read back on start. `ledgerd fsck` cross-checks it
//! against a rebuild from every entry, reports a damaged state by chain, and
//! `--rebuild-state` repairs it; a log appended to without the deriver is rebuilt on
//! start. After each of these, appliances continue their chains where they were.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Appliance, TestServer};
use ledger::Log;

fn fsck(dir: &Path, rebuild: bool) -> (Option<i32>, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ledgerd"));
    c.env("LEDGERD_LOG", "warn")
        .arg("--data-dir")
        .arg(dir)
        .arg("fsck");
    if rebuild {
        c.arg("--rebuild-state");
    }
    let out = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// Appends `n` evidence records to the appliance's chain and checks each is accepted.
async fn append(server: &TestServer, appliance: &mut Appliance, n: usize) {
    for _ in 0..n {
        let record = appliance.next_evidence();
        let (status, body) = server
            .append_http(Some(&appliance.credential), record.as_bytes().to_vec())
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

/// Opens the stopped server's log the way `ledgerd` does, to damage or extend it.
fn open_log(dir: &Path, with_deriver: bool) -> Log {
    let config = api::config::Config::for_dir(dir).unwrap();
    let mut log_config = api::state::log_config(&config);
    if !with_deriver {
        log_config.deriver = None;
    }
    Log::open(log_config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_is_restored_cross_checked_repaired_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut a = server.enrol("clinic-1", "app-a").await;
    let mut b = server.enrol("clinic-2", "app-b").await;
    append(&server, &mut a, 3).await;
    let rotation = a.rotate();
    let (status, body) = server
        .append_http(Some(&a.credential), rotation.as_bytes().to_vec())
        .await;
    assert_eq!(status, 200, "{body}");
    append(&server, &mut b, 2).await;
    server.stop().await;

    let (code, out) = fsck(dir.path(), false);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("intake state: matches the rebuild"), "{out}");
    // The operator's chain and the two appliances'.
    assert!(out.contains("3 chains"), "{out}");

    // A restart restores the heads: both chains continue, and the rotated key is the
    // one in force.
    let server = TestServer::start(dir.path()).await;
    append(&server, &mut a, 2).await;
    append(&server, &mut b, 1).await;
    server.stop().await;

    // Damage b's head in the persisted state: fsck names the chain and fails.
    {
        let log = open_log(dir.path(), true);
        let (key, mut value) = log
            .state_scan(b"h")
            .map(Result::unwrap)
            .find(|(k, _)| k.ends_with(b"app-b"))
            .expect("b's head is persisted");
        value[7] ^= 1;
        log.store().debug_put_raw("state", &key, &value).unwrap();
    }
    let (code, out) = fsck(dir.path(), false);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("different in the persisted state: head of chain clinic-2/app-b"),
        "{out}"
    );
    let (code, out) = fsck(dir.path(), true);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("intake state: replaced by the rebuild"),
        "{out}"
    );
    let (code, out) = fsck(dir.path(), false);
    assert_eq!(code, Some(0), "{out}");

    // An entry appended without the deriver leaves the state behind the log: fsck says
    // so, and a start rebuilds it.
    open_log(dir.path(), false)
        .append(b"an entry that is not a record".to_vec())
        .unwrap();
    let (code, out) = fsck(dir.path(), false);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("does not cover the whole log"), "{out}");
    let server = TestServer::start(dir.path()).await;
    append(&server, &mut a, 1).await;
    append(&server, &mut b, 1).await;
    server.stop().await;
    let (code, out) = fsck(dir.path(), false);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 entries not records"), "{out}");
}

#[test]
fn fsck_of_a_directory_without_a_log_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = fsck(dir.path(), false);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("holds no log"), "{out}");
}
