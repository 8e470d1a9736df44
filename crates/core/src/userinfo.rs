//! The UserInfo endpoint (OIDC Core §5.3), with errors per RFC 6750 §3.1,
//! for bearer tokens (RFC 6750 §2.1) and DPoP-bound ones (RFC 9449 §7).

use serde_json::{json, Value};

use crate::error::{ErrorCode, OAuthError};
use crate::Provider;

/// The `error_description` of a DPoP-bound token sent as a bearer token:
/// answered with the `DPoP` challenge.
pub const BOUND_AS_BEARER: &str =
    "the access token is DPoP-bound: send it with the DPoP scheme and a proof (RFC 9449 §7.2)";

/// How the access token was sent.
#[derive(Debug, Clone, Copy)]
pub enum Presentation<'a> {
    /// `Authorization: Bearer` (RFC 6750 §2.1).
    Bearer,
    /// `Authorization: DPoP` with the `DPoP` header's values (RFC 9449
    /// §7.1), on a request of this method.
    Dpop {
        /// The `DPoP` header's values.
        proofs: &'a [String],
        /// The request's method (`htm`).
        method: &'a str,
    },
}

/// The claims about the user of an access token. Errors are
/// `invalid_token` for a bad signature, another issuer, an expired or a
/// revoked token (its grant's revocation included), a DPoP-bound token sent
/// as a bearer token (RFC 9449 §7.2) or with a proof by another key;
/// `invalid_dpop_proof` or `use_dpop_nonce` for the proof;
/// `insufficient_scope` without `openid`.
pub async fn userinfo(
    p: &Provider,
    bearer: &str,
    how: Presentation<'_>,
) -> Result<Value, OAuthError> {
    let invalid = |d: &str| OAuthError::new(ErrorCode::InvalidToken, d);
    let claims = p
        .keys()
        .access_token_claims(bearer)
        .ok_or_else(|| invalid("the access token is invalid"))?;
    // RFC 8707 §2, RFC 9068 §4: a token for another resource is not
    // accepted here (no token passthrough).
    let issuer = p.config().issuer.as_str();
    let for_us = match &claims["aud"] {
        Value::String(a) => a == issuer,
        Value::Array(all) => all.iter().any(|a| a.as_str() == Some(issuer)),
        _ => false,
    };
    if !for_us {
        return Err(invalid(
            "the access token is not for this server (its aud is another resource)",
        ));
    }
    let now = p.now();
    if claims["exp"].as_i64().is_none_or(|exp| exp <= now) {
        return Err(invalid("the access token has expired"));
    }
    let jti = claims["jti"].as_str().unwrap_or_default();
    if !p.store().access_token_active(jti, now).await? {
        return Err(invalid("the access token has been revoked"));
    }
    let bound = claims["cnf"]["jkt"].as_str();
    match (how, bound) {
        (Presentation::Bearer, None) => {}
        (Presentation::Bearer, Some(_)) => return Err(invalid(BOUND_AS_BEARER)),
        (Presentation::Dpop { .. }, None) => {
            return Err(invalid(
                "the access token is not DPoP-bound: send it with the Bearer scheme",
            ))
        }
        (Presentation::Dpop { proofs, method }, Some(jkt)) => {
            let path = crate::discovery::paths::USERINFO;
            let proof = crate::dpop::check(p, proofs, method, path, Some(bearer))
                .await?
                .ok_or_else(|| {
                    crate::dpop::invalid_proof("the DPoP scheme needs a DPoP proof (RFC 9449 §7.1)")
                })?;
            if proof.jkt != jkt {
                return Err(invalid(
                    "the DPoP proof is not made with the key the access token is bound to",
                ));
            }
        }
    }
    let sub = claims["sub"].as_str().unwrap_or_default();
    let Some(user) = p.store().get_user(sub).await? else {
        return Err(invalid("the access token's user no longer exists"));
    };
    let scopes: Vec<&str> = claims["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .collect();
    if !scopes.contains(&"openid") {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the userinfo endpoint needs the openid scope",
        ));
    }
    let mut info = json!({"sub": user.id});
    if scopes.contains(&"profile") {
        info["preferred_username"] = json!(user.username);
        if let Some(n) = &user.name {
            info["name"] = json!(n);
        }
    }
    if scopes.contains(&"email") {
        if let Some(e) = &user.email {
            info["email"] = json!(e);
        }
    }
    Ok(info)
}
