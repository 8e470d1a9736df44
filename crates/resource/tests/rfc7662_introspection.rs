//! RFC 7662: validation by asking the issuer. The stand-in issuer's
//! introspection endpoint requires `client_secret_basic` and answers what
//! each test tells it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{assert_invalid_token, Api, Issuer, INTROSPECTION_CLIENT, INTROSPECTION_SECRET};
use proofkey_resource::{ClientSecret, Validation};
use serde_json::{json, Value};

fn introspection(secret: &str) -> Validation {
    Validation::Introspection {
        client_id: INTROSPECTION_CLIENT.into(),
        client_secret: ClientSecret::new(secret),
    }
}

async fn setup() -> (Issuer, Api) {
    let issuer = Issuer::start().await;
    let api = Api::start_with(&issuer.base, |b| {
        b.validation(introspection(INTROSPECTION_SECRET))
    })
    .await;
    (issuer, api)
}

/// What proofkey answers for an active access token.
fn active(issuer: &Issuer, api: &Api) -> Value {
    let now = api.clock_now();
    json!({
        "active": true,
        "token_type": "Bearer",
        "scope": "mcp:tools",
        "client_id": "mcp-client",
        "sub": "alice",
        "aud": api.resource,
        "iss": issuer.base,
        "exp": now + 300,
        "iat": now,
        "jti": "j-1",
        "username": "alice@example.com",
    })
}

#[tokio::test]
async fn an_active_token_is_accepted_with_its_claims() {
    let (issuer, api) = setup().await;
    issuer.answer("opaque-1", active(&issuer, &api));
    let resp = api.get("/mcp", "opaque-1").await;
    assert_eq!(resp.status(), 200);
    let seen: Value = resp.json().await.unwrap();
    assert_eq!(seen["sub"], "alice");
    assert_eq!(seen["client_id"], "mcp-client");
    assert_eq!(seen["scope"], "mcp:tools");
    assert_eq!(seen["jti"], "j-1");
    assert_eq!(seen["extra"]["username"], "alice@example.com");
    assert!(seen["extra"].get("active").is_none());
    assert_eq!(issuer.introspections(), 1);
    assert_eq!(issuer.metadata_fetches(), 1);
    assert_eq!(issuer.jwks_fetches(), 0);
}

/// Nothing is cached: every request asks, so a revocation takes effect at
/// the next request.
#[tokio::test]
async fn every_request_asks_so_revocation_is_immediate() {
    let (issuer, api) = setup().await;
    issuer.answer("opaque-1", active(&issuer, &api));
    assert_eq!(api.get("/mcp", "opaque-1").await.status(), 200);
    assert_eq!(api.get("/mcp", "opaque-1").await.status(), 200);
    assert_eq!(issuer.introspections(), 2);
    issuer.answer("opaque-1", json!({"active": false}));
    let url = api.rs.resource_metadata_url().to_owned();
    assert_invalid_token(api.get("/mcp", "opaque-1").await, "not active", &url).await;
    assert_eq!(issuer.introspections(), 3);
    assert_eq!(issuer.metadata_fetches(), 1);
}

#[tokio::test]
async fn an_inactive_token_is_401_invalid_token() {
    let (_issuer, api) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    assert_invalid_token(api.get("/mcp", "unknown-token").await, "not active", &url).await;
    assert_eq!(api.handled(), 0);
}

/// The same claim checks as for JWTs: an active token for another
/// resource, from another issuer, or expired by our clock is refused.
#[tokio::test]
async fn active_tokens_still_pass_the_claim_checks() {
    let (issuer, api) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    let cases = [
        (
            json!({"aud": "https://other.example/mcp"}),
            "not meant for this resource",
        ),
        (json!({"aud": null}), "lacks a required claim (aud)"),
        (
            json!({"iss": "https://evil.example"}),
            "another authorization server",
        ),
        (json!({"exp": api.clock_now() - 61}), "has expired"),
        (json!({"sub": null}), "lacks a required claim (sub)"),
        (
            json!({"token_type": "refresh_token"}),
            "not an access token",
        ),
        // RFC 9449 §6.2: token_type DPoP goes with cnf.jkt, Bearer without.
        (
            json!({"token_type": "DPoP"}),
            "does not match its key binding",
        ),
        (
            json!({"cnf": {"jkt": "x"}}),
            "does not match its key binding",
        ),
        (
            json!({"token_type": "DPoP", "cnf": {"jkt": "x"}}),
            "sender-constrained",
        ),
        (
            json!({"token_type": null, "cnf": {"jkt": "x"}}),
            "sender-constrained",
        ),
        (
            json!({"cnf": {"x5t#S256": "x"}}),
            "confirmation method this resource does not support",
        ),
    ];
    for (i, (patch, needle)) in cases.into_iter().enumerate() {
        let mut answer = active(&issuer, &api);
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                answer.as_object_mut().unwrap().remove(k);
            } else {
                answer[k] = v.clone();
            }
        }
        let token = format!("case-{i}");
        issuer.answer(&token, answer);
        assert_invalid_token(api.get("/mcp", &token).await, needle, &url).await;
    }
    // iss and jti may be absent from an answer.
    let mut answer = active(&issuer, &api);
    answer.as_object_mut().unwrap().remove("iss");
    answer.as_object_mut().unwrap().remove("jti");
    issuer.answer("minimal", answer);
    assert_eq!(api.get("/mcp", "minimal").await.status(), 200);
}

#[tokio::test]
async fn insufficient_scope_applies_to_introspected_tokens() {
    let (issuer, api) = setup().await;
    let mut answer = active(&issuer, &api);
    answer["scope"] = "read".into();
    issuer.answer("t", answer);
    let resp = api.get("/mcp", "t").await;
    assert_eq!(resp.status(), 403);
    assert!(common::challenge(&resp).contains("scope=\"mcp:tools\""));
}

#[tokio::test]
async fn an_unreachable_issuer_is_503() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let api = Api::start_with(&dead, |b| {
        b.validation(introspection(INTROSPECTION_SECRET))
            .introspection_endpoint(&format!("{dead}/introspect"))
    })
    .await;
    let resp = api.get("/mcp", "any").await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(api.handled(), 0);
}

/// The issuer refusing our client credentials is our misconfiguration,
/// not the caller's bad token: 503.
#[tokio::test]
async fn refused_client_credentials_are_503() {
    let issuer = Issuer::start().await;
    let api = Api::start_with(&issuer.base, |b| b.validation(introspection("wrong"))).await;
    issuer.answer("t", active(&issuer, &api));
    assert_eq!(api.get("/mcp", "t").await.status(), 503);
    assert_eq!(issuer.introspections(), 1);
}

/// An answer without a boolean `active` is not trusted either way.
#[tokio::test]
async fn a_malformed_answer_is_503() {
    let (issuer, api) = setup().await;
    issuer.answer("t1", json!({"active": "true", "sub": "alice"}));
    issuer.answer("t2", json!({"sub": "alice"}));
    assert_eq!(api.get("/mcp", "t1").await.status(), 503);
    assert_eq!(api.get("/mcp", "t2").await.status(), 503);
}

/// An introspection endpoint that never answers is given up at the HTTP
/// timeout.
#[tokio::test]
async fn a_stalled_introspection_endpoint_is_503() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let api = Api::start_with(&format!("http://{addr}"), |b| {
        b.validation(introspection(INTROSPECTION_SECRET))
            .introspection_endpoint(&format!("http://{addr}/introspect"))
            .http_timeout(Duration::from_millis(300))
    })
    .await;
    let resp = tokio::time::timeout(Duration::from_secs(20), api.get("/mcp", "t"))
        .await
        .expect("the resource server waited past its timeout");
    assert_eq!(resp.status(), 503);
}
