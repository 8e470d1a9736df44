//! OAuth error codes, each with its registered name and HTTP status.
//!
//! RFC 6749 §4.1.2.1 (authorization endpoint), §5.2 (token endpoint),
//! RFC 6750 §3.1 (protected resources), OIDC Core §3.1.2.6 (`login_required`,
//! `consent_required`). The `description` is public: it goes to the client as
//! `error_description` and must never carry internal detail, which is logged
//! instead.

use std::fmt;

/// A registered OAuth / OIDC error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// RFC 6749 §4.1.2.1, §5.2.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed (401).
    InvalidClient,
    /// RFC 6749 §5.2: the code, verifier or refresh token is invalid.
    InvalidGrant,
    /// RFC 6749 §4.1.2.1, §5.2.
    UnauthorizedClient,
    /// RFC 6749 §5.2.
    UnsupportedGrantType,
    /// RFC 6749 §4.1.2.1, §5.2.
    InvalidScope,
    /// RFC 6749 §4.1.2.1.
    AccessDenied,
    /// RFC 6749 §4.1.2.1.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1 (500 elsewhere).
    ServerError,
    /// RFC 6749 §4.1.2.1 (503 elsewhere).
    TemporarilyUnavailable,
    /// OIDC Core §3.1.2.6.
    LoginRequired,
    /// OIDC Core §3.1.2.6.
    ConsentRequired,
    /// RFC 6750 §3.1 (401).
    InvalidToken,
    /// RFC 6750 §3.1 (403).
    InsufficientScope,
    /// RFC 8628 §3.5: the user has not decided yet.
    AuthorizationPending,
    /// RFC 8628 §3.5: polled faster than the interval.
    SlowDown,
    /// RFC 8628 §3.5: the device code expired.
    ExpiredToken,
    /// RFC 8707 §2: a `resource` is invalid, unknown or not allowed.
    InvalidTarget,
    /// RFC 7591 §3.2.2: a registration's `redirect_uris` are unacceptable.
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2: another field of a registration is unacceptable.
    InvalidClientMetadata,
    /// RFC 9449 §5, §7.1: the DPoP proof is missing where required, or
    /// invalid (400 at the token endpoint; 401 with a `DPoP` challenge at
    /// a protected resource).
    InvalidDpopProof,
    /// RFC 9449 §8, §9: the proof must carry the server's nonce, sent in
    /// the `DPoP-Nonce` header.
    UseDpopNonce,
    /// RFC 9101 §6.2, RFC 9126 §4: the `request_uri` is unknown, expired,
    /// used, or another client's.
    InvalidRequestUri,
    /// OIDC Core §3.1.2.6: request objects (`request`) are not supported.
    RequestNotSupported,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidClient,
        ErrorCode::InvalidGrant,
        ErrorCode::UnauthorizedClient,
        ErrorCode::UnsupportedGrantType,
        ErrorCode::InvalidScope,
        ErrorCode::AccessDenied,
        ErrorCode::UnsupportedResponseType,
        ErrorCode::ServerError,
        ErrorCode::TemporarilyUnavailable,
        ErrorCode::LoginRequired,
        ErrorCode::ConsentRequired,
        ErrorCode::InvalidToken,
        ErrorCode::InsufficientScope,
        ErrorCode::AuthorizationPending,
        ErrorCode::SlowDown,
        ErrorCode::ExpiredToken,
        ErrorCode::InvalidTarget,
        ErrorCode::InvalidRedirectUri,
        ErrorCode::InvalidClientMetadata,
        ErrorCode::InvalidDpopProof,
        ErrorCode::UseDpopNonce,
        ErrorCode::InvalidRequestUri,
        ErrorCode::RequestNotSupported,
    ];

    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::InvalidRequestUri => "invalid_request_uri",
            ErrorCode::RequestNotSupported => "request_not_supported",
        }
    }

    /// The HTTP status of a direct (non-redirect) error response: RFC 6749
    /// §5.2 (400, or 401 for `invalid_client`), RFC 6750 §3.1.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => 401,
            ErrorCode::InsufficientScope => 403,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error: a registered code and a public description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    /// The registered code.
    pub code: ErrorCode,
    /// Human-readable, public `error_description`.
    pub description: String,
}

impl OAuthError {
    /// A new error.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    /// `invalid_client`.
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }

    /// `server_error`, logging the internal cause rather than showing it.
    pub fn server_error(internal: impl fmt::Display) -> Self {
        tracing::error!(error = %internal, "internal error");
        Self::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        )
    }
}

impl From<crate::StoreError> for OAuthError {
    fn from(e: crate::StoreError) -> Self {
        match e {
            crate::StoreError::Refused(_) => {
                // The store knows the database is down and said so once.
                tracing::debug!(error = %e, "refused: the database is known to be unavailable");
                Self::new(
                    ErrorCode::TemporarilyUnavailable,
                    "the server is temporarily unavailable",
                )
            }
            crate::StoreError::Unavailable(_) => {
                tracing::error!(error = %e, "database unavailable");
                Self::new(
                    ErrorCode::TemporarilyUnavailable,
                    "the server is temporarily unavailable",
                )
            }
            other => Self::server_error(other),
        }
    }
}
