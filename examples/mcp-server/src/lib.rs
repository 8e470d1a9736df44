//! An example MCP server protected by proofkey (MCP 2025-06-18
//! "Authorization"): the server is an OAuth 2.1 resource server.
//!
//! * The MCP endpoint (rmcp's streamable HTTP service, at the resource
//!   URI's path, `/mcp` by default) is behind
//!   [`proofkey_resource::RequireBearer`]: every request needs an RFC 9068
//!   access token whose `aud` is this resource (RFC 8707) and which grants
//!   the configured scope; the others get the RFC 6750 challenge naming
//!   the metadata (RFC 9728 §5.1).
//! * The RFC 9728 protected resource metadata is public, at
//!   `/.well-known/oauth-protected-resource/mcp`: it names the issuer, where
//!   MCP clients register and authorize.
//! * Tools read the caller's claims with the [`tools::Caller`] extractor.
//!
//! [`app`] builds the router, for the binary and for tests alike.

mod origin;
pub mod tools;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderName, Method};
use axum::Router;
use proofkey_resource::{ConfigError, RequireBearer, ResourceServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use url::Url;

use crate::origin::OriginPolicy;
pub use crate::tools::ExampleTools;

/// The scope the MCP endpoint requires by default.
pub const DEFAULT_SCOPE: &str = "mcp:tools";

/// The largest JSON-RPC message accepted (rmcp's default is 4 MiB; these
/// tools take two numbers).
const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// What the server needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// The proofkey issuer identifier (tokens' `iss`).
    pub issuer: String,
    /// This server's resource URI (RFC 8707): tokens' `aud`, the URL MCP
    /// clients connect to, and, for its path, where the endpoint is served.
    pub resource: String,
    /// The scope every MCP request's token must grant.
    pub scope: String,
    /// Browser origins allowed besides the loopback ones.
    pub allowed_origins: Vec<String>,
    /// Cancelled, it ends every MCP session and its streams (for a
    /// graceful shutdown: open SSE streams would otherwise keep their
    /// connections, and the server, up).
    pub shutdown: CancellationToken,
}

impl Config {
    /// The defaults for everything but the issuer and the resource.
    pub fn new(issuer: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            resource: resource.into(),
            scope: DEFAULT_SCOPE.to_owned(),
            allowed_origins: Vec::new(),
            shutdown: CancellationToken::new(),
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Refused by proofkey-resource (the issuer or resource URL, the scope).
    #[error(transparent)]
    Resource(#[from] ConfigError),
    /// Not an absolute URL.
    #[error("--resource {0:?} is not a URL: {1}")]
    ResourceUrl(String, url::ParseError),
    /// A bad `--allow-origin`.
    #[error("{0}")]
    Origin(String),
}

/// The application: its router, and the resource server it uses (for its
/// [`ResourceServer::resource_metadata_url`], say).
#[derive(Debug)]
pub struct App {
    /// The MCP endpoint and the metadata.
    pub router: Router,
    /// The token checks and the RFC 9728 metadata.
    pub resource_server: ResourceServer,
}

/// Builds the application. Nothing is fetched from the issuer yet (its
/// keys are read with the first token).
pub fn app(config: &Config) -> Result<App, Error> {
    let resource =
        Url::parse(&config.resource).map_err(|e| Error::ResourceUrl(config.resource.clone(), e))?;
    let rs = ResourceServer::builder(&config.issuer, &config.resource)
        .scopes_supported([config.scope.as_str()])
        .resource_name("Example MCP server")
        .build()?;
    let require = RequireBearer::new(&rs).require_scopes([config.scope.as_str()])?;
    let origins = OriginPolicy::new(&config.allowed_origins).map_err(Error::Origin)?;

    let mcp = StreamableHttpService::new(
        || Ok(ExampleTools::default()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_allowed_hosts(origin::allowed_hosts(&resource))
            .with_allowed_origins(origins.rmcp_allowlist())
            .enforce_origin_validation()
            .with_max_request_body_bytes(MAX_REQUEST_BYTES)
            .with_cancellation_token(config.shutdown.child_token()),
    );

    // The resource server's README: CORS outside RequireBearer, so that
    // preflights are answered and refusals carry the CORS headers.
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origins.allows(origin)
        }))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("mcp-session-id"),
        ])
        .max_age(Duration::from_secs(3600));

    let router = Router::new()
        .route_service(resource.path(), mcp)
        .route_layer(require)
        .layer(cors)
        // Public, with its own CORS answers.
        .merge(rs.metadata_router());
    Ok(App {
        router,
        resource_server: rs,
    })
}
