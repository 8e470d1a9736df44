//! Request parameters as name/value pairs, keeping repeats so that core can
//! refuse them (RFC 6749 §3.1, §3.2).

use axum::http::{header, HeaderMap};
use proofkey_core::authorize::Params;

/// Pairs of an `application/x-www-form-urlencoded` string.
pub fn parse(raw: &[u8]) -> Params {
    Params::new(form_urlencoded::parse(raw).into_owned().collect())
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
