//! `grant_type=client_credentials` (RFC 6749 §4.4): a confidential client
//! acting on its own behalf, within its registered scopes. Each token gets
//! a grant of its own (no user), stored with it in one transaction.

use super::{param, TokenResponse};
use crate::error::{ErrorCode, OAuthError};
use crate::issuer::Issue;
use crate::model::{Client, ClientKind, Grant};
use crate::{scope, secret, Provider};

/// The grant's registered name.
pub const GRANT_TYPE: &str = "client_credentials";

/// Scopes that only make sense with a user.
const USER_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Issues an access token to the client itself (`sub` is the client id).
pub async fn grant(
    provider: &Provider,
    client: &Client,
    p: &crate::authorize::Params,
    dpop_jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    if client.kind != ClientKind::Confidential {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "client_credentials is for confidential clients only (RFC 6749 §4.4)",
        ));
    }
    let allowed: Vec<String> = client
        .scopes
        .iter()
        .filter(|s| !USER_SCOPES.contains(&s.as_str()))
        .cloned()
        .collect();
    let scopes = match param(p, "scope")? {
        None => allowed,
        Some(req) => {
            let req = scope::parse_request(req)
                .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e))?;
            if let Some(bad) = req.iter().find(|s| !allowed.contains(s)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!(
                        "scope {bad:?} is not available to this client with client_credentials"
                    ),
                ));
            }
            req
        }
    };
    let values = crate::resource::values(p)?;
    let resources = crate::resource::for_new_grant(provider, client, &values, &scopes).await?;
    let (audience, scope) =
        crate::resource::for_token(provider, &resources, &[], &scope::join(&scopes)).await?;
    let now = provider.now();
    let grant_id = secret::time_ordered_id(10).map_err(OAuthError::server_error)?;
    let issuance = provider
        .issuer()
        .issue(
            provider.keys().current(),
            client,
            &Issue {
                grant_id: &grant_id,
                subject: &client.id,
                scope: &scope,
                audience: audience.as_deref(),
                auth_time: None,
                nonce: None,
                id_token: false,
                refresh: None,
                dpop_jkt,
            },
            now,
        )
        .await?;
    let grant = Grant {
        id: grant_id,
        client_id: client.id.clone(),
        user_id: None,
        scope,
        resources,
        auth_time: None,
        expires_at: issuance.records.horizon(),
        created_at: now,
    };
    if !provider
        .store()
        .issue_client_credentials(&grant, &issuance.records)
        .await?
    {
        // Deleted while its cached registration authenticated it.
        return Err(OAuthError::invalid_client("client authentication failed"));
    }
    Ok(issuance.response)
}
