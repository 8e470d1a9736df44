//! `POST /token` (RFC 6749 §3.2, §5), with DPoP proofs (RFC 9449 §5, §8).

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use proofkey_core::grant::{self, TokenRequest};
use proofkey_core::OAuthError;

use crate::responses::{json_no_store, token_error};
use crate::{params, AppState};

/// The token endpoint.
pub async fn token(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !params::is_form(&headers) {
        return token_error(&OAuthError::invalid_request(
            "the token request must be application/x-www-form-urlencoded (RFC 6749 §3.2)",
        ));
    }
    let req = TokenRequest {
        params: params::parse(&body),
        authorization: params::authorization(&headers).map(proofkey_core::secret::Credentials::new),
        address: Some(peer.ip()),
        dpop: crate::dpop::proofs(&headers),
    };
    let resp = match grant::token(&s.provider, &req).await {
        Ok(resp) => json_no_store(StatusCode::OK, resp),
        Err(e) => token_error(&e),
    };
    crate::dpop::with_nonce(&s.provider, resp)
}
