//! RFC 7662: asking the issuer about a token.
//!
//! Each request's token is sent to the introspection endpoint (§2.1, the
//! resource authenticating with `client_secret_basic`, RFC 6749 §2.3.1).
//! Answers are **not cached**: a revoked token is refused at once, at the
//! price of one call to the issuer per request. That load is bounded: at
//! most `max_concurrent` introspections are in flight, a request waits at
//! most the HTTP timeout for a slot and is answered 503 past it.
//!
//! RFC 9449 §6.2: the answer for a DPoP-bound token carries its binding,
//! `cnf: {"jkt": ...}`, and `token_type`, if present, is `DPoP`; the
//! issuer does not check the proof, the resource does (as for a JWT).

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use url::form_urlencoded::byte_serialize;
use zeroize::Zeroizing;

use crate::claims::{AccessClaims, Expected, RawClaims, Source};
use crate::discovery::Discovery;
use crate::error::{AuthError, InvalidToken, IssuerError};
use crate::fetch::{parse_json, Fetcher};
use crate::secret::ClientSecret;

/// Where the endpoint comes from: configured, or the metadata's
/// `introspection_endpoint`.
#[derive(Debug)]
pub(crate) enum EndpointSource {
    Configured(String),
    Discovered(Arc<Discovery>),
}

/// RFC 7662 §2.2: an answer. Members other than these are claims.
#[derive(Debug, Deserialize)]
struct Answer {
    token_type: Option<String>,
    #[serde(flatten)]
    claims: RawClaims,
}

/// The introspection client.
#[derive(Debug)]
pub(crate) struct Introspector {
    client_id: String,
    secret: ClientSecret,
    endpoint: EndpointSource,
    fetcher: Fetcher,
    slots: Semaphore,
    wait: Duration,
}

impl Introspector {
    pub(crate) fn new(
        client_id: String,
        secret: ClientSecret,
        endpoint: EndpointSource,
        fetcher: Fetcher,
        max_concurrent: usize,
        wait: Duration,
    ) -> Self {
        Self {
            client_id,
            secret,
            endpoint,
            fetcher,
            slots: Semaphore::new(max_concurrent),
            wait,
        }
    }

    /// Discovers the endpoint now if it is not configured (for start-up).
    pub(crate) async fn prefetch(&self) -> Result<(), IssuerError> {
        self.endpoint().await.map(|_| ())
    }

    async fn endpoint(&self) -> Result<String, IssuerError> {
        match &self.endpoint {
            EndpointSource::Configured(e) => Ok(e.clone()),
            EndpointSource::Discovered(d) => {
                Ok(d.get().await?.introspection_endpoint()?.to_owned())
            }
        }
    }

    /// The token's claims if the issuer says it is an active access token
    /// and it passes the same checks as a JWT (`iss` if given, `aud`,
    /// `exp`, `nbf`, required claims, `cnf`), with a `token_type` (if
    /// any) that fits its binding.
    pub(crate) async fn introspect<'a>(
        &self,
        token: &str,
        expected: impl FnOnce() -> Expected<'a>,
    ) -> Result<AccessClaims, AuthError> {
        let endpoint = self.endpoint().await?;
        let _slot = tokio::time::timeout(self.wait, self.slots.acquire())
            .await
            .map_err(|_| IssuerError::Busy)?
            .map_err(|_| IssuerError::Busy)?;
        let req = self
            .fetcher
            .client()
            .post(&endpoint)
            .header(reqwest::header::AUTHORIZATION, self.basic_credentials()?)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")]);
        let (status, body) = self.fetcher.send(req).await?;
        if status != reqwest::StatusCode::OK {
            if status == reqwest::StatusCode::UNAUTHORIZED {
                tracing::error!(
                    "the introspection endpoint refused this resource's client credentials"
                );
            }
            return Err(IssuerError::Status(status.as_u16()).into());
        }
        let doc: Value = parse_json(&body)?;
        match doc.get("active") {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => return Err(InvalidToken::Inactive.into()),
            _ => {
                return Err(IssuerError::InvalidResponse(
                    "an introspection answer needs a boolean \"active\"".into(),
                )
                .into())
            }
        }
        let mut doc = doc;
        if let Some(obj) = doc.as_object_mut() {
            obj.remove("active");
        }
        let answer: Answer =
            serde_json::from_value(doc).map_err(|e| IssuerError::InvalidResponse(e.to_string()))?;
        // RFC 7662 §2.2 token_type (RFC 6749 §7.1): `Bearer` or, RFC 9449
        // §6.2, `DPoP`; anything else (a refresh token) is not an access
        // token.
        let dpop = match answer.token_type.as_deref() {
            None => None,
            Some(t) if t.eq_ignore_ascii_case("bearer") => Some(false),
            Some(t) if t.eq_ignore_ascii_case("dpop") => Some(true),
            Some(_) => return Err(InvalidToken::NotAnAccessToken.into()),
        };
        let claims = answer.claims.check(&expected(), Source::Introspection)?;
        if dpop.is_some_and(|dpop| dpop != claims.dpop_jkt.is_some()) {
            return Err(InvalidToken::TokenTypeMismatch.into());
        }
        Ok(claims)
    }

    /// RFC 6749 §2.3.1: the client id and secret, each form-urlencoded,
    /// joined by `:`, base64-encoded; a header marked sensitive.
    fn basic_credentials(&self) -> Result<HeaderValue, IssuerError> {
        let id: String = byte_serialize(self.client_id.as_bytes()).collect();
        let secret =
            Zeroizing::new(byte_serialize(self.secret.secret().as_bytes()).collect::<String>());
        let pair = Zeroizing::new(format!("{id}:{}", secret.as_str()));
        let value = Zeroizing::new(format!("Basic {}", STANDARD.encode(pair.as_bytes())));
        let mut header = HeaderValue::from_str(&value)
            .map_err(|_| IssuerError::InvalidResponse("unusable client credentials".into()))?;
        header.set_sensitive(true);
        Ok(header)
    }
}
