//! MCP streamable HTTP, "Security Warning": `Origin` and `Host` are checked
//! against DNS rebinding, and browsers on allowed origins get CORS answers.
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

#[tokio::test]
async fn a_foreign_origin_is_refused_even_with_a_good_token() {
    let s = Setup::start().await;
    let resp = s
        .post(Some(&s.good_token()), None, &initialize())
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(!resp.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn a_loopback_origin_is_served_with_cors_headers() {
    let s = Setup::start().await;
    let resp = s
        .post(Some(&s.good_token()), None, &initialize())
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "http://localhost:6274"
    );
    let exposed = resp.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("mcp-session-id"), "{exposed}");
}

#[tokio::test]
async fn a_configured_origin_is_allowed() {
    let s = Setup::start_with(|mut c| {
        c.allowed_origins = vec!["https://app.example".into()];
        c
    })
    .await;
    let resp = s
        .post(Some(&s.good_token()), None, &initialize())
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_foreign_host_is_refused() {
    let s = Setup::start().await;
    let resp = s
        .post(Some(&s.good_token()), None, &initialize())
        .header("host", "rebound.evil.example:3001")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn preflights_are_answered_for_allowed_origins_only() {
    let s = Setup::start().await;
    let preflight = |origin: &'static str| {
        s.http
            .request(reqwest::Method::OPTIONS, &s.resource)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, mcp-protocol-version",
            )
            .send()
    };
    let ok = preflight("http://127.0.0.1:6274").await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://127.0.0.1:6274"
    );
    let allowed = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");

    let refused = preflight("http://evil.example").await.unwrap();
    assert!(!refused
        .headers()
        .contains_key("access-control-allow-origin"));
}
