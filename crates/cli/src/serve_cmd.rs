//! `proofkey serve`: the authorization server.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use proofkey_core::config::{MetricsListen, Settings};
use proofkey_core::{Config, Provider, SystemClock};
use proofkey_pkce::{CodeChallenge, CodeVerifier};

/// Settings precedence: flags, then `PROOFKEY_*` variables, then the
/// `--config` TOML file, then defaults.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML file with any of: listen, issuer, database, code_lifetime,
    /// access_token_lifetime, id_token_lifetime, session_lifetime,
    /// refresh_token_lifetime, refresh_token_idle_lifetime,
    /// refresh_token_reuse_interval, sweep_interval,
    /// code_retention,
    /// device_code_lifetime, device_poll_interval, database_max_connections,
    /// database_acquire_timeout, password_hash_concurrency,
    /// password_hash_wait, login_max_failures, login_address_max_failures,
    /// login_lockout, login_delay, trusted_proxies, header_read_timeout,
    /// request_timeout,
    /// max_connections, shutdown_timeout,
    /// key_encryption_key_file, default_resource, registration,
    /// registration_max_per_address, client_id_metadata_documents,
    /// client_id_metadata_allowed_hosts, client_id_metadata_denied_hosts,
    /// client_id_metadata_cache_max, outbound_ca_file, metrics_listen,
    /// otlp_endpoint, dpop_nonce,
    /// dpop_nonce_lifetime, dpop_proof_max_age,
    /// pushed_authorization_request_lifetime,
    /// pushed_authorization_request_max_per_address,
    /// require_pushed_authorization_requests,
    /// allow_insecure_client_id_metadata_addresses, allow_insecure_plain,
    /// allow_insecure_http_issuer, allow_insecure_database_tls.
    #[arg(long, env = "PROOFKEY_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "PROOFKEY_LISTEN", value_name = "ADDR")]
    listen: Option<String>,
    /// Issuer identifier: the URL clients reach this server at [default: http://LISTEN].
    #[arg(long, env = "PROOFKEY_ISSUER", value_name = "URL")]
    issuer: Option<String>,
    /// Database URL [default: sqlite://proofkey.db].
    #[arg(
        long,
        env = "PROOFKEY_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database: Option<proofkey_core::config::DatabaseUrl>,
    /// Authorization code lifetime, at most 10m [default: 60s].
    #[arg(long, env = "PROOFKEY_CODE_LIFETIME", value_name = "DURATION")]
    code_lifetime: Option<String>,
    /// Access token lifetime [default: 10m].
    #[arg(long, env = "PROOFKEY_ACCESS_TOKEN_LIFETIME", value_name = "DURATION")]
    access_token_lifetime: Option<String>,
    /// ID token lifetime [default: 10m].
    #[arg(long, env = "PROOFKEY_ID_TOKEN_LIFETIME", value_name = "DURATION")]
    id_token_lifetime: Option<String>,
    /// Login session lifetime [default: 12h].
    #[arg(long, env = "PROOFKEY_SESSION_LIFETIME", value_name = "DURATION")]
    session_lifetime: Option<String>,
    /// Absolute refresh token lifetime [default: 30d].
    #[arg(long, env = "PROOFKEY_REFRESH_TOKEN_LIFETIME", value_name = "DURATION")]
    refresh_token_lifetime: Option<String>,
    /// Refresh token idle lifetime [default: 7d].
    #[arg(
        long,
        env = "PROOFKEY_REFRESH_TOKEN_IDLE_LIFETIME",
        value_name = "DURATION"
    )]
    refresh_token_idle_lifetime: Option<String>,
    /// How long after a rotation the client may present the rotated refresh
    /// token again when its answer was lost (the new token unused), getting
    /// a fresh pair instead of losing the family; 0s (off) to 5m [default: 0s].
    #[arg(
        long,
        env = "PROOFKEY_REFRESH_TOKEN_REUSE_INTERVAL",
        value_name = "DURATION"
    )]
    refresh_token_reuse_interval: Option<String>,
    /// How often expired rows are deleted [default: 5m].
    #[arg(long, env = "PROOFKEY_SWEEP_INTERVAL", value_name = "DURATION")]
    sweep_interval: Option<String>,
    /// How long a code's record is kept after the code expires, so that a
    /// late replay still revokes its tokens; 0s to at most 24h [default: 1h].
    #[arg(long, env = "PROOFKEY_CODE_RETENTION", value_name = "DURATION")]
    code_retention: Option<String>,
    /// Device code lifetime, at most 30m [default: 10m].
    #[arg(long, env = "PROOFKEY_DEVICE_CODE_LIFETIME", value_name = "DURATION")]
    device_code_lifetime: Option<String>,
    /// Minimum device polling interval [default: 5s].
    #[arg(long, env = "PROOFKEY_DEVICE_POLL_INTERVAL", value_name = "DURATION")]
    device_poll_interval: Option<String>,
    /// Database connections per node (SQLite or PostgreSQL) [default: 16].
    #[arg(long, env = "PROOFKEY_DATABASE_MAX_CONNECTIONS", value_name = "N")]
    database_max_connections: Option<u32>,
    /// How long a request waits for a database connection before 503 [default: 5s].
    #[arg(
        long,
        env = "PROOFKEY_DATABASE_ACQUIRE_TIMEOUT",
        value_name = "DURATION"
    )]
    database_acquire_timeout: Option<String>,
    /// Password checks run at once, each holding a core and 19 MiB; 0 is
    /// the number of cores [default: 0].
    #[arg(long, env = "PROOFKEY_PASSWORD_HASH_CONCURRENCY", value_name = "N")]
    password_hash_concurrency: Option<u32>,
    /// How long a login waits for a password check's turn before 503, at
    /// most 60s [default: 5s].
    #[arg(long, env = "PROOFKEY_PASSWORD_HASH_WAIT", value_name = "DURATION")]
    password_hash_wait: Option<String>,
    /// Wrong passwords for one account that lock it [default: 10].
    #[arg(long, env = "PROOFKEY_LOGIN_MAX_FAILURES", value_name = "N")]
    login_max_failures: Option<u32>,
    /// Wrong passwords from one address (IPv6: per /64) that block it
    /// [default: 100].
    #[arg(long, env = "PROOFKEY_LOGIN_ADDRESS_MAX_FAILURES", value_name = "N")]
    login_address_max_failures: Option<u32>,
    /// How long a lock lasts, and how long failures are remembered; at most
    /// 24h [default: 15m].
    #[arg(long, env = "PROOFKEY_LOGIN_LOCKOUT", value_name = "DURATION")]
    login_lockout: Option<String>,
    /// After three failures, the wait before the next attempt, doubled at
    /// each further failure; 0s for none [default: 1s].
    #[arg(long, env = "PROOFKEY_LOGIN_DELAY", value_name = "DURATION")]
    login_delay: Option<String>,
    /// A network of reverse proxies (repeatable, or comma-separated in the
    /// variable): only from them is the client's address read from
    /// Forwarded / X-Forwarded-For [default: none].
    #[arg(
        long = "trusted-proxy",
        env = "PROOFKEY_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    trusted_proxies: Vec<String>,
    /// How long a connection may take to send a request's headers, or stay
    /// idle between requests, before it is closed; 1s to 5m [default: 10s].
    #[arg(long, env = "PROOFKEY_HEADER_READ_TIMEOUT", value_name = "DURATION")]
    header_read_timeout: Option<String>,
    /// How long a request may take, body included, before 408; 1s to 10m
    /// [default: 30s].
    #[arg(long, env = "PROOFKEY_REQUEST_TIMEOUT", value_name = "DURATION")]
    request_timeout: Option<String>,
    /// Open connections at most; 0 is 4096 or what the open-file limit
    /// leaves room for [default: 0].
    #[arg(long, env = "PROOFKEY_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<u32>,
    /// On SIGTERM, how long requests in flight may take before the
    /// remaining connections are closed; 0s to 10m [default: 10s].
    #[arg(long, env = "PROOFKEY_SHUTDOWN_TIMEOUT", value_name = "DURATION")]
    shutdown_timeout: Option<String>,
    /// Accept PKCE code_challenge_method=plain (insecure; RFC 9700 §2.1.1).
    #[arg(long, env = "PROOFKEY_ALLOW_INSECURE_PLAIN")]
    allow_insecure_plain: bool,
    /// The key-encryption key (32 random bytes, base64url, mode 0600) that
    /// seals the signing keys in the database [default: none; with --dev,
    /// ./proofkey.kek, created if missing].
    #[arg(long, env = "PROOFKEY_KEY_ENCRYPTION_KEY_FILE", value_name = "FILE")]
    key_encryption_key_file: Option<PathBuf>,
    /// Allow a PostgreSQL database on another host without
    /// sslmode=verify-full or verify-ca (insecure: keys and hashes travel
    /// unverified).
    #[arg(long, env = "PROOFKEY_ALLOW_INSECURE_DATABASE_TLS")]
    allow_insecure_database_tls: bool,
    /// Dynamic client registration (RFC 7591): off, initial-access-token
    /// or open [default: off; with --dev, open].
    #[arg(long, env = "PROOFKEY_REGISTRATION", value_name = "POLICY")]
    registration: Option<String>,
    /// What a token is for when no resource (RFC 8707) is asked for:
    /// issuer, required, or a registered resource's URI [default: issuer].
    #[arg(long, env = "PROOFKEY_DEFAULT_RESOURCE", value_name = "VALUE")]
    default_resource: Option<String>,
    /// Accept client ids that are the https URLs of client metadata
    /// documents [default: off; with --dev, on].
    #[arg(long, env = "PROOFKEY_CLIENT_ID_METADATA_DOCUMENTS")]
    client_id_metadata_documents: bool,
    /// Root certificates (PEM) trusted for this server's own https
    /// requests (client jwks_uri, client metadata documents) besides the
    /// public roots.
    #[arg(long, env = "PROOFKEY_OUTBOUND_CA_FILE", value_name = "FILE")]
    outbound_ca_file: Option<PathBuf>,
    /// Demand the server's nonce in every DPoP proof (RFC 9449 §8).
    #[arg(long, env = "PROOFKEY_DPOP_NONCE")]
    dpop_nonce: bool,
    /// Every client must push its authorization requests (RFC 9126).
    #[arg(long = "require-par", env = "PROOFKEY_REQUIRE_PAR")]
    require_pushed_authorization_requests: bool,
    /// The name the pages show users (default: proofkey).
    #[arg(long, env = "PROOFKEY_PRODUCT_NAME", value_name = "NAME")]
    product_name: Option<String>,
    /// A logo (.png, .svg, .jpg, .webp or .gif, at most 512 KiB) shown on
    /// every page.
    #[arg(long, env = "PROOFKEY_THEME_LOGO", value_name = "FILE")]
    theme_logo: Option<PathBuf>,
    /// The pages' primary colour (#rrggbb): buttons, links, focus.
    #[arg(long, env = "PROOFKEY_THEME_PRIMARY_COLOR", value_name = "COLOR")]
    theme_primary_color: Option<String>,
    /// The pages' background colour (#rrggbb).
    #[arg(long, env = "PROOFKEY_THEME_BACKGROUND_COLOR", value_name = "COLOR")]
    theme_background_color: Option<String>,
    /// A directory of NAME.html templates replacing the built-in ones
    /// (docs/theming.md); checked at start.
    #[arg(long, env = "PROOFKEY_TEMPLATES_DIR", value_name = "DIR")]
    templates_dir: Option<PathBuf>,
    /// A directory of LANG/*.ftl (Fluent) messages adding languages or
    /// overriding built-in messages; checked at start.
    #[arg(long, env = "PROOFKEY_TRANSLATIONS_DIR", value_name = "DIR")]
    translations_dir: Option<PathBuf>,
    /// Where Prometheus metrics (/metrics) are served, apart from the public
    /// listener, or off [default: 127.0.0.1:9464].
    #[arg(long, env = "PROOFKEY_METRICS_LISTEN", value_name = "ADDR|off")]
    metrics_listen: Option<String>,
    /// Export traces to this OpenTelemetry collector (OTLP over HTTP,
    /// e.g. http://collector:4318) [default: none].
    #[arg(long, env = "PROOFKEY_OTLP_ENDPOINT", value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// Fetch client metadata documents from loopback, private and
    /// link-local addresses too (insecure: for test setups).
    #[arg(long, env = "PROOFKEY_ALLOW_INSECURE_CLIENT_ID_METADATA_ADDRESSES")]
    allow_insecure_client_id_metadata_addresses: bool,
    /// Create the demo user and client and print a ready-to-run flow;
    /// open client registration and client metadata documents (unless
    /// configured otherwise).
    #[arg(long)]
    dev: bool,
    /// Log format.
    #[arg(long, env = "PROOFKEY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs to stderr as `RUST_LOG` says (default `info`) and, with
/// `otlp_endpoint`, exports spans too. Each layer has its own filter, so
/// the DEBUG spans exported never reach the log lines. The exporter, if
/// any, is returned: dropping it sends the last spans.
fn init_logging(
    format: LogFormat,
    config: &Config,
) -> Result<Option<crate::telemetry::Telemetry>, String> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person at a terminal: escape codes in a file or a
    // journal are noise (https://no-color.org: NO_COLOR set turns it off).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Text => fmt.with_filter(filter).boxed(),
        LogFormat::Json => fmt.json().with_filter(filter).boxed(),
    };
    let telemetry = config
        .otlp_endpoint
        .as_ref()
        .map(|e| crate::telemetry::Telemetry::start(e, config.outbound_ca_file.as_deref()))
        .transpose()?;
    tracing_subscriber::registry()
        .with(fmt)
        .with(telemetry.as_ref().map(crate::telemetry::Telemetry::layer))
        .try_init()
        .map_err(|e| format!("cannot start logging: {e}"))?;
    if let Some(t) = &telemetry {
        tracing::info!(endpoint = %t.url(), "exporting traces (OTLP/HTTP)");
    }
    Ok(telemetry)
}

/// `--dev` creates a user `demo` with the password `demo`: only on a
/// loopback issuer, never on a server others can reach.
fn dev_allowed(config: &Config, dev: bool) -> Result<(), String> {
    if !dev {
        return Ok(());
    }
    let host = url::Url::parse(&config.issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "--dev creates the user demo/demo and is for a loopback issuer only; the issuer is {}",
            config.issuer
        ))
    }
}

fn config(args: &ServeArgs) -> Result<Config, String> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            Settings::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Settings::default(),
    };
    let flags = Settings {
        listen: args.listen.clone(),
        issuer: args.issuer.clone(),
        database: args.database.clone(),
        code_lifetime: args.code_lifetime.clone(),
        access_token_lifetime: args.access_token_lifetime.clone(),
        id_token_lifetime: args.id_token_lifetime.clone(),
        session_lifetime: args.session_lifetime.clone(),
        refresh_token_lifetime: args.refresh_token_lifetime.clone(),
        refresh_token_idle_lifetime: args.refresh_token_idle_lifetime.clone(),
        refresh_token_reuse_interval: args.refresh_token_reuse_interval.clone(),
        sweep_interval: args.sweep_interval.clone(),
        code_retention: args.code_retention.clone(),
        device_code_lifetime: args.device_code_lifetime.clone(),
        device_poll_interval: args.device_poll_interval.clone(),
        database_max_connections: args.database_max_connections,
        database_acquire_timeout: args.database_acquire_timeout.clone(),
        password_hash_concurrency: args.password_hash_concurrency,
        password_hash_wait: args.password_hash_wait.clone(),
        login_max_failures: args.login_max_failures,
        login_address_max_failures: args.login_address_max_failures,
        login_lockout: args.login_lockout.clone(),
        login_delay: args.login_delay.clone(),
        trusted_proxies: (!args.trusted_proxies.is_empty()).then(|| args.trusted_proxies.clone()),
        header_read_timeout: args.header_read_timeout.clone(),
        request_timeout: args.request_timeout.clone(),
        max_connections: args.max_connections,
        shutdown_timeout: args.shutdown_timeout.clone(),
        allow_insecure_plain: args.allow_insecure_plain.then_some(true),
        allow_insecure_http_issuer: None,
        allow_insecure_database_tls: args.allow_insecure_database_tls.then_some(true),
        key_encryption_key_file: args.key_encryption_key_file.clone(),
        default_resource: args.default_resource.clone(),
        registration: args.registration.clone(),
        registration_max_per_address: None,
        client_id_metadata_documents: args.client_id_metadata_documents.then_some(true),
        client_id_metadata_allowed_hosts: None,
        client_id_metadata_denied_hosts: None,
        client_id_metadata_cache_max: None,
        allow_insecure_client_id_metadata_addresses: args
            .allow_insecure_client_id_metadata_addresses
            .then_some(true),
        outbound_ca_file: args.outbound_ca_file.clone(),
        metrics_listen: args.metrics_listen.clone(),
        otlp_endpoint: args.otlp_endpoint.clone(),
        dpop_nonce: args.dpop_nonce.then_some(true),
        dpop_nonce_lifetime: None,
        dpop_proof_max_age: None,
        pushed_authorization_request_lifetime: None,
        pushed_authorization_request_max_per_address: None,
        require_pushed_authorization_requests: args
            .require_pushed_authorization_requests
            .then_some(true),
        product_name: args.product_name.clone(),
        theme_logo: args.theme_logo.clone(),
        theme_primary_color: args.theme_primary_color.clone(),
        theme_background_color: args.theme_background_color.clone(),
        templates_dir: args.templates_dir.clone(),
        translations_dir: args.translations_dir.clone(),
        scope_descriptions: None,
    };
    // --dev: what an MCP client needs to connect without an operator.
    let dev = Settings {
        registration: args.dev.then(|| "open".to_owned()),
        client_id_metadata_documents: args.dev.then_some(true),
        ..Settings::default()
    };
    Config::from_settings(flags.over(file).over(dev))
        .map_err(|e| format!("invalid configuration: {e}"))
}

pub fn run(args: ServeArgs) -> ExitCode {
    let config = match config(&args)
        .and_then(|c| dev_allowed(&c, args.dev).map(|()| c))
        .and_then(|c| {
            // A broken template, message file or logo stops the server
            // now, not at a user's sign-in.
            proofkey_server::check_pages(&c.ui)
                .map(|()| c)
                .map_err(|e| format!("the pages do not load: {e}"))
        }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("proofkey serve: {e}");
            return ExitCode::from(2);
        }
    };
    let telemetry = match init_logging(args.log_format, &config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("proofkey serve: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("proofkey serve: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match rt.block_on(serve(config, args.dev)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proofkey serve: {e}");
            ExitCode::FAILURE
        }
    };
    // The runtime's tasks end (and their spans with them), then the spans
    // still queued are sent and the exporter stops.
    drop(rt);
    drop(telemetry);
    code
}

/// The key-encryption key file `--dev` uses when none is configured.
const DEV_KEK: &str = "proofkey.kek";

async fn serve(mut config: Config, dev: bool) -> Result<(), String> {
    if dev && config.key_encryption_key_file.is_none() {
        let path = PathBuf::from(DEV_KEK);
        if !path.exists() {
            proofkey_core::kek::Kek::generate_file(&path).map_err(|e| e.to_string())?;
            tracing::info!(
                file = DEV_KEK,
                "generated a key-encryption key for the signing keys"
            );
        }
        config.key_encryption_key_file = Some(path);
    }
    // The recorder first, so that what the store records from its opening
    // on (the probe's first answer) is kept.
    let metrics_listener = metrics_listener(config.metrics_listen).await?;
    let db = config.database.redacted();
    let settings = proofkey_store::StoreSettings {
        max_connections: config.database_max_connections,
        acquire_timeout: config.database_acquire_timeout,
        ..proofkey_store::StoreSettings::default()
    };
    let store = proofkey_store::open_with(config.database.expose(), &settings)
        .await
        .map_err(|e| format!("database {db}: {e}"))?;
    if dev {
        crate::admin::ensure_demo(store.as_ref()).await?;
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let issuer = config.issuer.clone();
    let roots = proofkey_server::outbound_roots(config.outbound_ca_file.as_deref())?;
    let fetcher = proofkey_server::HttpJwksFetcher::with_roots(&roots)
        .map_err(|e| format!("HTTP client: {e}"))?;
    let metadata = proofkey_server::HttpMetadataFetcher::new(&roots)
        .map_err(|e| format!("HTTP client: {e}"))?;
    let provider = Arc::new(
        Provider::new(config.clone(), store, Arc::new(SystemClock))
            .await
            .map_err(|e| format!("start-up failed: {e}"))?
            .with_jwks_fetcher(Arc::new(fetcher))
            .with_metadata_fetcher(Arc::new(metadata)),
    );
    let sweeper = tokio::spawn(proofkey_server::sweeper(
        Arc::clone(&provider),
        config.sweep_interval,
    ));
    let reloader = tokio::spawn(proofkey_server::key_reloader(
        Arc::clone(&provider),
        proofkey_server::KEY_RELOAD_INTERVAL,
    ));
    tracing::info!(listen = %local, issuer = %issuer, database = %db, "proofkey serving");
    if dev {
        print_dev_flow(&issuer);
    }
    // One signal ends both listeners: they drain at the same time.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let metrics_task = match metrics_listener {
        Some((listener, metrics)) => {
            tracing::info!(listen = %listener.local_addr().map_err(|e| e.to_string())?, "metrics serving at /metrics");
            Some(tokio::spawn(proofkey_server::serve_metrics(
                listener,
                Arc::clone(&provider),
                metrics,
                {
                    let mut stopping = stopping.clone();
                    async move {
                        let _ = stopping.wait_for(|s| *s).await;
                    }
                },
            )))
        }
        None => None,
    };
    let served = proofkey_server::serve(listener, provider, async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    })
    .await;
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    sweeper.abort();
    reloader.abort();
    served.map_err(|e| format!("server error: {e}"))?;
    tracing::info!("shut down");
    Ok(())
}

/// The metrics listener and the recorder, as configured: an address the
/// operator chose must bind; the default one may be taken (a second node
/// on the host), which is said and not fatal.
async fn metrics_listener(
    listen: MetricsListen,
) -> Result<Option<(tokio::net::TcpListener, proofkey_server::Metrics)>, String> {
    let (addr, chosen) = match listen {
        MetricsListen::Off => return Ok(None),
        MetricsListen::Default(a) => (a, false),
        MetricsListen::Configured(a) => (a, true),
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) if !chosen => {
            tracing::warn!(listen = %addr, error = %e, "metrics are not served: the default address is taken; set metrics_listen (or off)");
            return Ok(None);
        }
        Err(e) => return Err(format!("cannot listen for metrics on {addr}: {e}")),
    };
    let metrics = proofkey_server::Metrics::install().map_err(|e| e.to_string())?;
    Ok(Some((listener, metrics)))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = term => tracing::info!("SIGTERM received, shutting down"),
    }
}

fn print_dev_flow(issuer: &str) {
    let verifier = CodeVerifier::generate();
    let challenge = CodeChallenge::s256(&verifier).as_str();
    let state = proofkey_core::secret::random_token(16).unwrap_or_default();
    let mut url = match url::Url::parse(&format!("{issuer}/authorize")) {
        Ok(u) => u,
        Err(_) => return,
    };
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", crate::admin::DEMO_CLIENT)
        .append_pair("redirect_uri", crate::admin::DEMO_REDIRECT)
        .append_pair("scope", "openid profile email")
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    println!(
        "\nDevelopment mode: user 'demo' (password 'demo'), public client '{client}'.\n\n\
         1. Open this URL in a browser and sign in as demo/demo:\n\n   {url}\n\n\
         2. The browser lands on {redirect}?code=...&state={state}&iss=... (nothing listens there;\n   \
            copy the code from the address bar). Then, within 60 seconds:\n\n   \
         curl -s {issuer}/token -d grant_type=authorization_code -d client_id={client} \\\n     \
         -d redirect_uri={redirect} -d code_verifier={verifier} -d code=PASTE_CODE_HERE\n",
        client = crate::admin::DEMO_CLIENT,
        redirect = crate::admin::DEMO_REDIRECT,
        verifier = verifier.secret(),
    );
}
