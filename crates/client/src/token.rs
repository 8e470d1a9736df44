//! Token endpoint calls (RFC 6749 §4.1.3, §6), revocation (RFC 7009).

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

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// An OAuth error body.
pub(crate) async fn oauth_error(endpoint: &'static str, resp: reqwest::Response) -> ClientError {
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    match body["error"].as_str() {
        Some(e) => ClientError::OAuth {
            endpoint,
            error: e.to_owned(),
            description: body["error_description"].as_str().map(str::to_owned),
        },
        None => ClientError::Http(format!("{endpoint} answered HTTP {status}")),
    }
}

/// POSTs a token request and reads the token set.
pub async fn post(
    http: &reqwest::Client,
    endpoint: &str,
    form: &[(&str, &str)],
) -> Result<TokenSet, ClientError> {
    let resp = http.post(endpoint).form(form).send().await?;
    if !resp.status().is_success() {
        return Err(oauth_error("the token endpoint", resp).await);
    }
    let w: Wire = resp
        .json()
        .await
        .map_err(|e| ClientError::Http(format!("the token response is not JSON: {e}")))?;
    if !w.token_type.eq_ignore_ascii_case("bearer") {
        return Err(ClientError::Unsupported("token types other than Bearer"));
    }
    Ok(TokenSet {
        access_token: w.access_token,
        token_type: w.token_type,
        expires_at: w.expires_in.map(|e| now() + e),
        refresh_token: w.refresh_token,
        id_token: w.id_token,
        scope: w.scope,
    })
}

/// `grant_type=refresh_token` for a public client (RFC 6749 §6).
pub async fn refresh(
    http: &reqwest::Client,
    token_endpoint: &str,
    client_id: &str,
    refresh_token: &str,
) -> Result<TokenSet, ClientError> {
    post(
        http,
        token_endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ],
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
