//! The client library against the real `proofkey serve` (in-process, on
//! 127.0.0.1:0): a whole loopback login with the browser step done by an HTTP
//! client that submits the forms, the device grant, and every refusal the
//! library must make on its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../server/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use proofkey_client::authorize::PendingAuthorization;
use proofkey_client::loopback::LoopbackReceiver;
use proofkey_client::{device, discovery, id_token, ClientError};
use proofkey_core::model::{ClientKind, DEVICE_CODE_GRANT};
use proofkey_core::Clock as _;

async fn setup() -> TestServer {
    let s = TestServer::start().await;
    s.client_with("cli", ClientKind::Public, &[REDIRECT], |c| {
        c.grant_types = vec![
            "authorization_code".into(),
            "refresh_token".into(),
            DEVICE_CODE_GRANT.into(),
        ];
    })
    .await;
    s.user("alice").await;
    s
}

fn scopes() -> Vec<String> {
    vec!["openid".into(), "offline_access".into()]
}

/// The browser: follows the authorization URL through login and consent and
/// returns the final redirect (to the loopback receiver).
async fn browser_to_redirect(s: &TestServer, url: &str) -> String {
    let mut b = s.browser();
    let mut page = b.get(url).await;
    for _ in 0..4 {
        if page.status == 303 {
            let loc = page.location().unwrap();
            if loc.starts_with('/') {
                page = b.get(&format!("{}{loc}", s.base)).await;
                continue;
            }
            return loc;
        }
        page = if page.body.contains("name=\"password\"") {
            b.login(&s.base, &page, "alice", PASSWORD).await
        } else {
            b.decide(&s.base, &page, "allow").await
        };
    }
    panic!("no redirect");
}

#[tokio::test]
async fn a_whole_loopback_login_with_id_token_validation() {
    let s = setup().await;
    let http = proofkey_client::http_client().unwrap();
    let meta = discovery::discover(&http, &s.base).await.unwrap();
    assert!(meta.advertises_s256());
    let receiver = LoopbackReceiver::bind(false, 0, "/callback").await.unwrap();
    let redirect = receiver.redirect_uri();
    assert!(redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/callback"));
    let pending = PendingAuthorization::new(&meta, "cli", &redirect, &scopes()).unwrap();
    assert!(pending.url().contains("code_challenge_method=S256"));

    let location = browser_to_redirect(&s, pending.url()).await;
    assert!(location.starts_with(&redirect), "{location}");
    // The browser lands on the loopback listener, which answers it only
    // once the caller says how the login ended.
    let landing = tokio::spawn(reqwest::get(location));
    let callback = receiver.wait(Duration::from_secs(5)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!landing.is_finished(), "no page before the verdict");
    let code = pending.code_from(callback.params()).unwrap();
    let nonce = pending.nonce().to_owned();
    let tokens = pending.exchange(&http, &meta, &code, None).await.unwrap();
    assert!(tokens.refresh_token.is_some());

    let jwks = id_token::fetch_jwks(&http, meta.jwks_uri.as_deref().unwrap())
        .await
        .unwrap();
    let idt = tokens.id_token.as_deref().unwrap();
    let claims = id_token::validate(
        idt,
        &jwks,
        &id_token::Expected {
            issuer: &meta.issuer,
            client_id: "cli",
            nonce: Some(&nonce),
            access_token: Some(&tokens.access_token),
            now: s.clock.now(),
        },
    )
    .unwrap();
    assert_eq!(claims["sub"], "sub-alice");
    let account = id_token::display_name(&claims);
    callback.succeed(account.as_deref()).await;
    let landing = landing.await.unwrap().unwrap();
    assert_eq!(landing.status(), 200);
    assert_eq!(
        landing.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .split("; ")
            .take(2)
            .collect::<Vec<_>>(),
        ["default-src 'none'", "style-src 'unsafe-inline'"]
    );
    let page = landing.text().await.unwrap();
    assert!(page.contains("<main data-outcome=\"success\">"), "{page}");
    assert!(page.contains("close this window"), "{page}");
    // No profile or email scope here: the subject is all there is.
    assert_eq!(account.as_deref(), Some("sub-alice"));
    assert!(page.contains("signed in as sub-alice"), "who: {page}");

    // The wrong nonce, a tampered token, another client: refused.
    let expect = |nonce, client_id, at| id_token::Expected {
        issuer: &meta.issuer,
        client_id,
        nonce,
        access_token: at,
        now: s.clock.now(),
    };
    assert!(id_token::validate(idt, &jwks, &expect(Some("other"), "cli", None)).is_err());
    assert!(id_token::validate(idt, &jwks, &expect(Some(&nonce), "someone-else", None)).is_err());
    assert!(id_token::validate(
        idt,
        &jwks,
        &expect(Some(&nonce), "cli", Some("another-token"))
    )
    .is_err());
}

#[tokio::test]
async fn a_bad_id_token_signature_is_refused() {
    let s = setup().await;
    let body = tokens_with(&s, "cli", "alice", "openid", &[]).await;
    let idt = body["id_token"].as_str().unwrap();
    let http = proofkey_client::http_client().unwrap();
    let jwks = id_token::fetch_jwks(&http, &s.url("/jwks.json"))
        .await
        .unwrap();
    let mut parts: Vec<String> = idt.split('.').map(str::to_owned).collect();
    let sig = parts[2].clone();
    let flipped: String = sig.chars().rev().collect();
    parts[2] = flipped;
    let e = id_token::validate(
        &parts.join("."),
        &jwks,
        &id_token::Expected {
            issuer: &s.base,
            client_id: "cli",
            nonce: None,
            access_token: None,
            now: s.clock.now(),
        },
    )
    .unwrap_err();
    assert!(matches!(e, ClientError::IdToken(_)), "{e}");
    assert!(e.to_string().contains("signature"));
}

async fn pending(s: &TestServer) -> (PendingAuthorization, LoopbackReceiver) {
    let http = proofkey_client::http_client().unwrap();
    let meta = discovery::discover(&http, &s.base).await.unwrap();
    let receiver = LoopbackReceiver::bind(false, 0, "/callback").await.unwrap();
    let p = PendingAuthorization::new(&meta, "cli", &receiver.redirect_uri(), &scopes()).unwrap();
    (p, receiver)
}

fn state_of(p: &PendingAuthorization) -> String {
    url::Url::parse(p.url())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_state_mismatch_is_refused() {
    let s = setup().await;
    let (p, _r) = pending(&s).await;
    for params in [
        pairs(&[("code", "c"), ("state", "forged"), ("iss", &s.base)]),
        pairs(&[("code", "c"), ("iss", &s.base)]),
    ] {
        let e = p.code_from(&params).unwrap_err();
        assert!(matches!(e, ClientError::StateMismatch), "{e}");
        assert!(e.to_string().contains("Start the login again"));
    }
}

#[tokio::test]
async fn a_wrong_or_missing_iss_is_refused() {
    let s = setup().await;
    let (p, _r) = pending(&s).await;
    let state = state_of(&p);
    let e = p
        .code_from(&pairs(&[
            ("code", "c"),
            ("state", &state),
            ("iss", "https://evil.example"),
        ]))
        .unwrap_err();
    assert!(matches!(e, ClientError::IssMismatch { .. }), "{e}");
    // The server advertises RFC 9207, so a response without iss is refused too.
    let e = p
        .code_from(&pairs(&[("code", "c"), ("state", &state)]))
        .unwrap_err();
    assert!(
        matches!(e, ClientError::IssMismatch { got: None, .. }),
        "{e}"
    );
    // The right one passes; an error response is reported as such.
    assert_eq!(
        p.code_from(&pairs(&[
            ("code", "c"),
            ("state", &state),
            ("iss", &s.base)
        ]))
        .unwrap(),
        "c"
    );
    let e = p
        .code_from(&pairs(&[
            ("error", "access_denied"),
            ("state", &state),
            ("iss", &s.base),
        ]))
        .unwrap_err();
    assert!(e.to_string().contains("access_denied"));
}

#[tokio::test]
async fn a_second_callback_request_is_refused() {
    let s = setup().await;
    let (p, r) = pending(&s).await;
    let url = format!("{}?code=c&state={}", r.redirect_uri(), state_of(&p));
    let first = tokio::spawn(reqwest::get(url.clone()));
    let callback = r.wait(Duration::from_secs(5)).await.unwrap();
    let e = p.code_from(callback.params()).unwrap_err();
    assert!(
        matches!(e, ClientError::IssMismatch { .. }),
        "no iss: refused"
    );
    callback.fail(&e).await;
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), 400);
    let page = first.text().await.unwrap();
    assert!(page.contains("<main data-outcome=\"failure\">"), "{page}");
    assert!(page.contains("different sign-in service"), "{page}");
    // The listener is gone, or refuses.
    match reqwest::get(&url).await {
        Err(_) => {}
        Ok(resp) => assert_ne!(resp.status(), 200),
    }
}

#[tokio::test]
async fn other_paths_and_methods_do_not_count_as_the_callback() {
    let s = setup().await;
    let (_p, r) = pending(&s).await;
    let base = r.redirect_uri().replace("/callback", "");
    assert_eq!(
        reqwest::get(format!("{base}/favicon.ico"))
            .await
            .unwrap()
            .status(),
        404
    );
    let post = reqwest::Client::new()
        .post(r.redirect_uri())
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    let e = r.wait(Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(e, ClientError::Timeout(_)), "{e}");
}

#[tokio::test]
async fn waiting_times_out_with_a_clear_message() {
    let r = LoopbackReceiver::bind(false, 0, "/callback").await.unwrap();
    let e = r.wait(Duration::from_millis(100)).await.unwrap_err();
    assert!(matches!(e, ClientError::Timeout(_)));
    assert!(e.to_string().contains("no authorization response"), "{e}");
}

#[tokio::test]
async fn the_listener_binds_loopback_only() {
    let r = LoopbackReceiver::bind(false, 0, "/callback").await.unwrap();
    assert!(r.local_addr().ip().is_loopback());
    if let Ok(r6) = LoopbackReceiver::bind(true, 0, "/cb").await {
        assert!(r6.local_addr().ip().is_loopback());
        assert!(r6.redirect_uri().starts_with("http://[::1]:"));
    }
    assert!(LoopbackReceiver::bind_uri("http://example.com:8080/cb")
        .await
        .is_err());
    assert!(LoopbackReceiver::bind_uri("https://127.0.0.1:8080/cb")
        .await
        .is_err());
}

#[tokio::test]
async fn discovery_refuses_an_issuer_mismatch_and_explains_failures() {
    let s = setup().await;
    let http = proofkey_client::http_client().unwrap();
    // Same server, named differently: the metadata's issuer does not match.
    let other_name = s.base.replace("127.0.0.1", "localhost");
    let e = discovery::discover(&http, &other_name).await.unwrap_err();
    assert!(matches!(e, ClientError::IssuerMismatch { .. }), "{e}");
    let e = discovery::discover(&http, "http://127.0.0.1:9/")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cannot discover"), "{e}");
}

#[tokio::test]
async fn the_device_grant_end_to_end() {
    let s = setup().await;
    let http = proofkey_client::http_client().unwrap();
    let meta = discovery::discover(&http, &s.base).await.unwrap();
    let auth = device::start(&http, &meta, "cli", &scopes()).await.unwrap();
    let user_code = auth.user_code.clone();

    // The user approves in a browser while the device polls.
    let s2 = &s;
    let approve = async move {
        let mut b = s2.browser();
        let page = b.get(&format!("{}/device", s2.base)).await;
        let mut form = page.hidden_fields();
        form.push(("user_code".into(), user_code));
        form.push(("username".into(), "alice".into()));
        form.push(("password".into(), PASSWORD.into()));
        let confirm = b.post(&format!("{}/device", s2.base), &form).await;
        let mut form = confirm.hidden_fields();
        form.push(("decision".into(), "allow".into()));
        b.post(&format!("{}/device/decision", s2.base), &form).await;
    };
    approve.await;
    // Waiting moves the server's clock instead of sleeping.
    let waited = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
    let w = waited.clone();
    let clock = s.clock.clone();
    let tokens = device::poll(&http, &meta, "cli", &auth, None, move |d: Duration| {
        w.lock().unwrap().push(d.as_secs());
        clock.advance(d.as_secs() as i64);
        async {}
    })
    .await
    .unwrap();
    assert!(tokens.id_token.is_some() && tokens.refresh_token.is_some());
    assert_eq!(
        waited.lock().unwrap().first(),
        Some(&5),
        "honours the interval"
    );
}

#[tokio::test]
async fn device_polling_backs_off_on_slow_down_and_reports_denial() {
    let s = setup().await;
    let http = proofkey_client::http_client().unwrap();
    let meta = discovery::discover(&http, &s.base).await.unwrap();
    let auth = device::start(&http, &meta, "cli", &scopes()).await.unwrap();
    // A clock that moves too little makes the server say slow_down; the
    // client must then wait 5 s more each time. Deny after a few polls.
    let waited = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
    let w = waited.clone();
    let clock = s.clock.clone();
    let store = s.store.clone();
    let user_code = auth.user_code.replace('-', "");
    let result = device::poll(&http, &meta, "cli", &auth, None, move |d: Duration| {
        let mut w = w.lock().unwrap();
        w.push(d.as_secs());
        clock.advance(1);
        let n = w.len();
        let store = store.clone();
        let code = user_code.clone();
        let now = clock.now();
        async move {
            if n == 4 {
                let hash = proofkey_core::secret::hash_token(&code);
                store
                    .decide_device_code(&hash, now, &proofkey_core::model::DeviceDecision::Deny)
                    .await
                    .unwrap();
            }
        }
    })
    .await;
    let e = result.unwrap_err();
    assert!(e.to_string().contains("denied"), "{e}");
    let w = waited.lock().unwrap().clone();
    // The first poll has nothing to be too fast against; every later one
    // (1 s apart on the server's clock) is, and the wait grows by 5 s.
    assert_eq!(&w[..4], &[5, 5, 10, 15], "{w:?}");
}

/// RFC 9126 + RFC 9449 through the library against a server that demands
/// DPoP nonces: the request is pushed with a proof (the nonce fetched by
/// the `use_dpop_nonce` retry), the code is bound to the key, the tokens
/// are DPoP, the refresh proves the key, and the device grant binds too.
#[tokio::test]
async fn pushed_and_dpop_bound_with_server_nonces() {
    let s = TestServer::start_with(|c| c.dpop.nonce = true).await;
    s.client_with("cli", ClientKind::Public, &[REDIRECT], |c| {
        c.grant_types = vec![
            "authorization_code".into(),
            "refresh_token".into(),
            DEVICE_CODE_GRANT.into(),
        ];
        c.require_pushed_authorization_requests = true;
        c.dpop_bound_access_tokens = true;
    })
    .await;
    s.user("alice").await;
    let http = proofkey_client::http_client().unwrap();
    let meta = discovery::discover(&http, &s.base).await.unwrap();
    assert!(meta.supports_dpop());
    assert!(meta.pushed_authorization_request_endpoint.is_some());
    let key = proofkey_dpop::DpopKey::generate().unwrap();
    let pending =
        PendingAuthorization::start(&http, &meta, "cli", REDIRECT, &scopes(), Some(&key), true)
            .await
            .unwrap();
    assert!(pending.url().contains("request_uri="), "{}", pending.url());
    assert!(
        !pending.url().contains("code_challenge"),
        "{}",
        pending.url()
    );
    let location = browser_to_redirect(&s, pending.url()).await;
    let url = url::Url::parse(&location).unwrap();
    let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let code = pending.code_from(&params).unwrap();
    let tokens = pending
        .exchange(&http, &meta, &code, Some(&key))
        .await
        .unwrap();
    assert_eq!(tokens.token_type, "DPoP");
    assert_eq!(
        jwt_claims(&tokens.access_token)["cnf"]["jkt"],
        key.thumbprint()
    );
    let kept = tokens.dpop().unwrap().unwrap();
    assert_eq!(kept.thumbprint(), key.thumbprint());
    let shown = format!("{tokens:?}");
    assert!(
        !shown.contains(tokens.dpop_key.as_deref().unwrap()),
        "{shown}"
    );

    // Without the key the refresh is refused; with it, it works.
    let rt = tokens.refresh_token.clone().unwrap();
    let err = proofkey_client::token::refresh(&http, &meta.token_endpoint, "cli", &rt, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::OAuth { error, .. } if error == "invalid_dpop_proof"),
        "{err}"
    );
    let fresh =
        proofkey_client::token::refresh(&http, &meta.token_endpoint, "cli", &rt, Some(&kept))
            .await
            .unwrap();
    assert_eq!(fresh.token_type, "DPoP");

    // The device grant's tokens are bound too.
    let auth = device::start(&http, &meta, "cli", &scopes()).await.unwrap();
    let mut b = s.browser();
    user_decides(&s, &mut b, &auth.user_code, "allow").await;
    let tokens = device::poll(&http, &meta, "cli", &auth, Some(&key), |_| async {})
        .await
        .unwrap();
    assert_eq!(tokens.token_type, "DPoP");
}

/// A caller that gives up without a verdict (an early return, a panic)
/// still leaves the browser a page, and a true one: a failure.
#[tokio::test]
async fn a_callback_dropped_unanswered_gets_a_failure_page() {
    let r = LoopbackReceiver::bind(false, 0, "/callback").await.unwrap();
    let landing = tokio::spawn(reqwest::get(format!("{}?code=c&state=s", r.redirect_uri())));
    let callback = r.wait(Duration::from_secs(5)).await.unwrap();
    assert_eq!(callback.params().len(), 2);
    drop(callback);
    let resp = landing.await.unwrap().unwrap();
    assert_eq!(resp.status(), 400);
    let page = resp.text().await.unwrap();
    assert!(page.contains("<main data-outcome=\"failure\">"), "{page}");
    assert!(!page.contains("<script"), "{page}");
}
