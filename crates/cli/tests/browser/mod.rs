//! The real-browser harness: one chromedriver and one headless Chromium
//! session for the whole test binary, lent to one test at a time.
//!
//! A test takes the browser with [`tab()`] once its servers are set up (so
//! set-ups still run in parallel) and holds it until the end: cookies are
//! cleared when it is taken, and when it is given back the browser's
//! console is read and any Content Security Policy violation fails the
//! test. Elements are selected by their stable attributes (`name`,
//! `value`, form `action`, ids of the example SPA), never by their text,
//! which is translated and reworded.
//!
//! Chromedriver is started under a small shell watchdog whose standard input
//! is a pipe from this process: when the test binary ends, however it ends,
//! the watchdog asks chromedriver to shut down, which quits Chromium.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod site;

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// How long any one wait in the browser may take.
pub const WAIT: Duration = Duration::from_secs(20);

const INSTALL: &str = "the browser tests need Debian's chromium and chromium-driver \
                       (apt-get install chromium chromium-driver; .ci/run installs them)";

struct Browser {
    rt: tokio::runtime::Runtime,
    client: Client,
    /// Chromium's own `User-Agent`, kept when the language is changed.
    user_agent: String,
    /// The watchdog and the write end of its standard input, kept open
    /// for as long as this process lives.
    _watchdog: (Child, ChildStdin),
}

static BROWSER: OnceLock<Result<Mutex<Browser>, String>> = OnceLock::new();

/// The browser, for one test: waits for any other test to give it back.
/// Panics with the reason when chromedriver or Chromium cannot be started:
/// the browser tests fail then, they never skip.
pub fn tab() -> Tab {
    let browser = match BROWSER.get_or_init(|| start().map(Mutex::new)) {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    };
    // A test that panicked holding the browser poisons the lock; the next
    // one starts from a clean state anyway.
    let guard = browser.lock().unwrap_or_else(|e| e.into_inner());
    let tab = Tab {
        b: guard,
        log: Default::default(),
    };
    tab.reset();
    tab
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

fn start() -> Result<Browser, String> {
    if !on_path("chromedriver") {
        return Err(format!("chromedriver is not on PATH: {INSTALL}"));
    }
    let port = crate::common::free_port();
    // The watchdog: chromedriver in the background; when our end of its
    // standard input closes (this process exited), GET /shutdown, which
    // quits every session's Chromium, then chromedriver itself. Chromium's
    // temporary files go to a directory of the watchdog's, removed last.
    let script = r#"
TMPDIR="$(mktemp -d)" || exit 1
export TMPDIR
chromedriver --port="$1" --silent </dev/null & driver=$!
cat >/dev/null
if exec 3<>"/dev/tcp/127.0.0.1/$1"; then
  printf 'GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
  cat <&3 >/dev/null
fi
wait "$driver"
rm -rf "$TMPDIR"
"#;
    let mut watchdog = Command::new("bash")
        .args(["-c", script, "watchdog", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run bash for the chromedriver watchdog: {e}"))?;
    let stdin = watchdog.stdin.take().ok_or("no watchdog stdin")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("chromedriver did not listen on {url}: {INSTALL}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--window-size=1024,800",
            "--lang=en-US",
        ] }),
    );
    // Console messages, CSP violations among them, for `browser_log`.
    caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
    let client = rt
        .block_on(
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps)
                .connect(&url),
        )
        .map_err(|e| format!("chromedriver could not start Chromium ({e}): {INSTALL}"))?;
    let user_agent = rt
        .block_on(client.execute("return navigator.userAgent", vec![]))
        .map_err(|e| e.to_string())?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(Browser {
        rt,
        client,
        user_agent,
        _watchdog: (watchdog, stdin),
    })
}

fn is_csp_violation(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("content security policy")
}

/// One entry of the browser's console, as chromedriver reports it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LogEntry {
    pub level: String,
    pub message: String,
    #[serde(default)]
    pub source: Option<String>,
}

/// chromedriver's `POST /session/{id}/se/log` (the Selenium log command):
/// the entries of a log type since the last call.
#[derive(Debug)]
struct GetLog(&'static str);

impl WebDriverCompatibleCommand for GetLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (reqwest::Method, Option<String>) {
        (
            reqwest::Method::POST,
            Some(json!({ "type": self.0 }).to_string()),
        )
    }
}

/// chromedriver's `POST /session/{id}/goog/cdp/execute`: a DevTools
/// protocol command.
#[derive(Debug)]
struct Cdp(&'static str, Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }
    fn method_and_body(&self, _: &url::Url) -> (reqwest::Method, Option<String>) {
        let body = json!({ "cmd": self.0, "params": self.1 });
        (reqwest::Method::POST, Some(body.to_string()))
    }
}

/// The browser, lent to one test. Every method panics (failing the test)
/// on a WebDriver error or when what it waits for does not come within
/// [`WAIT`], saying what it waited for and where the browser was.
pub struct Tab {
    b: MutexGuard<'static, Browser>,
    /// Console entries read (chromedriver hands each out once) but not
    /// yet returned by `browser_log`.
    log: std::cell::RefCell<Vec<LogEntry>>,
}

impl std::fmt::Debug for Tab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tab")
    }
}

impl Drop for Tab {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_no_csp_violation();
        }
    }
}

impl Tab {
    fn run<T>(&self, f: impl std::future::Future<Output = Result<T, CmdError>>, what: &str) -> T {
        match self.b.rt.block_on(f) {
            Ok(v) => v,
            Err(e) => panic!("{what}: {e} (at {})", self.url_or_unknown()),
        }
    }

    fn c(&self) -> &Client {
        &self.b.client
    }

    /// A clean browser for the next test: a blank page, no cookies (every
    /// server of the tests is on 127.0.0.1, and cookies ignore the port),
    /// English, and the console log of the previous test drained.
    fn reset(&self) {
        self.run(self.c().goto("about:blank"), "about:blank");
        self.accept_language("en-US");
        self.run(
            self.c()
                .issue_cmd(Cdp("Network.clearBrowserCookies", json!({}))),
            "clearing cookies",
        );
        self.browser_log();
    }

    fn url_or_unknown(&self) -> String {
        self.b
            .rt
            .block_on(self.c().current_url())
            .map_or_else(|_| "an unknown page".to_owned(), |u| u.to_string())
    }

    /// Sets the `Accept-Language` the browser sends (and
    /// `navigator.languages`), `de-DE,de;q=0.9` say, for this test.
    pub fn accept_language(&self, value: &str) {
        let params = json!({ "userAgent": self.b.user_agent, "acceptLanguage": value });
        self.run(
            self.c()
                .issue_cmd(Cdp("Emulation.setUserAgentOverride", params)),
            "setting Accept-Language",
        );
    }

    /// Loads `url` and waits for the document to be complete.
    pub fn goto(&self, url: &str) {
        self.run(self.c().goto(url), &format!("loading {url}"));
        self.wait_loaded();
    }

    /// The current address.
    pub fn url(&self) -> url::Url {
        self.run(self.c().current_url(), "current url")
    }

    fn wait_loaded(&self) {
        self.poll("the document to load", || {
            let state = self.run(
                self.c().execute("return document.readyState", vec![]),
                "document.readyState",
            );
            (state == "complete").then_some(())
        });
    }

    /// Polls `f` until it gives `Some`, for at most [`WAIT`].
    pub fn poll<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() > deadline {
                // The console often says why (a CSP violation blocking a
                // form's submission, say).
                let console: Vec<String> = self
                    .b
                    .rt
                    .block_on(self.c().issue_cmd(GetLog("browser")))
                    .ok()
                    .and_then(|v| serde_json::from_value::<Vec<LogEntry>>(v).ok())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| e.message)
                    .collect();
                panic!(
                    "waited {WAIT:?} for {what}; at {} ({}); console: {console:#?}",
                    self.url_or_unknown(),
                    self.failure_screenshot()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the address satisfies `f`; returns it.
    pub fn wait_url(&self, what: &str, f: impl Fn(&url::Url) -> bool) -> url::Url {
        self.poll(what, || Some(self.url()).filter(|u| f(u)))
    }

    /// Whether an element matches `css` now.
    pub fn has(&self, css: &str) -> bool {
        match self.b.rt.block_on(self.c().find(Locator::Css(css))) {
            Ok(_) => true,
            Err(CmdError::Standard(e)) if e.error == ErrorStatus::NoSuchElement => false,
            Err(e) => panic!("finding {css}: {e}"),
        }
    }

    fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.run(
            self.c().wait().at_most(WAIT).for_element(Locator::Css(css)),
            &format!("waiting for {css}"),
        )
    }

    /// Waits for an element matching `css`.
    pub fn wait_for(&self, css: &str) {
        self.find(css);
    }

    /// The text of the element matching `css` (waited for).
    pub fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.run(e.text(), &format!("text of {css}"))
    }

    /// An attribute of the element matching `css` (waited for).
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let e = self.find(css);
        self.run(e.attr(name), &format!("{name} of {css}"))
    }

    /// Types `value` into the field named `name`, replacing what it held.
    pub fn fill(&self, name: &str, value: &str) {
        let e = self.find(&format!("[name=\"{name}\"]"));
        self.run(e.clear(), &format!("clearing {name}"));
        self.run(e.send_keys(value), &format!("typing into {name}"));
    }

    /// Clicks the element matching `css` (a button of the SPA, say),
    /// without waiting for anything.
    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.run(e.click(), &format!("clicking {css}"));
    }

    /// Clicks the element matching `css` (a form's button) and waits until
    /// the page it leads to has loaded.
    pub fn submit(&self, css: &str) {
        self.leaving(|| self.click(css));
    }

    /// Runs `act`, then waits until the current document has been replaced
    /// by another one and that one has loaded. (A mark on the old
    /// document's `window`, which a new document does not have: the same
    /// address can come back, after a login's redirect, say.)
    pub fn leaving(&self, act: impl FnOnce()) {
        self.script("window.harnessLeaving = true");
        act();
        self.poll("the page to be left", || {
            // A violation blocks a form's submission: say so at once.
            self.read_log();
            let blocked: Vec<String> = self
                .log
                .borrow()
                .iter()
                .filter(|e| is_csp_violation(&e.message))
                .map(|e| e.message.clone())
                .collect();
            assert!(
                blocked.is_empty(),
                "Content Security Policy violations: {blocked:#?}"
            );
            let left = self.b.rt.block_on(
                self.c()
                    .execute("return window.harnessLeaving !== true", vec![]),
            );
            // An error while the old document goes away: ask again.
            (left.ok() == Some(Value::Bool(true))).then_some(())
        });
        self.wait_loaded();
    }

    /// Signs in on the page's login form (proofkey's login page, or the
    /// device page): fills username and password, and submits with Enter
    /// in the password field, as a person would.
    pub fn sign_in(&self, username: &str, password: &str) {
        self.fill("username", username);
        self.fill("password", password);
        self.leaving(|| {
            let e = self.find("[name=\"password\"]");
            self.run(e.send_keys("\u{E007}"), "pressing Enter");
        });
    }

    /// Resizes the window (a phone's width, say); returns the size it had.
    pub fn window_size(&self, width: u32, height: u32) -> (u64, u64) {
        let before = self.run(self.c().get_window_size(), "reading the window size");
        self.run(
            self.c().set_window_size(width, height),
            "resizing the window",
        );
        before
    }

    /// Runs JavaScript in the page; its return value.
    pub fn script(&self, js: &str) -> Value {
        self.run(self.c().execute(js, vec![]), js)
    }

    /// Moves the console's new entries to `self.log`.
    fn read_log(&self) {
        let v = self.run(
            self.c().issue_cmd(GetLog("browser")),
            "reading the browser log",
        );
        let entries: Vec<LogEntry> = serde_json::from_value(v).unwrap();
        self.log.borrow_mut().extend(entries);
    }

    /// The browser console's entries since the last call (or since the
    /// test took the browser).
    pub fn browser_log(&self) -> Vec<LogEntry> {
        self.read_log();
        self.log.take()
    }

    /// The console messages since the last read that report a Content
    /// Security Policy violation.
    pub fn csp_violations(&self) -> Vec<String> {
        self.browser_log()
            .into_iter()
            .map(|e| e.message)
            .filter(|m| is_csp_violation(m))
            .collect()
    }

    /// Fails if the console reported a CSP violation since the last read.
    /// Also done when the test gives the browser back.
    pub fn assert_no_csp_violation(&self) {
        let v = self.csp_violations();
        assert!(v.is_empty(), "Content Security Policy violations: {v:#?}");
    }

    /// A screenshot of the page in the target directory, for a failure's
    /// message: where it is.
    fn failure_screenshot(&self) -> String {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "browser-{}.png",
            std::thread::current()
                .name()
                .unwrap_or("test")
                .replace("::", "-")
        ));
        match self.b.rt.block_on(self.c().screenshot()) {
            Ok(png) if std::fs::write(&path, &png).is_ok() => {
                format!("screenshot: {}", path.display())
            }
            _ => "no screenshot".to_owned(),
        }
    }

    /// Saves a screenshot (PNG) of the page, for looking at a failure.
    pub fn screenshot(&self, path: &std::path::Path) {
        let png = self.run(self.c().screenshot(), "screenshot");
        std::fs::File::create(path)
            .and_then(|mut f| f.write_all(&png))
            .unwrap();
    }
}
