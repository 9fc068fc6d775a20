//! The object-storage publisher against a real S3 engine: a single-node Ceph RGW that
//! this test starts with `scripts/ceph-rgw` on 127.0.0.1 and stops at the end (one
//! cluster for the whole binary; each scenario has its own prefix in one bucket).
//!
//! Scenarios, in order: what `ledgerd` serves over HTTP appears in the bucket byte for
//! byte with the right headers, and an independent tlog-tiles implementation (the
//! `tlog_tiles` crate) recomputes the signed root from the bucket's tiles; a bucket
//! whose checkpoint is another log's, or whose tile differs, is refused and never
//! overwritten; a stopped radosgw stalls publication only, and it catches up once
//! radosgw is back; SIGKILL of the real `ledgerd` mid-publication, restarted every time,
//! leaves the bucket consistent (`LEDGER_PUBLISH_KILLS` rounds, default 6; the
//! acceptance run uses 20 or more).
//!
//! Without Ceph's binaries (and not root, so the script cannot install them) the test
//! prints why and passes, unless `LEDGER_REQUIRE_RGW=1`.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::auth::Principal;
use api::config::Config;
use api::AppState;
use bytes::Bytes;
use common::{verify_answer, TestServer};
use ed25519_dalek::SigningKey;
use ledger::Log;
use ledger_core::checkpoint::SignedCheckpoint;
use ledger_core::hash::Hash;
use ledger_core::note::NoteVerifier;
use ledger_core::tiles::{self, TilePath};
use ledger_record::{ChainId, Id, KeyId, Record, UnsignedRecord};
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, ObjectStore, ObjectStoreExt as _, PutPayload};

#[path = "common/rgw.rs"]
mod rgw;

use rgw::Rgw;

async fn get(store: &Arc<dyn ObjectStore>, key: &str) -> Option<(Bytes, HashMap<String, String>)> {
    let found = match store.get(&ObjectPath::parse(key).unwrap()).await {
        Ok(found) => found,
        Err(object_store::Error::NotFound { .. }) => return None,
        Err(e) => panic!("GET {key}: {e}"),
    };
    let mut headers = HashMap::new();
    for (name, attribute) in [
        ("cache-control", Attribute::CacheControl),
        ("content-type", Attribute::ContentType),
    ] {
        if let Some(v) = found.attributes.get(&attribute) {
            headers.insert(name.to_string(), v.to_string());
        }
    }
    Some((found.bytes().await.unwrap(), headers))
}

async fn list(store: &Arc<dyn ObjectStore>, prefix: &str) -> Vec<String> {
    use futures_util::StreamExt as _;
    let base = ObjectPath::parse(prefix).unwrap();
    let mut stream = store.list(Some(&base));
    let mut keys = Vec::new();
    while let Some(meta) = stream.next().await {
        let full = meta.unwrap().location.to_string();
        keys.push(full[prefix.len() + 1..].to_string());
    }
    keys.sort();
    keys
}

/// The bucket's checkpoint under `prefix`, verified with the log key.
async fn bucket_checkpoint(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    log_key: &NoteVerifier,
) -> Option<SignedCheckpoint> {
    let (note, _) = get(store, &format!("{prefix}/checkpoint")).await?;
    Some(SignedCheckpoint::verify(&note, log_key).expect("the bucket's checkpoint verifies"))
}

/// Waits until the bucket's checkpoint under `prefix` has `size` entries.
async fn wait_for_size(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    log_key: &NoteVerifier,
    size: u64,
    limit: Duration,
) -> SignedCheckpoint {
    let start = Instant::now();
    loop {
        if let Some(cp) = bucket_checkpoint(store, prefix, log_key).await {
            if cp.size() >= size {
                return cp;
            }
        }
        assert!(
            start.elapsed() < limit,
            "the bucket did not reach size {size} in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One appliance appending through the in-process intake (signature, key and chain
/// checked, as over HTTP).
struct Filler {
    chain: ChainId,
    key: SigningKey,
    sequence: u64,
    prev: Hash,
}

impl Filler {
    async fn enrol(state: &AppState, name: &str) -> Filler {
        let chain = ChainId::new(Id::new("site-1").unwrap(), Id::new(name).unwrap());
        let key = SigningKey::from_bytes(&rand::random());
        state
            .intake
            .enrol(
                &chain,
                key.verifying_key(),
                Id::new(format!("tok-{name}")).unwrap(),
            )
            .await
            .unwrap();
        Filler {
            chain,
            key,
            sequence: 0,
            prev: Hash([0; 32]),
        }
    }

    async fn append(&mut self, state: &AppState, n: u64) {
        let mut raw = Vec::new();
        for _ in 0..n {
            self.sequence += 1;
            let record = Record::sign(
                UnsignedRecord {
                    site_id: self.chain.site_id.clone(),
                    appliance_id: self.chain.appliance_id.clone(),
                    sequence: self.sequence,
                    prev_hash: self.prev,
                    time_ms: common::now_ms(),
                    key_id: KeyId::of(&self.key.verifying_key()),
                    body: common::evidence_body(self.sequence),
                },
                &self.key,
            )
            .unwrap();
            self.prev = record.hash();
            raw.push(record.encode());
        }
        let who = Principal::Appliance(self.chain.clone());
        for outcome in state.intake.append(&who, raw).await.unwrap() {
            outcome.expect("intake takes the record");
        }
    }
}

#[test]
fn publisher_against_ceph_rgw() {
    let Some(rgw) = Rgw::start() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let t = Instant::now();
        bucket_equals_http_and_verifies_independently(&rgw).await;
        println!(
            "scenario bytes/headers/tlog_tiles: {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        a_foreign_bucket_is_refused(&rgw).await;
        println!("scenario refusals: {:.1} s", t.elapsed().as_secs_f64());
        let t = Instant::now();
        a_stopped_gateway_stalls_publication_only(&rgw).await;
        println!(
            "scenario stopped radosgw: {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        sigkill_mid_publication_leaves_the_bucket_consistent(&rgw).await;
        println!("scenario SIGKILL: {:.1} s", t.elapsed().as_secs_f64());
    });
}

/// (1) and (2): tiles, bundles and the checkpoint in the bucket equal ledgerd's HTTP
/// answers, with the right headers; `tlog_tiles` recomputes the root from them.
async fn bucket_equals_http_and_verifies_independently(rgw: &Rgw) {
    let dir = tempfile::tempdir().unwrap();
    let settings = rgw.settings("s1");
    let server = TestServer::start_with(dir.path(), |c| c.publish = settings).await;
    let log_key = server.log_verifier().await;
    let mut filler = Filler::enrol(server.state(), "box-1").await;
    // 2 full tiles and a partial at level 0, a partial at level 1.
    filler.append(server.state(), 700).await;
    let size = server.tree_size().await;
    let store = rgw.client();
    let cp = wait_for_size(&store, "s1", &log_key, size, Duration::from_secs(30)).await;
    assert_eq!(cp.size(), size);
    let (note, headers) = get(&store, "s1/checkpoint").await.unwrap();
    assert_eq!(note, server.get_text("/checkpoint").await.as_bytes());
    assert_eq!(headers["cache-control"], "no-cache");
    assert!(headers["content-type"].starts_with("text/plain"));
    let keys = list(&store, "s1").await;
    let mut wanted: Vec<String> = tiles::tiles_for_size(size).map(|t| t.path()).collect();
    wanted.extend((0..size.div_ceil(256)).map(|i| {
        tiles::EntryBundle::new(i, (size - i * 256).min(256) as u16)
            .unwrap()
            .path()
    }));
    for key in &wanted {
        assert!(keys.contains(key), "{key} is in the bucket: {keys:?}");
        let (bytes, headers) = get(&store, &format!("s1/{key}")).await.unwrap();
        let http = server
            .client
            .get(server.url(&format!("/{key}")))
            .bearer_auth(&server.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(http.status(), 200, "{key}");
        assert_eq!(
            bytes,
            http.bytes().await.unwrap(),
            "{key}: bucket and HTTP differ"
        );
        assert_eq!(
            headers["cache-control"], "public, max-age=604800, immutable",
            "{key}"
        );
        assert_eq!(headers["content-type"], "application/octet-stream", "{key}");
    }
    let health: serde_json::Value = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["publish"]["state"], "ok", "{health}");
    assert_eq!(health["publish"]["published_size"], size, "{health}");
    let metrics = server.get_text("/metrics").await;
    assert!(
        metrics.contains(&format!("ledger_publish_size {size}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("ledger_publish_lag_seconds_count"),
        "{metrics}"
    );
    independent_check(&store, "s1", &cp).await;
    server.stop().await;
    // Without its checkpoint the bucket is published again from 0: every tile and
    // bundle is refused by `If-None-Match: *`, read back and found equal; only the
    // checkpoint is written.
    store
        .delete(&ObjectPath::parse("s1/checkpoint").unwrap())
        .await
        .unwrap();
    let settings = rgw.settings("s1");
    let server = TestServer::start_with(dir.path(), |c| c.publish = settings).await;
    wait_for_size(&store, "s1", &log_key, size, Duration::from_secs(30)).await;
    let equal = format!(
        "ledger_publish_objects_total{{outcome=\"equal\"}} {}",
        wanted.len()
    );
    let written = "ledger_publish_objects_total{outcome=\"written\"} 1\n";
    let mut metrics = String::new();
    for _ in 0..40 {
        metrics = server.get_text("/metrics").await;
        if metrics.contains(written) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(metrics.contains(&equal), "{equal} in {metrics}");
    assert!(metrics.contains(written), "{metrics}");
    assert_eq!(list(&store, "s1").await.len(), keys.len());
    server.stop().await;
}

/// Reads the bucket's tiles with the `tlog_tiles` crate (Go sumdb's algorithm, written
/// independently of ours): its tile hash reader authenticates every tile it reads
/// against the checkpoint's root, the tree hash it computes must be that root, and an
/// inclusion proof it makes for entries of the bundles must check.
async fn independent_check(store: &Arc<dyn ObjectStore>, prefix: &str, cp: &SignedCheckpoint) {
    use tlog_tiles::tlog;
    let size = cp.size();
    let mut fetched = HashMap::new();
    for tile in tiles::tiles_for_size(size) {
        let (bytes, _) = get(store, &format!("{prefix}/{}", tile.path()))
            .await
            .unwrap();
        fetched.insert(
            (tile.level(), tile.index(), tile.width() as u32),
            bytes.to_vec(),
        );
    }
    let reader = BucketTiles(fetched);
    let root = tlog::Hash(*cp.root().as_bytes());
    let hashes = tlog_tiles::TileHashReader::new(size, root, &reader);
    assert_eq!(tlog::tree_hash(size, &hashes).unwrap(), root);
    // One flipped bit in the tiles that make up the root is noticed.
    let last = tiles::tiles_for_size(size).last().unwrap();
    let mut corrupted = reader.0.clone();
    let key = (last.level(), last.index(), last.width() as u32);
    corrupted.get_mut(&key).unwrap()[5] ^= 1;
    let corrupted = BucketTiles(corrupted);
    let bad = tlog_tiles::TileHashReader::new(size, root, &corrupted);
    assert!(
        tlog::tree_hash(size, &bad).is_err(),
        "a flipped bit is noticed"
    );
    for index in [0, 255, 256, size - 1] {
        let bundle = tiles::EntryBundle::for_entry(index, size).unwrap();
        let (bytes, _) = get(store, &format!("{prefix}/{}", bundle.path()))
            .await
            .unwrap();
        let entries = tiles::parse_entry_bundle(&bytes, &bundle).unwrap();
        let entry = entries[(index % 256) as usize];
        let proof = tlog::prove_record(size, index, &hashes).unwrap();
        tlog::check_record(&proof, size, root, index, tlog::record_hash(entry)).unwrap();
    }
}

/// The bucket's tiles for `tlog_tiles`, keyed by (level, index, width).
struct BucketTiles(HashMap<(u8, u64, u32), Vec<u8>>);

impl tlog_tiles::TileReader for BucketTiles {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, wanted: &[tlog_tiles::Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        wanted
            .iter()
            .map(|t| {
                self.0
                    .get(&(t.level(), t.level_index(), t.width()))
                    .cloned()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }

    fn save_tiles(&self, _: &[tlog_tiles::Tile], _: &[Vec<u8>]) {}
}

async fn health(server: &TestServer) -> serde_json::Value {
    let r = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

/// Waits until `/healthz` shows the publisher in `state`.
async fn wait_for_state(server: &TestServer, state: &str) -> serde_json::Value {
    for _ in 0..300 {
        let h = health(server).await;
        if h["publish"]["state"] == state {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "publisher never reached `{state}`: {}",
        health(server).await
    );
}

/// (5): a checkpoint of another log (another key), one of this log's key with another
/// tree, and a tile with other bytes: each refused, alarmed, and left in the bucket.
async fn a_foreign_bucket_is_refused(rgw: &Rgw) {
    let store = rgw.client();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    // Log B: another key. Log C: log A's key, other records.
    let other = TestServer::start(b.path()).await;
    let mut filler = Filler::enrol(other.state(), "other").await;
    filler.append(other.state(), 300).await;
    let foreign = other.get_text("/checkpoint").await;
    other.stop().await;
    let server = TestServer::start(a.path()).await;
    let mut filler = Filler::enrol(server.state(), "box-1").await;
    filler.append(server.state(), 300).await;
    server.stop().await;
    let c = tempfile::tempdir().unwrap();
    std::fs::copy(a.path().join("log.key"), c.path().join("log.key")).unwrap();
    let forked = TestServer::start(c.path()).await;
    let mut filler = Filler::enrol(forked.state(), "box-2").await;
    filler.append(forked.state(), 100).await;
    let fork = forked.get_text("/checkpoint").await;
    forked.stop().await;
    let cases = [
        ("s5a", foreign, "does not verify with the log key"),
        ("s5b", fork, "its root is"),
    ];
    for (prefix, note, reason) in cases {
        let key = ObjectPath::parse(format!("{prefix}/checkpoint")).unwrap();
        store
            .put(&key, PutPayload::from(note.clone()))
            .await
            .unwrap();
        let settings = rgw.settings(prefix);
        let server = TestServer::start_with(a.path(), |c| c.publish = settings).await;
        let h = wait_for_state(&server, "refused").await;
        let error = h["publish"]["last_error"].as_str().unwrap();
        assert!(
            error.contains("does not match the log") && error.contains(reason),
            "{h}"
        );
        let metrics = server.get_text("/metrics").await;
        assert!(metrics.contains("ledger_publish_refused 1"), "{metrics}");
        // The log goes on; the bucket is left as it was.
        filler_append_one(&server).await;
        let (stored, _) = get(&store, &format!("{prefix}/checkpoint")).await.unwrap();
        assert_eq!(stored, note.as_bytes());
        assert_eq!(list(&store, prefix).await, vec!["checkpoint".to_string()]);
        server.stop().await;
    }
    // A tile with other bytes where the log's first full tile belongs.
    let key = ObjectPath::parse("s5c/tile/0/000").unwrap();
    store
        .put(&key, PutPayload::from(vec![7u8; 8192]))
        .await
        .unwrap();
    let settings = rgw.settings("s5c");
    let server = TestServer::start_with(a.path(), |c| c.publish = settings).await;
    let h = wait_for_state(&server, "refused").await;
    assert!(
        h["publish"]["last_error"]
            .as_str()
            .unwrap()
            .contains("s5c/tile/0/000"),
        "{h}"
    );
    let metrics = server.get_text("/metrics").await;
    assert!(
        metrics.contains("ledger_publish_objects_total{outcome=\"conflict\"} 1"),
        "{metrics}"
    );
    assert!(
        get(&store, "s5c/checkpoint").await.is_none(),
        "no checkpoint over a conflict"
    );
    assert_eq!(
        get(&store, "s5c/tile/0/000").await.unwrap().0,
        vec![7u8; 8192]
    );
    server.stop().await;
}

/// One record over HTTP with a receipt that verifies: the log takes appends.
async fn filler_append_one(server: &TestServer) -> u64 {
    let name = format!("http-{}", rand::random::<u32>());
    let mut appliance = server.enrol("site-2", &name).await;
    let record = appliance.next_evidence();
    let (status, answer) = server
        .append_http(Some(&appliance.credential), record.encode())
        .await;
    assert_eq!(status, 200, "{answer}");
    verify_answer(&answer, &record.encode(), &server.log_verifier().await)
}

/// (3): with radosgw stopped, appends over HTTP still get receipts at once and the
/// publisher reports failures; once radosgw is back it catches up.
async fn a_stopped_gateway_stalls_publication_only(rgw: &Rgw) {
    let dir = tempfile::tempdir().unwrap();
    let settings = rgw.settings("s3");
    let server = TestServer::start_with(dir.path(), |c| c.publish = settings).await;
    let log_key = server.log_verifier().await;
    let store = rgw.client();
    let mut filler = Filler::enrol(server.state(), "box-1").await;
    filler.append(server.state(), 300).await;
    let before = server.tree_size().await;
    wait_for_size(&store, "s3", &log_key, before, Duration::from_secs(30)).await;
    rgw.stop_gateway();
    let stopped = Instant::now();
    let mut appliance = server.enrol("site-1", "http-1").await;
    for _ in 0..20 {
        let record = appliance.next_evidence();
        let sent = Instant::now();
        let (status, answer) = server
            .append_http(Some(&appliance.credential), record.encode())
            .await;
        assert_eq!(status, 200, "{answer}");
        verify_answer(&answer, &record.encode(), &log_key);
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "receipts do not wait for the bucket"
        );
    }
    filler.append(server.state(), 500).await;
    let h = wait_for_state(&server, "failing").await;
    assert!(
        h["publish"]["published_size"].as_u64().unwrap() < h["tree_size"].as_u64().unwrap(),
        "{h}"
    );
    let metrics = server.get_text("/metrics").await;
    assert!(
        !metrics.contains("ledger_publish_failures_total 0"),
        "{metrics}"
    );
    println!("radosgw down for {:.1} s", stopped.elapsed().as_secs_f64());
    rgw.start_gateway();
    let back = Instant::now();
    let size = server.tree_size().await;
    let cp = wait_for_size(&store, "s3", &log_key, size, Duration::from_secs(90)).await;
    println!(
        "caught up {} entries {:.1} s after radosgw was back",
        size - before,
        back.elapsed().as_secs_f64()
    );
    independent_check(&store, "s3", &cp).await;
    wait_for_state(&server, "ok").await;
    server.stop().await;
}

/// The real `ledgerd` with a configuration file, killed with SIGKILL.
struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(config: &Path) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ledgerd"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("LEDGERD_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ledgerd starts");
        let stdout = child.stdout.take().unwrap();
        let listening = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.starts_with("listening: "));
        if !listening {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ledgerd did not start");
        }
        Daemon { child }
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn daemon_config(rgw: &Rgw, data: &Path, prefix: &str) -> PathBuf {
    let s = rgw.settings(prefix);
    let text = format!(
        "data_dir = {data:?}\nhttp_listen = \"127.0.0.1:0\"\ngrpc_listen = \"127.0.0.1:0\"\n\
         anchor_enabled = false\npublish_bucket = {:?}\npublish_endpoint = {:?}\n\
         publish_region = {:?}\npublish_credentials_file = {:?}\npublish_allow_http = true\n\
         publish_prefix = {prefix:?}\npublish_entry_bundles = true\npublish_interval_ms = 20\n",
        s.bucket.unwrap(),
        s.endpoint.unwrap(),
        s.region.unwrap(),
        s.credentials_file.unwrap(),
    );
    let path = data.with_extension("toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Opens the data directory in process (the daemon is dead), retrying while RocksDB's
/// lock is released.
async fn open_state(dir: &Path) -> Arc<AppState> {
    for _ in 0..50 {
        let config = Config::for_dir(dir).unwrap();
        match tokio::task::spawn_blocking(move || AppState::open(config))
            .await
            .unwrap()
        {
            Ok(s) => return Arc::new(s),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("cannot reopen {}", dir.display());
}

/// (4): rounds of "append in process, start ledgerd, SIGKILL it while it publishes,
/// start it again and let it finish"; after every kill the bucket's checkpoint verifies,
/// is not ahead of the log, and every tile and bundle of its size is there; at the end
/// every object equals the log's.
async fn sigkill_mid_publication_leaves_the_bucket_consistent(rgw: &Rgw) {
    let rounds: u64 = std::env::var("LEDGER_PUBLISH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let config = daemon_config(rgw, &data, "s4");
    let store = rgw.client();
    let state = open_state(&data).await;
    let log_key = NoteVerifier::parse(&state.log.verifier_key()).unwrap();
    let mut filler = Filler::enrol(&state, "box-1").await;
    drop(state);
    let mut sizes = BTreeMap::new();
    let mut published = 0u64;
    for round in 0..rounds {
        let state = open_state(&data).await;
        // About 23 full tiles and as many bundles a round: two upload batches.
        for _ in 0..6 {
            filler.append(&state, 1000).await;
        }
        let log_size = state.log.latest().size;
        state.log.close();
        drop(state);
        // Killed as soon as one of the first objects this round still has to write is in
        // the bucket: the rest of the round (later batches, the checkpoint) is to come.
        let present: std::collections::BTreeSet<String> =
            list(&store, "s4").await.into_iter().collect();
        let missing: Vec<String> = api::publish::objects_between(published, log_size, true)
            .iter()
            .map(|o| o.key())
            .filter(|k| !present.contains(k))
            .collect();
        let daemon = Daemon::start(&config);
        if missing.len() > 8 {
            let marker = &missing[rand::random::<usize>() % (missing.len() - 8).min(24)];
            wait_for_object(&store, &format!("s4/{marker}"), Duration::from_secs(30)).await;
        }
        daemon.kill();
        let killed_at = check_round(&store, "s4", &log_key, log_size).await;
        // Restarted, it finishes the round; killed once more right after.
        let daemon = Daemon::start(&config);
        wait_for_size(&store, "s4", &log_key, log_size, Duration::from_secs(60)).await;
        daemon.kill();
        published = check_round(&store, "s4", &log_key, log_size).await;
        sizes.insert(round, (killed_at, log_size));
    }
    let mid = sizes.values().filter(|(b, l)| b < l).count();
    println!("SIGKILL rounds (bucket size, log size): {sizes:?}; {mid} of {rounds} killed mid-publication");
    assert_eq!(published, sizes.values().last().map_or(0, |s| s.1));
    let state = open_state(&data).await;
    every_object_is_the_logs(&store, "s4", &state.log, &log_key).await;
    state.log.close();
}

/// Waits until `key` exists in the bucket.
async fn wait_for_object(store: &Arc<dyn ObjectStore>, key: &str, limit: Duration) {
    let path = ObjectPath::parse(key).unwrap();
    let start = Instant::now();
    while store.head(&path).await.is_err() {
        assert!(start.elapsed() < limit, "{key} did not appear in {limit:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The bucket after a kill: its checkpoint verifies and is no larger than the log; every
/// tile and bundle of its size is present. Returns its size.
async fn check_round(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    key: &NoteVerifier,
    log_size: u64,
) -> u64 {
    let Some(cp) = bucket_checkpoint(store, prefix, key).await else {
        return 0;
    };
    assert!(cp.size() <= log_size);
    let keys: std::collections::BTreeSet<String> = list(store, prefix).await.into_iter().collect();
    for tile in tiles::tiles_for_size(cp.size()) {
        assert!(
            keys.contains(&tile.path()),
            "checkpoint {} is ahead of {}",
            cp.size(),
            tile.path()
        );
    }
    for i in 0..cp.size().div_ceil(256) {
        let b = tiles::EntryBundle::new(i, (cp.size() - i * 256).min(256) as u16).unwrap();
        assert!(
            keys.contains(&b.path()),
            "checkpoint {} is ahead of {}",
            cp.size(),
            b.path()
        );
    }
    cp.size()
}

/// Every object under `prefix` is what the log would publish: tiles and bundles equal
/// the log's own for their path, the checkpoint is the log's of its size.
async fn every_object_is_the_logs(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    log: &Arc<Log>,
    key: &NoteVerifier,
) {
    let keys = list(store, prefix).await;
    assert!(keys.len() > 10, "{keys:?}");
    for k in keys {
        let (bytes, _) = get(store, &format!("{prefix}/{k}")).await.unwrap();
        if k == "checkpoint" {
            let cp = SignedCheckpoint::verify(&bytes, key).unwrap();
            assert_eq!(bytes, log.checkpoint(cp.size()).unwrap());
            continue;
        }
        let expected = match tiles::parse_path(&k).unwrap_or_else(|e| panic!("{k}: {e}")) {
            TilePath::Hashes(t) => log.hash_tile(t.level(), t.index(), u64::from(t.width())),
            TilePath::Entries(b) => log.entry_bundle(b.index(), u64::from(b.width())),
        };
        assert_eq!(bytes, expected.unwrap(), "{k} differs from the log's");
    }
}
