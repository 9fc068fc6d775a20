//! Shared test fixtures: a real `ledgerd` on 127.0.0.1:0 ports, appliances that sign
//! records, and HTTP/gRPC helpers.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use api::config::Config;
use api::grpc::pb::ledger_client::LedgerClient;
use api::{AppState, Listeners};
use ed25519_dalek::SigningKey;
use ledger_core::hash::{leaf_hash, Hash};
use ledger_core::note::NoteVerifier;
use ledger_core::receipt::Receipt;
use ledger_record::{
    Body, ChainId, EvidenceBody, EvidenceItem, HealingBody, Id, KeyBody, KeyId, Outcome, Record,
    Status, Tier, UnsignedRecord,
};
use serde_json::{json, Value};

pub struct TestServer {
    pub http: String,
    pub grpc: String,
    pub admin: String,
    pub state: Option<Arc<AppState>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<Result<(), api::server::ServerError>>>,
    pub client: reqwest::Client,
}

impl TestServer {
    pub async fn start(dir: &Path) -> TestServer {
        TestServer::start_with(dir, |_| {}).await
    }

    pub async fn start_with(dir: &Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config::for_dir(dir).expect("test config");
        tweak(&mut config);
        let listeners = Listeners::bind(&config).await.expect("bind");
        let http = format!("http://{}", listeners.http.local_addr().unwrap());
        let grpc = format!("http://{}", listeners.grpc.local_addr().unwrap());
        // The previous server of this directory may still be releasing RocksDB's lock.
        let mut attempt = 0;
        let state = loop {
            let c = config.clone();
            match tokio::task::spawn_blocking(move || AppState::open(c))
                .await
                .unwrap()
            {
                Ok(s) => break Arc::new(s),
                Err(e) if attempt < 50 => {
                    attempt += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("opening state: {e}"),
            }
        };
        let admin = std::fs::read_to_string(dir.join("admin.token"))
            .expect("admin token file")
            .trim()
            .to_string();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let handle = tokio::spawn(api::run(state.clone(), listeners, async move {
            let _ = rx.await;
        }));
        TestServer {
            http,
            grpc,
            admin,
            state: Some(state),
            stop: Some(tx),
            handle: Some(handle),
            client: reqwest::Client::new(),
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.state = None;
        if let Some(h) = self.handle.take() {
            h.await.unwrap().expect("server stopped cleanly");
        }
    }

    pub fn state(&self) -> &Arc<AppState> {
        self.state.as_ref().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.http, path)
    }

    pub async fn grpc_client(&self) -> LedgerClient<tonic::transport::Channel> {
        LedgerClient::connect(self.grpc.clone())
            .await
            .expect("grpc connect")
    }

    pub async fn log_verifier(&self) -> NoteVerifier {
        let text = self.get_text("/log-key").await;
        NoteVerifier::parse(text.trim()).expect("log key parses")
    }

    pub async fn get_text(&self, path: &str) -> String {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.text().await.unwrap()
    }

    pub async fn tree_size(&self) -> u64 {
        let text = self.get_text("/checkpoint").await;
        text.lines().nth(1).unwrap().parse().unwrap()
    }

    /// GET with a bearer credential; returns (status, JSON body or null).
    pub async fn get_json(&self, path: &str, bearer: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// POST JSON with an optional bearer credential; returns (status, body).
    pub async fn post_json(&self, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_bytes(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", "application/cbor")
            .body(body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        req.send().await.unwrap()
    }

    pub async fn enrolment_token(&self, site: &str, appliance: &str, ttl: Option<u64>) -> String {
        let mut body = json!({ "site_id": site, "appliance_id": appliance });
        if let Some(t) = ttl {
            body["ttl_secs"] = json!(t);
        }
        let (status, v) = self
            .post_json("/v1/admin/enrolment-tokens", Some(&self.admin), body)
            .await;
        assert_eq!(status, 200, "{v}");
        v["token"].as_str().unwrap().to_string()
    }

    /// A read token of `sites` (admin credential).
    pub async fn read_token(&self, sites: &[&str]) -> String {
        let (status, v) = self
            .post_json(
                "/v1/admin/read-tokens",
                Some(&self.admin),
                json!({ "sites": sites }),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        v["token"].as_str().unwrap().to_string()
    }

    /// Waits until the query index has projected the whole log (10 s at most).
    pub async fn wait_indexed(&self) {
        let state = self.state();
        for _ in 0..400 {
            if state.index.indexed_size().unwrap() == state.log.latest().size {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the index never caught up");
    }

    /// Issues a token and enrols a new appliance with a fresh key.
    pub async fn enrol(&self, site: &str, appliance: &str) -> Appliance {
        let token = self.enrolment_token(site, appliance, None).await;
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let (status, v) = self
            .post_json(
                "/v1/enrol",
                None,
                json!({ "token": token, "public_key": hex::encode(key.verifying_key().as_bytes()) }),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        Appliance {
            chain: ChainId::new(Id::new(site).unwrap(), Id::new(appliance).unwrap()),
            key,
            seq: 0,
            prev: Hash([0; 32]),
            credential: v["credential"].as_str().unwrap().to_string(),
            enrolment: v,
        }
    }

    /// Appends one record over HTTP; returns (status, body).
    pub async fn append_http(&self, credential: Option<&str>, bytes: Vec<u8>) -> (u16, Value) {
        let r = self.post_bytes("/v1/records", credential, bytes).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

/// A simulated appliance.
pub struct Appliance {
    pub chain: ChainId,
    pub key: SigningKey,
    /// Last sequence used.
    pub seq: u64,
    /// Record hash of the last record made.
    pub prev: Hash,
    pub credential: String,
    pub enrolment: Value,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub fn evidence_body(n: u64) -> Body {
    Body::Evidence(
        EvidenceBody::inline(vec![EvidenceItem {
            check_type: Id::new("disk_encryption").unwrap(),
            host: Id::new(format!("host-{n}")).unwrap(),
            status: Status::Pass,
            observed_at_ms: 1_700_000_000_000 + n,
            details: format!("check {n}"),
            controls: vec!["HIPAA:164.312(a)(2)(iv)".into()],
        }])
        .unwrap(),
    )
}

pub fn healing_body(n: u64) -> Body {
    Body::Healing(HealingBody {
        incident_id: Id::new(format!("inc-{n}")).unwrap(),
        check_type: Id::new("disk_space").unwrap(),
        pattern_signature: "disk usage above 90%".into(),
        tier: Tier::L1,
        runbook_id: Id::new("rb-cleanup-tmp").unwrap(),
        action: "removed files older than 7 days from /tmp".into(),
        outcome: Outcome::Success,
        started_at_ms: 1_700_000_000_000,
        ended_at_ms: 1_700_000_001_000,
        state_before: "91% used".into(),
        state_after: "61% used".into(),
    })
}

impl Appliance {
    /// Signs a record with explicit fields, without advancing the chain.
    pub fn make(&self, seq: u64, prev: Hash, time_ms: u64, body: Body, key: &SigningKey) -> Record {
        Record::sign(
            UnsignedRecord {
                site_id: self.chain.site_id.clone(),
                appliance_id: self.chain.appliance_id.clone(),
                sequence: seq,
                prev_hash: prev,
                time_ms,
                key_id: KeyId::of(&key.verifying_key()),
                body,
            },
            key,
        )
        .unwrap()
    }

    /// The next record of the chain, advancing it.
    pub fn next(&mut self, body: Body) -> Record {
        let r = self.make(self.seq + 1, self.prev, now_ms(), body, &self.key.clone());
        self.seq += 1;
        self.prev = r.hash();
        r
    }

    pub fn next_evidence(&mut self) -> Record {
        let n = self.seq + 1;
        self.next(evidence_body(n))
    }

    /// A rotation to a fresh key, signed by the current key; the appliance switches keys.
    pub fn rotate(&mut self) -> Record {
        let new_key = SigningKey::generate(&mut rand::rngs::OsRng);
        let old_id = KeyId::of(&self.key.verifying_key());
        let r = self.next(Body::Key(KeyBody::Rotation {
            old_key_id: old_id,
            new_public_key: new_key.verifying_key(),
        }));
        self.key = new_key;
        r
    }
}

/// Checks an append answer's receipt against the log key and the record bytes.
pub fn verify_answer(answer: &Value, record_bytes: &[u8], log: &NoteVerifier) -> u64 {
    let receipt = Receipt::parse(answer["receipt"].as_str().expect("receipt").as_bytes())
        .expect("receipt parses");
    let verified = receipt
        .verify(&leaf_hash(record_bytes), log)
        .expect("receipt verifies with the log key");
    assert_eq!(verified.index(), answer["index"].as_u64().unwrap());
    verified.index()
}
