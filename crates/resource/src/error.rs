//! Why a request was refused, typed; each maps to one RFC 6750 §3.1 or
//! RFC 9449 §7.1 response (see [`crate::Rejection`]).
//!
//! The `Display` of [`InvalidRequest`], [`InvalidToken`] and
//! [`InvalidDpopProof`] is the public `error_description`: fixed text, no
//! token or proof content, no secrets, only characters allowed in a
//! quoted-string. What went wrong in more detail
//! (the `iss` seen, the issuer's HTTP error) goes to `tracing` only.

use axum::http::StatusCode;

/// A request that did not get through.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// RFC 6750 §3.1, RFC 9449 §7.2: the request has no credentials at
    /// all (no `Authorization` header, or one of a scheme other than
    /// `Bearer` and `DPoP`): 401 with one bare challenge per accepted
    /// scheme and no error code.
    #[error("no access token in the request")]
    MissingToken,
    /// RFC 6750 §3.1 `invalid_request`: 400.
    #[error("invalid request: {0}")]
    InvalidRequest(InvalidRequest),
    /// RFC 6750 §3.1 `invalid_token`: 401.
    #[error("invalid token: {0}")]
    InvalidToken(InvalidToken),
    /// RFC 9449 §7.1 `invalid_dpop_proof`: the `DPoP` proof that came with
    /// a `DPoP`-scheme token is missing or fails a check of RFC 9449 §4.3:
    /// 401 with a `DPoP` challenge.
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(InvalidDpopProof),
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
    /// RFC 9449 §11.1: the DPoP replay cache is full of proofs that have
    /// not expired yet, so a new proof cannot be remembered and is not
    /// accepted: 503 with `Retry-After` (the proof may well be good; the
    /// client retries with a new one). See
    /// [`crate::ResourceServerBuilder::dpop_replay_capacity`].
    #[error("the DPoP replay cache is full; retry in {retry_after} s")]
    ReplayCacheFull {
        /// Seconds until the oldest remembered proof expires.
        retry_after: u64,
    },
    /// RFC 9449 §11.1: the proof's key already holds its quota of the
    /// replay cache (too many proofs by this key within their lifetime,
    /// [`crate::ResourceServerBuilder::dpop_replay_key_quota`]), so this
    /// proof cannot be remembered and is not accepted: 429 (RFC 6585 §4)
    /// with `Retry-After`, for this key only. The quota keeps one token
    /// holder from filling the cache and having every other client
    /// refused with [`AuthError::ReplayCacheFull`].
    ///
    /// **Why 429 and not 401 `invalid_dpop_proof`.** The proof passed
    /// every check of RFC 9449 §4.3 and the token is good; what is refused
    /// is the number of proofs one key made. `invalid_dpop_proof` says
    /// the proof is invalid, and clients answer a 401 by getting new
    /// credentials: an MCP client starts its authorization again from the
    /// challenge's `resource_metadata` (perhaps in front of a user), and a
    /// refreshed token is bound to the same key and refused the same way.
    /// 429 says exactly "too many requests from you", and with
    /// `Retry-After` any HTTP retry logic waits and comes back with a new
    /// proof, throttled to the quota. It is the per-key counterpart of
    /// [`AuthError::ReplayCacheFull`]'s 503 (not 401 either: the proof may
    /// be good), and answered the same way: a JSON body with
    /// `temporarily_unavailable` (as proofkey's registration endpoint does
    /// for its 429), `Retry-After`, and no challenge, since a
    /// `WWW-Authenticate` outside a 401 would say that other credentials
    /// help (RFC 9110 §11.6.1).
    #[error("the DPoP proof's key is over its replay cache quota; retry in {retry_after} s")]
    DpopKeyQuotaExceeded {
        /// Seconds until, at the earliest, one of the key's remembered
        /// proofs expires.
        retry_after: u64,
    },
}

impl AuthError {
    /// The HTTP status of the response (RFC 6750 §3.1, RFC 9449 §7.1).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) | Self::InvalidDpopProof(_) => {
                StatusCode::UNAUTHORIZED
            }
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::DpopKeyQuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::IssuerUnavailable(_) | Self::ReplayCacheFull { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The registered error code (RFC 6750 §3.1, RFC 9449 §7.1), if any;
    /// the 503s and the 429 use `temporarily_unavailable` (RFC 6749
    /// §4.1.2.1) in their JSON body.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken => None,
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
            Self::InsufficientScope { .. } => Some("insufficient_scope"),
            Self::IssuerUnavailable(_)
            | Self::ReplayCacheFull { .. }
            | Self::DpopKeyQuotaExceeded { .. } => Some("temporarily_unavailable"),
        }
    }

    /// The public `error_description`: fixed text, safe to show anyone.
    pub fn description(&self) -> String {
        match self {
            Self::MissingToken => String::new(),
            Self::InvalidRequest(e) => e.to_string(),
            Self::InvalidToken(e) => e.to_string(),
            Self::InvalidDpopProof(e) => e.to_string(),
            Self::InsufficientScope { .. } => {
                "the access token does not grant the scopes this resource requires".to_owned()
            }
            Self::IssuerUnavailable(_) => {
                "the authorization server could not be reached to check the token".to_owned()
            }
            Self::ReplayCacheFull { .. } => {
                "too many DPoP proofs to remember; retry with a new proof later".to_owned()
            }
            Self::DpopKeyQuotaExceeded { .. } => "too many DPoP proofs by this key in the \
                 replay window; retry with a new proof later"
                .to_owned(),
        }
    }

    /// The `Retry-After` of a 503 (when known) or a 429.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::IssuerUnavailable(e) => e.retry_after(),
            Self::ReplayCacheFull { retry_after } | Self::DpopKeyQuotaExceeded { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}

impl From<InvalidToken> for AuthError {
    fn from(e: InvalidToken) -> Self {
        Self::InvalidToken(e)
    }
}

impl From<InvalidDpopProof> for AuthError {
    fn from(e: InvalidDpopProof) -> Self {
        Self::InvalidDpopProof(e)
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
    /// A `Bearer` or `DPoP` header whose credentials are not one RFC 6750
    /// §2.1 `b64token` (RFC 9449 §7.1 `token68`, the same syntax):
    /// missing, several, or with other characters.
    #[error("the Authorization header is not valid Bearer or DPoP credentials")]
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
    /// RFC 9449 §7.2: the token is bound to a key (`cnf`) but was
    /// presented with the `Bearer` scheme; a bound token is accepted only
    /// with the `DPoP` scheme and a proof by its key.
    #[error("the token is sender-constrained (cnf); bearer use is not accepted")]
    SenderConstrained,
    /// RFC 7800 §3.1: the `cnf` claim is not exactly `{"jkt": "..."}`
    /// (RFC 9449 §6.1): an mTLS binding (RFC 8705 `x5t#S256`) or another
    /// confirmation method this resource cannot check, alone or next to
    /// `jkt`. Refused whatever the scheme, failing closed.
    #[error("the token is bound by a confirmation method this resource does not support")]
    UnsupportedBinding,
    /// RFC 9449 §7.1: a token without `cnf.jkt` presented with the `DPoP`
    /// scheme. The RFC leaves this case open; it is refused, as Spring
    /// Security and node-oidc-provider do, since a proof then proves
    /// nothing about the token.
    #[error("the token is not DPoP-bound; present it with the Bearer scheme")]
    NotDpopBound,
    /// RFC 9449 §7.1, §6: the proof was made with another key than the
    /// one the token is bound to (`cnf.jkt`).
    #[error("the DPoP proof's key is not the key the token is bound to")]
    DpopKeyMismatch,
    /// RFC 9449 §7.2: this resource accepts only DPoP-bound tokens
    /// ([`crate::ResourceServerBuilder::dpop_required`]), and the request
    /// used the `Bearer` scheme.
    #[error("this resource requires a DPoP-bound access token and a DPoP proof")]
    DpopRequired,
    /// RFC 7662 §2.2: the issuer answered `"active": false`.
    #[error("the access token is not active")]
    Inactive,
    /// RFC 7662 §2.2: the issuer says this is not an access token (for
    /// instance a refresh token, `token_type: refresh_token`).
    #[error("the token is not an access token")]
    NotAnAccessToken,
    /// RFC 9449 §6.2: the introspection answer's `token_type` contradicts
    /// its `cnf` (`DPoP` without `cnf.jkt`, or `Bearer` with it).
    #[error("the token's type does not match its key binding")]
    TokenTypeMismatch,
}

/// RFC 9449 §7.1 `invalid_dpop_proof`: the `DPoP` header of a request
/// using the `DPoP` scheme does not hold a proof that passes RFC 9449
/// §4.3's checks. The variants follow the order of the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidDpopProof {
    /// §4.3 check 1: no `DPoP` header.
    #[error("a DPoP proof (the DPoP header) is required with the DPoP scheme")]
    Missing,
    /// §4.3 check 1: more than one `DPoP` header.
    #[error("more than one DPoP header")]
    MultipleHeaders,
    /// Longer than `proofkey_dpop::MAX_PROOF_LEN` (8 KiB); not read.
    #[error("the DPoP proof is too long")]
    TooLong,
    /// §4.3 check 2: not one well-formed JWS compact serialization with
    /// JSON header and claims.
    #[error("the DPoP proof is not a well-formed JWT")]
    Malformed,
    /// §4.3 check 4: `typ` is not `dpop+jwt`.
    #[error("the DPoP proof's typ must be dpop+jwt")]
    WrongType,
    /// §4.3 check 5: `alg` is `none`, symmetric, or not among those
    /// accepted (the challenge's `algs`).
    #[error("the DPoP proof's signing algorithm is not accepted")]
    UnsupportedAlgorithm,
    /// §4.3 check 7: the `jwk` header holds a private key.
    #[error("the DPoP proof's jwk contains a private key")]
    PrivateKey,
    /// The `jwk` header is missing or not a supported public key.
    #[error("the DPoP proof's jwk is not a supported public key")]
    UnsupportedKey,
    /// The `jwk` does not suit the `alg`.
    #[error("the DPoP proof's jwk does not suit its alg")]
    KeyMismatch,
    /// §4.3 check 6: the signature does not verify with the `jwk`.
    #[error("the DPoP proof's signature does not verify")]
    BadSignature,
    /// §4.3 check 3: a required claim (`jti`, `htm`, `htu`, `iat`) is
    /// missing or of the wrong type.
    #[error("the DPoP proof lacks a valid {0} claim")]
    MissingClaim(&'static str),
    /// §4.3 check 8: `htm` is not the request's method.
    #[error("the DPoP proof's htm does not match the request's method")]
    WrongMethod,
    /// §4.3 check 9: `htu` is not this request's URL (see
    /// [`crate::ResourceServer::authenticate`] for how it is built).
    #[error("the DPoP proof's htu does not match the request's URL")]
    WrongUrl,
    /// §4.3 check 11: `iat` is older than the proof's maximum age, or
    /// further in the future than the leeway.
    #[error("the DPoP proof's iat is too old or in the future")]
    Stale,
    /// §4.3 check 12, §7: `ath` is missing or not the hash of the access
    /// token sent with the proof.
    #[error("the DPoP proof's ath does not match the access token")]
    TokenHashMismatch,
    /// §11.1, §4.3 check 11: a proof with this `jti` (by this key) was
    /// accepted before, within its lifetime.
    #[error("the DPoP proof has been used before")]
    Replayed,
}

impl From<proofkey_dpop::ProofError> for InvalidDpopProof {
    fn from(e: proofkey_dpop::ProofError) -> Self {
        use proofkey_dpop::{JwkError, ProofError};
        match e {
            ProofError::Malformed(_) => Self::Malformed,
            ProofError::Typ => Self::WrongType,
            ProofError::Crit => Self::Malformed,
            ProofError::Alg(_) => Self::UnsupportedAlgorithm,
            ProofError::Jwk(JwkError::Private) => Self::PrivateKey,
            ProofError::Jwk(JwkError::Unsupported(_)) => Self::UnsupportedKey,
            ProofError::KeyMismatch => Self::KeyMismatch,
            ProofError::Signature => Self::BadSignature,
            ProofError::Claim(name) => Self::MissingClaim(name),
            ProofError::Htm => Self::WrongMethod,
            ProofError::Htu => Self::WrongUrl,
            ProofError::Iat => Self::Stale,
            ProofError::Ath => Self::TokenHashMismatch,
        }
    }
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
