//! Back-pressure: with a sequencer queue of one request and batches of one entry, a burst
//! of concurrent appends overflows the queue. Refused requests get HTTP 503 with
//! Retry-After (gRPC: UNAVAILABLE), change nothing, and succeed when retried.

mod common;

use api::grpc::pb;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_answers_503_with_retry_after_and_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), |c| {
        c.sequencer_queue_capacity = 1;
        c.sequencer_max_batch = 1;
        c.retry_after_secs = 2;
    })
    .await;
    let mut appliances = Vec::new();
    for i in 0..24 {
        appliances.push(server.enrol("site-a", &format!("box-{i}")).await);
    }
    let log = server.log_verifier().await;

    // One record per appliance, all at once, over HTTP and gRPC.
    let mut tasks = Vec::new();
    for (i, app) in appliances.iter_mut().enumerate() {
        let record = app.next_evidence();
        let credential = app.credential.clone();
        let http = server.http.clone();
        let grpc = server.grpc.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let r = reqwest::Client::new()
                    .post(format!("{http}/v1/records"))
                    .bearer_auth(&credential)
                    .body(record.encode())
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let retry = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                (i, record, status, retry)
            } else {
                let mut client = pb::ledger_client::LedgerClient::connect(grpc)
                    .await
                    .unwrap();
                let mut req = tonic::Request::new(pb::AppendRequest {
                    records: vec![record.encode()],
                });
                req.metadata_mut().insert(
                    "authorization",
                    format!("Bearer {credential}").parse().unwrap(),
                );
                match client.append(req).await {
                    Ok(_) => (i, record, 200, None),
                    Err(s) => {
                        assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}");
                        let retry = s
                            .metadata()
                            .get("retry-after")
                            .map(|v| v.to_str().unwrap().to_string());
                        (i, record, 503, retry)
                    }
                }
            }
        }));
    }
    let mut refused = Vec::new();
    for t in tasks {
        let (i, record, status, retry) = t.await.unwrap();
        match status {
            200 => {}
            503 => {
                assert_eq!(retry.as_deref(), Some("2"), "appliance {i}");
                refused.push((i, record));
            }
            other => panic!("appliance {i}: status {other}"),
        }
    }
    assert!(!refused.is_empty(), "the burst never filled a queue of one");
    let metrics = server.get_text("/metrics").await;
    assert!(!metrics.contains("ledger_busy_total 0"), "{metrics}");

    // A refused record changed nothing: the same bytes are accepted when retried.
    for (i, record) in refused {
        let cred = appliances[i].credential.clone();
        let mut answer = None;
        for _ in 0..100 {
            let (status, v) = server.append_http(Some(&cred), record.encode()).await;
            if status == 200 {
                answer = Some(v);
                break;
            }
            assert_eq!(status, 503);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let v = answer.expect("retry succeeded");
        verify_answer(&v, record.as_bytes(), &log);
    }
    server.stop().await;
}
