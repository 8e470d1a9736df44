//! `proofkey serve` as a process: defaults, configuration errors, the `--dev`
//! flow from the README, and graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::Stdio;

use common::{free_port, proofkey, terminate, wait_ready};

#[test]
fn invalid_configuration_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad_toml = dir.path().join("bad.toml");
    std::fs::write(&bad_toml, "listen = \"127.0.0.1:1\"\nunknown_key = 1\n").unwrap();
    // The pages are checked before the server listens (issue 16): a
    // template that does not compile, one asking for a message nobody
    // has, a Fluent file that does not parse, a logo that is no image.
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(templates.join("login.html"), "{% block body %}{{ oops( }}").unwrap();
    let unknown_message = dir.path().join("templates2");
    std::fs::create_dir(&unknown_message).unwrap();
    std::fs::write(
        unknown_message.join("consent.html"),
        "{{ t(\"no-such-message\") }}",
    )
    .unwrap();
    let locales = dir.path().join("locales");
    std::fs::create_dir_all(locales.join("de")).unwrap();
    std::fs::write(locales.join("de/broken.ftl"), "login-title = { unclosed\n").unwrap();
    let logo = dir.path().join("logo.exe");
    std::fs::write(&logo, "MZ").unwrap();
    let bad_scopes = dir.path().join("scopes.toml");
    std::fs::write(
        &bad_scopes,
        "[scope_descriptions.\"mcp:tools\"]\n\"not a tag!\" = \"x\"\n",
    )
    .unwrap();
    let (templates, unknown_message, locales, logo, bad_scopes) = (
        templates.to_str().unwrap().to_owned(),
        unknown_message.to_str().unwrap().to_owned(),
        locales.to_str().unwrap().to_owned(),
        logo.to_str().unwrap().to_owned(),
        bad_scopes.to_str().unwrap().to_owned(),
    );
    for (args, env, needle) in [
        (vec!["serve", "--listen", "nowhere"], None, "listen"),
        (
            vec!["serve", "--issuer", "http://auth.example.com"],
            None,
            "https",
        ),
        (
            vec!["serve", "--code-lifetime", "1h"],
            None,
            "code_lifetime",
        ),
        (
            vec!["serve", "--database", "mysql://x"],
            None,
            "postgres://",
        ),
        (
            vec!["serve", "--dev", "--issuer", "https://auth.example.com"],
            None,
            "--dev creates the user demo/demo and is for a loopback issuer only",
        ),
        (
            vec!["serve"],
            Some(("PROOFKEY_CODE_LIFETIME", "soon")),
            "code_lifetime",
        ),
        (
            vec!["serve", "--config", bad_toml.to_str().unwrap()],
            None,
            "unknown",
        ),
        (
            vec!["serve", "--config", "/nonexistent.toml"],
            None,
            "cannot read",
        ),
        (
            vec!["serve", "--templates-dir", &templates],
            None,
            "login.html",
        ),
        (
            vec!["serve", "--templates-dir", &unknown_message],
            None,
            "no-such-message",
        ),
        (
            vec!["serve", "--translations-dir", &locales],
            None,
            "broken.ftl",
        ),
        (vec!["serve", "--theme-logo", &logo], None, "theme_logo"),
        (
            vec!["serve", "--theme-primary-color", "red;}body{display:none"],
            None,
            "theme_primary_color",
        ),
        (
            vec!["serve", "--config", &bad_scopes],
            None,
            "scope_descriptions",
        ),
    ] {
        let mut cmd = proofkey();
        cmd.args(&args).current_dir(dir.path());
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // Nothing was created for an invalid configuration.
    assert!(!dir.path().join("proofkey.db").exists());
}

#[test]
fn the_readme_dev_flow_works_and_sigterm_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Settings from a TOML file, overridden by a flag.
    let toml = dir.path().join("proofkey.toml");
    std::fs::write(&toml, "listen = \"127.0.0.1:1\"\ncode_lifetime = \"30s\"\n").unwrap();
    let mut child = proofkey()
        .args([
            "serve",
            "--dev",
            "--config",
            toml.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(port);
    // The default database file is created in the working directory.
    assert!(dir.path().join("proofkey.db").exists());

    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.contains("PASTE_CODE_HERE") {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "stdout ended: {printed}"
        );
        printed.push_str(&line);
    }
    let authorize_url = printed
        .split_whitespace()
        .find(|w| w.starts_with(&format!("http://127.0.0.1:{port}/authorize?")))
        .unwrap()
        .to_owned();
    let verifier = printed
        .split_whitespace()
        .find_map(|w| w.strip_prefix("code_verifier="))
        .unwrap()
        .to_owned();

    // The browser part: login form, consent form.
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut cookies: Vec<String> = vec![];
    let mut send = |req: reqwest::blocking::RequestBuilder| {
        let resp = req.header("cookie", cookies.join("; ")).send().unwrap();
        for c in resp.headers().get_all("set-cookie") {
            cookies.push(c.to_str().unwrap().split(';').next().unwrap().to_owned());
        }
        let loc = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        (loc, resp.text().unwrap())
    };
    let hidden = |body: &str| -> Vec<(String, String)> {
        body.split("<input type=\"hidden\" ")
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
    };
    let (_, login) = send(http.get(&authorize_url));
    let mut form = hidden(&login);
    form.push(("username".into(), "demo".into()));
    form.push(("password".into(), "demo".into()));
    let (loc, _) = send(http.post(format!("{base}/login")).form(&form));
    let (_, consent) = send(http.get(format!("{base}{}", loc.unwrap())));
    let mut form = hidden(&consent);
    form.push(("decision".into(), "allow".into()));
    let (loc, _) = send(http.post(format!("{base}/consent")).form(&form));
    let loc = url::Url::parse(&loc.unwrap()).unwrap();
    assert_eq!(loc.path(), "/callback");
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();

    // The printed curl, as a form post.
    let token: serde_json::Value = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "demo-cli"),
            ("redirect_uri", "http://127.0.0.1/callback"),
            ("code_verifier", &verifier),
            ("code", &code),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(token["token_type"], "Bearer", "{token}");
    assert!(token["id_token"].is_string());

    // The admin commands see the running server's session, and end it.
    let db = format!("sqlite://{}", dir.path().join("proofkey.db").display());
    let admin = |args: &[&str]| -> serde_json::Value {
        let out = proofkey()
            .args(args)
            .env("PROOFKEY_DATABASE_URL", &db)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let sessions = admin(&["user", "sessions", "demo", "--json"]);
    assert_eq!(
        sessions["sessions"].as_array().unwrap().len(),
        1,
        "{sessions}"
    );
    let revoked = admin(&["user", "revoke", "demo", "--json"]);
    assert_eq!(revoked["sessions_ended"], 1);
    assert!(revoked["grants_revoked"].as_u64().unwrap() >= 1);
    let userinfo = http
        .get(format!("{base}/userinfo"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .unwrap();
    assert_eq!(userinfo.status(), 401);

    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(logs.contains("SIGTERM received"), "{logs}");
}
