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
