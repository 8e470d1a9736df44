//! `POST /par`: pushed authorization requests (RFC 9126 §2).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use proofkey_core::par::{self, PushRequest};
use proofkey_core::OAuthError;

use crate::responses::{json_no_store, token_error};
use crate::{params, AppState};

/// The PAR endpoint: 201 with `request_uri` and `expires_in` (§2.2), or an
/// error as at the token endpoint (§2.3).
pub async fn push(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !params::is_form(&headers) {
        return token_error(&OAuthError::invalid_request(
            "the pushed request must be application/x-www-form-urlencoded (RFC 9126 §2.1)",
        ));
    }
    let req = PushRequest {
        params: params::parse(&body),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(proofkey_core::secret::Credentials::new),
        dpop: crate::dpop::proofs(&headers),
    };
    let resp = match par::push(&s.provider, &req).await {
        Ok(pushed) => json_no_store(StatusCode::CREATED, pushed),
        Err(e) => token_error(&e),
    };
    crate::dpop::with_nonce(&s.provider, resp)
}
