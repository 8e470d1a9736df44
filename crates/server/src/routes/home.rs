//! The pages that belong to no protocol: the start page `/`, the 404 page
//! of every unknown path, and the theme's logo.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use proofkey_core::session;

use crate::cookies::{self, Kind};
use crate::AppState;

/// `GET /`: what this service is, the signed-in account (if any) with a
/// way to sign out, and the device page.
pub async fn home(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let cookie = cookies::get(&headers, Kind::Session, s.provider.config().https());
    let account = match session::find(&s.provider, cookie).await {
        Ok(Some(sess)) => super::authorize::account_name(&s, &sess).await,
        Ok(None) => None,
        Err(e) => {
            // The page still helps without the account.
            tracing::warn!(error = %e, "session lookup failed on the start page");
            None
        }
    };
    s.pages
        .view(&headers, None)
        .render(StatusCode::OK, "home.html", context! { account })
}

/// Every path no route has: a 404 page in the same style.
pub async fn not_found(State(s): State<AppState>, headers: HeaderMap) -> Response {
    s.pages
        .view(&headers, None)
        .render(StatusCode::NOT_FOUND, "not_found.html", context! {})
}

/// `GET /assets/logo`: the `theme_logo` file, read at start. An SVG is
/// shown by the pages as an image (which runs no script); opened on its
/// own it is sandboxed by its CSP.
pub async fn logo(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some((content_type, bytes)) = s.pages.logo() else {
        return not_found(State(s), headers).await;
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
            ),
        ],
        bytes,
    )
        .into_response()
}
