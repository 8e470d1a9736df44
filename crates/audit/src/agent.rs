//! How the audit gets authorization codes: a person's browser, or a
//! scripted agent that fills in a plain login form.
//!
//! The browser agent listens on the loopback redirect URI (RFC 8252 §7.3,
//! §8.3: loopback interface only) and chains the audit's requests through
//! one tab: when a redirect arrives, the listener answers it with a redirect
//! to the next authorization request, so the person signs in once and the
//! rest rides on the browser's session. A request the server refuses with
//! its own page breaks the chain; the next request opens the browser again.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::extract::{OriginalUri, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use reqwest::header::LOCATION;
use tokio::sync::{mpsc, oneshot};
use url::Url;

use crate::engine::{is_loopback, is_redirect_to};
use crate::forms::{FormAgent, Landing};
use crate::AuditError;

/// Opens a URL for the person (in a browser, or by printing it); false if
/// it could not.
pub type Opener = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// Obtains authorization responses.
#[derive(Debug)]
pub enum Agent {
    /// Fills in the server's login and consent forms itself.
    Forms(FormAgent),
    /// Sends a person's browser through the requests.
    Browser(BrowserAgent),
}

impl Agent {
    /// Sends the authorization request `url` and returns where it landed:
    /// a redirect to `redirect_uri`, or a page of the server's own.
    pub async fn authorize(
        &mut self,
        url: &Url,
        redirect_uri: &Url,
    ) -> Result<Landing, AuditError> {
        match self {
            Agent::Forms(f) => f
                .walk(url.clone(), |u| is_redirect_to(u, redirect_uri))
                .await
                .map_err(|e| AuditError::Agent(e.to_string())),
            Agent::Browser(b) => b.authorize(url, redirect_uri, true).await,
        }
    }

    /// The same for a request the server may use up on its first load (a
    /// pushed request's `request_uri`, RFC 9126 §4): the browser agent
    /// sends it straight to the browser, without asking first.
    pub async fn authorize_unprobed(
        &mut self,
        url: &Url,
        redirect_uri: &Url,
    ) -> Result<Landing, AuditError> {
        match self {
            Agent::Forms(_) => self.authorize(url, redirect_uri).await,
            Agent::Browser(b) => b.authorize(url, redirect_uri, false).await,
        }
    }

    /// Makes `redirect_uri` usable: the browser agent listens on it (an
    /// ephemeral port when it has none) and returns it with the port.
    pub async fn prepare(&mut self, redirect_uri: &str) -> Result<String, AuditError> {
        match self {
            Agent::Forms(_) => Ok(redirect_uri.to_owned()),
            Agent::Browser(b) => b.listen(redirect_uri, None).await,
        }
    }

    /// `redirect_uri` on another loopback port, ready to receive.
    pub async fn other_port(&mut self, redirect_uri: &str) -> Result<String, AuditError> {
        match self {
            Agent::Forms(_) => {
                let mut u =
                    Url::parse(redirect_uri).map_err(|e| AuditError::Usage(e.to_string()))?;
                let taken = u.port_or_known_default();
                let free = (|| {
                    for _ in 0..8 {
                        let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                            .and_then(|l| l.local_addr())
                            .ok()?
                            .port();
                        if Some(port) != taken {
                            return Some(port);
                        }
                    }
                    None
                })()
                .ok_or_else(|| AuditError::Agent("no free port".into()))?;
                let _ = u.set_port(Some(free));
                Ok(u.to_string())
            }
            Agent::Browser(b) => b.listen(redirect_uri, Some(0)).await,
        }
    }

    /// Ends the browser's chain with a page saying the audit is done.
    pub async fn finish(&mut self) {
        if let Agent::Browser(b) = self {
            b.finish();
        }
    }
}

/// What the listener answers a redirect with.
#[derive(Debug)]
enum Reply {
    /// Send the browser on to the next authorization request.
    Next(String),
    /// The audit is over.
    Done,
}

#[derive(Debug)]
struct Callback {
    url: Url,
    reply: oneshot::Sender<Reply>,
}

/// A person's browser, driven through the loopback redirect.
pub struct BrowserAgent {
    open: Opener,
    /// A request without cookies goes first; only when it cannot decide
    /// (the server wants a sign-in) does the browser get the request.
    probe: reqwest::Client,
    tx: mpsc::Sender<Callback>,
    rx: mpsc::Receiver<Callback>,
    /// The browser tab waiting at the listener for where to go next.
    waiting: Option<oneshot::Sender<Reply>>,
    listeners: HashMap<u16, tokio::task::JoinHandle<()>>,
    first_timeout: Duration,
    step_timeout: Duration,
}

impl std::fmt::Debug for BrowserAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserAgent")
            .field("ports", &self.listeners.keys().collect::<Vec<_>>())
            .field("first_timeout", &self.first_timeout)
            .field("step_timeout", &self.step_timeout)
            .finish_non_exhaustive()
    }
}

impl Drop for BrowserAgent {
    fn drop(&mut self) {
        for (_, l) in self.listeners.drain() {
            l.abort();
        }
    }
}

const DONE_PAGE: &str = "<!doctype html><meta charset=utf-8><title>proofkey audit</title>\
<body style=\"font:16px system-ui,sans-serif;margin:3rem\"><h1>Audit done</h1>\
<p>proofkey audit has what it needs. You can close this window; the report is in the terminal.</p>";

#[derive(Clone)]
struct Ctx {
    base: Url,
    path: String,
    tx: mpsc::Sender<Callback>,
}

async fn receive(State(ctx): State<Ctx>, OriginalUri(uri): OriginalUri) -> Response {
    if uri.path() != ctx.path {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Ok(url) = ctx.base.join(&uri.to_string()) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let (reply, answer) = oneshot::channel();
    if ctx.tx.send(Callback { url, reply }).await.is_err() {
        return page(DONE_PAGE);
    }
    match answer.await {
        Ok(Reply::Next(next)) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, next.as_str()),
                (header::CACHE_CONTROL, "no-store"),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
        )
            .into_response(),
        Ok(Reply::Done) | Err(_) => page(DONE_PAGE),
    }
}

fn page(html: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response()
}

impl BrowserAgent {
    /// A browser agent that shows URLs with `open`. It waits
    /// `first_timeout` for the person after opening a URL (to sign in, or
    /// to open a printed URL), and `step_timeout` for a chained request to
    /// come back before it takes the server to have refused it with a page
    /// of its own.
    pub fn new(
        open: Opener,
        probe: reqwest::Client,
        first_timeout: Duration,
        step_timeout: Duration,
    ) -> BrowserAgent {
        let (tx, rx) = mpsc::channel(8);
        BrowserAgent {
            open,
            probe,
            tx,
            rx,
            waiting: None,
            listeners: HashMap::new(),
            first_timeout,
            step_timeout,
        }
    }

    /// Listens for `redirect_uri` on `port` (its own port if `None`; 0 for
    /// an ephemeral one) and returns the URI with the port bound.
    async fn listen(
        &mut self,
        redirect_uri: &str,
        port: Option<u16>,
    ) -> Result<String, AuditError> {
        let mut uri = Url::parse(redirect_uri)
            .map_err(|e| AuditError::Usage(format!("redirect URI {redirect_uri}: {e}")))?;
        let ip: IpAddr = match uri.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => ip.into(),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ipv6Addr::LOCALHOST.into(),
            _ => {
                return Err(AuditError::Usage(format!(
                    "the browser needs a loopback redirect URI (http://127.0.0.1/PATH or http://[::1]/PATH) to come back to; {redirect_uri} is not one. Use --login with --password-stdin instead."
                )))
            }
        };
        if uri.scheme() != "http" || !is_loopback(&uri) {
            return Err(AuditError::Usage(format!(
                "{redirect_uri}: a loopback redirect URI is plain http (RFC 8252 §7.3)"
            )));
        }
        let port = port.unwrap_or_else(|| uri.port().unwrap_or(0));
        if port != 0 && self.listeners.contains_key(&port) {
            return Ok(uri.to_string());
        }
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, port))
            .await
            .map_err(|e| AuditError::Agent(format!("cannot listen on {ip} port {port}: {e}")))?;
        let bound = listener
            .local_addr()
            .map_err(|e| AuditError::Agent(e.to_string()))?
            .port();
        let _ = uri.set_port(Some(bound));
        let mut base = uri.clone();
        base.set_path("/");
        base.set_query(None);
        let ctx = Ctx {
            base,
            path: uri.path().to_owned(),
            tx: self.tx.clone(),
        };
        let app = axum::Router::new().fallback(receive).with_state(ctx);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        self.listeners.insert(bound, task);
        Ok(uri.to_string())
    }

    async fn authorize(
        &mut self,
        url: &Url,
        redirect_uri: &Url,
        probe: bool,
    ) -> Result<Landing, AuditError> {
        if probe {
            if let Some(decided) = self.probe(url, redirect_uri).await? {
                return Ok(decided);
            }
        }
        let port = redirect_uri.port().unwrap_or(0);
        if !self.listeners.contains_key(&port) {
            self.listen(redirect_uri.as_str(), Some(port)).await?;
        }
        let chained = self
            .waiting
            .take()
            .is_some_and(|tab| tab.send(Reply::Next(url.to_string())).is_ok());
        if !chained && !(self.open)(url.as_str()) {
            return Err(AuditError::Agent(
                "could not open a browser; use --no-browser or --login".into(),
            ));
        }
        // A person has to act on a URL we opened; a chained redirect only
        // needs the browser to follow it.
        let timeout = if chained {
            self.step_timeout
        } else {
            self.first_timeout
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(cb)) if is_redirect_to(&cb.url, redirect_uri) => {
                    self.waiting = Some(cb.reply);
                    return Ok(Landing::Redirect(cb.url));
                }
                // A late answer to an earlier request: let that tab rest.
                Ok(Some(cb)) => {
                    let _ = cb.reply.send(Reply::Done);
                }
                Ok(None) => return Err(AuditError::Agent("the loopback listener stopped".into())),
                Err(_) => {
                    return Ok(Landing::Page {
                        url: url.to_string(),
                        status: 0,
                        text: format!("no redirect came back within {}s", timeout.as_secs()),
                    })
                }
            }
        }
    }

    /// Asks without cookies first. A redirect to the client or an error
    /// status decides the request without the person; anything else (a
    /// login page, a redirect to one) needs the browser.
    async fn probe(&self, url: &Url, redirect_uri: &Url) -> Result<Option<Landing>, AuditError> {
        let resp = self
            .probe
            .get(url.clone())
            .send()
            .await
            .map_err(|e| AuditError::Http(format!("{url}: {e}")))?;
        let status = resp.status();
        if status.is_redirection() {
            let to = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok());
            return Ok(to
                .filter(|to| is_redirect_to(to, redirect_uri))
                .map(Landing::Redirect));
        }
        if status.is_client_error() || status.is_server_error() {
            let text = resp.text().await.unwrap_or_default();
            return Ok(Some(Landing::Page {
                url: url.to_string(),
                status: status.as_u16(),
                text: crate::forms::page_text(&text),
            }));
        }
        Ok(None)
    }

    fn finish(&mut self) {
        if let Some(tab) = self.waiting.take() {
            let _ = tab.send(Reply::Done);
        }
    }
}
