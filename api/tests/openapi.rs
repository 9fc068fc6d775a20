//! `/openapi.json` matches the router: every route the router is built from is
//! documented with the same method, and every documented operation reaches a handler
//! over a real socket (not the "no such endpoint" fallback, not 405).

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;

/// (method, path) of every route the router is built from, with axum's `{*path}`
/// catch-all written as OpenAPI's `{path}`.
fn routed() -> BTreeSet<(String, String)> {
    api::http::endpoints()
        .iter()
        .map(|e| (e.doc.method.to_string(), e.documented_path()))
        .collect()
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            out.insert((method.clone(), path.clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_exactly_the_routes_of_the_router() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let r = server
        .client
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.3");

    let routed = routed();
    assert!(
        routed.len() > 20,
        "the route parser found too few: {routed:?}"
    );
    let docs = documented(&doc);
    let missing: Vec<_> = routed.difference(&docs).collect();
    let extra: Vec<_> = docs.difference(&routed).collect();
    assert!(
        missing.is_empty(),
        "routes missing from /openapi.json: {missing:?}"
    );
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");

    // Every documented operation reaches its handler: fill path parameters with a
    // plausible value and check the answer is not the fallback or 405.
    for (method, path) in &docs {
        let concrete: String = path
            .split('/')
            .map(|seg| match seg {
                "{path}" => "0/000",
                "{hash}" => "0000000000000000000000000000000000000000000000000000000000000000",
                s if s.starts_with('{') => "1",
                s => s,
            })
            .collect::<Vec<_>>()
            .join("/");
        let req = match method.as_str() {
            "get" => server.client.get(server.url(&concrete)),
            "post" => server.client.post(server.url(&concrete)).body("{}"),
            other => panic!("unexpected method {other}"),
        };
        let r = req.bearer_auth(&server.admin).send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}");
        assert!(
            !body.contains("no such endpoint"),
            "{method} {path} fell through to the fallback"
        );
    }
    server.stop().await;
}
