//! Which browser origins may call the MCP endpoint.
//!
//! MCP's streamable HTTP transport (2025-06-18 §"Security Warning") asks
//! servers to validate `Origin` against DNS rebinding, where a web page
//! reaches a server on the user's machine through a name that resolves to
//! a loopback address. rmcp's service enforces the allowlist built here
//! (a request whose `Origin` is present and not on it gets 403; requests
//! without `Origin`, from non-browser clients, pass), and checks `Host`
//! against [`allowed_hosts`]. The CORS layer lets the same origins, and
//! only those, read the answers.

use axum::http::HeaderValue;
use url::{Host, Url};

/// Loopback origins, on any port, in rmcp's allowlist syntax.
const LOOPBACK: [&str; 6] = [
    "http://localhost:*",
    "http://127.0.0.1:*",
    "http://[::1]:*",
    "https://localhost:*",
    "https://127.0.0.1:*",
    "https://[::1]:*",
];

/// The origins allowed: loopback ones on any port, plus `extra` (each an
/// exact origin, `scheme://host[:port]`).
#[derive(Debug, Clone)]
pub(crate) struct OriginPolicy {
    extra: Vec<String>,
}

impl OriginPolicy {
    /// Checks and normalizes `extra` (origins as a browser sends them).
    pub(crate) fn new(extra: &[String]) -> Result<Self, String> {
        let extra = extra
            .iter()
            .map(|o| {
                let url = Url::parse(o).map_err(|e| format!("--allow-origin {o:?}: {e}"))?;
                let origin = url.origin();
                if !origin.is_tuple() || url.path() != "/" || url.query().is_some() {
                    return Err(format!(
                        "--allow-origin {o:?}: an origin is scheme://host[:port], nothing more"
                    ));
                }
                Ok(origin.ascii_serialization())
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { extra })
    }

    /// The allowlist for rmcp's `StreamableHttpServerConfig`.
    pub(crate) fn rmcp_allowlist(&self) -> Vec<String> {
        LOOPBACK
            .iter()
            .map(|s| (*s).to_owned())
            .chain(self.extra.iter().map(|o| explicit_port(o)))
            .collect()
    }

    /// Whether a browser on `origin` may read our answers (CORS).
    pub(crate) fn allows(&self, origin: &HeaderValue) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let Ok(url) = Url::parse(origin) else {
            return false;
        };
        let serialized = url.origin().ascii_serialization();
        // The header is an origin and nothing more.
        if serialized != origin.trim_end_matches('/') {
            return false;
        }
        is_loopback(&url) || self.extra.contains(&serialized)
    }
}

/// rmcp treats an entry without a port as "any port" (deprecated); an
/// exact origin gets its port spelled out.
fn explicit_port(origin: &str) -> String {
    match Url::parse(origin) {
        Ok(url) if url.port().is_none() => match url.port_or_known_default() {
            Some(port) => format!("{origin}:{port}"),
            None => origin.to_owned(),
        },
        _ => origin.to_owned(),
    }
}

/// The hosts of [`LOOPBACK`], exactly (as rmcp compares them).
fn is_loopback(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https")
        && match url.host() {
            Some(Host::Domain(d)) => d == "localhost",
            Some(Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
            Some(Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
            None => false,
        }
}

/// The `Host` values rmcp accepts: loopback names, and the resource's own
/// host (what clients put in `Host` when they connect to the resource URI).
pub(crate) fn allowed_hosts(resource: &Url) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .iter()
        .map(|h| (*h).to_owned())
        .collect();
    let own = match resource.host() {
        Some(Host::Ipv6(ip)) => Some(ip.to_string()),
        Some(h) => Some(h.to_string()),
        None => None,
    };
    if let Some(own) = own {
        if !hosts.contains(&own) {
            hosts.push(own);
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn allows(policy: &OriginPolicy, origin: &str) -> bool {
        policy.allows(&HeaderValue::from_str(origin).unwrap())
    }

    #[test]
    fn loopback_origins_on_any_port() {
        let p = OriginPolicy::new(&[]).unwrap();
        for o in [
            "http://localhost:6274",
            "http://127.0.0.1:3000",
            "http://[::1]:8080",
            "https://localhost",
        ] {
            assert!(allows(&p, o), "{o}");
        }
        for o in [
            "http://evil.example",
            "http://localhost.evil.example",
            "null",
            "file://",
            "http://127.0.0.1:3000/path",
            "ftp://localhost",
            "http://127.0.0.2:1",
        ] {
            assert!(!allows(&p, o), "{o}");
        }
    }

    #[test]
    fn extra_origins_exactly() {
        let p = OriginPolicy::new(&["https://app.example".to_owned()]).unwrap();
        assert!(allows(&p, "https://app.example"));
        assert!(!allows(&p, "https://app.example:8443"));
        assert!(!allows(&p, "http://app.example"));
        assert_eq!(
            p.rmcp_allowlist().last().map(String::as_str),
            Some("https://app.example:443")
        );
        assert!(OriginPolicy::new(&["https://app.example/x".to_owned()]).is_err());
        assert!(OriginPolicy::new(&["app.example".to_owned()]).is_err());
    }

    #[test]
    fn hosts_include_the_resource_host() {
        let hosts = allowed_hosts(&Url::parse("https://mcp.example.com/mcp").unwrap());
        assert_eq!(hosts, ["localhost", "127.0.0.1", "::1", "mcp.example.com"]);
        let hosts = allowed_hosts(&Url::parse("http://[::1]:3001/mcp").unwrap());
        assert_eq!(hosts, ["localhost", "127.0.0.1", "::1"]);
    }
}
