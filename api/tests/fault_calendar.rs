//! Fault matrix of anchoring, over real sockets on 127.0.0.1: a calendar that is down
//! (connection refused), slow (longer than the client timeout), answers garbage, answers
//! a well-formed proof for another message, or answers 404 forever; and a Bitcoin
//! header source (Esplora API) that is down, answers garbage or serves another chain's
//! header. Every phase checks that the log is unaffected (appends get verifying
//! receipts in normal time, checkpoints keep being signed), that stamps stay pending
//! with the reason in `/v1/anchors` and `/metrics`, and that the same calendar or
//! header source, once healthy, completes the stamp without a restart.
//!
//! Faults are switched at run time on one address, so the server sees one calendar
//! (or header source) fail and recover. Upgrade rounds are driven with
//! `upgrade_due(true)` (the schedule's own code path, without its backoff waits);
//! stamps are requested like the operator does (`stamp-now`).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anchor::local_calendar::LocalCalendar;
use anchor::{DetachedTimestamp, HeaderSet};
use api::config::AnchorSettings;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::*;
use ledger_core::note::NoteVerifier;
use serde_json::Value;

/// Client timeout of every calendar and header request in these tests.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How long a slow peer takes to answer: far beyond [`TIMEOUT`].
const SLOW: Duration = Duration::from_secs(30);
/// An append that takes longer than this waited on something it must not wait on.
const APPEND_BUDGET: Duration = Duration::from_secs(1);

/// What a switchable peer does with each request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    /// Answers like the real thing.
    Healthy = 0,
    /// Answers after [`SLOW`].
    Slow = 1,
    /// Answers 200 with bytes of the wrong shape.
    Garbage = 2,
    /// Calendar: answers every upgrade with a real proof for another message.
    /// Header source: serves another chain's block at every height.
    Wrong = 3,
    /// Calendar: answers every upgrade with 404 ("not yet").
    NotFound = 4,
}

impl Mode {
    fn from_u8(v: u8) -> Mode {
        [
            Mode::Healthy,
            Mode::Slow,
            Mode::Garbage,
            Mode::Wrong,
            Mode::NotFound,
        ][usize::from(v)]
    }
}

/// What the handlers of a switchable peer share.
#[derive(Clone)]
struct Peer {
    mode: Arc<AtomicU8>,
    /// The calendar whose protocol (or whose synthetic chain) the peer serves when healthy.
    calendar: LocalCalendar,
    /// A calendar with one block of its own: its proof is the "other message", its chain
    /// the "other chain".
    elsewhere: LocalCalendar,
    /// The upgrade answer for the other calendar's one commitment.
    decoy: Vec<u8>,
}

impl Peer {
    fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Ordering::SeqCst))
    }

    /// Waits out [`SLOW`] when slow; true when the caller should answer garbage.
    async fn misbehave(&self) -> Option<Response> {
        match self.mode() {
            Mode::Slow => {
                tokio::time::sleep(SLOW).await;
                Some(StatusCode::OK.into_response())
            }
            Mode::Garbage => Some((StatusCode::OK, vec![0xf0, 0xff, 0x00, 0x13]).into_response()),
            _ => None,
        }
    }
}

/// A calendar and Esplora-style header source on one fixed 127.0.0.1 address whose
/// behaviour can be switched, and which can be taken down (the port refuses
/// connections) and brought back on the same address.
struct Switchable {
    addr: SocketAddr,
    url: String,
    peer: Peer,
    running: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl Switchable {
    /// A calendar of its own.
    async fn start() -> Switchable {
        Switchable::start_serving(None).await
    }

    /// A header source serving `calendar`'s synthetic chain when healthy.
    async fn header_source_of(calendar: &LocalCalendar) -> Switchable {
        Switchable::start_serving(Some(calendar.clone())).await
    }

    async fn start_serving(calendar: Option<LocalCalendar>) -> Switchable {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let elsewhere = LocalCalendar::new("http://127.0.0.1:9").unwrap();
        let other = [0x42u8; 32];
        let answer = elsewhere.submit(&other).unwrap();
        let commitment = anchor::Timestamp::parse(&answer, &other)
            .unwrap()
            .pending_commitments(&other)
            .unwrap()[0]
            .commitment
            .clone();
        elsewhere.confirm(1_700_000_000).unwrap().unwrap();
        let peer = Peer {
            mode: Arc::new(AtomicU8::new(Mode::Healthy as u8)),
            calendar: calendar.unwrap_or_else(|| LocalCalendar::new(&url).unwrap()),
            decoy: elsewhere.answer(&commitment).unwrap(),
            elsewhere,
        };
        let mut s = Switchable {
            addr,
            url,
            peer,
            running: None,
        };
        s.serve(listener);
        s
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new()
            .route("/digest", post(digest))
            .route("/timestamp/{hex}", get(timestamp))
            .route("/api/block-height/{height}", get(block_hash))
            .route("/api/block/{hash}/header", get(block_header))
            .with_state(self.peer.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        self.running = Some((tx, task));
    }

    fn set(&self, mode: Mode) {
        self.peer.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn header_api(&self) -> String {
        format!("{}/api", self.url)
    }

    /// Stops serving: connections to the address are refused from now on.
    async fn down(&mut self) {
        if let Some((tx, task)) = self.running.take() {
            let _ = tx.send(());
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }

    /// Serves again on the same address, healthy.
    async fn up(&mut self) {
        self.set(Mode::Healthy);
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

async fn digest(State(peer): State<Peer>, body: Bytes) -> Response {
    if let Some(r) = peer.misbehave().await {
        return r;
    }
    match peer.calendar.submit(&body) {
        Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn timestamp(State(peer): State<Peer>, Path(hex_commitment): Path<String>) -> Response {
    if let Some(r) = peer.misbehave().await {
        return r;
    }
    match peer.mode() {
        Mode::Wrong => return (StatusCode::OK, peer.decoy.clone()).into_response(),
        Mode::NotFound => return StatusCode::NOT_FOUND.into_response(),
        _ => {}
    }
    let answer = hex::decode(&hex_commitment)
        .ok()
        .and_then(|c| peer.calendar.answer(&c));
    match answer {
        Some(bytes) => (StatusCode::OK, bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The chain the header source serves in its current mode.
fn chain_of(peer: &Peer) -> Vec<(u64, anchor::BlockHeader)> {
    if peer.mode() == Mode::Wrong {
        peer.elsewhere.headers()
    } else {
        peer.calendar.headers()
    }
}

async fn block_hash(State(peer): State<Peer>, Path(height): Path<String>) -> Response {
    if let Some(r) = peer.misbehave().await {
        return r;
    }
    let height: u64 = height.parse().unwrap_or(u64::MAX);
    match chain_of(&peer).iter().find(|(h, _)| *h == height) {
        Some((_, header)) => (StatusCode::OK, header.hash_display()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn block_header(State(peer): State<Peer>, Path(hash): Path<String>) -> Response {
    if let Some(r) = peer.misbehave().await {
        return r;
    }
    match chain_of(&peer)
        .iter()
        .find(|(_, header)| header.hash_display() == hash)
    {
        Some((_, header)) => (StatusCode::OK, hex::encode(header.as_bytes())).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn settings(calendars: &[&str], bitcoin_api: Option<String>) -> AnchorSettings {
    AnchorSettings {
        enabled: true,
        calendars: calendars.iter().map(|c| c.to_string()).collect(),
        min_calendars: 1,
        // Stamps are requested explicitly and upgrade rounds forced, so the schedule's
        // own timers never race the test's phases.
        interval: Duration::from_secs(3600),
        every_entries: 10_000_000,
        upgrade_interval: Duration::from_secs(3600),
        pending_alarm: Duration::from_secs(3600),
        timeout: TIMEOUT,
        bitcoin_api,
    }
}

async fn get_json(server: &TestServer, path: &str) -> Value {
    let r = server.client.get(server.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

/// A counter or gauge from `/metrics`.
async fn metric(server: &TestServer, name: &str) -> u64 {
    let text = server.get_text("/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

/// Appends `n` records while a fault is on: each answered within [`APPEND_BUDGET`] with a
/// receipt that verifies, and the latest checkpoint is a newly signed one.
async fn log_unaffected(server: &TestServer, app: &mut Appliance, log: &NoteVerifier, n: usize) {
    let before = server.tree_size().await;
    for _ in 0..n {
        let r = app.next_evidence();
        let started = Instant::now();
        let (status, a) = server.append_http(Some(&app.credential), r.encode()).await;
        assert_eq!(status, 200, "{a}");
        verify_answer(&a, r.as_bytes(), log);
        assert!(
            started.elapsed() < APPEND_BUDGET,
            "an append took {:?} while anchoring was failing",
            started.elapsed()
        );
    }
    let note = server.get_text("/checkpoint").await;
    let signed = ledger_core::checkpoint::SignedCheckpoint::verify(note.as_bytes(), log)
        .expect("the latest checkpoint is signed by the log key");
    assert_eq!(signed.checkpoint().size, before + n as u64);
}

/// Asks for a stamp of the latest checkpoint and waits until it is stored.
async fn stamp_now(server: &TestServer) -> Value {
    let size = server.tree_size().await;
    let (status, v) = server
        .post_json(
            "/v1/admin/anchors/stamp-now",
            Some(&server.admin),
            Value::Null,
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = server
            .client
            .get(server.url(&format!("/v1/anchors/{size}")))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            return r.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "no stamp of size {size}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One forced upgrade round; it must end in bounded time whatever the peers do.
async fn upgrade_round(server: &TestServer) {
    let started = Instant::now();
    server
        .state()
        .anchoring
        .upgrade_due(true)
        .await
        .expect("an upgrade round never fails on a peer's fault");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "an upgrade round took {:?}",
        started.elapsed()
    );
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_faults_keep_stamps_pending_with_the_reason_and_recovery_completes_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut flaky = Switchable::start().await;
    // A calendar that accepts submissions and never confirms: 404 forever on upgrade.
    let never = LocalCalendar::spawn().await.unwrap();
    let cal = settings(&[&flaky.url, &never.url], None);
    let server = TestServer::start_with(dir.path(), |c| c.anchor = cal).await;
    let log = server.log_verifier().await;
    let mut app = server.enrol("clinic-1", "box-1").await;
    log_unaffected(&server, &mut app, &log, 3).await;

    // Both calendars accept the first stamp.
    let first = stamp_now(&server).await;
    let size = first["tree_size"].as_u64().unwrap();
    assert_eq!(first["status"], "pending", "{first}");
    let mut accepted = strings(&first["calendars"]);
    accepted.sort();
    let mut both = vec![flaky.url.clone(), never.url.clone()];
    both.sort();
    assert_eq!(accepted, both);

    // 404 forever is not an error, but the reason the stamp is pending is visible.
    let not_yet_before = metric(&server, "ledger_anchor_upgrade_not_yet_total").await;
    upgrade_round(&server).await;
    let s = get_json(&server, &format!("/v1/anchors/{size}")).await;
    assert_eq!(s["status"], "pending", "{s}");
    assert!(s["last_error"].is_null(), "{s}");
    let mut awaiting = strings(&s["awaiting"]);
    awaiting.sort();
    assert_eq!(awaiting, both, "both calendars said not yet: {s}");
    assert!(metric(&server, "ledger_anchor_upgrade_not_yet_total").await >= not_yet_before + 2);

    // Each fault in turn: upgrades fail with the reason recorded, the next stamp's
    // submission to that calendar fails with the reason recorded, the log goes on.
    // (fault, reason shown for upgrades, reason shown for submissions)
    for (mode, reason, submit_reason) in [
        (None, "connection failed", "connection failed"),
        (Some(Mode::Slow), "timed out", "timed out"),
        (
            Some(Mode::Garbage),
            "answer refused",
            "not minimally encoded",
        ),
    ] {
        match mode {
            None => flaky.down().await,
            Some(m) => flaky.set(m),
        }
        let errors_before = metric(&server, "ledger_anchor_upgrade_errors_total").await;
        // Two rounds: the first may meet a pooled connection the shutdown just closed.
        upgrade_round(&server).await;
        upgrade_round(&server).await;
        let s = get_json(&server, &format!("/v1/anchors/{size}")).await;
        assert_eq!(s["status"], "pending", "{mode:?}: {s}");
        let last_error = s["last_error"].as_str().unwrap_or_default();
        assert!(
            last_error.contains(&flaky.url) && last_error.contains(reason),
            "{mode:?}: the reason is visible: {s}"
        );
        assert_eq!(strings(&s["awaiting"]), vec![never.url.clone()], "{s}");
        assert!(
            metric(&server, "ledger_anchor_upgrade_errors_total").await >= errors_before + 2,
            "{mode:?}"
        );
        // The stored proof is untouched: it still parses and names both calendars.
        let r = server
            .client
            .get(server.url(&format!("/v1/anchors/{size}/ots")))
            .send()
            .await
            .unwrap();
        let ots = DetachedTimestamp::parse(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(ots.pending_commitments().unwrap().len(), 2, "{mode:?}");

        log_unaffected(&server, &mut app, &log, 3).await;
        let next = stamp_now(&server).await;
        assert_eq!(next["status"], "pending", "{mode:?}: {next}");
        assert_eq!(strings(&next["calendars"]), vec![never.url.clone()]);
        let failures = next["submit_failures"].to_string();
        assert!(
            failures.contains(&flaky.url) && failures.contains(submit_reason),
            "{mode:?}: submission failure reported: {next}"
        );
        if mode.is_none() {
            flaky.up().await;
        }
        flaky.set(Mode::Healthy);
    }

    // The same calendar, healthy again, confirms: the first stamp completes.
    let (height, header) = flaky
        .peer
        .calendar
        .confirm((now_ms() / 1000) as u32)
        .unwrap()
        .expect("a block");
    upgrade_round(&server).await;
    let done = get_json(&server, &format!("/v1/anchors/{size}")).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert!(done["last_error"].is_null(), "{done}");
    assert_eq!(strings(&done["awaiting"]), vec![never.url.clone()]);
    let r = server
        .client
        .get(server.url(&format!("/v1/anchors/{size}/ots")))
        .send()
        .await
        .unwrap();
    let ots = DetachedTimestamp::parse(&r.bytes().await.unwrap()).unwrap();
    let headers = HeaderSet::from_headers([(height, header)]).unwrap();
    let report = ots.verify_bitcoin(&headers).unwrap();
    assert_eq!(report.earliest().map(|v| v.height), Some(height));
    assert!(
        report.failed.is_empty(),
        "no foreign proof merged: {report:?}"
    );

    // Stamps made while the calendar was failing went to the other calendar only and
    // stay pending (it never confirms); nothing is lost, nothing crashed.
    let list = get_json(&server, "/v1/anchors").await;
    let stamps = list["anchors"].as_array().unwrap();
    assert_eq!(stamps.len(), 4, "{list}");
    assert_eq!(
        stamps.iter().filter(|s| s["status"] == "pending").count(),
        3
    );
    log_unaffected(&server, &mut app, &log, 2).await;
    assert!(server.state().log.fsck().expect("the log verifies").size > size);
    server.stop().await;
    never.stop().await.unwrap();
    flaky.down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_source_faults_and_foreign_proofs_never_complete_a_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let honest = Switchable::start().await;
    // The header source, serving the honest calendar's synthetic chain when healthy.
    let mut source = Switchable::header_source_of(&honest.peer.calendar).await;
    // A calendar that accepts submissions and answers upgrades with a proof for
    // another message.
    let liar = Switchable::start().await;
    let cal = settings(&[&honest.url, &liar.url], Some(source.header_api()));
    let server = TestServer::start_with(dir.path(), |c| c.anchor = cal).await;
    let log = server.log_verifier().await;
    let mut app = server.enrol("clinic-1", "box-1").await;
    log_unaffected(&server, &mut app, &log, 3).await;
    let first = stamp_now(&server).await;
    let size = first["tree_size"].as_u64().unwrap();
    assert_eq!(strings(&first["calendars"]).len(), 2, "{first}");

    // The liar answers with a well-formed proof ending in a Bitcoin attestation; the
    // honest calendar has nothing yet. With the header source down, slow, garbled,
    // serving another chain, or healthy but without that block, the stamp stays
    // pending and says why.
    liar.set(Mode::Wrong);
    let phases: [(Option<Mode>, &str); 5] = [
        (None, "connection failed"),
        (Some(Mode::Slow), "timed out"),
        (Some(Mode::Garbage), "answer is not text"),
        (Some(Mode::Wrong), "does not match the Merkle root"),
        (Some(Mode::Healthy), "status 404"),
    ];
    for (mode, reason) in phases {
        let failures_before = metric(&server, "ledger_anchor_header_check_failures_total").await;
        match mode {
            None => source.down().await,
            Some(m) => source.set(m),
        }
        upgrade_round(&server).await;
        upgrade_round(&server).await;
        let s = get_json(&server, &format!("/v1/anchors/{size}")).await;
        assert_eq!(s["status"], "pending", "{mode:?}: {s}");
        assert!(s["bitcoin_verified"].is_null(), "{mode:?}: {s}");
        let last_error = s["last_error"].as_str().unwrap_or_default();
        assert!(
            last_error.contains(reason),
            "{mode:?}: `{reason}` missing: {s}"
        );
        assert!(
            metric(&server, "ledger_anchor_header_check_failures_total").await > failures_before,
            "{mode:?}"
        );
        assert!(
            last_error.contains("block 1000000"),
            "{mode:?}: names the block: {s}"
        );
        log_unaffected(&server, &mut app, &log, 2).await;
        if mode.is_none() {
            source.up().await;
        }
    }

    // The honest calendar confirms, but the header source serves another chain's block
    // at that height: the honest proof does not match it either, still pending.
    let (height, header) = honest
        .peer
        .calendar
        .confirm((now_ms() / 1000) as u32)
        .unwrap()
        .expect("a block");
    assert_eq!(
        source.peer.elsewhere.headers()[0].0,
        height,
        "the other chain has a block at the same height"
    );
    source.set(Mode::Wrong);
    upgrade_round(&server).await;
    upgrade_round(&server).await;
    let s = get_json(&server, &format!("/v1/anchors/{size}")).await;
    assert_eq!(s["status"], "pending", "wrong header: {s}");
    assert!(s["bitcoin_verified"].is_null(), "{s}");
    assert!(
        s["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("does not match the Merkle root"),
        "{s}"
    );

    // The header source is put right: without a restart the next round fetches the
    // header again (a header that matched nothing is not kept) and the honest proof
    // completes the stamp with the honest block.
    source.set(Mode::Healthy);
    upgrade_round(&server).await;
    let done = get_json(&server, &format!("/v1/anchors/{size}")).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["bitcoin_verified"]["height"], height, "{done}");
    assert_eq!(
        done["bitcoin_verified"]["block_hash"],
        header.hash_display(),
        "{done}"
    );

    // A stamp only the liar answers never completes, whatever the rounds.
    log_unaffected(&server, &mut app, &log, 2).await;
    let second = stamp_now(&server).await;
    let second_size = second["tree_size"].as_u64().unwrap();
    for _ in 0..3 {
        upgrade_round(&server).await;
    }
    let s = get_json(&server, &format!("/v1/anchors/{second_size}")).await;
    assert_eq!(s["status"], "pending", "foreign proof only: {s}");
    assert!(s["bitcoin_verified"].is_null(), "{s}");
    assert_eq!(strings(&s["awaiting"]), vec![honest.url.clone()], "{s}");
    let anchored = get_json(&server, &format!("/v1/anchored-receipts/{}", size - 1)).await;
    assert_eq!(anchored["tree_size"].as_u64(), Some(size), "{anchored}");
    assert_eq!(anchored["status"], "complete");
    assert!(server.state().log.fsck().expect("the log verifies").size > second_size - 1);
    server.stop().await;
    source.down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendar_that_first_answers_a_foreign_proof_is_asked_again_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let calendar = Switchable::start().await;
    let source = Switchable::header_source_of(&calendar.peer.calendar).await;
    let cal = settings(&[&calendar.url], Some(source.header_api()));
    let server = TestServer::start_with(dir.path(), |c| c.anchor = cal).await;
    let log = server.log_verifier().await;
    let mut app = server.enrol("clinic-1", "box-1").await;
    log_unaffected(&server, &mut app, &log, 2).await;
    let stamp = stamp_now(&server).await;
    let size = stamp["tree_size"].as_u64().unwrap();

    // The calendar's only answer is a well-formed proof for another message, at a
    // height the header source has no block for yet: the stamp stays pending and
    // says which block it could not check.
    calendar.set(Mode::Wrong);
    upgrade_round(&server).await;
    upgrade_round(&server).await;
    let s = get_json(&server, &format!("/v1/anchors/{size}")).await;
    assert_eq!(s["status"], "pending", "{s}");
    assert!(s["bitcoin_verified"].is_null(), "{s}");
    assert!(
        s["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("header of block 1000000"),
        "{s}"
    );

    // The calendar recovers and confirms the real commitment. Its commitment was not
    // written off by the foreign proof, so the next round fetches the right answer.
    // Another digest goes into the same block, so the real proof has a Merkle path and
    // differs from the foreign one (which, for a block of one, it would equal).
    calendar.set(Mode::Healthy);
    calendar.peer.calendar.submit(&[7u8; 32]).unwrap();
    assert_eq!(calendar.peer.calendar.pending_count(), 2);
    let (height, header) = calendar
        .peer
        .calendar
        .confirm((now_ms() / 1000) as u32)
        .unwrap()
        .expect("a block");
    upgrade_round(&server).await;
    let done = get_json(&server, &format!("/v1/anchors/{size}")).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["bitcoin_verified"]["height"], height, "{done}");
    assert_eq!(
        done["bitcoin_verified"]["block_hash"],
        header.hash_display()
    );
    // The foreign proof stays in the .ots (merging is additive) and fails against the
    // block, as an auditor's verifier reports it; the real one verifies.
    let r = server
        .client
        .get(server.url(&format!("/v1/anchors/{size}/ots")))
        .send()
        .await
        .unwrap();
    let ots = DetachedTimestamp::parse(&r.bytes().await.unwrap()).unwrap();
    let report = ots
        .verify_bitcoin(&HeaderSet::from_headers([(height, header)]).unwrap())
        .unwrap();
    assert_eq!(report.earliest().map(|v| v.height), Some(height));
    assert_eq!(report.failed.len(), 1, "{report:?}");
    log_unaffected(&server, &mut app, &log, 1).await;
    server.stop().await;
}
