//! End-to-end over real sockets on 127.0.0.1: enrolment, evidence and healing records
//! over HTTP and gRPC, receipts verified with the pure core, rotation, revocation,
//! site-scoped reads, and state surviving a restart.

mod common;

use api::grpc::pb;
use common::*;
use ledger_core::hash::leaf_hash;
use ledger_core::receipt::Receipt;
use ledger_record::{Body, KeyBody, Record};
use serde_json::{json, Value};

fn grpc_receipt(result: &pb::AppendResult) -> &pb::Appended {
    match result.result.as_ref().expect("result") {
        pb::append_result::Result::Appended(a) => a,
        pb::append_result::Result::Error(e) => {
            panic!("gRPC append failed: {} {}", e.code, e.message)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_append_rotate_revoke_over_http_and_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let log = server.log_verifier().await;

    // Enrolment: the server logs a key record signed by the operator key.
    let mut box1 = server.enrol("clinic-1", "box-1").await;
    let enrol_index = box1.enrolment["enrolment"]["index"].as_u64().unwrap();
    let op: Value = server
        .client
        .get(server.url("/operator-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let enrol_bytes = server
        .client
        .get(server.url(&format!("/v1/records/{enrol_index}")))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let enrolment = Record::decode(&enrol_bytes).unwrap();
    let op_key = api::http::parse_public_key(op["public_key"].as_str().unwrap()).unwrap();
    enrolment
        .verify(&op_key)
        .expect("enrolment signed by the operator key");
    match enrolment.body() {
        Body::Key(KeyBody::Enrolment {
            subject,
            public_key,
            ..
        }) => {
            assert_eq!(*subject, box1.chain);
            assert_eq!(*public_key, box1.key.verifying_key());
        }
        other => panic!("not an enrolment: {other:?}"),
    }
    verify_answer(&box1.enrolment["enrolment"], &enrol_bytes, &log);

    // Evidence over HTTP.
    let r1 = box1.next_evidence();
    let (status, a1) = server
        .append_http(Some(&box1.credential), r1.encode())
        .await;
    assert_eq!(status, 200, "{a1}");
    let i1 = verify_answer(&a1, r1.as_bytes(), &log);
    assert!(!a1["duplicate"].as_bool().unwrap());

    // The identical bytes again: the original index, marked duplicate, nothing appended.
    let size = server.tree_size().await;
    let (status, again) = server
        .append_http(Some(&box1.credential), r1.encode())
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["index"].as_u64(), Some(i1));
    assert!(again["duplicate"].as_bool().unwrap());
    assert_eq!(server.tree_size().await, size);

    // Healing over gRPC unary, with the credential in metadata.
    let mut grpc = server.grpc_client().await;
    let r2 = box1.next(healing_body(2));
    let mut req = tonic::Request::new(pb::AppendRequest {
        records: vec![r2.encode()],
    });
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", box1.credential).parse().unwrap(),
    );
    let resp = grpc.append(req).await.expect("grpc append").into_inner();
    let a2 = grpc_receipt(&resp.results[0]);
    let receipt = Receipt::parse(a2.receipt.as_bytes()).unwrap();
    assert_eq!(
        receipt
            .verify(&leaf_hash(r2.as_bytes()), &log)
            .unwrap()
            .index(),
        a2.index
    );
    assert!(a2.index > i1);

    // gRPC without a credential is UNAUTHENTICATED.
    let r3 = box1.next_evidence();
    let status = grpc
        .append(pb::AppendRequest {
            records: vec![r3.encode()],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    // Client-streaming: two messages, three records, in order.
    let r4 = box1.next_evidence();
    let r5 = box1.next(healing_body(5));
    let msgs = vec![
        pb::AppendRequest {
            records: vec![r3.encode()],
        },
        pb::AppendRequest {
            records: vec![r4.encode(), r5.encode()],
        },
    ];
    let mut req = tonic::Request::new(tokio_stream::iter(msgs));
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", box1.credential).parse().unwrap(),
    );
    let resp = grpc.append_stream(req).await.expect("stream").into_inner();
    assert_eq!(resp.results.len(), 3);
    for (res, rec) in resp.results.iter().zip([&r3, &r4, &r5]) {
        let a = grpc_receipt(res);
        let receipt = Receipt::parse(a.receipt.as_bytes()).unwrap();
        receipt.verify(&leaf_hash(rec.as_bytes()), &log).unwrap();
        assert_eq!(a.record_hash, rec.hash().as_bytes().to_vec());
    }

    // Bidirectional pipeline: one answer per message.
    let r6 = box1.next_evidence();
    let r7 = box1.next_evidence();
    let msgs = vec![
        pb::AppendRequest {
            records: vec![r6.encode()],
        },
        pb::AppendRequest {
            records: vec![r7.encode()],
        },
    ];
    let mut req = tonic::Request::new(tokio_stream::iter(msgs));
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", box1.credential).parse().unwrap(),
    );
    let mut answers = grpc
        .append_pipeline(req)
        .await
        .expect("pipeline")
        .into_inner();
    let mut got = Vec::new();
    while let Some(m) = answers.message().await.unwrap() {
        got.push(grpc_receipt(&m.results[0]).index);
    }
    assert_eq!(got.len(), 2);
    assert!(got[0] < got[1]);

    // HTTP batch.
    let batch: Vec<Record> = (0..3).map(|_| box1.next_evidence()).collect();
    let body =
        ledger_record::encode_batch_body(&batch.iter().map(Record::encode).collect::<Vec<_>>());
    let r = server
        .post_bytes("/v1/records/batch", Some(&box1.credential), body)
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    for (res, rec) in v["results"].as_array().unwrap().iter().zip(&batch) {
        verify_answer(&res["ok"], rec.as_bytes(), &log);
    }

    // Rotation, signed by the old key; afterwards the old key is refused.
    let old_key = box1.key.clone();
    let rot = box1.rotate();
    let (status, a) = server
        .append_http(Some(&box1.credential), rot.encode())
        .await;
    assert_eq!(status, 200, "{a}");
    verify_answer(&a, rot.as_bytes(), &log);
    let stale = box1.make(
        box1.seq + 1,
        box1.prev,
        now_ms(),
        evidence_body(99),
        &old_key,
    );
    let (status, e) = server
        .append_http(Some(&box1.credential), stale.encode())
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("key_rotated")),
        "{e}"
    );
    let fresh = box1.next_evidence();
    let (status, a) = server
        .append_http(Some(&box1.credential), fresh.encode())
        .await;
    assert_eq!(status, 200, "{a}");
    verify_answer(&a, fresh.as_bytes(), &log);

    // Revocation by the operator; afterwards the appliance's records are refused.
    let (status, v) = server
        .post_json(
            "/v1/admin/appliances/clinic-1/box-1/revoke",
            Some(&server.admin),
            json!({ "reason": "key_compromise" }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    verify_answer(
        &v["revocation"],
        &fetch_record(&server, v["revocation"]["index"].as_u64().unwrap()).await,
        &log,
    );
    let after = box1.next_evidence();
    let (status, e) = server
        .append_http(Some(&box1.credential), after.encode())
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (422, Some("key_revoked")),
        "{e}"
    );

    // Receipt by index against a given checkpoint size, and by record hash.
    let cp_size = a1["checkpoint"]
        .as_str()
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let text = server
        .get_text(&format!("/receipt/{i1}?size={cp_size}"))
        .await;
    Receipt::parse(text.as_bytes())
        .unwrap()
        .verify(&leaf_hash(r1.as_bytes()), &log)
        .unwrap();
    let by_hash = wait_for_index(
        &server,
        &format!("/v1/receipts/by-hash/{}", hex::encode(r1.hash().as_bytes())),
    )
    .await;
    let verified = Receipt::parse(by_hash.as_bytes())
        .unwrap()
        .verify(&leaf_hash(r1.as_bytes()), &log)
        .unwrap();
    assert_eq!(verified.index(), i1);

    // Consistency between two checkpoints, verified with the pure core.
    let small: u64 = cp_size.parse().unwrap();
    let big = server.tree_size().await;
    let text = server
        .get_text(&format!("/proof/consistency?from={small}&to={big}"))
        .await;
    let proof: Vec<ledger_core::hash::Hash> = text
        .lines()
        .map(|l| {
            use base64::Engine;
            ledger_core::hash::Hash::from_slice(
                &base64::engine::general_purpose::STANDARD.decode(l).unwrap(),
            )
            .unwrap()
        })
        .collect();
    let root_of = |note: &str| {
        let n = ledger_core::note::Note::parse(note.as_bytes()).unwrap();
        ledger_core::checkpoint::Checkpoint::parse(n.text())
            .unwrap()
            .root
    };
    let small_note = server.get_text(&format!("/checkpoint/{small}")).await;
    let big_note = server.get_text(&format!("/checkpoint/{big}")).await;
    ledger_core::proof::verify_consistency(
        small,
        big,
        &proof,
        &root_of(&small_note),
        &root_of(&big_note),
    )
    .expect("consistency proof verifies");

    server.stop().await;
}

async fn fetch_record(server: &TestServer, index: u64) -> Vec<u8> {
    let r = server
        .client
        .get(server.url(&format!("/v1/records/{index}")))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

/// The query index trails the log by a polling interval; wait for it.
async fn wait_for_index(server: &TestServer, path: &str) -> String {
    for _ in 0..100 {
        let r = server.client.get(server.url(path)).send().await.unwrap();
        if r.status() == 200 {
            return r.text().await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{path} never became available");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_tokens_are_scoped_to_sites_and_ranges_carry_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let log = server.log_verifier().await;
    let mut a = server.enrol("site-a", "box-1").await;
    let mut b = server.enrol("site-b", "box-1").await;
    let mut a_records = Vec::new();
    for _ in 0..5 {
        let r = a.next_evidence();
        let (status, v) = server.append_http(Some(&a.credential), r.encode()).await;
        assert_eq!(status, 200, "{v}");
        a_records.push((v["index"].as_u64().unwrap(), r));
    }
    let rb = b.next_evidence();
    let (status, vb) = server.append_http(Some(&b.credential), rb.encode()).await;
    assert_eq!(status, 200, "{vb}");
    let b_index = vb["index"].as_u64().unwrap();

    let (status, v) = server
        .post_json(
            "/v1/admin/read-tokens",
            Some(&server.admin),
            json!({ "sites": ["site-a"] }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let reader = v["token"].as_str().unwrap().to_string();

    // Own site: the record bytes.
    let (ia, ra) = &a_records[0];
    let r = server
        .client
        .get(server.url(&format!("/v1/records/{ia}")))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), ra.encode());

    // Other site: 404 and no data, exactly like an index that does not exist.
    for path in [
        format!("/v1/records/{b_index}"),
        "/v1/records/999999".to_string(),
        "/v1/appliances/site-b/box-1/records?from=1&to=5".to_string(),
    ] {
        let r = server
            .client
            .get(server.url(&path))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body = r.text().await.unwrap();
        assert!(
            !body.contains("site-b") || path.contains("appliances"),
            "{path}: {body}"
        );
        assert!(!body.contains(&hex::encode(rb.hash().as_bytes())));
    }
    // No credential at all: 401.
    let r = server
        .client
        .get(server.url(&format!("/v1/records/{ia}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Entry bundles hold every site's records: admin only.
    let r = server
        .client
        .get(server.url("/tile/entries/000.p/1"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Hash tiles are public.
    let r = server
        .client
        .get(server.url("/tile/0/000.p/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 32);

    // A sequence range with proofs against one checkpoint.
    let path = "/v1/appliances/site-a/box-1/records?from=2&to=4";
    let mut v = Value::Null;
    for _ in 0..100 {
        let r = server
            .client
            .get(server.url(path))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        v = r.json().await.unwrap();
        if v["records"].as_array().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 3, "{v}");
    let note = v["checkpoint"].as_str().unwrap();
    for (n, rec) in records.iter().enumerate() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(rec["sequence"].as_u64(), Some(n as u64 + 2));
        let bytes = b64.decode(rec["record"].as_str().unwrap()).unwrap();
        assert_eq!(bytes, a_records[n + 1].1.encode());
        let proof = rec["inclusion_proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                ledger_core::hash::Hash::from_slice(&b64.decode(h.as_str().unwrap()).unwrap())
                    .unwrap()
            })
            .collect();
        let receipt = Receipt::new(rec["index"].as_u64().unwrap(), proof, note).unwrap();
        receipt.verify(&leaf_hash(&bytes), &log).unwrap();
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_state_tokens_and_credentials_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut box1 = server.enrol("clinic-1", "box-1").await;
    let spare = server.enrolment_token("clinic-1", "box-2", None).await;
    let used = server.enrolment_token("clinic-1", "box-3", None).await;
    let key3 = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let (status, _) = server
        .post_json(
            "/v1/enrol",
            None,
            json!({ "token": used, "public_key": hex::encode(key3.verifying_key().as_bytes()) }),
        )
        .await;
    assert_eq!(status, 200);
    let r1 = box1.next_evidence();
    let (status, a1) = server
        .append_http(Some(&box1.credential), r1.encode())
        .await;
    assert_eq!(status, 200, "{a1}");
    let r2 = box1.next_evidence();
    let (status, a2) = server
        .append_http(Some(&box1.credential), r2.encode())
        .await;
    assert_eq!(status, 200, "{a2}");
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    // The retry of a logged record gets the same index.
    let (status, again) = server
        .append_http(Some(&box1.credential), r2.encode())
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["index"], a2["index"]);
    // The chain continues at the next sequence; a gap is still refused.
    let skip = box1.make(
        box1.seq + 2,
        box1.prev,
        now_ms(),
        evidence_body(9),
        &box1.key.clone(),
    );
    let (status, e) = server
        .append_http(Some(&box1.credential), skip.encode())
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("sequence_gap")),
        "{e}"
    );
    let r3 = box1.next_evidence();
    let (status, a3) = server
        .append_http(Some(&box1.credential), r3.encode())
        .await;
    assert_eq!(status, 200, "{a3}");
    // A used token stays used; an unused one still works.
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let (status, e) = server
        .post_json(
            "/v1/enrol",
            None,
            json!({ "token": used, "public_key": hex::encode(key.verifying_key().as_bytes()) }),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (403, Some("enrolment_token_used"))
    );
    let (status, v) = server
        .post_json(
            "/v1/enrol",
            None,
            json!({ "token": spare, "public_key": hex::encode(key.verifying_key().as_bytes()) }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    server.stop().await;
}
