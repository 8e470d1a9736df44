//! The pages in a real browser: headless Chromium driven through WebDriver
//! (chromedriver, fantoccini) against `proofkey serve`, the example SPA
//! (examples/spa) and `proofkey login`. Without chromedriver or Chromium
//! these tests fail; they never skip.
//!
//! To add one: set up what it needs (`World::start` takes extra `serve`
//! flags, `--config FILE` among them), then take the browser with `tab()`
//! and drive it by stable attributes. The browser is shared: tests take
//! turns, and each ends with the check that the console reported no
//! Content Security Policy violation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "browser/mod.rs"]
mod harness;

use std::io::Read as _;
use std::path::Path;
use std::process::Stdio;

use common::{proofkey, Server};
use harness::site::Site;
use harness::{tab, Tab};

const PASSWORD: &str = "a long enough password";
/// RFC 7636 Appendix B's challenge: these tests never redeem the code.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const ALLOW: &str = r#"button[name="decision"][value="allow"]"#;
const DENY: &str = r#"button[name="decision"][value="deny"]"#;
const PASSWORD_FIELD: &str = r#"input[name="password"]"#;

/// A server with the user `alice` and the public client `web`, whose
/// redirect URI is `/cb` on another origin, the site.
struct World {
    s: Server,
    site: Site,
}

impl World {
    fn new() -> World {
        Self::start(&[])
    }

    /// With `extra` flags for `proofkey serve`.
    fn start(extra: &[&str]) -> World {
        let site = Site::builder()
            .page(
                "/cb",
                "<!doctype html><title>client</title><p>back at the client",
            )
            .start();
        let s = Server::start(extra);
        s.admin(
            &[
                "client",
                "create",
                "--id",
                "web",
                "--public",
                "--redirect-uri",
                &site.url("/cb"),
                "--post-logout-redirect-uri",
                &site.url("/cb"),
            ],
            None,
        );
        s.admin(
            &["user", "create", "alice", "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
        );
        World { s, site }
    }

    /// An authorization request of `web` (PKCE S256) with `state`.
    fn authorize_url(&self, state: &str) -> String {
        let mut u = url::Url::parse(&format!("{}/authorize", self.s.base)).unwrap();
        u.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", "web")
            .append_pair("redirect_uri", &self.site.url("/cb"))
            .append_pair("scope", "openid profile")
            .append_pair("state", state)
            .append_pair("code_challenge", CHALLENGE)
            .append_pair("code_challenge_method", "S256");
        u.into()
    }

    /// Waits until the browser is back at the client's `/cb`; its query.
    fn at_client(&self, tab: &Tab) -> std::collections::HashMap<String, String> {
        let cb = self.site.url("/cb");
        let u = tab.wait_url("the redirect to the client", |u| {
            u.as_str().starts_with(&cb)
        });
        u.query_pairs().into_owned().collect()
    }

    /// Whether the browser is on a page of the server (not redirected).
    fn on_server(&self, tab: &Tab, path: &str) -> bool {
        let u = tab.url();
        u.origin().ascii_serialization() == self.s.base && u.path() == path
    }
}

#[test]
fn a_wrong_password_stays_on_the_form_then_the_right_one_and_allow_redirect_with_code_state_iss() {
    let w = World::new();
    let tab = tab();
    tab.goto(&w.authorize_url("st-allow"));
    tab.wait_for(PASSWORD_FIELD);
    tab.sign_in("alice", "not the password");
    assert!(w.on_server(&tab, "/login"), "{}", tab.url());
    assert!(tab.has(PASSWORD_FIELD), "still on the form");
    assert!(tab.has(r#"[role="alert"]"#), "the error is shown");
    tab.sign_in("alice", PASSWORD);
    tab.submit(ALLOW);
    let q = w.at_client(&tab);
    assert!(q.get("code").is_some_and(|c| !c.is_empty()), "{q:?}");
    assert_eq!(q.get("state").map(String::as_str), Some("st-allow"));
    assert_eq!(q.get("iss"), Some(&w.s.base));
}

#[test]
fn consent_deny_redirects_with_access_denied() {
    let w = World::new();
    let tab = tab();
    tab.goto(&w.authorize_url("st-deny"));
    tab.sign_in("alice", PASSWORD);
    tab.submit(DENY);
    let q = w.at_client(&tab);
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
    assert_eq!(q.get("state").map(String::as_str), Some("st-deny"));
    assert_eq!(q.get("iss"), Some(&w.s.base));
    assert!(!q.contains_key("code"));
}

#[test]
fn device_verification_in_the_browser_lets_the_device_poll_succeed() {
    let w = World::new();
    w.s.admin(
        &[
            "client",
            "create",
            "--id",
            "tv",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--grant-type",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
        None,
    );
    let http = reqwest::blocking::Client::new();
    let start: serde_json::Value = http
        .post(format!("{}/device_authorization", w.s.base))
        .form(&[("client_id", "tv"), ("scope", "openid")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let complete = start["verification_uri_complete"].as_str().unwrap();
    let device_code = start["device_code"].as_str().unwrap();

    let tab = tab();
    tab.goto(complete);
    tab.sign_in("alice", PASSWORD);
    tab.submit(ALLOW);
    assert!(w.on_server(&tab, "/device/decision"), "{}", tab.url());

    let poll = tab.poll("the device's token", || {
        let r = http
            .post(format!("{}/token", w.s.base))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device_code),
                ("client_id", "tv"),
            ])
            .send()
            .unwrap();
        let status = r.status();
        let v: serde_json::Value = r.json().unwrap();
        match v["error"].as_str() {
            Some("authorization_pending" | "slow_down") => None,
            _ => Some((status, v)),
        }
    });
    assert_eq!(poll.0, 200, "{}", poll.1);
    assert!(poll.1["access_token"].is_string(), "{}", poll.1);
}

#[test]
fn logout_asks_to_confirm_then_the_session_is_gone() {
    let w = World::new();
    let tab = tab();
    tab.goto(&w.authorize_url("st-1"));
    tab.sign_in("alice", PASSWORD);
    tab.submit(ALLOW);
    w.at_client(&tab);

    // Without id_token_hint the user confirms; then the browser goes to
    // the registered post_logout_redirect_uri with the state.
    let mut logout = url::Url::parse(&format!("{}/logout", w.s.base)).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("client_id", "web")
        .append_pair("post_logout_redirect_uri", &w.site.url("/cb"))
        .append_pair("state", "st-out");
    tab.goto(logout.as_str());
    assert!(w.on_server(&tab, "/logout"), "{}", tab.url());
    tab.submit(r#"form[action="/logout"] button[name="confirm"][value="yes"]"#);
    let q = w.at_client(&tab);
    assert_eq!(q.get("state").map(String::as_str), Some("st-out"), "{q:?}");

    // Signed out: a new request asks for the password again.
    tab.goto(&w.authorize_url("st-2"));
    assert!(w.on_server(&tab, "/authorize"), "{}", tab.url());
    assert!(tab.has(PASSWORD_FIELD), "the login form, not consent");
}

#[test]
fn error_pages_are_shown_by_the_server_never_a_redirect() {
    let w = World::new();
    let unknown = w
        .authorize_url("st")
        .replace("client_id=web", "client_id=nobody");
    let elsewhere = w.authorize_url("st").replace("%2Fcb", "%2Felsewhere");
    let mut bad_logout = url::Url::parse(&format!("{}/logout", w.s.base)).unwrap();
    bad_logout
        .query_pairs_mut()
        .append_pair("client_id", "web")
        .append_pair("post_logout_redirect_uri", &w.site.url("/not-registered"));
    let bad_logout = bad_logout.to_string();
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let tab = tab();
    for (url, path) in [
        (unknown.as_str(), "/authorize"),
        (elsewhere.as_str(), "/authorize"),
        (bad_logout.as_str(), "/logout"),
    ] {
        let r = http.get(url).send().unwrap();
        assert_eq!(r.status(), 400, "{url}");
        assert!(r.headers().get("location").is_none(), "{url}");
        tab.goto(url);
        assert!(w.on_server(&tab, path), "{url} led to {}", tab.url());
        assert!(tab.has("main"), "{url}: a page");
        assert!(
            !tab.has(PASSWORD_FIELD) && !tab.has(ALLOW),
            "{url}: no login, no consent"
        );
    }
}

/// The `proofkey client create` command of examples/spa/README.md, with
/// the SPA's address there replaced by `home`.
fn readme_client_create(readme: &str, home: &str) -> Vec<String> {
    let mut lines = readme
        .lines()
        .skip_while(|l| !l.starts_with("proofkey client create"));
    let mut command = String::new();
    for l in lines.by_ref() {
        command.push_str(l.trim_end_matches('\\'));
        command.push(' ');
        if !l.ends_with('\\') {
            break;
        }
    }
    assert!(
        !command.is_empty(),
        "README.md has no `proofkey client create`"
    );
    command
        .split_whitespace()
        .skip(1)
        .map(|a| a.replace("http://127.0.0.1:8000/", home))
        .collect()
}

/// Waits until the SPA's status is `state`; fails at once on its error.
fn spa_state(tab: &Tab, state: &str) {
    let selector = format!(r#"#status[data-state="{state}"]"#);
    tab.poll(&format!("the SPA to be {state}"), || {
        if tab.has(r#"#status[data-state="error"]"#) || tab.has("#error:not([hidden])") {
            panic!("the SPA failed: {}", tab.text("#error"));
        }
        tab.has(&selector).then_some(())
    });
}

#[test]
fn the_example_spa_signs_in_calls_userinfo_refreshes_with_rotation_and_signs_out() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/spa");
    let lib = dir.join("node_modules/oauth4webapi/build/index.js");
    assert!(
        lib.is_file(),
        "{} is missing: run `npm ci --prefix examples/spa` (./test.sh does)",
        lib.display()
    );
    let s = Server::start(&[]);
    s.admin(
        &["user", "create", "alice", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    // The SPA as shipped, pointed at this server: config.json's issuer and
    // the CSP's connect-src, which name the default one. The site's header
    // adds the same strict policy.
    let default_issuer = "http://127.0.0.1:8080";
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(index.contains(&format!("connect-src 'self' {default_issuer}")));
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["issuer"], default_issuer);
    config["issuer"] = s.base.clone().into();
    let site = Site::builder()
        .root(&dir)
        .page("/index.html", &index.replace(default_issuer, &s.base))
        .page("/config.json", &config.to_string())
        .csp(&format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' {}; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            s.base
        ))
        .start();
    let home = site.url("/");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let create = readme_client_create(&readme, &home);
    s.admin(&create.iter().map(String::as_str).collect::<Vec<_>>(), None);

    let tab = tab();
    tab.goto(&home);
    spa_state(&tab, "signed-out");
    tab.leaving(|| tab.click("#login"));
    tab.sign_in("alice", PASSWORD);
    tab.submit(ALLOW);
    spa_state(&tab, "signed-in");
    assert_eq!(
        tab.url().as_str(),
        home,
        "the code is gone from the address"
    );
    let userinfo: serde_json::Value = serde_json::from_str(&tab.text("#userinfo")).unwrap();
    assert_eq!(userinfo["preferred_username"], "alice", "{userinfo}");
    let stored = tab.script("return Object.keys(sessionStorage).concat(Object.keys(localStorage))");
    assert_eq!(stored, serde_json::json!([]), "tokens only in memory");

    // Each refresh gets a new access token; the second one works only if
    // the first one's new refresh token was kept (the old one is reuse).
    let mut seen = vec![tab.text("#access-token")];
    for n in ["1", "2"] {
        tab.click("#refresh");
        tab.poll("the refresh", || {
            (tab.text("#refreshes") == n).then_some(())
        });
        spa_state(&tab, "signed-in");
        let fp = tab.text("#access-token");
        assert!(
            !seen.contains(&fp),
            "a new access token: {fp} after {seen:?}"
        );
        seen.push(fp);
    }

    tab.leaving(|| tab.click("#logout"));
    tab.wait_url("back at the SPA", |u| u.as_str() == home);
    spa_state(&tab, "signed-out");
    // The server's session ended: signing in again asks for the password.
    tab.leaving(|| tab.click("#login"));
    tab.wait_for(PASSWORD_FIELD);
}

#[test]
fn proofkey_login_with_the_browser_it_opens() {
    let w = World::new();
    w.s.admin(
        &[
            "client",
            "create",
            "--id",
            "cli",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
        ],
        None,
    );
    // BROWSER is a script that writes down the URL it is given.
    let dir = tempfile::tempdir().unwrap();
    let opened = dir.path().join("opened-url");
    let script = dir.path().join("browser.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > \"$0.tmp\" && mv \"$0.tmp\" '{}'\n",
            opened.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut login = proofkey()
        .args(["login", "--issuer", &w.s.base, "--client-id", "cli"])
        .args(["--profile", "browser"])
        .env("PROOFKEY_CONFIG_DIR", dir.path().join("cfg"))
        .env("BROWSER", &script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let tab = tab();
    let url = tab.poll("the CLI to open the browser", || {
        std::fs::read_to_string(&opened).ok()
    });
    tab.goto(&url);
    tab.sign_in("alice", PASSWORD);
    tab.submit(ALLOW);
    tab.wait_url("the CLI's loopback page", |u| {
        u.host_str() == Some("127.0.0.1") && u.origin().ascii_serialization() != w.s.base
    });
    tab.wait_for(r#"main[data-outcome="success"]"#);
    let status = tab.poll("the CLI to end", || login.try_wait().unwrap());
    let mut err = String::new();
    login
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
}

/// The check every test ends with can fail: an inline script under a strict
/// policy is reported, and still is after the browser moved on.
#[test]
fn the_csp_check_sees_a_violation() {
    let site = Site::builder()
        .page(
            "/inline.html",
            "<!doctype html><title>before</title><script>document.title = 'ran'</script>",
        )
        .page("/other.html", "<!doctype html><title>other</title>")
        .csp("default-src 'none'")
        .start();
    let tab = tab();
    tab.goto(&site.url("/inline.html"));
    assert_eq!(tab.script("return document.title"), "before", "blocked");
    tab.goto(&site.url("/other.html"));
    let v = tab.csp_violations();
    assert!(
        v.iter().any(|m| m.contains("inline script")),
        "the violation is reported: {v:?}"
    );
    tab.assert_no_csp_violation();
}

/// The WCAG 2 contrast ratio of two `rgb(r, g, b)` colours as the browser
/// computes them.
fn contrast(a: &str, b: &str) -> f64 {
    let luminance = |css: &str| {
        let v: Vec<f64> = css
            .trim_start_matches("rgba(")
            .trim_start_matches("rgb(")
            .trim_end_matches(')')
            .split(',')
            .take(3)
            .map(|c| c.trim().parse::<f64>().unwrap() / 255.0)
            .map(|c| {
                if c <= 0.039_28 {
                    c / 12.92
                } else {
                    ((c + 0.055) / 1.055).powf(2.4)
                }
            })
            .collect();
        0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]
    };
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

/// The name of the focused element.
fn focused(tab: &Tab) -> String {
    tab.script("return document.activeElement && document.activeElement.name || ''")
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn the_pages_speak_the_browsers_language_or_ui_locales_and_keep_focus_and_contrast() {
    let w = World::new();
    let tab = tab();
    tab.accept_language("de-DE,de;q=0.9");
    tab.goto(&w.authorize_url("st-de"));
    tab.wait_for(PASSWORD_FIELD);
    assert_eq!(tab.attr("html", "lang").as_deref(), Some("de"));
    assert_eq!(tab.text("button[type=submit]"), "Anmelden");
    assert_eq!(focused(&tab), "username", "the form starts at the username");

    // WCAG 1.4.11: the fields' borders at 3:1 against the white card.
    let border = tab.script(
        "return getComputedStyle(document.querySelector('input[name=username]')).borderTopColor",
    );
    let ratio = contrast(border.as_str().unwrap(), "rgb(255, 255, 255)");
    assert!(ratio >= 3.0, "input border {border}: {ratio:.2}:1");

    // A wrong password: the error in German, the focus on the password.
    tab.sign_in("alice", "nicht das Passwort");
    assert!(tab
        .text(r#"[role="alert"]"#)
        .contains("passen nicht zusammen"));
    assert_eq!(focused(&tab), "password", "after a wrong password");
    tab.sign_in("alice", PASSWORD);

    // The consent page, in German, says where the browser goes next, and
    // its Deny button is visible against the card (1.4.11).
    tab.wait_for(DENY);
    // (The test's client is on 127.0.0.1: "an application on this device".)
    assert!(
        tab.text("#destination").contains("auf diesem Gerät"),
        "{}",
        tab.text("#destination")
    );
    assert_eq!(tab.text(ALLOW), "Erlauben");
    let deny_border = tab.script(
        "return getComputedStyle(document.querySelector('button[value=deny]')).borderTopColor",
    );
    let ratio = contrast(deny_border.as_str().unwrap(), "rgb(255, 255, 255)");
    assert!(ratio >= 3.0, "Deny's border {deny_border}: {ratio:.2}:1");

    // ui_locales (OIDC Core 3.1.2.1) beats the browser's language.
    let french = format!("{}&ui_locales=fr", w.authorize_url("st-fr"));
    tab.goto(&french);
    tab.wait_for(ALLOW);
    assert_eq!(tab.attr("html", "lang").as_deref(), Some("fr"));
    assert_eq!(tab.text(ALLOW), "Autoriser");

    // "Not you?": the session ends and the sign-in form comes back, in
    // French still (ui_locales travels with the request).
    tab.submit(r#"button[name="decision"][value="switch"]"#);
    tab.wait_for(PASSWORD_FIELD);
    assert_eq!(tab.text("button[type=submit]"), "Se connecter");
    tab.sign_in("alice", PASSWORD);
    tab.submit(ALLOW);
    let q = w.at_client(&tab);
    assert_eq!(q.get("state").map(String::as_str), Some("st-fr"));
}

#[test]
fn a_themed_server_shows_its_name_logo_colour_and_templates_at_a_phones_width() {
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("acme.svg");
    std::fs::write(
        &logo,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="32"><rect width="120" height="32" fill="#7a1fa2"/></svg>"##,
    )
    .unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(
        templates.join("not_found.html"),
        r#"{% extends "layout.html" %}{% block title %}{{ t("not-found-title") }}{% endblock %}{% block body %}<h1 id="acme-404">{{ product_name }}: {{ t("not-found-title") }}</h1>{% endblock %}"#,
    )
    .unwrap();
    let w = World::start(&[
        "--product-name",
        "Acme ID",
        "--theme-primary-color",
        "#7a1fa2",
        "--theme-logo",
        logo.to_str().unwrap(),
        "--templates-dir",
        templates.to_str().unwrap(),
    ]);
    let tab = tab();
    let before = tab.window_size(390, 800);
    tab.goto(&w.authorize_url("st-theme"));
    tab.wait_for(PASSWORD_FIELD);
    assert!(tab
        .script("return document.title")
        .as_str()
        .unwrap()
        .ends_with("· Acme ID"));
    // The logo came from this server and was drawn (the CSP allows it).
    let drawn = tab.script(
        "const i = document.querySelector('header img'); return i.complete && i.naturalWidth",
    );
    assert_eq!(drawn, serde_json::json!(120), "the logo was not drawn");
    let button = tab.script(
        "return getComputedStyle(document.querySelector('button[type=submit]')).backgroundColor",
    );
    assert_eq!(button, "rgb(122, 31, 162)");
    // At a phone's width, nothing scrolls sideways.
    let fits = tab.script("return document.documentElement.scrollWidth <= window.innerWidth");
    assert_eq!(fits, serde_json::json!(true));

    // The operator's 404 template, in the browser's language.
    tab.goto(&format!("{}/no/such/page", w.s.base));
    assert_eq!(tab.text("#acme-404"), "Acme ID: Page not found");
    tab.goto(&format!("{}/", w.s.base));
    assert!(tab.has(r#"a[href="/device"]"#));
    tab.window_size(before.0 as u32, before.1 as u32);
}
