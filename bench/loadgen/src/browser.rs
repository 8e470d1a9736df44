//! The one interactive step of a load run: signing in once through the
//! server's own HTML forms (login, then consent), the way a person's browser
//! would, so that every later authorization request rides on that session
//! and its remembered consent.
//!
//! It knows no server in particular: it follows redirects on the issuer's
//! origin, fills the first POST form of each page (hidden fields kept,
//! `username`/`login` and `password` filled in, `decision=allow` on a
//! consent form), and stops at the first redirect that leaves for the
//! client's `redirect_uri`.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use url::Url;

use crate::Error;

/// Cookies by name. The load generator talks to one host, so path and
/// domain scoping do not matter; deletion (empty value, `Max-Age=0` or an
/// `Expires` in 1970) does.
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

/// Drives `authorize_url` through the server's forms until it redirects to
/// `redirect_uri`, and returns that final redirect.
pub async fn sign_in(
    http: &reqwest::Client,
    jar: &mut Jar,
    authorize_url: Url,
    redirect_uri: &str,
    username: &str,
    password: &str,
) -> Result<Url, Error> {
    let mut url = authorize_url;
    let mut form: Option<Vec<(String, String)>> = None;
    for _ in 0..16 {
        let mut req = match &form {
            Some(fields) => http.post(url.clone()).form(fields),
            None => http.get(url.clone()),
        };
        if let Some(c) = jar.header() {
            req = req.header(COOKIE, c);
        }
        let resp = req.send().await?;
        jar.absorb(resp.headers());
        let status = resp.status();
        if status.is_redirection() {
            let loc = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| Error::Protocol(format!("{status} without a Location")))?;
            let next = url.join(loc).map_err(|e| Error::Protocol(e.to_string()))?;
            if next.as_str().starts_with(redirect_uri) {
                return Ok(next);
            }
            url = next;
            form = None;
            continue;
        }
        let body = resp.text().await?;
        if !status.is_success() {
            return Err(Error::Protocol(format!(
                "signing in: {url} answered {status}: {}",
                snippet(&body)
            )));
        }
        let (action, mut fields) = first_post_form(&body).ok_or_else(|| {
            Error::Protocol(format!(
                "signing in: no form on the page at {url}: {}",
                snippet(&body)
            ))
        })?;
        let has = |n: &str| body.contains(&format!("name=\"{n}\""));
        for user_field in ["username", "login"] {
            if has(user_field) {
                fields.push((user_field.to_owned(), username.to_owned()));
            }
        }
        if has("password") {
            fields.push(("password".to_owned(), password.to_owned()));
        }
        if has("decision") {
            fields.push(("decision".to_owned(), "allow".to_owned()));
        }
        url = url
            .join(&action)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        form = Some(fields);
    }
    Err(Error::Protocol(
        "signing in: no redirect to the client after 16 steps".into(),
    ))
}

fn snippet(body: &str) -> String {
    body.chars().take(300).collect()
}

/// The action and hidden fields of the first `<form method="post">`.
fn first_post_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut rest = html;
    while let Some(i) = rest.find("<form") {
        let tail = &rest[i..];
        let end = tail.find("</form>").unwrap_or(tail.len());
        let (form, after) = tail.split_at(end);
        rest = after;
        let open = &form[..form.find('>')?];
        if !attr(open, "method").is_some_and(|m| m.eq_ignore_ascii_case("post")) {
            continue;
        }
        let action = attr(open, "action").unwrap_or_default();
        let mut fields = Vec::new();
        let mut inputs = form;
        while let Some(j) = inputs.find("<input") {
            let tag_end = inputs[j..].find('>').map_or(inputs.len(), |k| j + k);
            let tag = &inputs[j..tag_end];
            if attr(tag, "type").is_some_and(|t| t.eq_ignore_ascii_case("hidden")) {
                if let Some(name) = attr(tag, "name") {
                    fields.push((name, attr(tag, "value").unwrap_or_default()));
                }
            }
            inputs = &inputs[tag_end..];
        }
        return Some((action, fields));
    }
    None
}

/// The value of attribute `name` in a start tag, double- or single-quoted,
/// with HTML character references decoded.
fn attr(tag: &str, name: &str) -> Option<String> {
    for quote in ['"', '\''] {
        let key = format!(" {name}={quote}");
        if let Some(i) = tag.find(&key) {
            let v = &tag[i + key.len()..];
            let j = v.find(quote)?;
            return Some(unescape(&v[..j]));
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(semi) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
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
        match ch {
            Some(c) => {
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
    use super::*;

    #[test]
    fn reads_the_first_post_form_with_its_hidden_fields() {
        let html = r#"<form method="get" action="/search"><input type="hidden" name="q" value="x"></form>
            <form method="post" action="/login"><input type="hidden" name="redirect_uri" value="http:&#x2f;&#x2f;127.0.0.1&#x2f;cb">
            <input type="hidden" name="state" value='a&amp;b'><input type="text" name="username"></form>"#;
        let (action, fields) = first_post_form(html).unwrap();
        assert_eq!(action, "/login");
        assert_eq!(
            fields,
            vec![
                ("redirect_uri".to_owned(), "http://127.0.0.1/cb".to_owned()),
                ("state".to_owned(), "a&b".to_owned()),
            ]
        );
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
