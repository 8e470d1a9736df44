//! The resource-server side of proofkey: protecting an API (or an MCP
//! server) with the access tokens a proofkey issuer hands out.
//!
//! * [`ResourceServer`] is built once from its configuration (the issuer,
//!   this resource's URI, how tokens are checked) and shared.
//! * Tokens are checked either locally, as RFC 9068 JWT access tokens
//!   against the issuer's JWK Set ([`Validation::Jwks`], the default; the
//!   set is cached, refetched on an unknown `kid` at most once per interval,
//!   read with a deadline and a size cap), or by asking the issuer, RFC 7662
//!   token introspection ([`Validation::Introspection`], not cached).
//! * Either way the token must name this resource in `aud` (RFC 8707 §2,
//!   RFC 9068 §4), so a token minted for another API is refused: the
//!   "token passthrough" attack.
//! * [`RequireBearer`] is the tower layer (axum-ready) that reads the
//!   RFC 6750 §2.1 `Authorization: Bearer` header, or RFC 9449 §7.1's
//!   `Authorization: DPoP` with its `DPoP` proof, checks the token (and
//!   the proof) and the route's scopes, and puts the [`AccessClaims`] in
//!   the request's extensions (an axum extractor too); refusals are
//!   RFC 6750 §3 / RFC 9449 §7.1 challenges carrying the RFC 9728 §5.1
//!   `resource_metadata` URL ([`Rejection`]).
//! * DPoP-bound tokens (RFC 9449, `cnf.jkt`) are accepted only with the
//!   `DPoP` scheme and a proof by their key for this very request (method,
//!   URL, token hash, age), each proof once (an in-memory, bounded,
//!   per-process `jti` cache, of which each key may hold only a share);
//!   as bearer tokens they are refused (§7.2).
//!   [`ResourceServerBuilder::dpop_required`] refuses bearer tokens
//!   altogether.
//! * [`ResourceServer::metadata_router`] serves the RFC 9728 protected
//!   resource metadata at its well-known path (§3.1).
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use proofkey_resource::{AccessClaims, RequireBearer, ResourceServer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let rs = ResourceServer::builder("https://auth.example.com", "https://mcp.example.com/mcp")
//!     .scopes_supported(["mcp:tools"])
//!     .build()?;
//! let app = Router::new()
//!     .route("/mcp", get(|claims: AccessClaims| async move { claims.sub }))
//!     .route_layer(RequireBearer::new(&rs).require_scopes(["mcp:tools"])?)
//!     .merge(rs.metadata_router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod challenge;
mod claims;
mod clock;
mod config;
mod credentials;
mod discovery;
mod dpop;
mod error;
mod fetch;
mod introspection;
mod jwks;
mod layer;
mod metadata;
mod replay;
mod rfc9068;
mod scope;
mod secret;
mod server;

pub use challenge::Rejection;
pub use claims::{AccessClaims, ClaimsMissing};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ConfigError, ResourceServerBuilder, Validation};
pub use error::{AuthError, InvalidDpopProof, InvalidRequest, InvalidToken, IssuerError};
pub use layer::{RequireBearer, RequireBearerService};
pub use metadata::ProtectedResourceMetadata;
pub use secret::ClientSecret;
pub use server::ResourceServer;
