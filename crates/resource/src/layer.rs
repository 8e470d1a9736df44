//! The tower layer that protects routes: RFC 6750 §2.1 and RFC 9449 §7.1
//! in, their challenges out.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::OriginalUri;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::config::ConfigError;
use crate::error::AuthError;
use crate::scope;
use crate::server::ResourceServer;

/// Requires a valid access token (and, optionally, scopes) on every
/// request to the wrapped service: a bearer token, or a DPoP-bound token
/// with its proof (RFC 9449; the name predates DPoP support).
///
/// A request passes only if [`ResourceServer::authenticate`] accepts its
/// token (and proof) and the token grants every scope given to
/// [`RequireBearer::require_scopes`]; the token's [`crate::AccessClaims`]
/// are then inserted in the request's extensions (extract them in axum
/// handlers). Any other request is answered by the layer itself, with the
/// [`crate::Rejection`] for its error (401, 400, 403, 429 or 503), and
/// never reaches the service.
///
/// Every request is checked, `OPTIONS` included: put a CORS layer (one
/// that answers preflights itself) outside this one. The `Authorization`
/// header is left in the request; do not forward it to other services
/// (the token's audience is this resource only).
///
/// The URI checked against a DPoP proof's `htu` is the request's
/// [`OriginalUri`] when axum set one (under `Router::nest` the service
/// sees a shortened path), else the request's URI; its origin is always
/// the configured resource identifier's.
///
/// ```no_run
/// # fn demo(rs: proofkey_resource::ResourceServer) -> Result<(), proofkey_resource::ConfigError> {
/// use axum::{routing::{get, post}, Router};
/// use proofkey_resource::RequireBearer;
///
/// let app: Router = Router::new()
///     .route("/tools", post(|| async { "called" }))
///     .route_layer(RequireBearer::new(&rs).require_scopes(["mcp:tools"])?)
///     .route("/whoami", get(|| async { "you" }).layer(RequireBearer::new(&rs)))
///     .merge(rs.metadata_router());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RequireBearer {
    server: ResourceServer,
    scopes: Arc<[String]>,
}

impl RequireBearer {
    /// Requires a valid token for `server`, whatever its scopes.
    pub fn new(server: &ResourceServer) -> Self {
        Self {
            server: server.clone(),
            scopes: Arc::from([]),
        }
    }

    /// Requires, in addition, every one of `scopes` (RFC 6749 §3.3 scope
    /// tokens; all of them, not any). A token without them gets 403
    /// `insufficient_scope` with `scope` listing them (RFC 6750 §3.1).
    pub fn require_scopes<I, S>(mut self, scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scope::parse_list(scopes)?.into();
        Ok(self)
    }
}

impl<S> Layer<S> for RequireBearer {
    type Service = RequireBearerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireBearerService {
            inner,
            server: self.server.clone(),
            scopes: self.scopes.clone(),
        }
    }
}

/// The service [`RequireBearer`] wraps around another.
#[derive(Debug, Clone)]
pub struct RequireBearerService<S> {
    inner: S,
    server: ResourceServer,
    scopes: Arc<[String]>,
}

impl<S, B> Service<Request<B>> for RequireBearerService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The clone is not ready; the one that was polled ready serves.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let server = self.server.clone();
        let scopes = self.scopes.clone();
        Box::pin(async move {
            let uri = req
                .extensions()
                .get::<OriginalUri>()
                .map_or_else(|| req.uri().clone(), |o| o.0.clone());
            let checked = match server.authenticate(req.method(), &uri, req.headers()).await {
                Ok(claims) => claims.require_scopes(&scopes).map(|()| claims),
                Err(e) => Err(e),
            };
            match checked {
                Ok(claims) => {
                    req.extensions_mut().insert(claims);
                    inner.call(req).await
                }
                Err(e) => {
                    log(&e);
                    Ok(server.reject(e, req.headers()).into_response())
                }
            }
        })
    }
}

fn log(e: &AuthError) {
    match e {
        AuthError::IssuerUnavailable(_) | AuthError::ReplayCacheFull { .. } => {
            tracing::warn!(error = %e, "request refused")
        }
        _ => tracing::debug!(error = %e, "request refused"),
    }
}
