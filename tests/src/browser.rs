//! A minimal W3C WebDriver client (<https://www.w3.org/TR/webdriver2/>): JSON over HTTP to
//! the system's `chromedriver`, which starts a headless Chromium with a fresh profile.
//! It has what the console tests need: sessions, navigation, scripts, element clicks and
//! typing, waits on a JavaScript condition, screenshots, and Chromium's performance log
//! (every URL the page requested) and console log.
//!
//! Nothing is downloaded: the browser and the driver are the installed ones
//! (`/usr/bin/chromedriver` and `chromium` on Debian, package `chromium-driver`). Without
//! them [`tools`] answers `None` after printing why, unless `LEDGER_REQUIRE_CHROMIUM` is
//! set (CI installs both and sets it), in which case it panics.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

/// How long [`Browser::wait_for`] waits unless told otherwise.
pub const WAIT: Duration = Duration::from_secs(15);

/// The W3C name of an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The installed driver and browser.
#[derive(Debug, Clone)]
pub struct Tools {
    pub chromedriver: PathBuf,
    pub chromium: PathBuf,
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// The file `variable` names (missing if that file does not exist), else `fixed` if it
/// exists, else the first of `names` on PATH.
fn from_env_or(variable: &str, fixed: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(variable) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let fixed = PathBuf::from(fixed);
    if fixed.is_file() {
        return Some(fixed);
    }
    on_path(names)
}

/// The driver (`CHROMEDRIVER`, `/usr/bin/chromedriver`, or `chromedriver` on PATH) and the
/// browser (`CHROMIUM_BIN`, `/usr/bin/chromium`, or `chromium`/`chromium-browser` on
/// PATH). `None` (with a printed line) when one is missing and `LEDGER_REQUIRE_CHROMIUM`
/// is unset; a panic when it is set.
pub fn tools() -> Option<Tools> {
    let chromedriver = from_env_or("CHROMEDRIVER", "/usr/bin/chromedriver", &["chromedriver"]);
    let chromium = from_env_or(
        "CHROMIUM_BIN",
        "/usr/bin/chromium",
        &["chromium", "chromium-browser"],
    );
    match (chromedriver, chromium) {
        (Some(chromedriver), Some(chromium)) => Some(Tools {
            chromedriver,
            chromium,
        }),
        (driver, browser) => {
            let missing = match (driver, browser) {
                (None, None) => "chromedriver and chromium",
                (None, Some(_)) => "chromedriver",
                _ => "chromium",
            };
            // CI installs Chromium and its driver and sets LEDGER_REQUIRE_CHROMIUM.
            assert!(
                std::env::var_os("LEDGER_REQUIRE_CHROMIUM").is_none(),
                "LEDGER_REQUIRE_CHROMIUM is set but {missing} is not installed (Debian: apt-get install chromium chromium-driver)"
            );
            eprintln!("skipped: {missing} not installed (Debian package chromium-driver)");
            None
        }
    }
}

/// One browser: a `chromedriver` process, its session and Chromium's fresh profile.
/// Dropping it ends the session (Chromium quits), stops the driver and kills any
/// process left running with this profile.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    http: reqwest::Client,
    profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = delete_session(self.addr, &self.session);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        kill_profile_processes(self.profile.path());
    }
}

/// `DELETE /session/{id}` over a plain socket: `Drop` cannot await the async client.
fn delete_session(addr: SocketAddr, session: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "DELETE /session/{session} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map(|_| ())
}

/// Kills (by process id) every process whose command line names `profile`: Chromium's
/// processes if one outlived its driver. No other process has that directory.
fn kill_profile_processes(profile: &Path) {
    let marker = format!("--user-data-dir={}", profile.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.split('\0').any(|arg| arg == marker) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

fn capabilities(tools: &Tools, profile: &Path) -> Value {
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--no-first-run".to_owned(),
        format!("--user-data-dir={}", profile.display()),
        "--window-size=1280,900".to_owned(),
    ];
    json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": tools.chromium, "args": args},
        "goog:loggingPrefs": {"performance": "ALL", "browser": "ALL"},
    }}})
}

/// The port in chromedriver's line `ChromeDriver was started successfully on port N.`
fn started_port(line: &str) -> Option<u16> {
    let rest = line.split("started successfully on port ").nth(1)?;
    rest.trim().trim_end_matches('.').parse().ok()
}

/// Starts `chromedriver --port=0` (it binds a free port itself, so concurrent tests
/// cannot race for one), reads the port it printed, and waits (bounded) until it
/// answers `/status`.
async fn start_driver(tools: &Tools, log: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(&tools.chromedriver)
        .arg("--port=0")
        .arg(format!("--log-path={}", log.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning chromedriver");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let _ = tx.send(lines.by_ref().find_map(|l| started_port(&l)));
        // Keep draining so the driver never blocks on a full pipe.
        for _ in lines {}
    });
    let port = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(20)))
        .await
        .expect("reading chromedriver's port");
    let Ok(Some(port)) = port else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "chromedriver did not say its port; its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("http://{addr}/status")).send().await {
            let v: Value = r.json().await.unwrap_or_default();
            if v["value"]["ready"] == true {
                return (child, addr);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("chromedriver on {addr} never answered /status as ready");
}

impl Browser {
    /// Starts the driver and a headless Chromium with a fresh profile directory.
    pub async fn start(tools: &Tools) -> Browser {
        let profile = tempfile::Builder::new()
            .prefix("ledger-chromium-")
            .tempdir()
            .expect("profile directory");
        let log = profile.path().join("chromedriver.log");
        let (driver, addr) = start_driver(tools, &log).await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client");
        let answer = http
            .post(format!("http://{addr}/session"))
            .json(&capabilities(tools, profile.path()))
            .send()
            .await
            .expect("POST /session");
        let v: Value = answer.json().await.expect("new session answer");
        let Some(session) = v["value"]["sessionId"].as_str().map(str::to_owned) else {
            panic!(
                "chromedriver refused the session: {v}\nits log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Browser {
            driver,
            addr,
            session,
            http,
            profile,
        }
    }

    /// One WebDriver command; its `value`, or a panic naming the command and the error.
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("http://{}/session/{}{path}", self.addr, self.session);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = answer.status();
        let v: Value = answer
            .json()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: answer is not JSON: {e}"));
        if !status.is_success() || v["value"].get("error").is_some() {
            panic!("WebDriver {method} {path}: {status} {}", v["value"]);
        }
        v["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    /// Loads `url` (returns once the document has loaded).
    pub async fn navigate(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// Reloads the current document.
    pub async fn refresh(&self) {
        self.post("/refresh", json!({})).await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        let v = self.command(reqwest::Method::GET, "/url", None).await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns what it
    /// returned, as JSON.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    /// Runs `script` asynchronously: it finishes by calling `arguments[arguments.length
    /// - 1]` with its result. The driver gives up after `timeout`.
    pub async fn execute_async(&self, script: &str, args: Value, timeout: Duration) -> Value {
        let ms = timeout.as_millis() as u64;
        self.post("/timeouts", json!({ "script": ms })).await;
        self.post("/execute/async", json!({"script": script, "args": args}))
            .await
    }

    /// `document.body.dataset` as JSON (the console's state hooks).
    pub async fn dataset(&self) -> Value {
        self.execute(
            "return document.body ? Object.assign({}, document.body.dataset) : null;",
            json!([]),
        )
        .await
    }

    /// The page's visible text (`document.body.innerText`).
    pub async fn text(&self) -> String {
        let v = self
            .execute(
                "return document.body ? document.body.innerText : '';",
                json!([]),
            )
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The whole document as HTML (attributes included, which the visible text lacks).
    pub async fn html(&self) -> String {
        let v = self
            .execute("return document.documentElement.outerHTML;", json!([]))
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Whether the visible text contains `needle`.
    pub async fn has_text(&self, needle: &str) -> bool {
        self.text().await.contains(needle)
    }

    /// Waits up to `limit` until the JavaScript expression `condition` is truthy; panics
    /// with `what`, the body's dataset and the visible text otherwise.
    pub async fn wait_for_within(&self, what: &str, condition: &str, limit: Duration) {
        let script = format!("try {{ return !!({condition}); }} catch (e) {{ return false; }}");
        let deadline = Instant::now() + limit;
        loop {
            if self.execute(&script, json!([])).await == true {
                return;
            }
            if Instant::now() >= deadline {
                let dataset = self.dataset().await;
                let text: String = self.text().await.chars().take(3000).collect();
                panic!(
                    "timed out after {limit:?} waiting for {what} ({condition})\nurl: {}\nbody dataset: {dataset}\nvisible text:\n{text}",
                    self.url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// [`Browser::wait_for_within`] with the default limit ([`WAIT`]).
    pub async fn wait_for(&self, what: &str, condition: &str) {
        self.wait_for_within(what, condition, WAIT).await;
    }

    /// The element `css` matches, or a panic.
    async fn element(&self, css: &str) -> String {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        v[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element id for {css}: {v}"))
            .to_owned()
    }

    /// Clears the input `css` and types `text` into it, key by key.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.post(&format!("/element/{id}/clear"), json!({})).await;
        self.post(&format!("/element/{id}/value"), json!({ "text": text }))
            .await;
    }

    /// Clicks the element `css`.
    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.post(&format!("/element/{id}/click"), json!({})).await;
    }

    /// Writes a screenshot of the viewport as PNG to `path` (directories created).
    pub async fn screenshot(&self, path: &Path) {
        let v = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).expect("writing the screenshot");
    }

    /// Entries of the log `kind` (`performance`, `browser`) since the last read; each
    /// `{level, message, timestamp, …}`. Chromium hands every entry out once.
    pub async fn log(&self, kind: &str) -> Vec<Value> {
        let v = self.post("/se/log", json!({ "type": kind })).await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Every URL the page requested since the last read (`Network.requestWillBeSent` of
    /// the performance log).
    pub async fn requested_urls(&self) -> Vec<String> {
        self.log("performance")
            .await
            .iter()
            .filter_map(|entry| {
                let inner: Value = serde_json::from_str(entry["message"].as_str()?).ok()?;
                let message = &inner["message"];
                if message["method"] != "Network.requestWillBeSent" {
                    return None;
                }
                message["params"]["request"]["url"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    /// The browser console log since the last read: (level, source, message).
    pub async fn console_log(&self) -> Vec<(String, String, String)> {
        self.log("browser")
            .await
            .iter()
            .map(|e| {
                let field = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                (field("level"), field("source"), field("message"))
            })
            .collect()
    }
}
