//! RFC 9126 (pushed authorization requests): the PAR endpoint, its
//! one-time, short-lived `request_uri` at /authorize, PAR required per
//! client and globally, and PAR with DPoP (RFC 9449 §10.1); on SQLite and
//! on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use common::*;
use proofkey_core::model::ClientKind;
use proofkey_core::{Clock as _, Config};
use proofkey_dpop::DpopKey;
use proofkey_pkce::{CodeChallenge, CodeVerifier};
use serde_json::Value;

fn no_change(_: &mut Config) {}

async fn setup(s: &TestServer) {
    s.public_client("app", &[REDIRECT], true).await;
    s.client(
        "web",
        ClientKind::Confidential,
        &[REDIRECT],
        true,
        "RS256",
        Some("web-secret"),
    )
    .await;
    s.user("alice").await;
}

/// The authorization request's parameters for `client_id`.
fn request(client_id: &str, verifier: &CodeVerifier) -> Vec<(String, String)> {
    AuthRequest::new(client_id, verifier).pairs()
}

/// POST /par with `form`, HTTP Basic for "web" when `basic`, and `DPoP`
/// header values.
async fn push(
    s: &TestServer,
    form: &[(String, String)],
    basic: bool,
    proofs: &[&str],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = s.http.post(s.url("/par")).form(form);
    if basic {
        req = req.basic_auth("web", Some("web-secret"));
    }
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

fn authorize_url(s: &TestServer, client_id: &str, request_uri: &str) -> String {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri)
        .finish();
    s.url(&format!("/authorize?{q}"))
}

/// Signs in as alice on the pages a GET of `url` leads to; the final page
/// (a redirect to the client, or an error page).
async fn sign_in(s: &TestServer, b: &mut Browser, url: &str) -> Page {
    let mut page = b.get(url).await;
    for _ in 0..6 {
        if let Some(next) = page.location().filter(|l| l.starts_with('/')) {
            page = b.get(&s.url(&next)).await;
            continue;
        }
        if page.status != 200 || !page.body.contains("<form") {
            return page;
        }
        page = if page.body.contains("name=\"password\"") {
            b.login(&s.base, &page, "alice", PASSWORD).await
        } else {
            b.decide(&s.base, &page, "allow").await
        };
    }
    page
}

fn redeem<'a>(
    client_id: &'a str,
    code: &'a str,
    verifier: &'a CodeVerifier,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.secret()),
    ]
}

mod pushed_then_used_once {
    use super::*;
    pub const CONFIG: fn(&mut Config) = no_change;

    /// §2.2, §4: 201 with a request_uri; /authorize with it (and only
    /// client_id) runs the pushed request; a code once, then never again.
    pub async fn run(s: &TestServer) {
        setup(s).await;
        let verifier = CodeVerifier::generate();
        let (status, headers, body) = push(s, &request("web", &verifier), true, &[]).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(headers["cache-control"], "no-store");
        let uri = body["request_uri"].as_str().unwrap().to_owned();
        assert!(
            uri.starts_with("urn:ietf:params:oauth:request_uri:"),
            "{uri}"
        );
        assert_eq!(body["expires_in"], 60);

        // Parameters sent beside request_uri are not the request: only the
        // pushed ones count (here, a redirect_uri an attacker would like).
        let mut b = s.browser();
        let url = format!(
            "{}&redirect_uri=https%3A%2F%2Fevil.example%2F",
            authorize_url(s, "web", &uri)
        );
        let page = sign_in(s, &mut b, &url).await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert!(
            page.location().unwrap().starts_with(REDIRECT),
            "{:?}",
            page.location()
        );
        let code = code_of(&page, &s.base, "st-123");
        let mut form = redeem("web", &code, &verifier);
        form.push(("client_secret", "web-secret"));
        let (status, _, body) = s.token(&form).await;
        assert_eq!(status, 200, "{body}");

        // §4: used once. A second use, even in the same browser, is refused.
        let page = b.get(&authorize_url(s, "web", &uri)).await;
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(page.body.contains("request_uri"), "{}", page.body);
        assert!(page.location().is_none());
    }
}

mod refused_pushes {
    use super::*;
    pub const CONFIG: fn(&mut Config) = no_change;

    /// §2.1, §2.3: errors as at the token endpoint, nothing stored.
    pub async fn run(s: &TestServer) {
        setup(s).await;
        let verifier = CodeVerifier::generate();
        let good = request("web", &verifier);
        let with = |k: &str, v: &str| {
            let mut f: Vec<(String, String)> =
                good.iter().filter(|(n, _)| n != k).cloned().collect();
            if v != "<omit>" {
                f.push((k.into(), v.into()));
            }
            f
        };
        let plain = CodeChallenge::s256(&verifier).as_str();
        let cases = [
            (
                "request_uri inside",
                with("request_uri", "urn:ietf:params:oauth:request_uri:x"),
                true,
                400,
                "invalid_request",
            ),
            (
                "no client authentication",
                good.clone(),
                false,
                401,
                "invalid_client",
            ),
            (
                "plain PKCE",
                with("code_challenge_method", "plain"),
                true,
                400,
                "invalid_request",
            ),
            (
                "plain PKCE, verifier as challenge",
                {
                    let mut f = with("code_challenge_method", "plain");
                    f.retain(|(k, _)| k != "code_challenge");
                    f.push(("code_challenge".into(), verifier.secret().into()));
                    f
                },
                true,
                400,
                "invalid_request",
            ),
            (
                "no code_challenge",
                with("code_challenge", "<omit>"),
                true,
                400,
                "invalid_request",
            ),
            (
                "unregistered redirect_uri",
                with("redirect_uri", "https://evil.example/cb"),
                true,
                400,
                "invalid_request",
            ),
            (
                "another client's id",
                with("client_id", "app"),
                true,
                400,
                "invalid_request",
            ),
            (
                "unknown scope",
                with("scope", "openid admin"),
                true,
                400,
                "invalid_scope",
            ),
            (
                "unsupported response_type",
                with("response_type", "token"),
                true,
                400,
                "unsupported_response_type",
            ),
        ];
        let _ = plain;
        for (what, form, basic, status, error) in cases {
            let (got, _, body) = push(s, &form, basic, &[]).await;
            assert_eq!(
                (got, body["error"].as_str()),
                (status, Some(error)),
                "{what}: {body}"
            );
        }
        // Not a form.
        let r = s
            .http
            .post(s.url("/par"))
            .basic_auth("web", Some("web-secret"))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        // GET is not the endpoint's method (§2.1: POST).
        let r = s.http.get(s.url("/par")).send().await.unwrap();
        assert_eq!(r.status(), 405);
    }
}

mod request_uri_limits {
    use super::*;
    pub const CONFIG: fn(&mut Config) = no_change;

    /// §4: a request_uri expires, and belongs to the client that pushed it.
    pub async fn run(s: &TestServer) {
        setup(s).await;
        let verifier = CodeVerifier::generate();
        // A public client pushes too (client_id, no secret).
        let (status, _, body) = push(s, &request("app", &verifier), false, &[]).await;
        assert_eq!(status, 201, "{body}");
        let uri = body["request_uri"].as_str().unwrap().to_owned();

        let mut b = s.browser();
        let page = b.get(&authorize_url(s, "web", &uri)).await;
        assert_eq!(
            page.status, 400,
            "another client's request_uri: {}",
            page.body
        );
        let page = b
            .get(&authorize_url(
                s,
                "app",
                "urn:ietf:params:oauth:request_uri:guess",
            ))
            .await;
        assert_eq!(page.status, 400, "a guessed request_uri");

        // A reload before the code is issued finds it again.
        let page = b.get(&authorize_url(s, "app", &uri)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let page = b.get(&authorize_url(s, "app", &uri)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        // The login form carries only client_id and request_uri.
        let hidden: Vec<String> = page.hidden_fields().into_iter().map(|(k, _)| k).collect();
        assert!(hidden.contains(&"request_uri".to_owned()), "{hidden:?}");
        assert!(!hidden.contains(&"code_challenge".to_owned()), "{hidden:?}");

        // §2.2: its lifetime is the client's time to bring the user here;
        // once here, the user has the sign-in's allowance (an hour from the
        // push) to sign in and decide.
        s.clock.advance(61);
        let page = b.get(&authorize_url(s, "app", &uri)).await;
        assert_eq!(
            page.status, 200,
            "in use, past its first lifetime: {}",
            page.body
        );
        s.clock.advance(3600);
        let page = b.get(&authorize_url(s, "app", &uri)).await;
        assert_eq!(page.status, 400, "past the allowance: {}", page.body);
        let page = sign_in(s, &mut b, &authorize_url(s, "app", &uri)).await;
        assert!(
            page.location().is_none_or(|l| !l.contains("code=")),
            "{:?}",
            page.location()
        );

        // A request_uri never brought to /authorize expires with its lifetime.
        let (_, _, body) = push(s, &request("app", &verifier), false, &[]).await;
        let unused = body["request_uri"].as_str().unwrap().to_owned();
        s.clock.advance(61);
        let page = b.get(&authorize_url(s, "app", &unused)).await;
        assert_eq!(page.status, 400, "expired unused: {}", page.body);
    }
}

mod required_par {
    use super::*;
    pub const CONFIG: fn(&mut Config) = no_change;

    /// §6: a client registered with require_pushed_authorization_requests
    /// cannot send its request through the front channel.
    pub async fn run(s: &TestServer) {
        s.client_with("strict", ClientKind::Public, &[REDIRECT], |c| {
            c.skip_consent = true;
            c.require_pushed_authorization_requests = true;
        })
        .await;
        s.user("alice").await;
        let verifier = CodeVerifier::generate();
        let req = AuthRequest::new("strict", &verifier);
        let page = s.browser().get(&req.url(&s.base)).await;
        let p = page.redirect_params();
        assert_eq!(
            p.get("error").map(String::as_str),
            Some("invalid_request"),
            "{p:?}"
        );
        assert_eq!(p.get("state").map(String::as_str), Some("st-123"));

        let (status, _, body) = push(s, &request("strict", &verifier), false, &[]).await;
        assert_eq!(status, 201, "{body}");
        let uri = body["request_uri"].as_str().unwrap();
        let page = sign_in(s, &mut s.browser(), &authorize_url(s, "strict", uri)).await;
        let code = code_of(&page, &s.base, "st-123");
        let (status, _, body) = s.token(&redeem("strict", &code, &verifier)).await;
        assert_eq!(status, 200, "{body}");
    }
}

mod pushed_with_dpop {
    use super::*;
    pub const CONFIG: fn(&mut Config) = no_change;

    /// RFC 9449 §10.1: a proof at the PAR endpoint binds the code like
    /// dpop_jkt; a dpop_jkt naming another key is refused.
    pub async fn run(s: &TestServer) {
        setup(s).await;
        let key = DpopKey::generate().unwrap();
        let proof = |url: &str| key.proof("POST", url, None, None, s.clock.now()).unwrap();
        let verifier = CodeVerifier::generate();
        let mut form = request("app", &verifier);
        form.push((
            "dpop_jkt".into(),
            DpopKey::generate().unwrap().thumbprint().into(),
        ));
        let (status, _, body) = push(s, &form, false, &[&proof(&s.url("/par"))]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{body}"
        );

        let (status, _, body) = push(
            s,
            &request("app", &verifier),
            false,
            &[&proof(&s.url("/par"))],
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let uri = body["request_uri"].as_str().unwrap();
        let page = sign_in(s, &mut s.browser(), &authorize_url(s, "app", uri)).await;
        let code = code_of(&page, &s.base, "st-123");
        let r = s
            .http
            .post(s.url("/token"))
            .header("DPoP", proof(&s.url("/token")))
            .form(&redeem("app", &code, &verifier))
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["token_type"], "DPoP", "{body}");

        // Without the proof, the bound code is refused.
        let verifier = CodeVerifier::generate();
        let (_, _, body) = push(
            s,
            &request("app", &verifier),
            false,
            &[&proof(&s.url("/par"))],
        )
        .await;
        let uri = body["request_uri"].as_str().unwrap();
        let page = sign_in(s, &mut s.browser(), &authorize_url(s, "app", uri)).await;
        let code = code_of(&page, &s.base, "st-123");
        let (_, _, body) = s.token(&redeem("app", &code, &verifier)).await;
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }
}

mod pushed_with_prompt_login {
    use super::*;
    pub const CONFIG: fn(&mut Config) = no_change;

    /// OIDC Core §3.1.2.1 through PAR: `prompt=login` asks for a sign-in
    /// once, even with a live session; then the code comes (the pushed
    /// parameters keep `prompt`, so a sign-in since the push honours it).
    pub async fn run(s: &TestServer) {
        setup(s).await;
        let mut b = s.browser();
        // A live session first.
        let verifier = CodeVerifier::generate();
        let (_, _, body) = push(s, &request("app", &verifier), false, &[]).await;
        let first = authorize_url(s, "app", body["request_uri"].as_str().unwrap());
        let page = sign_in(s, &mut b, &first).await;
        code_of(&page, &s.base, "st-123");

        s.clock.advance(5);
        let verifier = CodeVerifier::generate();
        let mut form = request("app", &verifier);
        form.push(("prompt".into(), "login".into()));
        let (_, _, body) = push(s, &form, false, &[]).await;
        let uri = body["request_uri"].as_str().unwrap().to_owned();
        let page = b.get(&authorize_url(s, "app", &uri)).await;
        assert!(
            page.body.contains("name=\"password\""),
            "asked to sign in again: {}",
            page.body
        );
        let page = sign_in(s, &mut b, &authorize_url(s, "app", &uri)).await;
        let code = code_of(&page, &s.base, "st-123");
        let (status, _, body) = s.token(&redeem("app", &code, &verifier)).await;
        assert_eq!(status, 200, "{body}");
    }
}

both_backends!(
    pushed_with_prompt_login,
    pushed_then_used_once,
    refused_pushes,
    request_uri_limits,
    required_par,
    pushed_with_dpop,
);

/// §5: the endpoint and the global requirement are advertised, and
/// `require_pushed_authorization_requests = true` refuses the front channel.
#[tokio::test]
async fn required_globally_and_advertised() {
    let s = TestServer::start_with(|c| c.require_pushed_authorization_requests = true).await;
    setup(&s).await;
    let doc: Value = s
        .http
        .get(s.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["pushed_authorization_request_endpoint"], s.url("/par"));
    assert_eq!(doc["require_pushed_authorization_requests"], true);
    let verifier = CodeVerifier::generate();
    let page = s
        .browser()
        .get(&AuthRequest::new("app", &verifier).url(&s.base))
        .await;
    assert_eq!(
        page.redirect_params().get("error").map(String::as_str),
        Some("invalid_request")
    );
}

/// §2.3: pushes are counted per address (429 with Retry-After past the
/// limit), and what cannot be stored or echoed is refused: `request`
/// objects, a long `state`.
#[tokio::test]
async fn pushes_are_bounded() {
    let s = TestServer::start_with(|c| c.pushed_authorization_request_max_per_address = 3).await;
    setup(&s).await;
    let verifier = CodeVerifier::generate();
    let mut long_state = request("app", &verifier);
    long_state.retain(|(k, _)| k != "state");
    long_state.push(("state".into(), "s".repeat(1025)));
    let (status, _, body) = push(&s, &long_state, false, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    let mut object = request("app", &verifier);
    object.push(("request".into(), "eyJhbGciOiJub25lIn0.e30.".into()));
    let (status, _, body) = push(&s, &object, false, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("request_not_supported")),
        "{body}"
    );
    let (status, _, body) = push(&s, &request("app", &verifier), false, &[]).await;
    assert_eq!(status, 201, "{body}");
    // Those three counted: the fourth is past the limit.
    let (status, headers, body) = push(&s, &request("app", &verifier), false, &[]).await;
    assert_eq!(status, 429, "{body}");
    assert!(headers.contains_key("retry-after"));
    // A minute later, pushes are admitted again.
    s.clock.advance(61);
    let (status, _, body) = push(&s, &request("app", &verifier), false, &[]).await;
    assert_eq!(status, 201, "{body}");
}

/// §2.3: 413 for parameters that pass every check but size: ten long
/// registered resources, a full `state` and `nonce`, and a long (but
/// registered) redirect URI.
#[tokio::test]
async fn oversized_pushes_are_413() {
    let s = TestServer::start().await;
    let long_redirect = format!("https://app.example/{}", "p".repeat(12_000));
    s.public_client("big", &[long_redirect.as_str()], true)
        .await;
    let verifier = CodeVerifier::generate();
    let mut huge: Vec<(String, String)> = request("big", &verifier)
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "redirect_uri" | "scope" | "state"))
        .collect();
    huge.push(("redirect_uri".into(), long_redirect.clone()));
    huge.push(("scope".into(), "openid".into()));
    huge.push(("state".into(), "s".repeat(1024)));
    huge.push(("nonce".into(), "n".repeat(1024)));
    for i in 0..10 {
        let uri = format!("https://api{i}.example/{}", "r".repeat(2000));
        resource(&s, &uri, &[]).await;
        huge.push(("resource".into(), uri));
    }
    let (status, _, body) = push(&s, &huge, false, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("invalid_request")),
        "{body}"
    );
    // Without the long redirect URI the same request is kept.
    s.public_client("small", &[REDIRECT], true).await;
    let fits: Vec<(String, String)> = huge
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "redirect_uri" => (k, REDIRECT.to_owned()),
            "client_id" => (k, "small".to_owned()),
            _ => (k, v),
        })
        .collect();
    let (status, _, body) = push(&s, &fits, false, &[]).await;
    assert_eq!(status, 201, "{body}");
}

/// §4 under concurrency: of many browsers using one request_uri at once,
/// exactly one gets a code.
#[tokio::test]
async fn concurrent_uses_yield_one_code() {
    let s = TestServer::start().await;
    setup(&s).await;
    let verifier = CodeVerifier::generate();
    let (_, _, body) = push(&s, &request("app", &verifier), false, &[]).await;
    let uri = body["request_uri"].as_str().unwrap().to_owned();
    // Signed-in browsers at the consent-free last step.
    let mut browsers = Vec::new();
    for _ in 0..8 {
        let mut b = s.browser();
        let page = b.get(&authorize_url(&s, "app", &uri)).await;
        assert!(page.body.contains("name=\"password\""), "{}", page.body);
        browsers.push((b, page));
    }
    let base = s.base.clone();
    let tasks: Vec<_> = browsers
        .into_iter()
        .map(|(mut b, page)| {
            let base = base.clone();
            tokio::spawn(async move {
                let page = b.login(&base, &page, "alice", PASSWORD).await;
                match page.location().filter(|l| l.starts_with('/')) {
                    Some(next) => b.get(&format!("{base}{next}")).await,
                    None => page,
                }
            })
        })
        .collect();
    let mut codes = 0;
    for t in tasks {
        let page = t.await.unwrap();
        if page.location().is_some_and(|l| l.contains("code=")) {
            codes += 1;
        }
    }
    assert_eq!(codes, 1);
}
