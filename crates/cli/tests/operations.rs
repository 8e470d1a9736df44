//! Operating the real binary: a scrape of `/metrics` after a known
//! sequence of requests, a full file system (a tmpfs the test mounts) that
//! recovers under load once space is freed, the online backup, and the
//! metrics listener's address rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{free_port, proofkey, serve_on, terminate, wait_serving, Browser};
use sha2::Digest as _;

/// `proofkey serve` with its database at `db`, metrics on their own port,
/// stderr kept in a file (for the log lines a test reads).
struct Node {
    child: Child,
    base: String,
    metrics: String,
    db: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start(db: &str, extra: &[&str]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let (port, metrics_port) = (free_port(), free_port());
        let log = dir.path().join("stderr.log");
        let child = serve_on(port, db)
            .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
            .args(extra)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        wait_serving(port);
        Node {
            child,
            base: format!("http://127.0.0.1:{port}"),
            metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
            db: db.to_owned(),
            log,
            _dir: dir,
        }
    }

    fn admin(&self, args: &[&str]) -> serde_json::Value {
        let out = common::admin(&self.db, &[args, &["--json"]].concat(), None);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// The scrape, parsed: each sample under its name and sorted labels.
    fn scrape(&self) -> Scrape {
        let text = reqwest::blocking::get(&self.metrics)
            .unwrap()
            .text()
            .unwrap();
        Scrape::parse(&text)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Prometheus text exposition, as samples.
struct Scrape(HashMap<String, f64>);

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let mut samples = HashMap::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            samples.insert(key(name, &parse_labels(labels)), value.parse().unwrap());
        }
        Scrape(samples)
    }

    /// The sample `name{labels}`, if rendered.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.0.get(&key(name, &labels)).copied()
    }

    /// [`Scrape::get`], or 0 for a series never recorded.
    fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }
}

fn parse_labels(labels: &str) -> BTreeMap<String, String> {
    labels
        .split("\",")
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.trim_matches('"').to_owned())
        })
        .collect()
}

fn key(name: &str, labels: &BTreeMap<String, String>) -> String {
    format!("{name}{labels:?}")
}

fn temp_db() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("server.db").display());
    (dir, db)
}

/// A confidential client allowed `client_credentials`: its id and secret.
fn service_client(node: &Node) -> (String, String) {
    let c = node.admin(&[
        "client",
        "create",
        "--id",
        "svc",
        "--confidential",
        "--redirect-uri",
        "https://svc.example/cb",
        "--grant-type",
        "client_credentials",
    ]);
    (
        "svc".into(),
        c["client_secret"].as_str().unwrap().to_owned(),
    )
}

fn client_credentials(
    http: &reqwest::blocking::Client,
    node: &Node,
    secret: &str,
) -> reqwest::blocking::Response {
    http.post(format!("{}/token", node.base))
        .basic_auth("svc", Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap()
}

fn pkce() -> (String, String) {
    let verifier = "operations-test-verifier-0123456789-abcdefghijklmnop".to_owned();
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&verifier));
    (verifier, challenge)
}

/// After a known sequence of requests, the scrape shows exactly their
/// counts: tokens per grant type, OAuth errors per route and code (JSON
/// errors and an authorization response's redirect), statuses per route
/// (unknown paths as `other`), sign-ins per outcome, a code replay, the
/// password checks; and the probe's gauges say ready.
#[test]
fn a_scrape_counts_exactly_what_happened() {
    let (_dir, db) = temp_db();
    let node = Node::start(&db, &[]);
    let (_, secret) = service_client(&node);
    node.admin(&[
        "client",
        "create",
        "--id",
        "app",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--skip-consent",
    ]);
    common::admin(
        &db,
        &["user", "create", "alice", "--password-stdin"],
        Some("correct horse battery"),
    );
    let http = reqwest::blocking::Client::new();

    for _ in 0..3 {
        assert_eq!(client_credentials(&http, &node, &secret).status(), 200);
    }
    for _ in 0..2 {
        assert_eq!(client_credentials(&http, &node, "wrong").status(), 401);
    }
    let r = http
        .post(format!("{}/token", node.base))
        .basic_auth("svc", Some(&secret))
        .form(&[("grant_type", "password")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        http.get(format!("{}/no/such/path", node.base))
            .send()
            .unwrap()
            .status(),
        404
    );

    // prompt=none without a session: login_required, redirected.
    let (verifier, challenge) = pkce();
    let authorize = format!(
        "{}/authorize?response_type=code&client_id=app&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&scope=openid&state=s1&code_challenge={challenge}&code_challenge_method=S256",
        node.base
    );
    let page = Browser::new().get(&format!("{authorize}&prompt=none"));
    assert!(page.location.unwrap().contains("error=login_required"));

    // A wrong password, then the right one; the code redeemed twice.
    let mut browser = Browser::new();
    let page = browser.get(&authorize);
    let mut form = page.hidden_fields();
    form.push(("username".into(), "alice".into()));
    form.push(("password".into(), "wrong".into()));
    assert_eq!(
        browser.post(&format!("{}/login", node.base), &form).status,
        200
    );
    let to = browser.authorize(&node.base, &authorize, "alice", "correct horse battery");
    let code = url::Url::parse(&to)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let redeem = || {
        http.post(format!("{}/token", node.base))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", "app"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1/cb"),
                ("code_verifier", &verifier),
            ])
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(redeem(), 200);
    assert_eq!(redeem(), 400);

    let m = node.scrape();
    let tokens = "proofkey_tokens_issued_total";
    assert_eq!(
        m.get(tokens, &[("grant_type", "client_credentials")]),
        Some(3.0)
    );
    assert_eq!(
        m.get(tokens, &[("grant_type", "authorization_code")]),
        Some(1.0)
    );
    assert_eq!(m.count(tokens, &[("grant_type", "refresh_token")]), 0.0);
    let errors = "proofkey_oauth_errors_total";
    for (route, error, n) in [
        ("/token", "invalid_client", 2.0),
        ("/token", "unsupported_grant_type", 1.0),
        ("/token", "invalid_grant", 1.0),
        ("/authorize", "login_required", 1.0),
    ] {
        assert_eq!(
            m.get(errors, &[("endpoint", route), ("error", error)]),
            Some(n),
            "{route} {error}"
        );
    }
    let requests = "proofkey_http_requests_total";
    for (route, status, n) in [
        ("/token", "200", 4.0),
        ("/token", "401", 2.0),
        ("/token", "400", 2.0),
        ("other", "404", 1.0),
        ("/login", "200", 1.0),
    ] {
        assert_eq!(
            m.get(requests, &[("endpoint", route), ("status", status)]),
            Some(n),
            "{route} {status}"
        );
        assert_eq!(
            m.get(
                "proofkey_http_request_duration_seconds_count",
                &[("endpoint", route), ("status", status)]
            ),
            Some(n),
            "{route} {status} timed"
        );
    }
    let logins = "proofkey_logins_total";
    assert_eq!(m.get(logins, &[("outcome", "failure")]), Some(1.0));
    assert_eq!(m.get(logins, &[("outcome", "success")]), Some(1.0));
    assert_eq!(m.count(logins, &[("outcome", "locked")]), 0.0);
    assert_eq!(m.get("proofkey_code_replay_total", &[]), Some(1.0));
    assert_eq!(m.count("proofkey_refresh_token_reuse_total", &[]), 0.0);
    assert_eq!(
        m.get("proofkey_password_hash_duration_seconds_count", &[]),
        Some(2.0)
    );
    assert_eq!(m.get("proofkey_password_hash_in_progress", &[]), Some(0.0));
    assert_eq!(m.get("proofkey_ready", &[]), Some(1.0));
    assert_eq!(m.get("proofkey_database_up", &[]), Some(1.0));
    assert_eq!(m.get("proofkey_database_writes_failing", &[]), Some(0.0));
    assert!(m.get("proofkey_sqlite_batch_size_count", &[]).unwrap() >= 1.0);
    assert!(m
        .get("proofkey_signing_key_age_seconds", &[("alg", "RS256")])
        .is_some());
    assert!(m.get("process_resident_memory_bytes", &[]).unwrap() > 0.0);
    assert_eq!(
        m.get(
            "proofkey_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    // Every proofkey metric rendered is one of the documented ones.
    for series in m.0.keys().filter(|k| k.starts_with("proofkey_")) {
        let family = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| family.strip_suffix(s))
            .unwrap_or(family);
        assert!(
            proofkey_server::METRICS
                .iter()
                .any(|(n, _, _)| *n == family),
            "{family} is not in proofkey_server::METRICS (docs/operations.md)"
        );
    }
    // Nothing a client sent became a label.
    assert!(!m
        .0
        .keys()
        .any(|k| k.contains("no/such/path") || k.contains("wrong")));
    // The metrics are on their own listener only.
    assert_eq!(
        http.get(format!("{}/metrics", node.base))
            .send()
            .unwrap()
            .status(),
        404
    );
}

/// A small file system of its own, mounted by the test (it runs as root in
/// CI; without the privilege it fails, never skips), unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a tmpfs and needs root (CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

/// Fills the file system of `file` to the last byte.
fn fill(file: &Path) {
    let mut f = std::fs::File::create(file).unwrap();
    let chunk = vec![0xA5u8; 64 * 1024];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected: {e}");
                break;
            }
        }
    }
    // The last partial bytes.
    while f.write(&[0xA5]).is_ok_and(|n| n == 1) {}
    let _ = f.sync_all();
}

/// What the load's requests got, in order.
#[derive(Default)]
struct Outcomes {
    statuses: Mutex<Vec<(u16, Option<String>)>>,
}

/// The file system under the database fills up while clients keep asking
/// for tokens: writes fail, `/readyz` says why, every refused request gets
/// 503 with `Retry-After` at once, and a warning about low space is
/// logged. Then a little space is freed while the clients go on: the node
/// empties its write-ahead log first, admits work again by itself, and
/// keeps serving (the log does not fill the disk again); the database
/// passes its integrity check.
#[test]
fn a_full_disk_recovers_under_load_once_space_is_freed() {
    let fs = Tmpfs::mount("6m");
    let db = format!("sqlite://{}", fs.path().join("server.db").display());
    // A request that waited for the database instead of being refused
    // would wait a minute: longer than the load's client allows (10 s).
    let node = Arc::new(Node::start(&db, &["--database-acquire-timeout", "60s"]));
    let (_, secret) = service_client(&node);
    let filler = fs.path().join("filler");
    fill(&filler);

    let outcomes = Arc::new(Outcomes::default());
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (node, secret, outcomes, stop, sent) = (
                Arc::clone(&node),
                secret.clone(),
                Arc::clone(&outcomes),
                Arc::clone(&stop),
                Arc::clone(&sent),
            );
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                while !stop.load(Ordering::SeqCst) {
                    let r = client_credentials(&http, &node, &secret);
                    let retry = r
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_owned());
                    outcomes
                        .statuses
                        .lock()
                        .unwrap()
                        .push((r.status().as_u16(), retry));
                    sent.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();

    let readyz = || {
        let r = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap()
            .get(format!("{}/readyz", node.base))
            .send()
            .expect("/readyz answers at once, never after the acquire timeout (a minute)");
        (r.status().as_u16(), r.text().unwrap())
    };
    let wait_for = |ready: bool, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = readyz();
            if (status == 200) == ready {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: /readyz still says {status} {body}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let why = wait_for(false, "the full disk is noticed");
    assert!(
        why.starts_with("not ready: database writes are failing"),
        "{why}"
    );
    // Whatever space a recovery frees (the log's) the load takes again, until
    // the node is stuck: every request refused at once, with Retry-After.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        {
            let seen = outcomes.statuses.lock().unwrap();
            if seen.len() > 300 && seen[seen.len() - 300..].iter().all(|(s, _)| *s == 503) {
                for (status, retry) in seen.iter().filter(|(s, _)| *s != 200) {
                    assert_eq!(*status, 503);
                    assert!(retry.is_some(), "503 without Retry-After");
                }
                break;
            }
        }
        assert!(Instant::now() < deadline, "the disk never stays full");
        std::thread::sleep(Duration::from_millis(50));
    }
    let why = wait_for(false, "still not ready");
    assert_eq!(why, "not ready: database writes are failing\n");
    assert!(
        node.stderr().contains("disk space is low"),
        "{}",
        node.stderr()
    );
    // The operator's listener says what the database said, and the gauges
    // say it too. A recovery may free the log's space for a moment (the
    // load then takes it again), so each is read until seen, not once.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let detail = reqwest::blocking::get(node.metrics.replace("/metrics", "/readyz"))
            .unwrap()
            .text()
            .unwrap();
        let m = node.scrape();
        if detail.starts_with("not ready: database writes are failing: ")
            && detail.contains("full")
            && m.get("proofkey_database_writes_failing", &[]) == Some(1.0)
            && m.get("proofkey_ready", &[]) == Some(0.0)
        {
            assert!(m.get("proofkey_sqlite_disk_free_bytes", &[]).unwrap() < 1024.0 * 1024.0);
            break;
        }
        assert!(Instant::now() < deadline, "{detail}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Free 1 MiB while the clients go on.
    let size = std::fs::metadata(&filler).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(size - (1 << 20))
        .unwrap();
    wait_for(true, "the node recovers by itself");
    let recovered_from = outcomes.statuses.lock().unwrap().len();
    let target = sent.load(Ordering::SeqCst) + 400;
    let deadline = Instant::now() + Duration::from_secs(120);
    while sent.load(Ordering::SeqCst) < target {
        assert!(Instant::now() < deadline, "the load stalled");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    for t in load {
        t.join().unwrap();
    }
    let seen = outcomes.statuses.lock().unwrap();
    // A request or two in flight at the moment of recovery may have been
    // refused; after them, every one succeeds.
    let after: Vec<u16> = seen[recovered_from..].iter().map(|(s, _)| *s).collect();
    let failures = after.iter().skip(8).filter(|s| **s != 200).count();
    assert_eq!(
        failures,
        0,
        "after recovery: {:?}",
        &after[..after.len().min(50)]
    );
    assert!(after.len() >= 400);
    drop(seen);
    let (status, body) = readyz();
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    let m = node.scrape();
    assert!(
        m.count(
            "proofkey_store_errors_total",
            &[("backend", "sqlite"), ("kind", "refused")]
        ) > 0.0
    );
    assert_eq!(m.get("proofkey_database_writes_failing", &[]), Some(0.0));
    assert!(node.stderr().contains("database writes succeed again"));

    // The database is whole: an online backup of it passes the check.
    let out_dir = tempfile::tempdir().unwrap();
    let copy = out_dir.path().join("copy.db");
    let out = proofkey()
        .args(["backup", "--database", &db])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node = Arc::try_unwrap(node).ok().unwrap();
    drop(node);
}

/// `proofkey backup` copies the live database (0600, checked), refuses to
/// overwrite a file, and sends PostgreSQL users to pg_dump.
#[test]
fn backup_copies_a_live_database() {
    let (_dir, db) = temp_db();
    let node = Node::start(&db, &[]);
    service_client(&node);
    let out_dir = tempfile::tempdir().unwrap();
    let copy = out_dir.path().join("copy.db");
    let backup = |to: &Path, db: &str| {
        proofkey()
            .args(["backup", "--json", "--database", db])
            .arg(to)
            .output()
            .unwrap()
    };
    let out = backup(&copy, &db);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["bytes"], std::fs::metadata(&copy).unwrap().len());
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let c = rusqlite::Connection::open(&copy).unwrap();
    let clients: i64 = c
        .query_row("SELECT count(*) FROM clients WHERE id = 'svc'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(clients, 1, "the copy holds what the server wrote");
    let keys: i64 = c
        .query_row("SELECT count(*) FROM signing_keys", [], |r| r.get(0))
        .unwrap();
    assert!(keys >= 3);

    let again = backup(&copy, &db);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let pg = backup(
        &out_dir.path().join("pg.db"),
        "postgres://postgres@127.0.0.1/x",
    );
    assert_eq!(pg.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&pg.stderr).contains("pg_dump"));
    drop(node);
}

/// An address chosen for the metrics that cannot be bound stops the server;
/// the default one taken (a second node on the host) is a warning, and the
/// node serves without metrics; `off` serves none.
#[test]
fn the_metrics_address_rules() {
    let (_dir, db) = temp_db();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free_port();
    let out = serve_on(port, &db)
        .args(["--metrics-listen", &taken.local_addr().unwrap().to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot listen for metrics"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Hold the default address (other tests' servers may hold it a moment).
    let deadline = Instant::now() + Duration::from_secs(60);
    let default = loop {
        if let Ok(l) = std::net::TcpListener::bind("127.0.0.1:9464") {
            break l;
        }
        assert!(Instant::now() < deadline, "127.0.0.1:9464 stays taken");
        std::thread::sleep(Duration::from_millis(100));
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let port = free_port();
    let mut child = serve_on(port, &db)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_serving(port);
    terminate(&mut child);
    drop(default);
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(stderr.contains("metrics are not served"), "{stderr}");

    let port = free_port();
    let mut child = serve_on(port, &db)
        .args(["--metrics-listen", "off"])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_serving(port);
    terminate(&mut child);
    assert!(!std::fs::read_to_string(&log).unwrap().contains("metrics"));
}
