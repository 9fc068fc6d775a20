//! Appliance faults at intake, over real HTTP and gRPC on 127.0.0.1: a clock hours
//! ahead (refused with `future_time`) or hours behind (accepted: appliance time is
//! informative, RECORDS.md §3), and an appliance restored from an old backup that
//! replays sequence numbers already logged (identical bytes are duplicates; new records
//! with taken sequences are refused with `sequence_replayed`). Honest records of the
//! same and other appliances are all in the log with their receipts, and the fleet view
//! shows the refusals per appliance with a server alarm.

mod common;

use std::time::{Duration, Instant};

use api::grpc::pb;
use common::*;
use ledger_core::note::NoteVerifier;
use ledger_record::Record;
use serde_json::Value;

const HOUR_MS: u64 = 3_600_000;

/// Appends over gRPC unary with the appliance's credential; returns the one result.
async fn append_grpc(server: &TestServer, credential: &str, record: &Record) -> pb::AppendResult {
    let mut grpc = server.grpc_client().await;
    let mut req = tonic::Request::new(pb::AppendRequest {
        records: vec![record.encode()],
    });
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {credential}").parse().unwrap(),
    );
    let mut resp = grpc
        .append(req)
        .await
        .expect("per-record refusals are results, not call errors")
        .into_inner();
    assert_eq!(resp.results.len(), 1);
    resp.results.remove(0)
}

fn grpc_error(result: &pb::AppendResult) -> (&str, &str) {
    match result.result.as_ref().expect("a result") {
        pb::append_result::Result::Error(e) => (e.code.as_str(), e.message.as_str()),
        pb::append_result::Result::Appended(a) => panic!("appended at {}", a.index),
    }
}

fn grpc_appended(result: &pb::AppendResult) -> &pb::Appended {
    match result.result.as_ref().expect("a result") {
        pb::append_result::Result::Appended(a) => a,
        pb::append_result::Result::Error(e) => panic!("refused: {} {}", e.code, e.message),
    }
}

/// The bytes of log entry `index`, read back with the admin credential.
async fn logged(server: &TestServer, index: u64) -> Vec<u8> {
    let r = server
        .client
        .get(server.url(&format!("/v1/records/{index}")))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "record {index}");
    r.bytes().await.unwrap().to_vec()
}

/// An appliance that appends `n` records with a correct clock, each answered with a
/// verifying receipt; returns (index, bytes) of each.
async fn honest_appends(
    server: &TestServer,
    app: &mut Appliance,
    log: &NoteVerifier,
    n: usize,
) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = app.next_evidence();
        let (status, a) = server.append_http(Some(&app.credential), r.encode()).await;
        assert_eq!(status, 200, "{a}");
        out.push((verify_answer(&a, r.as_bytes(), log), r.encode()));
    }
    out
}

/// The fleet view of `site`, once the index has caught up with `size` entries.
async fn fleet(server: &TestServer, site: &str, size: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = server
            .client
            .get(server.url(&format!("/v1/sites/{site}/appliances")))
            .bearer_auth(&server.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let indexed: u64 = v["appliances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["records"].as_u64().unwrap())
            .sum();
        // Enrolments are in the operator chain, not in the site's appliances.
        if indexed >= size {
            return v;
        }
        assert!(Instant::now() < deadline, "the index never caught up: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn appliance<'a>(fleet: &'a Value, id: &str) -> &'a Value {
    fleet["appliances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["appliance_id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {fleet}"))
}

async fn rejected_metric(server: &TestServer, reason: &str) -> u64 {
    let text = server.get_text("/metrics").await;
    let prefix = format!("ledger_records_rejected_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map_or(0, |v| v.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_hours_ahead_is_refused_hours_behind_accepted_and_the_fleet_view_alarms() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let log = server.log_verifier().await;
    let mut skewed = server.enrol("clinic-1", "box-skewed").await;
    let mut honest = server.enrol("clinic-1", "box-honest").await;
    let mut kept = honest_appends(&server, &mut honest, &log, 3).await;

    // Three hours ahead: refused over HTTP and over gRPC, with the same code and a
    // message naming the appliance, the lead and the accepted skew.
    let ahead = skewed.make(
        1,
        skewed.prev,
        now_ms() + 3 * HOUR_MS,
        evidence_body(1),
        &skewed.key.clone(),
    );
    let size = server.tree_size().await;
    let (status, e) = server
        .append_http(Some(&skewed.credential), ahead.encode())
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("future_time")),
        "{e}"
    );
    let message = e["error"]["message"].as_str().unwrap();
    for part in [
        "record time of clinic-1/box-skewed is 10",
        "ms ahead of the server clock",
        "at most 300 s of future skew",
        "check the appliance's clock",
    ] {
        assert!(message.contains(part), "`{message}` lacks `{part}`");
    }
    let result = append_grpc(&server, &skewed.credential, &ahead).await;
    let (code, grpc_message) = grpc_error(&result);
    assert_eq!(code, "future_time");
    assert!(
        grpc_message.starts_with("record time of clinic-1/box-skewed is 10")
            && grpc_message.ends_with(
                "at most 300 s of future skew is accepted (check the appliance's clock)"
            ),
        "{grpc_message}"
    );
    assert_eq!(
        server.tree_size().await,
        size,
        "nothing logged for a refusal"
    );
    kept.extend(honest_appends(&server, &mut honest, &log, 3).await);

    // The clock is put right: the same sequence number goes in, nothing was lost.
    let fixed = skewed.next_evidence();
    let (status, a) = server
        .append_http(Some(&skewed.credential), fixed.encode())
        .await;
    assert_eq!(status, 200, "{a}");
    kept.push((verify_answer(&a, fixed.as_bytes(), &log), fixed.encode()));

    // Three hours behind: accepted (appliance time only informs), shown as such.
    let behind_ms = now_ms() - 3 * HOUR_MS;
    let behind = skewed.make(
        2,
        skewed.prev,
        behind_ms,
        evidence_body(2),
        &skewed.key.clone(),
    );
    let appended = grpc_appended(&append_grpc(&server, &skewed.credential, &behind).await).index;
    kept.push((appended, behind.encode()));
    kept.extend(honest_appends(&server, &mut honest, &log, 3).await);

    // Every accepted record is in the log, byte for byte.
    for (index, bytes) in &kept {
        assert_eq!(&logged(&server, *index).await, bytes, "entry {index}");
    }

    // The fleet view: the skewed appliance's two refusals and its alarm; its last
    // record time is the one its clock gave. The honest appliance has none.
    let size = server.tree_size().await;
    let view = fleet(&server, "clinic-1", size - 2).await;
    let s = appliance(&view, "box-skewed");
    assert_eq!(s["refusals"]["future_time"]["count"], 2, "{s}");
    assert!(s["refusals"]["future_time"]["last_ms"].as_u64().unwrap() <= now_ms());
    assert_eq!(
        s["server_alarms"],
        serde_json::json!(["clock_ahead"]),
        "{s}"
    );
    assert_eq!(s["records"], 2, "{s}");
    assert_eq!(s["last_sequence"], 2, "{s}");
    assert_eq!(s["last_record_time_ms"], behind_ms, "{s}");
    let h = appliance(&view, "box-honest");
    assert_eq!(h["refusals"], serde_json::json!({}), "{h}");
    assert_eq!(h["server_alarms"], serde_json::json!([]), "{h}");
    assert_eq!(h["records"], 9, "{h}");
    let r = server
        .client
        .get(server.url("/v1/appliances/clinic-1/box-skewed"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    let detail: Value = r.json().await.unwrap();
    assert_eq!(detail["refusals"]["future_time"]["count"], 2, "{detail}");
    assert_eq!(detail["server_alarms"], serde_json::json!(["clock_ahead"]));
    // The step back of its clock between its two logged records is in the detail.
    let steps = detail["clock_steps_back"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{detail}");
    assert_eq!(steps[0]["sequence"], 2);
    assert_eq!(steps[0]["index"], appended);
    assert_eq!(steps[0]["time_ms"], behind_ms);
    assert!(
        steps[0]["previous_time_ms"].as_u64().unwrap() > behind_ms + 2 * HOUR_MS,
        "{detail}"
    );
    let r = server
        .client
        .get(server.url("/v1/appliances/clinic-1/box-honest"))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    let detail: Value = r.json().await.unwrap();
    assert_eq!(
        detail["clock_steps_back"],
        serde_json::json!([]),
        "{detail}"
    );
    assert_eq!(rejected_metric(&server, "future_time").await, 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appliance_restored_from_an_old_backup_replays_sequences_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let log = server.log_verifier().await;
    let mut app = server.enrol("clinic-1", "box-1").await;
    let mut neighbour = server.enrol("clinic-1", "box-2").await;
    let logged_before = honest_appends(&server, &mut app, &log, 8).await;
    honest_appends(&server, &mut neighbour, &log, 2).await;

    // The appliance is restored from a backup taken after sequence 4: its outbox still
    // holds records 5..=6 undelivered, and its chain head is back at 4.
    let mut restored = Appliance {
        chain: app.chain.clone(),
        key: app.key.clone(),
        seq: 4,
        prev: Record::decode(&logged_before[3].1).unwrap().hash(),
        credential: app.credential.clone(),
        enrolment: Value::Null,
    };
    // Its undelivered records are identical bytes: duplicates, with their original index.
    for (index, bytes) in &logged_before[4..6] {
        let (status, a) = server
            .append_http(Some(&restored.credential), bytes.clone())
            .await;
        assert_eq!(status, 200, "{a}");
        assert_eq!(a["index"].as_u64(), Some(*index));
        assert_eq!(a["duplicate"], true);
        verify_answer(&a, bytes, &log);
    }
    // New records it signs reuse sequences 5 and 6: refused over HTTP and gRPC.
    let size = server.tree_size().await;
    let replay_http = restored.next_evidence();
    let (status, e) = server
        .append_http(Some(&restored.credential), replay_http.encode())
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("sequence_replayed")),
        "{e}"
    );
    assert_eq!(
        e["error"]["message"],
        "clinic-1/box-1 already logged a different record with sequence 5; the next sequence is 9",
        "{e}"
    );
    let replay_grpc = restored.next_evidence();
    let result = append_grpc(&server, &restored.credential, &replay_grpc).await;
    assert_eq!(
        grpc_error(&result),
        (
            "sequence_replayed",
            "clinic-1/box-1 already logged a different record with sequence 6; the next sequence is 9"
        )
    );
    // A batch mixing a duplicate and a replay answers each record on its own.
    let batch = ledger_record::encode_batch_body(&[
        logged_before[6].1.clone(),
        restored.next_evidence().encode(),
    ]);
    let r = server
        .post_bytes("/v1/records/batch", Some(&restored.credential), batch)
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["results"][0]["ok"]["index"].as_u64(),
        Some(logged_before[6].0),
        "{v}"
    );
    assert_eq!(v["results"][1]["error"]["code"], "sequence_replayed", "{v}");
    assert_eq!(
        server.tree_size().await,
        size,
        "nothing logged by the replays"
    );

    // Nothing of the honest history is lost or changed, and the chain goes on.
    for (index, bytes) in &logged_before {
        assert_eq!(&logged(&server, *index).await, bytes, "entry {index}");
    }
    honest_appends(&server, &mut app, &log, 2).await;
    honest_appends(&server, &mut neighbour, &log, 1).await;

    let size = server.tree_size().await;
    let view = fleet(&server, "clinic-1", size - 2).await;
    let a = appliance(&view, "box-1");
    assert_eq!(a["refusals"]["sequence_replayed"]["count"], 3, "{a}");
    assert_eq!(
        a["server_alarms"],
        serde_json::json!(["sequence_replay"]),
        "{a}"
    );
    assert_eq!(a["records"], 10, "{a}");
    assert_eq!(a["last_sequence"], 10, "{a}");
    assert_eq!(a["completeness_alarms"], 0, "the log's chain is whole: {a}");
    let b = appliance(&view, "box-2");
    assert_eq!(b["server_alarms"], serde_json::json!([]), "{b}");
    assert_eq!(b["records"], 3, "{b}");
    assert_eq!(rejected_metric(&server, "sequence_replayed").await, 3);
    // The counts are the server's since it started; the log's facts survive a restart.
    server.stop().await;
    let server = TestServer::start(dir.path()).await;
    let view = fleet(&server, "clinic-1", size - 2).await;
    let a = appliance(&view, "box-1");
    assert_eq!(a["refusals"], serde_json::json!({}), "{a}");
    assert_eq!(a["records"], 10, "{a}");
    server.stop().await;
}
