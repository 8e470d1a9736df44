//! The token endpoint (RFC 6749 §3.2, §5): one module per grant type, each
//! with its name and handler. The dispatcher authenticates the client first.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod refresh_token;

use crate::authorize::Params;
use crate::error::{ErrorCode, OAuthError};
use crate::Provider;

pub use crate::issuer::TokenResponse;

/// A token request as received. Its `Debug` shows no secret (see
/// [`Params`]).
#[derive(Debug)]
pub struct TokenRequest {
    /// Form parameters.
    pub params: Params,
    /// The `Authorization` header, if any.
    pub authorization: Option<crate::secret::Credentials>,
    /// The client's address (for the security log), if known.
    pub address: Option<std::net::IpAddr>,
    /// The values of the `DPoP` header (RFC 9449 §4.1): none, one, or a
    /// defect.
    pub dpop: crate::dpop::ProofHeaders,
}

/// Evidence of theft (RFC 9700 §4.14.2 a rotated refresh token presented
/// again, RFC 6749 §4.1.2 a code used twice): revokes the grant, in a
/// transaction of its own, and returns the `invalid_grant` to answer.
async fn revoke_stolen(
    provider: &Provider,
    client: &crate::model::Client,
    address: Option<std::net::IpAddr>,
    grant_id: &str,
    evidence: &'static str,
    description: &'static str,
) -> Result<OAuthError, OAuthError> {
    let revoked = provider
        .store()
        .revoke_grant(grant_id, provider.now())
        .await?;
    let address = address.map(|a| a.to_string()).unwrap_or_default();
    // For the log only: a failure to read it does not change the answer.
    let username = provider
        .store()
        .grant_username(grant_id)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    tracing::warn!(target: crate::session::SECURITY, event = evidence, username, client_id = %client.id, address, grant_id, revoked, "{evidence}; its grant is revoked");
    let metric = if evidence == authorization_code::REPLAYED {
        "proofkey_code_replay_total"
    } else {
        "proofkey_refresh_token_reuse_total"
    };
    metrics::counter!(metric).increment(1);
    Ok(OAuthError::invalid_grant(description))
}

fn param<'a>(params: &'a Params, name: &str) -> Result<Option<&'a str>, OAuthError> {
    params.get(name).map_err(OAuthError::invalid_request)
}

/// Handles a token request: authenticates the client, then dispatches on
/// `grant_type` (RFC 6749 §4.1.3, §4.4, §6).
pub async fn token(provider: &Provider, req: &TokenRequest) -> Result<TokenResponse, OAuthError> {
    let p = &req.params;
    let client = crate::client_auth::authenticate_client(
        provider,
        req.authorization.as_ref().map(|a| a.expose()),
        p,
    )
    .await?;
    let grant_type = param(p, "grant_type")?
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    if !SUPPORTED.contains(&grant_type) {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type {grant_type:?} is not supported"),
        ));
    }
    if !client.may_use(grant_type) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client may not use the {grant_type} grant"),
        ));
    }
    // RFC 9449 §5: a proof binds what is issued to its key.
    let path = crate::discovery::paths::TOKEN;
    let proof = crate::dpop::check(provider, &req.dpop.0, "POST", path, None).await?;
    if proof.is_none() && client.dpop_bound_access_tokens {
        return Err(crate::dpop::invalid_proof(
            "this client's token requests must carry a DPoP proof (dpop_bound_access_tokens, RFC 9449 §5.2)",
        ));
    }
    let jkt = proof.as_ref().map(|p| p.jkt.as_str());
    let (grant_type, issued) = match grant_type {
        authorization_code::GRANT_TYPE => (
            authorization_code::GRANT_TYPE,
            authorization_code::exchange(provider, &client, p, req.address, jkt).await,
        ),
        refresh_token::GRANT_TYPE => (
            refresh_token::GRANT_TYPE,
            refresh_token::refresh(provider, &client, p, req.address, jkt).await,
        ),
        client_credentials::GRANT_TYPE => (
            client_credentials::GRANT_TYPE,
            client_credentials::grant(provider, &client, p, jkt).await,
        ),
        device_code::GRANT_TYPE => (
            "device_code",
            device_code::poll(provider, &client, p, jkt).await,
        ),
        other => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type {other:?} is not supported"),
            ))
        }
    };
    if issued.is_ok() {
        issued_counter(grant_type).increment(1);
    }
    issued
}

/// `proofkey_tokens_issued_total` of `grant_type`, looked up once per grant
/// type (a lookup by name and label allocates; this is every token
/// response's).
fn issued_counter(grant_type: &'static str) -> &'static metrics::Counter {
    static COUNTERS: std::sync::LazyLock<Vec<(&'static str, metrics::Counter)>> =
        std::sync::LazyLock::new(|| {
            [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "device_code",
            ]
            .into_iter()
            .map(|g| {
                (
                    g,
                    metrics::counter!("proofkey_tokens_issued_total", "grant_type" => g),
                )
            })
            .collect()
        });
    static NONE: std::sync::LazyLock<metrics::Counter> =
        std::sync::LazyLock::new(metrics::Counter::noop);
    COUNTERS
        .iter()
        .find(|(g, _)| *g == grant_type)
        .map_or(&*NONE, |(_, c)| c)
}

/// The grants this server implements.
pub const SUPPORTED: &[&str] = &[
    authorization_code::GRANT_TYPE,
    refresh_token::GRANT_TYPE,
    client_credentials::GRANT_TYPE,
    device_code::GRANT_TYPE,
];
