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
/// file), or the probe gets no answer in time; a load balancer then sends
/// traffic elsewhere until it comes back.
pub async fn readyz(State(s): State<AppState>) -> Response {
    readiness(&s.provider)
}

/// The `/readyz` answer for `provider`'s store.
pub(crate) fn readiness(provider: &Provider) -> Response {
    let no_store = [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];
    match provider.store().readiness() {
        Readiness::Ready => (StatusCode::OK, no_store, "ready\n".to_owned()).into_response(),
        Readiness::NotReady(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            no_store,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}
