//! The HTTP side of DPoP (RFC 9449): the `DPoP` request header's values,
//! the `DPoP-Nonce` response header (§8), and the `DPoP` challenge of a
//! protected resource's errors (§7.1).

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use proofkey_core::dpop::ProofHeaders;
use proofkey_core::{ErrorCode, OAuthError, Provider};
use serde_json::json;

use crate::responses::json_no_store;

/// Every value of the `DPoP` header (RFC 9449 §4.3 check 1 wants one; the
/// core refuses more). A value that is not visible ASCII is kept as an
/// empty string, which fails as a malformed proof.
pub(crate) fn proofs(headers: &HeaderMap) -> ProofHeaders {
    ProofHeaders(
        headers
            .get_all(proofkey_dpop::HEADER)
            .iter()
            .take(4)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .collect(),
    )
}

/// Adds `DPoP-Nonce` with the current nonce when the server demands
/// nonces (RFC 9449 §8: on `use_dpop_nonce`, and on any other answer so
/// the client has a fresh one before the old one expires).
pub(crate) fn with_nonce(provider: &Provider, mut resp: Response) -> Response {
    if let Some(nonce) = provider.dpop_nonce() {
        if let Ok(v) = HeaderValue::from_str(&nonce) {
            resp.headers_mut()
                .insert(HeaderName::from_static("dpop-nonce"), v);
        }
    }
    resp
}

/// Adds a bare `DPoP algs="..."` challenge beside a response's others (RFC
/// 9449 §7.1: a request without credentials learns both schemes).
pub(crate) fn with_dpop_challenge(mut resp: Response) -> Response {
    let challenge = format!(
        "DPoP algs=\"{}\"",
        proofkey_core::dpop::SUPPORTED_ALGS.join(" ")
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().append(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// A protected resource's error with the `DPoP` challenge (RFC 9449 §7.1):
/// 401 (403 for `insufficient_scope`), `error`, `error_description` and
/// the accepted `algs`.
pub(crate) fn challenge_error(provider: &Provider, e: &OAuthError) -> Response {
    let status = match e.code {
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNAUTHORIZED,
    };
    let challenge = format!(
        "DPoP error=\"{}\", error_description=\"{}\", algs=\"{}\"",
        e.code.as_str(),
        crate::responses::quotable(&e.description),
        proofkey_core::dpop::SUPPORTED_ALGS.join(" ")
    );
    let mut resp = json_no_store(
        status,
        json!({"error": e.code.as_str(), "error_description": e.description}),
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    with_nonce(provider, crate::observe::label_error(resp, e.code))
}
