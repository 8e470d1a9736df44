//! The loopback redirect receiver (RFC 8252 §7.3, §8.3).
//!
//! Binds the loopback interface only (127.0.0.1, or [::1] when asked), on an
//! ephemeral port unless one is required, accepts exactly one `GET` on the
//! callback path, and shuts down once it has answered it.
//!
//! The browser's request is answered only when the caller says how the
//! login ended ([`Callback::succeed`], [`Callback::fail`]): after it has
//! checked `state` and `iss` (RFC 9207 §2.4), redeemed the code and
//! validated the token response, so that the page never says "signed in"
//! for a login that then fails. The wait is bounded
//! ([`ANSWER_DEADLINE`]); a caller that gives up without answering (or
//! takes too long) leaves the browser a failure page.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::ClientError;

/// How long the browser's request is held open for the caller's verdict:
/// longer than a token request, a JWKS fetch and a keyring write take
/// (each has a deadline of its own), short enough that a stuck login
/// never holds a browser tab forever.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(120);

/// How long an answered page is given to reach the browser before the
/// listener is dropped regardless.
const FLUSH_DEADLINE: Duration = Duration::from_secs(5);

/// Longest technical detail shown on a page (the rest is cut).
const MAX_DETAIL: usize = 600;

/// The page's Content-Security-Policy: no script, no fetches, no frames,
/// only the page's own inline style.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// A page for the browser: how the login ended, in words for the person
/// at the browser, with the technical error secondary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    success: bool,
    title: String,
    message: String,
    detail: Option<String>,
}

impl Page {
    /// The login is complete. `account` is who signed in, when known.
    pub fn success(account: Option<&str>) -> Self {
        Self {
            success: true,
            title: "You are signed in".into(),
            message: match account {
                Some(a) => format!("proofkey is now signed in as {a}."),
                None => "proofkey is now signed in.".into(),
            },
            detail: None,
        }
    }

    /// The login failed with `error`: what it means for the user, and the
    /// error itself under "Technical details".
    pub fn failure(error: &ClientError) -> Self {
        let (title, message) = error.for_end_user();
        Self {
            success: false,
            title: title.into(),
            message: message.into(),
            detail: Some(error.to_string()),
        }
    }

    fn unanswered(why: &str) -> Self {
        Self {
            success: false,
            title: "The sign-in did not report back".into(),
            message: "proofkey did not tell this page how the sign-in ended: it may have stopped, or still be finishing. The terminal says whether you are signed in; if not, run the login again.".into(),
            detail: Some(why.into()),
        }
    }

    /// Whether this page reports a success.
    pub fn is_success(&self) -> bool {
        self.success
    }

    /// The HTML document. Every value is escaped; no script.
    pub fn html(&self) -> String {
        let outcome = if self.success { "success" } else { "failure" };
        let mark = if self.success {
            "<p class=\"badge ok\">Signed in</p>"
        } else {
            "<p class=\"badge fail\">Not signed in</p>"
        };
        let detail = self
            .detail
            .as_deref()
            .map(|d| {
                let cut: String = d.chars().take(MAX_DETAIL).collect();
                format!(
                    "<details><summary>Technical details</summary><p><code>{}</code></p></details>\n",
                    escape(&cut)
                )
            })
            .unwrap_or_default();
        format!(
            "<!doctype html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>{title} · proofkey</title>
<style>{STYLE}</style>
</head>
<body>
<main data-outcome=\"{outcome}\">
<header class=\"brand\"><span>proofkey</span></header>
{mark}
<h1>{title}</h1>
<p>{message}</p>
<p class=\"muted\">You can close this window and return to the terminal.</p>
{detail}</main>
</body>
</html>
",
            title = escape(&self.title),
            message = escape(&self.message),
        )
    }

    fn into_response(self) -> Response {
        let status = if self.success {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (header::REFERRER_POLICY, "no-referrer"),
                (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::X_FRAME_OPTIONS, "DENY"),
                (header::CONNECTION, "close"),
            ],
            self.html(),
        )
            .into_response()
    }
}

/// The server's pages' look: a centred white card on a light grey.
const STYLE: &str = ":root{--primary:#2553d8;--bg:#f4f5f7;--text:#1d2330;--muted:#4f5766}
body{font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",sans-serif;background:var(--bg);color:var(--text);margin:0;display:flex;flex-direction:column;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;border-radius:10px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:2rem 2.25rem;width:100%;max-width:26rem;box-sizing:border-box}
header.brand{margin:0 0 1.25rem;font-weight:600;color:var(--muted)}
h1{font-size:1.3rem;line-height:1.3;margin:0 0 1rem}
.badge{display:inline-block;margin:0 0 .75rem;padding:.15rem .6rem;border-radius:999px;font-size:.85rem;font-weight:600}
.ok{background:#e7f0ff;color:var(--primary)}
.fail{background:#fdecec;color:#8a1c1c}
.muted{color:var(--muted);font-size:.9rem}
details{margin-top:1.25rem;font-size:.85rem;color:var(--muted)}
details code{overflow-wrap:anywhere}
:focus-visible{outline:3px solid var(--primary);outline-offset:2px}
@media (max-width:30rem){body{justify-content:flex-start;background:#fff}main{box-shadow:none;border-radius:0;padding:1.5rem 1.25rem}}";

/// HTML-escapes text for element content and quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the handler hands over: the callback's query parameters and where
/// to send the page.
struct Received {
    params: Vec<(String, String)>,
    reply: oneshot::Sender<Page>,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Received")
            .field("params", &self.params.len())
            .finish_non_exhaustive()
    }
}

type Slot = Arc<Mutex<Option<oneshot::Sender<Received>>>>;

/// A listener waiting for one redirect.
#[derive(Debug)]
pub struct LoopbackReceiver {
    addr: SocketAddr,
    path: String,
    rx: oneshot::Receiver<Received>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// The redirect that arrived, its browser waiting for the page that says
/// how the login ended. Dropped unanswered, the browser gets a failure
/// page. Its `Debug` names the parameters, never their values (the code).
pub struct Callback {
    params: Vec<(String, String)>,
    reply: Option<oneshot::Sender<Page>>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callback")
            .field(
                "params",
                &self
                    .params
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("answered", &self.reply.is_none())
            .finish()
    }
}

impl Callback {
    /// The query parameters of the redirect.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// Tells the browser the login succeeded, as `account` when known.
    pub async fn succeed(self, account: Option<&str>) {
        self.answer(Page::success(account)).await;
    }

    /// Tells the browser the login failed, and why.
    pub async fn fail(self, error: &ClientError) {
        self.answer(Page::failure(error)).await;
    }

    /// Sends `page` and waits (up to a few seconds) until the listener has
    /// delivered it and shut down, so that the process does not end first.
    pub async fn answer(mut self, page: Page) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(page);
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(FLUSH_DEADLINE, server).await;
        }
    }
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
        let mut page = Page::unanswered("a response was already received");
        page.title = "This sign-in response was already received".into();
        page.message =
            "proofkey takes one response per login. Look at the terminal for how it ended.".into();
        return page.into_response();
    };
    let params = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let (reply, verdict) = oneshot::channel();
    let page = if sender.send(Received { params, reply }).is_err() {
        Page::unanswered("proofkey was no longer waiting for the response")
    } else {
        match tokio::time::timeout(ANSWER_DEADLINE, verdict).await {
            Ok(Ok(page)) => page,
            Ok(Err(_)) => Page::unanswered("proofkey ended without finishing the login"),
            Err(_) => Page::unanswered(&format!(
                "proofkey did not finish the login within {} s",
                ANSWER_DEADLINE.as_secs()
            )),
        }
    };
    // One callback per listener: stop accepting, let this answer go out.
    if let Some(stop) = ctx.stop.lock().ok().and_then(|mut s| s.take()) {
        let _ = stop.send(());
    }
    page.into_response()
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
        let server = tokio::spawn(async move {
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
            server: Some(server),
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

    /// Waits for the callback, at most `timeout`. Its browser waits in turn
    /// for the page the returned [`Callback`] is answered with.
    pub async fn wait(mut self, timeout: Duration) -> Result<Callback, ClientError> {
        let result = tokio::time::timeout(timeout, &mut self.rx).await;
        match result {
            Ok(Ok(Received { params, reply })) => Ok(Callback {
                params,
                reply: Some(reply),
                stop: self.stop.take(),
                server: self.server.take(),
            }),
            Ok(Err(_)) => Err(ClientError::Listen {
                addr: self.addr.to_string(),
                reason: "the listener stopped".into(),
            }),
            Err(_) => Err(ClientError::Timeout(timeout)),
        }
    }
}

impl Drop for LoopbackReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_everything_and_carry_their_outcome() {
        let page = Page::success(Some("<b>Eve</b> \"&'"));
        let html = page.html();
        assert!(html.contains("<main data-outcome=\"success\">"), "{html}");
        assert!(
            html.contains("&lt;b&gt;Eve&lt;/b&gt; &quot;&amp;&#39;"),
            "{html}"
        );
        assert!(!html.contains("<b>Eve"));
        assert!(!html.contains("<script"));

        let e = ClientError::Authorization {
            error: "access_denied".into(),
            description: Some("<img src=x onerror=alert(1)>".into()),
        };
        let html = Page::failure(&e).html();
        assert!(html.contains("<main data-outcome=\"failure\">"), "{html}");
        assert!(html.contains("Access was denied"), "{html}");
        assert!(
            html.contains("<details>"),
            "the technical error is secondary"
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }

    #[test]
    fn a_callback_never_shows_its_code() {
        let (reply, _rx) = oneshot::channel();
        let c = Callback {
            params: vec![("code".into(), "s3cret-code".into())],
            reply: Some(reply),
            stop: None,
            server: None,
        };
        let shown = format!("{c:?}");
        assert!(
            shown.contains("code") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn long_details_are_cut() {
        let e = ClientError::Http("x".repeat(10_000));
        let html = Page::failure(&e).html();
        assert!(html.len() < 5_000, "{}", html.len());
    }
}
