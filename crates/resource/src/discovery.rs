//! RFC 8414: the issuer's metadata, for its `jwks_uri` and
//! `introspection_endpoint` when they are not configured.

use std::sync::{Arc, PoisonError, RwLock};

use serde::Deserialize;
use url::Url;

use crate::clock::Clock;
use crate::config::check_url;
use crate::error::IssuerError;
use crate::fetch::Fetcher;

/// The members of the authorization server's metadata used here.
#[derive(Debug, Deserialize)]
pub(crate) struct IssuerMetadata {
    issuer: String,
    jwks_uri: Option<String>,
    introspection_endpoint: Option<String>,
}

impl IssuerMetadata {
    pub(crate) fn jwks_uri(&self) -> Result<&str, IssuerError> {
        endpoint(self.jwks_uri.as_deref(), "jwks_uri")
    }

    pub(crate) fn introspection_endpoint(&self) -> Result<&str, IssuerError> {
        endpoint(
            self.introspection_endpoint.as_deref(),
            "introspection_endpoint",
        )
    }
}

/// An endpoint named in the metadata, held to the same rule as configured
/// URLs (https, or http to a loopback host).
fn endpoint<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, IssuerError> {
    match value {
        Some(v) if check_url(v).is_ok() => Ok(v),
        _ => Err(IssuerError::MissingEndpoint(name)),
    }
}

/// The metadata, fetched once when first needed and kept; a failed fetch
/// is not repeated for `retry_interval` seconds (the caller answers 503
/// meanwhile), and concurrent first fetches are one fetch.
#[derive(Debug)]
pub(crate) struct Discovery {
    issuer: String,
    fetcher: Fetcher,
    clock: Arc<dyn Clock>,
    retry_interval: u64,
    cached: RwLock<Option<Arc<IssuerMetadata>>>,
    /// Held while fetching; holds the time of the last failed attempt.
    fetching: tokio::sync::Mutex<Option<u64>>,
}

impl Discovery {
    pub(crate) fn new(
        issuer: String,
        fetcher: Fetcher,
        clock: Arc<dyn Clock>,
        retry_interval: u64,
    ) -> Self {
        Self {
            issuer,
            fetcher,
            clock,
            retry_interval,
            cached: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(None),
        }
    }

    /// The metadata, from the cache or fetched now.
    pub(crate) async fn get(&self) -> Result<Arc<IssuerMetadata>, IssuerError> {
        if let Some(m) = self.cached() {
            return Ok(m);
        }
        let mut last_failure = self.fetching.lock().await;
        if let Some(m) = self.cached() {
            return Ok(m);
        }
        let now = self.clock.now();
        if let Some(t) = *last_failure {
            let elapsed = now.saturating_sub(t);
            // A clock that went backwards allows a new attempt.
            if elapsed < self.retry_interval && now >= t {
                return Err(IssuerError::Backoff {
                    retry_after: self.retry_interval - elapsed,
                });
            }
        }
        match self.fetch().await {
            Ok(m) => {
                let m = Arc::new(m);
                *self.cached.write().unwrap_or_else(PoisonError::into_inner) = Some(m.clone());
                *last_failure = None;
                Ok(m)
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "authorization server metadata fetch failed");
                *last_failure = Some(now);
                Err(e)
            }
        }
    }

    fn cached(&self) -> Option<Arc<IssuerMetadata>> {
        self.cached
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// RFC 8414 §3.1 inserts the well-known path between the host and the
    /// issuer's path; for an issuer with a path, the form that appends it
    /// (OpenID Connect Discovery's, and proofkey's) is tried after a 404.
    /// §3.3: the document's `issuer` must be the configured one, exactly.
    async fn fetch(&self) -> Result<IssuerMetadata, IssuerError> {
        let urls = metadata_urls(&self.issuer)?;
        let mut last = IssuerError::Status(404);
        for url in &urls {
            match self.fetcher.get_json::<IssuerMetadata>(url).await {
                Ok(m) if m.issuer == self.issuer => return Ok(m),
                Ok(_) => return Err(IssuerError::IssuerMismatch),
                Err(IssuerError::Status(404)) => last = IssuerError::Status(404),
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}

const WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";

/// The metadata URLs to try, in order.
pub(crate) fn metadata_urls(issuer: &str) -> Result<Vec<String>, IssuerError> {
    let url = Url::parse(issuer).map_err(|e| IssuerError::InvalidResponse(e.to_string()))?;
    let path = url.path().trim_end_matches('/');
    let origin = url.origin().ascii_serialization();
    if path.is_empty() {
        Ok(vec![format!("{origin}{WELL_KNOWN}")])
    } else {
        Ok(vec![
            format!("{origin}{WELL_KNOWN}{path}"),
            format!("{}{WELL_KNOWN}", issuer.trim_end_matches('/')),
        ])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn well_known_urls() {
        assert_eq!(
            metadata_urls("https://as.example").unwrap(),
            ["https://as.example/.well-known/oauth-authorization-server"]
        );
        assert_eq!(
            metadata_urls("http://127.0.0.1:8080").unwrap(),
            ["http://127.0.0.1:8080/.well-known/oauth-authorization-server"]
        );
        assert_eq!(
            metadata_urls("https://as.example/tenant/1").unwrap(),
            [
                "https://as.example/.well-known/oauth-authorization-server/tenant/1",
                "https://as.example/tenant/1/.well-known/oauth-authorization-server"
            ]
        );
    }
}
