//! Fleet, healing and record-search endpoints over real sockets: answers
//! computed from known records, scope enforcement on every endpoint (a token of site A
//! asking for site B's site, appliance, incident or record gets 404 and no data), agent
//! check-ins, and a rebuild of the deleted query index to identical answers.

mod common;

use common::*;
use ledger_core::hash::leaf_hash;
use ledger_core::receipt::Receipt;
use ledger_record::{
    Body, EvidenceBody, EvidenceItem, HealingBody, Id, Outcome, Record, Status, Tier,
};
use serde_json::{json, Value};

fn evidence(items: &[(&str, Status)]) -> Body {
    Body::Evidence(
        EvidenceBody::inline(
            items
                .iter()
                .enumerate()
                .map(|(n, (check, status))| EvidenceItem {
                    check_type: Id::new(*check).unwrap(),
                    host: Id::new(format!("host-{n}")).unwrap(),
                    status: *status,
                    observed_at_ms: now_ms(),
                    details: String::new(),
                    controls: vec!["SOC2:CC7.2".into()],
                })
                .collect(),
        )
        .unwrap(),
    )
}

fn healing(incident: &str, pattern: &str, tier: Tier, outcome: Outcome, secs: u64) -> Body {
    let start = 1_700_000_000_000;
    Body::Healing(HealingBody {
        incident_id: Id::new(incident).unwrap(),
        check_type: Id::new("disk_space").unwrap(),
        pattern_signature: pattern.into(),
        tier,
        runbook_id: Id::new("rb-1").unwrap(),
        action: "cleaned up".into(),
        outcome,
        started_at_ms: start,
        ended_at_ms: start + secs * 1000,
        state_before: "full".into(),
        state_after: String::new(),
    })
}

async fn append(server: &TestServer, a: &mut Appliance, body: Body) -> (u64, Record) {
    let r = a.next(body);
    let (status, v) = server.append_http(Some(&a.credential), r.encode()).await;
    assert_eq!(status, 200, "{v}");
    (v["index"].as_u64().unwrap(), r)
}

async fn get(server: &TestServer, path: &str, bearer: Option<&str>) -> (u16, Value, String) {
    let mut req = server.client.get(server.url(path));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

async fn get_ok(server: &TestServer, path: &str, bearer: &str) -> Value {
    let (status, v, text) = get(server, path, Some(bearer)).await;
    assert_eq!(status, 200, "{path}: {text}");
    v
}

/// Two sites with known records. Returns (box-1 and box-2 of site-a, box-3 of site-b).
async fn seed(server: &TestServer) -> (Appliance, Appliance, Appliance) {
    let mut a1 = server.enrol("site-a", "box-1").await;
    let mut a2 = server.enrol("site-a", "box-2").await;
    let mut b3 = server.enrol("site-b", "box-3").await;
    // Evidence: site-a has 3 pass + 1 fail of disk_encryption, 1 warning of firewall.
    append(
        server,
        &mut a1,
        evidence(&[
            ("disk_encryption", Status::Pass),
            ("disk_encryption", Status::Fail),
        ]),
    )
    .await;
    append(server, &mut a1, evidence(&[("firewall", Status::Warning)])).await;
    append(
        server,
        &mut a2,
        evidence(&[
            ("disk_encryption", Status::Pass),
            ("disk_encryption", Status::Pass),
        ]),
    )
    .await;
    append(
        server,
        &mut b3,
        evidence(&[("disk_encryption", Status::Error)]),
    )
    .await;
    // Healing at site-a: pattern "disk-full" at L2, 3 successes (10 s, 20 s, 30 s);
    // pattern "svc-down" at L2, 2 successes and 1 failure; incident inc-7 goes from L1
    // (failure) to L2 (success) in two records.
    for (n, secs) in [10, 20, 30].into_iter().enumerate() {
        append(
            server,
            &mut a1,
            healing(
                &format!("inc-d{n}"),
                "disk-full",
                Tier::L2,
                Outcome::Success,
                secs,
            ),
        )
        .await;
    }
    for (n, outcome) in [Outcome::Success, Outcome::Success, Outcome::Failure]
        .into_iter()
        .enumerate()
    {
        append(
            server,
            &mut a2,
            healing(&format!("inc-s{n}"), "svc-down", Tier::L2, outcome, 5),
        )
        .await;
    }
    append(
        server,
        &mut a1,
        healing("inc-7", "cert-expiry", Tier::L1, Outcome::Failure, 1),
    )
    .await;
    append(
        server,
        &mut a1,
        healing("inc-7", "cert-expiry", Tier::L2, Outcome::Success, 4),
    )
    .await;
    // Site-b: one incident with a name that also exists at site-a.
    append(
        server,
        &mut b3,
        healing("inc-7", "disk-full", Tier::L3, Outcome::Escalated, 60),
    )
    .await;
    server.wait_indexed().await;
    (a1, a2, b3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_healing_and_search_answer_from_the_log_within_scope() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.promotion_min_occurrences = 3;
    })
    .await;
    let log_key = server.log_verifier().await;
    let (a1, _a2, b3) = seed(&server).await;
    let reader_a = server.read_token(&["site-a"]).await;
    let partner = server.read_token(&["site-a", "site-b"]).await;
    let admin = server.admin.clone();

    // ---- check-in ----
    let checkin = json!({"agent_version": "0.1.0", "outbox_depth": 12, "oldest_undelivered_age_secs": 40,
        "last_receipt_index": 3, "last_checkpoint_size": 4, "health": "degraded",
        "alarms": ["outbox_slow"], "new_field_from_a_newer_agent": true});
    let r = server
        .client
        .post(server.url("/v1/checkin"))
        .bearer_auth(&a1.credential)
        .json(&checkin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for (bearer, expected) in [
        (Some(admin.as_str()), 403),
        (Some(reader_a.as_str()), 403),
        (None, 401),
    ] {
        let (status, v) = server
            .post_json("/v1/checkin", bearer, checkin.clone())
            .await;
        assert_eq!(status, expected, "{v}");
    }
    let (status, v) = server
        .post_json(
            "/v1/checkin",
            Some(&b3.credential),
            json!({"agent_version": "0.1.0", "outbox_depth": "many", "health": "ok"}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("invalid_checkin"))
    );

    // ---- fleet ----
    let v = get_ok(&server, "/v1/sites/site-a/appliances", &reader_a).await;
    let apps = v["appliances"].as_array().unwrap();
    assert_eq!(apps.len(), 2, "{v}");
    let box1 = &apps[0];
    assert_eq!(box1["appliance_id"], "box-1");
    assert_eq!(box1["state"], "online");
    assert_eq!(box1["agent_version"], "0.1.0");
    assert_eq!(box1["outbox_depth"], 12);
    assert_eq!(box1["health"], "degraded");
    assert_eq!(box1["agent_alarms"], json!(["outbox_slow"]));
    assert_eq!(box1["key_status"], "active");
    assert_eq!(box1["last_sequence"], a1.seq);
    assert_eq!(box1["records"], a1.seq);
    assert_eq!(box1["completeness_alarms"], 0);
    assert_eq!(apps[1]["state"], "never", "box-2 never checked in");
    assert_eq!(v["stale_after_secs"], 180);

    let v = get_ok(&server, "/v1/appliances/site-a/box-1", &reader_a).await;
    assert_eq!(v["keys"].as_array().unwrap().len(), 1);
    assert_eq!(v["keys"][0]["introduced_by"], "enrolment");
    assert_eq!(v["checkin"]["checkins"], 1);
    assert_eq!(v["checkin"]["last_receipt_index"], 3);

    // A rotation and a revocation show in the key history and the key status.
    let mut a2 = _a2;
    let rot = a2.rotate();
    let (status, body) = server.append_http(Some(&a2.credential), rot.encode()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .post_json(
            "/v1/admin/appliances/site-a/box-2/revoke",
            Some(&admin),
            json!({"reason": "decommissioned"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    server.wait_indexed().await;
    let v = get_ok(&server, "/v1/appliances/site-a/box-2", &admin).await;
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{v}");
    assert_eq!(keys[0]["end_reason"], "rotated");
    assert_eq!(keys[0]["replaced_by"], keys[1]["key_id"]);
    assert_eq!(keys[1]["introduced_by"], "rotation");
    assert_eq!(keys[1]["end_reason"], "revoked:decommissioned");
    assert_eq!(v["key_status"], "revoked");

    // ---- healing ----
    let v = get_ok(&server, "/v1/incidents?site=site-a", &reader_a).await;
    let incidents = v["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 7, "{v}");
    let inc7 = incidents
        .iter()
        .find(|i| i["incident_id"] == "inc-7")
        .unwrap();
    assert_eq!(inc7["records"], 2);
    assert_eq!(
        (inc7["tier"].as_str(), inc7["outcome"].as_str()),
        (Some("L2"), Some("success"))
    );
    let v = get_ok(
        &server,
        "/v1/incidents?site=site-a&outcome=failure",
        &reader_a,
    )
    .await;
    assert_eq!(v["incidents"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["incidents"][0]["incident_id"], "inc-s2");
    let v = get_ok(&server, "/v1/incidents?tier=L3", &partner).await;
    assert_eq!(v["incidents"][0]["site_id"], "site-b");
    // Cursor pagination visits every incident once.
    let mut seen = Vec::new();
    let mut path = "/v1/incidents?limit=3".to_string();
    loop {
        let v = get_ok(&server, &path, &partner).await;
        for i in v["incidents"].as_array().unwrap() {
            seen.push(format!("{}/{}", i["site_id"], i["incident_id"]));
        }
        match v["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/incidents?limit=3&cursor={c}"),
            None => break,
        }
    }
    let unique: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (8, 8), "{seen:?}");

    // Incident detail: both records, each with a receipt that verifies.
    let v = get_ok(&server, "/v1/sites/site-a/incidents/inc-7", &reader_a).await;
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{v}");
    assert_eq!(records[0]["healing"]["tier"], "L1");
    for rec in records {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(rec["record"].as_str().unwrap())
            .unwrap();
        let receipt = Receipt::parse(rec["receipt"].as_str().unwrap().as_bytes()).unwrap();
        let verified = receipt.verify(&leaf_hash(&bytes), &log_key).unwrap();
        assert_eq!(Some(verified.index()), rec["index"].as_u64());
    }

    // Pattern statistics and promotion candidates (threshold 3 occurrences, 90 %).
    let v = get_ok(&server, "/v1/patterns?site=site-a", &reader_a).await;
    let p = |name: &str| {
        v["patterns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["pattern_signature"] == name)
            .cloned()
            .unwrap()
    };
    let disk = p("disk-full");
    assert_eq!(
        disk["occurrences"], 3,
        "site-b's disk-full is out of this scope"
    );
    assert_eq!(disk["success_rate"], 1.0);
    assert_eq!(disk["mean_time_to_resolve_ms"], 20_000.0);
    assert_eq!(disk["tiers"], json!({"L1": 0, "L2": 3, "L3": 0}));
    let svc = p("svc-down");
    assert!((svc["success_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    let cert = p("cert-expiry");
    assert_eq!(cert["tiers"], json!({"L1": 1, "L2": 1, "L3": 0}));
    let v = get_ok(&server, "/v1/patterns?tier=L3", &partner).await;
    assert_eq!(v["patterns"][0]["escalations"], 1);
    let v = get_ok(&server, "/v1/patterns/promotion-candidates", &reader_a).await;
    let names: Vec<_> = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["pattern_signature"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["disk-full"], "{v}");

    // ---- record search ----
    let v = get_ok(&server, "/v1/search/records?status=fail", &reader_a).await;
    let hits = v["records"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{v}");
    assert_eq!(hits[0]["appliance_id"], "box-1");
    // The hit's log index fetches the record whose hash the hit names.
    let idx = hits[0]["index"].as_u64().unwrap();
    let r = server
        .client
        .get(server.url(&format!("/v1/records/{idx}")))
        .bearer_auth(&reader_a)
        .send()
        .await
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    assert_eq!(
        hex::encode(Record::decode(&bytes).unwrap().hash().as_bytes()),
        hits[0]["record_hash"].as_str().unwrap()
    );
    let v = get_ok(
        &server,
        "/v1/search/records?kind=healing&site=site-a&tier=L2",
        &reader_a,
    )
    .await;
    assert_eq!(v["records"].as_array().unwrap().len(), 7);
    let v = get_ok(
        &server,
        "/v1/search/records?check_type=disk_encryption",
        &partner,
    )
    .await;
    assert_eq!(v["records"].as_array().unwrap().len(), 3);
    let v = get_ok(&server, "/v1/search/records?incident=inc-7", &reader_a).await;
    assert_eq!(
        v["records"].as_array().unwrap().len(),
        2,
        "site-b's inc-7 is not shown"
    );
    // Pagination over everything site-a can see: newest first, no duplicates.
    let mut indexes = Vec::new();
    let mut path = "/v1/search/records?limit=4".to_string();
    loop {
        let v = get_ok(&server, &path, &reader_a).await;
        for h in v["records"].as_array().unwrap() {
            assert_eq!(h["site_id"], "site-a");
            indexes.push(h["index"].as_u64().unwrap());
        }
        match v["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/search/records?limit=4&cursor={c}"),
            None => break,
        }
    }
    assert!(indexes.windows(2).all(|w| w[0] > w[1]), "{indexes:?}");
    // 3 evidence + 8 healing + 1 rotation of site-a.
    assert_eq!(indexes.len(), 12, "{indexes:?}");

    let v = get_ok(&server, "/v1/search/records/daily?site=site-a", &reader_a).await;
    let days = v["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    let today = days.last().unwrap();
    assert_eq!(
        (
            today["pass"].as_u64(),
            today["fail"].as_u64(),
            today["warning"].as_u64(),
            today["error"].as_u64()
        ),
        (Some(3), Some(1), Some(1), Some(0)),
        "{v}"
    );
    let v = get_ok(
        &server,
        "/v1/search/records/daily?site=site-a&appliance=box-2",
        &reader_a,
    )
    .await;
    assert_eq!(v["days"].as_array().unwrap().last().unwrap()["pass"], 2);
    let v = get_ok(&server, "/v1/search/records/daily", &partner).await;
    assert_eq!(v["days"].as_array().unwrap().last().unwrap()["error"], 1);

    // ---- scope: site-a's token asking for site-b → 404, no data ----
    let b_secret_strings = ["box-3", "disk-full", "escalated"];
    for path in [
        "/v1/sites/site-b/appliances".to_string(),
        "/v1/appliances/site-b/box-3".to_string(),
        "/v1/incidents?site=site-b".to_string(),
        "/v1/sites/site-b/incidents/inc-7".to_string(),
        "/v1/patterns?site=site-b".to_string(),
        "/v1/patterns/promotion-candidates?site=site-b".to_string(),
        "/v1/search/records?site=site-b".to_string(),
        "/v1/search/records/daily?site=site-b".to_string(),
    ] {
        let (status, _, text) = get(&server, &path, Some(&reader_a)).await;
        assert_eq!(status, 404, "{path}: {text}");
        for s in b_secret_strings {
            assert!(!text.contains(s), "{path} leaked {s}: {text}");
        }
        // The same path is answered for a token that covers site-b.
        let (status, _, text) = get(&server, &path, Some(&partner)).await;
        assert_eq!(status, 200, "{path}: {text}");
    }
    // Without a site filter, site-b's rows are simply not there.
    let v = get_ok(&server, "/v1/search/records?appliance=box-3", &reader_a).await;
    assert_eq!(v["records"], json!([]));
    let v = get_ok(&server, "/v1/incidents?appliance=box-3", &reader_a).await;
    assert_eq!(v["incidents"], json!([]));
    // Unknown things inside the scope are 404 too; appliance credentials and anonymous
    // callers are refused.
    let (status, _, _) = get(&server, "/v1/appliances/site-a/nope", Some(&reader_a)).await;
    assert_eq!(status, 404);
    let (status, _, _) = get(&server, "/v1/sites/site-a/incidents/nope", Some(&reader_a)).await;
    assert_eq!(status, 404);
    let (status, v, _) = get(&server, "/v1/search/records", Some(&a1.credential)).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("read_token_required"))
    );
    let (status, _, _) = get(&server, "/v1/incidents", None).await;
    assert_eq!(status, 401);
    // Bad filters are 400 with a reason.
    for path in [
        "/v1/search/records?status=broken",
        "/v1/search/records?limit=0",
        "/v1/search/records?colour=red",
        "/v1/search/records?cursor=abc",
        "/v1/incidents?tier=L9",
        "/v1/search/records/daily?from_day=2024-02-30",
        "/v1/search/records/daily?from_day=2020-01-01&to_day=2024-01-01",
    ] {
        let (status, v, _) = get(&server, path, Some(&admin)).await;
        assert_eq!(status, 400, "{path}: {v}");
    }

    // The index lag is a metric.
    let metrics = server.get_text("/metrics").await;
    assert!(metrics.contains("ledger_index_lag_entries 0"), "{metrics}");
    server.stop().await;
}

/// The answers compared before and after the rebuild.
async fn snapshot(server: &TestServer) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for path in [
        "/v1/sites/site-a/appliances",
        "/v1/sites/site-b/appliances",
        "/v1/appliances/site-a/box-1",
        "/v1/appliances/site-a/box-2",
        "/v1/incidents?limit=500",
        "/v1/sites/site-a/incidents/inc-7",
        "/v1/patterns",
        "/v1/patterns/promotion-candidates",
        "/v1/search/records?limit=500",
        "/v1/search/records?status=pass",
        "/v1/search/records/daily",
        "/v1/search/records/daily?appliance=box-1",
    ] {
        let mut v = get_ok(server, path, &server.admin).await;
        // Receipts and tree sizes follow the latest checkpoint, which is the same log
        // before and after; the liveness state depends on the clock, the rest may not.
        if let Some(list) = v["appliances"].as_array_mut() {
            for a in list {
                a["state"] = Value::Null;
            }
        }
        out.push((path.to_string(), v));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_index_is_rebuilt_to_identical_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (mut a1, _a2, _b3) = seed(&server).await;
    let rot = a1.rotate();
    assert_eq!(
        server
            .append_http(Some(&a1.credential), rot.encode())
            .await
            .0,
        200
    );
    append(&server, &mut a1, evidence(&[("backup", Status::Pass)])).await;
    server.wait_indexed().await;
    let before = snapshot(&server).await;
    server.stop().await;

    for name in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.path().join(name));
    }
    assert!(!dir.path().join("index.sqlite").exists());
    let server = TestServer::start(dir.path()).await;
    server.wait_indexed().await;
    let after = snapshot(&server).await;
    for ((path, b), (_, a)) in before.iter().zip(&after) {
        assert_eq!(b, a, "{path} differs after the rebuild");
    }
    // Check-ins are not in the index, so they survive it.
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkins_survive_an_index_rebuild_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let a = server.enrol("site-a", "box-1").await;
    let body = json!({"agent_version": "0.2.0", "outbox_depth": 0, "oldest_undelivered_age_secs": null,
        "last_receipt_index": null, "last_checkpoint_size": null, "health": "ok", "alarms": []});
    let r = server
        .client
        .post(server.url("/v1/checkin"))
        .bearer_auth(&a.credential)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    server.stop().await;
    let _ = std::fs::remove_file(dir.path().join("index.sqlite"));
    let server = TestServer::start(dir.path()).await;
    server.wait_indexed().await;
    let v = get_ok(&server, "/v1/appliances/site-a/box-1", &server.admin).await;
    assert_eq!(v["agent_version"], "0.2.0");
    assert_eq!(v["checkin"]["checkins"], 1);
    assert_eq!(v["key_status"], "active");
    server.stop().await;
}
