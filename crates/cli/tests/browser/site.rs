//! A small static HTTP server on `127.0.0.1:0`: another origin than the
//! authorization server's, for the example SPA, for the pages a client is
//! redirected to, and for fixture pages.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// What the site serves.
#[derive(Debug, Default)]
pub struct SiteBuilder {
    root: Option<PathBuf>,
    pages: HashMap<String, String>,
    csp: Option<String>,
}

impl SiteBuilder {
    /// Serves the files under `root` (`/` is `/index.html`).
    pub fn root(mut self, root: &Path) -> Self {
        self.root = Some(root.to_owned());
        self
    }

    /// Serves `body` at `path`, in place of any file there.
    pub fn page(mut self, path: &str, body: &str) -> Self {
        self.pages.insert(path.to_owned(), body.to_owned());
        self
    }

    /// Sends this `Content-Security-Policy` header with every response.
    pub fn csp(mut self, policy: &str) -> Self {
        self.csp = Some(policy.to_owned());
        self
    }

    /// Starts serving, on a thread of its own until the site is dropped.
    pub fn start(self) -> Site {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = Arc::new(self);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(serve).with_state(state);
                tokio::select! {
                    r = axum::serve(listener, app) => r.unwrap(),
                    _ = stopped => {}
                }
            });
        });
        Site {
            origin,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

/// A running site; stops when dropped.
#[derive(Debug)]
pub struct Site {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Site {
    pub fn builder() -> SiteBuilder {
        SiteBuilder::default()
    }

    /// The absolute URL of `path` on this site.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or_default();
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        // A page without an extension (`/cb`) is HTML too.
        None | Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        _ => "application/octet-stream",
    }
}

async fn serve(State(site): State<Arc<SiteBuilder>>, uri: Uri) -> Response {
    let path = match uri.path() {
        "/" => "/index.html",
        p => p,
    };
    let body = if let Some(page) = site.pages.get(path) {
        Some(page.clone().into_bytes())
    } else if path.split('/').any(|s| s == ".." || s.contains('\\')) {
        None
    } else {
        site.root
            .as_ref()
            .and_then(|root| std::fs::read(root.join(path.trim_start_matches('/'))).ok())
    };
    let mut resp = match body {
        Some(b) => ([(header::CONTENT_TYPE, content_type(path))], b).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    };
    if let Some(csp) = site.csp.as_deref().and_then(|c| c.parse().ok()) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}
