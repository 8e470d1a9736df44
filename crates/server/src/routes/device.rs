//! RFC 8628: `POST /device_authorization` (§3.1) and the verification page
//! `/device` (§3.3), where a logged-in user enters the user code and
//! approves or denies. Logging in happens on the same page, so the user
//! code survives it.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use minijinja::context;
use proofkey_core::device::{self, display_user_code, normalize_user_code, UserCodeError};
use proofkey_core::model::Session;
use proofkey_core::secret::Password;
use proofkey_core::session::SignIn;
use proofkey_core::{client_auth, session};

use super::authorize::{
    csrf_of_session, csrf_ok, csrf_token, signed_in, with_cookie, with_cookies,
};
use crate::cookies::{self, Kind};
use crate::pages::Problem;
use crate::responses::{json_no_store, token_error};
use crate::{params, AppState};

/// §3.1 device authorization request.
pub async fn authorization(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !params::is_form(&headers) {
        return token_error(&proofkey_core::OAuthError::invalid_request(
            "the request must be application/x-www-form-urlencoded",
        ));
    }
    let p = params::parse(&body);
    let auth = params::authorization(&headers);
    let client = match client_auth::authenticate_client(&s.provider, auth, &p).await {
        Ok(c) => c,
        Err(e) => return token_error(&e),
    };
    match device::authorization(&s.provider, &client, &p).await {
        Ok(v) => json_no_store(StatusCode::OK, v),
        Err(e) => token_error(&e),
    }
}

struct Form<'a> {
    user_code: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

fn entry_page(s: &AppState, headers: &HeaderMap, logged_in: bool, f: Form<'_>) -> Response {
    entry_page_in(s, headers, logged_in, f, None)
}

/// The entry page; `new_session` is a session started by this very
/// request (its forms are bound to it, not to what the request carried).
fn entry_page_in(
    s: &AppState,
    headers: &HeaderMap,
    logged_in: bool,
    f: Form<'_>,
    new_session: Option<&str>,
) -> Response {
    let (csrf, cookie) = csrf_in(s, headers, new_session);
    let resp = s.pages.view(headers, None).render(
        StatusCode::OK,
        "device.html",
        context! { confirm => false, login => !logged_in, user_code => f.user_code, username => f.username, error => f.error, csrf },
    );
    with_cookie(resp, cookie)
}

/// The CSRF token of a form: of the session just started, or as
/// [`csrf_token`] says.
fn csrf_in(
    s: &AppState,
    headers: &HeaderMap,
    new_session: Option<&str>,
) -> (String, Option<String>) {
    match new_session {
        Some(session) => (csrf_of_session(session), None),
        None => csrf_token(s, headers),
    }
}

async fn session(s: &AppState, headers: &HeaderMap) -> Option<Session> {
    let cookie = cookies::get(headers, Kind::Session, s.provider.config().https());
    session::find(&s.provider, cookie).await.ok().flatten()
}

/// `GET /device[?user_code=...]` (`verification_uri_complete` pre-fills it).
pub async fn page(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let p = params::parse(q.unwrap_or_default().as_bytes());
    let code = p.get("user_code").ok().flatten().unwrap_or_default();
    let logged_in = session(&s, &headers).await.is_some();
    entry_page(
        &s,
        &headers,
        logged_in,
        Form {
            user_code: code,
            username: "",
            error: None,
        },
    )
}

/// `POST /device`: the code (and, without a session, the credentials).
pub async fn submit(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params::parse(&body);
    if !params::is_form(&headers) || !csrf_ok(&s, &headers, &p) {
        return super::authorize::forbidden_csrf(s.pages.view(&headers, None));
    }
    let code = p.get("user_code").ok().flatten().unwrap_or_default();
    let mut set_cookies: Vec<String> = Vec::new();
    let mut new_session: Option<String> = None;
    let session = match session(&s, &headers).await {
        Some(sess) => sess,
        None => {
            let username = p.get("username").ok().flatten().unwrap_or_default();
            let password = p.get("password").ok().flatten().unwrap_or_default();
            let attempt = session::Attempt {
                username,
                password: Password::new(password),
                address: peer.ip(),
                client_id: None,
            };
            let form = |error| Form {
                user_code: code,
                username,
                error: Some(error),
            };
            let user = match session::sign_in(&s.provider, attempt).await {
                Ok(SignIn::User(u)) => u,
                Ok(SignIn::Invalid) => {
                    return entry_page(&s, &headers, false, form("login-invalid"))
                }
                Ok(SignIn::AddressBlocked { retry_after }) => {
                    let page = entry_page(&s, &headers, false, form("login-address-blocked"));
                    return crate::responses::too_many(page, retry_after);
                }
                Err(_) => {
                    let page = entry_page(&s, &headers, false, form("login-busy"));
                    return crate::responses::busy(page, s.provider.config().password_hash_wait);
                }
            };
            let cookie = match session::start(&s.provider, &user).await {
                Ok(c) => c,
                Err(_) => return s.pages.view(&headers, None).unavailable(),
            };
            set_cookies = signed_in(&s, &headers, &cookie).await;
            let found = match session::find(&s.provider, Some(&cookie)).await {
                Ok(Some(sess)) => sess,
                _ => return s.pages.view(&headers, None).unavailable(),
            };
            new_session = Some(cookie);
            found
        }
    };
    let (record, client) = match device::lookup(&s.provider, code, peer.ip()).await {
        Ok(found) => found,
        Err(e) => {
            let f = Form {
                user_code: code,
                username: "",
                error: Some(match e {
                    UserCodeError::Invalid => "device-code-invalid",
                    UserCodeError::TooManyAttempts => "device-code-too-many",
                    UserCodeError::Unavailable => "unavailable",
                }),
            };
            let page = entry_page_in(&s, &headers, true, f, new_session.as_deref());
            return with_cookies(page, set_cookies);
        }
    };
    let (csrf, csrf_cookie) = csrf_in(&s, &headers, new_session.as_deref());
    let view = s.pages.view(&headers, None);
    let scopes = view.scopes(record.scope.split(' ').filter(|x| !x.is_empty()));
    let account = super::authorize::account_name(&s, &session).await;
    // RFC 8707: the resources the device's tokens will be for.
    let resources: Vec<&str> = record
        .resources
        .split(' ')
        .filter(|x| !x.is_empty())
        .collect();
    let registration = client.registration.as_str();
    let host = crate::pages::metadata_host(&client.id);
    let shown = normalize_user_code(code)
        .map(|n| display_user_code(&n))
        .unwrap_or_default();
    let resp = view.render(
        StatusCode::OK,
        "device.html",
        context! { confirm => true, client_name => client.name, client_id => client.id, registration, host, account, scopes, resources, user_code => shown, csrf },
    );
    with_cookies(with_cookie(resp, csrf_cookie), set_cookies)
}

/// `POST /device/decision`.
///
/// The code goes through core's user-code limiter like `POST /device`'s
/// (RFC 8628 §5.1): an address blocked there is blocked here.
pub async fn decision(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = params::parse(&body);
    if !params::is_form(&headers) || !csrf_ok(&s, &headers, &p) {
        return super::authorize::forbidden_csrf(s.pages.view(&headers, None));
    }
    let Some(session) = session(&s, &headers).await else {
        return entry_page(
            &s,
            &headers,
            false,
            Form {
                user_code: "",
                username: "",
                error: Some("device-sign-in-first"),
            },
        );
    };
    let code = p.get("user_code").ok().flatten().unwrap_or_default();
    let approve = match p.get("decision").ok().flatten() {
        Some("allow") => true,
        Some("deny") => false,
        _ => {
            return s.pages.view(&headers, None).error(
                Problem::Form,
                "the device form was submitted without a decision",
            )
        }
    };
    let (status, title, message) =
        match device::decide(&s.provider, code, &session, approve, peer.ip()).await {
            Ok(()) if approve => (StatusCode::OK, "device-connected-title", "device-connected"),
            Ok(()) => (StatusCode::OK, "device-denied-title", "device-denied"),
            Err(UserCodeError::Invalid) => {
                (StatusCode::OK, "device-invalid-title", "device-invalid")
            }
            Err(UserCodeError::TooManyAttempts) => (
                StatusCode::TOO_MANY_REQUESTS,
                "device-too-many-title",
                "device-code-too-many",
            ),
            Err(UserCodeError::Unavailable) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable-title",
                "unavailable",
            ),
        };
    let mut resp = s.pages.view(&headers, None).message(status, title, message);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
