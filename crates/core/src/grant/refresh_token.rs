//! `grant_type=refresh_token` (RFC 6749 §6, OAuth 2.1 §4.3, RFC 9700 §4.14).
//!
//! Public clients' tokens rotate at every use; presenting a token that was
//! already rotated means it was copied, so the whole family (every token of
//! the grant) is revoked (RFC 9700 §4.14.2). Confidential clients may be
//! registered with non-rotating tokens. Scope may be narrowed, never widened.

use super::{param, TokenResponse};
use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, ClientKind, RefreshUse};
use crate::provider::{Issue, RefreshFamily};
use crate::{scope, secret, Provider};

/// The grant's registered name.
pub const GRANT_TYPE: &str = "refresh_token";

/// Redeems a refresh token.
pub async fn refresh(
    provider: &Provider,
    client: &Client,
    p: &crate::authorize::Params,
) -> Result<TokenResponse, OAuthError> {
    let token = param(p, "refresh_token")?
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let requested = param(p, "scope")?.map(scope::parse);
    let now = provider.now();
    let rotate = client.kind == ClientKind::Public || client.rotate_refresh_tokens;
    let idle = now + provider.config().refresh_token_idle_lifetime.as_secs() as i64;

    let record = match provider
        .store()
        .use_refresh_token(&secret::hash_token(token), now, rotate, idle)
        .await?
    {
        RefreshUse::Taken(r) => r,
        RefreshUse::Invalid => {
            return Err(OAuthError::invalid_grant(
                "the refresh token is invalid, expired or revoked",
            ))
        }
        RefreshUse::Reused(r) => {
            let revoked = provider.store().revoke_grant(&r.grant_id, now).await?;
            tracing::warn!(client_id = %client.id, revoked, "rotated refresh token reused; its family is revoked");
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; every token of this authorization is revoked",
            ));
        }
    };
    if record.client_id != client.id {
        // A token of another client: stolen. Burnt above if rotating; end the family.
        provider.store().revoke_grant(&record.grant_id, now).await?;
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let granted = scope::parse(&record.scope);
    let scopes = match requested {
        None => granted.clone(),
        Some(req) => {
            if let Some(wider) = req.iter().find(|s| !granted.contains(s)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("scope {wider:?} was not granted; a refresh may narrow the scope, never widen it"),
                ));
            }
            req
        }
    };
    if provider.store().get_user(&record.user_id).await?.is_none() {
        return Err(OAuthError::invalid_grant(
            "the user of this refresh token no longer exists",
        ));
    }
    let scope = scope::join(&scopes);
    provider
        .issue_tokens(
            client,
            &Issue {
                grant_id: &record.grant_id,
                subject: &record.user_id,
                scope: &scope,
                auth_time: Some(record.auth_time),
                nonce: None,
                id_token: scopes.iter().any(|s| s == "openid"),
                refresh: rotate.then_some(RefreshFamily {
                    scope: &record.scope,
                    expires_at: record.family_expires_at,
                }),
            },
        )
        .await
}
