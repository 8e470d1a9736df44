//! The resource server: its configuration and the components built on it;
//! the one place a request's token is decided on.

use std::fmt;
use std::sync::Arc;

use axum::http::{HeaderMap, Method, Uri};
use axum::Router;
use jsonwebtoken::Algorithm;

use crate::challenge::{ChallengeParams, Rejection};
use crate::claims::{AccessClaims, Expected};
use crate::clock::Clock;
use crate::config::{ConfigError, ResourceServerBuilder, Validation};
use crate::credentials::{self, Scheme};
use crate::discovery::Discovery;
use crate::dpop::{self, Dpop};
use crate::error::{AuthError, InvalidToken, IssuerError};
use crate::fetch::Fetcher;
use crate::introspection::{EndpointSource, Introspector};
use crate::jwks::{JwksSource, KeyCache};
use crate::layer::RequireBearer;
use crate::metadata::{self, ProtectedResourceMetadata, Served};
use crate::rfc9068;

/// A protected resource: checks access tokens for it, and describes it
/// (RFC 9728). Cheap to clone (one `Arc`); build it once.
#[derive(Clone)]
pub struct ResourceServer {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    resource: String,
    metadata_path: String,
    /// The challenges' parameters, `resource_metadata` among them.
    challenge: Arc<ChallengeParams>,
    leeway: u64,
    max_token_bytes: usize,
    algorithms: Vec<Algorithm>,
    clock: Arc<dyn Clock>,
    checker: Checker,
    dpop: Dpop,
    dpop_required: bool,
    metadata: ProtectedResourceMetadata,
    served: Served,
}

#[derive(Debug)]
enum Checker {
    Jwks(KeyCache),
    Introspection(Introspector),
}

impl fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("ResourceServer")
            .field("issuer", &i.issuer)
            .field("resource", &i.resource)
            .field("metadata_url", &i.challenge.resource_metadata)
            .field("leeway", &i.leeway)
            .field("algorithms", &i.algorithms)
            .field("checker", &i.checker)
            .field("dpop", &i.dpop)
            .field("dpop_required", &i.dpop_required)
            .finish_non_exhaustive()
    }
}

impl ResourceServer {
    /// A builder for the resource `resource` (its URI: the `aud` its tokens
    /// carry, RFC 8707 §2) protected by the authorization server `issuer`
    /// (its issuer identifier, compared exactly with tokens' `iss`).
    ///
    /// Both must be `https` URLs (`http` only to a loopback host) without
    /// fragment or query.
    pub fn builder(issuer: &str, resource: &str) -> ResourceServerBuilder {
        ResourceServerBuilder::new(issuer, resource)
    }

    pub(crate) fn from_builder(b: ResourceServerBuilder) -> Result<Self, ConfigError> {
        let checked = b.check()?;
        let fetcher = match b.http_client {
            Some(client) => Fetcher::with_client(client, b.http_timeout),
            None => Fetcher::new(b.http_timeout).map_err(ConfigError::HttpClient)?,
        };
        let interval = b.jwks_refetch_interval.as_secs();
        let discovery = || {
            Arc::new(Discovery::new(
                b.issuer.clone(),
                fetcher.clone(),
                b.clock.clone(),
                interval,
            ))
        };
        let checker = match b.validation {
            Validation::Jwks => Checker::Jwks(KeyCache::new(
                match &b.jwks_uri {
                    Some(uri) => JwksSource::Configured(uri.clone()),
                    None => JwksSource::Discovered(discovery()),
                },
                fetcher.clone(),
                b.clock.clone(),
                interval,
                b.jwks_max_age.as_secs(),
            )),
            Validation::Introspection {
                client_id,
                client_secret,
            } => Checker::Introspection(Introspector::new(
                client_id,
                client_secret,
                match &b.introspection_endpoint {
                    Some(uri) => EndpointSource::Configured(uri.clone()),
                    None => EndpointSource::Discovered(discovery()),
                },
                fetcher.clone(),
                b.max_concurrent_introspections,
                b.http_timeout,
            )),
        };
        let (metadata_path, metadata_url) = metadata::well_known(&checked.resource);
        // The public origin, as for the metadata URL: DPoP's `htu` is
        // built from it (see `Dpop::htu`).
        let dpop = Dpop::new(
            checked.resource.origin().ascii_serialization(),
            checked.dpop_algorithms,
            b.dpop_max_age.as_secs(),
            b.leeway.as_secs(),
            b.dpop_replay_capacity,
            checked.dpop_replay_key_quota,
        );
        let metadata = ProtectedResourceMetadata {
            resource: b.resource.clone(),
            authorization_servers: vec![b.issuer.clone()],
            scopes_supported: checked.scopes_supported,
            bearer_methods_supported: vec!["header".to_owned()],
            dpop_signing_alg_values_supported: dpop
                .algs()
                .iter()
                .map(|a| (*a).to_owned())
                .collect(),
            dpop_bound_access_tokens_required: b.dpop_required,
            resource_name: b.resource_name,
            resource_documentation: b.resource_documentation,
        };
        let served = Served::new(&metadata);
        let challenge = Arc::new(ChallengeParams {
            resource_metadata: metadata_url,
            algs: dpop.algs().join(" "),
            bearer: !b.dpop_required,
        });
        Ok(Self {
            inner: Arc::new(Inner {
                issuer: b.issuer,
                resource: b.resource,
                metadata_path,
                challenge,
                leeway: b.leeway.as_secs(),
                max_token_bytes: b.max_token_bytes,
                algorithms: checked.algorithms,
                clock: b.clock,
                checker,
                dpop,
                dpop_required: b.dpop_required,
                metadata,
                served,
            }),
        })
    }

    /// The issuer identifier tokens must carry in `iss`.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// This resource's identifier, which tokens must carry in `aud`.
    pub fn resource(&self) -> &str {
        &self.inner.resource
    }

    /// The URL of this resource's metadata (RFC 9728 §3.1), sent as
    /// `resource_metadata` in challenges (§5.1).
    pub fn resource_metadata_url(&self) -> &str {
        &self.inner.challenge.resource_metadata
    }

    /// The path [`ResourceServer::metadata_router`] serves the metadata at.
    pub fn metadata_path(&self) -> &str {
        &self.inner.metadata_path
    }

    /// The RFC 9728 §2 document.
    pub fn metadata(&self) -> &ProtectedResourceMetadata {
        &self.inner.metadata
    }

    /// A router serving the metadata at [`ResourceServer::metadata_path`]
    /// (GET and HEAD, `Access-Control-Allow-Origin: *`, and OPTIONS for
    /// CORS preflights). Merge it into the application's router, outside
    /// [`RequireBearer`]: the metadata is public.
    pub fn metadata_router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        self.inner.served.router(&self.inner.metadata_path)
    }

    /// The layer that protects routes; see [`RequireBearer`].
    pub fn require_bearer(&self) -> RequireBearer {
        RequireBearer::new(self)
    }

    /// Contacts the issuer now (metadata, then JWK Set or introspection
    /// endpoint), to fail fast at start-up; optional, since everything is
    /// also fetched when first needed.
    pub async fn prefetch(&self) -> Result<(), IssuerError> {
        match &self.inner.checker {
            Checker::Jwks(keys) => keys.prefetch().await,
            Checker::Introspection(i) => i.prefetch().await,
        }
    }

    /// The request's access token, checked: RFC 6750 §2.1
    /// (`Authorization: Bearer`) or RFC 9449 §7.1 (`Authorization: DPoP`
    /// with a `DPoP` proof). Only the `Authorization` header is read; a
    /// token in the query string is refused.
    ///
    /// * `Bearer`: see [`ResourceServer::verify`]; a DPoP-bound token is
    ///   refused (RFC 9449 §7.2), as is any token when DPoP is required.
    /// * `DPoP`: exactly one `DPoP` header, holding a proof that passes
    ///   RFC 9449 §4.3 for this request (`htm` = `method`; `htu` = this
    ///   resource's origin + `uri`'s path; `ath` = the token's hash;
    ///   `iat` within `dpop_max_age`), then the token's checks, then its
    ///   `cnf.jkt` must be the proof key's thumbprint (a token without
    ///   `cnf.jkt` is refused), and last the proof's `jti` must be new
    ///   (the replay cache remembers only proofs that passed everything).
    ///
    /// `uri` must be the request's target as the client sent it: under
    /// axum's `Router::nest`, that is the `OriginalUri` extension, not the
    /// nested router's shortened URI ([`crate::RequireBearer`] uses it).
    /// The URL a proof must name is **not** taken from the `Host` header
    /// but from the configured resource identifier's origin, exactly as
    /// the `resource_metadata` URL is: the API must be reachable there,
    /// under the same paths.
    pub async fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<AccessClaims, AuthError> {
        let (scheme, token) = credentials::extract(headers, uri, self.inner.max_token_bytes)?;
        match scheme {
            Scheme::Bearer => self.verify(token).await,
            Scheme::Dpop => self.verify_dpop(token, method, uri, headers).await,
        }
    }

    /// Checks a bearer access token: locally (RFC 9068 §4) or by
    /// introspection (RFC 7662), then its claims: `iss` the issuer, `aud`
    /// this resource (RFC 8707 §2), `exp` and `nbf` with the leeway. A
    /// DPoP-bound token (`cnf`) is refused (RFC 9449 §7.2: no proof comes
    /// with a bare token), and every token is when DPoP-bound tokens are
    /// required. Scopes are not checked here: see
    /// [`AccessClaims::require_scopes`].
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        if self.inner.dpop_required {
            return Err(InvalidToken::DpopRequired.into());
        }
        let claims = self.check_token(token).await?;
        if claims.dpop_jkt.is_some() {
            return Err(InvalidToken::SenderConstrained.into());
        }
        Ok(claims)
    }

    /// RFC 9449 §7.1: the proof first (no I/O, so a bad proof never costs
    /// the issuer a request), then the token, its binding to the proof's
    /// key, and the replay cache last.
    async fn verify_dpop(
        &self,
        token: &str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<AccessClaims, AuthError> {
        let i = &self.inner;
        let proof = i.dpop.proof(headers, method, uri, token, i.clock.now())?;
        let claims = self.check_token(token).await?;
        dpop::check_binding(&claims, &proof)?;
        i.dpop.remember(&proof, i.clock.now())?;
        Ok(claims)
    }

    /// The token's own checks, whatever the scheme; `cnf` is read into
    /// [`AccessClaims::dpop_jkt`] for the caller to judge.
    async fn check_token(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let i = &self.inner;
        if token.len() > i.max_token_bytes {
            return Err(InvalidToken::TooLong.into());
        }
        let expected = || Expected {
            issuer: &i.issuer,
            resource: &i.resource,
            leeway: i.leeway,
            now: i.clock.now(),
        };
        match &i.checker {
            Checker::Jwks(keys) => rfc9068::verify(token, keys, &i.algorithms, expected).await,
            Checker::Introspection(introspector) => introspector.introspect(token, expected).await,
        }
    }

    /// The answer to a refused request: its RFC 6750 §3 / RFC 9449 §7.1
    /// challenges with this resource's `resource_metadata`. `headers` are
    /// the request's: the scheme of its `Authorization` header decides
    /// which challenge carries the error (RFC 9449 §7.2).
    pub fn reject(&self, error: AuthError, headers: &HeaderMap) -> Rejection {
        Rejection::new(
            error,
            credentials::scheme(headers),
            self.inner.challenge.clone(),
        )
    }
}
