//! `proofkey audit` as a user runs it: against `proofkey serve` (every
//! check passes), against the audit's deliberately weak server (exit codes,
//! `--fail-on`, SARIF), through the browser chain, and its errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../audit/tests/weak/mod.rs"]
mod weak;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Output, Stdio};

use common::*;
use serde_json::Value;
use url::Url;

/// Runs `proofkey audit ARGS` with `stdin`.
fn audit(args: &[&str], stdin: &str) -> Output {
    audit_env(args, stdin, &[])
}

/// The same with environment variables.
fn audit_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut child = proofkey()
        .arg("audit")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The child may have exited on bad arguments before reading.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A weak server on a runtime of its own, for the life of the test.
struct Weak {
    issuer: String,
    _rt: tokio::runtime::Runtime,
}

fn weak_server(w: weak::Weakness) -> Weak {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (_, issuer) = rt.block_on(weak::start(w, |a| format!("http://{a}")));
    Weak { issuer, _rt: rt }
}

fn audit_weak(w: &Weak, extra: &[&str]) -> Output {
    let mut args = vec![
        "--issuer",
        &w.issuer,
        "--client-id",
        weak::CLIENT,
        "--login",
        weak::USER,
        "--password-stdin",
        "--scope",
        "openid",
    ];
    args.extend_from_slice(extra);
    audit(&args, weak::PASSWORD)
}

#[test]
fn proofkey_serve_passes_every_check() {
    let server = Server::start(&["--dev"]);
    let out = audit(
        &[
            "--issuer",
            &server.base,
            "--client-id",
            "demo-cli",
            "--login",
            "demo",
            "--password-stdin",
            "--format",
            "json",
        ],
        "demo\n",
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), proofkey_audit_checks());
    for r in results {
        assert_eq!(r["status"], "pass", "{r}");
    }
    let notes = report["notes"].to_string();
    assert!(notes.contains("revoked"), "{notes}");
}

/// `proofkey serve` demanding its DPoP nonce in every proof (RFC 9449 §8):
/// the audit takes it from the `DPoP-Nonce` header (which proofkey sends
/// on every token answer; the weak server's tests cover the
/// `use_dpop_nonce` retry) and every check still passes.
/// The DPoP and PAR checks pass for the right reasons: proofkey binds the
/// public client's refresh token to the proof's key, remembers jtis, and
/// refuses PKCE violations at its PAR endpoint.
#[test]
fn proofkey_serve_with_dpop_nonces_passes_every_check() {
    let server = Server::start(&["--dev", "--dpop-nonce"]);
    let out = audit(
        &[
            "--issuer",
            &server.base,
            "--client-id",
            "demo-cli",
            "--login",
            "demo",
            "--password-stdin",
            "--format",
            "json",
        ],
        "demo\n",
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let results = report["results"].as_array().unwrap();
    for r in results {
        assert_eq!(r["status"], "pass", "{r}");
    }
    let detail = |id: &str| {
        results.iter().find(|r| r["id"] == id).unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        detail("dpop.access-token-not-bound"),
        "token_type is DPoP, and the JWT access token's cnf.jkt is the proof key's thumbprint"
    );
    assert!(
        detail("dpop.proof-replay-accepted").contains("invalid_dpop_proof"),
        "{stdout}"
    );
    for id in [
        "dpop.refresh-without-proof-accepted",
        "dpop.refresh-other-key-accepted",
    ] {
        assert_eq!(
            detail(id),
            "refused with HTTP 400 invalid_grant; with a fresh proof by its own key it then worked"
        );
    }
    for id in ["par.challenge-missing-accepted", "par.plain-accepted"] {
        assert_eq!(
            detail(id),
            "the PAR endpoint refused with HTTP 400 invalid_request"
        );
    }
    assert!(
        detail("par.request-uri-reuse-accepted").starts_with("refused with its own page"),
        "{stdout}"
    );
}

fn proofkey_audit_checks() -> usize {
    proofkey_audit::catalog::ALL.len()
}

#[test]
fn findings_set_the_exit_code_and_fail_on_moves_the_bar() {
    // One low finding: the loopback port is compared.
    let low = weak_server(weak::Weakness {
        strict_loopback_port: true,
        ..Default::default()
    });
    let out = audit_weak(&low, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("FINDING  low    redirect.loopback-port-refused"),
        "{stdout}"
    );
    assert!(
        stdout.contains("36 passed, 1 finding, 0 skipped"),
        "{stdout}"
    );
    let out = audit_weak(&low, &["--fail-on", "low"]);
    assert_eq!(out.status.code(), Some(1));

    let open = weak_server(weak::Weakness {
        pkce_optional: true,
        ..Default::default()
    });
    let out = audit_weak(&open, &["--fail-on", "high"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("[high] authorize.challenge-missing-accepted"),
        "{stdout}"
    );
    assert!(stdout.contains("fix:"), "{stdout}");
}

#[test]
fn sarif_output_is_a_sarif_2_1_0_log() {
    let w = weak_server(weak::Weakness {
        pkce_optional: true,
        accept_plain: true,
        drop_state: true,
        ..Default::default()
    });
    let out = audit_weak(&w, &["--format", "sarif"]);
    assert_eq!(out.status.code(), Some(1));
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(
        log["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "proofkey audit");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), proofkey_audit_checks());
    let results = run["results"].as_array().unwrap();
    let ids: Vec<&str> = results
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    for id in [
        "authorize.challenge-missing-accepted",
        "token.downgrade-accepted",
        "authorize.plain-accepted",
        "response.state-not-echoed",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    validate_with_the_official_schema(&out.stdout);
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"]);
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        assert!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .starts_with(&w.issuer)
        );
    }
}

#[test]
fn usage_and_connection_errors_exit_2() {
    let port = free_port();
    let nothing = format!("http://127.0.0.1:{port}");
    let out = audit(
        &[
            "--issuer",
            &nothing,
            "--client-id",
            "x",
            "--login",
            "u",
            "--password-stdin",
        ],
        "p",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&nothing),
        "{}",
        text(&out.stderr)
    );

    let out = audit(
        &["--issuer", &nothing, "--client-id", "x", "--password-stdin"],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "--password-stdin needs --login");

    let out = audit(
        &[
            "--issuer",
            &nothing,
            "--client-id",
            "x",
            "--resolve",
            "nonsense",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("HOST:PORT:ADDR"));

    // A client the server does not know: the correct flow fails, so the
    // audit cannot compare anything and says so.
    let server = Server::start(&["--dev"]);
    let out = audit(
        &[
            "--issuer",
            &server.base,
            "--client-id",
            "nobody",
            "--login",
            "demo",
            "--password-stdin",
        ],
        "demo",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("a correct PKCE flow failed"),
        "{}",
        text(&out.stderr)
    );
}

/// Plays a person's browser: follows every redirect (keeping cookies),
/// signs in and approves on proofkey's pages, until the audit's last page.
fn browse(b: &mut Browser, base: &str, start: &str) {
    let mut url = Url::parse(start).unwrap();
    let mut page = b.get(url.as_str());
    for _ in 0..200 {
        if let Some(loc) = page.location.clone() {
            url = url.join(&loc).unwrap();
            page = b.get(url.as_str());
            continue;
        }
        if page.body.contains("Audit done") {
            return;
        }
        let mut form = page.hidden_fields();
        if page.body.contains("name=\"password\"") {
            form.push(("username".into(), "demo".into()));
            form.push(("password".into(), "demo".into()));
            url = Url::parse(&format!("{base}/login")).unwrap();
        } else if page.body.contains("name=\"decision\"") {
            form.push(("decision".into(), "allow".into()));
            url = Url::parse(&format!("{base}/consent")).unwrap();
        } else {
            panic!("stuck at {url}: {} {}", page.status, page.body);
        }
        page = b.post(url.as_str(), &form);
    }
    panic!("the audit never finished");
}

#[test]
fn the_browser_chain_signs_in_once_and_runs_every_check() {
    let server = Server::start(&["--dev"]);
    let mut child = proofkey()
        .args([
            "audit",
            "--issuer",
            &server.base,
            "--client-id",
            "demo-cli",
            "--no-browser",
            // Bounded, so that a broken chain fails the test instead of
            // waiting five minutes per request for a person.
            "--timeout",
            "5s",
            "--format",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in stderr.lines() {
            let line = line.unwrap();
            if line.trim_start().starts_with("http") {
                tx.send(line.trim().to_owned()).unwrap();
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let first = rx.recv().unwrap();
    let mut b = Browser::new();
    browse(&mut b, &server.base, &first);
    let out = child.wait_with_output().unwrap();
    let log = reader.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert_eq!(
        rx.try_iter().count(),
        0,
        "one URL for the person to open, the rest chained: {log}"
    );
    assert_eq!(log.matches("Open this URL").count(), 1, "{log}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for r in report["results"].as_array().unwrap() {
        assert_eq!(r["status"], "pass", "{r}");
    }
}

/// Validates a SARIF log against the official SARIF 2.1.0 JSON schema with
/// ajv (interop/node/validate-sarif.cjs), an independent validator. Like the
/// interop tests, it needs `npm ci` in interop/node, and fails when that
/// is missing and PROOFKEY_REQUIRE_INTEROP is set (./test.sh, CI).
fn validate_with_the_official_schema(sarif: &[u8]) {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/node");
    if !dir.join("node_modules/ajv").exists()
        || !dir.join("node_modules/@microsoft/jest-sarif").exists()
    {
        let msg = format!(
            "*** SARIF schema validation NOT RUN: run npm ci --prefix {} ***",
            dir.display()
        );
        if std::env::var_os("PROOFKEY_REQUIRE_INTEROP").is_some() {
            panic!("{msg}");
        }
        eprintln!("{msg}");
        return;
    }
    let mut child = std::process::Command::new("node")
        .arg("validate-sarif.cjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(sarif).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "schema errors: {}", text(&out.stdout));
}

/// A confidential client that keeps its refresh tokens (no rotation) and
/// asks for no `openid`: client authentication with HTTP Basic, liveness
/// through introspection instead of userinfo, and rotation not required.
#[test]
fn a_confidential_client_is_audited_with_its_secret() {
    let server = Server::start(&["--dev"]);
    let out = server.admin(
        &[
            "client",
            "create",
            "--id",
            "svc",
            "--confidential",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--scope",
            "api",
            "--scope",
            "offline_access",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--no-refresh-rotation",
            "--always-issue-refresh-token",
            "--json",
        ],
        None,
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let out = audit_env(
        &[
            "--issuer",
            &server.base,
            "--client-id",
            "svc",
            "--scope",
            "api",
            "--login",
            "demo",
            "--password-stdin",
            "--format",
            "json",
        ],
        "demo",
        &[("PROOFKEY_AUDIT_CLIENT_SECRET", secret)],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        !stdout.contains(secret),
        "the secret never reaches the report"
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["client_type"], "confidential");
    let result = |id: &str| {
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()
            .clone()
    };
    let revoked = result("token.code-reuse-tokens-not-revoked");
    assert_eq!(revoked["status"], "pass", "{revoked}");
    assert!(
        revoked["detail"]
            .as_str()
            .unwrap()
            .contains("introspection"),
        "{revoked}"
    );
    let rotation = result("refresh.not-rotated");
    assert_eq!(rotation["status"], "pass", "{rotation}");
    assert!(
        rotation["detail"]
            .as_str()
            .unwrap()
            .contains("confidential"),
        "{rotation}"
    );
    // PAR with HTTP Basic, and the DPoP replay on the confidential
    // client's refresh token, are made; the refresh token's binding to a
    // key is not asked of a confidential client (RFC 9449 §5).
    for id in [
        "par.request-uri-reuse-accepted",
        "par.challenge-missing-accepted",
        "dpop.proof-replay-accepted",
    ] {
        assert_eq!(result(id)["status"], "pass", "{}", result(id));
    }
    let bound = result("dpop.refresh-without-proof-accepted");
    assert_eq!(bound["status"], "skipped", "{bound}");
    assert!(
        bound["detail"].as_str().unwrap().contains("confidential"),
        "{bound}"
    );
    for r in report["results"].as_array().unwrap() {
        assert_ne!(r["status"], "finding", "{r}");
    }
}
