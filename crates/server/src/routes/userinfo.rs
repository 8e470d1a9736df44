//! `GET`/`POST /userinfo` (OIDC Core §5.3) with a bearer token (RFC 6750 §2.1).

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use proofkey_core::userinfo;

use crate::responses::{bearer_error, json_no_store};
use crate::AppState;

/// The UserInfo endpoint.
pub async fn userinfo(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // RFC 9110 §11.1: the scheme is case-insensitive.
        .and_then(|v| proofkey_core::client_auth::credentials(v, "Bearer"))
        .map(str::trim);
    let Some(token) = bearer else {
        return bearer_error(None);
    };
    match userinfo::userinfo(&s.provider, token).await {
        Ok(info) => json_no_store(StatusCode::OK, info),
        Err(e) => bearer_error(Some(&e)),
    }
}
