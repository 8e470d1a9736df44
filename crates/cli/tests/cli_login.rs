//! `proofkey login`, `token`, `logout`, `status` as processes against a
//! running `proofkey serve`, the browser step done by an HTTP client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufReader, Read as _};
use std::process::{Command, Stdio};

use common::*;

const PASSWORD: &str = "a long enough password";

fn setup() -> Server {
    let s = Server::start(&["--device-poll-interval", "1s"]);
    s.cli_client(
        "cli",
        &[
            "--grant-type",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
    );
    s.user("alice", PASSWORD);
    s
}

fn client_cmd(s: &Server, cfg: &std::path::Path) -> Command {
    let mut c = proofkey();
    c.env("PROOFKEY_CONFIG_DIR", cfg).current_dir(s.dir.path());
    c
}

/// Reads stderr lines until one satisfies `f`; returns everything read.
fn read_until(r: &mut impl std::io::BufRead, f: impl Fn(&str) -> bool) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "stderr ended: {all}");
        all.push_str(&line);
        if f(&line) {
            return all;
        }
    }
}

/// Starts `proofkey login ARGS` with stderr piped, and reads it up to the
/// authorization URL it prints; the process, its stderr, and the URL.
/// `proofkey login --issuer (the server) --client-id CLIENT --no-browser
/// --profile PROFILE EXTRA...`, started: it, its stderr, and the
/// authorization URL it printed.
fn start_login(
    s: &Server,
    cfg: &std::path::Path,
    client: &str,
    profile: &str,
    extra: &[&str],
) -> (
    std::process::Child,
    BufReader<std::process::ChildStderr>,
    String,
) {
    let mut login = client_cmd(s, cfg)
        .arg("login")
        .args(["--issuer", &s.base, "--client-id", client, "--no-browser"])
        .args(["--profile", profile])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(login.stderr.take().unwrap());
    let printed = read_until(&mut err, |l| l.contains("/authorize?"));
    let url = printed
        .split_whitespace()
        .find(|w| w.contains("/authorize?"))
        .unwrap()
        .to_owned();
    (login, err, url)
}

fn userinfo_status(s: &Server, at: &str) -> u16 {
    reqwest::blocking::Client::new()
        .get(format!("{}/userinfo", s.base))
        .bearer_auth(at)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// `proofkey token --profile work ARGS`, which must succeed quietly: what
/// it printed, trimmed.
fn token_ok(s: &Server, cfg: &std::path::Path, args: &[&str]) -> String {
    let out = client_cmd(s, cfg)
        .args(["token", "--profile", "work"])
        .args(args)
        .output()
        .unwrap();
    ok(out, "proofkey token").trim().to_owned()
}

/// `proofkey token --profile work ARGS` from 8 processes at once, each of
/// which must succeed with nothing on stderr: the tokens they printed.
fn tokens_at_once(
    s: &Server,
    cfg: &std::path::Path,
    args: &[&str],
) -> std::collections::HashSet<String> {
    let children: Vec<_> = (0..8)
        .map(|_| {
            client_cmd(s, cfg)
                .args(["token", "--profile", "work"])
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            assert!(
                o.stderr.is_empty(),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        })
        .collect()
}

fn token(s: &Server, cfg: &std::path::Path, profile: &str) -> std::process::Output {
    client_cmd(s, cfg)
        .args(["token", "--profile", profile])
        .output()
        .unwrap()
}

#[test]
fn login_token_status_concurrent_refresh_and_logout() {
    let s = setup();
    let cfg = s.dir.path().join("cfg");
    let (mut login, mut err, url) = start_login(
        &s,
        &cfg,
        "cli",
        "work",
        &[
            // Bearer tokens and a front-channel request here; DPoP and PAR
            // (the defaults where offered) below.
            "--no-dpop",
            "--no-par",
        ],
    );
    assert!(url.contains("code_challenge_method=S256"));

    let mut b = Browser::new();
    let redirect = b.authorize(&s.base, &url, "alice", PASSWORD);
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    // Landing on the CLI's loopback listener completes the login.
    let landing = reqwest::blocking::get(&redirect).unwrap();
    assert_eq!(landing.status(), 200);
    assert!(login.wait().unwrap().success());
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("Logged in to"), "{rest}");

    // The token file: mode 0600.
    let file = cfg.join("tokens").join("work.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let out = token(&s, &cfg, "work");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at1 = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(userinfo_status(&s, &at1), 200);

    let status = client_cmd(&s, &cfg)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["profiles"][0]["profile"], "work");
    assert_eq!(v["profiles"][0]["issuer"], s.base);
    assert_eq!(v["profiles"][0]["refresh_token"], true);

    // Make the access token look nearly expired, then ask from 8 processes
    // at once: one refreshes (a second refresh would be reuse and revoke
    // everything), all print the same new token.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let expire_in = |secs: i64| {
        let mut stored: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        stored["tokens"]["expires_at"] = (now + secs).into();
        std::fs::write(&file, serde_json::to_vec(&stored).unwrap()).unwrap();
    };
    expire_in(10);
    let tokens = tokens_at_once(&s, &cfg, &[]);
    assert_eq!(tokens.len(), 1, "every caller got the same token");
    let at2 = tokens.into_iter().next().unwrap();
    assert_ne!(at2, at1, "it was refreshed");
    assert_eq!(userinfo_status(&s, &at2), 200);

    // --json prints the whole set.
    let j = client_cmd(&s, &cfg)
        .args(["token", "--profile", "work", "--json"])
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(j["access_token"], at2.as_str());
    assert!(j["refresh_token"].is_string());

    // --min-valid: a token with 4 minutes left is kept by a plain call...
    expire_in(240);
    let out = token(&s, &cfg, "work");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), at2, "kept");
    // ... and refreshed, once, for 8 callers at once that each need 5.
    let tokens = tokens_at_once(&s, &cfg, &["--min-valid", "5m"]);
    // A second refresh would have handed later callers a newer token (and
    // been refresh-token reuse): one token for all means one refresh.
    assert_eq!(tokens.len(), 1, "one refresh among concurrent callers");
    let at3 = tokens.into_iter().next().unwrap();
    assert_ne!(at3, at2, "refreshed for --min-valid");
    assert_eq!(userinfo_status(&s, &at3), 200);
    // --force-refresh refreshes a fresh token.
    let at4 = token_ok(&s, &cfg, &["--force-refresh"]);
    assert_ne!(at4, at3, "forced");
    assert_eq!(userinfo_status(&s, &at4), 200);
    // More than the server's tokens live (10 minutes by default): a fresh
    // token all the same, and a word on stderr.
    let out = client_cmd(&s, &cfg)
        .args(["token", "--profile", "work", "--min-valid", "1h"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("less than --min-valid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = client_cmd(&s, &cfg)
        .args(["token", "--profile", "work", "--min-valid", "soon"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));

    kubectl_uses_the_exec_plugin(&s, &cfg);

    // Logout revokes and deletes.
    let out = client_cmd(&s, &cfg)
        .args(["logout", "--profile", "work"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(userinfo_status(&s, &at2), 401);
    assert!(!file.exists());
    let out = token(&s, &cfg, "work");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("proofkey login"));
}

#[test]
fn device_login() {
    let s = setup();
    let cfg = s.dir.path().join("cfg");
    let mut login = client_cmd(&s, &cfg)
        .args([
            "login",
            "--issuer",
            &s.base,
            "--client-id",
            "cli",
            "--device",
            "--profile",
            "tv",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(login.stderr.take().unwrap());
    let printed = read_until(&mut err, |l| l.contains("enter the code"));
    let code = printed.split_whitespace().last().unwrap().to_owned();
    assert!(printed.contains(&format!("{}/device", s.base)));
    let done = Browser::new().approve_device(&s.base, &code, "alice", PASSWORD);
    assert!(done.body.contains("Device connected"), "{}", done.body);
    assert!(login.wait().unwrap().success());
    let out = token(&s, &cfg, "tv");
    assert!(out.status.success());
}

#[test]
fn paste_mode_and_a_tampered_paste() {
    let s = setup();
    let cfg = s.dir.path().join("cfg");
    let mut login = client_cmd(&s, &cfg)
        .args([
            "login",
            "--issuer",
            &s.base,
            "--client-id",
            "cli",
            "--paste",
            "--profile",
            "p",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(login.stderr.take().unwrap());
    let printed = read_until(&mut err, |l| l.contains("/authorize?"));
    let url = printed
        .split_whitespace()
        .find(|w| w.contains("/authorize?"))
        .unwrap()
        .to_owned();
    let redirect = Browser::new().authorize(&s.base, &url, "alice", PASSWORD);
    // Tamper with state: refused.
    let tampered = redirect.replace("state=", "state=x");
    use std::io::Write as _;
    writeln!(login.stdin.take().unwrap(), "{tampered}").unwrap();
    assert_eq!(login.wait().unwrap().code(), Some(1));
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("wrong state"), "{rest}");
}

#[test]
fn remote_sessions_get_the_ssh_forwarding_line_and_timeouts_are_clear() {
    let s = setup();
    let cfg = s.dir.path().join("cfg");
    let port = free_port().to_string();
    let out = client_cmd(&s, &cfg)
        .args([
            "login",
            "--issuer",
            &s.base,
            "--client-id",
            "cli",
            "--no-browser",
            "--timeout",
            "1s",
            "--port",
            &port,
        ])
        .env("SSH_CONNECTION", "10.0.0.2 50000 10.0.0.1 22")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ssh -L "), "{err}");
    assert!(err.contains("10.0.0.1"), "{err}");
    assert!(
        err.contains(&format!("ssh -L {port}:127.0.0.1:{port}")),
        "--port is used: {err}"
    );
    assert!(err.contains("no authorization response within 1s"), "{err}");
}

#[test]
fn the_keyring_store_is_used_or_fails_clearly_never_silently_a_file() {
    let s = setup();
    let cfg = s.dir.path().join("cfg");
    let (mut login, mut err, url) = start_login(&s, &cfg, "cli", "kr", &["--store", "keyring"]);
    let redirect = Browser::new().authorize(&s.base, &url, "alice", PASSWORD);
    reqwest::blocking::get(&redirect).unwrap();
    let status = login.wait().unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    let file = cfg.join("tokens").join("kr.json");
    if status.success() {
        // A working keyring: the profile file carries no tokens.
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains("\"keyring\"") && text.contains("\"tokens\": null"),
            "{text}"
        );
        assert!(token(&s, &cfg, "kr").status.success());
        assert!(client_cmd(&s, &cfg)
            .args(["logout", "--profile", "kr"])
            .status()
            .unwrap()
            .success());
    } else {
        assert_eq!(status.code(), Some(1));
        assert!(rest.contains("OS keyring"), "{rest}");
        assert!(!file.exists(), "no fallback to a file");
    }
}

/// Where the server offers them, `login` pushes its request (RFC 9126) and
/// binds every token to a DPoP key kept in the profile (RFC 9449); `token
/// --dpop-proof-for` gives a script the two headers; refreshes prove the
/// key; a refresh token copied out of the file is useless without it.
#[test]
fn login_with_dpop_and_par_binds_every_token_to_the_profiles_key() {
    let s = setup();
    let cfg = s.dir.path().join("cfg");
    let (mut login, _err, url) = start_login(&s, &cfg, "cli", "bound", &[]);
    // Pushed: the browser carries the reference only.
    assert!(url.contains("request_uri=urn"), "{url}");
    assert!(!url.contains("code_challenge"), "{url}");
    let redirect = Browser::new().authorize(&s.base, &url, "alice", PASSWORD);
    assert_eq!(reqwest::blocking::get(&redirect).unwrap().status(), 200);
    assert!(login.wait().unwrap().success());

    let file = cfg.join("tokens").join("bound.json");
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(stored["tokens"]["token_type"], "DPoP");
    let key = stored["tokens"]["dpop_key"].as_str().unwrap().to_owned();

    // The key is never printed: not by token, --json or status.
    let j = client_cmd(&s, &cfg)
        .args(["token", "--profile", "bound", "--json"])
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(j["token_type"], "DPoP");
    let jkt = j["dpop_jkt"].as_str().unwrap().to_owned();
    let at = j["access_token"].as_str().unwrap().to_owned();
    let status = client_cmd(&s, &cfg).args(["status"]).output().unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("DPoP-bound"), "{status}");
    for out in [j.to_string(), status.to_string()] {
        assert!(!out.contains(&key), "the private key leaked: {out}");
    }
    // As a bearer token, the access token is refused (RFC 9449 §7.2).
    assert_eq!(userinfo_status(&s, &at), 401);

    // --dpop-proof-for: the header pair for one request, as curl -H @- reads it.
    let headers = |target: &str| {
        let out = client_cmd(&s, &cfg)
            .args(["token", "--profile", "bound", "--dpop-proof-for", target])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let call_userinfo = |lines: &str| {
        let mut req = reqwest::blocking::Client::new().get(format!("{}/userinfo", s.base));
        for line in lines.lines() {
            let (name, value) = line.split_once(": ").unwrap();
            req = req.header(name, value);
        }
        req.send().unwrap().status().as_u16()
    };
    // The README's example, as is: proofkey token ... | curl -H @- URL.
    let userinfo = format!("{}/userinfo", s.base);
    let piped = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "\"$PROOFKEY\" token --profile bound --dpop-proof-for 'GET {userinfo}' | curl -sS -H @- -o /dev/null -w '%{{http_code}}' {userinfo}"
        ))
        .env("PROOFKEY", env!("CARGO_BIN_EXE_proofkey"))
        .env("PROOFKEY_CONFIG_DIR", &cfg)
        .output()
        .expect("curl (Debian's package) runs the README's example");
    assert_eq!(
        String::from_utf8_lossy(&piped.stdout),
        "200",
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
    let pair = headers(&format!("GET {}/userinfo", s.base));
    assert!(
        pair.starts_with(&format!("Authorization: DPoP {at}\nDPoP: ")),
        "{pair}"
    );
    assert_eq!(call_userinfo(&pair), 200);
    assert_eq!(call_userinfo(&pair), 401, "a proof is good once");
    // A proof for another request does not do for this one.
    assert_eq!(
        call_userinfo(&headers(&format!("POST {}/userinfo", s.base))),
        401
    );
    let bad = client_cmd(&s, &cfg)
        .args([
            "token",
            "--profile",
            "bound",
            "--dpop-proof-for",
            "userinfo",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));

    // A thief with the refresh token but not the key gets nothing.
    let rt = stored["tokens"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let stolen = reqwest::blocking::Client::new()
        .post(format!("{}/token", s.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "cli"),
            ("refresh_token", &rt),
        ])
        .send()
        .unwrap();
    assert_eq!(stolen.status(), 400);
    let body: serde_json::Value = stolen.json().unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");

    // The owner's refresh (the token nearly expired) proves the key, and
    // the new tokens are bound to the same key.
    let mut stored = stored;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    stored["tokens"]["expires_at"] = (now + 10).into();
    std::fs::write(&file, serde_json::to_vec(&stored).unwrap()).unwrap();
    let j = client_cmd(&s, &cfg)
        .args(["token", "--profile", "bound", "--json"])
        .output()
        .unwrap();
    assert!(j.status.success(), "{}", String::from_utf8_lossy(&j.stderr));
    let j: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_ne!(j["access_token"], at.as_str(), "refreshed");
    assert_eq!(j["token_type"], "DPoP");
    assert_eq!(j["dpop_jkt"], jkt.as_str());
    assert_eq!(
        call_userinfo(&headers(&format!("GET {}/userinfo", s.base))),
        200
    );

    // --no-dpop and --no-par where the client insists on neither still work
    // (covered above); logout revokes the bound family.
    assert!(client_cmd(&s, &cfg)
        .args(["logout", "--profile", "bound"])
        .status()
        .unwrap()
        .success());
}

/// The loopback page (issue 16): the browser's request, what it was
/// answered, and the login's end.
struct Landing {
    status: u16,
    csp: String,
    body: String,
}

fn land(redirect: &str) -> Landing {
    let resp = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(150))
        .build()
        .unwrap()
        .get(redirect)
        .send()
        .unwrap();
    let csp = resp
        .headers()
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    Landing {
        status: resp.status().as_u16(),
        csp,
        body: resp.text().unwrap(),
    }
}

/// What every loopback page is: the outcome on `<main>` (the browser
/// tests' contract), a strict CSP, no script.
fn assert_page(l: &Landing, outcome: &str) {
    assert!(
        l.body
            .contains(&format!("<main data-outcome=\"{outcome}\">")),
        "{outcome}: {}",
        l.body
    );
    assert!(
        l.csp
            .starts_with("default-src 'none'; style-src 'unsafe-inline'"),
        "{}",
        l.csp
    );
    assert!(!l.body.contains("<script"), "{}", l.body);
}

fn rest_of(mut err: BufReader<std::process::ChildStderr>) -> String {
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    rest
}

/// Success is said only once the code is redeemed, the ID token checked
/// and the tokens stored (the file is there when the page arrives); the
/// page, `login` and `status` name the user (`name`, else `email`).
#[test]
fn the_success_page_comes_after_the_stored_login_and_names_the_user() {
    let s = setup();
    s.admin(
        &[
            "user",
            "update",
            "alice",
            "--name",
            "Alice Liddell",
            "--email",
            "alice@example.com",
        ],
        None,
    );
    let cfg = s.dir.path().join("cfg");
    let (mut login, err, url) = start_login(&s, &cfg, "cli", "named", &[]);
    assert!(url.contains("request_uri="), "the default: PAR");
    let redirect = Browser::new().authorize(&s.base, &url, "alice", PASSWORD);
    let landing = land(&redirect);
    assert!(
        cfg.join("tokens").join("named.json").exists(),
        "stored before the page was answered"
    );
    assert_eq!(landing.status, 200);
    assert_page(&landing, "success");
    assert!(
        landing.body.contains("signed in as Alice Liddell"),
        "{}",
        landing.body
    );
    assert!(login.wait().unwrap().success());
    let rest = rest_of(err);
    assert!(rest.contains(" as Alice Liddell (profile named)"), "{rest}");

    let status = client_cmd(&s, &cfg).args(["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("as Alice Liddell"), "{text}");
    let j = client_cmd(&s, &cfg)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(j["profiles"][0]["account"], "Alice Liddell");

    // A profile file from before the account was kept still says who,
    // from its ID token's claims (here, only the subject).
    let file = cfg.join("tokens").join("named.json");
    let mut stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    stored.as_object_mut().unwrap().remove("account");
    std::fs::write(&file, serde_json::to_vec(&stored).unwrap()).unwrap();
    let j = client_cmd(&s, &cfg)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    let account = j["profiles"][0]["account"].as_str().unwrap();
    assert!(!account.is_empty() && account != "Alice Liddell", "{j}");
}

/// The user says no at the consent page: the page says access was
/// denied, the technical error apart; nothing is stored; exit 1.
#[test]
fn access_denied_gets_a_failure_page() {
    let s = setup();
    s.admin(
        &[
            "client",
            "create",
            "--id",
            "asks",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--grant-type",
            "authorization_code",
        ],
        None,
    );
    let cfg = s.dir.path().join("cfg");
    let (mut login, err, url) = start_login(&s, &cfg, "asks", "denied", &["--scope", "openid"]);
    let mut b = Browser::new();
    let mut page = b.get(&url);
    let redirect = loop {
        if let Some(loc) = page.location.clone() {
            if loc.starts_with('/') {
                page = b.get(&format!("{}{loc}", s.base));
                continue;
            }
            break loc;
        }
        let mut form = page.hidden_fields();
        if page.body.contains("name=\"password\"") {
            form.push(("username".into(), "alice".into()));
            form.push(("password".into(), PASSWORD.into()));
            page = b.post(&format!("{}/login", s.base), &form);
        } else {
            form.push(("decision".into(), "deny".into()));
            page = b.post(&format!("{}/consent", s.base), &form);
        }
    };
    assert!(redirect.contains("error=access_denied"), "{redirect}");
    let landing = land(&redirect);
    assert_eq!(landing.status, 400);
    assert_page(&landing, "failure");
    assert!(
        landing.body.contains("Access was denied"),
        "{}",
        landing.body
    );
    let details = landing.body.split("<details>").nth(1).expect("details");
    assert!(details.contains("access_denied"), "{details}");
    assert_eq!(login.wait().unwrap().code(), Some(1));
    assert!(rest_of(err).contains("access_denied"));
    assert!(!cfg.join("tokens").join("denied.json").exists());
}

/// A redirect whose `state` is not the login's: refused before anything
/// else, the page says so, exit 1, nothing stored.
#[test]
fn a_wrong_state_gets_a_failure_page() {
    let s = setup();
    let cfg = s.dir.path().join("cfg");
    let (mut login, err, url) = start_login(&s, &cfg, "cli", "forged", &[]);
    let redirect = Browser::new().authorize(&s.base, &url, "alice", PASSWORD);
    let landing = land(&redirect.replace("state=", "state=forged"));
    assert_eq!(landing.status, 400);
    assert_page(&landing, "failure");
    assert!(landing.body.contains("does not belong"), "{}", landing.body);
    assert!(
        landing.body.contains("wrong state"),
        "technical detail: {}",
        landing.body
    );
    assert_eq!(login.wait().unwrap().code(), Some(1));
    assert!(rest_of(err).contains("wrong state"));
    assert!(!cfg.join("tokens").join("forged.json").exists());
}

/// A response that passes every check but whose code cannot be redeemed
/// (its user was disabled meanwhile, which revoked the grant): the page
/// waited for the token endpoint and says the sign-in failed.
#[test]
fn a_code_the_token_endpoint_refuses_gets_a_failure_page() {
    let s = setup();
    let cfg = s.dir.path().join("cfg");
    let (mut login, err, url) = start_login(&s, &cfg, "cli", "late", &[]);
    let redirect = Browser::new().authorize(&s.base, &url, "alice", PASSWORD);
    s.admin(&["user", "disable", "alice"], None);
    let landing = land(&redirect);
    assert_eq!(landing.status, 400);
    assert_page(&landing, "failure");
    assert!(
        landing.body.contains("could not obtain access"),
        "{}",
        landing.body
    );
    assert!(landing.body.contains("invalid_grant"), "{}", landing.body);
    assert_eq!(login.wait().unwrap().code(), Some(1));
    assert!(rest_of(err).contains("invalid_grant"));
    assert!(!cfg.join("tokens").join("late.json").exists());
}

/// kubectl itself runs `proofkey token --format k8s-exec` as its exec
/// credential plugin and sends the token to an API server (a TLS stand-in
/// here that reports the `Authorization` headers it gets); `--id-token`
/// sends the ID token. Fails, never skips, without kubectl.
fn kubectl_uses_the_exec_plugin(s: &Server, cfg: &std::path::Path) {
    use std::io::BufRead as _;
    let version = Command::new("kubectl")
        .args(["version", "--client", "-o", "json"])
        .output()
        .expect("kubectl must be installed (.ci/run installs it)");
    let version: serde_json::Value = serde_json::from_slice(&version.stdout).unwrap();
    let minor: u32 = version["clientVersion"]["minor"]
        .as_str()
        .unwrap()
        .trim_end_matches('+')
        .parse()
        .unwrap();
    // The v1 API is GA since Kubernetes 1.22; Debian's older kubectl
    // speaks v1beta1, which the plugin answers too.
    let api = if minor >= 22 { "v1" } else { "v1beta1" };

    // An API server stand-in over TLS (client-go sends no credentials
    // over plain http): Python's http.server with Debian's snakeoil
    // certificate, issued to localhost; it prints each request's
    // Authorization header.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut api_server = KillOnDrop(
        Command::new("python3")
            .args(["-c", API_SERVER])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3"),
    );
    let mut api_out = BufReader::new(api_server.0.stdout.take().unwrap());
    let mut first = String::new();
    api_out.read_line(&mut first).unwrap();
    let port: u16 = first
        .trim()
        .strip_prefix("PORT ")
        .unwrap_or_else(|| panic!("{first}"))
        .parse()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in api_out.lines() {
            let Ok(line) = line else { return };
            if let Some(auth) = line.strip_prefix("AUTH ") {
                let _ = tx.send(auth.to_owned());
            }
        }
    });

    let exe = env!("CARGO_BIN_EXE_proofkey");
    for (extra, which) in [("", "access"), ("\n      - --id-token", "id")] {
        let kubeconfig = s.dir.path().join(format!("kubeconfig-{which}"));
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority: /etc/ssl/certs/ssl-cert-snakeoil.pem
    tls-server-name: localhost
users:
- name: proofkey
  user:
    exec:
      apiVersion: client.authentication.k8s.io/{api}
      command: {exe}
      args:
      - token
      - --profile
      - work
      - --format
      - k8s-exec{extra}
      env:
      - name: PROOFKEY_CONFIG_DIR
        value: {cfg}
      interactiveMode: Never
contexts:
- name: test
  context:
    cluster: test
    user: proofkey
current-context: test
",
                cfg = cfg.display()
            ),
        )
        .unwrap();
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["get", "--raw", "/healthz"])
            .env("HOME", s.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("\"ok\":true"));
        // What the plugin would print now is what kubectl sent.
        let json = client_cmd(s, cfg)
            .args(["token", "--profile", "work", "--json"])
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        let expected = if which == "id" {
            json["id_token"].as_str().unwrap().to_owned()
        } else {
            json["access_token"].as_str().unwrap().to_owned()
        };
        // Printed before each answer, so the first is there or coming;
        // any more (a retry) follow within moments.
        let mut seen = vec![rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the API server saw no request")];
        while let Ok(more) = rx.recv_timeout(std::time::Duration::from_millis(300)) {
            seen.push(more);
        }
        for auth in &seen {
            assert_eq!(auth, &format!("Bearer {expected}"), "{which} token");
        }
    }

    // The credential itself, as the plugin prints it.
    let out = client_cmd(s, cfg)
        .args(["token", "--profile", "work", "--format", "k8s-exec"])
        .env(
            "KUBERNETES_EXEC_INFO",
            r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}"#,
        )
        .output()
        .unwrap();
    let cred: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cred["kind"], "ExecCredential");
    assert_eq!(cred["apiVersion"], "client.authentication.k8s.io/v1");
    let stamp = cred["status"]["expirationTimestamp"].as_str().unwrap();
    assert!(humantime::parse_rfc3339(stamp).is_ok(), "{stamp}");
    let out = client_cmd(s, cfg)
        .args(["token", "--profile", "work", "--format", "k8s-exec"])
        .env(
            "KUBERNETES_EXEC_INFO",
            r#"{"apiVersion":"client.authentication.k8s.io/v9"}"#,
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// See [`kubectl_uses_the_exec_plugin`].
const API_SERVER: &str = r#"
import http.server, ssl
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print("AUTH " + str(self.headers.get("Authorization")), flush=True)
        body = b'{"major":"1","minor":"32","ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("/etc/ssl/certs/ssl-cert-snakeoil.pem", "/etc/ssl/private/ssl-cert-snakeoil.key")
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("PORT %d" % server.server_address[1], flush=True)
server.serve_forever()
"#;
