//! `POST /register` (RFC 7591 §3) and the registration client URIs
//! `GET`, `PUT`, `DELETE /register/{client_id}` (RFC 7592 §2).

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use proofkey_core::registration::{self, Caller, RegisterError};
use proofkey_core::{ErrorCode, OAuthError};
use serde_json::Value;

use crate::responses::{bearer_error, json_no_store, token_error, too_many};
use crate::AppState;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    crate::params::authorization(headers)
        .and_then(|v| proofkey_core::client_auth::credentials(v, "Bearer"))
        .map(str::trim)
}

/// RFC 7591 §3.1: the body is a JSON object.
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, OAuthError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(OAuthError::invalid_request(
            "a registration request is application/json (RFC 7591 §3.1)",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            format!("the body is not JSON: {e}"),
        )
    })
}

fn error(e: &OAuthError) -> Response {
    match e.code {
        ErrorCode::InvalidToken => bearer_error(Some(e)),
        _ => token_error(e),
    }
}

fn disabled() -> Response {
    (
        StatusCode::NOT_FOUND,
        "dynamic client registration is not enabled on this server",
    )
        .into_response()
}

/// The registration endpoint.
pub async fn register(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if s.provider.config().registration == proofkey_core::config::RegistrationPolicy::Off {
        return disabled();
    }
    let doc = match json_body(&headers, &body) {
        Ok(d) => d,
        Err(e) => return error(&e),
    };
    let caller = match bearer(&headers) {
        Some(t) => Caller::InitialAccessToken(t.to_owned()),
        None => Caller::Anonymous(Some(peer.ip())),
    };
    match registration::register(&s.provider, caller, &doc).await {
        Ok(info) => json_no_store(StatusCode::CREATED, info),
        Err(RegisterError::OAuth(e)) => error(&e),
        Err(RegisterError::Disabled) => disabled(),
        Err(RegisterError::TooMany(after)) => too_many(
            token_error(&OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "too many registrations from this network; try again later",
            )),
            after,
        ),
    }
}

async fn managed(
    s: &AppState,
    id: &str,
    headers: &HeaderMap,
) -> Result<proofkey_core::model::Client, Response> {
    registration::authorize_management(&s.provider, id, bearer(headers))
        .await
        .map_err(|e| error(&e))
}

/// RFC 7592 §2.1: the client reads its registration.
pub async fn read(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match managed(&s, &id, &headers).await {
        Ok(c) => json_no_store(
            StatusCode::OK,
            registration::client_information(&s.provider, &c, c.auth_method()),
        ),
        Err(r) => r,
    }
}

/// RFC 7592 §2.2: the client replaces its registration.
pub async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = match managed(&s, &id, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let doc = match json_body(&headers, &body) {
        Ok(d) => d,
        Err(e) => return error(&e),
    };
    match registration::update(&s.provider, &client, &doc).await {
        Ok(info) => json_no_store(StatusCode::OK, info),
        Err(e) => error(&e),
    }
}

/// RFC 7592 §2.3: the client deletes its registration; every grant it
/// holds is revoked with it.
pub async fn delete(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = managed(&s, &id, &headers).await {
        return r;
    }
    match s
        .provider
        .store()
        .delete_client(&id, s.provider.now())
        .await
    {
        Ok(_) => {
            s.provider.clients().forget(&id);
            tracing::info!(target: proofkey_core::session::SECURITY, event = "client deleted itself", client_id = %id, "a self-registered client deleted its registration");
            (StatusCode::NO_CONTENT, crate::responses::no_store()).into_response()
        }
        Err(e) => error(&e.into()),
    }
}
