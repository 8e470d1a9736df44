//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4,
//! §3.5): the device polls until the user decides.

use super::{param, TokenResponse};
use crate::error::{ErrorCode, OAuthError};
use crate::issuer::{refresh_due, Issue, RefreshFamily};
use crate::model::{Client, DevicePoll, DeviceStatus, Issued};
use crate::{secret, Provider};

pub use crate::model::DEVICE_CODE_GRANT as GRANT_TYPE;

fn used() -> OAuthError {
    OAuthError::invalid_grant("the device code is invalid or was already used")
}

/// One poll. Approved, the device code is redeemed in the same transaction
/// that stores the tokens: of concurrent polls one gets them, and an error
/// while storing leaves the code to be redeemed by the next poll.
pub async fn poll(
    provider: &Provider,
    client: &Client,
    p: &crate::authorize::Params,
    dpop_jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let device_code = param(p, "device_code")?
        .ok_or_else(|| OAuthError::invalid_request("device_code is required"))?;
    let hash = secret::hash_token(device_code);
    let now = provider.now();
    let (record, slow_down) = match provider.store().poll_device_code(&hash, now).await? {
        DevicePoll::NotFound => return Err(used()),
        DevicePoll::Polled { record, slow_down } => (record, slow_down),
    };
    if record.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the device code was issued to another client",
        ));
    }
    if record.expires_at <= now {
        return Err(OAuthError::new(
            ErrorCode::ExpiredToken,
            "the device code has expired; start again",
        ));
    }
    match record.status {
        DeviceStatus::Pending if slow_down => Err(OAuthError::new(
            ErrorCode::SlowDown,
            format!(
                "polling too fast; wait {} seconds between requests",
                record.interval
            ),
        )),
        DeviceStatus::Pending => Err(OAuthError::new(
            ErrorCode::AuthorizationPending,
            "the user has not finished yet",
        )),
        DeviceStatus::Denied => Err(OAuthError::new(
            ErrorCode::AccessDenied,
            "the user denied the request",
        )),
        DeviceStatus::Approved => {
            let (Some(user_id), Some(grant_id)) =
                (record.user_id.as_deref(), record.grant_id.as_deref())
            else {
                return Err(OAuthError::server_error(
                    "approved device code without a user or grant",
                ));
            };
            let (audience, token_scope) = crate::resource::for_token(
                provider,
                &record.resources,
                &crate::resource::values(p)?,
                &record.scope,
            )
            .await?;
            let scopes: Vec<&str> = record.scope.split(' ').filter(|s| !s.is_empty()).collect();
            let refresh = refresh_due(client, &record.scope);
            let family_expiry = provider.issuer().family_expiry(now);
            let issuance = provider
                .issuer()
                .issue(
                    provider.keys().current(),
                    client,
                    &Issue {
                        grant_id,
                        subject: user_id,
                        scope: &token_scope,
                        audience: audience.as_deref(),
                        auth_time: record.auth_time,
                        nonce: None,
                        id_token: scopes.contains(&"openid"),
                        dpop_jkt,
                        refresh: refresh.then_some(RefreshFamily {
                            scope: &record.scope,
                            expires_at: family_expiry,
                            resources: &record.resources,
                        }),
                    },
                    now,
                )
                .await?;
            match provider
                .store()
                .redeem_device_code_and_issue(&hash, now, &issuance.records)
                .await?
            {
                Issued::Stored | Issued::Reissued => Ok(issuance.response),
                Issued::Replayed { .. } | Issued::NotFound => Err(used()),
                Issued::GrantRevoked => {
                    Err(OAuthError::invalid_grant("the authorization was revoked"))
                }
            }
        }
    }
}
