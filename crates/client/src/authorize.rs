//! One authorization request and the check of its response (RFC 6749
//! §4.1.1–§4.1.2, RFC 7636 §4.1–§4.3, RFC 9207 §2.4, OIDC Core §3.1.2),
//! pushed to the server first when it offers PAR (RFC 9126), and bound to
//! a DPoP key by `dpop_jkt` when one is used (RFC 9449 §10).

use proofkey_dpop::DpopKey;
use proofkey_pkce::{CodeChallenge, CodeVerifier};
use subtle::ConstantTimeEq;

use crate::discovery::Metadata;
use crate::token::{self, TokenSet};
use crate::{random_value, ClientError};

/// An authorization request in flight. It owns the PKCE verifier, which
/// cannot be cloned or printed and is spent by [`PendingAuthorization::exchange`].
#[derive(Debug)]
pub struct PendingAuthorization {
    verifier: CodeVerifier,
    state: String,
    nonce: String,
    url: String,
    issuer: String,
    iss_required: bool,
    redirect_uri: String,
    client_id: String,
}

impl PendingAuthorization {
    /// A new request: always PKCE S256 with a fresh 32-byte verifier from the
    /// OS CSPRNG, whatever the server advertises; a fresh `state` and
    /// `nonce` of 256 bits each. Sent through the browser as is (see
    /// [`PendingAuthorization::start`] for PAR and DPoP).
    pub fn new(
        meta: &Metadata,
        client_id: &str,
        redirect_uri: &str,
        scopes: &[String],
    ) -> Result<Self, ClientError> {
        let (mut pending, pairs) = Self::prepare(meta, client_id, redirect_uri, scopes, None)?;
        pending.url = url_with(&pending.url, &pairs)?;
        Ok(pending)
    }

    /// A new request as [`PendingAuthorization::new`] makes it, bound to
    /// `dpop`'s key by `dpop_jkt` (RFC 9449 §10) when given, and pushed to
    /// the server's PAR endpoint first when `par` and the server has one
    /// (RFC 9126 §2): the browser then carries only `client_id` and the
    /// `request_uri`, so nothing of the request can be read or changed on
    /// the way.
    pub async fn start(
        http: &reqwest::Client,
        meta: &Metadata,
        client_id: &str,
        redirect_uri: &str,
        scopes: &[String],
        dpop: Option<&DpopKey>,
        par: bool,
    ) -> Result<Self, ClientError> {
        let (mut pending, pairs) = Self::prepare(meta, client_id, redirect_uri, scopes, dpop)?;
        let endpoint = meta
            .pushed_authorization_request_endpoint
            .as_deref()
            .filter(|_| par);
        let Some(endpoint) = endpoint else {
            pending.url = url_with(&pending.url, &pairs)?;
            return Ok(pending);
        };
        let form: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let resp = token::post_form(
            http,
            endpoint,
            "the pushed authorization request endpoint",
            &form,
            dpop,
        )
        .await?;
        if resp.status() != reqwest::StatusCode::CREATED {
            return Err(
                token::oauth_error("the pushed authorization request endpoint", resp).await,
            );
        }
        let v: serde_json::Value = resp.json().await.map_err(|e| {
            ClientError::Http(format!(
                "the pushed authorization response is not JSON: {e}"
            ))
        })?;
        let request_uri = v["request_uri"].as_str().ok_or_else(|| {
            ClientError::Http("the pushed authorization response has no request_uri".into())
        })?;
        pending.url = url_with(
            &pending.url,
            &[
                ("client_id", client_id.to_owned()),
                ("request_uri", request_uri.to_owned()),
            ],
        )?;
        Ok(pending)
    }

    /// The request's state and its parameters; `url` is the bare endpoint.
    fn prepare(
        meta: &Metadata,
        client_id: &str,
        redirect_uri: &str,
        scopes: &[String],
        dpop: Option<&DpopKey>,
    ) -> Result<(Self, Pairs), ClientError> {
        let endpoint = meta
            .authorization_endpoint
            .as_deref()
            .ok_or(ClientError::Unsupported(
                "the authorization code flow (no authorization_endpoint)",
            ))?;
        let verifier = CodeVerifier::try_generate(proofkey_pkce::DEFAULT_ENTROPY_BYTES)
            .map_err(|e| ClientError::Random(e.to_string()))?;
        let state = random_value()?;
        let nonce = random_value()?;
        let mut pairs = vec![
            ("response_type", "code".to_owned()),
            ("client_id", client_id.to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
            ("scope", scopes.join(" ")),
            ("state", state.clone()),
            ("nonce", nonce.clone()),
            ("code_challenge", CodeChallenge::s256(&verifier).as_str()),
            ("code_challenge_method", "S256".to_owned()),
        ];
        if let Some(key) = dpop {
            pairs.push(("dpop_jkt", key.thumbprint().to_owned()));
        }
        let pending = Self {
            verifier,
            state,
            nonce,
            url: endpoint.to_owned(),
            issuer: meta.issuer.clone(),
            iss_required: meta.authorization_response_iss_parameter_supported,
            redirect_uri: redirect_uri.to_owned(),
            client_id: client_id.to_owned(),
        };
        Ok((pending, pairs))
    }

    /// The URL to open in the browser.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The nonce the ID token must carry.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// The redirect URI of this request.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Checks the authorization response's parameters and returns the code:
    /// `state` first, compared in constant time (anything else could be a
    /// forged response); then `iss` (RFC 9207 §2.4: required when the server
    /// advertises it, and checked whenever present); then `error`.
    pub fn code_from(&self, params: &[(String, String)]) -> Result<String, ClientError> {
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let state_ok: bool = get("state")
            .map(|s| s.as_bytes().ct_eq(self.state.as_bytes()).into())
            .unwrap_or(false);
        if !state_ok {
            return Err(ClientError::StateMismatch);
        }
        match get("iss") {
            Some(iss) if iss == self.issuer => {}
            None if !self.iss_required => {}
            other => {
                return Err(ClientError::IssMismatch {
                    expected: self.issuer.clone(),
                    got: other.map(str::to_owned),
                })
            }
        }
        if let Some(error) = get("error") {
            return Err(ClientError::Authorization {
                error: error.to_owned(),
                description: get("error_description").map(str::to_owned),
            });
        }
        get("code").map(str::to_owned).ok_or(ClientError::NoCode)
    }

    /// Parses a pasted redirect URL (`--paste`) and checks it like a callback.
    pub fn code_from_url(&self, pasted: &str) -> Result<String, ClientError> {
        let url = url::Url::parse(pasted.trim()).map_err(|e| ClientError::Paste(e.to_string()))?;
        let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        self.code_from(&params)
    }

    /// Redeems `code` with the verifier (RFC 7636 §4.5), spending this
    /// request; with a proof by `dpop` when given (RFC 9449 §5).
    pub async fn exchange(
        self,
        http: &reqwest::Client,
        meta: &Metadata,
        code: &str,
        dpop: Option<&DpopKey>,
    ) -> Result<TokenSet, ClientError> {
        token::post(
            http,
            &meta.token_endpoint,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri),
                ("client_id", &self.client_id),
                ("code_verifier", self.verifier.secret()),
            ],
            dpop,
        )
        .await
    }
}

/// An authorization request's parameters.
type Pairs = Vec<(&'static str, String)>;

/// `endpoint` with `pairs` appended to its query.
fn url_with(endpoint: &str, pairs: &[(&str, String)]) -> Result<String, ClientError> {
    let mut url = url::Url::parse(endpoint)
        .map_err(|e| ClientError::Http(format!("authorization_endpoint: {e}")))?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    Ok(url.to_string())
}
