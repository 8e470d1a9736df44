//! Fetching client metadata documents (see `proofkey_core::cimd`): https
//! only, no redirects, 5 s, 16 KiB at most, and never from a loopback,
//! private, link-local or otherwise non-public address (unless the
//! operator allows it for a test setup): the host is resolved by a
//! resolver that drops such addresses, and the connection uses only what
//! it kept, so a name that resolves to an internal address (at once, or
//! on a second lookup: DNS rebinding) is never reached.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use proofkey_core::cimd::{Fetched, MetadataFetcher, FETCH_TIMEOUT, MAX_DOCUMENT};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether an address is on the public internet (a rough `is_global`: not
/// loopback, private, shared, link-local, unspecified, multicast,
/// documentation, benchmarking or reserved; IPv4-mapped IPv6 as IPv4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || o[0] >= 240
                || (o[0] == 192 && o[1] == 0 && o[2] == 0))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x64 && s[1] == 0xff9b)
                // IPv4-compatible (::/96, deprecated) and IPv4-translated
                // (::ffff:0:0/96) addresses: nothing public is there.
                || s[..6] == [0; 6]
                || (s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0))
        }
    }
}

/// Resolves with the system resolver, keeping public addresses only.
#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host}{NO_PUBLIC_ADDRESS}").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Outbound https: one client that connects to public addresses only,
/// one that may connect anywhere (for operators' own URLs and test setups).
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    public_only: reqwest::Client,
    pub(crate) any_address: reqwest::Client,
}

impl Outbound {
    pub(crate) fn new(roots: &[reqwest::Certificate]) -> Result<Self, String> {
        Ok(Self {
            public_only: outbound_client(roots, Some(Arc::new(PublicOnly)))?,
            any_address: outbound_client(roots, None)?,
        })
    }
}

const NO_PUBLIC_ADDRESS: &str = " has no public address";

/// The reqwest-based fetcher.
#[derive(Debug, Clone)]
pub struct HttpMetadataFetcher(Outbound);

/// A client for this server's own outbound requests: a time limit, no
/// redirects, and the operator's extra roots besides the public ones.
pub(crate) fn outbound_client(
    roots: &[reqwest::Certificate],
    resolver: Option<Arc<dyn Resolve>>,
) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("proofkey/", env!("CARGO_PKG_VERSION")));
    for r in roots {
        b = b.add_root_certificate(r.clone());
    }
    if let Some(r) = resolver {
        b = b.dns_resolver2(r);
    }
    b.build().map_err(|e| e.to_string())
}

/// The certificates of `outbound_ca_file`, if set.
pub fn outbound_roots(file: Option<&std::path::Path>) -> Result<Vec<reqwest::Certificate>, String> {
    let Some(path) = file else {
        return Ok(Vec::new());
    };
    let pem =
        std::fs::read(path).map_err(|e| format!("outbound_ca_file {}: {e}", path.display()))?;
    reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("outbound_ca_file {}: {e}", path.display()))
}

impl HttpMetadataFetcher {
    /// A fetcher trusting the public roots and `roots`.
    pub fn new(roots: &[reqwest::Certificate]) -> Result<Self, String> {
        Outbound::new(roots).map(Self)
    }
}

/// `Cache-Control` `max-age` (or `no-store`/`no-cache`: 0), if any.
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let cc = headers
        .get_all(reqwest::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_ascii_lowercase())
        .collect::<Vec<_>>();
    if cc.iter().any(|d| d == "no-store" || d == "no-cache") {
        return Some(0);
    }
    cc.iter()
        .find_map(|d| d.strip_prefix("max-age=").and_then(|n| n.parse().ok()))
}

impl Outbound {
    /// GETs `url` (https only), from a public address unless
    /// `allow_insecure_addresses`. The error says why, without the
    /// resolver's, the operating system's or the TLS library's words
    /// (those go to the log): it may be shown to whoever named the URL.
    pub(crate) async fn get(
        &self,
        url: &str,
        allow_insecure_addresses: bool,
    ) -> Result<reqwest::Response, String> {
        let parsed = url::Url::parse(url).map_err(|_| "the URL is invalid".to_owned())?;
        if parsed.scheme() != "https" {
            return Err("only https URLs are fetched".into());
        }
        // An IP literal never reaches the resolver: checked here.
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        if !allow_insecure_addresses && literal.is_some_and(|ip| !is_public(ip)) {
            return Err("the URL's address is not public".into());
        }
        let http = if allow_insecure_addresses {
            &self.any_address
        } else {
            &self.public_only
        };
        let resp = http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                let mut detail = e.to_string();
                let mut src = std::error::Error::source(&e);
                let mut no_public = false;
                while let Some(s) = src {
                    detail = s.to_string();
                    no_public |= detail.ends_with(NO_PUBLIC_ADDRESS);
                    src = s.source();
                }
                tracing::info!(url, error = %detail, "outbound fetch failed");
                if no_public {
                    format!("the host{NO_PUBLIC_ADDRESS}")
                } else if e.is_timeout() {
                    "the fetch timed out".to_owned()
                } else {
                    "the host could not be reached over https (connection or certificate)"
                        .to_owned()
                }
            })?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        Ok(resp)
    }
}

#[async_trait::async_trait]
impl MetadataFetcher for HttpMetadataFetcher {
    async fn fetch(&self, url: &str, allow_insecure_addresses: bool) -> Result<Fetched, String> {
        let resp = self.0.get(url, allow_insecure_addresses).await?;
        let max_age = max_age(resp.headers());
        let body = crate::jwks_fetch::read_capped(resp, MAX_DOCUMENT).await?;
        Ok(Fetched { body, max_age })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::7f00:1",
            "::ffff:0:7f00:1",
            "fec0::1",
            "64:ff9b:1::1",
        ] {
            assert!(
                !is_public(ip.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))),
                "{ip}"
            );
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(
                is_public(ip.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))),
                "{ip}"
            );
        }
    }

    #[test]
    fn caching_headers() {
        let h = |v: &str| {
            let mut m = reqwest::header::HeaderMap::new();
            if let Ok(v) = reqwest::header::HeaderValue::from_str(v) {
                m.insert(reqwest::header::CACHE_CONTROL, v);
            }
            m
        };
        assert_eq!(max_age(&h("public, max-age=600")), Some(600));
        assert_eq!(max_age(&h("no-store")), Some(0));
        assert_eq!(max_age(&h("")), None);
    }
}
