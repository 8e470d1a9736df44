//! The operator's commands against a running `proofkey serve` (issue 16):
//! `user disable` and `enable` as a browser and a client see them, `keys
//! retire` as the JWKS and the token checks see it, and the server's logs
//! without colour when they go to a file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use sha2::Digest as _;

const PASSWORD: &str = "a long enough password";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9ugd-operator-test-verifier-0123456789";

/// An admin command on the server's database, whatever its exit status.
fn admin_any(s: &Server, args: &[&str]) -> Output {
    proofkey()
        .args(args)
        .env("PROOFKEY_DATABASE_URL", &s.db)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn admin_json(s: &Server, args: &[&str]) -> serde_json::Value {
    let out = s.admin(args, None);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn setup() -> Server {
    let s = Server::start(&[]);
    s.cli_client("app", &[]);
    s.user("alice", PASSWORD);
    s
}

fn authorize_url(s: &Server) -> String {
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(VERIFIER.as_bytes()));
    format!(
        "{}/authorize?response_type=code&client_id=app&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=openid+offline_access&state=st&code_challenge={challenge}&code_challenge_method=S256",
        s.base
    )
}

/// A whole code flow in `b`: the token response.
fn tokens(s: &Server, b: &mut Browser) -> serde_json::Value {
    let redirect = b.authorize(&s.base, &authorize_url(s), "alice", PASSWORD);
    let code = url::Url::parse(&redirect)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/token", s.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1/callback"),
            ("client_id", "app"),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().unwrap()
}

fn refresh(s: &Server, rt: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/token", s.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "app"),
        ])
        .send()
        .unwrap();
    (resp.status().as_u16(), resp.json().unwrap())
}

fn userinfo(s: &Server, at: &str) -> u16 {
    reqwest::blocking::Client::new()
        .get(format!("{}/userinfo", s.base))
        .bearer_auth(at)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// The login page's error line, if it shows one.
fn login_error(page: &Page) -> Option<String> {
    let i = page.body.find("class=\"error\"")?;
    let rest = &page.body[i..];
    let start = rest.find('>')? + 1;
    let end = rest.find("</p>")?;
    Some(rest[start..end].to_owned())
}

/// Signs in on the login form of `url` with `username` / `password`: the
/// page that follows.
fn sign_in(s: &Server, b: &mut Browser, url: &str, username: &str, password: &str) -> Page {
    let page = b.get(url);
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
    let mut form = page.hidden_fields();
    form.push(("username".into(), username.into()));
    form.push(("password".into(), password.into()));
    b.post(&format!("{}/login", s.base), &form)
}

/// `user disable`: the user's session ends (the browser is asked to sign
/// in again), every token of theirs dies, and a sign-in with the right
/// password is answered exactly as a wrong one is. `user enable` lets
/// them in again; what was ended stays ended.
#[test]
fn a_disabled_user_cannot_sign_in_and_loses_sessions_and_tokens() {
    let s = setup();
    let mut b = Browser::new();
    let t = tokens(&s, &mut b);
    let (at, rt) = (
        t["access_token"].as_str().unwrap().to_owned(),
        t["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert_eq!(userinfo(&s, &at), 200);
    let (status, fresh) = refresh(&s, &rt);
    assert_eq!(status, 200, "{fresh}");
    let rt = fresh["refresh_token"].as_str().unwrap().to_owned();
    let at = fresh["access_token"].as_str().unwrap().to_owned();

    let shown = admin_json(&s, &["user", "show", "alice", "--json"]);
    assert_eq!(shown["live_sessions"], 1);
    assert_eq!(shown["disabled_at"], serde_json::Value::Null);

    let d = admin_json(&s, &["user", "disable", "alice", "--json"]);
    assert_eq!(d["disabled"], true);
    assert_eq!(d["sessions_ended"], 1);
    assert_eq!(d["grants_revoked"], 1);
    let shown = admin_json(&s, &["user", "show", "alice", "--json"]);
    assert!(shown["disabled_at"].is_i64(), "{shown}");
    assert_eq!(shown["live_sessions"], 0);
    let text = String::from_utf8(s.admin(&["user", "show", "alice"], None).stdout).unwrap();
    assert!(text.contains("disabled since 20"), "{text}");
    let list = String::from_utf8(s.admin(&["user", "list"], None).stdout).unwrap();
    assert!(list.contains("\tdisabled"), "{list}");

    // Every token is dead; the refresh token too.
    assert_eq!(userinfo(&s, &at), 401);
    let (status, body) = refresh(&s, &rt);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // The browser's session is gone: it is asked to sign in again, and the
    // right password is refused with the same words as a wrong one.
    let refused = sign_in(&s, &mut b, &authorize_url(&s), "alice", PASSWORD);
    let wrong = sign_in(
        &s,
        &mut Browser::new(),
        &authorize_url(&s),
        "alice",
        "not the password",
    );
    let unknown = sign_in(
        &s,
        &mut Browser::new(),
        &authorize_url(&s),
        "nobody",
        PASSWORD,
    );
    assert_eq!(refused.status, wrong.status);
    assert!(
        refused.location.is_none(),
        "no redirect: {:?}",
        refused.location
    );
    let message = login_error(&refused).expect("an error on the form");
    assert_eq!(Some(&message), login_error(&wrong).as_ref());
    assert_eq!(Some(&message), login_error(&unknown).as_ref());

    // Disabling again is harmless; unknown users exit 1.
    let again = admin_json(&s, &["user", "disable", "alice", "--json"]);
    assert_eq!(again["sessions_ended"], 0);
    for cmd in ["disable", "enable", "show"] {
        assert_eq!(
            admin_any(&s, &["user", cmd, "nobody"]).status.code(),
            Some(1)
        );
    }

    // Enabled: a sign-in works again; the old refresh token stays dead.
    let e = admin_json(&s, &["user", "enable", "alice", "--json"]);
    assert_eq!(e["disabled"], false);
    let t = tokens(&s, &mut Browser::new());
    assert_eq!(userinfo(&s, t["access_token"].as_str().unwrap()), 200);
    assert_eq!(refresh(&s, &rt).0, 400);
}

/// `user update` changes only what it is given; a new password ends the
/// user's sessions as set-password does; bad input exits 2 untouched.
#[test]
fn user_update_changes_only_what_is_given() {
    let s = setup();
    let mut b = Browser::new();
    let t = tokens(&s, &mut b);
    let u = admin_json(
        &s,
        &[
            "user",
            "update",
            "alice",
            "--email",
            "alice@example.com",
            "--name",
            "Alice L",
            "--json",
        ],
    );
    assert_eq!(u["email"], "alice@example.com");
    assert_eq!(u["name"], "Alice L");
    assert!(u.get("password").is_none());
    // A profile change leaves the tokens alone.
    assert_eq!(userinfo(&s, t["access_token"].as_str().unwrap()), 200);
    let u = admin_json(&s, &["user", "update", "alice", "--name", "", "--json"]);
    assert_eq!(u["email"], "alice@example.com", "kept");
    assert_eq!(u["name"], serde_json::Value::Null, "removed");

    for bad in [
        &["user", "update", "alice", "--email", "not-an-address"][..],
        &["user", "update", "alice"],
    ] {
        let out = admin_any(&s, bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    let shown = admin_json(&s, &["user", "show", "alice", "--json"]);
    assert_eq!(shown["email"], "alice@example.com");

    let out = s.admin(
        &["user", "update", "alice", "--password-stdin", "--json"],
        Some("a brand new password\n"),
    );
    let u: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(u["password"], "set");
    assert_eq!(u["sessions_ended"], 1);
    assert_eq!(userinfo(&s, t["access_token"].as_str().unwrap()), 401);
    let page = sign_in(
        &s,
        &mut Browser::new(),
        &authorize_url(&s),
        "alice",
        "a brand new password",
    );
    assert!(page.location.is_some(), "signed in with the new password");
}

/// The JWKS's key ids.
fn kids(s: &Server) -> Vec<String> {
    let jwks: serde_json::Value = reqwest::blocking::get(format!("{}/jwks.json", s.base))
        .unwrap()
        .json()
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// `keys retire`: refused for the only active key of its algorithm; with
/// --replace, a new key signs at once and the old one leaves the running
/// server's JWKS at its next key reload (30 s), and the access tokens it
/// signed are refused from then on.
#[test]
fn a_retired_key_leaves_the_jwks_and_its_tokens_stop_working() {
    let s = setup();
    let t = tokens(&s, &mut Browser::new());
    let at = t["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(&s, &at), 200);
    let keys = admin_json(&s, &["keys", "list", "--json"]);
    let es256 = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["alg"] == "ES256")
        .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(kids(&s).contains(&es256));

    // The only ES256 key: refused, nothing changed.
    let out = admin_any(&s, &["keys", "retire", &es256]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("only ES256 key") && err.contains("--replace"),
        "{err}"
    );
    assert_eq!(
        admin_any(&s, &["keys", "retire", "no-such-kid"])
            .status
            .code(),
        Some(1)
    );

    let r = admin_json(&s, &["keys", "retire", &es256, "--replace", "--json"]);
    assert_eq!(r["retired"], es256.as_str());
    let replacement = r["replacement"].as_str().unwrap().to_owned();
    let keys = admin_json(&s, &["keys", "list", "--json"]);
    let listed: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(!listed.contains(&es256.as_str()), "{listed:?}");
    assert!(listed.contains(&replacement.as_str()), "{listed:?}");

    // The running server drops it within its reload interval (30 s).
    let deadline = Instant::now() + Duration::from_secs(45);
    while kids(&s).contains(&es256) {
        assert!(Instant::now() < deadline, "still published after 45 s");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(kids(&s).contains(&replacement));
    assert_eq!(userinfo(&s, &at), 401, "its tokens no longer verify");
    // New tokens are signed by the replacement and work.
    let t = tokens(&s, &mut Browser::new());
    assert_eq!(userinfo(&s, t["access_token"].as_str().unwrap()), 200);
}

/// `keys list` and `keys rotate` print times as RFC 3339 UTC.
#[test]
fn key_times_are_printed_as_rfc3339() {
    let s = setup();
    let is_rfc3339 = |w: &str| {
        let b = w.as_bytes();
        w.len() == 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && b[19] == b'Z'
    };
    let out =
        String::from_utf8(s.admin(&["keys", "rotate", "--alg", "ES256"], None).stdout).unwrap();
    assert!(out.split_whitespace().any(is_rfc3339), "rotate: {out}");
    let list = String::from_utf8(s.admin(&["keys", "list"], None).stdout).unwrap();
    for line in list.lines() {
        let times = line
            .split(|c: char| c.is_whitespace() || c == '(')
            .filter(|w| is_rfc3339(w))
            .count();
        assert!(times >= 2, "activation and creation times: {line}");
    }
    assert!(list.contains("signs from "), "{list}");
}

/// Text logs carry no ANSI escape codes when stderr is not a terminal.
#[test]
fn logs_to_a_file_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let port = free_port();
    let mut child = proofkey()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database",
            &format!("sqlite://{}", dir.path().join("s.db").display()),
        ])
        .env("RUST_LOG", "debug")
        .env_remove("NO_COLOR")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_serving(port);
    terminate(&mut child);
    let bytes = std::fs::read(&log).unwrap();
    assert!(!bytes.is_empty(), "the server logged something");
    assert!(
        !bytes.contains(&0x1b),
        "an escape code in: {}",
        String::from_utf8_lossy(&bytes)
    );
}
