//! The loopback redirect receiver (RFC 8252 §7.3, §8.3).
//!
//! Binds the loopback interface only (127.0.0.1, or [::1] when asked), on an
//! ephemeral port unless one is required, accepts exactly one `GET` on the
//! callback path, answers the browser with a short page, and shuts down.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

use crate::ClientError;

const DONE_PAGE: &str = "<!doctype html><meta charset=utf-8><title>proofkey</title>\
<body style=\"font:16px system-ui,sans-serif;margin:3rem\"><h1>Done</h1>\
<p>proofkey received the response. You can close this window and return to the terminal.</p>";

type Slot = Arc<Mutex<Option<oneshot::Sender<Vec<(String, String)>>>>>;

/// A listener waiting for one redirect.
#[derive(Debug)]
pub struct LoopbackReceiver {
    addr: SocketAddr,
    path: String,
    rx: oneshot::Receiver<Vec<(String, String)>>,
    stop: Option<oneshot::Sender<()>>,
}

#[derive(Clone)]
struct Ctx {
    path: String,
    slot: Slot,
    stop: Arc<Mutex<Option<oneshot::Sender<()>>>>,
}

async fn handle(
    State(ctx): State<Ctx>,
    method: Method,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Response {
    if uri.path() != ctx.path {
        return StatusCode::NOT_FOUND.into_response();
    }
    if method != Method::GET {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let sender = ctx.slot.lock().ok().and_then(|mut s| s.take());
    let Some(sender) = sender else {
        return (StatusCode::BAD_REQUEST, "a response was already received").into_response();
    };
    let params = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let _ = sender.send(params);
    if let Some(stop) = ctx.stop.lock().ok().and_then(|mut s| s.take()) {
        let _ = stop.send(());
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        DONE_PAGE,
    )
        .into_response()
}

impl LoopbackReceiver {
    /// Listens on the loopback interface: `port` 0 picks an ephemeral one.
    pub async fn bind(ipv6: bool, port: u16, path: &str) -> Result<Self, ClientError> {
        let ip: IpAddr = if ipv6 {
            Ipv6Addr::LOCALHOST.into()
        } else {
            Ipv4Addr::LOCALHOST.into()
        };
        let listener = tokio::net::TcpListener::bind((ip, port))
            .await
            .map_err(|e| ClientError::Listen {
                addr: format!("{ip}:{port}"),
                reason: e.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|e| ClientError::Listen {
            addr: format!("{ip}:{port}"),
            reason: e.to_string(),
        })?;
        let (tx, rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let ctx = Ctx {
            path: path.to_owned(),
            slot: Arc::new(Mutex::new(Some(tx))),
            stop: Arc::new(Mutex::new(Some(stop_tx))),
        };
        let (outer_stop, outer_rx) = oneshot::channel::<()>();
        let app = axum::Router::new().fallback(handle).with_state(ctx);
        tokio::spawn(async move {
            let stop = async move {
                tokio::select! {
                    _ = stop_rx => {}
                    _ = outer_rx => {}
                }
            };
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await;
        });
        Ok(Self {
            addr,
            path: path.to_owned(),
            rx,
            stop: Some(outer_stop),
        })
    }

    /// Binds what a fixed `--redirect-uri` names: an http loopback URL.
    pub async fn bind_uri(redirect_uri: &str) -> Result<Self, ClientError> {
        let url = url::Url::parse(redirect_uri).map_err(|e| ClientError::Listen {
            addr: redirect_uri.to_owned(),
            reason: e.to_string(),
        })?;
        let ipv6 = match url.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => false,
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => true,
            Some(url::Host::Domain("localhost")) => false,
            _ => {
                return Err(ClientError::Listen {
                    addr: redirect_uri.to_owned(),
                    reason: "a loopback redirect URI is http://127.0.0.1:PORT/PATH or http://[::1]:PORT/PATH".into(),
                })
            }
        };
        if url.scheme() != "http" {
            return Err(ClientError::Listen {
                addr: redirect_uri.to_owned(),
                reason: "loopback redirects are plain http (RFC 8252 §7.3)".into(),
            });
        }
        Self::bind(ipv6, url.port().unwrap_or(80), url.path()).await
    }

    /// The address listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The redirect URI to register the request with.
    pub fn redirect_uri(&self) -> String {
        match self.addr.ip() {
            IpAddr::V6(_) => format!("http://[::1]:{}{}", self.addr.port(), self.path),
            IpAddr::V4(_) => format!("http://127.0.0.1:{}{}", self.addr.port(), self.path),
        }
    }

    /// Waits for the callback's query parameters, at most `timeout`.
    pub async fn wait(mut self, timeout: Duration) -> Result<Vec<(String, String)>, ClientError> {
        let result = tokio::time::timeout(timeout, &mut self.rx).await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match result {
            Ok(Ok(params)) => Ok(params),
            Ok(Err(_)) => Err(ClientError::Listen {
                addr: self.addr.to_string(),
                reason: "the listener stopped".into(),
            }),
            Err(_) => Err(ClientError::Timeout(timeout)),
        }
    }
}
