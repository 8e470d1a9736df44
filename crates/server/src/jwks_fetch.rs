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
    /// The document, read a chunk at a time and abandoned as soon as it
    /// passes [`MAX_JWKS_BYTES`] (or declares a larger `Content-Length`):
    /// an endless body costs 64 KiB, not the whole timeout.
    async fn fetch(&self, uri: &str) -> Result<String, String> {
        let mut resp = self.http.get(uri).send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err("JWK Set too large".into());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err("JWK Set too large".into());
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|e| e.to_string())
    }
}
