//! Fetching clients' `jwks_uri` for `private_key_jwt`.

use proofkey_core::client_auth::JwksFetcher;

/// The largest JWK Set accepted.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// A reqwest-based fetcher: 5 s timeout, no redirects, 64 KiB at most;
/// for a client nobody vouched for, https to public addresses only (see
/// `metadata_fetch`), or its `jwks_uri` would reach into this server's
/// network.
#[derive(Debug, Clone)]
pub struct HttpJwksFetcher {
    outbound: crate::metadata_fetch::Outbound,
}

impl HttpJwksFetcher {
    /// A new fetcher trusting the public roots.
    pub fn new() -> Result<Self, String> {
        Self::with_roots(&[])
    }

    /// A new fetcher trusting the public roots and `roots`
    /// (`outbound_ca_file`).
    pub fn with_roots(roots: &[reqwest::Certificate]) -> Result<Self, String> {
        Ok(Self {
            outbound: crate::metadata_fetch::Outbound::new(roots)?,
        })
    }
}

#[async_trait::async_trait]
impl JwksFetcher for HttpJwksFetcher {
    /// The document, at most [`MAX_JWKS_BYTES`] (see [`read_capped`]).
    async fn fetch(&self, uri: &str, anywhere: bool) -> Result<String, String> {
        let resp = if anywhere {
            // An operator's client: its URL as registered (loopback http
            // included, for development).
            let resp = self
                .outbound
                .any_address
                .get(uri)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("HTTP {}", resp.status()));
            }
            resp
        } else {
            self.outbound.get(uri, false).await?
        };
        read_capped(resp, MAX_JWKS_BYTES).await
    }
}

/// A response's body as text, read a chunk at a time and abandoned as
/// soon as it passes `max` bytes (or declares a larger `Content-Length`):
/// an endless body costs `max` bytes, not the whole timeout.
pub(crate) async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<String, String> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("the document is larger than {max} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("the document is larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|e| e.to_string())
}
