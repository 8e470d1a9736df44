//! The authorization endpoint and its pages: `GET`/`POST /authorize`,
//! `POST /login`, `POST /consent` (RFC 6749 §4.1.1, OIDC Core §3.1.2).
//!
//! The login and consent forms carry the authorization request's parameters
//! as hidden fields and are re-validated on every step, so no request state
//! lives on the server between pages. Forms are CSRF-protected with a
//! double-submit cookie compared in constant time.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use proofkey_core::authorize::{error_redirect, AuthorizeError, Params, ValidRequest};
use proofkey_core::model::{Session, User};
use proofkey_core::secret::{self, Password};
use proofkey_core::session::SignIn;
use proofkey_core::{authorization, session, ErrorCode, Next};
use subtle::ConstantTimeEq;

use crate::cookies::{self, Kind};
use crate::pages::{Problem, View};
use crate::responses::redirect;
use crate::{params, AppState};

const CSRF_MAX_AGE: u64 = 3600;

/// `GET /authorize`.
pub async fn get(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let p = params::parse(q.unwrap_or_default().as_bytes());
    authorize(&s, &headers, &p).await
}

/// `POST /authorize` (OIDC Core §3.1.2.1: form-encoded parameters).
pub async fn post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !params::is_form(&headers) {
        return s.pages.view(&headers, None).error(
            Problem::Authorize,
            "the authorization request must be form-encoded",
        );
    }
    authorize(&s, &headers, &params::parse(&body)).await
}

/// The pages in the language the request asks for (OIDC Core §3.1.2.1
/// `ui_locales`, kept in a pushed request too), else the browser's.
pub(crate) fn view<'a>(s: &'a AppState, headers: &HeaderMap, req: &ValidRequest) -> View<'a> {
    s.pages.view(headers, req.ui_locales.as_deref())
}

async fn validated(
    s: &AppState,
    headers: &HeaderMap,
    p: &Params,
) -> Result<ValidRequest, Response> {
    // Before the request is valid, its own ui_locales is all there is.
    let early = || s.pages.view(headers, p.get("ui_locales").ok().flatten());
    authorization::validate(&s.provider, p)
        .await
        .map_err(|e| match e {
            AuthorizeError::Unavailable => early().unavailable(),
            AuthorizeError::Page(message) => early().error(Problem::Authorize, &message),
            AuthorizeError::Redirect {
                redirect_uri,
                error,
                state,
            } => redirect(&error_redirect(
                &redirect_uri,
                &error,
                state.as_deref(),
                &s.provider.config().issuer,
            )),
        })
}

fn server_error_redirect(
    s: &AppState,
    req: &ValidRequest,
    e: &proofkey_core::OAuthError,
) -> Response {
    redirect(&error_redirect(
        &req.redirect_uri,
        e,
        req.state.as_deref(),
        &s.provider.config().issuer,
    ))
}

async fn session(
    s: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, proofkey_core::OAuthError> {
    let cookie = cookies::get(headers, Kind::Session, s.provider.config().https());
    Ok(session::find(&s.provider, cookie).await?)
}

async fn authorize(s: &AppState, headers: &HeaderMap, p: &Params) -> Response {
    let req = match validated(s, headers, p).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let cookie = cookies::get(headers, Kind::Session, s.provider.config().https());
    let signed_in = match session::find_with_consent(&s.provider, cookie, &req.client.id).await {
        Ok(found) => found,
        Err(e) => return server_error_redirect(s, &req, &e.into()),
    };
    match authorization::next(&s.provider, &req, signed_in.as_ref()).await {
        Ok(Next::Login) => login_page(s, headers, &req, "", None),
        Ok(Next::Consent(user)) => consent_page(s, headers, &req, &user).await,
        Ok(Next::Redirect(url)) => redirect(&url),
        Err(e) => server_error_redirect(s, &req, &e),
    }
}

/// The CSRF token of a form for this browser, and a `Set-Cookie` when it
/// is new. With a session cookie, the token is derived from it (a hash
/// of the session's secret value), so it is bound to that session and
/// changes with it: a sign-in, which starts a new session, rotates it.
/// Before any session, it is the value of a random CSRF cookie
/// (double-submit).
pub(crate) fn csrf_token(s: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    let secure = s.provider.config().https();
    if let Some(session) = cookies::get(headers, Kind::Session, secure).filter(|v| !v.is_empty()) {
        return (csrf_of_session(session), None);
    }
    if let Some(existing) = cookies::get(headers, Kind::Csrf, secure).filter(|v| v.len() >= 32) {
        return (existing.to_owned(), None);
    }
    let fresh = secret::random_token(32).unwrap_or_default();
    let cookie = cookies::set(Kind::Csrf, &fresh, CSRF_MAX_AGE, secure);
    (fresh, Some(cookie))
}

/// The CSRF token of forms shown within the session whose cookie value is
/// `session`.
pub(crate) fn csrf_of_session(session: &str) -> String {
    secret::hash_token(&format!("csrf:{session}"))
}

/// Whether a form's `csrf` field is the token [`csrf_token`] gives this
/// browser now (compared in constant time).
pub(crate) fn csrf_ok(s: &AppState, headers: &HeaderMap, p: &Params) -> bool {
    let secure = s.provider.config().https();
    let expected = match cookies::get(headers, Kind::Session, secure).filter(|v| !v.is_empty()) {
        Some(session) => csrf_of_session(session),
        None => match cookies::get(headers, Kind::Csrf, secure).filter(|v| v.len() >= 32) {
            Some(cookie) => cookie.to_owned(),
            None => return false,
        },
    };
    match p.get("csrf").ok().flatten() {
        Some(field) => expected.as_bytes().ct_eq(field.as_bytes()).into(),
        None => false,
    }
}

pub(crate) fn with_cookies(resp: Response, cookies: Vec<String>) -> Response {
    cookies
        .into_iter()
        .fold(resp, |resp, c| with_cookie(resp, Some(c)))
}

pub(crate) fn with_cookie(mut resp: Response, cookie: Option<String>) -> Response {
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

fn login_page(
    s: &AppState,
    headers: &HeaderMap,
    req: &ValidRequest,
    username: &str,
    error: Option<&str>,
) -> Response {
    let (csrf, cookie) = csrf_token(s, headers);
    // OIDC Core §3.1.2.1: login_hint fills the form the first time.
    let username = match (username, &req.login_hint) {
        ("", Some(hint)) if error.is_none() => hint.as_str(),
        (u, _) => u,
    };
    let resp = view(s, headers, req).render(
        StatusCode::OK,
        "login.html",
        context! {
            client_name => req.client.name,
            params => req.params,
            csrf,
            username,
            error,
        },
    );
    with_cookie(resp, cookie)
}

/// The consent page: the client (a self-registered one said to be so; one
/// known by its metadata document shown by its host, as unverified), the
/// user (with a switch of account), the scopes described in the user's
/// language, the resources (RFC 8707) the tokens will be for, and where
/// the browser goes next (the redirect URI's host: RFC 9700 §4.1 is about
/// users being sent where they did not expect).
async fn consent_page(
    s: &AppState,
    headers: &HeaderMap,
    req: &ValidRequest,
    user: &User,
) -> Response {
    let mut resources: Vec<(String, String)> = Vec::new();
    for uri in proofkey_core::scope::parse(&req.resources) {
        let name = match s.provider.store().get_resource(&uri).await {
            Ok(Some(r)) if r.name != uri => r.name,
            _ => String::new(),
        };
        resources.push((uri, name));
    }
    let registration = req.client.registration.as_str();
    let host = crate::pages::metadata_host(&req.client.id);
    let (csrf, cookie) = csrf_token(s, headers);
    let view = view(s, headers, req);
    let scopes = view.scopes(req.scopes.iter().map(String::as_str));
    let resp = view.render(
        StatusCode::OK,
        "consent.html",
        context! {
            client_name => req.client.name,
            client_id => req.client.id,
            registration,
            host,
            resources,
            account => user.username,
            scopes,
            destination => crate::pages::destination(&req.redirect_uri),
            redirect_uri => req.redirect_uri,
            params => req.params,
            csrf,
        },
    );
    with_cookie(resp, cookie)
}

/// A form whose CSRF token is missing or stale: 403.
pub(crate) fn forbidden_csrf(view: View<'_>) -> Response {
    view.message(StatusCode::FORBIDDEN, "form-expired-title", "form-expired")
}

/// The authorization request's parameters, without the form's own fields
/// and without `prompt=login` (it has just been honoured).
fn onward_query(req: &ValidRequest) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &req.params {
        if k == "prompt" {
            let rest: Vec<&str> = v
                .split(' ')
                .filter(|p| *p != "login" && !p.is_empty())
                .collect();
            if !rest.is_empty() {
                q.append_pair(k, &rest.join(" "));
            }
        } else {
            q.append_pair(k, v);
        }
    }
    q.finish()
}

/// `POST /login`: username and password, then back to `/authorize`.
pub async fn login(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params::parse(&body);
    let req = match validated(&s, &headers, &p).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if !params::is_form(&headers) || !csrf_ok(&s, &headers, &p) {
        return forbidden_csrf(view(&s, &headers, &req));
    }
    let username = p.get("username").ok().flatten().unwrap_or_default();
    let password = p.get("password").ok().flatten().unwrap_or_default();
    let attempt = session::Attempt {
        username,
        password: Password::new(password),
        address: peer.ip(),
        client_id: Some(&req.client.id),
    };
    let user = match session::sign_in(&s.provider, attempt).await {
        Ok(SignIn::User(u)) => u,
        // One generic message for unknown users, wrong passwords and
        // blocked accounts (RFC 6749 §10.10 without user enumeration).
        Ok(SignIn::Invalid) => {
            return login_page(&s, &headers, &req, username, Some("login-invalid"))
        }
        Ok(SignIn::AddressBlocked { retry_after }) => {
            let page = login_page(&s, &headers, &req, username, Some("login-address-blocked"));
            return crate::responses::too_many(page, retry_after);
        }
        // Turned away for lack of room (or the database is down): the
        // user stays on the form, told to retry.
        Err(e) if e.code == ErrorCode::TemporarilyUnavailable => {
            let page = login_page(&s, &headers, &req, username, Some("login-busy"));
            return crate::responses::busy(page, s.provider.config().password_hash_wait);
        }
        Err(e) => return server_error_redirect(&s, &req, &e),
    };
    let cookie = match session::start(&s.provider, &user).await {
        Ok(c) => c,
        Err(e) => return server_error_redirect(&s, &req, &e),
    };
    let resp = redirect(&format!("/authorize?{}", onward_query(&req)));
    with_cookies(resp, signed_in(&s, &headers, &cookie).await)
}

/// After a sign-in that started the session behind `new_session`: ends
/// the session the browser had before, if any (a sign-in never leaves two
/// sessions to one browser, nor a planted one alive), and returns the
/// `Set-Cookie` values: the new session, and the pre-session CSRF cookie
/// cleared (forms are now bound to the session, see [`csrf_token`]).
pub(crate) async fn signed_in(s: &AppState, headers: &HeaderMap, new_session: &str) -> Vec<String> {
    let config = s.provider.config();
    let secure = config.https();
    if let Some(old) = cookies::get(headers, Kind::Session, secure).filter(|v| !v.is_empty()) {
        if let Err(e) = session::end(&s.provider, old).await {
            tracing::warn!(error = %e, "could not end the previous session at sign-in");
        }
    }
    vec![
        cookies::set(
            Kind::Session,
            new_session,
            config.session_lifetime.as_secs(),
            secure,
        ),
        cookies::set(Kind::Csrf, "", 0, secure),
    ]
}

/// `POST /consent`: the user's decision.
pub async fn consent(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let p = params::parse(&body);
    let req = match validated(&s, &headers, &p).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if !params::is_form(&headers) || !csrf_ok(&s, &headers, &p) {
        return forbidden_csrf(view(&s, &headers, &req));
    }
    let session = match session(&s, &headers).await {
        Ok(Some(sess)) => sess,
        Ok(None) => return login_page(&s, &headers, &req, "", None),
        Err(e) => return server_error_redirect(&s, &req, &e),
    };
    let allow = match p.get("decision").ok().flatten() {
        Some("allow") => true,
        Some("deny") => false,
        Some("switch") => return switch_account(&s, &headers, &req).await,
        _ => {
            return view(&s, &headers, &req).error(
                Problem::Form,
                "the consent form was submitted without a decision",
            )
        }
    };
    match authorization::consent(&s.provider, &req, &session, allow).await {
        Ok(url) => redirect(&url),
        Err(e) => server_error_redirect(&s, &req, &e),
    }
    .into_response()
}

/// "Not you? Use another account": ends this browser's session and goes
/// back to the authorization request, which now asks for a sign-in. The
/// request itself is untouched (a pushed one stays usable: its sign-in
/// allowance runs from its first use).
async fn switch_account(s: &AppState, headers: &HeaderMap, req: &ValidRequest) -> Response {
    let secure = s.provider.config().https();
    if let Some(old) = cookies::get(headers, Kind::Session, secure).filter(|v| !v.is_empty()) {
        if let Err(e) = session::end(&s.provider, old).await {
            tracing::error!(error = %e, "ending the session for a switch of account failed");
            return view(s, headers, req).unavailable();
        }
    }
    let resp = redirect(&format!("/authorize?{}", onward_query(req)));
    with_cookie(resp, Some(cookies::set(Kind::Session, "", 0, secure)))
}

/// What the pages call the signed-in user: their username (`None` if the
/// user is gone or the store failed; the page then names nobody).
pub(crate) async fn account_name(s: &AppState, session: &Session) -> Option<String> {
    match s.provider.store().get_user(&session.user_id).await {
        Ok(user) => user.map(|u| u.username),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the signed-in user for a page");
            None
        }
    }
}
