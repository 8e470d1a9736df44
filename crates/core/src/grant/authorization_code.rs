//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5, §4.6,
//! RFC 9700 §2.1.1 and §4.2.4 on replays).

use proofkey_pkce::{CodeChallenge, CodeVerifier, Method};

use super::{param, TokenResponse};
use crate::error::OAuthError;
use crate::issuer::{refresh_due, Issue, RefreshFamily};
use crate::model::{AuthorizationCode, Client, CodeConsumption, Issued, StoredCode};
use crate::{secret, Provider};

/// The grant's registered name.
pub const GRANT_TYPE: &str = "authorization_code";

/// The evidence logged when a used code is presented again.
pub(super) const REPLAYED: &str = "authorization code replayed";

/// Redeems a code for tokens.
///
/// A code is used once (RFC 6749 §4.1.2), whatever happens: a presentation
/// that fails a check (wrong verifier, client, redirect URI, or expired)
/// spends it; one that passes redeems it, in the same transaction that
/// stores the tokens, so that an error while storing them leaves the code
/// as it was. A second presentation of a used code is a replay, evidence
/// that it was stolen, and revokes its grant: every token issued from it,
/// whichever of the two requests committed first.
pub async fn exchange(
    provider: &Provider,
    client: &Client,
    p: &crate::authorize::Params,
    address: Option<std::net::IpAddr>,
    dpop_jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let code = param(p, "code")?.ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let redirect_uri = param(p, "redirect_uri")?;
    let verifier = param(p, "code_verifier")?;
    let now = provider.now();

    let code_hash = secret::hash_token(code);
    let code = match provider.store().find_code(&code_hash).await? {
        None => return Err(unknown()),
        Some(StoredCode { used: true, code }) => {
            return Err(replayed(provider, client, address, &code.grant_id).await?)
        }
        Some(StoredCode { code, .. }) => code,
    };
    if let Err(refused) = check(&code, client, redirect_uri, verifier, dpop_jkt, now) {
        return Err(
            match provider.store().consume_code(&code_hash, now).await? {
                CodeConsumption::AlreadyUsed { grant_id } => {
                    replayed(provider, client, address, &grant_id).await?
                }
                CodeConsumption::Consumed(_) | CodeConsumption::NotFound => refused,
            },
        );
    }

    let (audience, token_scope) = crate::resource::for_token(
        provider,
        &code.resources,
        &crate::resource::values(p)?,
        &code.scope,
    )
    .await?;
    let scopes: Vec<&str> = code.scope.split(' ').collect();
    let refresh = refresh_due(client, &code.scope);
    let family_expiry = provider.issuer().family_expiry(now);
    let issuance = provider
        .issuer()
        .issue(
            provider.keys().current(),
            client,
            &Issue {
                grant_id: &code.grant_id,
                subject: &code.user_id,
                scope: &token_scope,
                audience: audience.as_deref(),
                auth_time: Some(code.auth_time),
                nonce: code.nonce.as_deref(),
                id_token: scopes.contains(&"openid"),
                refresh: refresh.then_some(RefreshFamily {
                    scope: &code.scope,
                    expires_at: family_expiry,
                    resources: &code.resources,
                }),
                dpop_jkt,
            },
            now,
        )
        .await?;
    match provider
        .store()
        .redeem_code_and_issue(&code_hash, now, &issuance.records)
        .await?
    {
        Issued::Stored | Issued::Reissued => Ok(issuance.response),
        Issued::Replayed { grant_id } => Err(replayed(provider, client, address, &grant_id).await?),
        Issued::NotFound => Err(unknown()),
        Issued::GrantRevoked => Err(OAuthError::invalid_grant("the authorization was revoked")),
    }
}

fn unknown() -> OAuthError {
    OAuthError::invalid_grant("the authorization code is invalid")
}

/// RFC 6749 §4.1.2, RFC 9700 §4.2.4: a code used twice was stolen; its
/// grant is revoked. The error to answer.
async fn replayed(
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
        REPLAYED,
        "the authorization code has already been used; tokens issued from it are revoked",
    )
    .await
}

/// Everything a code must satisfy before tokens are issued for it.
fn check(
    code: &AuthorizationCode,
    client: &Client,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    dpop_jkt: Option<&str>,
    now: i64,
) -> Result<(), OAuthError> {
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

    // RFC 9449 §10: a code bound by `dpop_jkt` needs a proof by that key.
    if let Some(bound) = &code.dpop_jkt {
        if dpop_jkt != Some(bound.as_str()) {
            return Err(OAuthError::invalid_grant(
                "the authorization code is bound to a DPoP key (dpop_jkt); send a DPoP proof made with that key (RFC 9449 §10)",
            ));
        }
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
    Ok(())
}
