//! `GET`/`POST /logout`: OpenID Connect RP-Initiated Logout 1.0.
//!
//! With a valid `id_token_hint` for the logged-in user the session ends at
//! once; otherwise the user confirms on a CSRF-protected page, so that a
//! third-party page cannot log people out. The page names the account and
//! offers Cancel; it speaks the request's `ui_locales` (§2), else the
//! browser's language.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use minijinja::context;
use proofkey_core::authorize::Params;
use proofkey_core::{logout, session};

use super::authorize::{csrf_ok, csrf_token, with_cookie};
use crate::cookies::{self, Kind};
use crate::pages::{Problem, View};
use crate::responses::redirect;
use crate::{params, AppState};

/// `GET /logout`.
pub async fn get(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    logout(
        &s,
        &headers,
        &params::parse(q.unwrap_or_default().as_bytes()),
        false,
    )
    .await
}

/// `POST /logout` (the confirmation form, or an RP posting the request).
pub async fn post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !params::is_form(&headers) {
        return s
            .pages
            .view(&headers, None)
            .error(Problem::Logout, "the logout request must be form-encoded");
    }
    let p = params::parse(&body);
    let answer = p.get("confirm").ok().flatten();
    if answer == Some("no") {
        // Cancel: nothing changes, whatever the form carried.
        return view(&s, &headers, &p).message(
            StatusCode::OK,
            "logout-cancelled-title",
            "logout-cancelled",
        );
    }
    let confirmed = answer == Some("yes") && csrf_ok(&s, &headers, &p);
    logout(&s, &headers, &p, confirmed).await
}

fn view<'a>(s: &'a AppState, headers: &HeaderMap, p: &Params) -> View<'a> {
    s.pages.view(headers, p.get("ui_locales").ok().flatten())
}

const PARAMS: &[&str] = &[
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
];

async fn logout(s: &AppState, headers: &HeaderMap, p: &Params, confirmed: bool) -> Response {
    let req = match logout::end_session_request(&s.provider, p).await {
        Ok(r) => r,
        Err(message) => return view(s, headers, p).error(Problem::Logout, &message),
    };
    let cookie = cookies::get(headers, Kind::Session, s.provider.config().https());
    let session = match session::find(&s.provider, cookie).await {
        Ok(sess) => sess,
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            return view(s, headers, p).unavailable();
        }
    };
    if let (Some(sess), Some(cookie)) = (&session, cookie) {
        let hinted = req.hinted_subject.as_deref() == Some(sess.user_id.as_str());
        if !(hinted || confirmed) {
            let (csrf, set) = csrf_token(s, headers);
            let carried: Vec<(String, String)> = PARAMS
                .iter()
                .filter_map(|k| {
                    p.get(k)
                        .ok()
                        .flatten()
                        .map(|v| ((*k).to_owned(), v.to_owned()))
                })
                .collect();
            let account = super::authorize::account_name(s, sess).await;
            let resp = view(s, headers, p).render(
                StatusCode::OK,
                "logout.html",
                context! { account, client_name => req.client_name, params => carried, csrf },
            );
            return with_cookie(resp, set);
        }
        if let Err(e) = session::end(&s.provider, cookie).await {
            tracing::error!(error = %e, "ending the session failed");
            return view(s, headers, p).unavailable();
        }
        tracing::info!(user = %sess.user_id, "logged out");
    }
    let clear = cookies::set(Kind::Session, "", 0, s.provider.config().https());
    let mut resp = match &req.redirect {
        Some(url) => redirect(url),
        None => view(s, headers, p).message(StatusCode::OK, "logout-done-title", "logout-done"),
    };
    if let Ok(v) = HeaderValue::from_str(&clear) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}
