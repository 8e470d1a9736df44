//! Cookies: the login session and the CSRF token.

use axum::http::HeaderMap;

/// The cookies this server sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The login session.
    Session,
    /// The CSRF token of forms shown before a session exists
    /// (double-submit: the form carries the same value).
    Csrf,
}

/// A cookie's name. On https it has the `__Host-` prefix (RFC 6265bis
/// §4.1.3.2): the browser keeps it only if set with `Secure`, `Path=/` and
/// no `Domain`, so a sibling subdomain cannot plant or overwrite it.
pub fn name(kind: Kind, secure: bool) -> &'static str {
    match (kind, secure) {
        (Kind::Session, true) => "__Host-proofkey_session",
        (Kind::Session, false) => "proofkey_session",
        (Kind::Csrf, true) => "__Host-proofkey_csrf",
        (Kind::Csrf, false) => "proofkey_csrf",
    }
}

/// The value of cookie `kind` in the request.
pub fn get(headers: &HeaderMap, kind: Kind, secure: bool) -> Option<&str> {
    let name = name(kind, secure);
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly; SameSite=Lax; Path=/`, and `Secure`
/// (with the `__Host-` name) when the issuer is https.
pub fn set(kind: Kind, value: &str, max_age: u64, secure: bool) -> String {
    let name = name(kind, secure);
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_httponly_lax_and_secure_with_host_prefix_on_https() {
        let c = set(Kind::Session, "v", 60, true);
        assert_eq!(
            c,
            "__Host-proofkey_session=v; Max-Age=60; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            set(Kind::Csrf, "v", 60, false),
            "proofkey_csrf=v; Max-Age=60; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn reads_one_cookie_among_many() {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            "a=1; proofkey_csrf=xyz; b=2".parse().unwrap(),
        );
        assert_eq!(get(&h, Kind::Csrf, false), Some("xyz"));
        assert_eq!(get(&h, Kind::Csrf, true), None, "the https name differs");
        assert_eq!(get(&h, Kind::Session, false), None);
    }
}
