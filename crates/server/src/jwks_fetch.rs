//! Fetching clients' `jwks_uri` for `private_key_jwt`.

use std::time::Duration;

use proofkey_core::client_auth::JwksFetcher;

/// The largest JWK Set accepted.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// A reqwest-based fetcher: https (or loopback http), 5 s timeout, no
/// redirects, 64 KiB at most.
#[derive(Debug, Clone)]
pub struct HttpJwksFetcher {
    http: reqwest::Client,
}

impl HttpJwksFetcher {
    /// A new fetcher.
    pub fn new() -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { http })
    }
}

#[async_trait::async_trait]
impl JwksFetcher for HttpJwksFetcher {
    async fn fetch(&self, uri: &str) -> Result<String, String> {
        let resp = self.http.get(uri).send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        if bytes.len() > MAX_JWKS_BYTES {
            return Err("JWK Set too large".into());
        }
        String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
    }
}
