//! Redirect URI matching (RFC 6749 §3.1.2, OAuth 2.1 §2.3.1, RFC 8252 §7.3).
//!
//! Matching is exact string comparison, with one exception: for a registered
//! loopback redirect (`http://127.0.0.1...`, `http://[::1]...` or
//! `http://localhost...`) any port is accepted at request time, as RFC 8252
//! §7.3 requires for native apps that bind an ephemeral port. OAuth 2.1
//! §8.4.2 extends the rule to `localhost`, which MCP clients register
//! (RFC 8252 §8.3 prefers the IP literals, since `localhost` may resolve
//! elsewhere; the port rule does not make that worse: the host part is
//! still compared exactly).

use url::Url;

/// Whether `requested` matches one of `registered`.
pub fn matches(registered: &[String], requested: &str) -> bool {
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    let Some(req) = loopback_without_port(requested) else {
        return false;
    };
    registered
        .iter()
        .filter_map(|r| loopback_without_port(r))
        .any(|r| r == req)
}

/// For `http://127.0.0.1[:port]/...`, `http://[::1][:port]/...` or
/// `http://localhost[:port]/...`, the
/// same string with the port removed; `None` for anything else. Purely
/// textual, so that the rest is compared exactly as sent (RFC 9700 §2.1):
/// no URL parser normalises `127.0.0.1.`, `/x/../cb` or `\cb` into
/// something that matches. Userinfo cannot appear (the literal must follow
/// `http://` directly).
fn loopback_without_port(uri: &str) -> Option<String> {
    for host in ["http://127.0.0.1", "http://[::1]", "http://localhost"] {
        let Some(rest) = uri.strip_prefix(host) else {
            continue;
        };
        let rest = match rest.strip_prefix(':') {
            Some(port) => {
                let digits = port.bytes().take_while(u8::is_ascii_digit).count();
                if !(1..=5).contains(&digits) || port[..digits].parse::<u32>().ok()? > 65_535 {
                    return None;
                }
                &port[digits..]
            }
            None => rest,
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        return Some(format!("{host}{rest}"));
    }
    None
}

/// Whether `url`'s host is the loopback interface: 127.0.0.0/8, [::1] or
/// `localhost` (any scheme, any port). The one check of its kind: a token
/// over plain http, a redirect, a metadata URL may be allowed there.
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether `uri` is a loopback redirect (`http://127.0.0.1`, `http://[::1]`
/// or `http://localhost`, any port).
pub fn is_loopback(uri: &str) -> bool {
    loopback_without_port(uri).is_some()
}

/// The web origin (`scheme://host[:port]`, RFC 6454) of an http(s) URI;
/// loopback IP literals lose their port, since any port is theirs.
pub fn web_origin(uri: &str) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    if let Some(bare) = loopback_without_port(uri) {
        return loopback_origin_without_port(&bare);
    }
    Some(url.origin().ascii_serialization())
}

/// `http://127.0.0.1`, `http://[::1]` or `http://localhost` for a loopback
/// origin on any port; `None` for other origins.
pub fn loopback_origin_without_port(origin: &str) -> Option<String> {
    let url = Url::parse(origin).ok()?;
    loopback_without_port(origin)?;
    let host = url.host_str()?;
    Some(format!("http://{host}"))
}

/// Whether a URI can be registered as a redirect URI: absolute, no fragment
/// (RFC 6749 §3.1.2), and https, a loopback http, or a private-use scheme
/// (RFC 8252 §7.1) with a dot in it.
pub fn validate_registration(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URI: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "{uri:?} has a fragment; RFC 6749 §3.1.2 forbids one"
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            if loopback_without_port(uri).is_some() || url.host_str() == Some("localhost") {
                Ok(())
            } else {
                Err(format!(
                    "{uri:?} is plain http on a non-loopback host; use https, or http://127.0.0.1 / http://[::1] for native apps (RFC 8252 §7.3)"
                ))
            }
        }
        scheme if scheme.contains('.') => Ok(()),
        scheme => Err(format!(
            "{uri:?}: private-use scheme {scheme:?} must be a reverse domain name such as com.example.app (RFC 8252 §7.1)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn exact_match_otherwise_nothing() {
        let r = reg(&["https://app.example/cb"]);
        assert!(matches(&r, "https://app.example/cb"));
        assert!(!matches(&r, "https://app.example/cb/"));
        assert!(!matches(&r, "https://app.example/cb?x=1"));
        assert!(!matches(&r, "https://app.example:8443/cb"));
        assert!(!matches(&r, "HTTPS://app.example/cb"));
    }

    #[test]
    fn loopback_hosts() {
        for u in [
            "http://127.0.0.1:1/",
            "https://127.9.9.9/",
            "http://[::1]/",
            "http://LocalHost:8/",
        ] {
            assert!(is_loopback_host(&Url::parse(u).unwrap()), "{u}");
        }
        for u in [
            "http://10.0.0.1/",
            "http://localhost.evil.example/",
            "http://[::2]/",
            "file:///x",
        ] {
            assert!(!is_loopback_host(&Url::parse(u).unwrap()), "{u}");
        }
    }

    #[test]
    fn loopback_literals_match_any_port() {
        let r = reg(&["http://127.0.0.1/callback", "http://[::1]/cb"]);
        assert!(matches(&r, "http://127.0.0.1:53124/callback"));
        assert!(matches(&r, "http://127.0.0.1/callback"));
        assert!(matches(&r, "http://[::1]:9/cb"));
        assert!(!matches(&r, "http://127.0.0.1:53124/other"));
        assert!(!matches(&r, "http://127.0.0.1:53124/callback?x"));
        assert!(!matches(&r, "http://127.1:53124/callback"));
        assert!(!matches(&r, "http://user@127.0.0.1:5/callback"));
    }

    /// RFC 9700 §2.1: nothing but the port may differ; URL normalisation
    /// must not make a different string match.
    #[test]
    fn loopback_matching_does_not_normalise() {
        let r = reg(&["http://127.0.0.1:9/cb", "http://[::1]/cb"]);
        assert!(matches(&r, "http://127.0.0.1:9/cb"));
        assert!(matches(&r, "http://127.0.0.1:4711/cb"));
        for sneaky in [
            "http://127.0.0.1.:9/cb",
            "http://127.0.0.1:9/x/../cb",
            "http://127.0.0.1:9\\cb",
            "http://127.0.0.1:9/./cb",
            "http://127.0.0.1:9/%63b",
            "http://127.0.0.1:99999/cb",
            "http://127.0.0.1:/cb",
            "http://127.0.0.1:9#/cb",
            "http://[::1]:9/x/../cb",
            "http://[0:0::1]:9/cb",
        ] {
            assert!(!matches(&r, sneaky), "{sneaky}");
        }
    }

    #[test]
    fn localhost_gets_any_port_and_nothing_else() {
        // OAuth 2.1 §8.4.2: as the IP literals.
        let r = reg(&["http://localhost/callback"]);
        assert!(matches(&r, "http://localhost/callback"));
        assert!(matches(&r, "http://localhost:4000/callback"));
        for sneaky in [
            "http://localhost.evil.example/callback",
            "http://localhost:4000.evil.example/callback",
            "http://localhost:4000/callback/../x",
            "http://localhost:99999/callback",
            "http://localhost:4000/callbackx",
            "https://localhost:4000/callback",
            "http://LOCALHOST:4000/callback",
            "http://127.0.0.1:4000/callback",
            "http://localhost@evil.example/callback",
        ] {
            assert!(!matches(&r, sneaky), "{sneaky}");
        }
    }

    #[test]
    fn origins_of_redirect_uris() {
        assert_eq!(
            web_origin("https://app.example:8443/cb?x").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(
            web_origin("http://127.0.0.1:5000/cb").as_deref(),
            Some("http://127.0.0.1")
        );
        assert_eq!(
            web_origin("http://[::1]/cb").as_deref(),
            Some("http://[::1]")
        );
        assert_eq!(web_origin("com.example.app:/cb"), None);
        assert_eq!(
            loopback_origin_without_port("http://127.0.0.1:3000").as_deref(),
            Some("http://127.0.0.1")
        );
        assert_eq!(
            loopback_origin_without_port("http://localhost:3000").as_deref(),
            Some("http://localhost")
        );
        assert_eq!(
            web_origin("http://localhost:5173/cb").as_deref(),
            Some("http://localhost")
        );
        assert_eq!(
            loopback_origin_without_port("http://localhost.evil:3000"),
            None
        );
    }

    #[test]
    fn registration_rules() {
        assert!(validate_registration("https://a.example/cb").is_ok());
        assert!(validate_registration("http://127.0.0.1/callback").is_ok());
        assert!(validate_registration("com.example.app:/cb").is_ok());
        assert!(validate_registration("http://a.example/cb").is_err());
        assert!(validate_registration("https://a.example/cb#x").is_err());
        assert!(validate_registration("/relative").is_err());
        assert!(validate_registration("myapp:/cb").is_err());
    }
}
