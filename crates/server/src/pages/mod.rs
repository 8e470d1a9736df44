//! Server-rendered HTML pages: no JavaScript, escaped by minijinja,
//! branded and translated (docs/theming.md).
//!
//! **Invariants:** every page is rendered through a [`View`], in one
//! language negotiated for the request ([`i18n`]); messages are plain text
//! (escaped like any value), so neither a translation nor an argument can
//! inject markup; the operator's templates and messages are compiled and
//! every page rendered in every language at start ([`Pages::load`]), so a
//! broken one stops the server instead of failing a user's sign-in; the
//! theme's colours are validated hex values, the only settings that reach
//! the stylesheet.

pub mod i18n;

use std::path::Path;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fluent_bundle::FluentArgs;
use minijinja::value::{Kwargs, Value};
use minijinja::{context, Environment, State};
use proofkey_core::config::UiConfig;

pub use i18n::{Lang, Translations};

/// Every built-in template, compiled into the binary. `templates_dir`
/// replaces any of them by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../templates/layout.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("consent.html", include_str!("../../templates/consent.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("message.html", include_str!("../../templates/message.html")),
    ("logout.html", include_str!("../../templates/logout.html")),
    ("device.html", include_str!("../../templates/device.html")),
    ("home.html", include_str!("../../templates/home.html")),
    (
        "not_found.html",
        include_str!("../../templates/not_found.html"),
    ),
];

/// The most templates read from `templates_dir`.
const MAX_TEMPLATES: usize = 64;
/// The largest template read.
const MAX_TEMPLATE: u64 = 256 * 1024;
/// The largest logo.
const MAX_LOGO: u64 = 512 * 1024;

/// Why the pages could not be prepared at start.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PagesError {
    /// A template does not compile or render.
    #[error("templates: {0}")]
    Template(String),
    /// A Fluent file is unreadable or does not parse.
    #[error("translations: {0}")]
    Translation(String),
    /// The logo is unreadable, too large or of an unknown type.
    #[error("theme_logo: {0}")]
    Logo(String),
}

/// The logo, read at start.
#[derive(Debug)]
struct Logo {
    bytes: Bytes,
    content_type: &'static str,
}

/// The page templates, their messages and the theme.
#[derive(Debug)]
pub struct Pages {
    env: Environment<'static>,
    i18n: Arc<Translations>,
    logo: Option<Logo>,
}

/// The pages' content security policy: the inline stylesheet and this
/// server's images (the logo); nothing else, no script at all. No
/// `form-action`: browsers apply it to the redirect that follows a form
/// (consent's to the client's `redirect_uri`, logout's to its
/// `post_logout_redirect_uri`), which it would block; the forms' actions
/// are fixed paths of this server in the templates.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Headers of every page: never cached, never framed, no referrer, and
/// [`PAGE_CSP`].
pub fn page_headers() -> [(header::HeaderName, HeaderValue); 3] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        ),
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
    ]
}

/// Reads a file of at most `max` bytes, as UTF-8.
pub(crate) fn read_file(path: &Path, max: u64) -> Result<String, String> {
    let bytes = read_bytes(path, max)?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))
}

fn read_bytes(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > max {
        return Err(format!(
            "{}: larger than {} KiB",
            path.display(),
            max / 1024
        ));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// What a problem page tells the user (the technical detail is shown
/// apart, folded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// An authorization request that cannot be answered with a redirect
    /// (RFC 6749 §4.1.2.1).
    Authorize,
    /// A logout request that cannot be honoured.
    Logout,
    /// A form sent without what it needs.
    Form,
}

impl Problem {
    fn kind(self) -> &'static str {
        match self {
            Problem::Authorize => "authorize",
            Problem::Logout => "logout",
            Problem::Form => "form",
        }
    }
}

impl Pages {
    /// The built-in templates and messages with `ui`'s theme, then the
    /// operator's templates and messages over them; every page is then
    /// rendered once in every language, so that an error shows now.
    pub fn load(ui: &UiConfig) -> Result<Self, PagesError> {
        let i18n = Arc::new(Translations::load(
            ui.translations_dir.as_deref(),
            &ui.scope_descriptions,
        )?);
        let logo = ui.logo.as_deref().map(load_logo).transpose()?;
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| PagesError::Template(format!("built-in {name}: {e}")))?;
        }
        if let Some(dir) = &ui.templates_dir {
            for (name, source) in operator_templates(dir)? {
                env.add_template_owned(name.clone(), source).map_err(|e| {
                    PagesError::Template(format!("{}: {e:#}", dir.join(&name).display()))
                })?;
            }
        }
        let ratio = contrast_with_white(&ui.primary_color);
        if ratio < 4.5 {
            tracing::warn!(
                theme_primary_color = %ui.primary_color,
                contrast = format!("{ratio:.1}:1"),
                "white button text on the primary colour is below WCAG's 4.5:1 (1.4.3): pick a darker colour"
            );
        }
        env.add_global("product_name", ui.product_name.clone());
        env.add_global(
            "theme",
            context! {
                primary_color => ui.primary_color,
                background_color => ui.background_color,
                logo => logo.is_some(),
            },
        );
        env.add_function("t", translate(i18n.clone(), ui.product_name.clone()));
        let pages = Self { env, i18n, logo };
        pages.check()?;
        Ok(pages)
    }

    /// The built-in pages with the default theme: what a server whose
    /// configured pages failed to load falls back to (`serve` checks them
    /// first and refuses to start instead).
    pub fn built_in() -> Self {
        match Self::load(&UiConfig::default()) {
            Ok(p) => p,
            Err(e) => {
                // Unreachable: a unit test loads exactly this.
                tracing::error!(error = %e, "the built-in pages do not load");
                Self {
                    env: Environment::new(),
                    i18n: Arc::new(Translations::empty()),
                    logo: None,
                }
            }
        }
    }

    /// Renders every built-in page name in every language with sample
    /// values, and with a missing message an error (it would otherwise
    /// show as its identifier).
    fn check(&self) -> Result<(), PagesError> {
        for tag in self.i18n.tags() {
            let lang = self.i18n.negotiate(Some(&tag), None);
            for (name, ctx) in samples() {
                let ctx = context! { _strict => true, ..ctx };
                self.render_html(lang, name, ctx)
                    .map_err(|e| PagesError::Template(format!("{name} in {tag}: {e:#}")))?;
            }
        }
        Ok(())
    }

    /// The pages for one request, in the language its user asked for:
    /// `ui_locales` (the authorization or logout request's), then
    /// `Accept-Language`.
    pub fn view(&self, headers: &HeaderMap, ui_locales: Option<&str>) -> View<'_> {
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        View {
            pages: self,
            lang: self.i18n.negotiate(ui_locales, accept),
        }
    }

    /// The logo's bytes and content type, if one is configured.
    pub fn logo(&self) -> Option<(&'static str, Bytes)> {
        self.logo
            .as_ref()
            .map(|l| (l.content_type, l.bytes.clone()))
    }

    fn render_html(&self, lang: Lang, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        let ctx = context! { lang => self.i18n.tag(lang), _lang => lang.0, ..ctx };
        self.env.get_template(name)?.render(ctx)
    }
}

impl Default for Pages {
    fn default() -> Self {
        Self::built_in()
    }
}

/// The template function `t(id, name=value, ...)`: message `id` in the
/// page's language (English if it lacks it), with `product` and the named
/// arguments. A missing message shows as its identifier (and is logged),
/// except while [`Pages::check`] runs, where it is an error.
fn translate(
    i18n: Arc<Translations>,
    product: String,
) -> impl Fn(&State, String, Kwargs) -> Result<String, minijinja::Error> + Send + Sync + 'static {
    move |state: &State, id: String, kwargs: Kwargs| {
        let lang = state
            .lookup("_lang")
            .and_then(|v| usize::try_from(v).ok())
            .map(Lang)
            .unwrap_or(Lang::FALLBACK);
        let mut args = FluentArgs::new();
        args.set("product", product.clone());
        for name in kwargs.args() {
            let v: Value = kwargs.get(name)?;
            let text = if v.is_undefined() || v.is_none() {
                String::new()
            } else {
                v.to_string()
            };
            args.set(name.to_owned(), text);
        }
        match i18n.message(lang, &id, Some(&args)) {
            Some(text) => Ok(text),
            None if state.lookup("_strict").is_some_and(|v| v.is_true()) => {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::UndefinedError,
                    format!("no message {id:?} in any language"),
                ))
            }
            None => {
                tracing::warn!(message = %id, "a page asked for a message that does not exist");
                Ok(id)
            }
        }
    }
}

/// `*.html` files in `dir`, by name.
fn operator_templates(dir: &Path) -> Result<Vec<(String, String)>, PagesError> {
    let io = |e: std::io::Error| PagesError::Template(format!("{}: {e}", dir.display()));
    let mut found = Vec::new();
    for entry in sorted_entries(dir).map_err(io)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".html") {
            continue;
        }
        // Followed symlinks (a Kubernetes ConfigMap mounts its files so);
        // an .html that is no file is an error, not silently skipped.
        if !std::fs::metadata(entry.path()).map_err(io)?.is_file() {
            return Err(PagesError::Template(format!(
                "{}: not a file",
                entry.path().display()
            )));
        }
        if found.len() == MAX_TEMPLATES {
            return Err(PagesError::Template(format!(
                "{}: more than {MAX_TEMPLATES} templates",
                dir.display()
            )));
        }
        let source = read_file(&entry.path(), MAX_TEMPLATE).map_err(PagesError::Template)?;
        if !TEMPLATES.iter().any(|(n, _)| *n == name) {
            tracing::info!(template = %name, "an extra template (not a page of its own: for include or extends)");
        }
        found.push((name, source));
    }
    Ok(found)
}

/// The entries of `dir`, by name: operator files apply in a stable order.
pub(crate) fn sorted_entries(dir: &Path) -> std::io::Result<Vec<std::fs::DirEntry>> {
    let mut entries = std::fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

fn load_logo(path: &Path) -> Result<Logo, PagesError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let content_type = match ext.as_str() {
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        _ => {
            return Err(PagesError::Logo(format!(
                "{}: not a .png, .svg, .jpg, .webp or .gif file",
                path.display()
            )))
        }
    };
    let bytes = read_bytes(path, MAX_LOGO).map_err(PagesError::Logo)?;
    Ok(Logo {
        bytes: Bytes::from(bytes),
        content_type,
    })
}

/// The WCAG 2 contrast ratio of white against `#rgb` / `#rrggbb` (the
/// colour is validated by the configuration; anything else counts as
/// black).
fn contrast_with_white(colour: &str) -> f64 {
    let hex = colour.trim_start_matches('#');
    let full: String = if hex.len() == 3 {
        hex.chars().flat_map(|c| [c, c]).collect()
    } else {
        hex.to_owned()
    };
    let channel = |i: usize| {
        let v = f64::from(u8::from_str_radix(full.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0))
            / 255.0;
        if v <= 0.039_28 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4);
    1.05 / (luminance + 0.05)
}

/// One sample context per page (every variable it receives; see
/// docs/theming.md), for the start-up check.
fn samples() -> Vec<(&'static str, Value)> {
    let params = vec![("client_id", "app"), ("state", "s")];
    let scopes = vec![("openid", "Confirm who you are"), ("custom", "")];
    vec![
        (
            "login.html",
            context! { client_name => "App", params, csrf => "x", username => "alice", error => "login-invalid" },
        ),
        (
            "consent.html",
            context! {
                client_name => "App", client_id => "app", registration => "static", host => "",
                account => "alice", scopes, resources => vec![("https://api.example", "API")],
                destination => "app.example", redirect_uri => "https://app.example/cb",
                params, csrf => "x",
            },
        ),
        (
            "consent.html",
            context! {
                client_name => "App", client_id => "https://app.example/meta", registration => "metadata",
                host => "app.example", account => "alice", scopes => Vec::<(String, String)>::new(),
                resources => Vec::<(String, String)>::new(), destination => "",
                redirect_uri => "http://127.0.0.1:5000/cb", params, csrf => "x",
            },
        ),
        (
            "device.html",
            context! { confirm => false, login => true, user_code => "ABCD-EFGH", username => "alice", error => "device-code-invalid", csrf => "x" },
        ),
        (
            "device.html",
            context! {
                confirm => true, client_name => "App", client_id => "app", registration => "dynamic",
                host => "", account => "alice", scopes, resources => vec!["https://api.example"],
                user_code => "ABCD-EFGH", csrf => "x",
            },
        ),
        (
            "error.html",
            context! { kind => "authorize", detail => "the client_id is not registered here" },
        ),
        ("error.html", context! { kind => "logout", detail => "" }),
        ("error.html", context! { kind => "form", detail => "" }),
        (
            "logout.html",
            context! { account => "alice", client_name => "App", params, csrf => "x" },
        ),
        (
            "message.html",
            context! { title => "logout-done-title", message => "logout-done" },
        ),
        ("home.html", context! { account => "alice" }),
        ("not_found.html", context! {}),
    ]
}

/// The pages for one request, in its language.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pages: &'a Pages,
    lang: Lang,
}

impl View<'_> {
    /// Renders `name` with `ctx` as a response with `status`.
    pub fn render(&self, status: StatusCode, name: &str, ctx: Value) -> Response {
        match self.pages.render_html(self.lang, name, ctx) {
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

    /// A problem page, status 400: what went wrong in the user's words,
    /// and `detail` (technical, for whoever debugs it) folded away.
    pub fn error(&self, problem: Problem, detail: &str) -> Response {
        self.render(
            StatusCode::BAD_REQUEST,
            "error.html",
            context! { kind => problem.kind(), detail },
        )
    }

    /// A page with a title and a sentence (message identifiers).
    pub fn message(&self, status: StatusCode, title: &str, message: &str) -> Response {
        self.render(status, "message.html", context! { title, message })
    }

    /// The 503 page of a request turned away while the store is down.
    pub fn unavailable(&self) -> Response {
        self.message(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable-title",
            "unavailable",
        )
    }

    /// Scopes with what each allows, in this language (`""` when nothing
    /// describes it: the page shows the name).
    pub fn scopes<'s>(&self, scopes: impl IntoIterator<Item = &'s str>) -> Vec<(String, String)> {
        scopes
            .into_iter()
            .map(|s| {
                (
                    s.to_owned(),
                    self.pages.i18n.scope(self.lang, s).unwrap_or_default(),
                )
            })
            .collect()
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

/// Where the consent page says the user will be sent: the redirect URI's
/// host (and port), its scheme for a private-use URI scheme (RFC 8252
/// §7.1), or `""` for a loopback redirect (an application on this
/// device, RFC 8252 §7.3).
pub(crate) fn destination(redirect_uri: &str) -> String {
    let Ok(u) = url::Url::parse(redirect_uri) else {
        return String::new();
    };
    match u.host() {
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() => String::new(),
        Some(url::Host::Ipv6(ip)) if ip.is_loopback() => String::new(),
        Some(url::Host::Domain("localhost")) => String::new(),
        Some(_) => metadata_host(redirect_uri),
        None => format!("{}:", u.scheme()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ui() -> UiConfig {
        UiConfig::default()
    }

    #[test]
    fn the_built_in_pages_load_and_escape() {
        let pages = Pages::load(&ui()).unwrap();
        let html = pages
            .render_html(
                Lang::FALLBACK,
                "error.html",
                context! { kind => "authorize", detail => "<script>x</script>" },
            )
            .unwrap();
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
        // An argument is escaped inside a message too.
        let html = pages
            .render_html(
                Lang::FALLBACK,
                "login.html",
                context! { client_name => "<img src=x>", csrf => "x", params => Vec::<(String, String)>::new() },
            )
            .unwrap();
        assert!(html.contains("&lt;img src=x&gt;"), "{html}");
    }

    #[test]
    fn a_broken_operator_template_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("login.html"),
            "{% extends \"layout.html\" %}{% block body %}{{ oops(}}{% endblock %}",
        )
        .unwrap();
        let e = Pages::load(&UiConfig {
            templates_dir: Some(dir.path().to_owned()),
            ..ui()
        })
        .unwrap_err();
        assert!(e.to_string().contains("login.html"), "{e}");

        // Compiles, but asks for a message that exists nowhere.
        std::fs::write(
            dir.path().join("login.html"),
            "{{ t(\"no-such-message\") }}",
        )
        .unwrap();
        let e = Pages::load(&UiConfig {
            templates_dir: Some(dir.path().to_owned()),
            ..ui()
        })
        .unwrap_err();
        assert!(e.to_string().contains("no-such-message"), "{e}");
    }

    #[test]
    fn an_operator_template_replaces_the_built_in_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("not_found.html"),
            "{% extends \"layout.html\" %}{% block body %}<p id=custom>{{ product_name }}: {{ t(\"not-found-title\") }}</p>{% endblock %}",
        )
        .unwrap();
        let pages = Pages::load(&UiConfig {
            templates_dir: Some(dir.path().to_owned()),
            product_name: "Acme".into(),
            ..ui()
        })
        .unwrap();
        let de = pages.i18n.negotiate(Some("de"), None);
        let html = pages
            .render_html(de, "not_found.html", context! {})
            .unwrap();
        assert!(
            html.contains("<p id=custom>Acme: Seite nicht gefunden</p>"),
            "{html}"
        );
        assert!(html.contains("<html lang=\"de\">"), "{html}");
    }

    #[test]
    fn a_symlinked_template_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        std::fs::write(
            &real,
            "{% extends \"layout.html\" %}{% block body %}<p id=linked></p>{% endblock %}",
        )
        .unwrap();
        let templates = dir.path().join("templates");
        std::fs::create_dir(&templates).unwrap();
        std::os::unix::fs::symlink(&real, templates.join("not_found.html")).unwrap();
        let pages = Pages::load(&UiConfig {
            templates_dir: Some(templates),
            ..ui()
        })
        .unwrap();
        let html = pages
            .render_html(Lang::FALLBACK, "not_found.html", context! {})
            .unwrap();
        assert!(html.contains("<p id=linked>"), "{html}");
    }

    #[test]
    fn a_logo_must_be_an_image_and_small() {
        let dir = tempfile::tempdir().unwrap();
        let txt = dir.path().join("logo.txt");
        std::fs::write(&txt, "x").unwrap();
        assert!(matches!(load_logo(&txt), Err(PagesError::Logo(_))));
        let big = dir.path().join("logo.png");
        std::fs::write(&big, vec![0u8; (MAX_LOGO + 1) as usize]).unwrap();
        assert!(matches!(load_logo(&big), Err(PagesError::Logo(_))));
        std::fs::write(&big, b"\x89PNG").unwrap();
        assert_eq!(load_logo(&big).unwrap().content_type, "image/png");
    }

    #[test]
    fn contrast_is_measured_as_wcag_does() {
        assert!((contrast_with_white("#000000") - 21.0).abs() < 0.01);
        assert!((contrast_with_white("#fff") - 1.0).abs() < 0.01);
        // The default primary colour passes 4.5:1; a light one does not.
        assert!(contrast_with_white(UiConfig::PRIMARY) > 6.0);
        assert!(contrast_with_white("#e6e8ee") < 1.3, "the old Deny button");
        assert!(contrast_with_white("#767d8a") > 4.0, "input borders");
    }

    #[test]
    fn the_destination_is_a_host_a_scheme_or_this_device() {
        assert_eq!(destination("https://app.example/cb"), "app.example");
        assert_eq!(
            destination("https://app.example:8443/cb"),
            "app.example:8443"
        );
        assert_eq!(destination("http://127.0.0.1:5000/cb"), "");
        assert_eq!(destination("http://[::1]/cb"), "");
        assert_eq!(destination("com.example.app:/cb"), "com.example.app:");
    }
}
