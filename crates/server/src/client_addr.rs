//! The client's address behind trusted reverse proxies (RFC 7239
//! `Forwarded`, or the de-facto `X-Forwarded-For`).
//!
//! Limits and logs key on the client's address. Behind a proxy every
//! connection comes from the proxy, so its forwarding header is read, but
//! only when the connection comes from a configured trusted network
//! (`trusted_proxies`): anyone else could write any address there. The
//! list of hops is walked from the right (the nearest proxy first); the
//! first hop not in a trusted network is the client. A hop that cannot be
//! read (`unknown`, an obfuscated identifier) stops the walk at the proxy
//! that reported it, which is then counted as the client: stricter, never
//! looser.

use std::net::IpAddr;

use axum::http::{header, HeaderMap};
use ipnet::IpNet;

/// The most hops read from a forwarding header.
const MAX_HOPS: usize = 32;

/// The client's address for a request from `peer`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded(headers).or_else(|| x_forwarded_for(headers));
    let mut client = peer;
    for hop in hops.unwrap_or_default().iter().rev() {
        match hop {
            Some(ip) => {
                client = *ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            None => break,
        }
    }
    client
}

/// The `for=` hops of `Forwarded` (RFC 7239 §4, §5.2), in order; None if
/// the header is absent. A hop that is not an address is `None`.
fn forwarded(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    hops(headers, header::FORWARDED.as_str(), |element| {
        element
            .split(';')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
            .and_then(|(_, v)| node_ip(v.trim().trim_matches('"')))
    })
}

/// The hops of `X-Forwarded-For`, in order; None if absent.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    hops(headers, "x-forwarded-for", |hop| node_ip(hop.trim()))
}

/// The comma-separated elements of every `name` header, in order, each
/// read by `hop` (at most [`MAX_HOPS`]); None if there is no such header.
fn hops(
    headers: &HeaderMap,
    name: &str,
    hop: impl Fn(&str) -> Option<IpAddr>,
) -> Option<Vec<Option<IpAddr>>> {
    let mut values = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .peekable();
    values.peek()?;
    Some(
        values
            .flat_map(|v| v.split(','))
            .take(MAX_HOPS)
            .map(hop)
            .collect(),
    )
}

/// An address from a node: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711` or a bare IPv6 address.
fn node_ip(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (host, _port) = node.rsplit_once(':')?;
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(v: &[&str]) -> Vec<IpNet> {
        v.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ]);
        assert_eq!(
            client_ip(ip("198.51.100.1"), &h, &nets(&["10.0.0.0/8"])),
            ip("198.51.100.1")
        );
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &[]), ip("10.0.0.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_hop_from_the_right() {
        let trusted = nets(&["10.0.0.0/8"]);
        // A client-written hop at the left is not believed over the one the
        // proxy added.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.2")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("203.0.113.9"));
        let h = headers(&[(
            "forwarded",
            "for=1.2.3.4, for=\"[2001:db8:cafe::17]:4711\";proto=https, For=10.0.0.2",
        )]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &trusted),
            ip("2001:db8:cafe::17")
        );
        // Forwarded wins over X-Forwarded-For.
        let h = headers(&[
            ("forwarded", "for=192.0.2.7:80"),
            ("x-forwarded-for", "192.0.2.8"),
        ]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("192.0.2.7"));
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn an_unreadable_hop_stops_at_the_proxy_that_reported_it() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[("forwarded", "for=192.0.2.1, for=unknown, for=10.0.0.2")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.2"));
        let h = headers(&[("x-forwarded-for", "_hidden")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.1"));
    }
}
