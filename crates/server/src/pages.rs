//! Server-rendered HTML pages: no JavaScript, escaped by minijinja.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;

/// Every template, compiled into the binary.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../templates/layout.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("consent.html", include_str!("../templates/consent.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("message.html", include_str!("../templates/message.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    ("device.html", include_str!("../templates/device.html")),
];

/// The page templates.
#[derive(Debug)]
pub struct Pages {
    env: Environment<'static>,
}

/// Headers of every page: never cached, never framed, no referrer, and a
/// content security policy that allows only the inline stylesheet.
pub fn page_headers() -> [(header::HeaderName, HeaderValue); 3] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
            ),
        ),
        (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
    ]
}

impl Pages {
    /// Loads the templates compiled into the binary.
    pub fn new() -> Self {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        Self { env }
    }

    /// Renders `name` with `ctx` as a response with `status`.
    pub fn render(&self, status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => (status, page_headers(), html).into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "template failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    page_headers(),
                    "internal error",
                )
                    .into_response()
            }
        }
    }

    /// The §4.1.2.1 "do not redirect" error page, status 400.
    pub fn error(&self, message: &str) -> Response {
        self.render(
            StatusCode::BAD_REQUEST,
            "error.html",
            minijinja::context! { message },
        )
    }
}

/// What a metadata document client is shown as: its URL's host, with
/// the port when it is not the default (`app.example`, `11.22.33.44:8443`).
pub(crate) fn metadata_host(client_id: &str) -> String {
    url::Url::parse(client_id)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes() {
        let pages = Pages::new();
        for (name, _) in TEMPLATES {
            assert!(pages.env.get_template(name).is_ok(), "{name}");
        }
        let html = pages
            .env
            .get_template("error.html")
            .unwrap()
            .render(minijinja::context! { message => "<script>x</script>" })
            .unwrap();
        assert!(html.contains("&lt;script&gt;"));
    }
}
