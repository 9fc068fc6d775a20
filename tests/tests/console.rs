//! The web console in a real browser: headless Chromium driven over WebDriver
//! (`e2e::browser`) loads the console that `ledgerd` embeds, through a proxy
//! (`e2e::tamper_proxy`) that can tamper with answers or switch servers. The data comes
//! from real `ledger-agent`s at two sites.
//!
//! Signed in with a read token of site A the console offers only site A, shows A's fleet,
//! incidents and records (search paging included), verifies a record in the browser, and
//! shows nothing of site B on B's routes. Each tampering of the proxy (audit path, log
//! signature, record bytes) makes the record view fail with that check's name. The
//! checkpoints view remembers the log across visits: a first visit, a consistent
//! extension, then, when the proxy switches to a second server signing another history
//! with the same log key, a rollback (smaller) and forks (same size, then larger). Every
//! request the browser made stayed on 127.0.0.1, the browser logged no error, and each
//! view is saved as a screenshot.
//!
//! Chromium and chromedriver come from the system (Debian: `chromium-driver`); without
//! them the tests print why and pass, unless `LEDGER_REQUIRE_CHROMIUM` is set.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use appliance::InputKind;
use e2e::browser::{self, Browser, WAIT};
use e2e::fleet::{delivered, AgentBox};
use e2e::procs::Ledgerd;
use e2e::tamper_proxy::{Tamper, TamperProxy};
use serde_json::{json, Value};

const SITE_A: &str = "site-a";
const SITE_B: &str = "site-b";
/// Site of the second server's own appliance (the forked history).
const SITE_FORK: &str = "site-fork";

/// Site B's identifiers and record contents: a reader of site A must never see them.
const B_SECRETS: [&str; 8] = [
    "b-app-1",
    "b-app-2",
    "b-host-secret",
    "b-detail-secret",
    "inc-b-1",
    "inc-b-2",
    "rb-b-secret",
    "b-pattern-secret",
];

/// Evidence records of site A's main appliance; every tenth has a failing item. More
/// than one page (50) of search results, so paging is exercised.
const NAS_EVIDENCE: u64 = 60;

fn now_ms() -> u64 {
    appliance::outbox::now_ms()
}

fn evidence(host: &str, n: u64, fail: bool, details: &str) -> Value {
    let t = now_ms() - 120_000;
    let mut items = vec![
        json!({"check_type": "disk_encryption", "host": host, "status": "pass",
        "observed_at": t, "details": format!("{details} {n}"),
        "controls": ["HIPAA:164.312(a)(2)(iv)"]}),
    ];
    if fail {
        items.push(
            json!({"check_type": "backup_age", "host": host, "status": "fail",
            "observed_at": t + 1, "details": format!("{details}: last backup 9 days ago"),
            "controls": ["HIPAA:164.308(a)(7)(ii)(A)"]}),
        );
    }
    json!({ "items": items })
}

/// A healing input: (incident, check type, pattern, tier, outcome, runbook).
fn healing(h: (&str, &str, &str, &str, &str, &str)) -> Value {
    let t = now_ms() - 60_000;
    json!({"incident_id": h.0, "check_type": h.1, "pattern_signature": h.2, "tier": h.3,
        "runbook_id": h.5, "action": format!("ran {}", h.5), "outcome": h.4,
        "started_at": t, "ended_at": t + 3000, "state_before": "bad", "state_after": "good"})
}

/// Waits (bounded) until the async `cond` holds; panics with `what` otherwise.
async fn until<F, Fut>(what: &str, limit: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get_json(url: &str, token: &str) -> Value {
    let answer = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = answer.status();
    let v: Value = answer.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "GET {url}: {status} {v}");
    v
}

/// Every record of a search (all pages), newest first.
async fn search_all(server: &str, token: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut url = format!("{server}/v1/search/records?limit=500&{query}");
        if let Some(c) = &cursor {
            // Cursors are opaque: percent-encode what a query string would misread.
            let c = c
                .replace('%', "%25")
                .replace('+', "%2B")
                .replace('&', "%26");
            url.push_str(&format!(
                "&cursor={}",
                c.replace('=', "%3D").replace('/', "%2F")
            ));
        }
        let page = get_json(&url, token).await;
        out.extend(page["records"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
    panic!("search {query}: more than 100 pages");
}

async fn read_token(server: &Ledgerd, sites: &[&str]) -> String {
    let v: Value = reqwest::Client::new()
        .post(format!("{}/v1/admin/read-tokens", server.http()))
        .bearer_auth(&server.admin)
        .json(&json!({ "sites": sites }))
        .send()
        .await
        .expect("read token request")
        .json()
        .await
        .expect("read token answer");
    v["token"].as_str().expect("read token").to_owned()
}

async fn tree_size(server: &str) -> u64 {
    let v = get_json(&format!("{server}/healthz"), "").await;
    v["tree_size"].as_u64().expect("tree size")
}

/// Waits until every box delivered `counts` records.
async fn all_delivered(boxes: &[&AgentBox], counts: &[u64]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now: Vec<u64> = boxes
            .iter()
            .map(|b| delivered(std::slice::from_ref(*b))[0])
            .collect();
        if now == counts {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries {now:?}, expected {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The server A, its appliances at sites A and B, and what the console must show.
struct World {
    root: tempfile::TempDir,
    a: Ledgerd,
    nas: AgentBox,
    /// Delivered, then stopped: `stale`.
    _fw: AgentBox,
    /// Enrolled only: `never`.
    _fresh: AgentBox,
    _b: Vec<AgentBox>,
    reader: String,
    /// Healing records per incident of site A.
    incidents: BTreeMap<String, usize>,
    /// Records of site A with a failing item.
    fail_records: usize,
}

const NAS_HEALING: [(&str, &str, &str, &str, &str, &str); 3] = [
    (
        "inc-a-1",
        "disk_space",
        "disk_full:/var",
        "L1",
        "success",
        "rb-clean-tmp",
    ),
    (
        "inc-a-2",
        "service_down",
        "crashloop:backup",
        "L2",
        "failure",
        "rb-restart",
    ),
    (
        "inc-a-2",
        "service_down",
        "crashloop:backup",
        "L3",
        "escalated",
        "rb-page-oncall",
    ),
];
const FW_HEALING: (&str, &str, &str, &str, &str, &str) = (
    "inc-a-3",
    "firewall",
    "rule_drift:fw",
    "L1",
    "success",
    "rb-reload-rules",
);

/// Site A: `a-nas` (many records, online), `a-fw` (stale), `a-fresh` (never); site B:
/// two appliances with the secrets. Returns once everything is delivered and indexed.
async fn world() -> World {
    let root = tempfile::tempdir().expect("temporary directory");
    // Check-ins every second; stale after five missed ones, so the test can wait for it.
    let config = root.path().join("ledgerd.toml");
    std::fs::write(
        &config,
        "checkin_interval_secs = 1\nstale_after_missed_checkins = 5\n",
    )
    .expect("server configuration");
    let config_arg = config.display().to_string();
    let a = Ledgerd::start_with(&root.path().join("ledger-a"), &["--config", &config_arg]).await;
    let urls = (a.http(), a.grpc());
    let urls = (urls.0.as_str(), urls.1.as_str());
    let enrol = |site: &'static str, name: &'static str| {
        AgentBox::enrol_at(root.path(), site, name, "http", &a, urls, "")
    };
    let mut nas = enrol(SITE_A, "a-nas").await;
    let mut fw = enrol(SITE_A, "a-fw").await;
    let fresh = enrol(SITE_A, "a-fresh").await;
    let mut b1 = enrol(SITE_B, "b-app-1").await;
    let mut b2 = enrol(SITE_B, "b-app-2").await;

    let nas_inputs: Vec<Value> = (0..NAS_EVIDENCE)
        .map(|n| evidence("nas-host", n, n % 10 == 3, "volume encrypted"))
        .collect();
    nas.record_inputs(InputKind::Evidence, &nas_inputs);
    nas.record_inputs(InputKind::Healing, &NAS_HEALING.map(healing));
    let fw_inputs: Vec<Value> = (0..5)
        .map(|n| evidence("fw-host", n, n == 2, "rules loaded"))
        .collect();
    fw.record_inputs(InputKind::Evidence, &fw_inputs);
    fw.record_inputs(InputKind::Healing, &[healing(FW_HEALING)]);
    for (b, incident) in [(&mut b1, "inc-b-1"), (&mut b2, "inc-b-2")] {
        let inputs: Vec<Value> = (0..3)
            .map(|n| evidence("b-host-secret", n, n == 1, "b-detail-secret"))
            .collect();
        b.record_inputs(InputKind::Evidence, &inputs);
        let h = (
            incident,
            "b_check",
            "b-pattern-secret",
            "L2",
            "failure",
            "rb-b-secret",
        );
        b.record_inputs(InputKind::Healing, &[healing(h)]);
    }
    for b in [&mut nas, &mut fw, &mut b1, &mut b2] {
        b.start();
    }
    let counts = [NAS_EVIDENCE + 3, 6, 4, 4];
    all_delivered(&[&nas, &fw, &b1, &b2], &counts).await;
    fw.kill();
    let reader = read_token(&a, &[SITE_A]).await;
    let incidents = BTreeMap::from([
        ("inc-a-1".to_owned(), 1),
        ("inc-a-2".to_owned(), 2),
        ("inc-a-3".to_owned(), 1),
    ]);
    let w = World {
        root,
        a,
        nas,
        _fw: fw,
        _fresh: fresh,
        _b: vec![b1, b2],
        reader,
        incidents,
        fail_records: 6 + 1,
    };
    w.wait_indexed().await;
    w
}

impl World {
    /// Waits until the query index has every record of both sites and `a-fw` is stale.
    async fn wait_indexed(&self) {
        let (server, admin) = (self.a.http(), self.a.admin.clone());
        let (server, admin) = (&server, &admin);
        let expected_a = (NAS_EVIDENCE + 3 + 6) as usize;
        until(
            "site A indexed",
            Duration::from_secs(30),
            move || async move {
                let a = search_all(server, admin, &format!("site={SITE_A}")).await;
                let b = search_all(server, admin, &format!("site={SITE_B}")).await;
                let content = |v: &[Value]| {
                    v.iter()
                        .filter(|r| r["kind"] == "evidence" || r["kind"] == "healing")
                        .count()
                };
                content(&a) == expected_a && content(&b) == 8
            },
        )
        .await;
        until("a-fw stale", Duration::from_secs(20), move || async move {
            let fleet = get_json(&format!("{server}/v1/sites/{SITE_A}/appliances"), admin).await;
            states(&fleet).get("a-fw").map(String::as_str) == Some("stale")
        })
        .await;
    }
}

/// Appliance id → state of a fleet answer.
fn states(fleet: &Value) -> BTreeMap<String, String> {
    fleet["appliances"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let field = |k: &str| a[k].as_str().unwrap_or_default().to_owned();
            (field("appliance_id"), field("state"))
        })
        .collect()
}

/// Where screenshots go: always under the cargo target's temporary directory, and into
/// `docs/console/` with `LEDGER_UPDATE_SCREENSHOTS=1`.
fn screenshot_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")];
    if std::env::var("LEDGER_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/console"));
    }
    dirs
}

/// A browser on the console, collecting what every view requested and logged.
struct Console {
    browser: Browser,
    base: String,
    shots: Vec<PathBuf>,
    /// Every URL requested so far, with the view it was requested for.
    urls: Vec<(String, String)>,
    /// Every browser console entry so far: (view, level, source, message).
    logs: Vec<(String, String, String, String)>,
    /// The route last opened.
    current: String,
    /// Text no view may show (beyond what its route names), checked on every view.
    forbidden: Vec<&'static str>,
    /// The charts (`data-testid=chart-…`) seen on any view.
    charts: BTreeSet<String>,
}

/// Resolves once the console routed to `view` and rendered it (the body's `data-ready`
/// went `false`, then `true`), with the milliseconds from setting the hash, measured here.
const ROUTE_SCRIPT: &str = r#"
const [hash, view, limit] = arguments;
const done = arguments[arguments.length - 1];
const body = document.body;
const t0 = performance.now();
let sawFalse = false;
let timer = null;
const observer = new MutationObserver((records) => {
  for (const r of records) if (r.attributeName === 'data-ready' && r.oldValue === 'false') sawFalse = true;
  if (body.dataset.ready === 'false') sawFalse = true;
  if (sawFalse && body.dataset.view === view && body.dataset.ready === 'true') finish(false);
});
function finish(timedOut) {
  observer.disconnect();
  clearTimeout(timer);
  done({ timedOut, ms: performance.now() - t0 });
}
observer.observe(body, { attributes: true, attributeOldValue: true, attributeFilter: ['data-ready', 'data-view'] });
timer = setTimeout(() => finish(true), limit);
location.hash = hash;
"#;

/// Resolves with `performance.now()` once the body says `view` is ready.
const READY_SCRIPT: &str = r#"
const [view, limit] = arguments;
const done = arguments[arguments.length - 1];
const ok = () => document.body && document.body.dataset.view === view && document.body.dataset.ready === 'true';
if (ok()) {
  done({ timedOut: false, ms: performance.now() });
} else {
  let timer = null;
  const observer = new MutationObserver(() => {
    if (!ok()) return;
    observer.disconnect();
    clearTimeout(timer);
    done({ timedOut: false, ms: performance.now() });
  });
  observer.observe(document.documentElement, { attributes: true, subtree: true, attributeFilter: ['data-ready', 'data-view'] });
  timer = setTimeout(() => { observer.disconnect(); done({ timedOut: true }); }, limit);
}
"#;

impl Console {
    async fn open(tools: &browser::Tools, base: &str) -> Console {
        Console {
            browser: Browser::start(tools).await,
            base: base.to_owned(),
            shots: screenshot_dirs(),
            urls: Vec::new(),
            logs: Vec::new(),
            current: String::new(),
            forbidden: Vec::new(),
            charts: BTreeSet::new(),
        }
    }

    /// Routes inside the page (`location.hash = hash`) and waits until `view` is ready;
    /// prints the console's `loadMs` beside the test's own measure.
    async fn route(&mut self, hash: &str, view: &str) -> Value {
        let limit = WAIT.as_millis() as u64;
        let r = self
            .browser
            .execute_async(
                ROUTE_SCRIPT,
                json!([hash, view, limit]),
                WAIT + Duration::from_secs(5),
            )
            .await;
        if r["timedOut"] != false {
            // Panics with the page's state.
            let what = format!("view {view}: data-ready to go false, then true, after {hash}");
            self.browser
                .wait_for_within(&what, "false", Duration::ZERO)
                .await;
        }
        let measured = r["ms"].as_f64().unwrap_or_default();
        self.current = hash.to_owned();
        self.after(view, hash, measured).await
    }

    /// Loads `hash` as a new document (nothing kept in the page's memory) and waits
    /// until `view` is ready; the figure printed is the document's `performance.now()`
    /// when it became ready (milliseconds since its navigation started).
    async fn load(&mut self, hash: &str, view: &str) -> Value {
        self.browser.navigate("about:blank").await;
        self.browser
            .navigate(&format!("{}/{hash}", self.base))
            .await;
        let measured = self.wait_ready(view, hash).await;
        self.current = hash.to_owned();
        self.after(view, hash, measured).await
    }

    /// Waits in the page until `view` is ready; returns `performance.now()` at that
    /// moment (or at the call, if it was ready already).
    async fn wait_ready(&self, view: &str, hash: &str) -> f64 {
        let limit = WAIT.as_millis() as u64;
        let r = self
            .browser
            .execute_async(
                READY_SCRIPT,
                json!([view, limit]),
                WAIT + Duration::from_secs(5),
            )
            .await;
        if r["timedOut"] != false {
            let what = format!("view {view} ready after loading {hash}");
            self.browser
                .wait_for_within(&what, "false", Duration::ZERO)
                .await;
        }
        r["ms"].as_f64().unwrap_or_default()
    }

    /// Reloads the current document and waits until `view` is ready.
    async fn reload(&mut self, view: &str) -> Value {
        self.browser.refresh().await;
        let measured = self.wait_ready(view, "(reload)").await;
        self.after(view, "(reload)", measured).await
    }

    /// The body's dataset, with `testMs` (the test's own measure) added.
    async fn after(&mut self, view: &str, hash: &str, measured: f64) -> Value {
        let mut dataset = self.browser.dataset().await;
        println!(
            "view {view:<12} {hash:<48} loadMs {:>5}  navigation to ready (test) {measured:>6.0} ms",
            dataset["loadMs"].as_str().unwrap_or("-")
        );
        self.drain(view).await;
        self.check_forbidden(hash).await;
        let charts = self
            .js("return [...document.querySelectorAll('svg[data-testid^=chart-]')].map(e => e.dataset.testid);")
            .await;
        let charts = charts.as_array().cloned().unwrap_or_default();
        self.charts
            .extend(charts.iter().filter_map(|c| c.as_str().map(str::to_owned)));
        dataset["testMs"] = json!(measured);
        dataset
    }

    /// None of [`Console::forbidden`] in the page's text or HTML, except what `hash`
    /// itself names (a not-found page may repeat the route it was asked for).
    async fn check_forbidden(&self, hash: &str) {
        if self.forbidden.is_empty() {
            return;
        }
        let text = self.browser.text().await;
        let html = self.browser.html().await;
        for secret in self.forbidden.iter().filter(|s| !hash.contains(**s)) {
            assert!(
                !text.contains(secret),
                "{hash}: page text shows {secret}:\n{text}"
            );
            assert!(!html.contains(secret), "{hash}: page HTML holds {secret}");
        }
    }

    /// Collects the requests and console entries since the last call, labelled `view`.
    async fn drain(&mut self, view: &str) {
        for url in self.browser.requested_urls().await {
            self.urls.push((view.to_owned(), url));
        }
        for (level, source, message) in self.browser.console_log().await {
            self.logs.push((view.to_owned(), level, source, message));
        }
    }

    async fn shot(&self, name: &str) {
        for dir in &self.shots {
            self.browser
                .screenshot(&dir.join(format!("{name}.png")))
                .await;
        }
    }

    /// A screenshot kept only under the target directory (not one of the documented views).
    async fn shot_extra(&self, name: &str) {
        let dir = &self.shots[0];
        self.browser
            .screenshot(&dir.join(format!("{name}.png")))
            .await;
    }

    async fn js(&self, script: &str) -> Value {
        self.browser.execute(script, json!([])).await
    }

    async fn count(&self, css: &str) -> usize {
        let script = format!("return document.querySelectorAll({css:?}).length;");
        self.js(&script).await.as_u64().unwrap_or_default() as usize
    }

    /// `textContent` of the first element `css` matches (empty if none).
    async fn text_of(&self, css: &str) -> String {
        let script =
            format!("const e = document.querySelector({css:?}); return e ? e.textContent : '';");
        self.js(&script)
            .await
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// The `data-index` values of the search rows shown.
    async fn row_indices(&self) -> Vec<u64> {
        let v = self
            .js("return [...document.querySelectorAll('tr[data-testid=record-row][data-index]')].map(r => r.dataset.index);")
            .await;
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str()?.parse().ok())
            .collect()
    }
}

fn ready_js(view: &str) -> String {
    format!("document.body.dataset.view === {view:?} && document.body.dataset.ready === 'true'")
}

/// Whether `text` holds `n` as a whole number.
fn has_number(text: &str, n: u64) -> bool {
    text.split(|c: char| !c.is_ascii_digit())
        .any(|run| run == n.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_in_a_browser_shows_one_sites_data_verifies_records_and_detects_tampering_and_forks(
) {
    let Some(tools) = browser::tools() else {
        return;
    };
    let started = Instant::now();
    let mut w = world().await;
    println!("fleet ready in {:.1} s", started.elapsed().as_secs_f64());
    let proxy = TamperProxy::start(&w.a.http()).await;
    let mut c = Console::open(&tools, &proxy.url()).await;
    let log_key = w.a.log_key().await;

    // Signed in as a reader of site A, no view may show anything of site B.
    c.forbidden = B_SECRETS.to_vec();
    sign_in(&mut c, &w.reader).await;
    pin_key(&mut c, &log_key).await;
    check_fleet(&mut c, &w).await;
    check_appliance(&mut c, &w).await;
    check_site_b_is_not_found(&mut c).await;
    check_incidents(&mut c, &w).await;
    check_patterns(&mut c).await;
    check_search(&mut c, &w).await;
    check_records(&mut c, &w, &proxy).await;
    check_health(&mut c, &w).await;
    check_checkpoints_and_fork(&mut c, &mut w, &proxy).await;

    c.drain("end").await;
    check_requests_stayed_local(&c, &[&w.reader, &w.a.admin]);
    check_console_log(&c);
    let charts = [
        "chart-evidence-daily",
        "chart-incidents-tier",
        "chart-time-to-resolve",
    ];
    for chart in charts {
        assert!(
            c.charts.contains(chart),
            "no view drew {chart}: {:?}",
            c.charts
        );
    }
    let served = proxy.served();
    assert!(
        served
            .iter()
            .all(|p| !p.contains(&w.reader) && !p.contains(&w.a.admin)),
        "a credential was put into a URL"
    );
    println!(
        "proxy served {} requests; the test took {:.1} s",
        served.len(),
        started.elapsed().as_secs_f64()
    );
}

async fn sign_in(c: &mut Console, token: &str) {
    c.load("", "sign-in").await;
    c.shot("sign-in").await;
    // A wrong credential is refused with a reason.
    c.browser.type_into("#token", "not-a-credential").await;
    c.browser.click("#sign-in").await;
    c.browser
        .wait_for(
            "the sign-in error",
            "(() => { const e = document.querySelector('[data-testid=error]'); return e && e.textContent.trim().length > 0; })()",
        )
        .await;
    c.drain("sign-in-refused").await;
    c.browser.type_into("#token", token).await;
    c.browser.click("#sign-in").await;
    c.browser
        .wait_for(
            "a view after signing in",
            "document.body.dataset.view !== 'sign-in' && document.body.dataset.ready === 'true'",
        )
        .await;
    let stored = c.js("return sessionStorage.getItem('ledger.token');").await;
    assert_eq!(stored, token, "sessionStorage ledger.token");
    c.drain("signed-in").await;
}

async fn pin_key(c: &mut Console, key: &str) {
    c.route("#/settings", "settings").await;
    c.browser.type_into("#log-key", key).await;
    c.browser.click("#pin-key").await;
    c.browser
        .wait_for(
            "the pinned key in localStorage",
            &format!("localStorage.getItem('ledger.pinnedLogKey') === {key:?}"),
        )
        .await;
    // The view shows the pinned key (at least its name and key hash).
    let name_and_id: String = key.split('+').take(2).collect::<Vec<_>>().join("+");
    c.browser
        .wait_for(
            "the pinned key shown",
            &format!("document.querySelector('[data-testid=pinned-key]').textContent.includes({name_and_id:?})"),
        )
        .await;
    c.drain("settings").await;
    c.shot("settings").await;
}

async fn check_fleet(c: &mut Console, w: &World) {
    c.route(&format!("#/fleet/{SITE_A}"), "fleet").await;
    let options = c
        .js("return [...document.querySelectorAll('#site option')].map(o => o.value);")
        .await;
    assert_eq!(options, json!([SITE_A]), "site selector options");
    let rows = c
        .js("return [...document.querySelectorAll('tr[data-testid=appliance-row]')].map(r => [r.dataset.site, r.dataset.appliance, (r.querySelector('[data-testid=state]') || {}).textContent || '']);")
        .await;
    let api = get_json(
        &format!("{}/v1/sites/{SITE_A}/appliances", w.a.http()),
        &w.reader,
    )
    .await;
    let api_states = states(&api);
    let expected = BTreeMap::from([
        ("a-fresh".to_owned(), "never".to_owned()),
        ("a-fw".to_owned(), "stale".to_owned()),
        ("a-nas".to_owned(), "online".to_owned()),
    ]);
    assert_eq!(api_states, expected, "the server's fleet of site A");
    let mut shown = BTreeMap::new();
    for row in rows.as_array().expect("rows") {
        assert_eq!(row[0], SITE_A, "row of another site: {row}");
        let text = row[2].as_str().unwrap_or_default().to_lowercase();
        let state = ["online", "stale", "never"]
            .into_iter()
            .filter(|s| text.contains(s))
            .collect::<Vec<_>>();
        assert_eq!(state.len(), 1, "state cell of {row}");
        shown.insert(
            row[1].as_str().unwrap_or_default().to_owned(),
            state[0].to_owned(),
        );
    }
    assert_eq!(shown, expected, "fleet rows");
    c.shot("fleet").await;
}

async fn check_appliance(c: &mut Console, w: &World) {
    let api = get_json(
        &format!("{}/v1/appliances/{SITE_A}/a-nas", w.a.http()),
        &w.reader,
    )
    .await;
    let last = w.nas.stats().head_sequence;
    c.route(&format!("#/appliance/{SITE_A}/a-nas"), "appliance")
        .await;
    let head = c.text_of("[data-testid=chain-head]").await;
    assert!(
        has_number(&head, last),
        "chain head {head:?}, last sequence {last} ({api})"
    );
    assert!(c.count("[data-testid=key-row]").await >= 1, "no key row");
    assert!(
        c.count("[data-testid=record-row]").await >= 1,
        "no record row"
    );
    c.shot("appliance").await;
}

/// Site B's fleet, appliance and incident routes: not found, and nothing of B in the
/// page beyond what the route itself names.
async fn check_site_b_is_not_found(c: &mut Console) {
    let routes = [
        (format!("#/fleet/{SITE_B}"), "fleet"),
        (format!("#/appliance/{SITE_B}/b-app-1"), "appliance"),
        (format!("#/incident/{SITE_B}/inc-b-1"), "incident"),
    ];
    for (hash, view) in routes {
        c.route(&hash, view).await;
        // Site B's data is checked absent on every view (Console::check_forbidden).
        let text = c.browser.text().await;
        let not_found = text.to_lowercase().contains("not found")
            || c.count("[data-testid=not-found]").await > 0;
        assert!(not_found, "{hash}: no not-found shown; text:\n{text}");
        let rows = c
            .count("[data-testid=appliance-row], [data-testid=record-row]")
            .await;
        assert_eq!(rows, 0, "{hash}: rows shown");
        let options = c
            .js("return [...document.querySelectorAll('#site option')].map(o => o.value);")
            .await;
        assert!(
            options
                .as_array()
                .is_none_or(|o| o.iter().all(|v| v == SITE_A)),
            "{hash}: site options {options}"
        );
    }
}

async fn check_incidents(c: &mut Console, w: &World) {
    c.route("#/incidents", "incidents").await;
    let shown = c
        .js("return [...document.querySelectorAll('tr[data-testid=incident-row][data-incident]')].map(r => r.dataset.incident);")
        .await;
    let shown: BTreeSet<String> = shown
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let expected: BTreeSet<String> = w.incidents.keys().cloned().collect();
    assert_eq!(shown, expected, "incident rows");
    c.shot("incidents").await;
    c.route(&format!("#/incident/{SITE_A}/inc-a-2"), "incident")
        .await;
    assert_eq!(
        c.count("[data-testid=record-row]").await,
        w.incidents["inc-a-2"],
        "healing records of inc-a-2"
    );
    c.shot("incident").await;
}

async fn check_patterns(c: &mut Console) {
    c.route("#/patterns", "patterns").await;
    let text = c.browser.text().await;
    assert!(
        text.contains("crashloop:backup"),
        "pattern of site A missing:\n{text}"
    );
    assert!(!text.contains("b-pattern-secret"), "site B's pattern shown");
    c.shot("patterns").await;
}

async fn check_search(c: &mut Console, w: &World) {
    let server = w.a.http();
    let fails = search_all(&server, &w.reader, &format!("site={SITE_A}&status=fail")).await;
    assert_eq!(
        fails.len(),
        w.fail_records,
        "records with a failing item (API)"
    );
    c.route(&format!("#/search?site={SITE_A}&status=fail"), "search")
        .await;
    let shown: BTreeSet<u64> = c.row_indices().await.into_iter().collect();
    let expected: BTreeSet<u64> = fails.iter().filter_map(|r| r["index"].as_u64()).collect();
    assert_eq!(shown, expected, "search status=fail rows");
    assert_eq!(
        c.count("#next-page").await,
        0,
        "a next page for {} rows",
        shown.len()
    );

    let all = search_all(&server, &w.reader, &format!("site={SITE_A}")).await;
    let expected: BTreeSet<u64> = all.iter().filter_map(|r| r["index"].as_u64()).collect();
    // The default page holds 50 records; paging is walked with pages of 25.
    c.route(&format!("#/search?site={SITE_A}"), "search").await;
    assert_eq!(c.row_indices().await.len(), 50, "rows of the first page");
    assert_eq!(
        c.count("#next-page").await,
        1,
        "no next page for {} records",
        expected.len()
    );
    c.shot("search").await;
    c.route(&format!("#/search?site={SITE_A}&limit=25"), "search")
        .await;
    let mut seen: BTreeSet<u64> = c.row_indices().await.into_iter().collect();
    let mut pages = 1;
    while c.count("#next-page").await > 0 {
        assert!(
            pages < 10,
            "more than 10 pages for {} records",
            expected.len()
        );
        let before = c.row_indices().await;
        c.browser.click("#next-page").await;
        let before_js = format!("{before:?}");
        c.browser
            .wait_for(
                "the next page of records",
                &format!("document.body.dataset.ready === 'true' && JSON.stringify([...document.querySelectorAll('tr[data-testid=record-row][data-index]')].map(r => Number(r.dataset.index))) !== {before_js:?}.replace(/ /g, '')"),
            )
            .await;
        seen.extend(c.row_indices().await);
        pages += 1;
    }
    c.drain("search").await;
    assert!(pages >= 2, "{} records fit one page", expected.len());
    assert_eq!(seen, expected, "records over {pages} pages");
}

/// One record verified; then one record per tamper mode, each failing its check.
async fn check_records(c: &mut Console, w: &World, proxy: &TamperProxy) {
    let records = search_all(
        &w.a.http(),
        &w.reader,
        &format!("site={SITE_A}&appliance=a-nas"),
    )
    .await;
    let route_of = |r: &Value| {
        format!(
            "#/record/{}/{}",
            r["index"].as_u64().expect("index"),
            r["record_hash"].as_str().expect("record hash")
        )
    };
    let status = "[data-testid=verify-status]";
    c.load(&route_of(&records[0]), "record").await;
    let state = c
        .js(&format!(
            "return document.querySelector('{status}').dataset.state;"
        ))
        .await;
    assert_eq!(state, "verified", "record view of an untouched record");
    // The record view waits for the header's consistency check; with the key pinned it
    // is one of the verified states.
    let consistency = c
        .js("const e = document.querySelector('[data-testid=consistency-status]'); return e ? e.dataset.state : null;")
        .await;
    assert!(
        ["first_visit", "consistent", "same"].contains(&consistency.as_str().unwrap_or("")),
        "consistency on the record view: {consistency}"
    );
    c.shot("record-verified").await;

    let modes = [
        (Tamper::InclusionProof, "inclusion_proof"),
        (Tamper::CheckpointSignature, "checkpoint_signature"),
        (Tamper::RecordBytes, "record_hash"),
    ];
    for (n, (mode, failure)) in modes.into_iter().enumerate() {
        proxy.set_tamper(mode);
        let served_before = proxy.served().len();
        let record = &records[n + 1];
        c.load(&route_of(record), "record").await;
        proxy.set_tamper(Tamper::None);
        let got = c
            .js(&format!("const e = document.querySelector('{status}'); return [e.dataset.state, e.dataset.failure || null];"))
            .await;
        let fetched = proxy.served()[served_before..].to_vec();
        assert_eq!(
            got,
            json!(["failed", failure]),
            "record view with {mode:?}; the console fetched {fetched:?}"
        );
        let words = c.text_of(status).await;
        assert!(!words.is_empty(), "no words for the failed check {failure}");
        if n == 0 {
            c.shot("record-tampered").await;
        }
        c.shot_extra(&format!("record-tampered-{failure}")).await;
    }
}

async fn check_health(c: &mut Console, w: &World) {
    let size = tree_size(&w.a.http()).await;
    c.route("#/health", "health").await;
    let shown = c.text_of("[data-testid=tree-size]").await;
    assert!(
        has_number(&shown, size),
        "tree size shown {shown:?}, server {size}"
    );
    assert!(
        c.count("[data-testid=queue-depth]").await == 1,
        "no queue depth"
    );
    c.shot("health").await;
}

/// Signs out and in again with the admin credential, which the second server accepts
/// too (it is configured with the same credential hash).
async fn sign_in_as_admin(c: &mut Console, admin: &str, key: &str) {
    c.browser.click("#sign-out").await;
    // The admin sees every site.
    c.forbidden.clear();
    c.browser
        .wait_for("the sign-in view after signing out", &ready_js("sign-in"))
        .await;
    let token = c.js("return sessionStorage.getItem('ledger.token');").await;
    assert!(
        token.is_null(),
        "the credential outlived signing out: {token}"
    );
    c.browser.type_into("#token", admin).await;
    c.browser.click("#sign-in").await;
    c.browser
        .wait_for(
            "a view after signing in as admin",
            "document.body.dataset.view !== 'sign-in' && document.body.dataset.ready === 'true'",
        )
        .await;
    let pinned = c
        .js("return localStorage.getItem('ledger.pinnedLogKey');")
        .await;
    assert_eq!(pinned, key, "the pinned key is kept across sign-out");
    c.drain("admin-sign-in").await;
}

fn consistency_js(state: &str) -> String {
    format!("(() => {{ const e = document.querySelector('[data-testid=consistency-status]'); return e && e.dataset.state === {state:?}; }})()")
}

async fn stored_checkpoint(c: &Console) -> Value {
    let v = c
        .js("return localStorage.getItem('ledger.lastCheckpoint');")
        .await;
    serde_json::from_str(v.as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

/// A second server with A's log key (copied before its first start) and A's admin
/// credential hash, and its own appliance.
async fn fork_server(w: &World) -> (Ledgerd, AgentBox) {
    use sha2::{Digest, Sha256};
    let dir = w.root.path().join("ledger-b");
    std::fs::create_dir_all(&dir).expect("second data directory");
    std::fs::copy(w.a.dir.join("log.key"), dir.join("log.key")).expect("copying the log key");
    std::fs::write(dir.join("admin.token"), &w.a.admin).expect("admin token file");
    let digest: String = Sha256::digest(w.a.admin.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let b = Ledgerd::start_with(&dir, &["--admin-token-sha256", &digest]).await;
    assert_eq!(
        b.log_key().await,
        w.a.log_key().await,
        "the second server's log key"
    );
    let urls = (b.http(), b.grpc());
    let mut agent = AgentBox::enrol_at(
        w.root.path(),
        SITE_FORK,
        "fork-app",
        "http",
        &b,
        (&urls.0, &urls.1),
        "",
    )
    .await;
    agent.start();
    (b, agent)
}

/// The size of the server's latest checkpoint (`GET /checkpoint`, second line).
async fn checkpoint_size(server: &str) -> u64 {
    let text = reqwest::get(format!("{server}/checkpoint"))
        .await
        .expect("GET /checkpoint")
        .text()
        .await
        .expect("checkpoint text");
    text.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .expect("checkpoint size line")
}

/// Has `agent` add records to `server` until its checkpoint is of exactly `size`.
async fn grow_to(agent: &mut AgentBox, server: &Ledgerd, size: u64) {
    let have = checkpoint_size(&server.http()).await;
    assert!(have <= size, "the second log is at {have}, beyond {size}");
    agent.record(size - have);
    let url = server.http();
    let url = &url;
    until(
        &format!("the second log at size {size}"),
        Duration::from_secs(60),
        move || async move { checkpoint_size(url).await == size },
    )
    .await;
}

/// The checkpoints view as the admin: a first visit, then a consistent extension.
/// Returns the checkpoint the browser stored.
async fn check_checkpoint_visits(c: &mut Console, w: &mut World) -> Value {
    // A first visit: nothing stored yet.
    c.js("localStorage.removeItem('ledger.lastCheckpoint'); return null;")
        .await;
    c.load("#/checkpoints", "checkpoints").await;
    c.browser
        .wait_for("first_visit", &consistency_js("first_visit"))
        .await;
    let first = checkpoint_size(&w.a.http()).await;
    let shown = c.text_of("[data-testid=checkpoint-size]").await;
    assert!(
        has_number(&shown, first),
        "checkpoint size {shown:?}, server {first}"
    );
    assert_eq!(
        stored_checkpoint(c).await["size"],
        first,
        "stored checkpoint"
    );
    c.shot("checkpoints").await;

    // More records, then a reload: consistent with what was stored.
    let head = w.nas.stats().head_sequence;
    let later = [evidence("nas-host", 99, false, "later")];
    w.nas.record_inputs(InputKind::Evidence, &later);
    let nas = &w.nas;
    until(
        "the new record delivered",
        Duration::from_secs(30),
        move || async move { delivered(std::slice::from_ref(nas))[0] == head + 1 },
    )
    .await;
    c.reload("checkpoints").await;
    c.browser
        .wait_for("consistent", &consistency_js("consistent"))
        .await;
    let stored = stored_checkpoint(c).await;
    let second = stored["size"].as_u64().expect("stored size");
    assert!(second > first, "stored size {second} after {first}");
    stored
}

/// Reloads the checkpoints view and waits for consistency state `state`; the
/// checkpoint stored before must be kept.
async fn revisit_expecting(c: &mut Console, state: &str, stored: &Value) {
    c.reload("checkpoints").await;
    c.browser.wait_for(state, &consistency_js(state)).await;
    assert_eq!(
        &stored_checkpoint(c).await,
        stored,
        "the stored checkpoint after {state}"
    );
}

/// A first visit and a consistent one to server A; then the proxy switches to a second
/// server signing another history with the same key: smaller (rollback), the same size
/// with another root (fork), larger without a valid consistency proof (fork).
async fn check_checkpoints_and_fork(c: &mut Console, w: &mut World, proxy: &TamperProxy) {
    let (b, mut fork_agent) = fork_server(w).await;
    let key = w.a.log_key().await;
    sign_in_as_admin(c, &w.a.admin, &key).await;
    let stored = check_checkpoint_visits(c, w).await;
    let size = stored["size"].as_u64().expect("stored size");

    proxy.set_upstream(&b.http());
    assert!(checkpoint_size(&b.http()).await < size);
    revisit_expecting(c, "rollback", &stored).await;
    c.shot_extra("rollback").await;
    grow_to(&mut fork_agent, &b, size).await;
    revisit_expecting(c, "fork", &stored).await;
    c.shot_extra("fork-same-size").await;
    grow_to(&mut fork_agent, &b, size + 3).await;
    revisit_expecting(c, "fork", &stored).await;
    c.shot("fork").await;
    proxy.set_upstream(&w.a.http());
    fork_agent.kill();
}

/// Every URL the browser requested was on 127.0.0.1 (or internal to Chromium).
fn check_requests_stayed_local(c: &Console, credentials: &[&str]) {
    assert!(
        !c.urls.is_empty(),
        "the performance log recorded no request"
    );
    let host = c.base.trim_start_matches("http://");
    for (view, url) in &c.urls {
        let internal = ["data:", "blob:", "about:", "chrome:"]
            .iter()
            .any(|p| url.starts_with(p));
        let local = url.strip_prefix("http://127.0.0.1:").is_some_and(|rest| {
            rest.split(['/', '?', '#'])
                .next()
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
        });
        assert!(internal || local, "view {view}: request to {url}");
        assert!(
            internal || url.starts_with(&format!("http://{host}")),
            "view {view}: request past the proxy: {url}"
        );
        for credential in credentials {
            assert!(
                !url.contains(credential),
                "view {view}: credential in {url}"
            );
        }
    }
    println!("{} requests, all to 127.0.0.1", c.urls.len());
}

/// Nothing at SEVERE level in the browser console (JavaScript errors, CSP violations),
/// except the refused answers the test asked for: 401 of the wrong credential and 404 of
/// site B's routes, both API requests (never a console file).
fn check_console_log(c: &Console) {
    let provoked = |view: &str, source: &str, message: &str| {
        let api = !message.contains("/console/") && message.contains("/v1/");
        source == "network"
            && api
            && ((view == "sign-in-refused" && message.contains("status of 401"))
                || (["fleet", "appliance", "incident"].contains(&view)
                    && message.contains("status of 404")
                    && message.contains(SITE_B)))
    };
    let mut severe = Vec::new();
    for (view, level, source, message) in &c.logs {
        if level == "SEVERE" && !provoked(view, source, message) {
            severe.push(format!("[{view}] {source}: {message}"));
        } else if level == "SEVERE" || level == "WARNING" {
            println!("browser log (accepted) [{view}] {level} {source}: {message}");
        }
    }
    assert!(
        severe.is_empty(),
        "browser console errors:\n{}",
        severe.join("\n")
    );
}

/// The WebDriver client and the proxy against plain `ledgerd` pages: requests are
/// logged, and each tamper mode keeps answers well-formed while breaking exactly its
/// check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webdriver_client_and_tamper_proxy_against_plain_ledgerd_pages() {
    let root = tempfile::tempdir().unwrap();
    let a = Ledgerd::start(&root.path().join("ledger")).await;
    let proxy = TamperProxy::start(&a.http()).await;
    proxy_tampering_keeps_answers_well_formed(&a, &proxy).await;
    let Some(tools) = browser::tools() else {
        return;
    };
    let b = Browser::start(&tools).await;
    b.navigate(&format!("{}/healthz", proxy.url())).await;
    b.wait_for(
        "healthz text",
        "document.body.innerText.includes('tree_size')",
    )
    .await;
    assert!(b.has_text("\"status\"").await);
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots/healthz.png");
    b.screenshot(&shot).await;
    let urls = b.requested_urls().await;
    assert!(
        urls.contains(&format!("{}/healthz", proxy.url())),
        "performance log: {urls:?}"
    );
    assert!(proxy.served().iter().any(|p| p == "/healthz"));
    let v = b.execute("return 6 * 7;", json!([])).await;
    assert_eq!(v, 42);
    let _ = b.console_log().await;
}

async fn proxy_tampering_keeps_answers_well_formed(a: &Ledgerd, proxy: &TamperProxy) {
    use ledger_core::note::NoteVerifier;
    use ledger_core::receipt::{Receipt, ReceiptError};
    let key = NoteVerifier::parse(&a.log_key().await).unwrap();
    // Entries: the operator chain's enrolment records of three appliances.
    let root = tempfile::tempdir().unwrap();
    let urls = (a.http(), a.grpc());
    for name in ["x-1", "x-2", "x-3"] {
        let _ =
            AgentBox::enrol_at(root.path(), SITE_A, name, "http", a, (&urls.0, &urls.1), "").await;
    }
    let size = tree_size(&a.http()).await;
    assert!(size >= 3, "tree size {size}");
    let record_at = |i: u64| {
        let url = format!("{}/v1/records/{i}", proxy.url());
        let admin = a.admin.clone();
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(admin)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.bytes().await.unwrap().to_vec()
        }
    };
    let receipt_at = |i: u64| {
        let url = format!("{}/receipt/{i}", proxy.url());
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    };
    let entry = record_at(1).await;
    let leaf = ledger_core::hash::leaf_hash(&entry);
    let plain = Receipt::parse(receipt_at(1).await.as_bytes()).unwrap();
    plain
        .verify(&leaf, &key)
        .expect("untouched receipt verifies");

    proxy.set_tamper(Tamper::InclusionProof);
    let r = Receipt::parse(receipt_at(1).await.as_bytes()).expect("still well-formed");
    assert!(matches!(
        r.verify(&leaf, &key),
        Err(ReceiptError::NotIncluded(_))
    ));
    proxy.set_tamper(Tamper::CheckpointSignature);
    let r = Receipt::parse(receipt_at(1).await.as_bytes()).expect("still well-formed");
    assert!(matches!(
        r.verify(&leaf, &key),
        Err(ReceiptError::Checkpoint(_))
    ));
    proxy.set_tamper(Tamper::RecordBytes);
    let changed = record_at(1).await;
    assert_eq!(changed.len(), entry.len());
    assert_ne!(changed, entry);
    proxy.set_tamper(Tamper::None);
    assert_eq!(record_at(1).await, entry);
}

/// One view's figures over the runs: (loadMs, navigation to ready measured here).
type Samples = Vec<(f64, f64)>;

fn p50_max(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() - 1])
}

/// Load times of each view at an existing server (`LEDGER_CONSOLE_URL`, signed in with
/// `LEDGER_CONSOLE_TOKEN`, log key `LEDGER_CONSOLE_LOG_KEY`): ten loads per view as a
/// route change in the page and ten as a new document, p50 and max printed; every max
/// must be at most 300 ms unless `LEDGER_CONSOLE_NO_ASSERT=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs a seeded server: LEDGER_CONSOLE_URL, LEDGER_CONSOLE_TOKEN, LEDGER_CONSOLE_LOG_KEY"]
async fn console_page_load() {
    let (Ok(url), Ok(token)) = (
        std::env::var("LEDGER_CONSOLE_URL"),
        std::env::var("LEDGER_CONSOLE_TOKEN"),
    ) else {
        eprintln!("skipped: LEDGER_CONSOLE_URL and LEDGER_CONSOLE_TOKEN are not set");
        return;
    };
    let Some(tools) = browser::tools() else {
        return;
    };
    let url = url.trim_end_matches('/').to_owned();
    let mut c = Console::open(&tools, &url).await;
    sign_in_plain(&mut c, &token).await;
    if let Ok(key) = std::env::var("LEDGER_CONSOLE_LOG_KEY") {
        pin_key(&mut c, key.trim()).await;
    }
    let routes = page_load_routes(&url, &token).await;
    let in_page = measure_views(&mut c, &routes, false).await;
    let documents = measure_views(&mut c, &routes, true).await;
    let worst = print_figures("route change in the page", &in_page);
    let document_worst = print_figures("new document", &documents);
    println!("slowest: route change {worst:.0} ms, new document {document_worst:.0} ms");
    if std::env::var("LEDGER_CONSOLE_NO_ASSERT").as_deref() != Ok("1") {
        assert!(
            worst.max(document_worst) <= 300.0,
            "slowest view took {worst:.0} ms as a route change, {document_worst:.0} ms as a new document (limit 300 ms)"
        );
    }
}

/// Ten loads of each route: in the page (a hash change from another view, which is
/// what the console's `loadMs` covers), or as a new document (`full`: module loading
/// and the session request included, navigation to ready polled by the test).
async fn measure_views(
    c: &mut Console,
    routes: &[(String, String)],
    full: bool,
) -> BTreeMap<String, Samples> {
    let mut figures: BTreeMap<String, Samples> = BTreeMap::new();
    for _ in 0..10 {
        for (view, hash) in routes {
            let d = if full {
                c.load(hash, view).await
            } else {
                // Via another view, so each load is a real route change.
                let other = [("#/health", "health"), ("#/patterns", "patterns")]
                    .into_iter()
                    .find(|(h, _)| h != hash && *h != c.current)
                    .expect("a route other than both");
                c.route(other.0, other.1).await;
                c.route(hash, view).await
            };
            let measured = d["testMs"].as_f64().unwrap_or(f64::NAN);
            let load_ms: f64 = d["loadMs"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN);
            figures
                .entry(format!("{view} {hash}"))
                .or_default()
                .push((load_ms, measured));
        }
    }
    figures
}

/// Prints p50 and max per view; returns the largest figure.
fn print_figures(title: &str, figures: &BTreeMap<String, Samples>) -> f64 {
    println!("{title}:");
    let mut worst: f64 = 0.0;
    for (view, samples) in figures {
        let (lp50, lmax) = p50_max(samples.iter().map(|s| s.0).collect());
        let (np50, nmax) = p50_max(samples.iter().map(|s| s.1).collect());
        println!("  {view:<60} loadMs p50 {lp50:>5.0} max {lmax:>5.0}   navigation to ready p50 {np50:>5.0} max {nmax:>5.0} ms");
        assert!(!lmax.is_nan(), "{view}: no loadMs reported");
        worst = worst.max(lmax).max(nmax);
    }
    worst
}

async fn sign_in_plain(c: &mut Console, token: &str) {
    c.load("", "sign-in").await;
    c.browser.type_into("#token", token).await;
    c.browser.click("#sign-in").await;
    c.browser
        .wait_for(
            "a view after signing in",
            "document.body.dataset.view !== 'sign-in' && document.body.dataset.ready === 'true'",
        )
        .await;
}

/// The views of the page-load test, with the first site's first appliance and the
/// newest record of that site taken from the server.
async fn page_load_routes(url: &str, token: &str) -> Vec<(String, String)> {
    let session = get_json(&format!("{url}/v1/session"), token).await;
    let site = session["sites"][0].as_str().expect("a site").to_owned();
    let fleet = get_json(&format!("{url}/v1/sites/{site}/appliances"), token).await;
    let appliance = fleet["appliances"][0]["appliance_id"]
        .as_str()
        .expect("an appliance")
        .to_owned();
    let records = get_json(
        &format!("{url}/v1/search/records?site={site}&limit=1"),
        token,
    )
    .await;
    let record = &records["records"][0];
    let record_route = format!(
        "#/record/{}/{}",
        record["index"].as_u64().expect("a record"),
        record["record_hash"].as_str().expect("its hash")
    );
    [
        ("fleet", format!("#/fleet/{site}")),
        ("appliance", format!("#/appliance/{site}/{appliance}")),
        ("incidents", "#/incidents".to_owned()),
        ("search", format!("#/search?site={site}")),
        ("record", record_route),
        ("checkpoints", "#/checkpoints".to_owned()),
        ("health", "#/health".to_owned()),
    ]
    .into_iter()
    .map(|(v, h)| (v.to_owned(), h))
    .collect()
}
