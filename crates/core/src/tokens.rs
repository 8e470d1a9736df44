//! Token formats: JWT access tokens (RFC 9068) and OIDC ID tokens (OIDC Core §2).

use serde::Serialize;

/// RFC 9068 §2.1: the `typ` header of a JWT access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// The signing algorithm of access tokens: ES256 is fast to sign and verify.
pub const ACCESS_TOKEN_ALG: &str = "ES256";

/// RFC 9068 §2.2 claims.
#[derive(Debug, Serialize)]
pub struct AccessTokenClaims<'a> {
    /// Issuer.
    pub iss: &'a str,
    /// Expiry.
    pub exp: i64,
    /// Audience (RFC 9068 §3, RFC 8707 §2.2): the resources the token is
    /// for (one, RFC 8707 §2.2), or this server (the issuer) when none was
    /// asked for.
    pub aud: &'a str,
    /// Resource owner.
    pub sub: &'a str,
    /// The client.
    pub client_id: &'a str,
    /// Issued at.
    pub iat: i64,
    /// Unique id; the revocation handle.
    pub jti: &'a str,
    /// Granted scope.
    pub scope: &'a str,
    /// When the user authenticated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The key the token is bound to (RFC 9449 §6.1 `cnf.jkt`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<crate::dpop::Confirmation<'a>>,
}

/// OIDC Core §2 and §3.1.3.6 ID token claims.
#[derive(Debug, Serialize)]
pub struct IdTokenClaims<'a> {
    /// Issuer.
    pub iss: &'a str,
    /// Subject.
    pub sub: &'a str,
    /// The client.
    pub aud: &'a str,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The request's nonce, echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    /// Left half of the access token's hash.
    pub at_hash: &'a str,
}
