//! Token endpoint calls (RFC 6749 §4.1.3, §6), with DPoP proofs (RFC 9449
//! §5, and the server's nonce, §8), revocation (RFC 7009).

use proofkey_dpop::DpopKey;

use serde::{Deserialize, Serialize};

use crate::ClientError;

/// What the token endpoint returned, with the expiry made absolute.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenSet {
    /// The access token.
    pub access_token: String,
    /// `token_type`.
    #[serde(default = "bearer")]
    pub token_type: String,
    /// Seconds since the epoch when the access token expires, if known.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// The refresh token.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The ID token.
    #[serde(default)]
    pub id_token: Option<String>,
    /// Granted scope.
    #[serde(default)]
    pub scope: Option<String>,
    /// The private DPoP key the tokens are bound to (base64url PKCS#8;
    /// RFC 9449), kept with them: a secret, never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_key: Option<String>,
}

impl TokenSet {
    /// The DPoP key the tokens are bound to, if they are.
    pub fn dpop(&self) -> Result<Option<DpopKey>, ClientError> {
        self.dpop_key
            .as_deref()
            .map(|k| DpopKey::from_stored(k).map_err(|e| ClientError::Dpop(e.to_string())))
            .transpose()
    }
}

fn bearer() -> String {
    "Bearer".into()
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("scope", &self.scope)
            .field("dpop_key", &self.dpop_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Deserialize)]
struct Wire {
    access_token: String,
    #[serde(default = "bearer")]
    token_type: String,
    expires_in: Option<i64>,
    refresh_token: Option<String>,
    id_token: Option<String>,
    scope: Option<String>,
}

/// Whether a token can go into a header or a `key=value` line as it is:
/// non-empty, visible ASCII, no space.
pub(crate) fn header_safe(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// An OAuth error body.
pub(crate) async fn oauth_error(endpoint: &'static str, resp: reqwest::Response) -> ClientError {
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    error_of(endpoint, status, &body)
}

/// A DPoP proof by `key` for a request (RFC 9449 §4.2).
pub fn proof(
    key: &DpopKey,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    nonce: Option<&str>,
) -> Result<String, ClientError> {
    key.proof(method, url, access_token, nonce, now())
        .map_err(|e| ClientError::Dpop(e.to_string()))
}

/// POSTs `form` to `endpoint`, with a DPoP proof by `key` when given. When
/// the server answers `use_dpop_nonce` (RFC 9449 §8), once more with the
/// nonce it sent in `DPoP-Nonce`.
pub(crate) async fn post_form(
    http: &reqwest::Client,
    endpoint: &str,
    what: &'static str,
    form: &[(&str, &str)],
    key: Option<&DpopKey>,
) -> Result<reqwest::Response, ClientError> {
    let mut nonce: Option<String> = None;
    for _ in 0..2 {
        let mut req = http.post(endpoint).form(form);
        if let Some(key) = key {
            req = req.header(
                proofkey_dpop::HEADER,
                proof(key, "POST", endpoint, None, nonce.as_deref())?,
            );
        }
        let resp = req.send().await?;
        let offered = resp
            .headers()
            .get(proofkey_dpop::NONCE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match offered {
            Some(n) if key.is_some() && nonce.is_none() && resp.status() == 400 => {
                // Only a use_dpop_nonce answer is retried; read it to know.
                let status = resp.status();
                let body = resp.bytes().await?;
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if v["error"] == "use_dpop_nonce" {
                    nonce = Some(n);
                    continue;
                }
                return Err(error_of(what, status, &v));
            }
            _ => return Ok(resp),
        }
    }
    Err(ClientError::Dpop(
        "the server asked for a DPoP nonce twice".into(),
    ))
}

/// Largest UserInfo response read (bytes).
const MAX_USERINFO: usize = 64 * 1024;

/// The UserInfo claims for `access_token` (OIDC Core §5.3): a `GET` with
/// the token as a bearer token, or with the `DPoP` scheme and a proof by
/// `key` (RFC 9449 §7.1) when the token is bound to one, retried once with
/// the server's nonce when it asks for one (§9). The caller checks that
/// `sub` is the ID token's (OIDC Core §5.3.2). At most 64 KiB is read.
pub async fn userinfo(
    http: &reqwest::Client,
    endpoint: &str,
    access_token: &str,
    key: Option<&DpopKey>,
) -> Result<serde_json::Value, ClientError> {
    let mut nonce: Option<String> = None;
    for _ in 0..2 {
        let req = http.get(endpoint);
        let req = match key {
            Some(key) => req
                .header(
                    reqwest::header::AUTHORIZATION,
                    format!("DPoP {access_token}"),
                )
                .header(
                    proofkey_dpop::HEADER,
                    proof(key, "GET", endpoint, Some(access_token), nonce.as_deref())?,
                ),
            None => req.bearer_auth(access_token),
        };
        let mut resp = req.send().await?;
        let offered = resp
            .headers()
            .get(proofkey_dpop::NONCE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED && key.is_some() && nonce.is_none() {
            if let Some(n) = offered {
                nonce = Some(n);
                continue;
            }
        }
        if !resp.status().is_success() {
            return Err(ClientError::Http(format!(
                "the userinfo endpoint answered HTTP {}",
                resp.status()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            if body.len() + chunk.len() > MAX_USERINFO {
                return Err(ClientError::Http(
                    "the userinfo response is larger than 64 KiB".into(),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        return serde_json::from_slice(&body)
            .map_err(|e| ClientError::Http(format!("the userinfo response is not JSON: {e}")));
    }
    Err(ClientError::Dpop(
        "the server asked for a DPoP nonce twice".into(),
    ))
}

fn error_of(
    endpoint: &'static str,
    status: reqwest::StatusCode,
    body: &serde_json::Value,
) -> ClientError {
    match body["error"].as_str() {
        Some(e) => ClientError::OAuth {
            endpoint,
            error: e.to_owned(),
            description: body["error_description"].as_str().map(str::to_owned),
        },
        None => ClientError::Http(format!("{endpoint} answered HTTP {status}")),
    }
}

/// POSTs a token request, with a DPoP proof by `dpop` when given, and
/// reads the token set. A `DPoP` token type is accepted only when a proof
/// was sent; the key is then kept with the tokens.
pub async fn post(
    http: &reqwest::Client,
    endpoint: &str,
    form: &[(&str, &str)],
    dpop: Option<&DpopKey>,
) -> Result<TokenSet, ClientError> {
    let resp = post_form(http, endpoint, "the token endpoint", form, dpop).await?;
    if !resp.status().is_success() {
        return Err(oauth_error("the token endpoint", resp).await);
    }
    let w: Wire = resp
        .json()
        .await
        .map_err(|e| ClientError::Http(format!("the token response is not JSON: {e}")))?;
    // The tokens go into HTTP headers and line-based protocols (git's
    // credential helper): a newline or space in one would inject lines.
    // RFC 6749 Appendix A.12 to A.17: VSCHARs; none of them may be a space
    // or a control character here.
    for (what, t) in [
        ("access_token", Some(&w.access_token)),
        ("refresh_token", w.refresh_token.as_ref()),
        ("id_token", w.id_token.as_ref()),
    ] {
        if let Some(t) = t {
            if !header_safe(t) {
                return Err(ClientError::Http(format!(
                    "the token response's {what} is empty or has characters a token cannot have (spaces, control characters, non-ASCII)"
                )));
            }
        }
    }
    let dpop_key = match dpop {
        Some(key) if w.token_type.eq_ignore_ascii_case("dpop") => Some(
            key.to_stored()
                .map_err(|e| ClientError::Dpop(e.to_string()))?
                .to_string(),
        ),
        _ if w.token_type.eq_ignore_ascii_case("bearer") => None,
        _ => {
            return Err(ClientError::Unsupported(
                "token types other than Bearer and DPoP",
            ))
        }
    };
    Ok(TokenSet {
        dpop_key,
        access_token: w.access_token,
        token_type: w.token_type,
        expires_at: w.expires_in.map(|e| now() + e),
        refresh_token: w.refresh_token,
        id_token: w.id_token,
        scope: w.scope,
    })
}

/// `grant_type=refresh_token` for a public client (RFC 6749 §6), with a
/// proof by the key the refresh token is bound to, if any (RFC 9449 §5).
pub async fn refresh(
    http: &reqwest::Client,
    token_endpoint: &str,
    client_id: &str,
    refresh_token: &str,
    dpop: Option<&DpopKey>,
) -> Result<TokenSet, ClientError> {
    post(
        http,
        token_endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ],
        dpop,
    )
    .await
}

/// RFC 7009 revocation of `token`.
pub async fn revoke(
    http: &reqwest::Client,
    revocation_endpoint: &str,
    client_id: &str,
    token: &str,
    hint: &str,
) -> Result<(), ClientError> {
    let resp = http
        .post(revocation_endpoint)
        .form(&[
            ("token", token),
            ("token_type_hint", hint),
            ("client_id", client_id),
        ])
        .send()
        .await?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(oauth_error("the revocation endpoint", resp).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_with_spaces_or_newlines_are_not_header_safe() {
        assert!(header_safe("eyJhbGciOi.x-_~+/="));
        for bad in ["", "a b", "a\nquit=1", "a\r", "caf\u{e9}", "a\0"] {
            assert!(!header_safe(bad), "{bad:?}");
        }
    }
}
