//! ID token validation (OIDC Core §3.1.3.7): signature against the
//! provider's JWKS, `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`, `at_hash`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256, Sha512};

use crate::ClientError;

/// Allowed clock difference with the server, in seconds.
pub const LEEWAY: i64 = 60;

/// What the ID token must match.
#[derive(Debug)]
pub struct Expected<'a> {
    /// The issuer.
    pub issuer: &'a str,
    /// Our client id.
    pub client_id: &'a str,
    /// The nonce we sent.
    pub nonce: Option<&'a str>,
    /// The access token issued with it (for `at_hash`).
    pub access_token: Option<&'a str>,
    /// Now, seconds since the epoch.
    pub now: i64,
}

/// Validates `id_token` against `jwks` and returns its claims.
pub fn validate(
    id_token: &str,
    jwks: &serde_json::Value,
    e: &Expected<'_>,
) -> Result<serde_json::Value, ClientError> {
    let bad = |m: &str| ClientError::IdToken(m.to_owned());
    let claims = proofkey_core::keys::verify_with_jwks(id_token, jwks)
        .map_err(|err| ClientError::IdToken(format!("signature: {err}")))?;
    if claims["iss"] != e.issuer {
        return Err(bad("iss is not the issuer"));
    }
    let aud_ok = match &claims["aud"] {
        serde_json::Value::String(a) => a == e.client_id,
        serde_json::Value::Array(list) => {
            list.iter().any(|a| a == e.client_id)
                && (list.len() == 1 || claims["azp"] == e.client_id)
        }
        _ => false,
    };
    if !aud_ok {
        return Err(bad("aud is not this client"));
    }
    match claims["exp"].as_i64() {
        Some(exp) if exp + LEEWAY > e.now => {}
        Some(_) => return Err(bad("it has expired")),
        None => return Err(bad("exp is missing")),
    }
    if claims["iat"].as_i64().is_none() {
        return Err(bad("iat is missing"));
    }
    if let Some(nonce) = e.nonce {
        if claims["nonce"] != nonce {
            return Err(bad("nonce does not match the request (replayed token?)"));
        }
    }
    if let (Some(at), Some(at_hash)) = (e.access_token, claims["at_hash"].as_str()) {
        let header: serde_json::Value = id_token
            .split('.')
            .next()
            .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
            .and_then(|h| serde_json::from_slice(&h).ok())
            .unwrap_or_default();
        let expected = match header["alg"].as_str() {
            Some("EdDSA") => URL_SAFE_NO_PAD.encode(&Sha512::digest(at.as_bytes())[..32]),
            Some("RS256" | "ES256" | "PS256") => {
                URL_SAFE_NO_PAD.encode(&Sha256::digest(at.as_bytes())[..16])
            }
            _ => return Err(bad("unsupported alg for at_hash")),
        };
        if expected != at_hash {
            return Err(bad("at_hash does not match the access token"));
        }
    }
    Ok(claims)
}

/// Fetches the JWKS.
pub async fn fetch_jwks(
    http: &reqwest::Client,
    jwks_uri: &str,
) -> Result<serde_json::Value, ClientError> {
    let resp = http.get(jwks_uri).send().await?;
    if !resp.status().is_success() {
        return Err(ClientError::Http(format!(
            "jwks_uri answered HTTP {}",
            resp.status()
        )));
    }
    resp.json()
        .await
        .map_err(|e| ClientError::Http(format!("jwks_uri is not a JWK Set: {e}")))
}

/// Longest account name shown (characters).
const MAX_DISPLAY_NAME: usize = 200;

/// Who the claims name, for a person to read (`login`, `status`, the
/// loopback page): the first present of `name`, `email`,
/// `preferred_username` (OIDC Core §5.1) and `sub` (§2). Control
/// characters are dropped (the value goes to a terminal) and it is cut
/// at 200 characters.
pub fn display_name(claims: &serde_json::Value) -> Option<String> {
    ["name", "email", "preferred_username", "sub"]
        .iter()
        .filter_map(|c| claims[*c].as_str())
        .map(|v| {
            v.chars()
                .filter(|c| !c.is_control())
                .take(MAX_DISPLAY_NAME)
                .collect::<String>()
        })
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
}

/// The claims of an ID token stored after it was validated, read again
/// without a check, only to show who logged in (a cache written before
/// the account was kept with the tokens) and when it expires
/// ([`stored_expiry`]). Never for a decision about trust.
pub fn stored_claims(id_token: &str) -> Option<serde_json::Value> {
    let payload = id_token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The `exp` of a stored ID token ([`stored_claims`]): when to refresh
/// it, and what kubectl is told about it.
pub fn stored_expiry(id_token: &str) -> Option<i64> {
    stored_claims(id_token)?["exp"].as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stored_id_tokens_expiry_is_its_exp() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"exp":1800000000,"sub":"x"}"#);
        assert_eq!(
            stored_expiry(&format!("h.{payload}.s")),
            Some(1_800_000_000)
        );
        assert_eq!(stored_expiry("not a jwt"), None);
        assert_eq!(stored_expiry("a.!!!.c"), None);
        let no_exp = URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        assert_eq!(stored_expiry(&format!("h.{no_exp}.s")), None);
    }

    #[test]
    fn the_display_name_prefers_name_then_email_then_username_then_sub() {
        let all =
            json!({"sub": "s1", "preferred_username": "al", "email": "a@x", "name": "Alice A"});
        assert_eq!(display_name(&all).as_deref(), Some("Alice A"));
        let no_name = json!({"sub": "s1", "preferred_username": "al", "email": "a@x", "name": " "});
        assert_eq!(display_name(&no_name).as_deref(), Some("a@x"));
        assert_eq!(
            display_name(&json!({"sub": "s1", "preferred_username": "al"})).as_deref(),
            Some("al")
        );
        assert_eq!(display_name(&json!({"sub": "s1"})).as_deref(), Some("s1"));
        assert_eq!(display_name(&json!({})), None);
        // Nothing that could drive a terminal.
        assert_eq!(
            display_name(&json!({"name": "Eve\u{1b}[31m\n"})).as_deref(),
            Some("Eve[31m")
        );
    }

    #[test]
    fn stored_claims_are_read_back_for_display() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"s","name":"N"}"#);
        let claims = stored_claims(&format!("h.{payload}.sig")).unwrap();
        assert_eq!(claims["name"], "N");
        assert!(stored_claims("not a jwt").is_none());
    }
}
