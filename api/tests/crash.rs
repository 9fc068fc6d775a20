//! SIGKILL during load: `ledgerd` (the real binary) is killed while appliances append,
//! then restarted on the same data directory. Every record that got a receipt is in the
//! log at that index, and clients retrying any record they sent get the same index for
//! the ones already logged (and an index for the others), with the chains intact.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{evidence_body, now_ms};
use ed25519_dalek::SigningKey;
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::note::NoteVerifier;
use ledger_core::receipt::Receipt;
use ledger_record::{ChainId, Id, KeyId, Record, UnsignedRecord};
use serde_json::{json, Value};
use tokio::sync::Mutex;

struct Daemon {
    child: Child,
    http: String,
}

fn start(dir: &std::path::Path) -> Daemon {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledgerd"))
        .args([
            "serve",
            "--http-listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir)
        .env("LEDGERD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ledgerd starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let http = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.strip_prefix("listening: http ") {
                    break rest.split(' ').next().map(str::to_string);
                }
            }
            _ => break None,
        }
    };
    let Some(http) = http else {
        // Never leave a half-started daemon behind when the test fails.
        let _ = child.kill();
        let _ = child.wait();
        panic!("ledgerd did not print its addresses");
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Daemon {
        child,
        http: format!("http://{http}"),
    }
}

struct Sim {
    chain: ChainId,
    key: SigningKey,
    credential: String,
    /// Every record sent, in chain order, with the index of its receipt if one came.
    sent: Vec<(Record, Option<u64>)>,
    prev: Hash,
}

impl Sim {
    fn next(&mut self) -> Record {
        let seq = self.sent.len() as u64 + 1;
        let r = Record::sign(
            UnsignedRecord {
                site_id: self.chain.site_id.clone(),
                appliance_id: self.chain.appliance_id.clone(),
                sequence: seq,
                prev_hash: self.prev,
                time_ms: now_ms(),
                key_id: KeyId::of(&self.key.verifying_key()),
                body: evidence_body(seq),
            },
            &self.key,
        )
        .unwrap();
        self.prev = r.hash();
        r
    }
}

async fn post_record(
    client: &reqwest::Client,
    http: &str,
    cred: &str,
    bytes: Vec<u8>,
) -> Option<(u16, Value)> {
    let r = client
        .post(format!("{http}/v1/records"))
        .bearer_auth(cred)
        .body(bytes)
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_load_loses_no_receipted_record() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut daemon = start(dir.path());
    let admin = std::fs::read_to_string(dir.path().join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    let log_key = client
        .get(format!("{}/log-key", daemon.http))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let log = NoteVerifier::parse(log_key.trim()).unwrap();

    let mut sims = Vec::new();
    for i in 0..4 {
        let appliance = format!("box-{i}");
        let token: Value = client
            .post(format!("{}/v1/admin/enrolment-tokens", daemon.http))
            .bearer_auth(&admin)
            .json(&json!({ "site_id": "site-a", "appliance_id": appliance }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let enrolled: Value = client
            .post(format!("{}/v1/enrol", daemon.http))
            .json(&json!({ "token": token["token"], "public_key": hex::encode(key.verifying_key().as_bytes()) }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        sims.push(Arc::new(Mutex::new(Sim {
            chain: ChainId::new(Id::new("site-a").unwrap(), Id::new(appliance).unwrap()),
            key,
            credential: enrolled["credential"].as_str().unwrap().to_string(),
            sent: Vec::new(),
            prev: Hash([0; 32]),
        })));
    }

    for round in 0..3 {
        // Load: every appliance appends as fast as it can until the server is gone.
        let mut tasks = Vec::new();
        for sim in &sims {
            let (sim, client, http, log) = (
                sim.clone(),
                client.clone(),
                daemon.http.clone(),
                log.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut sim = sim.lock().await;
                loop {
                    let record = sim.next();
                    sim.sent.push((record.clone(), None));
                    let cred = sim.credential.clone();
                    match post_record(&client, &http, &cred, record.encode()).await {
                        Some((200, v)) => {
                            let receipt =
                                Receipt::parse(v["receipt"].as_str().unwrap().as_bytes()).unwrap();
                            let index = receipt
                                .verify(&leaf_hash(record.as_bytes()), &log)
                                .unwrap()
                                .index();
                            if let Some(last) = sim.sent.last_mut() {
                                last.1 = Some(index);
                            }
                        }
                        Some((status, v)) => panic!("round {round}: status {status}: {v}"),
                        None => return,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(700 + 300 * round)).await;
        daemon.child.kill().expect("SIGKILL");
        daemon.child.wait().unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        daemon = start(dir.path());

        // Every receipted record is at its index; every sent record, retried in chain
        // order, gets the receipted index or (if it was never logged) a new one.
        let mut receipted = 0;
        for sim in &sims {
            let mut sim = sim.lock().await;
            let cred = sim.credential.clone();
            for (record, index) in sim.sent.iter_mut() {
                if let Some(i) = *index {
                    let bytes = client
                        .get(format!("{}/v1/records/{i}", daemon.http))
                        .bearer_auth(&admin)
                        .send()
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap();
                    assert_eq!(
                        bytes.to_vec(),
                        record.encode(),
                        "record at index {i} after SIGKILL"
                    );
                    receipted += 1;
                }
                let (status, v) = post_record(&client, &daemon.http, &cred, record.encode())
                    .await
                    .expect("restarted server answers");
                assert_eq!(status, 200, "retry of sequence {}: {v}", record.sequence());
                let got = v["index"].as_u64().unwrap();
                if let Some(i) = *index {
                    assert_eq!(got, i, "a retried record got another index");
                    assert!(v["duplicate"].as_bool().unwrap());
                }
                *index = Some(got);
            }
        }
        assert!(receipted > 0, "round {round}: no receipt before the kill");
    }
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
}
