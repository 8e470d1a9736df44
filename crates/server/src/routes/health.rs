//! Probes for load balancers and orchestrators.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use proofkey_core::model::Readiness;
use proofkey_core::Provider;

use crate::AppState;

/// `/healthz`: the process is alive and serving HTTP.
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

/// `/readyz`: whether the database can serve, as the store's health probe
/// last found (it asks every second, with a deadline of half a second):
/// answered at once, without waiting for the database, so that an
/// orchestrator's probe never times out. 503 with the reason while the
/// database is unreachable, its writes fail (a full disk, a read-only
/// file), or it does not answer in time; a load balancer then sends
/// traffic elsewhere until it comes back. On this public listener the
/// reason only; the database's own words (hosts, users, files) are for
/// the metrics listener's `/readyz` and the logs.
pub async fn readyz(State(s): State<AppState>) -> Response {
    readiness(&s.provider, false)
}

/// The `/readyz` answer for `provider`'s store, with the detail or not.
pub(crate) fn readiness(provider: &Provider, detail: bool) -> Response {
    let no_store = [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];
    match provider.store().readiness() {
        Readiness::Ready => (StatusCode::OK, no_store, "ready\n".to_owned()).into_response(),
        Readiness::NotReady { reason, detail: d } => {
            let body = if detail && !d.is_empty() {
                format!("not ready: {reason}: {d}\n")
            } else {
                format!("not ready: {reason}\n")
            };
            (StatusCode::SERVICE_UNAVAILABLE, no_store, body).into_response()
        }
    }
}
