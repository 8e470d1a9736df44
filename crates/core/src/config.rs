//! Server configuration: one typed struct, assembled from layers (defaults,
//! a TOML file, `PROOFKEY_*` variables, flags) and validated before the
//! server starts, failing closed.

use std::net::SocketAddr;
use std::time::Duration;

use proofkey_pkce::ChallengePolicy;
use serde::Deserialize;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Where metrics are served unless configured otherwise: loopback, so
/// that they are not public.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";
/// The default database.
pub const DEFAULT_DATABASE: &str = "sqlite://proofkey.db";

/// One layer of settings; every field optional. The TOML file has exactly
/// these keys; flags and environment variables fill the same struct.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `listen = "127.0.0.1:8080"`.
    pub listen: Option<String>,
    /// `issuer = "https://auth.example.com"`.
    pub issuer: Option<String>,
    /// `database = "sqlite://proofkey.db"`.
    pub database: Option<DatabaseUrl>,
    /// `code_lifetime = "60s"` (at most 10 minutes, RFC 6749 §4.1.2).
    pub code_lifetime: Option<String>,
    /// `access_token_lifetime = "10m"`.
    pub access_token_lifetime: Option<String>,
    /// `id_token_lifetime = "10m"`.
    pub id_token_lifetime: Option<String>,
    /// `session_lifetime = "12h"`.
    pub session_lifetime: Option<String>,
    /// `refresh_token_lifetime = "30d"`: absolute, from the authorization.
    pub refresh_token_lifetime: Option<String>,
    /// `refresh_token_idle_lifetime = "7d"`: unused this long, a refresh token dies.
    pub refresh_token_idle_lifetime: Option<String>,
    /// `refresh_token_reuse_interval = "0s"` (off): how long after a
    /// rotation the client may present the rotated token again, when the
    /// token that replaced it was never used (a lost answer), and get a
    /// fresh pair instead of losing the family. At most 5 minutes.
    pub refresh_token_reuse_interval: Option<String>,
    /// `sweep_interval = "5m"`: how often expired rows are deleted.
    pub sweep_interval: Option<String>,
    /// `code_retention = "1h"`: how long a code's record is kept after the
    /// code expires, so that a replay of a used code still revokes the
    /// tokens issued from it (RFC 6749 §4.1.2). `0s` deletes codes at the
    /// first sweep after expiry.
    pub code_retention: Option<String>,
    /// `device_code_lifetime = "10m"` (RFC 8628 §3.2 `expires_in`).
    pub device_code_lifetime: Option<String>,
    /// `device_poll_interval = "5s"` (RFC 8628 §3.2 `interval`).
    pub device_poll_interval: Option<String>,
    /// `database_max_connections = 16`: PostgreSQL connections per node
    /// (a SQLite node has one connection).
    pub database_max_connections: Option<u32>,
    /// `database_acquire_timeout = "5s"`: how long a request waits for a
    /// PostgreSQL connection before it fails with 503.
    pub database_acquire_timeout: Option<String>,
    /// `password_hash_concurrency = 0`: how many password checks run at
    /// once (each holds a core and argon2's 19 MiB for tens of
    /// milliseconds); 0 is the machine's number of cores.
    pub password_hash_concurrency: Option<u32>,
    /// `password_hash_wait = "5s"`: how long a login waits for a password
    /// check's turn before it is answered 503 with `Retry-After`.
    pub password_hash_wait: Option<String>,
    /// `login_max_failures = 10`: wrong passwords for one account, within
    /// `login_lockout`, that lock it for `login_lockout`.
    pub login_max_failures: Option<u32>,
    /// `login_address_max_failures = 100`: wrong passwords from one address
    /// (an IPv6 /64), whatever the accounts, that block it likewise.
    pub login_address_max_failures: Option<u32>,
    /// `login_lockout = "15m"`: how long a lock lasts, and how long
    /// failures are remembered (at most 24h).
    pub login_lockout: Option<String>,
    /// `login_delay = "1s"`: after three wrong passwords for an account,
    /// the next attempt waits this long, doubled at each
    /// further failure (0s: no delays, only the lock).
    pub login_delay: Option<String>,
    /// `key_encryption_key_file = "/etc/proofkey/kek"`: the key-encryption
    /// key (32 random bytes, base64url, mode 0600) that seals the signing
    /// keys in the database; see [`crate::kek`]. Default: none (keys stored
    /// unencrypted, with a warning at start).
    pub key_encryption_key_file: Option<std::path::PathBuf>,
    /// `trusted_proxies = ["10.0.0.0/8"]`: networks whose connections are
    /// reverse proxies; from them only, the client's address is read from
    /// `Forwarded` or `X-Forwarded-For` (default: none, the peer is the
    /// client).
    pub trusted_proxies: Option<Vec<String>>,
    /// `header_read_timeout = "10s"`: how long a connection may take to
    /// send a request's headers, and how long a kept-alive connection may
    /// stay idle, before it is closed.
    pub header_read_timeout: Option<String>,
    /// `request_timeout = "30s"`: how long a request may take, its body
    /// included, before it is answered 408.
    pub request_timeout: Option<String>,
    /// `max_connections = 0`: open connections at most (0: 4,096, or what
    /// the open-file limit leaves room for); further clients wait in the
    /// listen backlog.
    pub max_connections: Option<u32>,
    /// `shutdown_timeout = "10s"`: on `SIGTERM`, how long requests in
    /// flight may take before the remaining connections are closed.
    pub shutdown_timeout: Option<String>,
    /// `default_resource = "issuer"`: what an access token is for when the
    /// request names no `resource` (RFC 8707): `"issuer"` (this server:
    /// `aud` is the issuer), `"required"` (refused with `invalid_target`),
    /// or a registered resource's URI.
    pub default_resource: Option<String>,
    /// `registration = "off"`: dynamic client registration (RFC 7591):
    /// `"off"`, `"initial-access-token"` (a token minted by `proofkey
    /// client initial-token` is required) or `"open"` (anyone may register
    /// a public client; rate-limited). `--dev` makes it `"open"`.
    pub registration: Option<String>,
    /// `registration_max_per_address = 20`: open registrations per address
    /// (IPv6: per /64) and hour.
    pub registration_max_per_address: Option<u32>,
    /// `client_id_metadata_documents = false`: accept a `client_id` that is
    /// the https URL of the client's metadata document, fetched from there
    /// (draft-ietf-oauth-client-id-metadata-document). `--dev` turns it on.
    pub client_id_metadata_documents: Option<bool>,
    /// `client_id_metadata_allowed_hosts = []`: if set, only these hosts'
    /// documents are fetched (`example.com`, or `*.example.com` for its
    /// subdomains).
    pub client_id_metadata_allowed_hosts: Option<Vec<String>>,
    /// `client_id_metadata_denied_hosts = []`: these hosts' documents are
    /// never fetched (same patterns).
    pub client_id_metadata_denied_hosts: Option<Vec<String>>,
    /// `client_id_metadata_cache_max = "1h"`: the longest a fetched document
    /// is reused, whatever its HTTP caching headers say.
    pub client_id_metadata_cache_max: Option<String>,
    /// `allow_insecure_client_id_metadata_addresses = false`: fetch client
    /// metadata documents from loopback, private and link-local addresses
    /// too (a test setup; otherwise such documents are refused, so that a
    /// `client_id` cannot make the server reach into its own network).
    pub allow_insecure_client_id_metadata_addresses: Option<bool>,
    /// `metrics_listen = "127.0.0.1:9464"`: where Prometheus metrics
    /// (`/metrics`) are served, apart from the public listener; `"off"`
    /// for none.
    pub metrics_listen: Option<String>,
    /// `otlp_endpoint = "http://collector:4318"`: export traces
    /// (OpenTelemetry, OTLP over HTTP) to this collector; none by default.
    pub otlp_endpoint: Option<String>,
    /// `outbound_ca_file = "/etc/proofkey/ca.pem"`: root certificates
    /// (PEM) trusted for this server's own https requests (client
    /// `jwks_uri`s, client metadata documents) besides the public roots.
    pub outbound_ca_file: Option<std::path::PathBuf>,
    /// `dpop_nonce = false`: demand a server nonce in every DPoP proof
    /// (RFC 9449 §8): a proof without the current nonce gets
    /// `use_dpop_nonce` and the nonce in `DPoP-Nonce`. This bounds how
    /// long a proof made in advance stays usable, whatever the client's
    /// clock says, at the price of one more round trip per client.
    pub dpop_nonce: Option<bool>,
    /// `dpop_nonce_lifetime = "5m"`: how often the server's DPoP nonce
    /// changes; a nonce is accepted for two periods.
    pub dpop_nonce_lifetime: Option<String>,
    /// `dpop_proof_max_age = "60s"`: how old a DPoP proof's `iat` may be
    /// (and how long its `jti` is remembered to refuse a replay).
    pub dpop_proof_max_age: Option<String>,
    /// `pushed_authorization_request_lifetime = "60s"`: how long a
    /// `request_uri` from the PAR endpoint may be used (RFC 9126 §2.2).
    pub pushed_authorization_request_lifetime: Option<String>,
    /// `pushed_authorization_request_max_per_address = 300`: pushed
    /// requests per address (IPv6: per /64) and minute, then 429: each is
    /// a stored row, and a public client's push needs only its id.
    pub pushed_authorization_request_max_per_address: Option<u32>,
    /// `require_pushed_authorization_requests = false`: every client must
    /// push its authorization requests (RFC 9126 §5); a client can also be
    /// registered to (`proofkey client create --require-par`).
    pub require_pushed_authorization_requests: Option<bool>,
    /// `product_name = "proofkey"`: the name the pages show users (titles,
    /// header, "Sign in to ...").
    pub product_name: Option<String>,
    /// `theme_logo = "/etc/proofkey/logo.svg"`: an image (PNG, SVG, JPEG,
    /// WebP or GIF, at most 512 KiB) shown at the top of every page, served
    /// from this server at `/assets/logo` (the pages' CSP allows no other
    /// origin).
    pub theme_logo: Option<std::path::PathBuf>,
    /// `theme_primary_color = "#2553d8"`: buttons, links and focus rings
    /// (`#rgb` or `#rrggbb`). White text sits on it: keep 4.5:1 contrast.
    pub theme_primary_color: Option<String>,
    /// `theme_background_color = "#f4f5f7"`: the page behind the card.
    pub theme_background_color: Option<String>,
    /// `templates_dir = "/etc/proofkey/templates"`: `NAME.html` files there
    /// replace the built-in template of that name (minijinja; see
    /// docs/theming.md for what each receives); they are compiled and
    /// rendered once at start, and a broken one stops the server.
    pub templates_dir: Option<std::path::PathBuf>,
    /// `translations_dir = "/etc/proofkey/locales"`: `LANG/*.ftl` (Fluent)
    /// files there add languages, or add and override messages of the
    /// built-in ones (English, German, French).
    pub translations_dir: Option<std::path::PathBuf>,
    /// `[scope_descriptions."mcp:tools"] en = "use your tools", de = "..."`:
    /// what the consent pages say a scope allows, per language (the first
    /// of the page's languages found, then `en`).
    pub scope_descriptions:
        Option<std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>>,
    /// `allow_insecure_plain = false`: accept PKCE `plain` (RFC 7636 §4.2).
    pub allow_insecure_plain: Option<bool>,
    /// `allow_insecure_http_issuer = false`: allow an `http://` issuer that
    /// is not a loopback address.
    pub allow_insecure_http_issuer: Option<bool>,
    /// `allow_insecure_database_tls = false`: allow a PostgreSQL database
    /// on another host without `sslmode=verify-full` or `verify-ca`.
    pub allow_insecure_database_tls: Option<bool>,
}

impl Settings {
    /// Reads a TOML file.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml_parse(text)
    }

    /// `self` with every unset field taken from `lower`.
    pub fn over(self, lower: Settings) -> Settings {
        Settings {
            listen: self.listen.or(lower.listen),
            issuer: self.issuer.or(lower.issuer),
            database: self.database.or(lower.database),
            code_lifetime: self.code_lifetime.or(lower.code_lifetime),
            access_token_lifetime: self.access_token_lifetime.or(lower.access_token_lifetime),
            id_token_lifetime: self.id_token_lifetime.or(lower.id_token_lifetime),
            session_lifetime: self.session_lifetime.or(lower.session_lifetime),
            refresh_token_lifetime: self.refresh_token_lifetime.or(lower.refresh_token_lifetime),
            refresh_token_idle_lifetime: self
                .refresh_token_idle_lifetime
                .or(lower.refresh_token_idle_lifetime),
            refresh_token_reuse_interval: self
                .refresh_token_reuse_interval
                .or(lower.refresh_token_reuse_interval),
            sweep_interval: self.sweep_interval.or(lower.sweep_interval),
            code_retention: self.code_retention.or(lower.code_retention),
            device_code_lifetime: self.device_code_lifetime.or(lower.device_code_lifetime),
            device_poll_interval: self.device_poll_interval.or(lower.device_poll_interval),
            database_max_connections: self
                .database_max_connections
                .or(lower.database_max_connections),
            database_acquire_timeout: self
                .database_acquire_timeout
                .or(lower.database_acquire_timeout),
            password_hash_concurrency: self
                .password_hash_concurrency
                .or(lower.password_hash_concurrency),
            password_hash_wait: self.password_hash_wait.or(lower.password_hash_wait),
            login_max_failures: self.login_max_failures.or(lower.login_max_failures),
            login_address_max_failures: self
                .login_address_max_failures
                .or(lower.login_address_max_failures),
            login_lockout: self.login_lockout.or(lower.login_lockout),
            login_delay: self.login_delay.or(lower.login_delay),
            key_encryption_key_file: self
                .key_encryption_key_file
                .or(lower.key_encryption_key_file),
            trusted_proxies: self.trusted_proxies.or(lower.trusted_proxies),
            header_read_timeout: self.header_read_timeout.or(lower.header_read_timeout),
            request_timeout: self.request_timeout.or(lower.request_timeout),
            max_connections: self.max_connections.or(lower.max_connections),
            shutdown_timeout: self.shutdown_timeout.or(lower.shutdown_timeout),
            default_resource: self.default_resource.or(lower.default_resource),
            registration: self.registration.or(lower.registration),
            registration_max_per_address: self
                .registration_max_per_address
                .or(lower.registration_max_per_address),
            client_id_metadata_documents: self
                .client_id_metadata_documents
                .or(lower.client_id_metadata_documents),
            client_id_metadata_allowed_hosts: self
                .client_id_metadata_allowed_hosts
                .or(lower.client_id_metadata_allowed_hosts),
            client_id_metadata_denied_hosts: self
                .client_id_metadata_denied_hosts
                .or(lower.client_id_metadata_denied_hosts),
            client_id_metadata_cache_max: self
                .client_id_metadata_cache_max
                .or(lower.client_id_metadata_cache_max),
            allow_insecure_client_id_metadata_addresses: self
                .allow_insecure_client_id_metadata_addresses
                .or(lower.allow_insecure_client_id_metadata_addresses),
            outbound_ca_file: self.outbound_ca_file.or(lower.outbound_ca_file),
            metrics_listen: self.metrics_listen.or(lower.metrics_listen),
            otlp_endpoint: self.otlp_endpoint.or(lower.otlp_endpoint),
            dpop_nonce: self.dpop_nonce.or(lower.dpop_nonce),
            dpop_nonce_lifetime: self.dpop_nonce_lifetime.or(lower.dpop_nonce_lifetime),
            dpop_proof_max_age: self.dpop_proof_max_age.or(lower.dpop_proof_max_age),
            pushed_authorization_request_lifetime: self
                .pushed_authorization_request_lifetime
                .or(lower.pushed_authorization_request_lifetime),
            pushed_authorization_request_max_per_address: self
                .pushed_authorization_request_max_per_address
                .or(lower.pushed_authorization_request_max_per_address),
            require_pushed_authorization_requests: self
                .require_pushed_authorization_requests
                .or(lower.require_pushed_authorization_requests),
            product_name: self.product_name.or(lower.product_name),
            theme_logo: self.theme_logo.or(lower.theme_logo),
            theme_primary_color: self.theme_primary_color.or(lower.theme_primary_color),
            theme_background_color: self.theme_background_color.or(lower.theme_background_color),
            templates_dir: self.templates_dir.or(lower.templates_dir),
            translations_dir: self.translations_dir.or(lower.translations_dir),
            scope_descriptions: self.scope_descriptions.or(lower.scope_descriptions),
            allow_insecure_plain: self.allow_insecure_plain.or(lower.allow_insecure_plain),
            allow_insecure_http_issuer: self
                .allow_insecure_http_issuer
                .or(lower.allow_insecure_http_issuer),
            allow_insecure_database_tls: self
                .allow_insecure_database_tls
                .or(lower.allow_insecure_database_tls),
        }
    }
}

fn toml_parse(text: &str) -> Result<Settings, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::File(e.to_string()))
}

/// A configuration error, said clearly at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file is unreadable.
    #[error("config file: {0}")]
    File(String),
    /// A setting has a bad value.
    #[error("{setting}: {reason}")]
    Invalid {
        /// Which setting (TOML key name).
        setting: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
}

/// Where the metrics listener binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsListen {
    /// [`DEFAULT_METRICS_LISTEN`], not configured: if it is taken (a
    /// second node on the host), the server runs without metrics and says
    /// so.
    Default(SocketAddr),
    /// An address the operator chose: not binding it stops the server.
    Configured(SocketAddr),
    /// No metrics listener.
    Off,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Socket address to bind.
    pub listen: SocketAddr,
    /// Issuer identifier, without a trailing slash (RFC 8414 §2).
    pub issuer: String,
    /// Database URL (`sqlite://PATH` or `postgres://...`); its `Debug`
    /// hides the password.
    pub database: DatabaseUrl,
    /// PostgreSQL pool size per node.
    pub database_max_connections: u32,
    /// Wait for a database connection.
    pub database_acquire_timeout: Duration,
    /// Authorization code lifetime.
    pub code_lifetime: Duration,
    /// Access token lifetime.
    pub access_token_lifetime: Duration,
    /// ID token lifetime.
    pub id_token_lifetime: Duration,
    /// Login session lifetime.
    pub session_lifetime: Duration,
    /// Absolute refresh token family lifetime (OAuth 2.1 §4.3.1).
    pub refresh_token_lifetime: Duration,
    /// Refresh token idle lifetime.
    pub refresh_token_idle_lifetime: Duration,
    /// The refresh token reuse interval (see
    /// [`Settings::refresh_token_reuse_interval`]); zero is off.
    pub refresh_token_reuse_interval: Duration,
    /// Housekeeping interval.
    pub sweep_interval: Duration,
    /// How long a code's record outlives the code (see
    /// [`Settings::code_retention`]).
    pub code_retention: Duration,
    /// Device code lifetime.
    pub device_code_lifetime: Duration,
    /// Minimum device polling interval.
    pub device_poll_interval: Duration,
    /// Password checks run at once (never 0).
    pub password_hash_concurrency: usize,
    /// How long a password check waits for its turn.
    pub password_hash_wait: Duration,
    /// Wrong passwords per account (see [`Config::login_policy`]).
    pub login_max_failures: u32,
    /// Wrong passwords per address.
    pub login_address_max_failures: u32,
    /// Lock length and failure memory.
    pub login_lockout: Duration,
    /// First delay after three failures (zero: none).
    pub login_delay: Duration,
    /// The key-encryption key's file, if any.
    pub key_encryption_key_file: Option<std::path::PathBuf>,
    /// Networks of trusted reverse proxies.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Headers (and idle keep-alive) time limit per connection.
    pub header_read_timeout: Duration,
    /// Time limit per request.
    pub request_timeout: Duration,
    /// Open connections at most; 0 is decided at start from the open-file
    /// limit.
    pub max_connections: u32,
    /// How long a shutdown waits for requests in flight.
    pub shutdown_timeout: Duration,
    /// What a token is for without `resource` (RFC 8707).
    pub default_resource: crate::resource::DefaultResource,
    /// Dynamic client registration policy (RFC 7591).
    pub registration: RegistrationPolicy,
    /// Open registrations and metadata fetches per address and hour.
    pub registration_max_per_address: u32,
    /// Client ID Metadata Documents.
    pub client_id_metadata: crate::cimd::Policy,
    /// Extra roots for outbound https.
    pub outbound_ca_file: Option<std::path::PathBuf>,
    /// Where metrics are served.
    pub metrics_listen: MetricsListen,
    /// The OTLP/HTTP collector traces go to, if any.
    pub otlp_endpoint: Option<url::Url>,
    /// DPoP (RFC 9449) at this server.
    pub dpop: DpopPolicy,
    /// How long a pushed authorization request lives (RFC 9126 §2.2).
    pub pushed_authorization_request_lifetime: Duration,
    /// Pushed requests per address and minute.
    pub pushed_authorization_request_max_per_address: u32,
    /// Every client must use PAR (RFC 9126 §5).
    pub require_pushed_authorization_requests: bool,
    /// PKCE policy (S256 only unless `allow_insecure_plain`).
    pub pkce: ChallengePolicy,
    /// What the pages look like and speak.
    pub ui: UiConfig,
}

/// The pages' branding and languages (see docs/theming.md). Files are
/// only named here; the server reads and checks them at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiConfig {
    /// Shown to users as the service's name.
    pub product_name: String,
    /// The logo's file.
    pub logo: Option<std::path::PathBuf>,
    /// `#rrggbb` or `#rgb`.
    pub primary_color: String,
    /// `#rrggbb` or `#rgb`.
    pub background_color: String,
    /// Templates that replace built-in ones.
    pub templates_dir: Option<std::path::PathBuf>,
    /// Fluent messages that add to or override the built-in ones.
    pub translations_dir: Option<std::path::PathBuf>,
    /// Scope → language → description.
    pub scope_descriptions:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            product_name: "proofkey".to_owned(),
            logo: None,
            primary_color: Self::PRIMARY.to_owned(),
            background_color: Self::BACKGROUND.to_owned(),
            templates_dir: None,
            translations_dir: None,
            scope_descriptions: Default::default(),
        }
    }
}

impl UiConfig {
    /// The default primary colour (6.3:1 against white).
    pub const PRIMARY: &'static str = "#2553d8";
    /// The default page background.
    pub const BACKGROUND: &'static str = "#f4f5f7";
    /// The longest product name.
    pub const MAX_NAME: usize = 64;
    /// The longest scope description.
    pub const MAX_DESCRIPTION: usize = 200;

    fn from_settings(s: &mut Settings) -> Result<UiConfig, ConfigError> {
        let product_name = s
            .product_name
            .take()
            .unwrap_or_else(|| "proofkey".to_owned());
        if product_name.trim().is_empty()
            || product_name.chars().count() > Self::MAX_NAME
            || product_name.chars().any(char::is_control)
        {
            return Err(invalid(
                "product_name",
                format!(
                    "must be 1 to {} characters, without control characters",
                    Self::MAX_NAME
                ),
            ));
        }
        let colour = |setting: &'static str, v: Option<String>, default: &str| {
            let v = v.unwrap_or_else(|| default.to_owned());
            if is_hex_colour(&v) {
                Ok(v.to_ascii_lowercase())
            } else {
                Err(invalid(
                    setting,
                    format!("{v:?} is not a colour like #2553d8 or #25d"),
                ))
            }
        };
        let primary_color = colour(
            "theme_primary_color",
            s.theme_primary_color.take(),
            Self::PRIMARY,
        )?;
        let background_color = colour(
            "theme_background_color",
            s.theme_background_color.take(),
            Self::BACKGROUND,
        )?;
        let scope_descriptions = s.scope_descriptions.take().unwrap_or_default();
        for (scope, by_lang) in &scope_descriptions {
            for (lang, text) in by_lang {
                if lang.parse::<LanguageTag>().is_err() {
                    return Err(invalid(
                        "scope_descriptions",
                        format!("{scope}: {lang:?} is not a language tag like en or de-AT"),
                    ));
                }
                if text.chars().count() > Self::MAX_DESCRIPTION
                    || text.chars().any(char::is_control)
                {
                    return Err(invalid(
                        "scope_descriptions",
                        format!(
                            "{scope}.{lang}: at most {} characters, without control characters",
                            Self::MAX_DESCRIPTION
                        ),
                    ));
                }
            }
        }
        Ok(UiConfig {
            product_name,
            logo: s.theme_logo.take(),
            primary_color,
            background_color,
            templates_dir: s.templates_dir.take(),
            translations_dir: s.translations_dir.take(),
            scope_descriptions,
        })
    }
}

/// `#rgb` or `#rrggbb`: nothing else reaches the pages' stylesheet.
fn is_hex_colour(v: &str) -> bool {
    v.strip_prefix('#').is_some_and(|hex| {
        (hex.len() == 3 || hex.len() == 6) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// A loose BCP 47 check for configuration keys: letters, digits and `-`,
/// starting with 2 or 3 letters.
struct LanguageTag;

impl std::str::FromStr for LanguageTag {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let mut parts = s.split('-');
        let primary = parts.next().unwrap_or_default();
        let ok = (2..=3).contains(&primary.len())
            && primary.bytes().all(|b| b.is_ascii_alphabetic())
            && parts.all(|p| {
                (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        if ok {
            Ok(LanguageTag)
        } else {
            Err(())
        }
    }
}

/// DPoP proofs at this server (RFC 9449 §4.3, §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpopPolicy {
    /// Proofs must carry the server's current nonce (§8).
    pub nonce: bool,
    /// How often the nonce changes.
    pub nonce_lifetime: Duration,
    /// The oldest `iat` accepted.
    pub proof_max_age: Duration,
}

impl DpopPolicy {
    /// How far ahead of this server's clock a proof's `iat` may be: the
    /// client's clock may run fast.
    pub const LEEWAY: i64 = 5;
}

/// Who may register a client at the registration endpoint (RFC 7591 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegistrationPolicy {
    /// Nobody: no registration endpoint.
    #[default]
    Off,
    /// A client presenting an initial access token (RFC 7591 §3).
    InitialAccessToken,
    /// Anyone, for public clients only, rate-limited per address.
    Open,
}

impl RegistrationPolicy {
    /// From the setting's value.
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        match s {
            "off" => Ok(Self::Off),
            "initial-access-token" => Ok(Self::InitialAccessToken),
            "open" => Ok(Self::Open),
            _ => Err(invalid(
                "registration",
                "must be \"off\", \"initial-access-token\" or \"open\"",
            )),
        }
    }
}

/// A database URL, which may carry a password: zeroed when dropped; its
/// `Debug` shows it with the password replaced by `***` ([`redact_url`]);
/// no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(zeroize::Zeroizing<String>);

impl DatabaseUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(zeroize::Zeroizing::new(url.into()))
    }

    /// The URL itself, password included: to connect.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password replaced by `***`, for logs and messages.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.redacted())
    }
}

/// A database URL with its password replaced by `***`, for logs and errors.
/// A query parameter (`password=`, which sqlx also reads) counts too; a URL
/// that does not parse shows nothing between `://` and its last `@`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            if u.query_pairs().any(|(k, _)| k.contains("password")) {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k.contains("password") {
                            "***".to_owned()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}***{}", &url[..scheme + 3], &url[at..])
            }
            _ => url.to_owned(),
        },
    }
}

/// Parses a duration such as `60s`, `10m` or `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration like \"60s\" or \"5m\": {e}"))
}

/// A duration that may be zero, at most `max` seconds.
fn retention(
    setting: &'static str,
    value: Option<&str>,
    default: u64,
    max: u64,
) -> Result<Duration, ConfigError> {
    bounded(setting, value, default, 0, max)
}

/// A duration of at least a second, at most `max` seconds.
fn lifetime(
    setting: &'static str,
    value: Option<&str>,
    default: u64,
    max: u64,
) -> Result<Duration, ConfigError> {
    bounded(setting, value, default, 1, max)
}

/// A PostgreSQL database on another host must be reached over TLS that
/// verifies its certificate (`sslmode=verify-full`, or `verify-ca`): the
/// store holds the signing keys and every secret's hash, and `prefer` or
/// `require` give them to whoever sits in the middle. Loopback and Unix
/// socket connections need no TLS; `allow_insecure` says otherwise on
/// purpose. SQLite URLs pass.
pub fn check_database_tls(url: &DatabaseUrl, allow_insecure: bool) -> Result<(), String> {
    let text = url.expose();
    if allow_insecure || !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
        return Ok(());
    }
    let parsed = url::Url::parse(text).map_err(|e| format!("{}: {e}", url.redacted()))?;
    let local = match parsed.host() {
        None => true,
        // A non-special scheme's host is opaque: an address is text here.
        Some(url::Host::Domain(d)) => {
            let d = d.trim_start_matches('[').trim_end_matches(']');
            d.is_empty()
                || d == "localhost"
                || d.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
    };
    let socket = parsed
        .query_pairs()
        .any(|(k, v)| k == "host" && v.starts_with('/'));
    let verified = parsed
        .query_pairs()
        .any(|(k, v)| k == "sslmode" && (v == "verify-full" || v == "verify-ca"));
    if local || socket || verified {
        return Ok(());
    }
    Err(format!(
        "{}: a PostgreSQL database on another host must be reached over verified TLS: add sslmode=verify-full (with sslrootcert=FILE for a private CA), or set allow_insecure_database_tls",
        url.redacted()
    ))
}

/// A network: `10.0.0.0/8`, `2001:db8::/32`, or one address.
fn parse_network(n: &str) -> Result<ipnet::IpNet, ConfigError> {
    let n = n.trim();
    n.parse::<ipnet::IpNet>()
        .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            invalid(
                "trusted_proxies",
                format!("{n:?} is not a network like 10.0.0.0/8 or an address"),
            )
        })
}

/// `value` (or `default`) within `range`.
fn between(
    setting: &'static str,
    value: Option<u32>,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, ConfigError> {
    let v = value.unwrap_or(default);
    if !range.contains(&v) {
        return Err(invalid(
            setting,
            format!("must be between {} and {}", range.start(), range.end()),
        ));
    }
    Ok(v)
}

/// `value` (or `default` seconds) as a duration of `min` to `max` seconds.
fn bounded(
    setting: &'static str,
    value: Option<&str>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<Duration, ConfigError> {
    let d = match value {
        None => Duration::from_secs(default),
        Some(v) => humantime::parse_duration(v).map_err(|e| {
            invalid(
                setting,
                format!("{v:?} is not a duration like \"60s\" or \"10m\": {e}"),
            )
        })?,
    };
    if d.as_secs() < min || d.as_secs() > max {
        let max = humantime::format_duration(Duration::from_secs(max));
        let bounds = if min == 0 {
            format!("must be at most {max}")
        } else {
            format!("must be between {min}s and {max}")
        };
        return Err(invalid(setting, bounds));
    }
    Ok(d)
}

impl Config {
    /// How wrong passwords for one account are limited.
    pub fn login_policy(&self) -> crate::throttle::Policy {
        crate::throttle::Policy {
            max_failures: self.login_max_failures,
            lockout: self.login_lockout.as_secs() as i64,
            delay: self.login_delay.as_secs() as i64,
        }
    }

    /// How wrong passwords from one address are limited: the lock only,
    /// no delays (many users may share an address behind a NAT).
    pub fn address_policy(&self) -> crate::throttle::Policy {
        crate::throttle::Policy {
            max_failures: self.login_address_max_failures,
            delay: 0,
            ..self.login_policy()
        }
    }

    /// Validates a merged [`Settings`], applying defaults.
    pub fn from_settings(mut s: Settings) -> Result<Config, ConfigError> {
        let ui = UiConfig::from_settings(&mut s)?;
        let listen_str = s.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen_str.parse().map_err(|_| {
            invalid(
                "listen",
                format!("{listen_str:?} is not an address like 127.0.0.1:8080 or [::1]:8080"),
            )
        })?;
        let issuer = match s.issuer {
            Some(i) => i,
            None if listen.ip().is_unspecified() => {
                return Err(invalid(
                    "issuer",
                    format!("listening on {listen} needs an explicit issuer, the URL clients reach this server at"),
                ))
            }
            None => format!("http://{listen}"),
        };
        let issuer = validate_issuer(&issuer, s.allow_insecure_http_issuer.unwrap_or(false))?;
        let database = s
            .database
            .unwrap_or_else(|| DatabaseUrl::new(DEFAULT_DATABASE));
        let known = ["sqlite:", "postgres://", "postgresql://"];
        if !known.iter().any(|p| database.expose().starts_with(p)) {
            return Err(invalid(
                "database",
                format!(
                    "{:?} is not a database URL; use sqlite://PATH or postgres://USER@HOST/DB",
                    database.redacted()
                ),
            ));
        }
        check_database_tls(&database, s.allow_insecure_database_tls.unwrap_or(false))
            .map_err(|reason| invalid("database", reason))?;
        let max_connections = s.database_max_connections.unwrap_or(16);
        if !(1..=1000).contains(&max_connections) {
            return Err(invalid(
                "database_max_connections",
                "must be between 1 and 1000",
            ));
        }
        let password_hash_concurrency = match s.password_hash_concurrency.unwrap_or(0) {
            0 => crate::password::PasswordSlots::machine_size(),
            n @ 1..=256 => n as usize,
            _ => {
                return Err(invalid(
                    "password_hash_concurrency",
                    "must be between 0 (the number of cores) and 256",
                ))
            }
        };
        Ok(Config {
            listen,
            issuer,
            database,
            database_max_connections: max_connections,
            database_acquire_timeout: lifetime(
                "database_acquire_timeout",
                s.database_acquire_timeout.as_deref(),
                5,
                120,
            )?,
            code_lifetime: lifetime("code_lifetime", s.code_lifetime.as_deref(), 60, 600)?,
            access_token_lifetime: lifetime(
                "access_token_lifetime",
                s.access_token_lifetime.as_deref(),
                600,
                86_400,
            )?,
            id_token_lifetime: lifetime(
                "id_token_lifetime",
                s.id_token_lifetime.as_deref(),
                600,
                86_400,
            )?,
            session_lifetime: lifetime(
                "session_lifetime",
                s.session_lifetime.as_deref(),
                12 * 3600,
                30 * 86_400,
            )?,
            refresh_token_lifetime: lifetime(
                "refresh_token_lifetime",
                s.refresh_token_lifetime.as_deref(),
                30 * 86_400,
                365 * 86_400,
            )?,
            refresh_token_idle_lifetime: lifetime(
                "refresh_token_idle_lifetime",
                s.refresh_token_idle_lifetime.as_deref(),
                7 * 86_400,
                365 * 86_400,
            )?,
            refresh_token_reuse_interval: retention(
                "refresh_token_reuse_interval",
                s.refresh_token_reuse_interval.as_deref(),
                0,
                300,
            )?,
            sweep_interval: lifetime("sweep_interval", s.sweep_interval.as_deref(), 300, 86_400)?,
            code_retention: retention("code_retention", s.code_retention.as_deref(), 3600, 86_400)?,
            device_code_lifetime: lifetime(
                "device_code_lifetime",
                s.device_code_lifetime.as_deref(),
                600,
                1800,
            )?,
            device_poll_interval: lifetime(
                "device_poll_interval",
                s.device_poll_interval.as_deref(),
                5,
                60,
            )?,
            password_hash_concurrency,
            login_max_failures: between("login_max_failures", s.login_max_failures, 10, 1..=1000)?,
            login_address_max_failures: between(
                "login_address_max_failures",
                s.login_address_max_failures,
                100,
                1..=100_000,
            )?,
            login_lockout: lifetime("login_lockout", s.login_lockout.as_deref(), 900, 86_400)?,
            login_delay: retention("login_delay", s.login_delay.as_deref(), 1, 60)?,
            key_encryption_key_file: s.key_encryption_key_file,
            trusted_proxies: s
                .trusted_proxies
                .unwrap_or_default()
                .iter()
                .map(|n| parse_network(n))
                .collect::<Result<_, _>>()?,
            header_read_timeout: lifetime(
                "header_read_timeout",
                s.header_read_timeout.as_deref(),
                10,
                300,
            )?,
            request_timeout: lifetime("request_timeout", s.request_timeout.as_deref(), 30, 600)?,
            max_connections: match s.max_connections.unwrap_or(0) {
                n @ (0 | 16..=1_000_000) => n,
                _ => {
                    return Err(invalid(
                        "max_connections",
                        "must be 0 (decided from the open-file limit) or between 16 and 1000000",
                    ))
                }
            },
            shutdown_timeout: retention(
                "shutdown_timeout",
                s.shutdown_timeout.as_deref(),
                10,
                600,
            )?,
            password_hash_wait: retention(
                "password_hash_wait",
                s.password_hash_wait.as_deref(),
                5,
                60,
            )?,
            default_resource: crate::resource::DefaultResource::parse(
                s.default_resource.as_deref().unwrap_or("issuer"),
            )
            .map_err(|e| invalid("default_resource", e))?,
            registration: RegistrationPolicy::parse(s.registration.as_deref().unwrap_or("off"))?,
            registration_max_per_address: between(
                "registration_max_per_address",
                s.registration_max_per_address,
                20,
                1..=100_000,
            )?,
            client_id_metadata: crate::cimd::Policy {
                enabled: s.client_id_metadata_documents.unwrap_or(false),
                allowed_hosts: Self::host_patterns(
                    "client_id_metadata_allowed_hosts",
                    s.client_id_metadata_allowed_hosts.unwrap_or_default(),
                )?,
                denied_hosts: Self::host_patterns(
                    "client_id_metadata_denied_hosts",
                    s.client_id_metadata_denied_hosts.unwrap_or_default(),
                )?,
                cache_max: lifetime(
                    "client_id_metadata_cache_max",
                    s.client_id_metadata_cache_max.as_deref(),
                    3600,
                    86_400,
                )?,
                allow_insecure_addresses: s
                    .allow_insecure_client_id_metadata_addresses
                    .unwrap_or(false),
            },
            outbound_ca_file: s.outbound_ca_file,
            metrics_listen: match s.metrics_listen.as_deref() {
                None => MetricsListen::Default(DEFAULT_METRICS_LISTEN.parse().map_err(|_| {
                    invalid("metrics_listen", "the default address does not parse")
                })?),
                Some("off") => MetricsListen::Off,
                Some(a) => MetricsListen::Configured(a.parse().map_err(|_| {
                    invalid(
                        "metrics_listen",
                        format!("{a:?} is not an address like 127.0.0.1:9464, or off"),
                    )
                })?),
            },
            otlp_endpoint: match s.otlp_endpoint.as_deref() {
                None => None,
                Some(e) => Some(
                    url::Url::parse(e)
                        .ok()
                        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                        .ok_or_else(|| {
                            invalid(
                                "otlp_endpoint",
                                format!("{e:?} is not an http(s) URL like http://collector:4318"),
                            )
                        })?,
                ),
            },
            dpop: DpopPolicy {
                nonce: s.dpop_nonce.unwrap_or(false),
                nonce_lifetime: bounded(
                    "dpop_nonce_lifetime",
                    s.dpop_nonce_lifetime.as_deref(),
                    300,
                    10,
                    86_400,
                )?,
                proof_max_age: bounded(
                    "dpop_proof_max_age",
                    s.dpop_proof_max_age.as_deref(),
                    60,
                    5,
                    600,
                )?,
            },
            pushed_authorization_request_lifetime: bounded(
                "pushed_authorization_request_lifetime",
                s.pushed_authorization_request_lifetime.as_deref(),
                60,
                10,
                600,
            )?,
            pushed_authorization_request_max_per_address: between(
                "pushed_authorization_request_max_per_address",
                s.pushed_authorization_request_max_per_address,
                300,
                1..=1_000_000,
            )?,
            require_pushed_authorization_requests: s
                .require_pushed_authorization_requests
                .unwrap_or(false),
            pkce: ChallengePolicy {
                allow_insecure_plain: s.allow_insecure_plain.unwrap_or(false),
            },
            ui,
        })
    }

    /// Host patterns: `example.com` or `*.example.com`, lowercase.
    fn host_patterns(setting: &'static str, v: Vec<String>) -> Result<Vec<String>, ConfigError> {
        v.into_iter()
            .map(|h| {
                let h = h.to_ascii_lowercase();
                let bare = h.strip_prefix("*.").unwrap_or(&h);
                if bare.is_empty()
                    || !bare
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                {
                    return Err(invalid(
                        setting,
                        format!("{h:?} is not a host name or *.domain pattern"),
                    ));
                }
                Ok(h)
            })
            .collect()
    }

    /// The configuration for tests and `--dev`: defaults with this issuer.
    pub fn for_issuer(issuer: &str, database: &str) -> Result<Config, ConfigError> {
        Self::from_settings(Settings {
            issuer: Some(issuer.to_owned()),
            database: Some(DatabaseUrl::new(database)),
            ..Settings::default()
        })
    }

    /// Whether cookies must be `Secure`.
    pub fn https(&self) -> bool {
        self.issuer.starts_with("https://")
    }
}

/// RFC 8414 §2: the issuer is an https URL with no query or fragment.
/// `http` is allowed for loopback hosts (development) or when explicitly
/// made insecure.
fn validate_issuer(issuer: &str, allow_http: bool) -> Result<String, ConfigError> {
    let url = url::Url::parse(issuer)
        .map_err(|e| invalid("issuer", format!("{issuer:?} is not a URL: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "issuer",
            "must not have a query or fragment (RFC 8414 §2)",
        ));
    }
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    match url.scheme() {
        "https" => {}
        "http" if loopback || allow_http => {}
        "http" => {
            return Err(invalid(
                "issuer",
                "must be https (RFC 8414 §2); http is allowed only on loopback, or with allow_insecure_http_issuer = true",
            ))
        }
        other => return Err(invalid("issuer", format!("scheme {other:?} is not https"))),
    }
    Ok(issuer.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn remote_postgres_needs_verified_tls() {
        let check = |u: &str, allow| check_database_tls(&DatabaseUrl::new(u), allow);
        for ok in [
            "sqlite://proofkey.db",
            "postgres://postgres@127.0.0.1/db",
            "postgres://u@localhost/db",
            "postgres://u@[::1]:5432/db",
            "postgres://u@db.example.com/db?sslmode=verify-full",
            "postgresql://u:pw@10.0.0.5/db?sslmode=verify-ca&sslrootcert=/ca.pem",
            "postgres:///db?host=/var/run/postgresql",
        ] {
            assert!(check(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "postgres://u:secret@db.example.com/db",
            "postgres://u@10.0.0.5/db?sslmode=require",
            "postgres://u@db.example.com/db?sslmode=prefer",
        ] {
            let e = check(bad, false).unwrap_err();
            assert!(e.contains("verify-full"), "{e}");
            assert!(!e.contains("secret"), "the password is not shown: {e}");
            assert!(check(bad, true).is_ok(), "allowed on purpose: {bad}");
        }
        let mut settings = Settings {
            issuer: Some("https://auth.example".into()),
            database: Some(DatabaseUrl::new("postgres://u@db.example.com/db")),
            ..Settings::default()
        };
        let e = Config::from_settings(settings.clone())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("database:") && e.contains("sslmode"), "{e}");
        settings.allow_insecure_database_tls = Some(true);
        assert!(Config::from_settings(settings).is_ok());
    }

    use super::*;

    #[test]
    fn defaults_work_on_a_fresh_machine() {
        let c = Config::from_settings(Settings::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.database.expose(), "sqlite://proofkey.db");
        assert_eq!(c.refresh_token_reuse_interval.as_secs(), 0, "off");
        assert_eq!(c.code_lifetime.as_secs(), 60);
        assert_eq!(c.refresh_token_lifetime.as_secs(), 30 * 86_400);
        assert_eq!(c.refresh_token_idle_lifetime.as_secs(), 7 * 86_400);
        assert!(!c.pkce.allow_insecure_plain);
    }

    #[test]
    fn refuses_bad_values_clearly() {
        let bad = |s: Settings| Config::from_settings(s).unwrap_err().to_string();
        assert!(bad(Settings {
            listen: Some("nope".into()),
            ..Default::default()
        })
        .starts_with("listen:"));
        assert!(bad(Settings {
            issuer: Some("http://auth.example.com".into()),
            ..Default::default()
        })
        .contains("https"));
        assert!(bad(Settings {
            issuer: Some("https://a.example/?x=1".into()),
            ..Default::default()
        })
        .contains("query"));
        assert!(bad(Settings {
            code_lifetime: Some("11m".into()),
            ..Default::default()
        })
        .starts_with("code_lifetime:"));
        assert!(bad(Settings {
            code_lifetime: Some("soon".into()),
            ..Default::default()
        })
        .starts_with("code_lifetime:"));
        assert!(bad(Settings {
            database: Some(DatabaseUrl::new("mysql://x")),
            ..Default::default()
        })
        .starts_with("database:"));
        assert!(bad(Settings {
            listen: Some("0.0.0.0:80".into()),
            ..Default::default()
        })
        .starts_with("issuer:"));
    }

    #[test]
    fn code_retention_is_an_hour_may_be_zero_and_at_most_a_day() {
        let with = |v: &str| {
            Config::from_settings(Settings {
                code_retention: Some(v.into()),
                ..Default::default()
            })
        };
        let default = Config::from_settings(Settings::default()).unwrap();
        assert_eq!(default.code_retention.as_secs(), 3600);
        assert_eq!(with("0s").unwrap().code_retention.as_secs(), 0);
        assert_eq!(with("10m").unwrap().code_retention.as_secs(), 600);
        let e = with("25h").unwrap_err().to_string();
        assert!(
            e.starts_with("code_retention:") && e.contains("at most"),
            "{e}"
        );
        let e = with("a while").unwrap_err().to_string();
        assert!(e.starts_with("code_retention:"), "{e}");
        let file = Settings::from_toml("code_retention = \"5m\"").unwrap();
        assert_eq!(
            Config::from_settings(file)
                .unwrap()
                .code_retention
                .as_secs(),
            300
        );
    }

    #[test]
    fn the_reuse_interval_is_off_by_default_and_at_most_five_minutes() {
        let with = |v: &str| {
            Config::from_settings(Settings {
                refresh_token_reuse_interval: Some(v.into()),
                ..Default::default()
            })
        };
        assert_eq!(
            with("30s").unwrap().refresh_token_reuse_interval.as_secs(),
            30
        );
        assert_eq!(
            with("0s").unwrap().refresh_token_reuse_interval.as_secs(),
            0
        );
        let e = with("6m").unwrap_err().to_string();
        assert!(
            e.starts_with("refresh_token_reuse_interval:") && e.contains("at most"),
            "{e}"
        );
    }

    #[test]
    fn postgres_urls_are_accepted_and_passwords_never_shown() {
        let c = Config::from_settings(Settings {
            database: Some(DatabaseUrl::new(
                "postgres://pk:s3cret@db.internal/proofkey?sslmode=verify-full",
            )),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.database_max_connections, 16);
        assert_eq!(
            c.database.redacted(),
            "postgres://pk:***@db.internal/proofkey?sslmode=verify-full"
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        let query = redact_url("postgres://db.internal/proofkey?user=pk&password=s3cret");
        assert!(
            !query.contains("s3cret") && query.contains("user=pk"),
            "{query}"
        );
        let broken = redact_url("postgres://pk:s3cret@db internal:notaport/x");
        assert!(!broken.contains("s3cret"), "{broken}");
        assert!(shown.contains("pk:***@db.internal"), "{shown}");
        let e = Config::from_settings(Settings {
            database: Some(DatabaseUrl::new("mysql://u:pw@h/db")),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(!e.contains("pw"), "{e}");
    }

    #[test]
    fn higher_layers_win() {
        let file = Settings {
            listen: Some("127.0.0.1:1".into()),
            code_lifetime: Some("30s".into()),
            ..Default::default()
        };
        let flags = Settings {
            listen: Some("127.0.0.1:2".into()),
            ..Default::default()
        };
        let c = Config::from_settings(flags.over(file)).unwrap();
        assert_eq!(c.listen.port(), 2);
        assert_eq!(c.code_lifetime.as_secs(), 30);
    }
}
