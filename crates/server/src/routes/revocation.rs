//! `POST /revoke` (RFC 7009) and `POST /introspect` (RFC 7662).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use proofkey_core::{client_auth, revocation, OAuthError};

use crate::responses::{json_no_store, no_store, token_error};
use crate::{params, AppState};

fn form_required() -> Response {
    token_error(&OAuthError::invalid_request(
        "the request must be application/x-www-form-urlencoded",
    ))
}

/// RFC 7009 §2.1: 200 with an empty body for any token the client may
/// revoke, known or not.
pub async fn revoke(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !params::is_form(&headers) {
        return form_required();
    }
    let p = params::parse(&body);
    let client =
        match client_auth::authenticate_client(&s.provider, params::authorization(&headers), &p)
            .await
        {
            Ok(c) => c,
            Err(e) => return token_error(&e),
        };
    match revocation::revoke(&s.provider, &client.id, &p).await {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(e) => token_error(&e),
    }
}

/// RFC 7662 §2.
pub async fn introspect(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !params::is_form(&headers) {
        return form_required();
    }
    let p = params::parse(&body);
    let client =
        match client_auth::authenticate_client(&s.provider, params::authorization(&headers), &p)
            .await
        {
            Ok(c) => c,
            Err(e) => return token_error(&e),
        };
    match revocation::introspect(&s.provider, &client, &p).await {
        Ok(v) => json_no_store(StatusCode::OK, v),
        Err(e) => token_error(&e),
    }
}
