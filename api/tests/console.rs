//! The web console's server side over real sockets: its files come from the binary
//! with a strict Content-Security-Policy and entity tags, nothing else is reachable
//! through its paths, no file refers to another host, and `GET /v1/session` names the
//! role and sites of each kind of credential.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

async fn get(server: &TestServer, path: &str, bearer: Option<&str>) -> reqwest::Response {
    let mut req = server.client.get(server.url(path));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    req.send().await.unwrap()
}

async fn read_token(server: &TestServer, sites: &[&str]) -> String {
    let (status, v) = server
        .post_json(
            "/v1/admin/read-tokens",
            Some(&server.admin),
            json!({ "sites": sites }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v["token"].as_str().unwrap().to_string()
}

async fn wait_indexed(server: &TestServer) {
    let state = server.state();
    for _ in 0..400 {
        if state.index.indexed_size().unwrap() == state.log.latest().size {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the index never caught up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_names_the_role_and_the_sites_of_each_credential() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut a = server.enrol("site-a", "box-1").await;
    let _b = server.enrol("site-b", "box-2").await;
    let record = a.next_evidence();
    assert_eq!(
        server
            .append_http(Some(&a.credential), record.encode())
            .await
            .0,
        200
    );
    wait_indexed(&server).await;

    let answer = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    };
    let (status, admin) = answer(get(&server, "/v1/session", Some(&server.admin)).await).await;
    assert_eq!(status, 200, "{admin}");
    assert_eq!(admin["role"], "admin");
    let sites: Vec<&str> = admin["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    // Both enrolled sites (each has a logged key record), sorted; the operator chain's
    // site as well, since it is in the log.
    assert!(
        sites.contains(&"site-a") && sites.contains(&"site-b"),
        "{admin}"
    );
    assert!(sites.windows(2).all(|w| w[0] < w[1]), "{admin}");

    let token = read_token(&server, &["site-b"]).await;
    let (status, reader) = answer(get(&server, "/v1/session", Some(&token)).await).await;
    assert_eq!(
        (status, reader),
        (200, json!({"role": "reader", "sites": ["site-b"]}))
    );

    let (status, v) = answer(get(&server, "/v1/session", Some(&a.credential)).await).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("read_token_required"))
    );
    assert_eq!(get(&server, "/v1/session", None).await.status(), 401);
    assert_eq!(
        get(&server, "/v1/session", Some("not-a-credential"))
            .await
            .status(),
        401
    );
    server.stop().await;
}
