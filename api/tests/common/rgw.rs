//! A throw-away single-node Ceph cluster with the RADOS gateway for tests, started with
//! `scripts/ceph-rgw` on 127.0.0.1 and stopped when dropped, shared by the publisher's
//! and the replicas' tests (`#[path]`, so `common/mod.rs` stays as it is). Without Ceph's binaries (and not root, so the
//! script cannot install them) `Rgw::start` prints why and returns `None`, unless
//! `LEDGER_REQUIRE_RGW=1`.

// Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::config::PublishSettings;
use object_store::aws::AmazonS3Builder;
use object_store::ObjectStore;

/// The bucket every scenario uses (each under its own prefix).
pub const BUCKET: &str = "ledger";

/// A throw-away Ceph cluster with RGW, stopped when dropped.
pub struct Rgw {
    dir: tempfile::TempDir,
    pub endpoint: String,
    pub region: String,
    key: String,
    secret: String,
    /// `s3.env` copied with mode 0600, as `publish_credentials_file`.
    pub credentials: PathBuf,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/ceph-rgw")
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

impl Rgw {
    /// Starts the cluster, or `None` (with a printed reason) when it cannot be had and
    /// `LEDGER_REQUIRE_RGW` is not `1`.
    pub fn start() -> Option<Rgw> {
        let required = std::env::var("LEDGER_REQUIRE_RGW").is_ok_and(|v| v == "1");
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if !on_path("radosgw") && !root {
            assert!(
                !required,
                "LEDGER_REQUIRE_RGW=1 but radosgw is missing and apt-get needs root"
            );
            println!("skipped: Ceph's radosgw is not installed and this user cannot install it");
            return None;
        }
        // The cluster's files go to memory when there is /dev/shm: ceph-mon exits at
        // start (ENOSPC) when its file system has under 2 % free (it rounds down), which
        // a build machine's disk often is, and memstore keeps the objects in memory
        // anyway.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let started = Instant::now();
        let out = Command::new(script())
            .arg("start")
            .arg(dir.path())
            .output()
            .expect("running scripts/ceph-rgw");
        assert!(
            out.status.success(),
            "scripts/ceph-rgw start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!("RGW started in {:.1} s", started.elapsed().as_secs_f64());
        let env = std::fs::read_to_string(dir.path().join("s3.env")).unwrap();
        let var = |name: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("{name} in s3.env"))
                .to_string()
        };
        let credentials = dir.path().join("publish-credentials");
        write_private(&credentials, env.as_bytes());
        let rgw = Rgw {
            endpoint: var("AWS_ENDPOINT_URL"),
            region: var("AWS_REGION"),
            key: var("AWS_ACCESS_KEY_ID"),
            secret: var("AWS_SECRET_ACCESS_KEY"),
            credentials,
            dir,
        };
        rgw.create_bucket(BUCKET);
        Some(rgw)
    }

    /// Creates a bucket, signed by curl as the script does (object_store makes none).
    pub fn create_bucket(&self, name: &str) {
        let empty_sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let status = Command::new("curl")
            .args(["-sf", "-o", "/dev/null", "-X", "PUT", "--aws-sigv4"])
            .arg(format!("aws:amz:{}:s3", self.region))
            .arg("--user")
            .arg(format!("{}:{}", self.key, self.secret))
            .arg("-H")
            .arg(format!("x-amz-content-sha256: {empty_sha}"))
            .arg(format!("{}/{name}", self.endpoint))
            .status()
            .unwrap();
        assert!(status.success(), "creating bucket {name}");
    }

    pub fn settings(&self, prefix: &str) -> PublishSettings {
        PublishSettings {
            bucket: Some(BUCKET.into()),
            endpoint: Some(self.endpoint.clone()),
            region: Some(self.region.clone()),
            credentials_file: Some(self.credentials.clone()),
            allow_http: true,
            prefix: prefix.into(),
            entry_bundles: true,
            interval: Duration::from_millis(50),
        }
    }

    /// A client of our own, independent of the server's.
    pub fn client(&self) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_region(&self.region)
                .with_bucket_name(BUCKET)
                .with_access_key_id(&self.key)
                .with_secret_access_key(&self.secret)
                .build()
                .unwrap(),
        )
    }

    fn rgw_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.path().join("run/client.rgw.a.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Stops radosgw only: the mon and the OSD keep the data (memstore lives in the OSD).
    pub fn stop_gateway(&self) {
        let pid = self.rgw_pid().expect("radosgw pid file");
        let _ = Command::new("kill").arg(pid.to_string()).status();
        for _ in 0..100 {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }

    /// Starts radosgw again on the same cluster, as the script does, and waits for it.
    pub fn start_gateway(&self) {
        let conf = self.dir.path().join("ceph.conf");
        let status = Command::new("radosgw")
            .arg("-c")
            .arg(&conf)
            .args(["-n", "client.rgw.a"])
            .status()
            .unwrap();
        assert!(status.success(), "radosgw restarts");
        for _ in 0..300 {
            let up = Command::new("curl")
                .args(["-sf", "-o", "/dev/null"])
                .arg(format!("{}/", self.endpoint))
                .status()
                .is_ok_and(|s| s.success());
            if up {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("radosgw did not answer after its restart");
    }
}

impl Drop for Rgw {
    fn drop(&mut self) {
        let started = Instant::now();
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
        println!("RGW stopped in {:.1} s", started.elapsed().as_secs_f64());
    }
}

/// Writes a new file with mode 0600.
pub fn write_private(path: &Path, bytes: &[u8]) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}
