//! Token revocation (RFC 7009) and introspection (RFC 7662).

use serde_json::{json, Value};

use crate::authorize::Params;
use crate::error::{ErrorCode, OAuthError};
use crate::model::{AccessTokenRecord, ClientKind, RefreshTokenRecord};
use crate::{secret, Provider};

/// A live token found by its value.
#[derive(Debug)]
pub enum Found {
    /// A JWT access token: its record and verified claims.
    Access(AccessTokenRecord, Value),
    /// A refresh token.
    Refresh(RefreshTokenRecord),
}

async fn find_access(p: &Provider, token: &str) -> Result<Option<Found>, OAuthError> {
    let Some(claims) = p.keys().access_token_claims(token) else {
        return Ok(None);
    };
    let jti = claims["jti"].as_str().unwrap_or_default();
    Ok(p.store()
        .get_access_token(jti, p.now())
        .await?
        .map(|r| Found::Access(r, claims)))
}

async fn find_refresh(p: &Provider, token: &str) -> Result<Option<Found>, OAuthError> {
    Ok(p.store()
        .get_refresh_token(&secret::hash_token(token), p.now())
        .await?
        .map(Found::Refresh))
}

/// The live token with this value (its grant live too). `token_type_hint`
/// decides which kind is looked up first; it is never trusted (RFC 7009
/// §2.1, RFC 7662 §2.1).
pub async fn find_token(
    p: &Provider,
    token: &str,
    hint: Option<&str>,
) -> Result<Option<Found>, OAuthError> {
    if hint == Some("refresh_token") {
        if let Some(f) = find_refresh(p, token).await? {
            return Ok(Some(f));
        }
        return find_access(p, token).await;
    }
    if let Some(f) = find_access(p, token).await? {
        return Ok(Some(f));
    }
    find_refresh(p, token).await
}

/// RFC 7009 §2.1: revokes `token` if it belongs to `client`. Unknown,
/// expired or already revoked tokens are not an error (§2.2). Revoking a
/// refresh token revokes its grant: every token of it, access tokens
/// included (§2.1's SHOULD). A token of another client is refused.
///
/// A refresh token that was rotated meanwhile (a refresh of it raced the
/// revocation, or the client revokes the token it held before its last
/// refresh) still names its grant, which the client means to end: the
/// grant is revoked too, so that a logout never loses to a refresh in
/// flight.
pub async fn revoke(p: &Provider, client_id: &str, params: &Params) -> Result<(), OAuthError> {
    let get = |n: &str| params.get(n).map_err(OAuthError::invalid_request);
    let token = get("token")?.ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let hint = get("token_type_hint")?;
    let now = p.now();
    match find_token(p, token, hint).await? {
        None => {
            let Some(found) = p
                .store()
                .find_refresh_token(&secret::hash_token(token))
                .await?
            else {
                return Ok(());
            };
            // Not live: for another client, an invalid token (§2.2: 200).
            if found.record.client_id == client_id
                && found.rotated_at.is_some()
                && !found.grant_revoked
            {
                let live = p.store().revoke_grant(&found.record.grant_id, now).await?;
                tracing::info!(
                    client_id,
                    grant_id = %found.record.grant_id,
                    live,
                    "rotated refresh token revoked with its grant"
                );
            }
            Ok(())
        }
        Some(Found::Access(r, _)) => {
            if r.client_id != client_id {
                return Err(not_yours());
            }
            p.store()
                .revoke_access_token(&r.jti, client_id, now)
                .await?;
            tracing::info!(client_id, "access token revoked");
            Ok(())
        }
        Some(Found::Refresh(r)) => {
            if r.client_id != client_id {
                return Err(not_yours());
            }
            let live = p.store().revoke_grant(&r.grant_id, now).await?;
            tracing::info!(
                client_id,
                grant_id = %r.grant_id,
                live,
                "refresh token revoked with its grant"
            );
            Ok(())
        }
    }
}

/// RFC 7662 §2.2: the state of `token` for an authenticated confidential
/// client. Anything not active (its grant revoked included) is exactly
/// `{"active": false}`.
pub async fn introspect(
    p: &Provider,
    caller: &crate::model::Client,
    params: &Params,
) -> Result<Value, OAuthError> {
    if caller.kind != ClientKind::Confidential {
        return Err(OAuthError::invalid_client(
            "introspection requires an authenticated confidential client (RFC 7662 §2.1)",
        ));
    }
    // RFC 7662 §4: only callers the operator knows (resource servers) may
    // ask about any token; a client that registered itself, or a metadata
    // document, may not.
    if caller.registration != crate::model::Registration::Admin {
        return Err(OAuthError::invalid_client(
            "introspection is for clients registered by the operator (RFC 7662 §4)",
        ));
    }
    let get = |n: &str| params.get(n).map_err(OAuthError::invalid_request);
    let token = get("token")?.ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let hint = get("token_type_hint")?;
    let inactive = json!({"active": false});
    let username = |id: String| async move {
        p.store()
            .get_user(&id)
            .await
            .ok()
            .flatten()
            .map(|u| u.username)
    };
    Ok(match find_token(p, token, hint).await? {
        None => inactive,
        Some(Found::Access(r, claims)) => {
            let mut v = json!({
                "active": true,
                "token_type": "Bearer",
                "scope": r.scope,
                "client_id": r.client_id,
                "sub": claims["sub"],
                "aud": claims["aud"],
                "iss": claims["iss"],
                "exp": claims["exp"],
                "iat": claims["iat"],
                "jti": r.jti,
            });
            // RFC 9449 §6.2: a bound token's key, and its type.
            if claims["cnf"].is_object() {
                v["cnf"] = claims["cnf"].clone();
                v["token_type"] = json!("DPoP");
            }
            if let Some(u) = username(r.user_id).await {
                v["username"] = json!(u);
            }
            v
        }
        Some(Found::Refresh(r)) => {
            let mut v = json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": r.scope,
                "client_id": r.client_id,
                "sub": r.user_id,
                "aud": if r.resources.is_empty() {
                    json!(p.config().issuer)
                } else {
                    json!(crate::scope::parse(&r.resources))
                },
                "iss": p.config().issuer,
                "exp": r.idle_expires_at.min(r.family_expires_at),
                "iat": r.issued_at,
            });
            if let Some(jkt) = &r.dpop_jkt {
                v["cnf"] = json!({"jkt": jkt});
            }
            if let Some(u) = username(r.user_id).await {
                v["username"] = json!(u);
            }
            v
        }
    })
}

fn not_yours() -> OAuthError {
    // RFC 7009 §2.1: the request is refused when the token was not issued
    // to the requesting client.
    OAuthError::new(
        ErrorCode::UnauthorizedClient,
        "the token was not issued to this client",
    )
}
