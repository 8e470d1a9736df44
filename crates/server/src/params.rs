//! Request parameters as name/value pairs, keeping repeats so that core can
//! refuse them (RFC 6749 §3.1, §3.2).

use axum::http::{header, HeaderMap};
use proofkey_core::authorize::Params;

/// Pairs of an `application/x-www-form-urlencoded` string: decoded lazily,
/// no further than [`proofkey_core::authorize::MAX_PARAMS`] pairs.
pub fn parse(raw: &[u8]) -> Params {
    Params::new(form_urlencoded::parse(raw).into_owned())
}

/// The largest request body any endpoint reads: OAuth forms are small (a
/// client assertion, a few KiB, is the largest part); a larger body is
/// answered 413 before it is read whole.
pub const MAX_BODY: usize = 64 * 1024;

/// The `Authorization` header's value, if it is visible ASCII.
pub fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// Whether the request body is declared as a form.
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}
