//! RFC 8414 / OIDC Discovery metadata and the JWK Set (RFC 7517 §5).

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::AppState;

/// Both well-known paths serve the same document.
pub async fn metadata(State(s): State<AppState>) -> Response {
    match s.provider.discovery().await {
        Ok(doc) => (
            [(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            )],
            Json(doc),
        )
            .into_response(),
        Err(e) => crate::responses::token_error(&e.into()),
    }
}

/// Public keys only.
pub async fn jwks(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        )],
        Json(s.provider.jwks()),
    )
}
