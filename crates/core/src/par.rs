//! Pushed authorization requests (RFC 9126): the client sends its
//! authorization request's parameters to the PAR endpoint over the back
//! channel, authenticated as at the token endpoint, and gets a short-lived,
//! one-time `request_uri` to send the browser to `/authorize` with, so the
//! request cannot be read or altered on the way (RFC 9126 §1).
//!
//! **Invariant:** a pushed request is checked here exactly as `/authorize`
//! checks it ([`crate::authorization::check`]), and checked again there
//! when used; it yields at most one code
//! ([`crate::store::GrantStore::consume_pushed_request`]).

use crate::authorize::{AuthorizeError, Params};
use crate::error::{ErrorCode, OAuthError};
use crate::model::PushedRequest;
use crate::{secret, Provider};

/// The prefix of the `request_uri`s made here (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// A request to the PAR endpoint, as received. Its `Debug` shows no
/// secret (see [`Params`]).
#[derive(Debug)]
pub struct PushRequest {
    /// Form parameters: the authorization request's, and the client's
    /// credentials.
    pub params: Params,
    /// The `Authorization` header, if any.
    pub authorization: Option<crate::secret::Credentials>,
    /// The values of the `DPoP` header (RFC 9449 §10.1).
    pub dpop: crate::dpop::ProofHeaders,
    /// The client's address, for the rate limit.
    pub address: Option<std::net::IpAddr>,
}

/// RFC 9126 §2.2 successful response (201). Its `Debug` hides the
/// `request_uri`, a bearer reference kept only hashed.
#[derive(serde::Serialize)]
pub struct Pushed {
    /// The reference to send to `/authorize`.
    pub request_uri: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
}

impl std::fmt::Debug for Pushed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pushed")
            .field("request_uri", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A PAR endpoint failure (RFC 9126 §2.3).
#[derive(Debug)]
pub enum PushError {
    /// The error to answer, with its code's status.
    OAuth(OAuthError),
    /// The parameters are too large to keep (413).
    TooLarge,
    /// Too many pushes from this address (429, retry after the seconds).
    TooMany(i64),
}

impl From<OAuthError> for PushError {
    fn from(e: OAuthError) -> Self {
        PushError::OAuth(e)
    }
}

impl From<crate::StoreError> for PushError {
    fn from(e: crate::StoreError) -> Self {
        PushError::OAuth(e.into())
    }
}

/// The most a pushed request's parameters may weigh, form-encoded: ten
/// resources of 2 KiB, a 4 KiB scope, `state` and `nonce` fit.
pub const MAX_PUSHED: usize = 32 * 1024;

/// Handles a push (RFC 9126 §2): counts it against the address's limit,
/// authenticates the client as at the token endpoint (§2), refuses a
/// `request_uri` inside (§2.1), binds the request to the key of a DPoP
/// proof if one is sent (RFC 9449 §10.1), checks the request as
/// `/authorize` would, and keeps it.
pub async fn push(p: &Provider, req: &PushRequest) -> Result<Pushed, PushError> {
    // Counted before any work: a public client's push needs nothing but
    // its id, and each one is a stored row.
    if let Some(ip) = req.address {
        let key = crate::throttle::address_key("par", ip);
        let max = p.config().pushed_authorization_request_max_per_address;
        if let Some(after) = crate::throttle::admit(p, &key, max, 60).await? {
            return Err(PushError::TooMany(after));
        }
    }
    let client = crate::client_auth::authenticate_client(
        p,
        req.authorization.as_ref().map(|a| a.expose()),
        &req.params,
    )
    .await?;
    let get = |name: &str| req.params.get(name).map_err(OAuthError::invalid_request);
    if get("request_uri")?.is_some() {
        return Err(
            OAuthError::invalid_request("request_uri cannot be pushed (RFC 9126 §2.1)").into(),
        );
    }
    if get("client_id")?.is_some_and(|id| id != client.id) {
        return Err(
            OAuthError::invalid_request("client_id is not the authenticated client").into(),
        );
    }
    // The authorization request's parameters only (never the client's
    // credentials), under the authenticated client's id, checked as
    // `/authorize` checks them.
    let mut pairs: Vec<(String, String)> = req
        .params
        .known()
        .into_iter()
        .filter(|(k, _)| k != "client_id")
        .collect();
    pairs.push(("client_id".into(), client.id.clone()));
    crate::authorization::check(p, &Params::new(pairs.clone()), Some(client.clone()))
        .await
        .map_err(|e| match e {
            AuthorizeError::Unavailable => OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "the server is temporarily unavailable",
            ),
            AuthorizeError::Page(description) => OAuthError::invalid_request(description),
            AuthorizeError::Redirect { error, .. } => error,
        })?;
    // RFC 9449 §10.1: a proof here binds the code like `dpop_jkt`; both
    // must then name the same key. Checked after the request, so that a
    // request refused anyway leaves no row in the replay cache.
    let proof =
        crate::dpop::check(p, &req.dpop.0, "POST", crate::discovery::paths::PAR, None).await?;
    if let Some(proof) = &proof {
        match get("dpop_jkt")? {
            Some(jkt) if jkt != proof.jkt => {
                return Err(OAuthError::invalid_request(
                    "dpop_jkt is not the thumbprint of the DPoP proof's key (RFC 9449 §10.1)",
                )
                .into())
            }
            Some(_) => {}
            None => {
                // An empty dpop_jkt counts as absent (RFC 6749 §3.1).
                pairs.retain(|(k, _)| k != "dpop_jkt");
                pairs.push(("dpop_jkt".into(), proof.jkt.clone()));
            }
        }
    }

    let reference = secret::random_token(32).map_err(OAuthError::server_error)?;
    let request_uri = format!("{REQUEST_URI_PREFIX}{reference}");
    let lifetime = p.config().pushed_authorization_request_lifetime.as_secs();
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter())
        .finish();
    if encoded.len() > MAX_PUSHED {
        return Err(PushError::TooLarge);
    }
    p.store()
        .push_request(&PushedRequest {
            request_uri_hash: secret::hash_token(&request_uri),
            client_id: client.id.clone(),
            params: encoded,
            created_at: p.now(),
            expires_at: p.now() + lifetime as i64,
        })
        .await?;
    Ok(Pushed {
        request_uri,
        expires_in: lifetime,
    })
}
