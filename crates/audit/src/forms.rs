//! A scripted user agent for plain HTML login and consent forms: what
//! `proofkey audit --login USER --password-stdin` and the load generator use
//! instead of a person at a browser.
//!
//! It knows no server in particular. It follows redirects, keeps cookies,
//! and on each page submits the first POST form: hidden fields kept, the
//! user name and password filled in on a form with a password field, and on
//! a consent form the submit button that approves (`allow`, `approve`,
//! `accept`, `continue`, `yes`...). It stops at the first redirect to the
//! client's redirect URI, or at a page it cannot go on from (an error page).

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use url::Url;

/// Why the agent could not go on.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    /// The server could not be reached or broke off.
    #[error("{url}: {source}")]
    Http {
        /// The URL asked for.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The server sent something no browser could follow.
    #[error("{0}")]
    Protocol(String),
}

/// Where a walk through the forms ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    /// A redirect to the client's redirect URI: the authorization response.
    Redirect(Url),
    /// A page the agent cannot go on from (an error page, most often).
    Page {
        /// Its URL.
        url: String,
        /// Its HTTP status.
        status: u16,
        /// The start of its text, tags removed.
        text: String,
    },
}

/// Cookies by name. The agent talks to one authorization server, so path
/// and domain scoping do not matter; deletion (empty value, `Max-Age=0` or
/// an `Expires` in 1970) does.
#[derive(Debug, Default, Clone)]
pub struct Jar(BTreeMap<String, String>);

impl Jar {
    /// Takes in every `Set-Cookie` of a response.
    pub fn absorb(&mut self, headers: &HeaderMap) {
        for h in headers.get_all(SET_COOKIE) {
            let Ok(h) = h.to_str() else { continue };
            let mut parts = h.split(';');
            let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
                continue;
            };
            let deleted = value.trim().is_empty()
                || parts.any(|a| {
                    let a = a.trim().to_ascii_lowercase();
                    a == "max-age=0" || (a.starts_with("expires=") && a.contains("1970"))
                });
            if deleted {
                self.0.remove(name.trim());
            } else {
                self.0
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    /// The `Cookie` request header, or `None` for an empty jar.
    pub fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// A password that does not show up in `Debug` output.
#[derive(Clone)]
struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// The scripted agent: one cookie jar, one account.
#[derive(Debug, Clone)]
pub struct FormAgent {
    http: reqwest::Client,
    jar: Jar,
    username: String,
    password: Password,
}

/// How many pages one authorization request may take (login, consent,
/// and the redirects between them).
const MAX_STEPS: usize = 16;

impl FormAgent {
    /// An agent that signs in as `username`. `http` must not follow
    /// redirects (the agent follows them itself, keeping cookies).
    pub fn new(http: reqwest::Client, username: &str, password: &str) -> FormAgent {
        FormAgent {
            http,
            jar: Jar::default(),
            username: username.to_owned(),
            password: Password(password.to_owned()),
        }
    }

    /// The `Cookie` header of the session so far, for requests made
    /// outside the agent.
    pub fn cookie_header(&self) -> Option<String> {
        self.jar.header()
    }

    /// Opens `url` and walks the server's pages until a redirect for which
    /// `is_client` is true (returned, not followed), or a page it cannot go
    /// on from.
    pub async fn walk(
        &mut self,
        url: Url,
        is_client: impl Fn(&Url) -> bool,
    ) -> Result<Landing, FormError> {
        let mut url = url;
        let mut form: Option<Vec<(String, String)>> = None;
        for _ in 0..MAX_STEPS {
            let mut req = match &form {
                Some(fields) => self.http.post(url.clone()).form(fields),
                None => self.http.get(url.clone()),
            };
            if let Some(c) = self.jar.header() {
                req = req.header(COOKIE, c);
            }
            let resp = req.send().await.map_err(|source| FormError::Http {
                url: url.to_string(),
                source,
            })?;
            self.jar.absorb(resp.headers());
            let status = resp.status();
            if status.is_redirection() {
                let loc = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| {
                        FormError::Protocol(format!("{url} answered {status} without a Location"))
                    })?;
                let next = url
                    .join(loc)
                    .map_err(|e| FormError::Protocol(format!("{url}: bad Location {loc}: {e}")))?;
                if is_client(&next) {
                    return Ok(Landing::Redirect(next));
                }
                url = next;
                form = None;
                continue;
            }
            let body = resp.text().await.map_err(|source| FormError::Http {
                url: url.to_string(),
                source,
            })?;
            let next_form = status
                .is_success()
                .then(|| pick_form(&body))
                .flatten()
                .filter(|f| !f.action.is_empty() || f.has_password || f.approve.is_some());
            let Some(found) = next_form else {
                return Ok(Landing::Page {
                    url: url.to_string(),
                    status: status.as_u16(),
                    text: page_text(&body),
                });
            };
            let mut fields = found.hidden;
            if found.has_password {
                fields.push((found.user_field, self.username.clone()));
                fields.push((found.password_field, self.password.0.clone()));
            }
            fields.extend(found.approve);
            url = url
                .join(&found.action)
                .map_err(|e| FormError::Protocol(format!("{url}: bad form action: {e}")))?;
            form = Some(fields);
        }
        Err(FormError::Protocol(format!(
            "no redirect to the client after {MAX_STEPS} pages"
        )))
    }
}

/// A form to submit: where, its hidden fields, and what to fill in.
#[derive(Debug, PartialEq, Eq)]
struct Form {
    action: String,
    hidden: Vec<(String, String)>,
    has_password: bool,
    user_field: String,
    password_field: String,
    approve: Option<(String, String)>,
}

/// Button values and labels that approve a consent request.
const APPROVING: &[&str] = &[
    "allow",
    "approve",
    "accept",
    "authorize",
    "authorise",
    "consent",
    "continue",
    "grant",
    "yes",
    "ok",
];

/// The form to submit on a page: the first POST form with a password field,
/// else the first POST form.
fn pick_form(html: &str) -> Option<Form> {
    let forms: Vec<Form> = post_forms(html).collect();
    let i = forms.iter().position(|f| f.has_password).unwrap_or(0);
    forms.into_iter().nth(i)
}

fn post_forms(html: &str) -> impl Iterator<Item = Form> + '_ {
    let mut rest = html;
    std::iter::from_fn(move || loop {
        let i = find_ci(rest, "<form")?;
        let tail = &rest[i..];
        let end = find_ci(tail, "</form>").unwrap_or(tail.len());
        let (body, after) = tail.split_at(end);
        rest = after;
        let open = &body[..body.find('>').unwrap_or(body.len())];
        if !attr(open, "method").is_some_and(|m| m.eq_ignore_ascii_case("post")) {
            continue;
        }
        return Some(read_form(open, body));
    })
}

fn read_form(open: &str, body: &str) -> Form {
    let mut form = Form {
        action: attr(open, "action").unwrap_or_default(),
        hidden: Vec::new(),
        has_password: false,
        user_field: String::new(),
        password_field: String::new(),
        approve: None,
    };
    let mut first_text = None;
    for (tag_name, tag) in tags(body, &["input", "button"]) {
        let ty = attr(tag, "type")
            .unwrap_or_else(|| {
                if tag_name == "button" {
                    "submit"
                } else {
                    "text"
                }
                .into()
            })
            .to_ascii_lowercase();
        let name = attr(tag, "name");
        match (ty.as_str(), name) {
            ("hidden", Some(n)) => form
                .hidden
                .push((n, attr(tag, "value").unwrap_or_default())),
            ("password", Some(n)) => {
                form.has_password = true;
                form.password_field = n;
            }
            ("text" | "email", Some(n)) => {
                let known = ["username", "login", "email", "user"].contains(&n.as_str());
                if known && form.user_field.is_empty() {
                    form.user_field = n.clone();
                }
                first_text.get_or_insert(n);
            }
            ("submit", Some(n)) if form.approve.is_none() => {
                let value = attr(tag, "value").unwrap_or_default();
                if APPROVING.contains(&value.to_ascii_lowercase().as_str()) {
                    form.approve = Some((n, value));
                }
            }
            _ => {}
        }
    }
    if form.user_field.is_empty() {
        form.user_field = first_text.unwrap_or_else(|| "username".into());
    }
    form
}

/// Start tags named one of `names`, in order.
fn tags<'a>(html: &'a str, names: &'a [&'a str]) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    let mut rest = html;
    std::iter::from_fn(move || loop {
        let i = rest.find('<')?;
        let after = &rest[i + 1..];
        let end = after.find('>').map_or(after.len(), |k| k);
        let tag = &after[..end];
        rest = &after[end..];
        let name_len = tag
            .find(|c: char| c.is_ascii_whitespace() || c == '/')
            .unwrap_or(tag.len());
        let name = &tag[..name_len];
        if let Some(n) = names.iter().find(|n| n.eq_ignore_ascii_case(name)) {
            return Some((*n, tag));
        }
    })
}

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The value of attribute `name` in a start tag: double-, single- or
/// unquoted, with HTML character references decoded.
fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let key = format!("{name}=");
    let mut from = 0;
    while let Some(k) = lower[from..].find(&key) {
        let i = from + k;
        from = i + key.len();
        let before = lower[..i].chars().next_back();
        if !before.is_some_and(|c| c.is_ascii_whitespace()) {
            continue;
        }
        let v = &tag[i + key.len()..];
        return Some(match v.chars().next() {
            Some(q @ ('"' | '\'')) => unescape(&v[1..v[1..].find(q).map_or(v.len(), |j| j + 1)]),
            _ => unescape(
                v.split(|c: char| c.is_ascii_whitespace() || c == '/')
                    .next()?,
            ),
        });
    }
    None
}

/// The visible text of a page, tags removed, whitespace squeezed, at most
/// 300 characters.
pub(crate) fn page_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    let mut skip = false;
    for (i, c) in html.char_indices() {
        match c {
            '<' => {
                in_tag = true;
                let t = html[i + 1..].to_ascii_lowercase();
                if t.starts_with("style") || t.starts_with("script") || t.starts_with("title") {
                    skip = true;
                } else if t.starts_with("/style")
                    || t.starts_with("/script")
                    || t.starts_with("/title")
                {
                    skip = false;
                }
            }
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag && !skip => out.push(c),
            _ => {}
        }
    }
    let squeezed = unescape(&out)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    squeezed.chars().take(300).collect()
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let decoded = tail.find(';').and_then(|semi| {
            let entity = &tail[1..semi];
            let ch = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            ch.map(|c| (c, semi))
        });
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_a_login_form_with_its_hidden_fields() {
        let html = r#"<form method="get" action="/search"><input type="hidden" name="q" value="x"></form>
            <FORM method=post action='/login'><input type="hidden" name="redirect_uri" value="http:&#x2f;&#x2f;127.0.0.1&#x2f;cb">
            <input type="hidden" name="state" value='a&amp;b'><input type="text" name="login"><input name="password" type="password"></FORM>"#;
        let f = pick_form(html).unwrap();
        assert_eq!(f.action, "/login");
        assert_eq!(
            f.hidden,
            vec![
                ("redirect_uri".to_owned(), "http://127.0.0.1/cb".to_owned()),
                ("state".to_owned(), "a&b".to_owned()),
            ]
        );
        assert!(f.has_password);
        assert_eq!(f.user_field, "login");
        assert_eq!(f.password_field, "password");
    }

    #[test]
    fn picks_the_approving_button_of_a_consent_form() {
        let html = r#"<form method="post" action="/consent"><input type="hidden" name="csrf" value="t">
            <button type="submit" name="decision" value="deny">No</button>
            <button type="submit" name="decision" value="allow">Allow</button></form>"#;
        let f = pick_form(html).unwrap();
        assert!(!f.has_password);
        assert_eq!(f.approve, Some(("decision".into(), "allow".into())));
    }

    #[test]
    fn prefers_the_form_with_a_password() {
        let html = r#"<form method="post" action="/lang"><input type="hidden" name="l" value="en"></form>
            <form method="post" action="/signin"><input type="email" name="mail"><input type="password" name="pw"></form>"#;
        let f = pick_form(html).unwrap();
        assert_eq!(f.action, "/signin");
        assert_eq!(f.user_field, "mail");
        assert_eq!(f.password_field, "pw");
    }

    #[test]
    fn page_text_drops_tags_and_styles() {
        let html = "<html><head><title>T</title><style>p{}</style></head><body><h1>Error</h1><p>invalid&nbsp;x &amp; y</p></body></html>";
        assert_eq!(page_text(html), "Error invalid&nbsp;x & y");
    }

    #[test]
    fn the_jar_keeps_and_deletes_cookies() {
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, "a=1; Path=/; HttpOnly".parse().unwrap());
        h.append(SET_COOKIE, "b=2".parse().unwrap());
        let mut jar = Jar::default();
        jar.absorb(&h);
        assert_eq!(jar.header().unwrap(), "a=1; b=2");
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            "a=; expires=Thu, 01 Jan 1970 00:00:00 GMT".parse().unwrap(),
        );
        h.append(SET_COOKIE, "b=3; Max-Age=0".parse().unwrap());
        jar.absorb(&h);
        assert_eq!(jar.header(), None);
    }
}
