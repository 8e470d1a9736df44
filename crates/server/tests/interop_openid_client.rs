//! Interop with an independent client library: openid-client (npm, by
//! panva; v6 on oauth4webapi, installed in interop/node by ./test.sh) runs
//! a public client's whole life against the real server: discovery, a
//! pushed authorization request (RFC 9126) with PKCE S256 (RFC 7636) and a
//! DPoP proof (RFC 9449 §10.1), the code grant and a refresh with DPoP
//! proofs (§5), and UserInfo with DPoP-bound tokens (§7), with and without
//! server nonces (§8). The user's part, signing in on proofkey's pages, is
//! the test's `Browser`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use proofkey_core::model::ClientKind;
use proofkey_core::secret::hash_token;
use proofkey_core::{Clock as _, SystemClock};
use serde_json::Value;
use tokio::sync::mpsc;

/// How long the script may take to discover, push and print the URL.
const FIRST_LINE: Duration = Duration::from_secs(30);
/// How long it may take from the callback to its final report.
const FINAL_LINE: Duration = Duration::from_secs(60);
/// How long it may take to exit after its report.
const EXIT: Duration = Duration::from_secs(10);
/// How much of its stderr is kept for a failure's message.
const STDERR_CAP: usize = 64 * 1024;

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/node")
}

/// Why the peer cannot run here, if it cannot.
fn missing_peer() -> Option<String> {
    let dir = interop_dir();
    let version = match Command::new("node").arg("--version").output() {
        Err(e) => return Some(format!("node is not installed ({e})")),
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    };
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 20 {
        return Some(format!(
            "openid-client v6 needs Node.js 20 or later, found {version:?}"
        ));
    }
    if !dir.join("node_modules/openid-client/package.json").exists() {
        return Some(format!(
            "openid-client is not installed; run: npm ci --prefix {}",
            dir.display()
        ));
    }
    None
}

/// True when the peer can run; otherwise says so loudly, and fails when
/// PROOFKEY_REQUIRE_INTEROP is set (as ./test.sh and CI do).
fn peer_available() -> bool {
    let Some(why) = missing_peer() else {
        return true;
    };
    let msg = format!("\n\n*** openid-client interop test NOT RUN: {why} ***\n\n");
    if std::env::var_os("PROOFKEY_REQUIRE_INTEROP").is_some() {
        panic!("{msg}");
    }
    eprintln!("{msg}");
    false
}

/// The running script: its stdout lines come through a bounded channel
/// (read by a thread), its stderr is kept for failure messages, and it is
/// killed on drop, whatever the test's outcome.
struct Script {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Script {
    fn spawn(issuer: &str, client_id: &str, redirect_uri: &str) -> Self {
        let mut child = Command::new("node")
            .arg("openid-client-dpop-par.mjs")
            .args([issuer, client_id, redirect_uri])
            .env("OC_STDIN_TIMEOUT_MS", FINAL_LINE.as_millis().to_string())
            .current_dir(interop_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel(16);
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                if tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let kept = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut kept = kept.lock().unwrap();
                if kept.len() < STDERR_CAP {
                    kept.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        Script {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next stdout line, as JSON, within `limit`.
    async fn next_json(&mut self, limit: Duration, what: &str) -> Value {
        let line = match tokio::time::timeout(limit, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => {
                // Closed: it exited; give its stderr a moment to arrive.
                let _ = self.wait(Duration::from_secs(2)).await;
                panic!(
                    "openid-client exited before printing {what}; stderr:\n{}",
                    self.stderr()
                )
            }
            Err(_) => panic!(
                "openid-client printed no {what} within {limit:?}; stderr:\n{}",
                self.stderr()
            ),
        };
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\nstderr:\n{}", self.stderr()))
    }

    fn send_line(&mut self, line: &str) {
        let mut stdin = self.stdin.take().expect("stdin is still open");
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Its exit status, within `limit`.
    async fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signs in as alice on proofkey's pages, from the authorization URL to
/// the redirect to the client; returns that redirect's URL.
async fn sign_in(s: &TestServer, url: &str) -> String {
    let mut b = s.browser();
    let mut page = b.get(url).await;
    for _ in 0..6 {
        if page.status == 303 {
            let loc = page.location().unwrap();
            if loc.starts_with('/') {
                page = b.get(&s.url(&loc)).await;
                continue;
            }
            assert!(loc.starts_with(REDIRECT), "a redirect elsewhere: {loc}");
            return loc;
        }
        assert_eq!(page.status, 200, "{}", page.body);
        // skip_consent: the login form is the only page there may be.
        assert!(
            page.body.contains("name=\"password\""),
            "not the login page: {}",
            page.body
        );
        page = b.login(&s.base, &page, "alice", PASSWORD).await;
    }
    panic!("no redirect to the client");
}

/// Moves the server's manual clock along with the real one, for as long
/// as the test runs: openid-client's proofs carry the real time, and the
/// server takes an `iat` at most `DpopPolicy::LEEWAY` (5 s) ahead of its
/// own clock, which a slow sign-in on a busy machine would otherwise pass.
fn keep_clock_in_step(s: &TestServer) {
    let clock = s.clock.clone();
    tokio::spawn(async move {
        loop {
            let behind = SystemClock.now() - clock.now();
            if behind > 0 {
                clock.advance(behind);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

/// The query of `url` as pairs.
fn query(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The script's exchanges with `method` and `path`, in order.
fn exchanges<'a>(result: &'a Value, method: &str, path: &str) -> Vec<&'a Value> {
    result["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["method"] == method && e["path"] == path)
        .collect()
}

/// How many of `es` succeeded.
fn succeeded(es: &[&Value]) -> usize {
    es.iter()
        .filter(|e| e["status"].as_u64().is_some_and(|st| st < 300))
        .count()
}

/// Runs openid-client's PAR + DPoP + PKCE + refresh flow against a fresh
/// server (`nonces`: whether the server demands DPoP nonces) and checks
/// what the library saw and what the server stored.
async fn par_dpop_pkce_refresh(nonces: bool) {
    if !peer_available() {
        return;
    }
    let s = TestServer::start_with(|c| c.dpop.nonce = nonces).await;
    s.client_with("oc", ClientKind::Public, &[REDIRECT], |c| {
        c.skip_consent = true;
        c.require_pushed_authorization_requests = true;
        c.dpop_bound_access_tokens = true;
        c.scopes = vec!["openid".into(), "offline_access".into()];
        c.grant_types = vec!["authorization_code".into(), "refresh_token".into()];
    })
    .await;
    s.user("alice").await;
    keep_clock_in_step(&s);

    let mut script = Script::spawn(&s.base, "oc", REDIRECT);
    let first = script.next_json(FIRST_LINE, "the authorization URL").await;
    let url = first["authorization_url"].as_str().unwrap().to_owned();
    let jkt = first["jkt"].as_str().unwrap().to_owned();

    // RFC 9126 §4: the front channel carries client_id and request_uri only.
    assert!(url.starts_with(&s.url("/authorize?")), "{url}");
    let front = query(&url);
    let mut names: Vec<&str> = front.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["client_id", "request_uri"], "{url}");
    assert_eq!(get(&front, "client_id"), Some("oc"));
    let request_uri = get(&front, "request_uri").unwrap().to_owned();

    // What was pushed: PKCE S256, and the code bound to the DPoP key
    // (RFC 9449 §10.1: the proof at /par stands for dpop_jkt).
    let pushed = s
        .store
        .get_pushed_request(&hash_token(&request_uri), s.clock.now())
        .await
        .unwrap()
        .expect("the pushed request is stored");
    assert_eq!(pushed.client_id, "oc");
    let params: Vec<(String, String)> = form_urlencoded::parse(pushed.params.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(get(&params, "code_challenge_method"), Some("S256"));
    assert_eq!(get(&params, "code_challenge").map(str::len), Some(43));
    assert_eq!(get(&params, "redirect_uri"), Some(REDIRECT));
    assert_eq!(get(&params, "scope"), Some("openid offline_access"));
    assert!(get(&params, "state").is_some_and(|st| !st.is_empty()));
    assert_eq!(get(&params, "dpop_jkt"), Some(jkt.as_str()), "{params:?}");

    let callback = sign_in(&s, &url).await;
    let back = query(&callback);
    assert_eq!(get(&back, "iss"), Some(s.base.as_str()), "{callback}");
    assert!(get(&back, "code").is_some(), "{callback}");
    script.send_line(&callback);

    let last = script.next_json(FINAL_LINE, "its report").await;
    let status = script.wait(EXIT).await;
    assert!(
        status.is_some_and(|st| st.success()),
        "openid-client: {status:?}\n{}",
        script.stderr()
    );
    let r = &last["result"];
    eprintln!(
        "openid-client {} against proofkey (nonces: {nonces}): {}",
        r["openid_client"],
        serde_json::to_string(&r["exchanges"]).unwrap()
    );

    // What the library saw.
    assert_eq!(r["issuer"], s.base);
    assert_eq!(r["jkt"], jkt);
    assert_eq!(r["token_type"], "DPoP");
    assert_eq!(r["refreshed_token_type"], "DPoP");
    // oauth4webapi lowercases token_type (the scheme is case-insensitive).
    assert_eq!(r["library_token_type"], "dpop");
    assert_eq!(r["library_refreshed_token_type"], "dpop");
    assert_eq!(r["id_token_sub"], "sub-alice");
    assert_eq!(r["userinfo_sub"], "sub-alice");
    assert_eq!(r["refreshed_userinfo_sub"], "sub-alice");
    assert_eq!(r["refresh_token_present"], true);
    assert_eq!(r["refreshed_refresh_token_present"], true, "rotation");
    assert_eq!(r["access_token_cnf_jkt"], jkt);
    assert_eq!(r["refreshed_access_token_cnf_jkt"], jkt);

    // On the wire: every request after discovery carried a proof by the
    // key, for its own method and URL; UserInfo with `Authorization: DPoP`
    // and `ath`.
    let all = r["exchanges"].as_array().unwrap();
    for e in all
        .iter()
        .filter(|e| e["path"] != "/.well-known/openid-configuration")
    {
        let proof = &e["dpop"];
        assert_eq!(proof["typ"], "dpop+jwt", "{e}");
        assert_eq!(proof["alg"], "ES256", "{e}");
        assert_eq!(proof["htm"], e["method"], "{e}");
        assert_eq!(proof["htu"], s.url(e["path"].as_str().unwrap()), "{e}");
        assert_eq!(
            proof["nonce"].is_string(),
            nonces && e["error"] != "use_dpop_nonce",
            "a nonce exactly when the server asks for them: {e}"
        );
    }
    let par = exchanges(r, "POST", "/par");
    assert_eq!(succeeded(&par), 1, "{par:?}");
    assert_eq!(par.last().unwrap()["status"], 201, "{par:?}");
    let token = exchanges(r, "POST", "/token");
    assert_eq!(succeeded(&token), 2, "code, then refresh: {token:?}");
    let userinfo = exchanges(r, "GET", "/userinfo");
    assert_eq!(succeeded(&userinfo), 2, "{userinfo:?}");
    for e in &userinfo {
        assert_eq!(e["authorization_scheme"], "DPoP", "{e}");
        assert_eq!(e["dpop"]["ath"], true, "{e}");
    }
    let retried: Vec<&Value> = all
        .iter()
        .filter(|e| e["error"] == "use_dpop_nonce")
        .collect();
    if nonces {
        // §8: the first proof (at /par) has no nonce; the server answers
        // 400 use_dpop_nonce with one, openid-client retries with it and
        // keeps using it.
        assert_eq!(par.len(), 2, "{par:?}");
        assert_eq!(par[0]["status"], 400, "{par:?}");
        assert_eq!(par[0]["dpop_nonce_header"], true, "{par:?}");
        assert!(!retried.is_empty());
        for e in &retried {
            assert_eq!(e["dpop_nonce_header"], true, "{e}");
        }
    } else {
        assert!(retried.is_empty(), "{retried:?}");
        assert_eq!(
            all.len(),
            6,
            "discovery, par, token x2, userinfo x2: {all:?}"
        );
    }

    // What the server stored: both access tokens live, alice's, for oc;
    // the first refresh token rotated; its successor live and bound to the
    // key (RFC 9449 §5: a public client's refresh token); the pushed
    // request used up (RFC 9126 §4: one time).
    let now = s.clock.now();
    for jti in [&r["access_token_jti"], &r["refreshed_access_token_jti"]] {
        let at = s
            .store
            .get_access_token(jti.as_str().unwrap(), now)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("access token {jti} is live"));
        assert_eq!(
            (at.client_id.as_str(), at.user_id.as_str()),
            ("oc", "sub-alice")
        );
        assert_eq!(at.scope, "openid offline_access");
    }
    let first_rt = s
        .store
        .find_refresh_token(&hash_token(r["refresh_token"].as_str().unwrap()))
        .await
        .unwrap()
        .unwrap();
    assert!(
        first_rt.rotated_at.is_some(),
        "the first refresh token was rotated"
    );
    assert_eq!(first_rt.record.dpop_jkt.as_deref(), Some(jkt.as_str()));
    let second_rt = s
        .store
        .get_refresh_token(
            &hash_token(r["refreshed_refresh_token"].as_str().unwrap()),
            now,
        )
        .await
        .unwrap()
        .expect("the new refresh token is live");
    assert_eq!(second_rt.dpop_jkt.as_deref(), Some(jkt.as_str()));
    assert_eq!(second_rt.grant_id, first_rt.record.grant_id, "one family");
    assert!(s
        .store
        .get_pushed_request(&hash_token(&request_uri), now)
        .await
        .unwrap()
        .is_none());
}

/// With `dpop_nonce = true`: openid-client's `use_dpop_nonce` retry
/// (RFC 9449 §8) at the PAR endpoint, then the nonce on every proof.
#[tokio::test]
async fn openid_client_par_dpop_pkce_refresh_with_server_nonces() {
    par_dpop_pkce_refresh(true).await;
}

/// Without server nonces: no retry, six exchanges.
#[tokio::test]
async fn openid_client_par_dpop_pkce_refresh_without_nonces() {
    par_dpop_pkce_refresh(false).await;
}
