//! CORS (Fetch standard) for browser apps: the token, revocation, userinfo,
//! JWKS, discovery and registration endpoints answer the origins of public
//! clients' registered redirect URIs (a loopback one on any port). The
//! public documents (discovery, JWKS) and the registration endpoint also
//! answer any loopback origin (`http://localhost:PORT`, `http://127.0.0.1:PORT`,
//! `http://[::1]:PORT`): a browser-based tool (an MCP inspector, say) reads
//! them before it has registered. No credentials (cookies) are ever
//! allowed cross-origin.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// The middleware.
pub async fn cors(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let public = {
        let path = req.uri().path();
        path.starts_with("/.well-known/")
            || path == proofkey_core::discovery::paths::JWKS
            || path == proofkey_core::discovery::paths::REGISTER
    };
    let allowed = match &origin {
        Some(o)
            if public && proofkey_core::redirect_uri::loopback_origin_without_port(o).is_some() =>
        {
            true
        }
        Some(o) => match s.provider.clients().cors_allowed(o).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "CORS origin lookup failed");
                false
            }
        },
        None => false,
    };
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = if preflight {
        if allowed {
            let mut r = StatusCode::NO_CONTENT.into_response();
            let h = r.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, DELETE"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type, dpop"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            r
        } else {
            StatusCode::FORBIDDEN.into_response()
        }
    } else {
        let mut r = next.run(req).await;
        if allowed {
            r.headers_mut().insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("www-authenticate, dpop-nonce"),
            );
        }
        r
    };
    if let (true, Some(o)) = (allowed, origin.and_then(|o| HeaderValue::from_str(&o).ok())) {
        resp.headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
    }
    resp.headers_mut()
        .append(header::VARY, HeaderValue::from_static("origin"));
    resp
}
