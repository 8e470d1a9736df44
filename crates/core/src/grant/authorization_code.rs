//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5, §4.6,
//! RFC 9700 §2.1.1 and §4.2.4 on replays).

use proofkey_pkce::{CodeChallenge, CodeVerifier, Method};

use super::{param, TokenResponse};
use crate::error::OAuthError;
use crate::model::{Client, CodeConsumption};
use crate::provider::{Issue, RefreshFamily};
use crate::{secret, Provider};

/// The grant's registered name.
pub const GRANT_TYPE: &str = "authorization_code";

/// Redeems a code for tokens. The code is consumed atomically before any
/// other check, so a code presented with a wrong verifier, by the wrong
/// client, or after its expiry can never be tried again.
pub async fn exchange(
    provider: &Provider,
    client: &Client,
    p: &crate::authorize::Params,
) -> Result<TokenResponse, OAuthError> {
    let code = param(p, "code")?.ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let redirect_uri = param(p, "redirect_uri")?;
    let verifier = param(p, "code_verifier")?;
    let now = provider.now();

    let code_hash = secret::hash_token(code);
    let code = match provider.store().consume_code(&code_hash, now).await? {
        CodeConsumption::Consumed(c) => c,
        CodeConsumption::NotFound => {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid",
            ))
        }
        CodeConsumption::AlreadyUsed => {
            // RFC 6749 §4.1.2: a code used twice is evidence of theft;
            // revoke what was issued from it.
            let revoked = provider.store().revoke_grant(&code_hash, now).await?;
            tracing::warn!(client_id = %client.id, revoked, "authorization code replayed; tokens of its grant revoked");
            return Err(OAuthError::invalid_grant(
                "the authorization code has already been used; tokens issued from it are revoked",
            ));
        }
    };
    if code.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if code.expires_at <= now {
        return Err(OAuthError::invalid_grant(
            "the authorization code has expired",
        ));
    }
    if redirect_uri != Some(code.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the one of the authorization request (RFC 6749 §4.1.3)",
        ));
    }

    // RFC 7636 §4.6. Every code of this server carries a challenge, so a
    // verifier can never be presented for a code without one (RFC 9700
    // §2.1.1 downgrade); a code without a stored challenge is refused.
    let Some(verifier) = verifier else {
        return Err(OAuthError::invalid_grant(
            "code_verifier is required (PKCE, RFC 7636 §4.5)",
        ));
    };
    if code.code_challenge.is_empty() {
        return Err(OAuthError::invalid_grant(
            "a code_verifier was sent for a code issued without code_challenge",
        ));
    }
    let verifier =
        CodeVerifier::parse(verifier).map_err(|e| OAuthError::invalid_grant(e.to_string()))?;
    let method = Method::parse(&code.code_challenge_method).map_err(OAuthError::server_error)?;
    let challenge =
        CodeChallenge::parse(&code.code_challenge, method).map_err(OAuthError::server_error)?;
    if !challenge.verify(&verifier) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match code_challenge (RFC 7636 §4.6)",
        ));
    }

    // OAuth 2.1 §4.3: a refresh token when the client may refresh and either
    // offline_access was granted or the client is registered to always get one.
    let scopes: Vec<&str> = code.scope.split(' ').collect();
    let refresh = client.may_use(super::refresh_token::GRANT_TYPE)
        && (scopes.contains(&"offline_access") || client.always_issue_refresh_token);
    let family_expiry = provider.new_family_expiry();
    provider
        .issue_tokens(
            client,
            &Issue {
                grant_id: &code.code_hash,
                subject: &code.user_id,
                scope: &code.scope,
                auth_time: Some(code.auth_time),
                nonce: code.nonce.as_deref(),
                id_token: scopes.contains(&"openid"),
                refresh: refresh.then_some(RefreshFamily {
                    scope: &code.scope,
                    expires_at: family_expiry,
                }),
            },
        )
        .await
}
