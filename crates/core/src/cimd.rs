//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! MCP authorization 2025-11-25 §"Client ID Metadata Documents"): a
//! `client_id` that is an https URL names the client's metadata document,
//! which this server fetches, checks and keeps as the client's registration.
//!
//! Core does no I/O: the HTTP layer fetches ([`MetadataFetcher`]: https
//! only, no private, loopback or link-local address unless allowed, size
//! and time limits). This module decides which URLs may be fetched and
//! what a document must say.

use std::time::Duration;

use serde_json::Value;

use crate::model::{Client, ClientKind, Registration};

/// The `client_id_metadata_*` settings.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Whether such client ids are accepted at all.
    pub enabled: bool,
    /// If not empty, only these hosts (`a.example`, `*.a.example`).
    pub allowed_hosts: Vec<String>,
    /// Never these hosts.
    pub denied_hosts: Vec<String>,
    /// The longest a document is reused.
    pub cache_max: Duration,
    /// Whether loopback, private and link-local addresses may be fetched.
    pub allow_insecure_addresses: bool,
}

/// The largest document accepted, in bytes.
pub const MAX_DOCUMENT: usize = 16 * 1024;
/// How long a fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a document without caching headers is reused.
pub const DEFAULT_CACHE: Duration = Duration::from_secs(300);
/// How long a failed fetch is remembered (not retried).
pub const FAILURE_CACHE: Duration = Duration::from_secs(30);
/// Documents fetched and failures remembered at most (per node).
pub const MAX_CACHED: usize = 10_000;
/// Documents fetched at once (per node); past it, a document not known
/// yet is refused for the moment rather than queued.
pub const MAX_FETCHES: usize = 8;

fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(domain) => host
            .strip_suffix(domain)
            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        None => pattern == host,
    }
}

impl Policy {
    /// Whether the host's documents may be fetched (deny wins).
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        !self.denied_hosts.iter().any(|p| host_matches(p, &host))
            && (self.allowed_hosts.is_empty()
                || self.allowed_hosts.iter().any(|p| host_matches(p, &host)))
    }
}

/// Whether `client_id` looks like a metadata document URL (then it is
/// treated as one, or refused; never looked up as an ordinary id alone).
pub fn is_metadata_client_id(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// The draft's §3 rules for the URL itself: https, a host, a path other
/// than `/`, no dot segments, no fragment, no credentials; the host
/// allowed by the operator. Returns the host.
pub fn check_url(policy: &Policy, client_id: &str) -> Result<String, String> {
    if !client_id.starts_with("https://") {
        return Err("a client_id URL must be https".into());
    }
    if client_id.len() > 2048 {
        return Err("the client_id URL is too long".into());
    }
    let url =
        url::Url::parse(client_id).map_err(|e| format!("the client_id URL is invalid: {e}"))?;
    // The URL must be exactly as parsed: no normalisation may make two
    // spellings one client.
    if url.as_str() != client_id {
        return Err("the client_id URL is not in normal form".into());
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err("the client_id URL may not have a fragment or credentials".into());
    }
    if url.path() == "/" || client_id.contains("/./") || client_id.contains("/../") {
        return Err("the client_id URL must have a path without dot segments".into());
    }
    let host = url
        .host_str()
        .ok_or_else(|| "the client_id URL has no host".to_owned())?
        .to_owned();
    // `evil.example.` is `evil.example`: one spelling, or a deny list
    // could be passed by the other.
    if host.ends_with('.') {
        return Err("the client_id URL's host may not end with a dot".into());
    }
    // An IPv4 address written as IPv6 is matched as itself.
    let matched = match url.host() {
        Some(url::Host::Ipv6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(|| host.clone(), |v4| v4.to_string()),
        _ => host.clone(),
    };
    if !policy.host_allowed(&matched) {
        return Err(format!(
            "client metadata documents from {host} are not accepted here"
        ));
    }
    Ok(host)
}

/// A fetched document.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The body.
    pub body: String,
    /// How long it may be reused, from its caching headers: `None` without
    /// any, `Some(0)` for `no-store` / `no-cache` / `max-age=0`.
    pub max_age: Option<u64>,
}

/// Fetches client metadata documents (the HTTP layer provides it).
#[async_trait::async_trait]
pub trait MetadataFetcher: Send + Sync + std::fmt::Debug {
    /// The document at `url`; an error says why it could not be had.
    async fn fetch(&self, url: &str, allow_insecure_addresses: bool) -> Result<Fetched, String>;
}

/// How long a fetched document is reused: its `max_age`, at most the cap.
pub fn reuse_for(policy: &Policy, fetched: &Fetched) -> i64 {
    let cap = policy.cache_max.as_secs();
    fetched.max_age.unwrap_or(DEFAULT_CACHE.as_secs()).min(cap) as i64
}

/// The client a document describes (draft §4), or why it is refused.
/// `available_scopes` are what a client may ask for when the document
/// lists none: OpenID Connect's and the registered resources'.
pub fn client_from_document(
    client_id: &str,
    body: &str,
    available_scopes: &[String],
    now: i64,
) -> Result<Client, String> {
    let doc: Value =
        serde_json::from_str(body).map_err(|e| format!("the document is not JSON: {e}"))?;
    let meta = crate::registration::Metadata::from_json(&doc).map_err(|e| e.description)?;
    if doc["client_id"].as_str() != Some(client_id) {
        return Err("the document's client_id is not its own URL".into());
    }
    let host = url::Url::parse(client_id)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let kind = match meta.token_endpoint_auth_method.as_deref().unwrap_or("none") {
        "none" => ClientKind::Public,
        "private_key_jwt" if meta.jwks_uri.is_some() => ClientKind::Confidential,
        "private_key_jwt" => {
            return Err("private_key_jwt needs a jwks_uri in the document".into())
        }
        other => {
            return Err(format!(
                "token_endpoint_auth_method {other:?} cannot be used by a metadata document client (use none or private_key_jwt)"
            ))
        }
    };
    if meta.jwks.is_some() {
        return Err("publish keys at a jwks_uri, not inline".into());
    }
    // Nobody vouched for a document: it may act for users who approve it,
    // never on its own behalf (client_credentials would give anyone with
    // a website tokens for the registered resources).
    if let Some(g) = meta.grant_types.as_ref().and_then(|g| {
        g.iter()
            .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
    }) {
        return Err(format!(
            "grant type {g:?} is not available to a metadata document client (authorization_code and refresh_token are)"
        ));
    }
    crate::registration::require_safe_redirects(&meta).map_err(|e| e.description)?;
    let mut client = meta
        .into_client(client_id.to_owned(), kind, available_scopes, now)
        .map_err(|e| e.description)?;
    client.registration = Registration::Metadata;
    if client.name.is_empty() {
        client.name = host;
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            enabled: true,
            cache_max: Duration::from_secs(3600),
            ..Policy::default()
        }
    }

    #[test]
    fn urls_that_are_refused() {
        let p = policy();
        assert!(check_url(&p, "https://app.example/client.json").is_ok());
        for bad in [
            "http://app.example/client.json",
            "https://app.example/",
            "https://app.example",
            "https://app.example/a/../client.json",
            "https://user:pw@app.example/client.json",
            "https://app.example/client.json#x",
            "https://APP.example/client.json",
            "https://app.example./client.json",
        ] {
            assert!(check_url(&p, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts_allowed_and_denied() {
        let mut p = policy();
        p.allowed_hosts = vec!["*.trusted.example".into(), "one.example".into()];
        p.denied_hosts = vec!["bad.trusted.example".into()];
        assert!(p.host_allowed("app.trusted.example"));
        assert!(p.host_allowed("one.example"));
        assert!(!p.host_allowed("trusted.example"));
        assert!(!p.host_allowed("eviltrusted.example"));
        assert!(!p.host_allowed("bad.trusted.example"));
        assert!(!p.host_allowed("other.example"));
        let mut p = policy();
        p.denied_hosts = vec!["11.22.33.44".into()];
        assert!(check_url(&p, "https://[::ffff:b16:212c]:8443/x.json").is_err());
        assert!(check_url(&p, "https://11.22.33.44/x.json").is_err());
    }

    #[test]
    fn cache_is_capped() {
        let p = policy();
        let f = |max_age| Fetched {
            body: String::new(),
            max_age,
        };
        assert_eq!(reuse_for(&p, &f(None)), 300);
        assert_eq!(reuse_for(&p, &f(Some(0))), 0);
        assert_eq!(reuse_for(&p, &f(Some(86_400 * 365))), 3600);
    }
}
