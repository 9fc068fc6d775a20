//! The web console's server side over real sockets: its files come from the binary
//! with a strict Content-Security-Policy and entity tags, nothing else is reachable
//! through its paths, no file refers to another host, and `GET /v1/session` names the
//! role and sites of each kind of credential.

mod common;

use api::http::console::{asset_paths, version, CONTENT_SECURITY_POLICY};
use common::*;
use serde_json::{json, Value};

async fn get(server: &TestServer, path: &str, bearer: Option<&str>) -> reqwest::Response {
    let mut req = server.client.get(server.url(path));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    req.send().await.unwrap()
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
    server.wait_indexed().await;

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

    let token = server.read_token(&["site-b"]).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_files_are_served_from_the_binary_under_a_strict_policy() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let paths = asset_paths();
    assert!(
        paths.contains(&"index.html") && paths.contains(&"app.js"),
        "{paths:?}"
    );

    let page = get(&server, "/", None).await;
    assert_eq!(page.status(), 200);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(
        header(&page, "content-security-policy"),
        CONTENT_SECURITY_POLICY
    );
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let html = page.text().await.unwrap();
    // The page names this build's versioned paths, which may be cached for good.
    let base = format!("/console/v-{}/", version());
    assert!(
        html.contains(&format!("{base}app.js")),
        "the page loads the app: {html}"
    );
    assert!(
        !html.contains("\"/console/app.js"),
        "only versioned paths: {html}"
    );
    assert!(!html.contains("<script>"), "no inline script");
    let versioned = get(&server, &format!("{base}js/verify.js"), None).await;
    assert_eq!(versioned.status(), 200);
    assert_eq!(
        header(&versioned, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        header(&versioned, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        header(&versioned, "content-security-policy"),
        CONTENT_SECURITY_POLICY
    );
    for stale in [
        "/console/v-000000000000/app.js",
        "/console/v-/app.js",
        "/console/v-x",
    ] {
        assert_eq!(get(&server, stale, None).await.status(), 404, "{stale}");
    }

    for path in &paths {
        let r = get(&server, &format!("/console/{path}"), None).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
        assert_eq!(
            header(&r, "content-security-policy"),
            CONTENT_SECURITY_POLICY
        );
        let etag = header(&r, "etag");
        let body = r.bytes().await.unwrap();
        assert_refers_to_no_other_host(path, &body);
        // A browser that has the file revalidates it and gets 304 without a body.
        let again = server
            .client
            .get(server.url(&format!("/console/{path}")))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
    }
    for missing in [
        "/console/",
        "/console/nope.js",
        "/console/../Cargo.toml",
        "/console/%2e%2e/build.rs",
    ] {
        assert_eq!(get(&server, missing, None).await.status(), 404, "{missing}");
    }
    // The API is where it was.
    assert_eq!(get(&server, "/checkpoint", None).await.status(), 200);
    server.stop().await;
}

/// No console file loads anything from another host: no absolute URL in an HTML
/// `src`/`href`, a module import, a `fetch`, or a CSS `url()`/`@import`. (Text that
/// merely mentions a URL, such as the SVG namespace or a spec in a comment, loads
/// nothing; the browser tests check the requests the page really makes.)
fn assert_refers_to_no_other_host(path: &str, body: &[u8]) {
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    let compact: String = text.split_whitespace().collect::<Vec<_>>().join("");
    for q in ["\"", "'", "`", ""] {
        for lead in [
            "src=", "href=", "from", "import(", "fetch(", "url(", "@import",
        ] {
            for scheme in ["http:", "https:", "//", "ws:", "wss:"] {
                let pattern = format!("{lead}{q}{scheme}");
                assert!(
                    !compact.contains(&pattern),
                    "{path} loads from elsewhere: {pattern}"
                );
            }
        }
    }
}
