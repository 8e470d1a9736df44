//! `POST /par`: pushed authorization requests (RFC 9126 §2).

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use proofkey_core::par::{self, PushError, PushRequest};
use proofkey_core::{ErrorCode, OAuthError};

use crate::responses::{json_no_store, token_error, too_many};
use crate::{params, AppState};

/// The PAR endpoint: 201 with `request_uri` and `expires_in` (§2.2), or an
/// error as at the token endpoint, 413 or 429 (§2.3).
pub async fn push(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !params::is_form(&headers) {
        return token_error(&OAuthError::invalid_request(
            "the pushed request must be application/x-www-form-urlencoded (RFC 9126 §2.1)",
        ));
    }
    let req = PushRequest {
        params: params::parse(&body),
        authorization: params::authorization(&headers).map(proofkey_core::secret::Credentials::new),
        dpop: crate::dpop::proofs(&headers),
        address: Some(peer.ip()),
    };
    let resp = match par::push(&s.provider, &req).await {
        Ok(pushed) => json_no_store(StatusCode::CREATED, pushed),
        Err(PushError::OAuth(e)) => token_error(&e),
        Err(PushError::TooLarge) => {
            let mut r = token_error(&OAuthError::invalid_request(format!(
                "the pushed request's parameters exceed {} bytes",
                par::MAX_PUSHED
            )));
            *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            r
        }
        Err(PushError::TooMany(after)) => too_many(
            token_error(&OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "too many pushed requests from this network; try again later",
            )),
            after,
        ),
    };
    crate::dpop::with_nonce(&s.provider, resp)
}
