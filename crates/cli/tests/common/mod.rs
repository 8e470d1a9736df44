//! Helpers for tests that run the real `proofkey` binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary with no `PROOFKEY_*` variables inherited.
pub fn proofkey() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_proofkey"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PROOFKEY_") || k == "SSH_CONNECTION" || k == "BROWSER" {
            c.env_remove(k);
        }
    }
    c
}

/// What a command that must succeed printed; else fails with its output.
pub fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `proofkey serve` on 127.0.0.1:`port` with the database `db`; more
/// arguments may follow.
pub fn serve_on(port: u16, db: &str) -> Command {
    let mut c = proofkey();
    c.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--database",
        db,
    ]);
    c
}

pub fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server did not start");
}

/// Waits until the server on `port` answers `/healthz`: the port is bound
/// before the keys are loaded, so a connection is not enough.
pub fn wait_serving(port: u16) {
    wait_ready(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz"))
        .map_or(true, |r| !r.status().is_success())
    {
        assert!(Instant::now() < deadline, "server did not serve");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap()
}

/// `proofkey serve` on a free port with its database in a temporary directory.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub base: String,
    pub db: String,
    child: Child,
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        Self::start_in(proofkey(), extra)
    }

    /// `proofkey serve` with a soft open-file limit of `soft` (through
    /// util-linux's `prlimit`), the hard limit unchanged.
    pub fn start_with_nofile(soft: u64, extra: &[&str]) -> Server {
        let mut c = Command::new("prlimit");
        c.arg(format!("--nofile={soft}:"))
            .arg(env!("CARGO_BIN_EXE_proofkey"));
        for (k, _) in std::env::vars() {
            if k.starts_with("PROOFKEY_") {
                c.env_remove(k);
            }
        }
        Self::start_in(c, extra)
    }

    fn start_in(mut command: Command, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let db = format!("sqlite://{}", dir.path().join("server.db").display());
        let child = command
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database",
                &db,
            ])
            .args(extra)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_serving(port);
        Server {
            dir,
            base: format!("http://127.0.0.1:{port}"),
            db,
            child,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `SIGTERM` and waits up to `within` for the process to end:
    /// its exit status, or None if it is still running then.
    pub fn sigterm_and_wait(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The server process's peak resident memory (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Runs an admin command on the server's database.
    pub fn admin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        admin(&self.db, args, stdin)
    }

    /// A public client `id` for a CLI: the code flow with refresh tokens,
    /// the loopback redirect URI `http://127.0.0.1/callback`, no consent
    /// screen; `more` flags of `client create` after those.
    pub fn cli_client(&self, id: &str, more: &[&str]) {
        let mut args = vec![
            "client",
            "create",
            "--id",
            id,
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--skip-consent",
        ];
        args.extend_from_slice(more);
        self.admin(&args, None);
    }

    /// The user `name` with `password`.
    pub fn user(&self, name: &str, password: &str) {
        self.admin(
            &["user", "create", name, "--password-stdin"],
            Some(&format!("{password}\n")),
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs an admin command on the database `db`, with `stdin` as its input
/// if given; asserts that it succeeded.
pub fn admin(db: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write as _;
    let mut child = proofkey()
        .args(args)
        .env("PROOFKEY_DATABASE_URL", db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A cookie-keeping blocking HTTP client that does not follow redirects.
pub struct Browser {
    pub http: reqwest::blocking::Client,
    cookies: HashMap<String, String>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub body: String,
}

impl Page {
    pub fn hidden_fields(&self) -> Vec<(String, String)> {
        self.body
            .split("<input type=\"hidden\" ")
            .skip(1)
            .map(|c| {
                let get = |attr: &str| {
                    let i = c.find(attr).unwrap() + attr.len();
                    let j = c[i..].find('"').unwrap();
                    c[i..i + j].replace("&#x2f;", "/").replace("&amp;", "&")
                };
                (get("name=\""), get("value=\""))
            })
            .collect()
    }
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn send(&mut self, req: reqwest::blocking::RequestBuilder) -> Page {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let resp = req.header("cookie", cookie).send().unwrap();
        for c in resp.headers().get_all("set-cookie") {
            let kv = c.to_str().unwrap().split(';').next().unwrap();
            if let Some((k, v)) = kv.split_once('=') {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .map(|l| l.to_str().unwrap().to_owned())
        };
        let (location, retry_after) = (header("location"), header("retry-after"));
        Page {
            status,
            location,
            retry_after,
            body: resp.text().unwrap(),
        }
    }

    pub fn get(&mut self, url: &str) -> Page {
        let req = self.http.get(url);
        self.send(req)
    }

    pub fn post(&mut self, url: &str, form: &[(String, String)]) -> Page {
        let req = self.http.post(url).form(form);
        self.send(req)
    }

    /// Drives /authorize through login (and consent) to the client redirect.
    pub fn authorize(&mut self, base: &str, url: &str, username: &str, password: &str) -> String {
        let mut page = self.get(url);
        for _ in 0..4 {
            if let Some(loc) = page.location.clone() {
                if loc.starts_with('/') {
                    page = self.get(&format!("{base}{loc}"));
                    continue;
                }
                return loc;
            }
            let mut form = page.hidden_fields();
            if page.body.contains("name=\"password\"") {
                form.push(("username".into(), username.into()));
                form.push(("password".into(), password.into()));
                page = self.post(&format!("{base}/login"), &form);
            } else {
                form.push(("decision".into(), "allow".into()));
                page = self.post(&format!("{base}/consent"), &form);
            }
        }
        panic!("no redirect to the client");
    }

    /// Approves a device code on the verification page.
    pub fn approve_device(
        &mut self,
        base: &str,
        user_code: &str,
        username: &str,
        password: &str,
    ) -> Page {
        let page = self.get(&format!("{base}/device"));
        let mut form = page.hidden_fields();
        form.push(("user_code".into(), user_code.into()));
        if page.body.contains("name=\"password\"") {
            form.push(("username".into(), username.into()));
            form.push(("password".into(), password.into()));
        }
        let confirm = self.post(&format!("{base}/device"), &form);
        let mut form = confirm.hidden_fields();
        form.push(("decision".into(), "allow".into()));
        self.post(&format!("{base}/device/decision"), &form)
    }
}
