//! CORS (Fetch standard) for browser apps on the token, revocation,
//! userinfo, JWKS and discovery endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use proofkey_core::model::ClientKind;

const SPA: &str = "https://spa.example";

async fn setup() -> TestServer {
    let s = TestServer::start().await;
    s.public_client("spa", &["https://spa.example/callback"], true)
        .await;
    s.public_client("native", &["http://127.0.0.1/cb"], true)
        .await;
    s.client(
        "web",
        ClientKind::Confidential,
        &["https://web.example/cb"],
        true,
        "RS256",
        Some("x"),
    )
    .await;
    s.user("alice").await;
    s
}

async fn preflight(s: &TestServer, path: &str, origin: &str) -> reqwest::Response {
    s.http
        .request(reqwest::Method::OPTIONS, s.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap()
}

const CORS_PATHS: &[&str] = &[
    "/token",
    "/revoke",
    "/userinfo",
    "/jwks.json",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
];

#[tokio::test]
async fn a_preflight_from_a_public_clients_origin_is_allowed() {
    let s = setup().await;
    for path in CORS_PATHS {
        let r = preflight(&s, path, SPA).await;
        assert_eq!(r.status(), 204, "{path}");
        assert_eq!(r.headers()["access-control-allow-origin"], SPA, "{path}");
        let methods = r.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap();
        assert!(methods.contains("POST"));
        let headers = r.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap();
        assert!(headers.contains("content-type") && headers.contains("authorization"));
        assert!(r
            .headers()
            .get("access-control-allow-credentials")
            .is_none());
    }
}

#[tokio::test]
async fn a_preflight_from_a_foreign_origin_is_refused() {
    let s = setup().await;
    for origin in [
        "https://evil.example",
        "https://web.example",
        "https://spa.example:8443",
        "null",
    ] {
        for path in CORS_PATHS {
            let r = preflight(&s, path, origin).await;
            assert_eq!(r.status(), 403, "{origin} {path}");
            assert!(r.headers().get("access-control-allow-origin").is_none());
        }
    }
}

#[tokio::test]
async fn a_loopback_origin_on_any_port_is_allowed_for_a_loopback_client() {
    let s = setup().await;
    let r = preflight(&s, "/token", "http://127.0.0.1:5173").await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://127.0.0.1:5173"
    );
    // localhost is another origin.
    assert_eq!(
        preflight(&s, "/token", "http://localhost:5173")
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn actual_responses_carry_the_origin_only_when_allowed() {
    let s = setup().await;
    let allowed = s
        .http
        .get(s.url("/jwks.json"))
        .header("origin", SPA)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], SPA);
    assert!(allowed.headers()["vary"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase()
        .contains("origin"));
    let token_error = s
        .http
        .post(s.url("/token"))
        .header("origin", SPA)
        .form(&[("grant_type", "authorization_code"), ("client_id", "spa")])
        .send()
        .await
        .unwrap();
    assert_eq!(token_error.status(), 400);
    assert_eq!(token_error.headers()["access-control-allow-origin"], SPA);

    let foreign = s
        .http
        .get(s.url("/jwks.json"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 200);
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[tokio::test]
async fn introspection_and_pages_are_not_cross_origin() {
    let s = setup().await;
    let r = preflight(&s, "/introspect", SPA).await;
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = preflight(&s, "/authorize", SPA).await;
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
