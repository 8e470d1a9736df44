//! Tokens the MCP endpoint refuses (RFC 6750 §3.1, RFC 8707 §2, RFC 9068
//! §4): each with its error code, and the endpoint never reached.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Setup;
use serde_json::json;

fn initialize() -> serde_json::Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": common::PROTOCOL_VERSION, "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}
        }
    })
}

async fn challenge_for(s: &Setup, token: &str) -> (u16, String) {
    let resp = s
        .post(Some(token), None, &initialize())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert!(
        !resp.headers().contains_key("mcp-session-id"),
        "a refused request must not reach the MCP service"
    );
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, challenge)
}

#[tokio::test]
async fn a_token_for_another_resource_is_refused() {
    // MCP's "token passthrough": a token minted for another API.
    let s = Setup::start().await;
    let mut claims = s.claims();
    claims["aud"] = json!("http://127.0.0.1:9/other");
    let (status, challenge) = challenge_for(&s, &s.token(&claims)).await;
    assert_eq!(status, 401);
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let s = Setup::start().await;
    let mut claims = s.claims();
    claims["iss"] = json!("http://127.0.0.1:9");
    let (status, challenge) = challenge_for(&s, &s.token(&claims)).await;
    assert_eq!(status, 401);
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let s = Setup::start().await;
    let mut claims = s.claims();
    claims["exp"] = json!(claims["iat"].as_u64().unwrap() - 3600);
    let (status, challenge) = challenge_for(&s, &s.token(&claims)).await;
    assert_eq!(status, 401);
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn a_token_without_the_scope_gets_insufficient_scope() {
    let s = Setup::start().await;
    let mut claims = s.claims();
    claims["scope"] = json!("openid profile");
    let (status, challenge) = challenge_for(&s, &s.token(&claims)).await;
    assert_eq!(status, 403);
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(challenge.contains(r#"scope="mcp:tools""#), "{challenge}");
}

#[tokio::test]
async fn the_required_scope_is_configurable() {
    let s = Setup::start_with(|mut c| {
        c.scope = "mcp:admin".into();
        c
    })
    .await;
    let (status, challenge) = challenge_for(&s, &s.good_token()).await;
    assert_eq!(status, 403);
    assert!(challenge.contains(r#"scope="mcp:admin""#), "{challenge}");
}

#[tokio::test]
async fn a_token_in_the_query_string_is_refused() {
    let s = Setup::start().await;
    let resp = s
        .http
        .post(format!("{}?access_token={}", s.resource, s.good_token()))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(initialize().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="invalid_request""#),
        "{challenge}"
    );
}
