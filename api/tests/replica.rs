//! `ledgerd replica` against a real S3 engine (a single-node Ceph RGW started with
//! `scripts/ceph-rgw`): a `ledgerd` with the publisher takes records; two real replica
//! processes serve the bucket at the same time. Their checkpoint, tiles and receipts
//! equal the primary's byte for byte at the same tree size, the receipts verify with
//! `ledger-verify receipt`, the same entries prove with `ledger-verify inclusion
//! --tiles` from the replica's checkpoint and tiles, lookups by record hash work from
//! the published bundles (and answer a 404 that says why without them), and
//! a bucket checkpoint overwritten with a bad signature or rolled back is refused (the
//! replica keeps serving the verified one and `/healthz` says why) until the publisher
//! writes a good one again.
//!
//! Without Ceph's binaries (and not root) the test prints why and passes, unless
//! `LEDGER_REQUIRE_RGW=1`. `ledger-verify` is looked up next to `ledgerd` in the same
//! target directory (`cargo build -p verifier` builds it).

mod common;
#[path = "common/rgw.rs"]
mod rgw;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::auth::Principal;
use api::AppState;
use common::TestServer;
use ed25519_dalek::SigningKey;
use ledger_core::hash::Hash;
use ledger_core::tiles;
use ledger_record::{ChainId, Id, KeyId, Record, UnsignedRecord};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use rgw::Rgw;

/// One appliance appending through the in-process intake; keeps every record's bytes.
struct Filler {
    chain: ChainId,
    key: SigningKey,
    prev: Hash,
    records: Vec<Vec<u8>>,
}

impl Filler {
    async fn enrol(state: &AppState, name: &str) -> Filler {
        let chain = ChainId::new(Id::new("site-1").unwrap(), Id::new(name).unwrap());
        let key = SigningKey::from_bytes(&rand::random());
        let token = Id::new(format!("tok-{name}")).unwrap();
        state
            .intake
            .enrol(&chain, key.verifying_key(), token)
            .await
            .unwrap();
        Filler {
            chain,
            key,
            prev: Hash([0; 32]),
            records: Vec::new(),
        }
    }

    async fn append(&mut self, state: &AppState, n: u64) {
        let mut raw = Vec::new();
        for _ in 0..n {
            let sequence = self.records.len() as u64 + raw.len() as u64 + 1;
            let record = Record::sign(
                UnsignedRecord {
                    site_id: self.chain.site_id.clone(),
                    appliance_id: self.chain.appliance_id.clone(),
                    sequence,
                    prev_hash: self.prev,
                    time_ms: common::now_ms(),
                    key_id: KeyId::of(&self.key.verifying_key()),
                    body: common::evidence_body(sequence),
                },
                &self.key,
            )
            .unwrap();
            self.prev = record.hash();
            raw.push(record.encode());
        }
        let who = Principal::Appliance(self.chain.clone());
        for outcome in state.intake.append(&who, raw.clone()).await.unwrap() {
            outcome.expect("intake takes the record");
        }
        self.records.extend(raw);
    }
}

/// A real `ledgerd replica` process, killed when dropped.
struct ReplicaProcess {
    child: Child,
    base: String,
}

impl ReplicaProcess {
    fn start(rgw: &Rgw, prefix: &str, log_key: &str, cache_dir: Option<&Path>) -> ReplicaProcess {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ledgerd"));
        c.arg("replica")
            .args(["--bucket", rgw::BUCKET, "--endpoint", &rgw.endpoint])
            .args(["--region", &rgw.region, "--prefix", prefix])
            .arg("--credentials-file")
            .arg(&rgw.credentials)
            .args(["--allow-http", "--log-key", log_key])
            .args(["--http-listen", "127.0.0.1:0", "--refresh-ms", "100"])
            .env("LEDGERD_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(dir) = cache_dir {
            c.arg("--cache-dir").arg(dir);
        }
        let mut child = c.spawn().expect("ledgerd replica starts");
        let stdout = child.stdout.take().unwrap();
        let addr = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("listening: http ").map(str::to_string));
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ledgerd replica did not start");
        };
        ReplicaProcess {
            child,
            base: format!("http://{addr}"),
        }
    }
}

impl Drop for ReplicaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET a path: status, Cache-Control and body.
async fn get(client: &reqwest::Client, url: String) -> (u16, String, bytes::Bytes) {
    let r = client.get(&url).send().await.unwrap();
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, cache, r.bytes().await.unwrap())
}

/// Waits until the replica serves `note` as its checkpoint.
async fn wait_for_note(client: &reqwest::Client, replica: &ReplicaProcess, note: &str) {
    let start = Instant::now();
    loop {
        let (status, _, body) = get(client, format!("{}/checkpoint", replica.base)).await;
        if status == 200 && body == note.as_bytes() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the replica did not serve the primary's checkpoint (it serves {status} {:?})",
            String::from_utf8_lossy(&body)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn health(client: &reqwest::Client, replica: &ReplicaProcess) -> serde_json::Value {
    client
        .get(format!("{}/healthz", replica.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until the primary's publisher has put its latest checkpoint in the bucket.
async fn published_note(server: &TestServer) -> String {
    let size = server.tree_size().await;
    let start = Instant::now();
    loop {
        let h: serde_json::Value = server
            .client
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if h["publish"]["published_size"] == size {
            return server.get_text("/checkpoint").await;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not published: {h}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn replicas_against_ceph_rgw() {
    let Some(rgw) = Rgw::start() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        scenario(&rgw).await;
        without_bundles(&rgw).await;
    });
}

/// Without published entry bundles a lookup by record hash is a 404 that says why;
/// receipts by index still work.
async fn without_bundles(rgw: &Rgw) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = rgw.settings("r2");
    settings.entry_bundles = false;
    let server = TestServer::start_with(dir.path(), |c| c.publish = settings).await;
    let log_key = server.get_text("/log-key").await.trim().to_string();
    let mut filler = Filler::enrol(server.state(), "box-2").await;
    filler.append(server.state(), 20).await;
    let note = published_note(&server).await;
    let replica = ReplicaProcess::start(rgw, "r2", &log_key, None);
    let client = reqwest::Client::new();
    wait_for_note(&client, &replica, &note).await;
    use sha2::Digest as _;
    let hash = hex::encode(sha2::Sha256::digest(&filler.records[0]));
    let url = format!("{}/v1/receipts/by-hash/{hash}", replica.base);
    let start = Instant::now();
    loop {
        let (status, _, body) = get(&client, url.clone()).await;
        assert_eq!(status, 404);
        if String::from_utf8_lossy(&body).contains("holds no entry bundles") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            String::from_utf8_lossy(&body)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(health(&client, &replica).await["hashed_size"].is_null());
    let size = server.tree_size().await;
    let primary = server.get_text(&format!("/receipt/3?size={size}")).await;
    let (status, _, body) = get(&client, format!("{}/receipt/3", replica.base)).await;
    assert_eq!((status, body), (200, bytes::Bytes::from(primary)));
    drop(replica);
    server.stop().await;
}

async fn scenario(rgw: &Rgw) {
    let dir = tempfile::tempdir().unwrap();
    let settings = rgw.settings("r1");
    let server = TestServer::start_with(dir.path(), |c| c.publish = settings).await;
    let log_key = server.get_text("/log-key").await.trim().to_string();
    let mut filler = Filler::enrol(server.state(), "box-1").await;
    // Two full tiles and a partial one at level 0, a partial tile at level 1.
    filler.append(server.state(), 700).await;
    let note = published_note(&server).await;
    let cache = tempfile::tempdir().unwrap();
    let one = ReplicaProcess::start(rgw, "r1", &log_key, Some(cache.path()));
    let two = ReplicaProcess::start(rgw, "r1", &log_key, None);
    let client = reqwest::Client::new();
    for r in [&one, &two] {
        wait_for_note(&client, r, &note).await;
    }
    let size = server.tree_size().await;
    same_as_primary(&server, &client, &[&one, &two], &filler, size).await;
    verify_with_ledger_verify(&client, &one, &filler, &log_key, dir.path()).await;
    by_hash(&server, &client, &one, &filler).await;
    refuses_bad_checkpoints(&server, rgw, &client, &one, &mut filler, &note).await;
    // The second replica saw the same bucket: it follows to the same place.
    let latest = server.get_text("/checkpoint").await;
    wait_for_note(&client, &two, &latest).await;
    let metrics = get(&client, format!("{}/metrics", one.base)).await.2;
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    assert!(
        metrics.contains("ledger_replica_cache_hits_total{cache=\"memory\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ledger_replica_checkpoints_refused_total 2"),
        "{metrics}"
    );
    drop((one, two));
    server.stop().await;
}

/// Checkpoint, tiles, receipts and consistency proofs equal the primary's.
async fn same_as_primary(
    server: &TestServer,
    client: &reqwest::Client,
    replicas: &[&ReplicaProcess],
    filler: &Filler,
    size: u64,
) {
    for r in replicas {
        let (status, cache, body) = get(client, format!("{}/checkpoint", r.base)).await;
        assert_eq!((status, cache.as_str()), (200, "no-cache"));
        assert_eq!(body, server.get_text("/checkpoint").await.as_bytes());
        for t in tiles::tiles_for_size(size) {
            let key = t.path();
            let (status, cache, body) = get(client, format!("{}/{key}", r.base)).await;
            assert_eq!(status, 200, "{key}");
            assert_eq!(cache, "public, max-age=604800, immutable", "{key}");
            let primary = get(client, server.url(&format!("/{key}"))).await.2;
            assert_eq!(body, primary, "{key}: replica and primary differ");
        }
        let first_record = size - filler.records.len() as u64;
        for index in [0, 1, first_record, 255, 256, 511, 512, size - 1] {
            let primary = server
                .get_text(&format!("/receipt/{index}?size={size}"))
                .await;
            for path in ["receipt", "v1/receipts"] {
                let (status, cache, body) = get(client, format!("{}/{path}/{index}", r.base)).await;
                assert_eq!(
                    (status, cache.as_str()),
                    (200, "no-cache"),
                    "{path}/{index}"
                );
                assert_eq!(body, primary.as_bytes(), "receipt {index} differs");
            }
        }
        for (from, to) in [(1, size), (255, 600), (256, 512), (300, size)] {
            let path = format!("/proof/consistency?from={from}&to={to}");
            let primary = server.get_text(&path).await;
            let (status, _, body) = get(client, format!("{}{path}", r.base)).await;
            assert_eq!(status, 200, "{path}");
            assert_eq!(body, primary.as_bytes(), "{path}");
        }
        let (status, _, _) = get(client, format!("{}/receipt/{size}", r.base)).await;
        assert_eq!(status, 404, "an index past the tree");
    }
}

/// `ledger-verify receipt` accepts the replica's receipts and refuses one for other bytes.
async fn verify_with_ledger_verify(
    client: &reqwest::Client,
    replica: &ReplicaProcess,
    filler: &Filler,
    log_key: &str,
    work: &Path,
) {
    let verify = Path::new(env!("CARGO_BIN_EXE_ledgerd")).with_file_name("ledger-verify");
    assert!(
        verify.exists(),
        "{} is missing: cargo build -p verifier",
        verify.display()
    );
    let size: u64 = {
        let body = get(client, format!("{}/checkpoint", replica.base)).await.2;
        String::from_utf8_lossy(&body)
            .lines()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    let first = size - filler.records.len() as u64;
    for (k, wrong) in [(0usize, false), (333, false), (699, false), (5, true)] {
        let index = first + k as u64;
        let receipt = get(client, format!("{}/receipt/{index}", replica.base))
            .await
            .2;
        let receipt_file = work.join(format!("r{k}.tlog-proof"));
        let entry_file = work.join(format!("r{k}.cbor"));
        std::fs::write(&receipt_file, &receipt).unwrap();
        let entry = &filler.records[if wrong { k + 1 } else { k }];
        std::fs::write(&entry_file, entry).unwrap();
        let out = Command::new(&verify)
            .arg("receipt")
            .arg(&receipt_file)
            .arg("--entry")
            .arg(&entry_file)
            .args(["--key", log_key])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.success(),
            !wrong,
            "ledger-verify receipt {index}: {text}"
        );
        // The same entry proved from the replica's checkpoint and tiles, no receipt.
        let out = Command::new(&verify)
            .args([
                "--json",
                "inclusion",
                "--tiles",
                &replica.base,
                "--key",
                log_key,
            ])
            .args(["--index", &index.to_string(), "--entry"])
            .arg(&entry_file)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let expected = if wrong { 1 } else { 0 };
        assert_eq!(
            out.status.code(),
            Some(expected),
            "ledger-verify inclusion --tiles {index}: {text}"
        );
        if !wrong {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                (v["index"].as_u64(), v["size"].as_u64()),
                (Some(index), Some(size))
            );
        }
    }
}

/// Receipts by record hash from the published entry bundles equal the primary's.
async fn by_hash(
    server: &TestServer,
    client: &reqwest::Client,
    replica: &ReplicaProcess,
    filler: &Filler,
) {
    use sha2::Digest as _;
    for k in [0usize, 400, 699] {
        let hash = hex::encode(sha2::Sha256::digest(&filler.records[k]));
        let path = format!("/v1/receipts/by-hash/{hash}");
        let primary = server.get_text(&path).await;
        let start = Instant::now();
        loop {
            let (status, _, body) = get(client, format!("{}{path}", replica.base)).await;
            if status == 200 {
                assert_eq!(body, primary.as_bytes(), "{path}");
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{path}: {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let unknown = format!("{}/v1/receipts/by-hash/{}", replica.base, "ab".repeat(32));
    assert_eq!(get(client, unknown).await.0, 404);
}

/// Overwrites the bucket's checkpoint (as an attacker with bucket access could).
async fn overwrite_checkpoint(store: &Arc<dyn ObjectStore>, prefix: &str, note: &[u8]) {
    let path = ObjectPath::parse(format!("{prefix}/checkpoint")).unwrap();
    store
        .put(&path, PutPayload::from(note.to_vec()))
        .await
        .unwrap();
}

/// Waits until `/healthz` is degraded with a reason containing `why`.
async fn wait_for_refusal(client: &reqwest::Client, replica: &ReplicaProcess, why: &str) {
    let start = Instant::now();
    loop {
        let h = health(client, replica).await;
        if h["status"] == "degraded" && h["reason"].as_str().is_some_and(|r| r.contains(why)) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no refusal ({why}): {h}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A bad signature and a rollback are refused; the verified checkpoint stays served;
/// the publisher's next checkpoint is taken again.
async fn refuses_bad_checkpoints(
    server: &TestServer,
    rgw: &Rgw,
    client: &reqwest::Client,
    replica: &ReplicaProcess,
    filler: &mut Filler,
    first_note: &str,
) {
    let store = rgw.client();
    let good = server.get_text("/checkpoint").await;
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    let size: u64 = lines[1].parse().unwrap();
    lines[1] = (size + 1000).to_string();
    let forged = format!("{}\n", lines.join("\n"));
    overwrite_checkpoint(&store, "r1", forged.as_bytes()).await;
    wait_for_refusal(client, replica, "does not verify with the log key").await;
    let (_, _, body) = get(client, format!("{}/checkpoint", replica.base)).await;
    assert_eq!(
        body,
        good.as_bytes(),
        "the verified checkpoint is still served"
    );
    let receipt = get(client, format!("{}/receipt/0", replica.base)).await;
    assert_eq!(
        receipt.0, 200,
        "receipts go on against the verified checkpoint"
    );
    // The publisher puts a good checkpoint back with the next growth.
    filler.append(server.state(), 300).await;
    let newer = published_note(server).await;
    wait_for_note(client, replica, &newer).await;
    assert_eq!(health(client, replica).await["status"], "ok");
    // A valid but older checkpoint (a rollback) is refused too.
    overwrite_checkpoint(&store, "r1", first_note.as_bytes()).await;
    wait_for_refusal(client, replica, "rollback").await;
    let (_, _, body) = get(client, format!("{}/checkpoint", replica.base)).await;
    assert_eq!(body, newer.as_bytes());
    filler.append(server.state(), 10).await;
    let latest = published_note(server).await;
    wait_for_note(client, replica, &latest).await;
}
