//! A full disk under the data directory, on a small tmpfs mounted by the test (needs
//! root; skipped with a message otherwise).
//!
//! With the free-space reserve, appends are refused with 507 / RESOURCE_EXHAUSTED and a
//! Retry-After before RocksDB ever sees a full disk; `/healthz` says `degraded` and why;
//! nothing receipted is lost; and once space is freed the same server takes the refused
//! record and continues, without a restart.
//!
//! Without the reserve, RocksDB's write fails with ENOSPC (a real I/O error from the
//! kernel): the log stops acknowledging, `/healthz` answers 503 `stopped` with the
//! reason, no checkpoint beyond the last durable batch is published, and after a restart
//! with space freed every receipted record is there and the log passes fsck.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Appliance, TestServer};
use serde_json::Value;

/// A tmpfs mounted for one test, unmounted when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &Path, mib: u64) -> Option<Mount> {
    if !Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    {
        eprintln!("skipped: mounting a small file system needs root");
        return None;
    }
    std::fs::create_dir_all(dir).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
        .arg(dir)
        .status()
        .expect("mount runs");
    assert!(
        status.success(),
        "mounting a {mib} MiB tmpfs at {} failed",
        dir.display()
    );
    Some(Mount(dir.to_path_buf()))
}

/// Fills the file system so that about `leave` bytes stay free.
fn ballast(mount: &Mount, leave: u64) -> PathBuf {
    let path = mount.0.join("ballast");
    let free = ledger::space::available_bytes(&mount.0).unwrap();
    assert!(free > leave, "only {free} bytes free");
    std::fs::write(&path, vec![0u8; (free - leave) as usize]).unwrap();
    path
}

async fn health(server: &TestServer) -> (u16, Value) {
    let r = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Appends evidence records until one is refused (bounded); returns the receipted
/// records by index, and the refused record with its status, error body and headers.
async fn append_until_refused(
    server: &TestServer,
    appliance: &mut Appliance,
) -> (Vec<(u64, Vec<u8>)>, Vec<u8>, u16, Value, Option<String>) {
    let mut receipted = Vec::new();
    for _ in 0..20_000 {
        let record = appliance.next_evidence();
        let bytes = record.as_bytes().to_vec();
        let r = server
            .post_bytes("/v1/records", Some(&appliance.credential), bytes.clone())
            .await;
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if status == 200 {
            receipted.push((body["index"].as_u64().unwrap(), bytes));
            continue;
        }
        return (receipted, bytes, status, body, retry);
    }
    panic!("20000 records fit on a disk that was meant to be nearly full");
}

fn assert_all_logged(server: &TestServer, receipted: &[(u64, Vec<u8>)]) {
    let log = &server.state().log;
    for (index, bytes) in receipted {
        assert_eq!(&log.entry(*index).unwrap(), bytes, "entry {index}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_reserve_appends_wait_and_resume_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mount) = mount_tmpfs(&dir.path().join("disk"), 96) else {
        return;
    };
    let data = mount.0.join("data");
    let reserve = 16u64 << 20;
    let server = TestServer::start_with(&data, |c| c.min_free_disk_bytes = reserve).await;
    let mut appliance = server.enrol("clinic-1", "app-1").await;
    let ballast = ballast(&mount, reserve + (1 << 20));
    let (receipted, refused, status, body, retry) =
        append_until_refused(&server, &mut appliance).await;
    assert!(!receipted.is_empty(), "the headroom took no record at all");
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_storage", "{body}");
    assert!(retry.is_some(), "507 without Retry-After");
    let size = server.state().log.latest().size;

    // gRPC says the same with its own code.
    let mut client = server.grpc_client().await;
    let mut req = tonic::Request::new(api::grpc::pb::AppendRequest {
        records: vec![refused.clone()],
    });
    let bearer = format!("Bearer {}", appliance.credential);
    req.metadata_mut()
        .insert("authorization", bearer.parse().unwrap());
    let err = client.append(req).await.expect_err("refused over gRPC too");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert_eq!(
        err.metadata().get("x-error-code").unwrap(),
        "insufficient_storage"
    );
    let (code, h) = health(&server).await;
    assert_eq!((code, h["status"].as_str()), (200, Some("degraded")), "{h}");
    assert!(h["reason"].as_str().unwrap().contains("reserve"), "{h}");
    // Nothing was appended or signed while refusing, and nothing receipted is lost.
    assert_eq!(server.state().log.latest().size, size);
    assert_all_logged(&server, &receipted);

    // Space freed: the same server takes the refused record and the chain goes on.
    std::fs::remove_file(ballast).unwrap();
    let (status, body) = server
        .append_http(Some(&appliance.credential), refused)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["index"].as_u64(), Some(size));
    for _ in 0..5 {
        let record = appliance.next_evidence();
        let (status, body) = server
            .append_http(Some(&appliance.credential), record.as_bytes().to_vec())
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (code, h) = health(&server).await;
    assert_eq!((code, h["status"].as_str()), (200, Some("ok")), "{h}");
    let metrics = server.get_text("/metrics").await;
    assert!(metrics.contains("ledger_no_space_total "), "{metrics}");
    assert!(!metrics.contains("ledger_no_space_total 0\n"), "{metrics}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_stops_acknowledging_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mount) = mount_tmpfs(&dir.path().join("disk"), 96) else {
        return;
    };
    let data = mount.0.join("data");
    let server = TestServer::start_with(&data, |c| c.min_free_disk_bytes = 0).await;
    let mut appliance = server.enrol("clinic-1", "app-1").await;
    let ballast = ballast(&mount, 1 << 20);
    let (receipted, refused, status, body, _) = append_until_refused(&server, &mut appliance).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let (code, h) = health(&server).await;
    assert_eq!((code, h["status"].as_str()), (503, Some("stopped")), "{h}");
    assert!(
        h["reason"].as_str().unwrap().contains("group commit"),
        "{h}"
    );
    // The published tree is the last durable one: every receipted entry, nothing more.
    let size = server.state().log.latest().size;
    let last_receipted = receipted.last().map(|(i, _)| *i).unwrap();
    assert_eq!(size, last_receipted + 1);
    assert_all_logged(&server, &receipted);
    // Still refusing: a stopped log takes nothing until it is restarted.
    let next = appliance.next_evidence();
    let (status, _) = server
        .append_http(Some(&appliance.credential), next.as_bytes().to_vec())
        .await;
    assert_eq!(status, 503);
    server.stop().await;

    std::fs::remove_file(ballast).unwrap();
    let server = TestServer::start_with(&data, |c| c.min_free_disk_bytes = 0).await;
    assert_all_logged(&server, &receipted);
    server
        .state()
        .log
        .fsck()
        .expect("the log checks after the failed write");
    // The refused record may or may not have reached the disk; either way a retry gets
    // it its one index, and the chain continues after it.
    for bytes in [refused, next.as_bytes().to_vec()] {
        let (status, body) = server.append_http(Some(&appliance.credential), bytes).await;
        assert_eq!(status, 200, "{body}");
    }
    let (code, h) = health(&server).await;
    assert_eq!((code, h["status"].as_str()), (200, Some("ok")), "{h}");
    server.stop().await;
}
