//! The device authorization grant, client side (RFC 8628 §3.1–§3.5).

use std::future::Future;
use std::time::Duration;

use serde::Deserialize;

use crate::discovery::Metadata;
use crate::token::{self, TokenSet};
use crate::ClientError;

/// §3.2 device authorization response.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceAuthorization {
    /// The device code (secret: only the token endpoint sees it).
    #[serde(skip_serializing)]
    pub device_code: String,
    /// The code the user types.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// The same with the code filled in.
    pub verification_uri_complete: Option<String>,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Polling interval in seconds (default 5, §3.2).
    #[serde(default = "five")]
    pub interval: u64,
}

fn five() -> u64 {
    5
}

/// §3.1: starts the grant.
pub async fn start(
    http: &reqwest::Client,
    meta: &Metadata,
    client_id: &str,
    scopes: &[String],
) -> Result<DeviceAuthorization, ClientError> {
    let endpoint =
        meta.device_authorization_endpoint
            .as_deref()
            .ok_or(ClientError::Unsupported(
                "the device authorization grant (no device_authorization_endpoint)",
            ))?;
    let resp = http
        .post(endpoint)
        .form(&[("client_id", client_id), ("scope", &scopes.join(" "))])
        .send()
        .await?;
    if !resp.status().is_success() {
        return Err(token::oauth_error("the device authorization endpoint", resp).await);
    }
    resp.json().await.map_err(|e| {
        ClientError::Http(format!(
            "the device authorization response is not JSON: {e}"
        ))
    })
}

/// §3.4–§3.5: polls until the user decides, the code expires, or the server
/// refuses. Waits `interval` between polls, 5 s more after every
/// `slow_down`. `sleep` does the waiting (tokio's sleep in the CLI; tests
/// move a clock instead).
pub async fn poll<S, F>(
    http: &reqwest::Client,
    meta: &Metadata,
    client_id: &str,
    auth: &DeviceAuthorization,
    dpop: Option<&proofkey_dpop::DpopKey>,
    mut sleep: S,
) -> Result<TokenSet, ClientError>
where
    S: FnMut(Duration) -> F,
    F: Future<Output = ()>,
{
    let mut interval = auth.interval.max(1);
    let deadline = token::now() + auth.expires_in as i64;
    loop {
        sleep(Duration::from_secs(interval)).await;
        let result = token::post(
            http,
            &meta.token_endpoint,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", &auth.device_code),
                ("client_id", client_id),
            ],
            dpop,
        )
        .await;
        match result {
            Ok(tokens) => return Ok(tokens),
            Err(ClientError::OAuth { error, .. }) if error == "authorization_pending" => {}
            Err(ClientError::OAuth { error, .. }) if error == "slow_down" => interval += 5,
            Err(ClientError::OAuth { error, .. }) if error == "expired_token" => {
                return Err(ClientError::LoginRequired(
                    "the device code expired before it was approved; run the login again".into(),
                ))
            }
            Err(ClientError::OAuth { error, .. }) if error == "access_denied" => {
                return Err(ClientError::Authorization {
                    error,
                    description: Some("the user denied the request".into()),
                })
            }
            Err(e) => return Err(e),
        }
        if token::now() > deadline + 60 {
            return Err(ClientError::Timeout(Duration::from_secs(auth.expires_in)));
        }
    }
}
