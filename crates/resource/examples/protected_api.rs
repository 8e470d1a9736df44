//! A small API protected by a proofkey issuer: `POST /mcp` needs the
//! `mcp:tools` scope, `GET /me` any valid token, and the RFC 9728 metadata
//! is public.
//!
//! ```text
//! proofkey serve --dev                       # an issuer on http://127.0.0.1:8080
//! cargo run -p proofkey-resource --example protected_api
//! curl -i http://127.0.0.1:3000/mcp -X POST  # 401, WWW-Authenticate: Bearer resource_metadata="..."
//! curl http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp
//! curl http://127.0.0.1:3000/me -H "Authorization: Bearer $TOKEN"
//! ```
//!
//! Settings: `ISSUER` (default `http://127.0.0.1:8080`), `RESOURCE`
//! (default `http://127.0.0.1:3000/mcp`: the `aud` tokens must carry),
//! `BIND` (default `127.0.0.1:3000`).

use axum::routing::{get, post};
use axum::{Json, Router};
use proofkey_resource::{AccessClaims, RequireBearer, ResourceServer};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setting =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let issuer = setting("ISSUER", "http://127.0.0.1:8080");
    let resource = setting("RESOURCE", "http://127.0.0.1:3000/mcp");
    let bind = setting("BIND", "127.0.0.1:3000");

    let rs = ResourceServer::builder(&issuer, &resource)
        .scopes_supported(["mcp:tools"])
        .resource_name("Example MCP server")
        .build()?;
    // Optional: fail early if the issuer cannot be reached (keys are
    // otherwise fetched with the first token).
    if let Err(e) = rs.prefetch().await {
        eprintln!("warning: the issuer {issuer} is not reachable yet: {e}");
    }

    let app = Router::new()
        .route("/mcp", post(call_tool))
        .route_layer(RequireBearer::new(&rs).require_scopes(["mcp:tools"])?)
        .route("/me", get(me).layer(rs.require_bearer()))
        .merge(rs.metadata_router());

    let listener = tokio::net::TcpListener::bind(&bind).await?;
    eprintln!(
        "protecting {resource} on http://{bind}; metadata at {}",
        rs.resource_metadata_url()
    );
    axum::serve(listener, app).await?;
    Ok(())
}

/// Runs only with a token for this resource that grants `mcp:tools`.
async fn call_tool(claims: AccessClaims, Json(call): Json<Value>) -> Json<Value> {
    Json(json!({"called_by": claims.sub, "client": claims.client_id, "echo": call}))
}

/// Any valid token for this resource.
async fn me(claims: AccessClaims) -> Json<AccessClaims> {
    Json(claims)
}
