//! Routes, one module per endpoint family.

pub(crate) mod authorize;
mod device;
mod discovery;
pub(crate) mod health;
mod home;
mod logout;
mod par;
mod registration;
mod revocation;
mod token;
mod userinfo;

use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;
use proofkey_core::discovery::paths;

use crate::AppState;

/// Every route. Methods not listed get 405 from the router; the endpoints
/// browser apps call directly are behind the CORS middleware.
pub fn router(state: AppState) -> Router<AppState> {
    let cors = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::metadata),
        )
        .route(paths::JWKS, get(discovery::jwks))
        .route(paths::TOKEN, post(token::token))
        .route(paths::REVOKE, post(revocation::revoke))
        .route(paths::PAR, post(par::push))
        .route(
            paths::USERINFO,
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route(paths::REGISTER, post(registration::register))
        .route(
            "/register/{client_id}",
            get(registration::read)
                .put(registration::update)
                .delete(registration::delete),
        )
        .layer(from_fn_with_state(state, crate::cors::cors));
    Router::new()
        .route(paths::AUTHORIZE, get(authorize::get).post(authorize::post))
        .route("/login", post(authorize::login))
        .route("/consent", post(authorize::consent))
        .route(paths::INTROSPECT, post(revocation::introspect))
        .route(paths::LOGOUT, get(logout::get).post(logout::post))
        .route(paths::DEVICE_AUTHORIZATION, post(device::authorization))
        .route(paths::DEVICE, get(device::page).post(device::submit))
        .route("/device/decision", post(device::decision))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/", get(home::home))
        .route("/assets/logo", get(home::logo))
        .merge(cors)
        .fallback(home::not_found)
}
