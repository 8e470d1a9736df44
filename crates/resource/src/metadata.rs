//! RFC 9728: OAuth 2.0 Protected Resource Metadata, the document a client
//! (an MCP client, typically) reads to learn which authorization server
//! protects this resource.
//!
//! §3.1: it is served at `/.well-known/oauth-protected-resource` inserted
//! between the host and the path of the resource identifier:
//! `https://mcp.example.com/mcp` → `https://mcp.example.com/.well-known/oauth-protected-resource/mcp`.
//! §5.1: that URL is the `resource_metadata` of every 401 challenge.
//!
//! The document is public, so it is served with
//! `Access-Control-Allow-Origin: *` (and preflights are answered), for
//! browser-based clients; no credentials are involved.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use url::Url;

const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The RFC 9728 §2 document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// The resource identifier, exactly as configured; §3.3: clients check
    /// it equals the resource they asked about.
    pub resource: String,
    /// The issuer identifiers of the authorization servers (here, one).
    pub authorization_servers: Vec<String>,
    /// The scopes the resource uses, if configured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// `["header"]`: RFC 6750 §2.1 only.
    pub bearer_methods_supported: Vec<String>,
    /// The DPoP proof algorithms accepted (RFC 9728 §2, RFC 9449 §7.1's
    /// `algs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// Whether only DPoP-bound access tokens are accepted (RFC 9728 §2;
    /// `false` when absent).
    #[serde(default)]
    pub dpop_bound_access_tokens_required: bool,
    /// A human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// A URL of documentation for developers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
}

/// RFC 9728 §3.1: the metadata's path on this host, and its full URL.
pub(crate) fn well_known(resource: &Url) -> (String, String) {
    // "any terminating slash following the host component MUST be removed"
    let path = match resource.path() {
        "/" => "",
        p => p,
    };
    let path = format!("{WELL_KNOWN}{path}");
    let url = format!("{}{path}", resource.origin().ascii_serialization());
    (path, url)
}

/// The serialized document, shared by the route's handlers.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    json: Arc<[u8]>,
}

impl Served {
    pub(crate) fn new(doc: &ProtectedResourceMetadata) -> Self {
        // Serializing strings and vectors of strings cannot fail.
        let json = serde_json::to_vec(doc).unwrap_or_default();
        Self { json: json.into() }
    }

    /// A router with the one route, at `path`.
    pub(crate) fn router<S: Clone + Send + Sync + 'static>(&self, path: &str) -> Router<S> {
        let doc = self.clone();
        Router::new().route(
            path,
            get(move || {
                let doc = doc.clone();
                async move { doc.response() }
            })
            .options(preflight),
        )
    }

    fn response(&self) -> Response {
        let mut resp = Response::new(Body::from(self.json.to_vec()));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        resp
    }
}

/// The CORS preflight of the metadata (browsers send one when the client
/// adds a header such as `MCP-Protocol-Version`): any origin, GET, the
/// headers asked for.
async fn preflight(request: HeaderMap) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    resp
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn wk(resource: &str) -> (String, String) {
        well_known(&Url::parse(resource).unwrap())
    }

    #[test]
    fn path_insertion() {
        assert_eq!(
            wk("https://mcp.example.com/mcp"),
            (
                "/.well-known/oauth-protected-resource/mcp".into(),
                "https://mcp.example.com/.well-known/oauth-protected-resource/mcp".into()
            )
        );
        assert_eq!(
            wk("https://api.example.com"),
            (
                "/.well-known/oauth-protected-resource".into(),
                "https://api.example.com/.well-known/oauth-protected-resource".into()
            )
        );
        assert_eq!(
            wk("https://api.example.com/"),
            wk("https://api.example.com")
        );
        assert_eq!(
            wk("http://127.0.0.1:8080/a/b/").1,
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/a/b/"
        );
    }
}
