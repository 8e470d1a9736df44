//! Talking to the issuer within bounds (house rule 11): every exchange has
//! a deadline, every body a size cap checked as it streams in.

use std::time::Duration;

use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::IssuerError;

/// The largest body read from the issuer (metadata, JWK Set, introspection
/// answer).
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// An HTTP client with a deadline per exchange and a body cap.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    http: reqwest::Client,
    timeout: Duration,
    max_bytes: usize,
}

impl Fetcher {
    /// The default client: the deadline, no redirects (an issuer's
    /// endpoints are where its metadata says), no cookies.
    pub(crate) fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self::with_client(http, timeout))
    }

    /// A caller's client (proxies, extra roots); the deadline still holds.
    pub(crate) fn with_client(http: reqwest::Client, timeout: Duration) -> Self {
        Self {
            http,
            timeout,
            max_bytes: MAX_BODY_BYTES,
        }
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// GET a JSON document; anything but a 200 is an error.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, IssuerError> {
        let req = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        let (status, body) = self.send(req).await?;
        if status != StatusCode::OK {
            return Err(IssuerError::Status(status.as_u16()));
        }
        parse_json(&body)
    }

    /// Sends `req` and reads the body, all within the deadline: the body is
    /// read a chunk at a time and abandoned as soon as it passes the cap
    /// (or announces a larger `Content-Length`), so an endless body costs
    /// 64 KiB, not the whole timeout.
    pub(crate) async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Vec<u8>), IssuerError> {
        let max = self.max_bytes;
        let exchange = async move {
            let mut resp = req.send().await.map_err(classify)?;
            let status = resp.status();
            if resp.content_length().is_some_and(|n| n > max as u64) {
                return Err(IssuerError::TooLarge(max));
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > max {
                    return Err(IssuerError::TooLarge(max));
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| IssuerError::Timeout)?
    }
}

pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, IssuerError> {
    serde_json::from_slice(body).map_err(|e| IssuerError::InvalidResponse(e.to_string()))
}

fn classify(e: reqwest::Error) -> IssuerError {
    if e.is_timeout() {
        IssuerError::Timeout
    } else {
        IssuerError::Unreachable(e)
    }
}
