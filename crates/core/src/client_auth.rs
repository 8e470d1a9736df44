//! Client authentication at the token endpoint (RFC 6749 §2.3, §3.2.1;
//! OAuth 2.1 §2.4).
//!
//! Public clients identify themselves with `client_id` alone. Confidential
//! clients use `client_secret_basic` (RFC 6749 §2.3.1: the id and secret
//! form-urlencoded, then HTTP Basic), `client_secret_post`, or
//! `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9) when they registered a
//! JWK Set. Each client may use only the method its registration implies.
//! Using more than one method in a request is refused (§2.3).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::error::OAuthError;
use crate::model::Client;
use crate::secret::{ClientSecret, SecretHasher};
use crate::Provider;

/// How the request tried to authenticate.
#[derive(Debug)]
pub enum Presented {
    /// `Authorization: Basic ...`.
    Basic {
        /// Decoded id.
        id: String,
        /// Decoded secret.
        secret: ClientSecret,
    },
    /// `client_id` and `client_secret` in the body.
    Post {
        /// Id.
        id: String,
        /// Secret.
        secret: ClientSecret,
    },
    /// `client_id` only.
    None {
        /// Id.
        id: String,
    },
    /// `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    Assertion {
        /// Id (the assertion's `sub`).
        id: String,
        /// The JWT.
        assertion: String,
    },
}

/// RFC 7523 §2.2.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

impl Presented {
    /// The client id presented.
    pub fn client_id(&self) -> &str {
        match self {
            Presented::Basic { id, .. }
            | Presented::Post { id, .. }
            | Presented::None { id }
            | Presented::Assertion { id, .. } => id,
        }
    }

    /// Whether the Authorization header was used (a 401 then carries
    /// `WWW-Authenticate: Basic`, RFC 6749 §5.2).
    pub fn used_basic(&self) -> bool {
        matches!(self, Presented::Basic { .. })
    }
}

fn form_decode(s: &str) -> Option<String> {
    // RFC 6749 §2.3.1 / Appendix B: application/x-www-form-urlencoded.
    let replaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&replaced)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// Reads the credentials of a request to the token, revocation or
/// introspection endpoint.
pub fn presented(
    authorization: Option<&str>,
    params: &crate::authorize::Params,
) -> Result<Presented, OAuthError> {
    let get = |n: &str| params.get(n).map_err(OAuthError::invalid_request);
    let client_id = get("client_id")?;
    let client_secret = get("client_secret")?;
    let assertion_type = get("client_assertion_type")?;
    let assertion = get("client_assertion")?;
    if assertion_type.is_some() || assertion.is_some() {
        if authorization.is_some() || client_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not a client assertion and a secret (RFC 6749 §2.3)",
            ));
        }
        if assertion_type != Some(JWT_BEARER_ASSERTION) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {JWT_BEARER_ASSERTION} (RFC 7523 §2.2)"
            )));
        }
        let assertion =
            assertion.ok_or_else(|| OAuthError::invalid_request("client_assertion is missing"))?;
        let sub = unverified_claim(assertion, "sub").ok_or_else(|| {
            OAuthError::invalid_client("the client assertion is not a JWT with a sub claim")
        })?;
        if client_id.is_some_and(|id| id != sub) {
            return Err(OAuthError::invalid_client(
                "client_id differs from the client assertion's sub",
            ));
        }
        return Ok(Presented::Assertion {
            id: sub,
            assertion: assertion.to_owned(),
        });
    }
    if let Some(header) = authorization {
        let Some(b64) = credentials(header, "Basic") else {
            return Err(OAuthError::invalid_client(
                "unsupported Authorization scheme; use Basic",
            ));
        };
        if client_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not both Basic and client_secret (RFC 6749 §2.3)",
            ));
        }
        let decoded = STANDARD
            .decode(b64.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
        let (Some(id), Some(secret)) = (form_decode(id), form_decode(secret)) else {
            return Err(OAuthError::invalid_client("malformed Basic credentials"));
        };
        if client_id.is_some_and(|body| body != id) {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the Basic credentials",
            ));
        }
        return Ok(Presented::Basic {
            id,
            secret: ClientSecret::new(secret),
        });
    }
    let Some(id) = client_id else {
        return Err(OAuthError::invalid_client(
            "client authentication is required: send client_id",
        ));
    };
    Ok(match client_secret {
        Some(secret) => Presented::Post {
            id: id.to_owned(),
            secret: ClientSecret::new(secret),
        },
        None => Presented::None { id: id.to_owned() },
    })
}

/// A claim of a JWT payload, read without verification (to find out which
/// client's keys verify it).
fn unverified_claim(jwt: &str, claim: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v[claim].as_str().map(str::to_owned)
}

/// Checks presented secrets (or their absence) against the registered
/// client. A `private_key_jwt` client goes through
/// [`crate::Provider::verify_assertion`] instead.
/// A secret rotated with overlap is accepted until its expiry at `now`.
pub fn authenticate(
    client: Option<Client>,
    presented: &Presented,
    hasher: &SecretHasher,
    now: i64,
) -> Result<Client, OAuthError> {
    let fail = || OAuthError::invalid_client("client authentication failed");
    let client = client.ok_or_else(fail)?;
    match (client.auth_method(), presented) {
        ("none", Presented::None { .. }) => Ok(client),
        (
            "client_secret_basic",
            Presented::Basic { secret, .. } | Presented::Post { secret, .. },
        ) => {
            let current = client
                .secret_hash
                .as_ref()
                .is_some_and(|stored| hasher.verify(secret, stored));
            let previous = client
                .previous_secret
                .as_ref()
                .is_some_and(|p| now < p.expires_at && hasher.verify(secret, &p.hash));
            if current || previous {
                Ok(client)
            } else {
                Err(fail())
            }
        }
        // A public client sending a secret, a confidential one without, or
        // a method other than the registered one.
        _ => Err(fail()),
    }
}

pub use crate::clients::JwksFetcher;

/// How long a fetched JWK Set is reused.
pub const JWKS_CACHE_TTL: i64 = 300;
/// A fetched set younger than this is not fetched again for an unknown
/// key, and a failed fetch is not tried again before it.
pub const JWKS_REFETCH_MIN: i64 = 30;

/// Authenticates the client of a token, revocation or introspection
/// request by the method its registration implies.
pub async fn authenticate_client(
    p: &Provider,
    authorization: Option<&str>,
    params: &crate::authorize::Params,
) -> Result<Client, OAuthError> {
    let presented = presented(authorization, params)?;
    let client = p.clients().get(presented.client_id()).await?;
    match &presented {
        Presented::Assertion { assertion, .. } => {
            let client =
                client.ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?;
            verify_assertion(p, &client, assertion).await?;
            Ok(client)
        }
        _ => authenticate(client, &presented, p.hasher(), p.now()),
    }
}

async fn client_jwks(
    p: &Provider,
    client: &Client,
    refresh: bool,
) -> Result<serde_json::Value, OAuthError> {
    if let Some(jwks) = &client.jwks {
        return serde_json::from_str(jwks).map_err(OAuthError::server_error);
    }
    let Some(uri) = &client.jwks_uri else {
        return Err(OAuthError::invalid_client("client authentication failed"));
    };
    let now = p.now();
    let unavailable = || OAuthError::invalid_client("the client's jwks_uri could not be fetched");
    if let Ok(cache) = p.clients().jwks_cache.lock() {
        match cache.get(uri) {
            Some((at, Some(doc)))
                if now - at < JWKS_CACHE_TTL && !(refresh && now - at >= JWKS_REFETCH_MIN) =>
            {
                return Ok(doc.clone());
            }
            // A failure is remembered too, so that assertions (which anyone
            // can send) do not each make the server fetch again.
            Some((at, None)) if now - at < JWKS_REFETCH_MIN => return Err(unavailable()),
            _ => {}
        }
    }
    let Some(fetcher) = &p.clients().jwks_fetcher else {
        return Err(OAuthError::server_error(
            "no JWKS fetcher configured for jwks_uri clients",
        ));
    };
    let anywhere = client.registration == crate::model::Registration::Admin
        || p.config().client_id_metadata.allow_insecure_addresses;
    let fetched = fetcher.fetch(uri, anywhere).await.and_then(|text| {
        serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|_| "not a JWK Set (not JSON)".to_owned())
    });
    let doc = match fetched {
        Ok(doc) => doc,
        Err(e) => {
            tracing::warn!(client_id = %client.id, jwks_uri = %uri, error = %e, "cannot fetch client JWKS; not retried for {JWKS_REFETCH_MIN} s");
            remember(p, uri, now, None);
            return Err(unavailable());
        }
    };
    remember(p, uri, now, Some(doc.clone()));
    Ok(doc)
}

/// Caches a fetched JWK Set (or a failure), in a bounded map: clients
/// that registered themselves name their own URLs.
fn remember(p: &Provider, uri: &str, now: i64, doc: Option<serde_json::Value>) {
    if let Ok(mut cache) = p.clients().jwks_cache.lock() {
        if cache.len() >= crate::cimd::MAX_CACHED {
            cache.retain(|_, (at, _)| now - *at < JWKS_CACHE_TTL);
        }
        if cache.len() < crate::cimd::MAX_CACHED {
            cache.insert(uri.to_owned(), (now, doc));
        }
    }
}

/// RFC 7523 §3 and OIDC Core §9 checks of a `private_key_jwt` assertion:
/// signed by a registered key; `iss` and `sub` the client id; `aud` the
/// issuer, the token endpoint or (RFC 9126 §2) the PAR endpoint; `exp` in the future; `nbf` passed; a
/// `jti` never seen before (recorded atomically until `exp`).
pub async fn verify_assertion(
    p: &Provider,
    client: &Client,
    assertion: &str,
) -> Result<(), OAuthError> {
    let fail = |why: &str| {
        tracing::info!(client_id = %client.id, reason = why, "client assertion refused");
        OAuthError::invalid_client(format!("client assertion refused: {why}"))
    };
    if client.auth_method() != "private_key_jwt" {
        return Err(OAuthError::invalid_client("client authentication failed"));
    }
    let jwks = client_jwks(p, client, false).await?;
    let claims = match crate::keys::verify_with_jwks(assertion, &jwks) {
        Ok(c) => c,
        Err(crate::keys::JwtError::UnknownKey) if client.jwks_uri.is_some() => {
            // The client may have rotated its keys.
            let jwks = client_jwks(p, client, true).await?;
            crate::keys::verify_with_jwks(assertion, &jwks)
                .map_err(|_| fail("signature does not verify"))?
        }
        Err(_) => return Err(fail("signature does not verify")),
    };
    let now = p.now();
    if claims["iss"] != client.id.as_str() || claims["sub"] != client.id.as_str() {
        return Err(fail("iss and sub must be the client_id"));
    }
    let issuer = &p.config().issuer;
    let token_endpoint = p.endpoint(crate::discovery::paths::TOKEN);
    let par_endpoint = p.endpoint(crate::discovery::paths::PAR);
    let aud_ok = |a: &serde_json::Value| {
        a == issuer.as_str() || a == token_endpoint.as_str() || a == par_endpoint.as_str()
    };
    let aud_valid = match &claims["aud"] {
        serde_json::Value::Array(list) => list.iter().any(aud_ok),
        a => aud_ok(a),
    };
    if !aud_valid {
        return Err(fail("aud must be the issuer or the token endpoint"));
    }
    let Some(exp) = claims["exp"].as_i64() else {
        return Err(fail("exp is required"));
    };
    if exp <= now {
        return Err(fail("the assertion has expired"));
    }
    if claims["nbf"].as_i64().is_some_and(|nbf| nbf > now) {
        return Err(fail("the assertion is not valid yet"));
    }
    let Some(jti) = claims["jti"].as_str().filter(|j| !j.is_empty()) else {
        return Err(fail("jti is required"));
    };
    if !p.store().record_jti(&client.id, jti, exp).await? {
        return Err(fail("jti has been used before (replay)"));
    }
    Ok(())
}

/// The credentials of an `Authorization` header value in `scheme`: the
/// scheme compared case-insensitively (RFC 9110 §11.1), then one or more
/// spaces. `None` for another scheme.
pub fn credentials<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = header.split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| rest.trim_start_matches(' '))
        .filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn auth_schemes_are_case_insensitive() {
        for h in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR   abc"] {
            assert_eq!(credentials(h, "Bearer"), Some("abc"), "{h}");
        }
        assert_eq!(credentials("Basic abc", "Bearer"), None);
        assert_eq!(credentials("Bearerabc", "Bearer"), None);
        assert_eq!(credentials("Bearer ", "Bearer"), None);
    }

    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%3Aclient:s%2Bcret+x"));
        match presented(Some(&header), &crate::authorize::Params::default()).unwrap() {
            Presented::Basic { id, secret } => {
                assert_eq!(id, "my:client");
                assert_eq!(secret.expose(), "s+cret x");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let header = format!("Basic {}", STANDARD.encode("a:b"));
        let p = crate::authorize::Params::new(vec![("client_secret".into(), "b".into())]);
        let e = presented(Some(&header), &p).unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::InvalidRequest);
    }
}
