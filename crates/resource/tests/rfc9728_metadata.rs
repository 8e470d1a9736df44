//! RFC 9728: the protected resource metadata document, where it is served
//! (§3.1), what it says (§2), and the challenge that points to it (§5.1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{challenge, Api, Issuer};
use proofkey_resource::{ManualClock, ProtectedResourceMetadata, ResourceServer};
use serde_json::{json, Value};

async fn api() -> (Issuer, Api) {
    let issuer = Issuer::start().await;
    let api = Api::start_with(&issuer.base, |b| {
        b.scopes_supported(["mcp:tools", "read"])
            .resource_name("Test MCP server")
            .resource_documentation("https://docs.example/mcp")
    })
    .await;
    (issuer, api)
}

/// §3.1: `https://host/mcp` → `/.well-known/oauth-protected-resource/mcp`;
/// §2: the fields; §3.3: `resource` exactly the identifier.
#[tokio::test]
async fn the_document_is_served_at_the_inserted_path() {
    let (issuer, api) = api().await;
    let url = format!("{}/.well-known/oauth-protected-resource/mcp", api.base);
    assert_eq!(api.rs.resource_metadata_url(), url);
    let resp = api.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(
        doc,
        json!({
            "resource": api.resource,
            "authorization_servers": [issuer.base],
            "scopes_supported": ["mcp:tools", "read"],
            "bearer_methods_supported": ["header"],
            "dpop_signing_alg_values_supported": ["ES256", "ES384", "EdDSA", "RS256", "PS256"],
            "dpop_bound_access_tokens_required": false,
            "resource_name": "Test MCP server",
            "resource_documentation": "https://docs.example/mcp",
        })
    );
    let typed: ProtectedResourceMetadata = serde_json::from_value(doc).unwrap();
    assert_eq!(&typed, api.rs.metadata());
    // The metadata is public: no token needed, and nothing at the root path.
    let root = format!("{}/.well-known/oauth-protected-resource", api.base);
    assert_eq!(api.http.get(root).send().await.unwrap().status(), 404);
}

/// §5.1: the `resource_metadata` of a 401 is the URL that serves the
/// document: following it from the challenge works.
#[tokio::test]
async fn the_challenge_leads_to_the_document() {
    let (_issuer, api) = api().await;
    let resp = api
        .http
        .get(format!("{}/mcp", api.base))
        .send()
        .await
        .unwrap();
    let c = challenge(&resp);
    let url = c
        .strip_prefix("Bearer resource_metadata=\"")
        .and_then(|s| s.strip_suffix('"'))
        .unwrap();
    let doc: Value = api
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["resource"], api.resource);
}

/// A browser client's preflight (MCP clients add `MCP-Protocol-Version`).
#[tokio::test]
async fn cors_preflight_is_answered() {
    let (_issuer, api) = api().await;
    let resp = api
        .http
        .request(reqwest::Method::OPTIONS, api.rs.resource_metadata_url())
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "mcp-protocol-version")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        resp.headers()["access-control-allow-headers"],
        "mcp-protocol-version"
    );
    assert!(resp.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("GET"));
}

/// A resource at the root: the well-known path has no suffix (§3.1: the
/// terminating slash after the host is removed); optional fields are left
/// out when not configured.
#[tokio::test]
async fn a_root_resource_is_served_at_the_bare_well_known_path() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let rs = ResourceServer::builder("https://as.example", &format!("{base}/"))
        .clock(Arc::new(ManualClock::new(0)))
        .build()
        .unwrap();
    assert_eq!(rs.metadata_path(), "/.well-known/oauth-protected-resource");
    let app: axum::Router = rs.metadata_router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let doc: Value = reqwest::get(format!("{base}/.well-known/oauth-protected-resource"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc,
        json!({
            "resource": format!("{base}/"),
            "authorization_servers": ["https://as.example"],
            "bearer_methods_supported": ["header"],
            "dpop_signing_alg_values_supported": ["ES256", "ES384", "EdDSA", "RS256", "PS256"],
            "dpop_bound_access_tokens_required": false,
        })
    );
}
