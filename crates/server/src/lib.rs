//! proofkey's HTTP layer: extract, call [`proofkey_core::Provider`], respond.
//!
//! **Invariant:** no protocol decision is made here; handlers translate HTTP
//! to core calls and core results to HTTP (status, headers, pages).

mod client_addr;
mod cookies;
mod cors;
mod dpop;
mod housekeeping;
mod jwks_fetch;
mod listener;
mod metadata_fetch;
mod observe;
mod pages;
mod params;
mod responses;
mod routes;

use std::future::Future;
use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::Router;
use proofkey_core::Provider;
use tower_http::set_header::SetResponseHeaderLayer;

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    provider: Arc<Provider>,
    pages: Arc<pages::Pages>,
}

/// The router, for in-process use and for [`serve`]. Its pages are the
/// configured ones ([`check_pages`] tells at start whether they load); if
/// they do not, the built-in ones, with an error logged.
pub fn app(provider: Arc<Provider>) -> Router {
    let pages = match pages::Pages::load(&provider.config().ui) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "the configured pages do not load; serving the built-in ones");
            pages::Pages::built_in()
        }
    };
    let state = AppState {
        provider,
        pages: Arc::new(pages),
    };
    routes::router(state.clone())
        .layer(observe::TrackLayer::new(Arc::clone(&state.provider)))
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(params::MAX_BODY))
        // RFC 9700 §4.16 (clickjacking) and §4.2.4 (referrer leaks) on every
        // response; pages add CSP and no-store themselves.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        // Request spans at DEBUG (RUST_LOG=tower_http=debug); paths and
        // statuses only, never bodies (they carry codes and secrets).
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

pub use pages::PagesError;

/// Loads and renders the configured templates, messages and logo once:
/// `serve` calls it before it listens, so that a broken template or
/// translation stops the server with a clear error instead of failing a
/// user's sign-in.
pub fn check_pages(ui: &proofkey_core::config::UiConfig) -> Result<(), PagesError> {
    pages::Pages::load(ui).map(|_| ())
}

pub use housekeeping::{key_reloader, sweeper, KEY_RELOAD_INTERVAL};
pub use jwks_fetch::HttpJwksFetcher;
pub use metadata_fetch::{outbound_roots, HttpMetadataFetcher};

pub use listener::{connection_budget, Limits, DEFAULT_MAX_CONNECTIONS};
pub use observe::{metrics_router, Kind as MetricKind, Metrics, MetricsError, METRICS};

/// How often the metrics' histograms are folded into their buckets.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// Connections at most on the metrics listener.
pub const METRICS_MAX_CONNECTIONS: u32 = 32;

/// Serves the metrics listener (`/metrics`, `/healthz`, `/readyz`), with
/// the main listener's timeouts but at most [`METRICS_MAX_CONNECTIONS`]
/// connections, until `shutdown`.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    provider: Arc<Provider>,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Its own small budget: whoever can reach this address must not take
    // the connections (and files) the main listener needs.
    let config = provider.config();
    let limits = Limits {
        max_connections: METRICS_MAX_CONNECTIONS,
        request_timeout: config
            .request_timeout
            .min(std::time::Duration::from_secs(10)),
        header_read_timeout: config.header_read_timeout,
        shutdown_timeout: std::time::Duration::from_secs(1),
        trusted_proxies: Arc::from([]),
    };
    let upkeep = metrics.clone();
    let task = tokio::spawn(async move {
        // The exporter keeps every histogram sample, in blocks, until its
        // upkeep folds them into buckets. Every 5 s, the blocks of tens of
        // thousands of samples were allocated and freed in bulk, and the
        // allocator's churn (and fresh pages) cost introspection a fifth of
        // its throughput; every 200 ms they are few and reused
        // (docs/performance.md).
        let mut every = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            every.tick().await;
            upkeep.upkeep();
        }
    });
    let served = listener::serve(
        listener,
        metrics_router(provider, metrics),
        limits,
        shutdown,
    )
    .await;
    task.abort();
    served
}

/// Serves until `shutdown` completes, then lets requests in flight finish
/// within the configured `shutdown_timeout` (see `listener.rs` for every
/// bound on connections).
pub async fn serve(
    listener: tokio::net::TcpListener,
    provider: Arc<Provider>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Limits::of(provider.config());
    listener::serve(listener, app(provider), limits, shutdown).await
}
