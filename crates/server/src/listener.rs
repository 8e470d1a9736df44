//! The accept loop: every connection bounded in time and in number, and a
//! shutdown that ends by a deadline.
//!
//! A hostile or broken client can hold a connection without sending
//! anything useful: half a request header, an idle keep-alive, a body
//! dripped a byte at a time. Measured before this loop existed: 1,100 such
//! sockets made a node with the common 1,024 open-file limit unreachable,
//! and one socket with half a header kept `SIGTERM` from ending the process
//! for over 50 s. So:
//!
//! * a connection has `header_read_timeout` to send a request's headers,
//!   and the same to send the next one after a response (hyper's header
//!   timer also runs while a kept-alive connection waits), then is closed;
//! * a request has `request_timeout`, its body included, then is answered
//!   408 (RFC 9110 §15.5.9);
//! * at most `max_connections` are open; further clients wait in the
//!   kernel's listen backlog, so no accepted socket is left unserved, and
//!   the open-file limit is raised to its hard limit at start;
//! * on shutdown the listener closes, requests in flight may finish within
//!   `shutdown_timeout`, and whatever is still open then is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// Connections at most when the setting is 0 and the open-file limit
/// allows it.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 4096;
/// Open files kept for everything but client connections: the database
/// (a file and its log, or a pool of PostgreSQL connections), outgoing
/// JWKS fetches, logs.
const RESERVED_FILES: u64 = 128;

/// The limits of one server, from its configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Headers, and idle keep-alive, per connection.
    pub header_read_timeout: Duration,
    /// Per request, body included.
    pub request_timeout: Duration,
    /// Open connections at most (0: decided from the open-file limit).
    pub max_connections: u32,
    /// Requests in flight at shutdown may take this long.
    pub shutdown_timeout: Duration,
    /// Networks whose forwarding headers are believed.
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
}

impl Limits {
    /// The configuration's limits.
    pub fn of(c: &proofkey_core::Config) -> Self {
        Self {
            header_read_timeout: c.header_read_timeout,
            request_timeout: c.request_timeout,
            max_connections: c.max_connections,
            shutdown_timeout: c.shutdown_timeout,
            trusted_proxies: c.trusted_proxies.clone().into(),
        }
    }
}

/// Raises the open-file limit to the hard limit, and returns how many
/// connections fit: `wanted` (0: [`DEFAULT_MAX_CONNECTIONS`]), lowered to
/// what the limit leaves beside [`RESERVED_FILES`], with a warning if so.
pub fn connection_budget(wanted: u32) -> u32 {
    let files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    };
    let room = u32::try_from(files.saturating_sub(RESERVED_FILES).max(16)).unwrap_or(u32::MAX);
    let wanted_or_default = if wanted == 0 {
        DEFAULT_MAX_CONNECTIONS
    } else {
        wanted
    };
    if wanted_or_default > room {
        if wanted != 0 {
            tracing::warn!(
                max_connections = wanted,
                open_files = files,
                allowed = room,
                "max_connections lowered to what the open-file limit allows"
            );
        }
        room
    } else {
        wanted_or_default
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = connection_budget(limits.max_connections);
    tracing::debug!(max_connections = max, "connection limit");
    let app = app
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        // A request cut short here never finished inside the router's
        // counting middleware (`observe.rs`): counted here, its route
        // unknown at this level.
        .layer(tower::util::MapResponseLayer::new(
            |r: axum::response::Response| {
                if r.status() == axum::http::StatusCode::REQUEST_TIMEOUT {
                    metrics::counter!("proofkey_http_requests_total", "endpoint" => "other", "status" => "408")
                        .increment(1);
                }
                r
            },
        ));
    let slots = Arc::new(Semaphore::new(max as usize));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of files, or an aborted handshake: try again
                    // shortly rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let trusted = Arc::clone(&limits.trusted_proxies);
        let service = app.clone().map_request(move |mut req: Request<Incoming>| {
            // The client's address keys the limiters and the security log:
            // the peer, or what a trusted proxy says it is.
            let ip = crate::client_addr::client_ip(peer.ip(), req.headers(), &trusted);
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::new(ip, peer.port())));
            req
        });
        let connection = graceful
            .watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_timeout) => {
            tracing::warn!(
                open = max as usize - slots.available_permits(),
                "connections still open after shutdown_timeout: closing them"
            );
        }
    }
    Ok(())
}
