//! Why a request was refused, typed; each maps to one RFC 6750 §3.1
//! response (see [`crate::Rejection`]).
//!
//! The `Display` of [`InvalidRequest`] and [`InvalidToken`] is the public
//! `error_description`: fixed text, no token content, no secrets, only
//! characters allowed in a quoted-string. What went wrong in more detail
//! (the `iss` seen, the issuer's HTTP error) goes to `tracing` only.

use axum::http::StatusCode;

/// A request that did not get through.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// RFC 6750 §3.1: the request has no credentials at all (no
    /// `Authorization` header, or one of another scheme): 401 with a bare
    /// `Bearer` challenge and no error code.
    #[error("no bearer token in the request")]
    MissingToken,
    /// RFC 6750 §3.1 `invalid_request`: 400.
    #[error("invalid request: {0}")]
    InvalidRequest(InvalidRequest),
    /// RFC 6750 §3.1 `invalid_token`: 401.
    #[error("invalid token: {0}")]
    InvalidToken(InvalidToken),
    /// RFC 6750 §3.1 `insufficient_scope`: 403, the challenge's `scope`
    /// naming every scope the route requires.
    #[error("insufficient scope: the route requires {}", required.join(" "))]
    InsufficientScope {
        /// The scopes the route requires (all of them).
        required: Vec<String>,
    },
    /// The token could not be checked because the authorization server
    /// (its metadata, JWK Set or introspection endpoint) is unreachable or
    /// misbehaving: 503, never 401, since the token may well be good.
    #[error("the authorization server is unavailable: {0}")]
    IssuerUnavailable(#[from] IssuerError),
}

impl AuthError {
    /// The HTTP status of the response (RFC 6750 §3.1).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::IssuerUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The registered error code (RFC 6750 §3.1), if any; the 503 uses
    /// `temporarily_unavailable` (RFC 6749 §4.1.2.1) in its JSON body.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken => None,
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope { .. } => Some("insufficient_scope"),
            Self::IssuerUnavailable(_) => Some("temporarily_unavailable"),
        }
    }

    /// The public `error_description`: fixed text, safe to show anyone.
    pub fn description(&self) -> String {
        match self {
            Self::MissingToken => String::new(),
            Self::InvalidRequest(e) => e.to_string(),
            Self::InvalidToken(e) => e.to_string(),
            Self::InsufficientScope { .. } => {
                "the access token does not grant the scopes this resource requires".to_owned()
            }
            Self::IssuerUnavailable(_) => {
                "the authorization server could not be reached to check the token".to_owned()
            }
        }
    }
}

impl From<InvalidToken> for AuthError {
    fn from(e: InvalidToken) -> Self {
        Self::InvalidToken(e)
    }
}

impl From<InvalidRequest> for AuthError {
    fn from(e: InvalidRequest) -> Self {
        Self::InvalidRequest(e)
    }
}

/// RFC 6750 §3.1 `invalid_request`: the request itself is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// More than one `Authorization` header.
    #[error("more than one Authorization header")]
    MultipleAuthorizationHeaders,
    /// A `Bearer` header whose credentials are not one RFC 6750 §2.1
    /// `b64token` (missing, several, or with other characters).
    #[error("the Authorization header is not valid Bearer credentials")]
    MalformedCredentials,
    /// A token in the query string (`access_token`, RFC 6750 §2.3): not
    /// accepted here, it ends up in logs and browser history.
    #[error("access tokens are accepted only in the Authorization header")]
    TokenInQuery,
}

/// RFC 6750 §3.1 `invalid_token`: the token is not one this resource
/// accepts. The variants follow the order of the checks (RFC 9068 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidToken {
    /// Longer than the configured maximum (8 KiB by default).
    #[error("the access token is too long")]
    TooLong,
    /// Not a JWS compact serialization with a readable JSON header.
    #[error("the access token is malformed")]
    Malformed,
    /// RFC 9068 §4: `typ` is not `at+jwt` (or `application/at+jwt`).
    #[error("the token is not a JWT access token (typ)")]
    WrongType,
    /// RFC 9068 §4, RFC 8725 §3.1: `alg` is `none`, an HMAC algorithm, or
    /// not among those allowed.
    #[error("the token's signing algorithm is not accepted")]
    UnsupportedAlgorithm,
    /// RFC 7515 §4.1.11: a `crit` header names extensions not understood.
    #[error("the token has critical header parameters that are not understood")]
    CriticalHeader,
    /// No `kid` in the header.
    #[error("the token's header has no key id")]
    MissingKeyId,
    /// No key with this `kid` in the issuer's JWK Set, even after a
    /// refetch (or a refetch was not allowed yet).
    #[error("the token was signed with an unknown key")]
    UnknownKey,
    /// The `kid` names a key of another type, curve or algorithm.
    #[error("the token's algorithm does not match its key")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// The claims are not a JSON object of the expected types.
    #[error("the token's claims are malformed")]
    MalformedClaims,
    /// A claim RFC 9068 §2.2 requires is absent.
    #[error("the token lacks a required claim ({0})")]
    MissingClaim(&'static str),
    /// RFC 9068 §4: `iss` is not exactly the configured issuer.
    #[error("the token was issued by another authorization server")]
    WrongIssuer,
    /// RFC 9068 §4, RFC 8707 §2: `aud` does not name this resource.
    #[error("the token is not meant for this resource (aud)")]
    WrongAudience,
    /// RFC 7519 §4.1.4: `exp` has passed (beyond the leeway).
    #[error("the access token has expired")]
    Expired,
    /// RFC 7519 §4.1.5: `nbf` is still in the future (beyond the leeway).
    #[error("the access token is not valid yet")]
    NotYetValid,
    /// RFC 9449 §6, RFC 8705 §3: the token is bound to a key (`cnf`);
    /// presenting it as a plain bearer token is refused, since this crate
    /// checks no proof of possession.
    #[error("the token is sender-constrained (cnf); bearer use is not accepted")]
    SenderConstrained,
    /// RFC 7662 §2.2: the issuer answered `"active": false`.
    #[error("the access token is not active")]
    Inactive,
    /// RFC 7662 §2.2: the issuer says this is not an access token (for
    /// instance a refresh token, `token_type: refresh_token`).
    #[error("the token is not an access token")]
    NotAnAccessToken,
}

/// Why the authorization server could not be used. The text is for logs;
/// clients get a fixed description.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssuerError {
    /// The request failed (connection refused, TLS, reset...).
    #[error("request failed: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// No complete answer within the configured HTTP timeout.
    #[error("no answer in time")]
    Timeout,
    /// An HTTP status other than 200.
    #[error("HTTP status {0}")]
    Status(u16),
    /// A body larger than the cap (64 KiB), abandoned as soon as it was.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    /// A body that is not the expected JSON document.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// RFC 8414 §3.3: the metadata's `issuer` differs from the configured one.
    #[error("the metadata's issuer differs from the configured issuer")]
    IssuerMismatch,
    /// The metadata lacks the endpoint needed (`jwks_uri`,
    /// `introspection_endpoint`), or names it with an unacceptable URL.
    #[error("the metadata has no usable {0}")]
    MissingEndpoint(&'static str),
    /// A previous attempt failed less than the refetch interval ago; the
    /// issuer is not asked again before `retry_after` seconds.
    #[error("the last attempt failed; next attempt in {retry_after} s")]
    Backoff {
        /// Seconds until the next attempt is allowed.
        retry_after: u64,
    },
    /// Every introspection slot stayed busy for the whole HTTP timeout.
    #[error("too many introspection requests in flight")]
    Busy,
}

impl IssuerError {
    /// The `Retry-After` of the 503, when known.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Backoff { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}
