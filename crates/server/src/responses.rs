//! JSON responses of the token and userinfo endpoints, and redirects.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use proofkey_core::{ErrorCode, OAuthError};
use serde_json::json;

/// RFC 6749 §5.1: token responses are never cached.
pub fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// A JSON body with `no-store`.
pub fn json_no_store(status: StatusCode, body: impl serde::Serialize) -> Response {
    (status, no_store(), Json(body)).into_response()
}

/// RFC 6749 §5.2 error response; `invalid_client` is 401 with
/// `WWW-Authenticate: Basic`.
pub fn token_error(e: &OAuthError) -> Response {
    let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = json_no_store(
        status,
        json!({"error": e.code.as_str(), "error_description": e.description}),
    );
    if e.code == ErrorCode::InvalidClient {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"proofkey\""),
        );
    }
    crate::observe::label_error(resp, e.code)
}

/// RFC 6750 §3: a bearer error with its `WWW-Authenticate` challenge.
pub fn bearer_error(e: Option<&OAuthError>) -> Response {
    let (status, challenge) = match e {
        // §3.1: no credentials at all: no error code.
        None => (
            StatusCode::UNAUTHORIZED,
            "Bearer realm=\"proofkey\"".to_owned(),
        ),
        Some(e) => (
            StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::UNAUTHORIZED),
            format!(
                "Bearer realm=\"proofkey\", error=\"{}\", error_description=\"{}\"",
                e.code.as_str(),
                // A quoted-string of visible ASCII (RFC 9110 §5.6.4): a
                // description with "§" would otherwise drop the header.
                quotable(&e.description)
            ),
        ),
    };
    let body = match e {
        Some(e) => json!({"error": e.code.as_str(), "error_description": e.description}),
        None => {
            json!({"error": "invalid_token", "error_description": "a bearer access token is required"})
        }
    };
    let mut resp = json_no_store(status, body);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    match e {
        Some(e) => crate::observe::label_error(resp, e.code),
        None => resp,
    }
}

/// `text` as the content of a quoted-string of visible ASCII (RFC 9110
/// §5.6.4): a description with "§" would otherwise drop the header.
pub(crate) fn quotable(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .filter(|c| !matches!(c, '"' | '\\'))
        .collect()
}

/// 303 See Other to `location`, not cached.
pub fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, v),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A page for a request turned away for lack of room: 503 with
/// `Retry-After` (RFC 9110 §10.2.3) of the wait it could not get, at least
/// a second.
pub fn busy(mut page: Response, wait: std::time::Duration) -> Response {
    *page.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    page.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(wait.as_secs().max(1)),
    );
    page
}

/// A page for a client refused for too many failures: 429 with
/// `Retry-After` (RFC 6585 §4), in seconds, at least one.
pub fn too_many(mut page: Response, retry_after: i64) -> Response {
    *page.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    page.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
    page
}
