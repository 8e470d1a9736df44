//! Prometheus metrics: the recorder, the HTTP middleware that counts and
//! times every request, and the metrics listener's router (`/metrics`,
//! `/healthz`, `/readyz`), served on an address of its own so that it is
//! not public (docs/operations.md lists every metric).
//!
//! The metrics are recorded through the `metrics` facade wherever they
//! happen (core, store, here); without an installed recorder (in-process
//! tests, the library) they cost a branch and record nothing.
//!
//! **Invariant:** every label has a bounded set of values: routes as
//! registered (`other` for any unknown path), statuses, registered OAuth
//! error codes, fixed outcome names. Nothing a client sends becomes a
//! label value as sent.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use proofkey_core::model::Readiness;
use proofkey_core::{ErrorCode, Provider};
use tower::{Layer, Service};

/// What kind of metric: how it is described to the exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets.
    Histogram,
}

/// Every metric proofkey records itself: name, kind, help text.
/// docs/operations.md lists each (a test checks it does).
pub const METRICS: &[(&str, Kind, &str)] = &[
    (
        "proofkey_build_info",
        Kind::Gauge,
        "1, labelled with the version",
    ),
    (
        "proofkey_http_requests_total",
        Kind::Counter,
        "HTTP requests answered, by route and status",
    ),
    (
        "proofkey_http_request_duration_seconds",
        Kind::Histogram,
        "Time to answer an HTTP request, by route and status",
    ),
    (
        "proofkey_tokens_issued_total",
        Kind::Counter,
        "Token responses issued, by grant type",
    ),
    (
        "proofkey_oauth_errors_total",
        Kind::Counter,
        "OAuth error responses, by route and error code",
    ),
    (
        "proofkey_logins_total",
        Kind::Counter,
        "Sign-in attempts, by outcome: success, failure, locked, unavailable",
    ),
    (
        "proofkey_login_lockouts_total",
        Kind::Counter,
        "Locks started after too many wrong passwords, by scope: account, address",
    ),
    (
        "proofkey_refresh_token_reuse_total",
        Kind::Counter,
        "Rotated refresh tokens presented again (their grant revoked)",
    ),
    (
        "proofkey_code_replay_total",
        Kind::Counter,
        "Used authorization codes presented again (their grant revoked)",
    ),
    (
        "proofkey_password_hash_in_progress",
        Kind::Gauge,
        "Password checks running",
    ),
    (
        "proofkey_password_hash_waiting",
        Kind::Gauge,
        "Password checks waiting for a slot",
    ),
    (
        "proofkey_password_hash_duration_seconds",
        Kind::Histogram,
        "Time of one password check (argon2id)",
    ),
    (
        "proofkey_password_hash_rejected_total",
        Kind::Counter,
        "Password checks turned away: no slot came free in time",
    ),
    (
        "proofkey_store_operation_duration_seconds",
        Kind::Histogram,
        "Time of a store operation, by backend and mode",
    ),
    (
        "proofkey_store_errors_total",
        Kind::Counter,
        "Failed store operations, by backend and kind: unavailable, refused, conflict, backend",
    ),
    (
        "proofkey_database_up",
        Kind::Gauge,
        "1 when the health probe last reached the database",
    ),
    (
        "proofkey_database_writes_failing",
        Kind::Gauge,
        "1 while database writes fail (SQLite: disk full, read-only, I/O error)",
    ),
    ("proofkey_ready", Kind::Gauge, "1 when /readyz says ready"),
    (
        "proofkey_sqlite_batch_size",
        Kind::Histogram,
        "SQLite: operations committed together (group commit)",
    ),
    (
        "proofkey_sqlite_queue_depth",
        Kind::Gauge,
        "SQLite: operations waiting for the engine, at the last batch",
    ),
    (
        "proofkey_sqlite_commit_duration_seconds",
        Kind::Histogram,
        "SQLite: time to run and commit one batch",
    ),
    (
        "proofkey_sqlite_checkpoints_total",
        Kind::Counter,
        "SQLite: write-ahead log checkpoints, by outcome: ok, incomplete, failed",
    ),
    (
        "proofkey_sqlite_wal_bytes",
        Kind::Gauge,
        "SQLite: size of the write-ahead log file",
    ),
    (
        "proofkey_sqlite_disk_free_bytes",
        Kind::Gauge,
        "SQLite: free space of the database's file system",
    ),
    (
        "proofkey_sqlite_disk_total_bytes",
        Kind::Gauge,
        "SQLite: size of the database's file system",
    ),
    (
        "proofkey_postgres_pool_connections",
        Kind::Gauge,
        "PostgreSQL: pool connections, by state: idle, in_use",
    ),
    (
        "proofkey_signing_key_age_seconds",
        Kind::Gauge,
        "How long each algorithm's signing key has been signing",
    ),
];

/// Histogram buckets for durations, in seconds: 0.5 ms to 10 s.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets for the group commit's batch sizes (at most 256).
const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The installed recorder and what renders it.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
    process: Arc<metrics_process::Collector>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Could not install the metrics recorder.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the metrics recorder: {0}")]
pub struct MetricsError(String);

impl Metrics {
    /// Installs the process's recorder (once per process) and describes
    /// every metric.
    pub fn install() -> Result<Self, MetricsError> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full("proofkey_sqlite_batch_size".into()), BATCH)
            })
            .map_err(|e| MetricsError(e.to_string()))?
            .install_recorder()
            .map_err(|e| MetricsError(e.to_string()))?;
        for (name, kind, help) in METRICS {
            match kind {
                Kind::Counter => metrics::describe_counter!(*name, *help),
                Kind::Gauge => metrics::describe_gauge!(*name, *help),
                Kind::Histogram => metrics::describe_histogram!(*name, *help),
            }
        }
        metrics::gauge!("proofkey_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        let process = metrics_process::Collector::default();
        process.describe();
        Ok(Self {
            handle,
            process: Arc::new(process),
        })
    }

    /// The text a scrape gets (Prometheus exposition format 0.0.4).
    fn render(&self, provider: &Provider) -> String {
        self.process.collect();
        let ready = provider.store().readiness() == Readiness::Ready;
        metrics::gauge!("proofkey_ready").set(if ready { 1.0 } else { 0.0 });
        for (alg, age) in provider.keys().current().signer_ages(provider.now()) {
            metrics::gauge!("proofkey_signing_key_age_seconds", "alg" => alg).set(age as f64);
        }
        self.handle.render()
    }

    /// Folds the histograms' samples into their buckets (`serve_metrics`
    /// runs it five times a second).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// The metrics listener's routes: `/metrics`, and the probes again, so
/// that an orchestrator may use the private address for both.
pub fn metrics_router(provider: Arc<Provider>, metrics: Metrics) -> Router {
    let state = (provider, metrics);
    Router::new()
        .route(
            "/metrics",
            get(
                |State((p, m)): State<(Arc<Provider>, Metrics)>| async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                        )],
                        m.render(&p),
                    )
                },
            ),
        )
        .route("/healthz", get(crate::routes::health::healthz))
        .route(
            "/readyz",
            get(
                |State((p, _)): State<(Arc<Provider>, Metrics)>| async move {
                    crate::routes::health::readiness(&p, true)
                },
            ),
        )
        .with_state(state)
}

/// Counts and times every request (`proofkey_http_*`), counts OAuth errors
/// (`proofkey_oauth_errors_total`: from the error responses' [`ErrorLabel`],
/// or the `error` of an authorization response redirect), and gives every
/// 503 a `Retry-After` (RFC 9110 §10.2.3): 5 s while the database is known
/// to be down, 1 s otherwise (an overload). A layer of its own rather than
/// axum's `from_fn`, which clones and boxes the route's service and boxes
/// the future on every request (a few per cent of introspection's
/// throughput, docs/performance.md).
#[derive(Debug, Clone)]
pub(crate) struct TrackLayer {
    provider: Arc<Provider>,
}

impl TrackLayer {
    pub(crate) fn new(provider: Arc<Provider>) -> Self {
        Self { provider }
    }
}

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track {
            inner,
            provider: Arc::clone(&self.provider),
        }
    }
}

/// [`TrackLayer`]'s service.
#[derive(Debug, Clone)]
pub(crate) struct Track<S> {
    inner: S,
    provider: Arc<Provider>,
}

impl<S> Service<Request> for Track<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let route_str = route.as_ref().map_or("other", MatchedPath::as_str);
        // One span per request, at DEBUG (exported when tracing export is
        // on, docs/operations.md): the method and route as registered,
        // never the path or query as sent (codes, states), nor bodies.
        let span = tracing::debug_span!(
            target: "proofkey_server::request",
            "HTTP request",
            otel.name = %format_args!("{} {route_str}", request.method()),
            http.request.method = %request.method(),
            http.route = %route_str,
            http.response.status_code = tracing::field::Empty,
        );
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        TrackFuture {
            inner,
            started,
            route,
            span,
            provider: Arc::clone(&self.provider),
        }
    }
}

pin_project_lite::pin_project! {
    /// [`Track`]'s future: the route's, then the counting.
    pub(crate) struct TrackFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        route: Option<MatchedPath>,
        span: tracing::Span,
        provider: Arc<Provider>,
    }
}

impl<F, E> Future for TrackFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = {
            let _entered = this.span.enter();
            this.inner.poll(cx)
        };
        let Poll::Ready(Ok(mut response)) = polled else {
            return polled;
        };
        let route = this.route.as_ref().map_or("other", MatchedPath::as_str);
        let status = response.status();
        this.span
            .record("http.response.status_code", i64::from(status.as_u16()));
        if status == StatusCode::SERVICE_UNAVAILABLE
            && !response.headers().contains_key(header::RETRY_AFTER)
        {
            let seconds: u32 = match this.provider.store().readiness() {
                Readiness::Ready => 1,
                Readiness::NotReady { .. } => 5,
            };
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        let error = response
            .extensions()
            .get::<ErrorLabel>()
            .map(|e| e.0)
            .or_else(|| redirected_error(&response));
        if let Some(code) = error {
            metrics::counter!("proofkey_oauth_errors_total", "endpoint" => route.to_owned(), "error" => code)
                .increment(1);
        }
        let elapsed = this.started.elapsed();
        HTTP.with(route, status.as_u16(), |requests, duration| {
            duration.record(elapsed);
            requests.increment(1);
        });
        Poll::Ready(Ok(response))
    }
}

/// The request counter and duration histogram of each route and status,
/// made once: a metric's lookup by name and labels allocates and hashes,
/// which on every request cost a fifth of introspection's throughput
/// (docs/performance.md).
struct HttpHandles {
    by_route: RwLock<HashMap<Box<str>, Vec<ByStatus>>>,
}

/// A status's request counter and duration histogram.
type ByStatus = (u16, Counter, Histogram);

static HTTP: LazyLock<HttpHandles> = LazyLock::new(|| HttpHandles {
    by_route: RwLock::new(HashMap::new()),
});

impl HttpHandles {
    /// Runs `record` with the handles of `route` and `status`, made on
    /// their first use (under the read lock after that: no clone).
    fn with(&self, route: &str, status: u16, record: impl FnOnce(&Counter, &Histogram)) {
        {
            let by_route = self.by_route.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, c, h)) = by_route
                .get(route)
                .and_then(|v| v.iter().find(|(s, _, _)| *s == status))
            {
                return record(c, h);
            }
        }
        let labels = [
            ("endpoint", route.to_owned()),
            ("status", status.to_string()),
        ];
        let counter = metrics::counter!("proofkey_http_requests_total", &labels);
        let histogram = metrics::histogram!("proofkey_http_request_duration_seconds", &labels);
        record(&counter, &histogram);
        let mut by_route = self
            .by_route
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let statuses = by_route.entry(route.into()).or_default();
        if !statuses.iter().any(|(s, _, _)| *s == status) {
            statuses.push((status, counter, histogram));
        }
    }
}

/// The OAuth error code of an error response, set by the functions that
/// make them (`responses.rs`, `dpop.rs`) for [`track`] to count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorLabel(pub(crate) &'static str);

/// Marks `response` as the OAuth error `code`.
pub(crate) fn label_error(mut response: Response, code: ErrorCode) -> Response {
    response.extensions_mut().insert(ErrorLabel(code.as_str()));
    response
}

/// The `error` of a redirect to a client (RFC 6749 §4.1.2.1), if it is a
/// registered code (anything else counts as `other`).
fn redirected_error(response: &Response) -> Option<&'static str> {
    if !response.status().is_redirection() {
        return None;
    }
    let location = response.headers().get(header::LOCATION)?.to_str().ok()?;
    let query = location.split_once('?')?.1;
    let value = form_urlencoded::parse(query.split('#').next()?.as_bytes())
        .find(|(k, _)| k == "error")?
        .1;
    Some(
        ErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .find(|c| *c == value)
            .unwrap_or("other"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/operations.md lists every metric, and the example dashboard
    /// draws every one but the build's.
    #[test]
    fn every_metric_is_documented_and_drawn() {
        let doc = include_str!("../../../docs/operations.md");
        let dashboard = include_str!("../../../docs/grafana-dashboard.json");
        for (name, _, _) in METRICS {
            assert!(
                doc.contains(&format!("`{name}`")),
                "{name} is not in docs/operations.md"
            );
            if *name != "proofkey_build_info" {
                assert!(dashboard.contains(name), "{name} is not on the dashboard");
            }
        }
    }

    /// Only registered codes become label values.
    #[test]
    fn a_redirect_error_is_a_registered_code_or_other() {
        let redirect = |location: &str| {
            Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header(header::LOCATION, location)
                .body(axum::body::Body::empty())
                .unwrap_or_default()
        };
        assert_eq!(
            redirected_error(&redirect("https://app/cb?error=access_denied&state=x")),
            Some("access_denied")
        );
        assert_eq!(
            redirected_error(&redirect("https://app/cb?error=%3Cscript%3E")),
            Some("other")
        );
        assert_eq!(redirected_error(&redirect("https://app/cb?code=abc")), None);
        assert_eq!(redirected_error(&redirect("/login")), None);
    }
}
