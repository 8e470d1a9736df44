//! Cookies: the login session and the CSRF token.

use axum::http::HeaderMap;

/// The session cookie.
pub const SESSION: &str = "proofkey_session";
/// The CSRF cookie (double-submit: the form must carry the same value).
pub const CSRF: &str = "proofkey_csrf";

/// The value of cookie `name` in the request.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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
/// when the issuer is https.
pub fn set(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_httponly_lax_and_secure_only_on_https() {
        let c = set(SESSION, "v", 60, true);
        assert_eq!(
            c,
            "proofkey_session=v; Max-Age=60; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        assert!(!set(SESSION, "v", 60, false).contains("Secure"));
    }

    #[test]
    fn reads_one_cookie_among_many() {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            "a=1; proofkey_csrf=xyz; b=2".parse().unwrap(),
        );
        assert_eq!(get(&h, CSRF), Some("xyz"));
        assert_eq!(get(&h, SESSION), None);
    }
}
