//! RFC 7523 §2.2 / OIDC Core §9 `private_key_jwt` client authentication,
//! against a registered JWK Set or a `jwks_uri`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use proofkey_core::keys::{generate, SigningKey};
use proofkey_core::model::ClientKind;
use proofkey_core::Clock as _;
use serde_json::json;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn new_key(alg: &str) -> SigningKey {
    SigningKey::from_stored(&generate(alg, format!("client-{alg}"), 0, 0).unwrap()).unwrap()
}

fn jwks(keys: &[&SigningKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.public_jwk().clone()).collect::<Vec<_>>()}).to_string()
}

struct Setup {
    s: TestServer,
    key: SigningKey,
}

async fn setup(alg: &str) -> Setup {
    let s = TestServer::start().await;
    let k = new_key(alg);
    let doc = jwks(&[&k]);
    s.client_with("pkj", ClientKind::Confidential, &[REDIRECT], |c| {
        c.grant_types = vec!["client_credentials".into()];
        c.scopes = vec!["read".into()];
        c.jwks = Some(doc);
    })
    .await;
    Setup { s, key: k }
}

fn assertion(
    s: &TestServer,
    key: &SigningKey,
    tweak: impl FnOnce(&mut serde_json::Value),
) -> String {
    let now = s.clock.now();
    let mut claims = json!({
        "iss": "pkj",
        "sub": "pkj",
        "aud": s.url("/token"),
        "exp": now + 60,
        "iat": now,
        "jti": proofkey_core::secret::random_token(16).unwrap(),
    });
    tweak(&mut claims);
    key.sign_jwt("JWT", &claims).unwrap()
}

async fn cc(s: &TestServer, assertion: &str) -> (u16, serde_json::Value) {
    let (status, _, body) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ])
        .await;
    (status, body)
}

#[tokio::test]
async fn a_valid_assertion_authenticates_for_each_algorithm() {
    for alg in ["ES256", "RS256", "EdDSA"] {
        let Setup { s, key } = setup(alg).await;
        let (status, body) = cc(&s, &assertion(&s, &key, |_| {})).await;
        assert_eq!(status, 200, "{alg}: {body}");
    }
}

#[tokio::test]
async fn the_issuer_is_an_accepted_audience_too() {
    let Setup { s, key } = setup("ES256").await;
    let a = assertion(&s, &key, |c| c["aud"] = json!([s.base.clone()]));
    assert_eq!(cc(&s, &a).await.0, 200);
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let Setup { s, key } = setup("ES256").await;
    let a = assertion(&s, &key, |_| {});
    assert_eq!(cc(&s, &a).await.0, 200);
    let (status, body) = cc(&s, &a).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(body["error_description"].as_str().unwrap().contains("jti"));
}

#[tokio::test]
async fn bad_assertions_are_invalid_client() {
    let Setup { s, key } = setup("ES256").await;
    let other = new_key("ES256");
    let now = s.clock.now();
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong aud",
            assertion(&s, &key, |c| {
                c["aud"] = json!("https://elsewhere.example/token")
            }),
        ),
        (
            "expired",
            assertion(&s, &key, |c| c["exp"] = json!(now - 1)),
        ),
        (
            "no exp",
            assertion(&s, &key, |c| drop(c.as_object_mut().unwrap().remove("exp"))),
        ),
        (
            "no jti",
            assertion(&s, &key, |c| drop(c.as_object_mut().unwrap().remove("jti"))),
        ),
        (
            "not yet valid",
            assertion(&s, &key, |c| c["nbf"] = json!(now + 30)),
        ),
        (
            "iss differs",
            assertion(&s, &key, |c| c["iss"] = json!("someone")),
        ),
        ("unregistered key", assertion(&s, &other, |_| {})),
    ];
    for (why, a) in cases {
        let (status, body) = cc(&s, &a).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{why}: {body}"
        );
    }
    // A tampered payload.
    let a = assertion(&s, &key, |_| {});
    let mut parts: Vec<&str> = a.split('.').collect();
    let forged = base64_claims(
        json!({"iss": "pkj", "sub": "pkj", "aud": s.url("/token"), "exp": now + 60, "jti": "x"}),
    );
    parts[1] = &forged;
    assert_eq!(cc(&s, &parts.join(".")).await.0, 401);
}

fn base64_claims(v: serde_json::Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn a_key_client_cannot_fall_back_to_secrets_or_nothing() {
    let Setup { s, .. } = setup("ES256").await;
    let (status, _, b) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", "pkj"),
            ("client_secret", "guess"),
        ])
        .await;
    assert_eq!((status, b["error"].as_str()), (401, Some("invalid_client")));
    let (status, _, b) = s
        .token(&[("grant_type", "client_credentials"), ("client_id", "pkj")])
        .await;
    assert_eq!((status, b["error"].as_str()), (401, Some("invalid_client")));
}

#[tokio::test]
async fn a_wrong_assertion_type_or_mixed_methods_are_invalid_request() {
    let Setup { s, key } = setup("ES256").await;
    let a = assertion(&s, &key, |_| {});
    let (status, _, b) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:other"),
            ("client_assertion", &a),
        ])
        .await;
    assert_eq!(
        (status, b["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _, b) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &a),
            ("client_secret", "x"),
        ])
        .await;
    assert_eq!(
        (status, b["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_jwks_uri_client_authenticates_with_fetched_keys() {
    let s = TestServer::start().await;
    let k = new_key("EdDSA");
    let doc = jwks(&[&k]);
    let app = axum::Router::new().route("/jwks", axum::routing::get(move || async move { doc }));
    jwks_uri_client(&s, app).await;
    let (status, body) = cc(&s, &assertion(&s, &k, |_| {})).await;
    assert_eq!(status, 200, "{body}");
    // Introspection accepts the same method.
    let at = body["access_token"].as_str().unwrap().to_owned();
    let a = assertion(&s, &k, |_| {});
    let (status, _, v) = s
        .post_form(
            "/introspect",
            &[
                ("token", &at),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &a),
            ],
        )
        .await;
    assert_eq!((status, v["active"].as_bool()), (200, Some(true)), "{v}");
}

/// A `jwks_uri` client whose JWK Set is served by `app`.
async fn jwks_uri_client(s: &TestServer, app: axum::Router) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    register_jwks_uri(s, jwks_url).await;
}

/// Registers the `jwks_uri` client "pkj", its keys at `jwks_url`.
async fn register_jwks_uri(s: &TestServer, jwks_url: String) {
    s.client_with("pkj", ClientKind::Confidential, &[REDIRECT], |c| {
        c.grant_types = vec!["client_credentials".into()];
        c.scopes = vec!["read".into()];
        c.jwks_uri = Some(jwks_url);
    })
    .await;
}

/// A `jwks_uri` that fails is not fetched again for every assertion
/// (anyone can send one): once per 30 s.
#[tokio::test]
async fn a_failing_jwks_uri_is_fetched_once_per_interval() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let s = TestServer::start().await;
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down") }
        }),
    );
    jwks_uri_client(&s, app).await;
    let k = new_key("EdDSA");
    for _ in 0..5 {
        let (status, body) = cc(&s, &assertion(&s, &k, |_| {})).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "one fetch for five assertions"
    );
    s.clock.advance(31);
    cc(&s, &assertion(&s, &k, |_| {})).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "tried again after the interval"
    );
}

/// An endless JWK Set body is abandoned once it passes 64 KiB: the server
/// serving it sees its connection closed long before the fetch timeout
/// would have let it send (a 5 s stream on loopback is gigabytes).
#[tokio::test]
async fn an_endless_jwks_body_is_abandoned_early() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let s = TestServer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let written = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&written);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = sock.read(&mut buf).await;
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
        while sock.write_all(chunk.as_bytes()).await.is_ok() {
            counter.fetch_add(0x10000, Ordering::SeqCst);
        }
        let _ = done_tx.send(());
    });
    register_jwks_uri(&s, jwks_url).await;
    let k = new_key("EdDSA");
    let (status, body) = cc(&s, &assertion(&s, &k, |_| {})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    done_rx.await.unwrap();
    let sent = written.load(Ordering::SeqCst);
    assert!(
        sent < 16 << 20,
        "{sent} bytes sent before the fetcher hung up"
    );
}
