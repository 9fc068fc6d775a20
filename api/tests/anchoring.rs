//! Anchoring in ledgerd over real sockets on 127.0.0.1: checkpoints stamped
//! on local calendars that speak the real OpenTimestamps protocol, upgraded after a
//! synthetic Bitcoin confirmation, anchored receipts verified against the synthetic
//! header; one stamp per interval under 100,000 records; hostile calendars.

mod common;

use std::time::{Duration, Instant};

use anchor::local_calendar::{LocalCalendar, RunningCalendar};
use anchor::{DetachedTimestamp, HeaderSet};
use api::config::AnchorSettings;
use common::*;
use ledger_core::hash::leaf_hash;
use ledger_core::receipt::Receipt;
use ledger_record::Record;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn settings(calendars: &[&str], interval: Duration) -> AnchorSettings {
    AnchorSettings {
        enabled: true,
        calendars: calendars.iter().map(|c| c.to_string()).collect(),
        min_calendars: 2,
        interval,
        every_entries: 10_000_000,
        upgrade_interval: Duration::from_millis(500),
        pending_alarm: Duration::from_secs(3600),
        timeout: Duration::from_secs(2),
        bitcoin_api: None,
    }
}

async fn get_json(server: &TestServer, path: &str) -> (u16, Value) {
    let r = server.client.get(server.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get_bytes(server: &TestServer, path: &str) -> Vec<u8> {
    let r = server.client.get(server.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.bytes().await.unwrap().to_vec()
}

/// Polls `/v1/anchors` until `pred` holds for the newest stamp, or panics after `limit`.
async fn wait_for_stamp(
    server: &TestServer,
    limit: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (status, list) = get_json(server, "/v1/anchors").await;
        assert_eq!(status, 200, "{list}");
        if let Some(newest) = list["anchors"].as_array().and_then(|a| a.first()) {
            if pred(newest) {
                return newest.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SHA-256 of the body (text before the signatures) of a signed checkpoint note.
fn body_digest(note: &str) -> [u8; 32] {
    let text = ledger_core::note::Note::parse(note.as_bytes()).unwrap();
    Sha256::digest(text.text().as_bytes()).into()
}

fn unix_now() -> u32 {
    (now_ms() / 1000) as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_stamped_upgraded_and_anchored_receipts_verify() {
    let dir = tempfile::tempdir().unwrap();
    let alice = LocalCalendar::spawn().await.unwrap();
    let bob = LocalCalendar::spawn().await.unwrap();
    let cal = settings(&[&alice.url, &bob.url], Duration::from_millis(500));
    let server = TestServer::start_with(dir.path(), |c| c.anchor = cal).await;
    let log = server.log_verifier().await;

    let mut box1 = server.enrol("clinic-1", "box-1").await;
    let mut appended = Vec::new();
    for _ in 0..5 {
        let r = box1.next_evidence();
        let (status, a) = server.append_http(Some(&box1.credential), r.encode()).await;
        assert_eq!(status, 200, "{a}");
        appended.push((a["index"].as_u64().unwrap(), r));
    }
    let size = server.tree_size().await;

    let stamp = wait_for_stamp(&server, Duration::from_secs(20), "a pending stamp", |s| {
        s["status"] == "pending" && s["tree_size"].as_u64() == Some(size)
    })
    .await;
    assert_eq!(alice.calendar.submissions(), 1);
    assert_eq!(bob.calendar.submissions(), 1);
    let mut calendars: Vec<&str> = stamp["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    calendars.sort();
    let mut expected = vec![alice.url.as_str(), bob.url.as_str()];
    expected.sort();
    assert_eq!(calendars, expected);

    // The .ots is a stamp of this checkpoint's body with one pending attestation per
    // calendar.
    let note = server.get_text(&format!("/checkpoint/{size}")).await;
    let ots =
        DetachedTimestamp::parse(&get_bytes(&server, &format!("/v1/anchors/{size}/ots")).await)
            .expect("the served .ots parses");
    assert_eq!(ots.digest, body_digest(&note).to_vec());
    assert_eq!(stamp["digest"], hex::encode(body_digest(&note)));
    let pending = ots.pending_commitments().unwrap();
    assert_eq!(pending.len(), 2);
    assert!(!ots.is_complete().unwrap());

    // Before confirmation the anchored receipt carries the pending stamp.
    let (status, early) =
        get_json(&server, &format!("/v1/anchored-receipts/{}", appended[0].0)).await;
    assert_eq!(status, 200, "{early}");
    assert_eq!(early["status"], "pending");

    // "Mine" both calendars' commitments into synthetic blocks; the worker upgrades.
    let (h_a, header_a) = alice
        .calendar
        .confirm(unix_now())
        .unwrap()
        .expect("a block");
    bob.calendar.confirm(unix_now()).unwrap().expect("a block");
    let done = wait_for_stamp(&server, Duration::from_secs(30), "a complete stamp", |s| {
        s["status"] == "complete"
    })
    .await;
    assert_eq!(done["tree_size"].as_u64(), Some(size));
    assert!(done["bitcoin_heights"]
        .as_array()
        .unwrap()
        .contains(&Value::from(h_a)));

    // Anchored receipt: inclusion against the stamped checkpoint, and the stamp holds
    // against alice's header.
    let headers = HeaderSet::from_headers([(h_a, header_a)]).unwrap();
    for (index, record) in &appended {
        let (status, a) = get_json(&server, &format!("/v1/anchored-receipts/{index}")).await;
        assert_eq!(status, 200, "{a}");
        assert_eq!(a["status"], "complete");
        assert_eq!(a["tree_size"].as_u64(), Some(size));
        let receipt = Receipt::parse(a["receipt"].as_str().unwrap().as_bytes()).unwrap();
        let verified = receipt
            .verify(&leaf_hash(record.as_bytes()), &log)
            .expect("receipt verifies with the log key");
        assert_eq!(verified.index(), *index);
        let ots_bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            a["ots"].as_str().unwrap(),
        )
        .unwrap();
        let ots = DetachedTimestamp::parse(&ots_bytes).unwrap();
        assert_eq!(
            ots.digest,
            body_digest(a["checkpoint"].as_str().unwrap()).to_vec()
        );
        let report = ots.verify_bitcoin(&headers).unwrap();
        let earliest = report.earliest().expect("a verified Bitcoin attestation");
        assert_eq!(earliest.height, h_a);
        assert_eq!(earliest.time, header_a.time());
    }
    // An index no stamp covers yet.
    let r = box1.next_evidence();
    let (_, a) = server.append_http(Some(&box1.credential), r.encode()).await;
    let late = a["index"].as_u64().unwrap();
    let (status, _) = get_json(&server, &format!("/v1/anchored-receipts/{late}")).await;
    // Either the next interval already stamped it (pending) or nothing covers it yet.
    assert!(status == 404 || status == 200);

    let metrics = server.get_text("/metrics").await;
    assert!(
        metrics.contains("ledger_anchor_stamps{status=\"complete\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("ledger_anchor_submissions_total"));

    // Stamps survive a restart with their status.
    let state_dir = dir.path().to_path_buf();
    server.stop().await;
    let server = TestServer::start(&state_dir).await;
    let (status, one) = get_json(&server, &format!("/v1/anchors/{size}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["status"], "complete");
    server.stop().await;
    alice.stop().await.unwrap();
    bob.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stamp_per_calendar_per_interval_under_100k_records() {
    const RECORDS: usize = 100_000;
    const BATCH: usize = 1000;
    // An interval far longer than the appends take on a loaded machine; the test ends
    // it with the operator's "stamp now" instead of waiting, which is the same code
    // path as the clock running out.
    let interval = Duration::from_secs(3600);
    let dir = tempfile::tempdir().unwrap();
    let alice = LocalCalendar::spawn().await.unwrap();
    let bob = LocalCalendar::spawn().await.unwrap();
    let cal = settings(&[&alice.url, &bob.url], interval);
    let server = TestServer::start_with(dir.path(), |c| {
        c.anchor = cal;
        c.max_batch_records = BATCH;
    })
    .await;
    let mut boxes = Vec::new();
    for i in 0..4 {
        boxes.push(server.enrol("clinic-1", &format!("box-{i}")).await);
    }
    // Records are signed ahead, then sent in batches of 1000 by four appliances.
    let mut sent = 0;
    while sent < RECORDS {
        let mut tasks = Vec::new();
        for b in boxes.iter_mut() {
            let n = BATCH.min(RECORDS - sent);
            if n == 0 {
                break;
            }
            let batch: Vec<Vec<u8>> = (0..n).map(|_| b.next_evidence().encode()).collect();
            sent += n;
            let client = server.client.clone();
            let url = server.url("/v1/records/batch");
            let cred = b.credential.clone();
            tasks.push(tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(cred)
                    .header("content-type", "application/cbor")
                    .body(ledger_record::encode_batch_body(&batch))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let v: Value = r.json().await.unwrap();
                assert!(v["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|x| x["ok"].is_object()));
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    // Still inside the interval: nothing stamped, however many checkpoints were signed.
    assert_eq!(alice.calendar.submissions(), 0);
    assert_eq!(bob.calendar.submissions(), 0);
    let size = server.tree_size().await;
    assert!(size >= RECORDS as u64);

    // The interval ends: exactly one submission per calendar, for the latest checkpoint.
    let (status, v) = server
        .post_json(
            "/v1/admin/anchors/stamp-now",
            Some(&server.admin),
            Value::Null,
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let stamp = wait_for_stamp(
        &server,
        Duration::from_secs(20),
        "the interval's stamp",
        |s| s["status"] == "pending",
    )
    .await;
    assert_eq!(stamp["tree_size"].as_u64(), Some(size));
    assert_eq!(
        alice.calendar.submissions(),
        1,
        "one submission per calendar"
    );
    assert_eq!(bob.calendar.submissions(), 1, "one submission per calendar");
    // Another interval ends without new records: no new submission.
    server.state().anchoring.request_stamp();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(alice.calendar.submissions(), 1);
    assert_eq!(bob.calendar.submissions(), 1);
    let (_, list) = get_json(&server, "/v1/anchors").await;
    assert_eq!(list["anchors"].as_array().unwrap().len(), 1, "{list}");
    // Only the admin may end an interval.
    let (status, _) = server
        .post_json(
            "/v1/admin/anchors/stamp-now",
            Some(&boxes[0].credential),
            Value::Null,
        )
        .await;
    assert_eq!(status, 403);
    server.stop().await;
    alice.stop().await.unwrap();
    bob.stop().await.unwrap();
}

/// A calendar that misbehaves in one way, on 127.0.0.1.
#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// Takes far longer than the client's timeout to answer anything.
    Slow,
    /// Answers 200 with bytes that are not a timestamp.
    Garbage,
    /// Accepts submissions like a real calendar, never has an upgrade (404 forever).
    NotFoundForever,
    /// Accepts submissions; upgrades answer with a real proof for a different message.
    WrongMessage,
}

async fn hostile(kind: Misbehaviour) -> String {
    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::{get, post};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let inner = LocalCalendar::new(&url).unwrap();
    // A decoy commitment confirmed in its own block, whose proof is served for every
    // upgrade request (a timestamp for a different message).
    let decoy = {
        let answer = inner.submit(&[0x42; 32]).unwrap();
        let ts = anchor::Timestamp::parse(&answer, &[0x42; 32]).unwrap();
        let commitment = ts.pending_commitments(&[0x42; 32]).unwrap()[0]
            .commitment
            .clone();
        inner.confirm(1_700_000_000).unwrap();
        inner.answer(&commitment).unwrap()
    };
    let state = (inner, decoy, kind);
    type S = (LocalCalendar, Vec<u8>, Misbehaviour);
    async fn digest(State((inner, _, kind)): State<S>, body: Bytes) -> axum::response::Response {
        match kind {
            Misbehaviour::Slow => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                StatusCode::OK.into_response()
            }
            Misbehaviour::Garbage => {
                (StatusCode::OK, vec![0xff, 0x00, 0x13, 0x37, 0xf0]).into_response()
            }
            _ => match inner.submit(&body) {
                Ok(bytes) => (StatusCode::OK, bytes).into_response(),
                Err(_) => StatusCode::BAD_REQUEST.into_response(),
            },
        }
    }
    async fn timestamp(
        State((_, decoy, kind)): State<S>,
        Path(_hex): Path<String>,
    ) -> axum::response::Response {
        match kind {
            Misbehaviour::Slow => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                StatusCode::OK.into_response()
            }
            Misbehaviour::Garbage => (StatusCode::OK, vec![0xf0, 0xff, 0xff]).into_response(),
            Misbehaviour::NotFoundForever => StatusCode::NOT_FOUND.into_response(),
            Misbehaviour::WrongMessage => (StatusCode::OK, decoy).into_response(),
        }
    }
    let app = axum::Router::new()
        .route("/digest", post(digest))
        .route("/timestamp/{hex}", get(timestamp))
        .with_state(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_calendars_never_corrupt_a_stamp_or_stop_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let honest: RunningCalendar = LocalCalendar::spawn().await.unwrap();
    let down = {
        // A port that was just free: nothing listens there.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let slow = hostile(Misbehaviour::Slow).await;
    let garbage = hostile(Misbehaviour::Garbage).await;
    let never = hostile(Misbehaviour::NotFoundForever).await;
    let wrong = hostile(Misbehaviour::WrongMessage).await;
    let mut cal = settings(
        &[&honest.url, &down, &slow, &garbage, &never, &wrong],
        Duration::from_millis(300),
    );
    cal.timeout = Duration::from_secs(1);
    let server = TestServer::start_with(dir.path(), |c| c.anchor = cal).await;
    let log = server.log_verifier().await;
    let mut box1 = server.enrol("clinic-1", "box-1").await;
    let first = box1.next_evidence();
    let (status, _) = server
        .append_http(Some(&box1.credential), first.encode())
        .await;
    assert_eq!(status, 200);
    let size = server.tree_size().await;

    // The submission succeeds on the three calendars that answer properly; the others'
    // failures are recorded.
    let stamp = wait_for_stamp(&server, Duration::from_secs(20), "a pending stamp", |s| {
        s["tree_size"].as_u64() == Some(size)
    })
    .await;
    // Pending, or already "complete" through the wrong-message calendar's instant answer.
    assert!(
        stamp["status"] == "pending" || stamp["status"] == "complete",
        "{stamp}"
    );
    let accepted: Vec<String> = stamp["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    for url in [&honest.url, &never, &wrong] {
        assert!(accepted.contains(url), "{url} missing from {accepted:?}");
    }
    let failures = stamp["submit_failures"].to_string();
    for url in [&down, &slow, &garbage] {
        assert!(
            failures.contains(url.as_str()),
            "{url} not reported in {failures}"
        );
    }
    let original =
        DetachedTimestamp::parse(&get_bytes(&server, &format!("/v1/anchors/{size}/ots")).await)
            .unwrap();
    let original_pending = original.pending_commitments().unwrap();
    assert_eq!(original_pending.len(), 3);

    // While calendars misbehave the ledger keeps appending with receipts.
    for _ in 0..5 {
        let r = box1.next_evidence();
        let t = Instant::now();
        let (status, a) = server.append_http(Some(&box1.credential), r.encode()).await;
        assert_eq!(status, 200, "{a}");
        verify_answer(&a, r.as_bytes(), &log);
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "append waited on anchoring"
        );
    }

    // The honest calendar confirms. The wrong-message calendar's answer is a
    // well-formed proof and is merged (so the server may call the stamp complete before
    // the honest answer: it cannot check headers), but it cannot verify against a real
    // header; the 404 calendar stays pending. None of it may cost the honest proof.
    let (height, header) = honest
        .calendar
        .confirm(unix_now())
        .unwrap()
        .expect("a block");
    let headers = HeaderSet::from_headers([(height, header)]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (stored, bytes) = loop {
        let bytes = get_bytes(&server, &format!("/v1/anchors/{size}/ots")).await;
        let stored = DetachedTimestamp::parse(&bytes).expect("the stored stamp always parses");
        if stored.verify_bitcoin(&headers).unwrap().has_verified() {
            break (stored, bytes);
        }
        assert!(
            Instant::now() < deadline,
            "the honest calendar's proof never arrived"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (_, done) = get_json(&server, &format!("/v1/anchors/{size}")).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert!(done["bitcoin_heights"]
        .as_array()
        .unwrap()
        .contains(&Value::from(height)));
    assert_eq!(stored.digest, original.digest);
    assert_eq!(stored.to_bytes().unwrap(), bytes, "canonical bytes");
    // Every original pending attestation is still there (nothing dropped by a merge).
    let still: Vec<_> = stored.pending_commitments().unwrap();
    for p in &original_pending {
        assert!(still.contains(p), "pending attestation of {} lost", p.uri);
    }
    let report = stored.verify_bitcoin(&headers).unwrap();
    assert_eq!(report.earliest().map(|v| v.height), Some(height));
    assert!(
        !report.failed.is_empty(),
        "the wrong-message proof is kept but reported as not matching: {report:?}"
    );
    // The ledger still appends and its tree still verifies after all this.
    let r = box1.next_evidence();
    let (status, a) = server.append_http(Some(&box1.credential), r.encode()).await;
    assert_eq!(status, 200, "{a}");
    verify_answer(&a, r.as_bytes(), &log);
    let report = server
        .state()
        .log
        .fsck()
        .expect("the log verifies after all this");
    assert!(report.size > size);
    server.stop().await;
    honest.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_calendars_is_a_failed_stamp_and_retried_next_interval() {
    let dir = tempfile::tempdir().unwrap();
    let alice = LocalCalendar::spawn().await.unwrap();
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let mut cal = settings(&[&alice.url, &down], Duration::from_millis(300));
    cal.timeout = Duration::from_secs(1);
    let server = TestServer::start_with(dir.path(), |c| c.anchor = cal).await;
    let mut box1 = server.enrol("clinic-1", "box-1").await;
    let r = box1.next_evidence();
    let (status, _) = server.append_http(Some(&box1.credential), r.encode()).await;
    assert_eq!(status, 200);
    let failed = wait_for_stamp(&server, Duration::from_secs(20), "a failed stamp", |s| {
        s["status"] == "failed"
    })
    .await;
    assert!(
        failed["last_error"]
            .as_str()
            .unwrap()
            .contains("calendars answered"),
        "{failed}"
    );
    assert!(
        failed["submit_failures"].to_string().contains(&down),
        "{failed}"
    );
    assert!(failed["ots_url"].is_null());
    let size = failed["tree_size"].as_u64().unwrap();
    let r = server
        .client
        .get(server.url(&format!("/v1/anchors/{size}/ots")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Retried at the next interval although the log did not grow.
    let before = alice.calendar.submissions();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        alice.calendar.submissions() > before,
        "the failed stamp was retried"
    );
    let m = server.get_text("/metrics").await;
    assert!(
        m.contains("ledger_anchor_stamps{status=\"failed\"} 1"),
        "{m}"
    );
    // The ledger is unaffected.
    let r = box1.next_evidence();
    let (status, _) = server.append_http(Some(&box1.credential), r.encode()).await;
    assert_eq!(status, 200);
    // Bad query parameters are clear errors.
    let (status, e) = get_json(&server, "/v1/anchors?limit=abc").await;
    assert_eq!(status, 400, "{e}");
    let (status, _) = get_json(&server, "/v1/anchors/999999").await;
    assert_eq!(status, 404);
    let _ = Record::decode(&r.encode()).unwrap();
    server.stop().await;
    alice.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overdue_stamps_are_flagged_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let alice = LocalCalendar::spawn().await.unwrap();
    let never = hostile(Misbehaviour::NotFoundForever).await;
    let mut cal = settings(&[&alice.url, &never], Duration::from_millis(300));
    cal.pending_alarm = Duration::from_secs(1);
    let server = TestServer::start_with(dir.path(), |c| c.anchor = cal).await;
    let mut box1 = server.enrol("clinic-1", "box-1").await;
    let r = box1.next_evidence();
    let (status, _) = server.append_http(Some(&box1.credential), r.encode()).await;
    assert_eq!(status, 200);
    let size = server.tree_size().await;
    wait_for_stamp(&server, Duration::from_secs(20), "a pending stamp", |s| {
        s["tree_size"].as_u64() == Some(size) && s["status"] == "pending"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, one) = get_json(&server, &format!("/v1/anchors/{size}")).await;
    assert_eq!(one["status"], "pending", "{one}");
    assert_eq!(one["overdue"], true, "{one}");
    assert!(one["upgrade_attempts"].as_u64().unwrap() >= 1, "{one}");
    assert!(server
        .get_text("/metrics")
        .await
        .contains("ledger_anchor_pending_overdue 1"));
    // Confirmation still completes it; the 404-forever calendar is no error.
    alice
        .calendar
        .confirm(unix_now())
        .unwrap()
        .expect("a block");
    let done = wait_for_stamp(&server, Duration::from_secs(30), "a complete stamp", |s| {
        s["tree_size"].as_u64() == Some(size) && s["status"] == "complete"
    })
    .await;
    assert_eq!(done["overdue"], false);
    assert!(done["last_error"].is_null(), "{done}");
    server.stop().await;
    alice.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_header_source_only_a_matching_block_completes_a_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let honest = LocalCalendar::spawn().await.unwrap();
    let wrong = hostile(Misbehaviour::WrongMessage).await;
    // A header source whose chain has another block at the height both calendars use:
    // nothing either calendar attests can match it.
    let elsewhere = LocalCalendar::spawn().await.unwrap();
    elsewhere.calendar.submit(&[7u8; 32]).unwrap();
    let (other_height, _) = elsewhere.calendar.confirm(unix_now()).unwrap().unwrap();
    let mut cal = settings(&[&honest.url, &wrong], Duration::from_millis(300));
    cal.bitcoin_api = Some(format!("{}/api", elsewhere.url));
    let first = cal.clone();
    let server = TestServer::start_with(dir.path(), |c| c.anchor = first).await;
    let mut box1 = server.enrol("clinic-1", "box-1").await;
    let r = box1.next_evidence();
    let (status, _) = server.append_http(Some(&box1.credential), r.encode()).await;
    assert_eq!(status, 200);
    let size = server.tree_size().await;

    // The wrong-message calendar answers at once with a well-formed proof ending in a
    // Bitcoin attestation; its block does not match, so the stamp stays pending.
    let stamp = wait_for_stamp(
        &server,
        Duration::from_secs(20),
        "a reported mismatch",
        |s| {
            s["tree_size"].as_u64() == Some(size)
                && s["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("does not match the Merkle root"))
        },
    )
    .await;
    assert_eq!(stamp["status"], "pending", "{stamp}");
    assert!(stamp["bitcoin_verified"].is_null(), "{stamp}");
    assert!(stamp["bitcoin_heights"]
        .as_array()
        .unwrap()
        .contains(&Value::from(other_height)));

    // The honest calendar confirms in its own chain. Its proof is merged, and it does
    // not match the source's block either: still pending, never complete.
    let (height, header) = honest.calendar.confirm(unix_now()).unwrap().unwrap();
    assert_eq!(height, other_height, "the set-up needs the same height");
    let honest_headers = HeaderSet::from_headers([(height, header)]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let bytes = get_bytes(&server, &format!("/v1/anchors/{size}/ots")).await;
        let stored = DetachedTimestamp::parse(&bytes).unwrap();
        if stored
            .verify_bitcoin(&honest_headers)
            .unwrap()
            .has_verified()
        {
            break;
        }
        assert!(Instant::now() < deadline, "the honest proof never arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.state().anchoring.upgrade_due(true).await.unwrap();
    let (_, still) = get_json(&server, &format!("/v1/anchors/{size}")).await;
    assert_eq!(still["status"], "pending", "{still}");
    assert!(still["bitcoin_verified"].is_null(), "{still}");
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let failures: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ledger_anchor_header_check_failures_total "))
        .and_then(|v| v.parse().ok())
        .expect("the header check metric");
    assert!(failures >= 2, "{failures}");
    server.stop().await;

    // Restarted on the same data with the honest chain as header source, the stored
    // stamp completes and names the block whose header matched.
    cal.bitcoin_api = Some(format!("{}/api/", honest.url));
    let server = TestServer::start_with(dir.path(), |c| c.anchor = cal).await;
    let done = wait_for_stamp(&server, Duration::from_secs(20), "completion", |s| {
        s["tree_size"].as_u64() == Some(size) && s["status"] == "complete"
    })
    .await;
    assert_eq!(done["bitcoin_verified"]["height"], height, "{done}");
    assert_eq!(done["bitcoin_verified"]["time"], header.time(), "{done}");
    assert_eq!(
        done["bitcoin_verified"]["block_hash"],
        header.hash_display(),
        "{done}"
    );
    let (status, anchored) = get_json(&server, "/v1/anchored-receipts/0").await;
    assert_eq!(status, 200, "{anchored}");
    assert_eq!(anchored["bitcoin_verified"], done["bitcoin_verified"]);
    server.stop().await;
    honest.stop().await.unwrap();
    elsewhere.stop().await.unwrap();
}
