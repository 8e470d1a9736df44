//! RFC 6750 §2.1 (the Authorization header) and §3/§3.1 (the challenge,
//! error codes and statuses), with RFC 9728 §5.1's `resource_metadata`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{challenge, challenges, Api, Issuer, TestKey, DEFAULT_ALGS};
use serde_json::Value;

async fn setup() -> (Issuer, Api, TestKey) {
    let issuer = Issuer::start().await;
    let key = TestKey::es256("k1");
    issuer.publish(&key);
    let api = Api::start(&issuer).await;
    (issuer, api, key)
}

/// §3.1: a request without credentials gets a challenge with no error
/// code, only where to learn how to get a token.
#[tokio::test]
async fn no_token_is_401_with_resource_metadata_and_no_error_code() {
    let (_issuer, api, _) = setup().await;
    let resp = api
        .http
        .get(format!("{}/mcp", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // RFC 9449 §7.2: one bare challenge per accepted scheme.
    let metadata = format!(
        "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
        api.base
    );
    assert_eq!(
        challenges(&resp),
        [
            format!("Bearer {metadata}"),
            format!("DPoP {DEFAULT_ALGS}, {metadata}")
        ]
    );
    assert_eq!(
        resp.headers()["access-control-expose-headers"],
        "WWW-Authenticate"
    );
    assert!(resp.text().await.unwrap().is_empty());
    assert_eq!(api.handled(), 0);
}

/// Another scheme (neither Bearer nor DPoP) is no credentials at all: the
/// same bare challenges.
#[tokio::test]
async fn another_scheme_is_treated_as_no_token() {
    let (_issuer, api, _) = setup().await;
    for value in ["Basic YWxpY2U6c2VjcmV0", "DPoP2 abc", "Bearer2 abc"] {
        let resp = api
            .http
            .get(format!("{}/mcp", api.base))
            .header("authorization", value)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{value}");
        assert!(
            challenge(&resp).starts_with("Bearer resource_metadata="),
            "{value}"
        );
    }
}

/// RFC 9110 §11.1: the scheme is case-insensitive.
#[tokio::test]
async fn scheme_is_case_insensitive() {
    let (issuer, api, key) = setup().await;
    let token = key.sign(&api.claims(&issuer.base));
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let resp = api
            .http
            .get(format!("{}/mcp", api.base))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{scheme}");
    }
}

async fn assert_invalid_request(resp: reqwest::Response, needle: &str) {
    assert_eq!(resp.status(), 400);
    let c = challenge(&resp);
    assert!(
        c.starts_with("Bearer error=\"invalid_request\", error_description=\""),
        "{c}"
    );
    assert!(c.contains(needle), "{needle:?} in {c}");
    assert!(c.contains("resource_metadata=\""), "{c}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

/// §2.3 is not supported: a token in the query string is refused, with or
/// without a header, and the handler never runs.
#[tokio::test]
async fn a_token_in_the_query_string_is_refused() {
    let (issuer, api, key) = setup().await;
    let token = key.sign(&api.claims(&issuer.base));
    let url = format!("{}/mcp?access_token={token}", api.base);
    assert_invalid_request(
        api.http.get(&url).send().await.unwrap(),
        "only in the Authorization header",
    )
    .await;
    assert_invalid_request(
        api.http.get(&url).bearer_auth(&token).send().await.unwrap(),
        "only in the Authorization header",
    )
    .await;
    assert_eq!(api.handled(), 0);
}

#[tokio::test]
async fn malformed_bearer_credentials_are_invalid_request() {
    let (_issuer, api, _) = setup().await;
    for value in ["Bearer", "Bearer a b", "Bearer a,b", "Bearer ===="] {
        let resp = api
            .http
            .get(format!("{}/mcp", api.base))
            .header("authorization", value)
            .send()
            .await
            .unwrap();
        assert_invalid_request(resp, "not valid Bearer or DPoP credentials").await;
    }
}

#[tokio::test]
async fn two_authorization_headers_are_invalid_request() {
    let (issuer, api, key) = setup().await;
    let token = key.sign(&api.claims(&issuer.base));
    let mut headers = reqwest::header::HeaderMap::new();
    for _ in 0..2 {
        let value = format!("Bearer {token}").parse().unwrap();
        headers.append(reqwest::header::AUTHORIZATION, value);
    }
    let resp = api
        .http
        .get(format!("{}/mcp", api.base))
        .headers(headers)
        .send()
        .await
        .unwrap();
    assert_invalid_request(resp, "more than one Authorization header").await;
}

/// §3.1: a valid token without the route's scopes gets 403
/// `insufficient_scope`, `scope` naming all the scopes the route needs.
#[tokio::test]
async fn insufficient_scope_is_403_naming_the_required_scopes() {
    let (issuer, api, key) = setup().await;
    let token = key.sign(&api.claims(&issuer.base)); // mcp:tools read
    assert_eq!(api.get("/mcp", &token).await.status(), 200);
    let resp = api.get("/admin", &token).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        challenge(&resp),
        format!(
            "Bearer error=\"insufficient_scope\", error_description=\"the access token does not grant \
             the scopes this resource requires\", scope=\"admin mcp:tools\", resource_metadata=\"{}\"",
            api.rs.resource_metadata_url()
        )
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(api.handled(), 1);

    let mut claims = api.claims(&issuer.base);
    claims["scope"] = "read".into();
    let resp = api.get("/mcp", &key.sign(&claims)).await;
    assert_eq!(resp.status(), 403);
    assert!(challenge(&resp).contains("scope=\"mcp:tools\""));
    // Scopes are compared exactly: no prefix, no case folding.
    for scope in ["mcp:tool", "MCP:TOOLS", "mcp:tools:x", ""] {
        claims["scope"] = scope.into();
        assert_eq!(
            api.get("/mcp", &key.sign(&claims)).await.status(),
            403,
            "{scope}"
        );
    }
    claims["scope"] = "admin  mcp:tools".into();
    assert_eq!(api.get("/admin", &key.sign(&claims)).await.status(), 200);
}

/// A route with no required scope takes any valid token.
#[tokio::test]
async fn a_route_without_required_scopes_takes_any_valid_token() {
    let (issuer, api, key) = setup().await;
    let mut claims = api.claims(&issuer.base);
    claims.as_object_mut().unwrap().remove("scope");
    assert_eq!(api.get("/any", &key.sign(&claims)).await.status(), 200);
    assert_eq!(api.get("/mcp", &key.sign(&claims)).await.status(), 403);
}

/// The claims extractor on a route without the layer is a 500, not an
/// unauthenticated call.
#[tokio::test]
async fn the_extractor_without_the_layer_fails_closed() {
    let (_issuer, api, _) = setup().await;
    let resp = api
        .http
        .get(format!("{}/unprotected", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert_ne!(resp.text().await.unwrap(), "reached");
}

/// The description is fixed text: nothing of the token comes back, and
/// the header stays a valid quoted-string.
#[tokio::test]
async fn error_descriptions_carry_nothing_of_the_token() {
    let (issuer, api, key) = setup().await;
    let mut claims = api.claims(&issuer.base);
    claims["aud"] = "https://evil.example/\"injected\\".into();
    claims["iss"] = "https://evil.example/\"x".into();
    let resp = api.get("/mcp", &key.sign(&claims)).await;
    assert_eq!(resp.status(), 401);
    let c = challenge(&resp);
    assert!(!c.contains("evil"), "{c}");
    assert_eq!(c.matches('"').count(), 6, "{c}");
}
