//! `proofkey login` / `token` / `logout` against an independent provider,
//! node-oidc-provider (npm `oidc-provider`, installed in interop/node by
//! ./test.sh). Its development interactions accept any login.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::*;

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/node")
}

/// Starts node-oidc-provider, or explains loudly why it cannot (and fails
/// when PROOFKEY_REQUIRE_INTEROP is set, as ./test.sh and CI do).
fn start_node() -> Option<(Child, String)> {
    let dir = interop_dir();
    let why = if Command::new("node").arg("--version").output().is_err() {
        Some("node is not installed".to_owned())
    } else if !dir.join("node_modules/oidc-provider").exists() {
        Some(format!(
            "oidc-provider is not installed; run: npm ci --prefix {}",
            dir.display()
        ))
    } else {
        None
    };
    if let Some(why) = why {
        let msg = format!("\n\n*** node-oidc-provider interop test NOT RUN: {why} ***\n\n");
        if std::env::var_os("PROOFKEY_REQUIRE_INTEROP").is_some() {
            panic!("{msg}");
        }
        eprintln!("{msg}");
        return None;
    }
    let port = free_port();
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .arg(port.to_string())
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("ready ") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "node-oidc-provider did not start"
        );
    }
    // Keep draining its output: a closed pipe would kill it at the next notice.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Some((child, line.trim_start_matches("ready ").trim().to_owned()))
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Walks node-oidc-provider's login and consent interactions to the
/// redirect back to the client.
fn node_interactions(base: &str, authorize_url: &str) -> String {
    let mut b = Browser::new();
    let mut page = b.get(authorize_url);
    for _ in 0..10 {
        if let Some(loc) = page.location.clone() {
            let absolute = if loc.starts_with('/') {
                format!("{base}{loc}")
            } else {
                loc
            };
            if !absolute.starts_with(base) {
                return absolute;
            }
            page = b.get(&absolute);
            continue;
        }
        assert_eq!(page.status, 200, "{}", page.body);
        let action = {
            let i = page.body.find("action=\"").unwrap() + 8;
            let j = page.body[i..].find('"').unwrap();
            page.body[i..i + j].to_owned()
        };
        let mut form = page.hidden_fields();
        if page.body.contains("name=\"login\"") {
            form.push(("login".into(), "alice".into()));
            form.push(("password".into(), "anything".into()));
        }
        let target = if action.starts_with('/') {
            format!("{base}{action}")
        } else {
            action
        };
        page = b.post(&target, &form);
    }
    panic!("no redirect to the client");
}

#[test]
fn login_token_and_logout_against_node_oidc_provider() {
    let Some((node, issuer)) = start_node() else {
        return;
    };
    let _node = Kill(node);
    let cfg = tempfile::tempdir().unwrap();
    let mut login = proofkey()
        .args([
            "login",
            "--issuer",
            &issuer,
            "--client-id",
            "proofkey-cli",
            "--no-browser",
            "--scope",
            "openid",
            "--profile",
            "node",
        ])
        .env("PROOFKEY_CONFIG_DIR", cfg.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(login.stderr.take().unwrap());
    let mut printed = String::new();
    while !printed.contains("/auth?") {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "{printed}");
        printed.push_str(&line);
    }
    let url = printed
        .split_whitespace()
        .find(|w| w.contains("/auth?"))
        .unwrap()
        .to_owned();
    // node-oidc-provider offers PAR (RFC 9126) and DPoP (RFC 9449): the
    // request was pushed, and the browser carries only its reference.
    assert!(url.contains("request_uri="), "{url}");
    assert!(!url.contains("code_challenge"), "{url}");
    let redirect = node_interactions(&issuer, &url);
    assert!(
        redirect.contains("code=") && redirect.contains("iss="),
        "{redirect}"
    );
    assert_eq!(reqwest::blocking::get(&redirect).unwrap().status(), 200);
    let status = login.wait().unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{printed}{rest}");
    assert!(rest.contains("Logged in to"), "{rest}");

    // The token is DPoP-bound: node's userinfo takes it with a proof for
    // that request (the header pair of `token --dpop-proof-for`), and
    // refuses it as a bearer token.
    let me = format!("{issuer}/me");
    let headers = || {
        let out = proofkey()
            .args(["token", "--profile", "node", "--dpop-proof-for"])
            .arg(format!("GET {me}"))
            .env("PROOFKEY_CONFIG_DIR", cfg.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = String::from_utf8(out.stdout).unwrap();
        assert!(lines.starts_with("Authorization: DPoP "), "{lines}");
        lines
    };
    let send = |lines: &str| {
        let mut req = reqwest::blocking::Client::new().get(&me);
        for line in lines.lines() {
            let (name, value) = line.split_once(": ").unwrap();
            req = req.header(name, value);
        }
        req.send().unwrap().status()
    };
    assert_eq!(send(&headers()), 200, "the token works at node's userinfo");
    // A good pair kept for after the logout.
    let kept = headers();
    let out = proofkey()
        .args(["token", "--profile", "node"])
        .env("PROOFKEY_CONFIG_DIR", cfg.path())
        .output()
        .unwrap();
    let at = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let as_bearer = reqwest::blocking::Client::new()
        .get(&me)
        .bearer_auth(&at)
        .send()
        .unwrap();
    assert_eq!(as_bearer.status(), 401, "a bound token is no bearer token");

    let out = proofkey()
        .args(["logout", "--profile", "node"])
        .env("PROOFKEY_CONFIG_DIR", cfg.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = send(&kept);
    assert_eq!(
        after, 401,
        "revoked at node (the same pair would have passed before)"
    );
}

/// `proofkey audit` against node-oidc-provider (PKCE required, its
/// development login form). The expected report is the example in
/// docs/audit.md; a change here means node-oidc-provider changed or the
/// audit did, and the docs must follow.
#[test]
fn audit_of_node_oidc_provider() {
    let Some((node, issuer)) = start_node() else {
        return;
    };
    let _node = Kill(node);
    let mut child = proofkey()
        .args([
            "audit",
            "--issuer",
            &issuer,
            "--client-id",
            "proofkey-cli",
            "--login",
            "alice",
            "--password-stdin",
            "--format",
            "json",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(b"anything").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "only a low finding: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), proofkey_audit::catalog::ALL.len());
    let not_passed: Vec<(&str, &str)> = results
        .iter()
        .filter(|r| r["status"] != "pass")
        .map(|r| (r["id"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    // node-oidc-provider answers a code_verifier that breaks the RFC 7636
    // §4.1 ABNF with invalid_request rather than invalid_grant. Everything
    // else passes, the DPoP and PAR checks included: 9.13.3 enables both by
    // default, binds a public client's refresh token to the proof's key,
    // refuses a replayed proof (invalid_grant) and a used request_uri.
    assert_eq!(
        not_passed,
        vec![("token.pkce-error-code", "finding")],
        "{stdout}"
    );
}
