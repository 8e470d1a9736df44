//! `grant_type=refresh_token` (RFC 6749 §6, OAuth 2.1 §4.3, RFC 9700 §4.14).
//!
//! Public clients' tokens rotate at every use; presenting a token that was
//! already rotated means it was copied, so its grant (every token of the
//! family) is revoked (RFC 9700 §4.14.2). Confidential clients may be
//! registered with non-rotating tokens. Scope may be narrowed, never widened.
//!
//! The rotation and the storing of the new tokens are one transaction
//! (`GrantStore::rotate_refresh_and_issue`): if storing fails, the
//! presented token is left as it was and the client's retry succeeds.
//!
//! With `refresh_token_reuse_interval` set, a client whose answer was lost
//! may present the token it just rotated again within that interval: as
//! long as the token that replaced it has never been presented (the lost
//! answer's "unseen child"), that child and the access token issued with it
//! are revoked and the client gets a fresh pair, instead of losing the
//! family. Outside the interval, or once the child has been used, reuse
//! revokes the family as before. The trade-off: within the interval, a
//! thief who replays a stolen, just-rotated token before the client uses
//! its new one takes the family over until the client presents the token
//! the retry replaced, which then revokes the family (RFC 9700 §4.14.2);
//! off by default, as RFC 9700 §4.14.2 describes rotation.

use super::{param, TokenResponse};
use crate::error::{ErrorCode, OAuthError};
use crate::issuer::{Issue, RefreshFamily};
use crate::model::{Client, ClientKind, Issued, Rotation};
use crate::{scope, secret, Provider};

/// The grant's registered name.
pub const GRANT_TYPE: &str = "refresh_token";

fn invalid() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}

/// Redeems a refresh token.
pub async fn refresh(
    provider: &Provider,
    client: &Client,
    p: &crate::authorize::Params,
    address: Option<std::net::IpAddr>,
    dpop_jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let token = param(p, "refresh_token")?
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let requested = param(p, "scope")?
        .map(scope::parse_request)
        .transpose()
        .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e))?;
    let now = provider.now();
    let config = provider.config();
    let hash = secret::hash_token(token);

    let Some(found) = provider.store().find_refresh_token(&hash).await? else {
        return Err(invalid());
    };
    let record = &found.record;
    let expired = record.family_expires_at <= now
        || (found.rotated_at.is_none() && record.idle_expires_at <= now);
    if found.grant_revoked || expired {
        return Err(invalid());
    }
    if record.client_id != client.id {
        // A token of another client: stolen. End the family.
        provider.store().revoke_grant(&record.grant_id, now).await?;
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if found.revoked {
        // A successor that a retry within the reuse interval replaced:
        // someone held it after all (the answer was not lost, or a thief
        // made the retry). RFC 9700 §4.14.2: an invalidated token presented
        // again ends the family.
        return Err(reused(provider, client, address, &record.grant_id).await?);
    }
    let rotate = client.kind == ClientKind::Public || client.rotate_refresh_tokens;
    let interval = config.refresh_token_reuse_interval.as_secs() as i64;
    let retry_since = (rotate && interval > 0).then_some(now - interval);
    if let Some(rotated_at) = found.rotated_at {
        if retry_since.is_none_or(|since| rotated_at < since) {
            return Err(reused(provider, client, address, &record.grant_id).await?);
        }
    }
    // RFC 9449 §5: a bound refresh token needs a proof by its key. A live
    // token without one is not evidence of theft (a client may have lost
    // its key), so the family lives on, but nothing is issued; a rotated
    // one was copied, key or not, and revoked the family above.
    if let Some(bound) = &record.dpop_jkt {
        if dpop_jkt != Some(bound.as_str()) {
            return Err(OAuthError::invalid_grant(
                "the refresh token is bound to a DPoP key; send a DPoP proof made with that key (RFC 9449 §5)",
            ));
        }
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
    let (audience, scope) = crate::resource::for_token(
        provider,
        &record.resources,
        &crate::resource::values(p)?,
        &scope::join(&scopes),
    )
    .await?;
    let issuance = provider
        .issuer()
        .issue(
            provider.keys().current(),
            client,
            &Issue {
                grant_id: &record.grant_id,
                subject: &record.user_id,
                scope: &scope,
                audience: audience.as_deref(),
                auth_time: Some(record.auth_time),
                nonce: None,
                id_token: scopes.iter().any(|s| s == "openid"),
                refresh: rotate.then_some(RefreshFamily {
                    scope: &record.scope,
                    expires_at: record.family_expires_at,
                    resources: &record.resources,
                }),
                dpop_jkt,
            },
            now,
        )
        .await?;
    let rotation = if rotate {
        Rotation::Rotate { retry_since }
    } else {
        Rotation::Keep {
            idle_expires_at: now + config.refresh_token_idle_lifetime.as_secs() as i64,
        }
    };
    match provider
        .store()
        .rotate_refresh_and_issue(&hash, now, rotation, &issuance.records)
        .await?
    {
        Issued::Stored => Ok(issuance.response),
        Issued::Reissued => {
            tracing::info!(client_id = %client.id, grant_id = %record.grant_id, "refresh token presented again within the reuse interval; its unseen successor is revoked");
            Ok(issuance.response)
        }
        Issued::Replayed { grant_id } => Err(reused(provider, client, address, &grant_id).await?),
        Issued::NotFound | Issued::GrantRevoked => Err(invalid()),
    }
}

/// RFC 9700 §4.14.2: a rotated refresh token presented again was copied;
/// its grant is revoked. The error to answer.
async fn reused(
    provider: &Provider,
    client: &Client,
    address: Option<std::net::IpAddr>,
    grant_id: &str,
) -> Result<OAuthError, OAuthError> {
    super::revoke_stolen(
        provider,
        client,
        address,
        grant_id,
        "rotated refresh token reused",
        "the refresh token was already used; every token of this authorization is revoked",
    )
    .await
}
