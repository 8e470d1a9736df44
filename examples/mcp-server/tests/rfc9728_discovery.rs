//! MCP authorization's discovery (RFC 9728 §5.1, RFC 6750 §3): a client
//! without a token learns from the 401 where the protected resource
//! metadata is, and from that document which issuer to ask.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{resource_metadata, Setup};
use serde_json::{json, Value};

#[tokio::test]
async fn a_request_without_a_token_gets_the_challenge_naming_the_metadata() {
    let s = Setup::start().await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
    let resp = s.post(None, None, &init).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    // RFC 6750 §3.1: no error code when no token was sent.
    assert!(!challenge.contains("error="), "{challenge}");
    assert_eq!(
        resource_metadata(challenge).as_deref(),
        Some(format!("{}/.well-known/oauth-protected-resource/mcp", s.base).as_str())
    );
}

#[tokio::test]
async fn every_method_of_the_endpoint_is_protected() {
    let s = Setup::start().await;
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let resp = s
            .http
            .request(method.clone(), &s.resource)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{method}");
        assert!(resp.headers().contains_key("www-authenticate"));
    }
}

#[tokio::test]
async fn the_metadata_names_the_resource_and_its_issuer() {
    let s = Setup::start().await;
    let url = format!("{}/.well-known/oauth-protected-resource/mcp", s.base);
    let resp = s.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // Public, for browser-based clients too.
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["resource"], s.resource);
    assert_eq!(doc["authorization_servers"], json!([s.issuer]));
    assert_eq!(doc["scopes_supported"], json!(["mcp:tools"]));
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    assert_eq!(doc["resource_name"], "Example MCP server");
}

#[tokio::test]
async fn the_metadata_lists_a_configured_scope() {
    let s = Setup::start_with(|mut c| {
        c.scope = "mcp:admin".into();
        c
    })
    .await;
    let url = format!("{}/.well-known/oauth-protected-resource/mcp", s.base);
    let doc: Value = s.http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["scopes_supported"], json!(["mcp:admin"]));
}
