//! The configuration of a [`ResourceServer`], checked when it is built
//! (house rule 7: validated at start-up, failing closed).

use std::sync::Arc;
use std::time::Duration;

use url::{Host, Url};

use crate::clock::{Clock, SystemClock};
use crate::jwks::{asymmetric_alg, ASYMMETRIC};
use crate::secret::ClientSecret;
use crate::server::ResourceServer;
use crate::{replay, scope};

/// How access tokens are checked.
#[derive(Debug, Default)]
pub enum Validation {
    /// Locally, as RFC 9068 JWTs, against the issuer's JWK Set (cached;
    /// see [`ResourceServerBuilder::jwks_refetch_interval`]). The default.
    #[default]
    Jwks,
    /// By asking the issuer (RFC 7662), authenticating as this confidential
    /// client with `client_secret_basic`. Every request asks; nothing is
    /// cached, so revocation takes effect at once.
    Introspection {
        /// The resource's client id at the issuer.
        client_id: String,
        /// Its secret.
        client_secret: ClientSecret,
    },
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A URL that does not parse, or that breaks a rule of its field.
    #[error("{field}: {reason}")]
    InvalidUrl {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not an RFC 6749 §3.3 scope token.
    #[error("not a valid scope: {0:?}")]
    InvalidScope(String),
    /// An algorithm that is not one of the asymmetric algorithms supported.
    #[error("unsupported signing algorithm: {0:?}")]
    UnsupportedAlgorithm(String),
    /// A setting out of range.
    #[error("{0}")]
    InvalidSetting(&'static str),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// Builds a [`ResourceServer`]; see [`ResourceServer::builder`].
#[derive(Debug)]
pub struct ResourceServerBuilder {
    pub(crate) issuer: String,
    pub(crate) resource: String,
    pub(crate) validation: Validation,
    pub(crate) jwks_uri: Option<String>,
    pub(crate) introspection_endpoint: Option<String>,
    pub(crate) leeway: Duration,
    pub(crate) jwks_refetch_interval: Duration,
    pub(crate) jwks_max_age: Duration,
    pub(crate) http_timeout: Duration,
    pub(crate) http_client: Option<reqwest::Client>,
    pub(crate) max_token_bytes: usize,
    pub(crate) max_concurrent_introspections: usize,
    pub(crate) algorithms: Option<Vec<String>>,
    pub(crate) scopes_supported: Vec<String>,
    pub(crate) resource_name: Option<String>,
    pub(crate) resource_documentation: Option<String>,
    pub(crate) dpop_required: bool,
    pub(crate) dpop_algorithms: Option<Vec<String>>,
    pub(crate) dpop_max_age: Duration,
    pub(crate) dpop_replay_capacity: usize,
    pub(crate) dpop_replay_key_quota: Option<usize>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl ResourceServerBuilder {
    pub(crate) fn new(issuer: &str, resource: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            resource: resource.to_owned(),
            validation: Validation::Jwks,
            jwks_uri: None,
            introspection_endpoint: None,
            leeway: Duration::from_secs(60),
            jwks_refetch_interval: Duration::from_secs(30),
            jwks_max_age: Duration::from_secs(300),
            http_timeout: Duration::from_secs(5),
            http_client: None,
            max_token_bytes: 8 * 1024,
            max_concurrent_introspections: 32,
            algorithms: None,
            scopes_supported: Vec::new(),
            resource_name: None,
            resource_documentation: None,
            dpop_required: false,
            dpop_algorithms: None,
            dpop_max_age: Duration::from_secs(60),
            dpop_replay_capacity: 100_000,
            dpop_replay_key_quota: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// How tokens are checked (default [`Validation::Jwks`]).
    pub fn validation(mut self, validation: Validation) -> Self {
        self.validation = validation;
        self
    }

    /// The JWK Set's URL, instead of the `jwks_uri` of the issuer's
    /// RFC 8414 metadata.
    pub fn jwks_uri(mut self, uri: &str) -> Self {
        self.jwks_uri = Some(uri.to_owned());
        self
    }

    /// The introspection endpoint, instead of the metadata's.
    pub fn introspection_endpoint(mut self, uri: &str) -> Self {
        self.introspection_endpoint = Some(uri.to_owned());
        self
    }

    /// Clock skew tolerated on `exp` and `nbf`, and on how far in the
    /// future a DPoP proof's `iat` may be (default 60 s, at most 5 min).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The least time between two fetches of the JWK Set (default 30 s, at
    /// least 1 s): a token with an unknown `kid` causes a refetch only once
    /// this has passed since the last fetch started. A key the issuer
    /// starts using within this interval after a fetch is refused until it
    /// passes; issuers should publish keys before signing with them.
    pub fn jwks_refetch_interval(mut self, interval: Duration) -> Self {
        self.jwks_refetch_interval = interval;
        self
    }

    /// Age after which the JWK Set is fetched again on the next request,
    /// so that withdrawn keys stop being accepted (default 5 min; at least
    /// the refetch interval).
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// The deadline of each exchange with the issuer (default 5 s).
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// The HTTP client to reach the issuer with (proxies, extra roots). The
    /// default client follows no redirects; yours decides for itself. The
    /// deadline and the 64 KiB body cap apply either way.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// The longest token accepted (default 8 KiB; 256 B to 64 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }

    /// Introspections in flight at once (default 32).
    pub fn max_concurrent_introspections(mut self, max: usize) -> Self {
        self.max_concurrent_introspections = max;
        self
    }

    /// The JWS algorithms accepted (default: ES256, ES384, RS256, RS384,
    /// RS512, PS256, PS384, PS512, EdDSA). `none` and HMAC algorithms are
    /// never accepted.
    pub fn algorithms<I, S>(mut self, algorithms: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.algorithms = Some(algorithms.into_iter().map(Into::into).collect());
        self
    }

    /// `scopes_supported` of the protected resource metadata (RFC 9728 §2).
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// `resource_name` of the metadata (RFC 9728 §2), for people.
    pub fn resource_name(mut self, name: &str) -> Self {
        self.resource_name = Some(name.to_owned());
        self
    }

    /// `resource_documentation` of the metadata (RFC 9728 §2): a URL.
    pub fn resource_documentation(mut self, url: &str) -> Self {
        self.resource_documentation = Some(url.to_owned());
        self
    }

    /// RFC 9449 §7.2, RFC 9728 §2 `dpop_bound_access_tokens_required`:
    /// accept only DPoP-bound tokens, with the `DPoP` scheme and a proof
    /// (default `false`: bearer tokens are accepted too, DPoP-bound ones
    /// only with a proof). When `true`, a `Bearer` request gets 401
    /// `invalid_token` in a `DPoP` challenge, and challenges name only
    /// `DPoP`.
    pub fn dpop_required(mut self, required: bool) -> Self {
        self.dpop_required = required;
        self
    }

    /// The DPoP proof algorithms accepted (RFC 9449 §7.1 `algs`; RFC 9728
    /// `dpop_signing_alg_values_supported`); default all that
    /// `proofkey_dpop` verifies: ES256, ES384, EdDSA, RS256, PS256.
    pub fn dpop_algorithms<I, S>(mut self, algorithms: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.dpop_algorithms = Some(algorithms.into_iter().map(Into::into).collect());
        self
    }

    /// How old a DPoP proof may be (RFC 9449 §4.3 check 11, `iat`):
    /// default 60 s, from 1 s to 10 min. A proof's `jti` is remembered for
    /// this plus the leeway.
    pub fn dpop_max_age(mut self, max_age: Duration) -> Self {
        self.dpop_max_age = max_age;
        self
    }

    /// How many DPoP proofs the replay cache remembers (RFC 9449 §11.1):
    /// default 100 000, from 1 to 10 000 000. Each is kept for
    /// `dpop_max_age` + `leeway` (2 min by default), so the default
    /// allows about 800 DPoP requests per second per process; past that,
    /// requests get 503 with `Retry-After` until entries expire. The cache
    /// is per process: see the README on replicas. Each key may hold only
    /// a share of it: see [`Self::dpop_replay_key_quota`].
    pub fn dpop_replay_capacity(mut self, capacity: usize) -> Self {
        self.dpop_replay_capacity = capacity;
        self
    }

    /// How many of the replay cache's live entries one DPoP key (one
    /// thumbprint, so one client's tokens) may hold: default 5 % of
    /// [`Self::dpop_replay_capacity`], at least 16 and at most the
    /// capacity (5 000 by default); from 1 to the capacity. A proof
    /// beyond its key's quota is refused for that key only: 429 with
    /// `Retry-After` ([`crate::AuthError::DpopKeyQuotaExceeded`]), so that
    /// one token holder cannot fill the cache and have every other client
    /// refused with 503. An entry lives `dpop_max_age` + `leeway` (2 min by
    /// default), so the default lets one key make about 40 DPoP requests
    /// per second, sustained; raise it for a client that needs more.
    pub fn dpop_replay_key_quota(mut self, quota: usize) -> Self {
        self.dpop_replay_key_quota = Some(quota);
        self
    }

    /// The clock (default: the system's); tests inject a
    /// [`crate::ManualClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks everything and builds the server. No request is made: the
    /// issuer is first contacted when a token must be checked (or by
    /// [`ResourceServer::prefetch`]).
    pub fn build(self) -> Result<ResourceServer, ConfigError> {
        ResourceServer::from_builder(self)
    }

    /// The checked settings (used by [`ResourceServer::from_builder`]).
    pub(crate) fn check(&self) -> Result<Checked, ConfigError> {
        let issuer = check_field("issuer", &self.issuer)?;
        if issuer.query().is_some() {
            // RFC 8414 §2: no query or fragment in an issuer identifier.
            return Err(invalid("issuer", "must not have a query"));
        }
        let resource = check_field("resource", &self.resource)?;
        if resource.query().is_some() {
            // RFC 9728 §1.2 discourages it; refused to keep one metadata path.
            return Err(invalid("resource", "must not have a query"));
        }
        if resource
            .path_segments()
            .into_iter()
            .flatten()
            .any(|s| s.starts_with(':') || s.starts_with('*'))
        {
            return Err(invalid(
                "resource",
                "path segments must not start with ':' or '*'",
            ));
        }
        for (field, value) in [
            ("jwks_uri", &self.jwks_uri),
            ("introspection_endpoint", &self.introspection_endpoint),
            ("resource_documentation", &self.resource_documentation),
        ] {
            if let Some(v) = value {
                check_field(field, v)?;
            }
        }
        if self.leeway > Duration::from_secs(300) {
            return Err(ConfigError::InvalidSetting("leeway must be at most 300 s"));
        }
        if self.jwks_refetch_interval < Duration::from_secs(1) {
            return Err(ConfigError::InvalidSetting(
                "jwks_refetch_interval must be at least 1 s",
            ));
        }
        if self.jwks_max_age < self.jwks_refetch_interval {
            return Err(ConfigError::InvalidSetting(
                "jwks_max_age must be at least jwks_refetch_interval",
            ));
        }
        if self.http_timeout.is_zero() || self.http_timeout > Duration::from_secs(60) {
            return Err(ConfigError::InvalidSetting(
                "http_timeout must be between 0 and 60 s",
            ));
        }
        if !(256..=64 * 1024).contains(&self.max_token_bytes) {
            return Err(ConfigError::InvalidSetting(
                "max_token_bytes must be between 256 and 65536",
            ));
        }
        if !(1..=1024).contains(&self.max_concurrent_introspections) {
            return Err(ConfigError::InvalidSetting(
                "max_concurrent_introspections must be between 1 and 1024",
            ));
        }
        if let Validation::Introspection { client_id, .. } = &self.validation {
            if client_id.is_empty() {
                return Err(ConfigError::InvalidSetting(
                    "introspection needs a client_id",
                ));
            }
        }
        if self.dpop_max_age < Duration::from_secs(1)
            || self.dpop_max_age > Duration::from_secs(600)
        {
            return Err(ConfigError::InvalidSetting(
                "dpop_max_age must be between 1 s and 600 s",
            ));
        }
        if !(1..=10_000_000).contains(&self.dpop_replay_capacity) {
            return Err(ConfigError::InvalidSetting(
                "dpop_replay_capacity must be between 1 and 10000000",
            ));
        }
        let dpop_replay_key_quota = match self.dpop_replay_key_quota {
            None => replay::default_key_quota(self.dpop_replay_capacity),
            Some(q) if (1..=self.dpop_replay_capacity).contains(&q) => q,
            Some(_) => {
                return Err(ConfigError::InvalidSetting(
                    "dpop_replay_key_quota must be between 1 and dpop_replay_capacity",
                ))
            }
        };
        let dpop_algorithms = match &self.dpop_algorithms {
            None => proofkey_dpop::SUPPORTED_ALGS.to_vec(),
            Some(names) if names.is_empty() => {
                return Err(ConfigError::InvalidSetting(
                    "dpop_algorithms must not be empty",
                ))
            }
            Some(names) => {
                let mut algs = Vec::new();
                for n in names {
                    let alg = proofkey_dpop::SUPPORTED_ALGS
                        .iter()
                        .find(|a| **a == n.as_str())
                        .ok_or_else(|| ConfigError::UnsupportedAlgorithm(n.clone()))?;
                    if !algs.contains(alg) {
                        algs.push(*alg);
                    }
                }
                algs
            }
        };
        let algorithms = match &self.algorithms {
            None => ASYMMETRIC.iter().map(|(_, a)| *a).collect(),
            Some(names) if names.is_empty() => {
                return Err(ConfigError::InvalidSetting("algorithms must not be empty"))
            }
            Some(names) => names
                .iter()
                .map(|n| {
                    asymmetric_alg(n).ok_or_else(|| ConfigError::UnsupportedAlgorithm(n.clone()))
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Checked {
            resource,
            algorithms,
            dpop_algorithms,
            dpop_replay_key_quota,
            scopes_supported: scope::parse_list(self.scopes_supported.iter().cloned())?,
        })
    }
}

/// What [`ResourceServerBuilder::check`] derived.
#[derive(Debug)]
pub(crate) struct Checked {
    pub resource: Url,
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    pub dpop_algorithms: Vec<&'static str>,
    /// The replay cache's quota per key, the default applied.
    pub dpop_replay_key_quota: usize,
    pub scopes_supported: Vec<String>,
}

fn invalid(field: &'static str, reason: &'static str) -> ConfigError {
    ConfigError::InvalidUrl { field, reason }
}

fn check_field(field: &'static str, value: &str) -> Result<Url, ConfigError> {
    check_url(value).map_err(|reason| invalid(field, reason))
}

/// The rule for every URL here (issuer, resource, endpoints): absolute;
/// `https`, or `http` to a loopback host only (for development and tests);
/// no user info; no fragment (RFC 8707 §2, RFC 9728 §1.2, RFC 8414 §2).
pub(crate) fn check_url(value: &str) -> Result<Url, &'static str> {
    let url = Url::parse(value).map_err(|_| "not an absolute URL")?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err("must use https (http only to a loopback host)"),
        _ => return Err("must be an https URL"),
    }
    if url.host().is_none() {
        return Err("must have a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials");
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment");
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rule() {
        for ok in [
            "https://as.example",
            "https://as.example/t/1",
            "http://127.0.0.1:8080",
            "http://[::1]/x",
            "http://localhost:3000/mcp",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "as.example",
            "http://as.example",
            "http://10.0.0.1",
            "ftp://as.example",
            "https://u:p@as.example",
            "https://as.example/#f",
            "/relative",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    fn builder() -> ResourceServerBuilder {
        ResourceServerBuilder::new("https://as.example", "https://api.example/mcp")
    }

    #[test]
    fn settings_are_checked() {
        assert!(builder().check().is_ok());
        assert!(builder().leeway(Duration::from_secs(301)).check().is_err());
        assert!(builder()
            .jwks_refetch_interval(Duration::ZERO)
            .check()
            .is_err());
        assert!(builder()
            .jwks_refetch_interval(Duration::from_secs(60))
            .jwks_max_age(Duration::from_secs(30))
            .check()
            .is_err());
        assert!(builder().max_token_bytes(10).check().is_err());
        assert!(builder().algorithms(["HS256"]).check().is_err());
        assert!(builder().algorithms(["none"]).check().is_err());
        assert!(builder().algorithms(Vec::<String>::new()).check().is_err());
        assert!(builder().algorithms(["ES256", "EdDSA"]).check().is_ok());
        assert!(builder().scopes_supported(["a b"]).check().is_err());
        assert!(builder().dpop_algorithms(["HS256"]).check().is_err());
        assert!(builder().dpop_algorithms(["none"]).check().is_err());
        assert!(builder()
            .dpop_algorithms(Vec::<String>::new())
            .check()
            .is_err());
        assert_eq!(
            builder()
                .dpop_algorithms(["EdDSA", "ES256", "EdDSA"])
                .check()
                .unwrap()
                .dpop_algorithms,
            ["EdDSA", "ES256"]
        );
        assert!(builder().dpop_max_age(Duration::ZERO).check().is_err());
        assert!(builder()
            .dpop_max_age(Duration::from_secs(601))
            .check()
            .is_err());
        assert!(builder().dpop_replay_capacity(0).check().is_err());
        let quota = |b: ResourceServerBuilder| b.check().map(|c| c.dpop_replay_key_quota);
        assert_eq!(quota(builder()).unwrap(), 5_000);
        assert_eq!(quota(builder().dpop_replay_capacity(300)).unwrap(), 16);
        assert_eq!(quota(builder().dpop_replay_capacity(5)).unwrap(), 5);
        assert_eq!(quota(builder().dpop_replay_key_quota(1)).unwrap(), 1);
        assert_eq!(
            quota(builder().dpop_replay_key_quota(100_000)).unwrap(),
            100_000
        );
        assert!(quota(builder().dpop_replay_key_quota(0)).is_err());
        assert!(quota(builder().dpop_replay_capacity(10).dpop_replay_key_quota(11)).is_err());
        assert!(
            ResourceServerBuilder::new("https://as.example?x=1", "https://api.example")
                .check()
                .is_err()
        );
        assert!(
            ResourceServerBuilder::new("https://as.example", "https://api.example/?q")
                .check()
                .is_err()
        );
        assert!(
            ResourceServerBuilder::new("https://as.example", "https://api.example/:id")
                .check()
                .is_err()
        );
        assert!(builder()
            .validation(Validation::Introspection {
                client_id: String::new(),
                client_secret: ClientSecret::new("s"),
            })
            .check()
            .is_err());
    }
}
