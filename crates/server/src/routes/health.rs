//! Probes for load balancers and orchestrators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::AppState;

/// `/healthz`: the process is alive and serving HTTP.
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

/// `/readyz`: the database answers; 503 otherwise, so that a load balancer
/// sends traffic elsewhere until it comes back.
pub async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    match s.provider.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
        }
    }
}
