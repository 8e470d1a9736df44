//! `proofkey client ...` and `proofkey user ...`: administration on the same
//! database as the server. Bad input exits 2 before anything is written;
//! an unknown client or user exits 1.

use std::io::{BufRead as _, IsTerminal as _};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use proofkey_core::keys::SUPPORTED_ALGS;
use proofkey_core::model::{Client, ClientKind, User, SUPPORTED_GRANT_TYPES};
use proofkey_core::{password, redirect_uri, scope, secret, Clock, Store, SystemClock};
use serde_json::json;

pub const DEMO_CLIENT: &str = "demo-cli";
pub const DEMO_REDIRECT: &str = "http://127.0.0.1/callback";
const DEMO_USER: &str = "demo";
const MIN_PASSWORD_LEN: usize = 8;

#[derive(Debug, Args)]
pub struct Db {
    /// Database URL [default: the config file's `database`, else
    /// sqlite://proofkey.db].
    #[arg(
        long,
        global = true,
        env = "PROOFKEY_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database: Option<proofkey_core::config::DatabaseUrl>,
    /// The settings file `proofkey serve` reads; its `database` is used
    /// unless --database or PROOFKEY_DATABASE_URL says otherwise.
    #[arg(long, global = true, env = "PROOFKEY_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Allow a PostgreSQL database on another host without verified TLS.
    #[arg(long, global = true, env = "PROOFKEY_ALLOW_INSECURE_DATABASE_TLS")]
    allow_insecure_database_tls: bool,
    /// The key-encryption key sealing the signing keys [default: the config
    /// file's key_encryption_key_file].
    #[arg(
        long,
        global = true,
        env = "PROOFKEY_KEY_ENCRYPTION_KEY_FILE",
        value_name = "FILE"
    )]
    key_encryption_key_file: Option<std::path::PathBuf>,
}

impl Db {
    /// The database, with `proofkey serve`'s precedence: the flag (or
    /// PROOFKEY_DATABASE_URL), then the config file, then the default.
    /// The settings file's contents (empty without one).
    fn settings(&self) -> Result<proofkey_core::config::Settings, Outcome> {
        Ok(match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Outcome::BadInput(format!("cannot read config file {}: {e}", path.display()))
                })?;
                proofkey_core::config::Settings::from_toml(&text)
                    .map_err(|e| Outcome::BadInput(format!("{}: {e}", path.display())))?
            }
            None => proofkey_core::config::Settings::default(),
        })
    }

    /// The key-encryption key, as `serve` would read it, if one is set.
    fn kek(&self) -> Result<Option<proofkey_core::kek::Kek>, Outcome> {
        let path = match &self.key_encryption_key_file {
            Some(p) => Some(p.clone()),
            None => self.settings()?.key_encryption_key_file,
        };
        path.map(|p| proofkey_core::kek::Kek::from_file(&p))
            .transpose()
            .map_err(|e| Outcome::BadInput(e.to_string()))
    }

    fn url(&self) -> Result<proofkey_core::config::DatabaseUrl, Outcome> {
        let file = self.settings()?;
        let url = match (&self.database, file.database) {
            (Some(url), _) => url.clone(),
            (None, Some(url)) => url,
            (None, None) => {
                proofkey_core::config::DatabaseUrl::new(proofkey_core::config::DEFAULT_DATABASE)
            }
        };
        let allow =
            self.allow_insecure_database_tls || file.allow_insecure_database_tls.unwrap_or(false);
        proofkey_core::config::check_database_tls(&url, allow).map_err(Outcome::BadInput)?;
        Ok(url)
    }
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A confidential client's secret is printed once.
    Create(CreateClient),
    /// List clients.
    List {
        #[command(flatten)]
        db: Db,
        /// One JSON object: {"clients": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Change a client an operator registered: only what is given is
    /// replaced, checked as `create` checks it. Running servers use the
    /// change within 5 s (their client cache).
    Update(UpdateClient),
    /// Show one client.
    Show {
        id: String,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// Delete a client.
    Delete {
        id: String,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// Mint an initial access token for dynamic client registration
    /// (RFC 7591 §3; with `registration = "initial-access-token"`). It is
    /// printed once; only its hash is stored.
    InitialToken {
        /// How long it stays valid (at most 30d).
        #[arg(long, default_value = "1h", value_name = "DURATION")]
        lifetime: String,
        /// How many registrations it allows.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// Replace a confidential client's secret; the new one is printed once.
    RotateSecret {
        id: String,
        /// Keep the old secret valid this long beside the new one, so that
        /// clients can be moved over without downtime (at most 30d)
        /// [default: 0s, the old secret stops at once].
        #[arg(long, default_value = "0s", value_name = "DURATION")]
        overlap: String,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct CreateClient {
    /// client_id.
    #[arg(long)]
    id: String,
    /// Display name (defaults to the id).
    #[arg(long)]
    name: Option<String>,
    /// A client that cannot keep a secret (native app, SPA, CLI).
    #[arg(
        long,
        conflicts_with = "confidential",
        required_unless_present = "confidential"
    )]
    public: bool,
    /// A client that authenticates with a secret.
    #[arg(long)]
    confidential: bool,
    /// Redirect URI; repeat for several. Loopback IP literals match any port.
    #[arg(long = "redirect-uri", required = true, value_name = "URI")]
    redirect_uris: Vec<String>,
    /// Scope the client may ask for; repeat [default: openid profile email].
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<String>,
    /// Grant type; repeat [default: authorization_code].
    #[arg(long = "grant-type", value_name = "G")]
    grant_types: Vec<String>,
    /// Skip the consent page (first-party clients).
    #[arg(long)]
    skip_consent: bool,
    /// ID token signing algorithm: RS256, ES256 or EdDSA.
    #[arg(long, default_value = "RS256")]
    id_token_alg: String,
    /// JWK Set file of the client's public keys: it authenticates with
    /// private_key_jwt (RFC 7523) instead of a secret.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["public", "jwks_uri"])]
    jwks: Option<std::path::PathBuf>,
    /// URL of the client's JWK Set, for private_key_jwt.
    #[arg(long, value_name = "URL", conflicts_with = "public")]
    jwks_uri: Option<String>,
    /// Where RP-Initiated Logout may send the browser afterwards; repeat.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// Keep refresh tokens across uses instead of rotating them
    /// (confidential clients only; public clients always rotate).
    #[arg(long)]
    no_refresh_rotation: bool,
    /// Issue a refresh token even when offline_access was not granted.
    #[arg(long)]
    always_issue_refresh_token: bool,
    /// Require a DPoP proof with every token request, so that every token
    /// is sender-constrained (RFC 9449 §5.2 dpop_bound_access_tokens).
    #[arg(long)]
    dpop_bound_access_tokens: bool,
    /// Require pushed authorization requests (RFC 9126 §6): /authorize
    /// accepts only a request_uri from the PAR endpoint.
    #[arg(long = "require-par")]
    require_pushed_authorization_requests: bool,
    /// A registered resource (RFC 8707) the client may ask tokens for;
    /// repeat [default: any registered resource].
    #[arg(long = "resource", value_name = "URI")]
    resources: Vec<String>,
    #[command(flatten)]
    db: Db,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// `client update`'s options: those of `client create` that can change
/// (not the id, nor public/confidential). A list given replaces the
/// stored one; a switch takes `true` (the default when bare) or `false`.
#[derive(Debug, Args)]
pub struct UpdateClient {
    /// The client_id.
    id: String,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// Redirect URI; repeat. Replaces every registered one.
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// Scope the client may ask for; repeat. Replaces the list.
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<String>,
    /// Grant type; repeat. Replaces the list.
    #[arg(long = "grant-type", value_name = "G")]
    grant_types: Vec<String>,
    /// Skip the consent page (first-party clients).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    skip_consent: Option<bool>,
    /// ID token signing algorithm: RS256, ES256 or EdDSA.
    #[arg(long)]
    id_token_alg: Option<String>,
    /// Replace the JWK Set of a private_key_jwt client with this file's.
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
    jwks: Option<std::path::PathBuf>,
    /// Replace the JWK Set of a private_key_jwt client with this URL's.
    #[arg(long, value_name = "URL")]
    jwks_uri: Option<String>,
    /// Where RP-Initiated Logout may send the browser afterwards; repeat.
    /// Replaces the list.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// Remove every post-logout redirect URI.
    #[arg(long, conflicts_with = "post_logout_redirect_uris")]
    clear_post_logout_redirect_uris: bool,
    /// Keep refresh tokens across uses instead of rotating them
    /// (confidential clients only).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    no_refresh_rotation: Option<bool>,
    /// Issue a refresh token even when offline_access was not granted.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    always_issue_refresh_token: Option<bool>,
    /// Require a DPoP proof with every token request (RFC 9449 §5.2).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    dpop_bound_access_tokens: Option<bool>,
    /// Require pushed authorization requests (RFC 9126 §6).
    #[arg(
        long = "require-par",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    require_pushed_authorization_requests: Option<bool>,
    /// A registered resource (RFC 8707) the client may ask tokens for;
    /// repeat. Replaces the list.
    #[arg(long = "resource", value_name = "URI")]
    resources: Vec<String>,
    /// Let the client ask for any registered resource (drops its list).
    #[arg(long, conflicts_with = "resources")]
    any_resource: bool,
    #[command(flatten)]
    db: Db,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys (public facts only).
    List {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// Add a new key per algorithm. Every node publishes it in its JWKS
    /// within 30 s; it signs only after --activation-delay, so that every
    /// node and every client's JWKS cache (5 min) has it first. The old key
    /// stays published until the tokens it signed have expired.
    Rotate {
        /// Algorithm to rotate; repeat [default: RS256 ES256 EdDSA].
        #[arg(long = "alg", value_name = "ALG")]
        algs: Vec<String>,
        /// How long the new key is published before it signs.
        #[arg(long, default_value = "10m")]
        activation_delay: String,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// Retire a signing key at once (a compromised one): it is deleted, so
    /// every node stops publishing and using it at its next key reload
    /// (within 30 s), and tokens it signed no longer verify here. Clients
    /// and resource servers may keep a cached JWKS up to its max-age (5
    /// min). Refused for the only active key of its algorithm unless
    /// --replace adds a replacement first.
    Retire {
        /// The key's kid (see `keys list`).
        kid: String,
        /// First add a new key of the same algorithm that signs at once
        /// (clients that cached the JWKS fetch it on meeting its kid).
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// Encrypt every signing key under a new key-encryption key (keys
    /// stored unencrypted too). Run with the current key configured; then
    /// point every node's key_encryption_key_file at the new file and
    /// restart them. Safe to run again after a failure.
    Rewrap {
        /// The new key-encryption key's file.
        #[arg(long, value_name = "FILE")]
        new_key_file: std::path::PathBuf,
        /// Create that file (0600) with a fresh random key first.
        #[arg(long)]
        generate: bool,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input (one line).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// List users.
    List {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// Show one user: claims, state, live sessions.
    Show {
        username: String,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// Change a user's email, name or password (only what is given). A new
    /// password ends the user's sessions and revokes their tokens, as
    /// set-password does, unless --keep-sessions.
    Update {
        username: String,
        /// The email claim ("" removes it).
        #[arg(long)]
        email: Option<String>,
        /// The name claim ("" removes it).
        #[arg(long)]
        name: Option<String>,
        /// Read a new password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        /// With --password-stdin: keep the user's sessions and tokens.
        #[arg(long, requires = "password_stdin")]
        keep_sessions: bool,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: they cannot sign in (told, like anyone, that the
    /// username or password is wrong), their sessions end and every token
    /// they authorized is revoked.
    Disable {
        username: String,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// Let a disabled user sign in again.
    Enable {
        username: String,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// Delete a user, with their sessions and consents.
    Delete {
        username: String,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// List a user's live login sessions.
    Sessions {
        username: String,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// End every session and revoke every token of a user.
    Revoke {
        username: String,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// Forget a user's failed sign-ins, lifting a lock or delay (and with
    /// --address, those of an address: its sign-ins and user codes).
    Unlock {
        username: String,
        /// Also unblock this address (IPv6: its /64).
        #[arg(long, value_name = "IP")]
        address: Option<std::net::IpAddr>,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password, read from standard input. Ends the user's
    /// sessions and revokes their tokens (whoever knew the old password
    /// is signed out), unless --keep-sessions.
    SetPassword {
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Keep the user's sessions and tokens alive.
        #[arg(long)]
        keep_sessions: bool,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
}

/// What a command ends with.
enum Outcome {
    Ok {
        json: serde_json::Value,
        text: String,
    },
    BadInput(String),
    NotFound(String),
    Failed(String),
}

fn finish(outcome: Outcome, as_json: bool) -> ExitCode {
    match outcome {
        Outcome::Ok { json, text } => {
            if as_json {
                println!("{json}");
            } else {
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        Outcome::BadInput(m) => {
            eprintln!("proofkey: {m}");
            ExitCode::from(2)
        }
        Outcome::NotFound(m) | Outcome::Failed(m) => {
            eprintln!("proofkey: {m}");
            ExitCode::FAILURE
        }
    }
}

/// Opens an existing database. A SQLite file that does not exist is an
/// error, never created: an admin command pointed at the wrong place must
/// say so, not answer from a new empty database. (`migrate` and `serve`
/// create it.)
async fn open(db: &Db) -> Result<std::sync::Arc<dyn Store>, Outcome> {
    open_with(db, false).await
}

async fn open_with(db: &Db, create: bool) -> Result<std::sync::Arc<dyn Store>, Outcome> {
    let url = db.url()?;
    let shown = url.redacted();
    if !["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|p| url.expose().starts_with(p))
    {
        return Err(Outcome::BadInput(format!(
            "--database {shown:?}: use sqlite://PATH or postgres://USER@HOST/DB"
        )));
    }
    if let Some(path) = sqlite_path(url.expose()) {
        if !create && !std::path::Path::new(path).exists() {
            return Err(Outcome::Failed(format!(
                "database {shown} does not exist (check --database, PROOFKEY_DATABASE_URL or --config); `proofkey migrate` or `proofkey serve` creates it"
            )));
        }
    }
    proofkey_store::open(url.expose())
        .await
        .map_err(|e| Outcome::Failed(format!("database {shown}: {e}")))
}

/// The file of a `sqlite:` URL (without its query), unless it is in memory.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(':')).then_some(path)
}

/// `proofkey migrate`: applies pending migrations (they also run when the
/// server starts); prints which backend was migrated.
/// `proofkey backup`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    #[command(flatten)]
    db: Db,
    /// The copy to write (must not exist; created 0600).
    file: std::path::PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// An online backup of the SQLite database, safe while the server runs
/// (docs/operations.md); PostgreSQL has pg_dump.
pub fn run_backup(args: BackupArgs) -> ExitCode {
    let outcome = (|| {
        let url = args.db.url()?;
        let shown = url.redacted();
        let Some(path) = sqlite_path(url.expose()) else {
            return Err(Outcome::BadInput(format!(
                "{shown}: proofkey backup copies a SQLite database; back up PostgreSQL with pg_dump (docs/operations.md)"
            )));
        };
        if !std::path::Path::new(path).exists() {
            return Err(Outcome::Failed(format!("database {shown} does not exist")));
        }
        let bytes = proofkey_store::backup_sqlite(path, &args.file)?;
        let to = args.file.display().to_string();
        Ok(Outcome::Ok {
            json: json!({"database": shown, "backup": to, "bytes": bytes}),
            text: format!("{shown}: copied to {to} ({bytes} bytes), integrity checked"),
        })
    })()
    .unwrap_or_else(|o| o);
    finish(outcome, args.json)
}

pub fn run_migrate(db: Db) -> ExitCode {
    finish(
        block_on(async move {
            open_with(&db, true).await?;
            let shown = db.url()?.redacted();
            Ok(Outcome::Ok {
                json: json!({"migrated": shown}),
                text: format!("{shown}: migrations applied"),
            })
        }),
        false,
    )
}

fn block_on(f: impl std::future::Future<Output = Result<Outcome, Outcome>>) -> Outcome {
    match crate::runtime() {
        Ok(rt) => rt.block_on(f).unwrap_or_else(|o| o),
        Err(e) => Outcome::Failed(format!("cannot start the runtime: {e}")),
    }
}

impl From<proofkey_core::StoreError> for Outcome {
    fn from(e: proofkey_core::StoreError) -> Self {
        Outcome::Failed(e.to_string())
    }
}

fn client_json(c: &Client) -> serde_json::Value {
    json!({
        "client_id": c.id,
        "name": c.name,
        "type": c.kind.as_str(),
        "redirect_uris": c.redirect_uris,
        "scopes": c.scopes,
        "grant_types": c.grant_types,
        "skip_consent": c.skip_consent,
        "id_token_signed_response_alg": c.id_token_alg,
        "token_endpoint_auth_method": c.auth_method(),
        "jwks_uri": c.jwks_uri,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "rotate_refresh_tokens": c.rotate_refresh_tokens,
        "always_issue_refresh_token": c.always_issue_refresh_token,
        "dpop_bound_access_tokens": c.dpop_bound_access_tokens,
        "require_pushed_authorization_requests": c.require_pushed_authorization_requests,
        "created_at": c.created_at,
        "resources": c.resources,
        "registered_by": c.registration.as_str(),
    })
}

fn client_text(c: &Client) -> String {
    let list = |l: &[String], empty: &str| {
        if l.is_empty() {
            empty.to_owned()
        } else {
            l.join(" ")
        }
    };
    let keys = match (&c.jwks, &c.jwks_uri) {
        (Some(_), _) => "registered JWK Set".to_owned(),
        (None, Some(uri)) => uri.clone(),
        (None, None) => "-".to_owned(),
    };
    let rows = [
        ("client_id", c.id.clone()),
        ("name", c.name.clone()),
        ("type", c.kind.as_str().to_owned()),
        ("auth_method", c.auth_method().to_owned()),
        ("redirect_uris", list(&c.redirect_uris, "-")),
        (
            "post_logout_redirect_uris",
            list(&c.post_logout_redirect_uris, "-"),
        ),
        ("scopes", list(&c.scopes, "-")),
        ("grant_types", list(&c.grant_types, "-")),
        ("resources", list(&c.resources, "(any registered)")),
        ("skip_consent", c.skip_consent.to_string()),
        ("id_token_alg", c.id_token_alg.clone()),
        ("jwks", keys),
        ("rotate_refresh_tokens", c.rotate_refresh_tokens.to_string()),
        (
            "always_issue_refresh_token",
            c.always_issue_refresh_token.to_string(),
        ),
        (
            "dpop_bound_access_tokens",
            c.dpop_bound_access_tokens.to_string(),
        ),
        (
            "require_par",
            c.require_pushed_authorization_requests.to_string(),
        ),
        ("registered_by", c.registration.as_str().to_owned()),
        ("created_at", rfc3339(c.created_at)),
    ];
    rows.iter()
        .map(|(k, v)| format!("{:<27}{v}", format!("{k}:")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Unix time as RFC 3339 in UTC, to the second (`2025-01-31T12:00:00Z`).
fn rfc3339(t: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0).unsigned_abs());
    humantime::format_rfc3339_seconds(at).to_string()
}

/// `proofkey resource ...`: the protected resources (RFC 8707) tokens may
/// be issued for.
#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// Register a resource: its URI becomes the `aud` of tokens for it.
    Create {
        /// The resource indicator: an absolute URI without a fragment,
        /// e.g. https://mcp.example.com/mcp (compared exactly).
        #[arg(long)]
        uri: String,
        /// A name shown on the consent page [default: the URI].
        #[arg(long)]
        name: Option<String>,
        /// A scope it understands; repeat. Clients that register
        /// themselves may ask for these, and discovery lists them.
        #[arg(long = "scope", value_name = "S")]
        scopes: Vec<String>,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// List resources.
    List {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
    /// Delete a resource: no new token is issued for it (tokens issued
    /// already stay valid until they expire or are revoked).
    Delete {
        uri: String,
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `resource` subcommand.
pub fn run_resource(cmd: ResourceCommand) -> ExitCode {
    let as_json = match &cmd {
        ResourceCommand::Create { json, .. }
        | ResourceCommand::List { json, .. }
        | ResourceCommand::Delete { json, .. } => *json,
    };
    finish(block_on(resource(cmd)), as_json)
}

fn resource_json(r: &proofkey_core::model::Resource) -> serde_json::Value {
    json!({"uri": r.uri, "name": r.name, "scopes": r.scopes, "created_at": r.created_at})
}

async fn resource(cmd: ResourceCommand) -> Result<Outcome, Outcome> {
    Ok(match cmd {
        ResourceCommand::Create {
            uri,
            name,
            scopes,
            db,
            ..
        } => {
            proofkey_core::resource::check_uri(&uri)
                .map_err(|e| Outcome::BadInput(format!("--uri {e}")))?;
            let scopes: Vec<String> = scopes.iter().flat_map(|s| scope::parse(s)).collect();
            if let Some(bad) = scopes.iter().find(|s| !scope::is_valid_token(s)) {
                return Err(Outcome::BadInput(format!(
                    "--scope {bad:?} is not a valid scope token (RFC 6749 §3.3)"
                )));
            }
            let r = proofkey_core::model::Resource {
                name: name.unwrap_or_else(|| uri.clone()),
                uri,
                scopes,
                created_at: SystemClock.now(),
            };
            match open(&db).await?.create_resource(&r).await {
                Ok(()) => {}
                Err(proofkey_core::StoreError::Conflict(_)) => {
                    return Err(Outcome::BadInput(format!(
                        "resource {:?} already exists",
                        r.uri
                    )))
                }
                Err(e) => return Err(e.into()),
            }
            Outcome::Ok {
                json: resource_json(&r),
                text: format!(
                    "created resource {}\nname:   {}\nscopes: {}",
                    r.uri,
                    r.name,
                    r.scopes.join(" ")
                ),
            }
        }
        ResourceCommand::List { db, .. } => {
            let all = open(&db).await?.list_resources().await?;
            Outcome::Ok {
                json: json!({"resources": all.iter().map(resource_json).collect::<Vec<_>>()}),
                text: if all.is_empty() {
                    "no resources".into()
                } else {
                    all.iter()
                        .map(|r| format!("{}\t{}\t{}", r.uri, r.name, r.scopes.join(" ")))
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            }
        }
        ResourceCommand::Delete { uri, db, .. } => {
            if !open(&db).await?.delete_resource(&uri).await? {
                return Err(Outcome::NotFound(format!("no resource {uri:?}")));
            }
            Outcome::Ok {
                json: json!({"deleted": uri}),
                text: format!("deleted resource {uri}"),
            }
        }
    })
}

/// A client's registration as the command line gives it: `client create`'s
/// options, or `client update`'s laid over the stored client. Both are
/// checked by [`validate_client`] alone, so that an update is held to
/// exactly what a creation is.
struct ClientSpec {
    id: String,
    name: Option<String>,
    confidential: bool,
    redirect_uris: Vec<String>,
    scopes: Vec<String>,
    grant_types: Vec<String>,
    skip_consent: bool,
    id_token_alg: String,
    /// The JWK Set's text, checked by [`read_jwks`] when read from a file.
    jwks: Option<String>,
    jwks_uri: Option<String>,
    post_logout_redirect_uris: Vec<String>,
    no_refresh_rotation: bool,
    always_issue_refresh_token: bool,
    dpop_bound_access_tokens: bool,
    require_pushed_authorization_requests: bool,
    resources: Vec<String>,
}

impl CreateClient {
    fn spec(&self) -> Result<ClientSpec, String> {
        Ok(ClientSpec {
            id: self.id.clone(),
            name: self.name.clone(),
            confidential: self.confidential,
            redirect_uris: self.redirect_uris.clone(),
            scopes: self.scopes.clone(),
            grant_types: self.grant_types.clone(),
            skip_consent: self.skip_consent,
            id_token_alg: self.id_token_alg.clone(),
            jwks: self.jwks.as_deref().map(read_jwks).transpose()?,
            jwks_uri: self.jwks_uri.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            no_refresh_rotation: self.no_refresh_rotation,
            always_issue_refresh_token: self.always_issue_refresh_token,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            resources: self.resources.clone(),
        })
    }
}

impl UpdateClient {
    /// The stored client with what was given replaced; `jwks` is the text
    /// of `--jwks`, read (and checked) before the database was opened.
    fn spec(&self, stored: &Client, jwks: Option<String>) -> ClientSpec {
        let list = |given: &[String], stored: &[String]| {
            if given.is_empty() {
                stored.to_vec()
            } else {
                given.to_vec()
            }
        };
        let (jwks, jwks_uri) = match (jwks, &self.jwks_uri) {
            (Some(text), _) => (Some(text), None),
            (None, Some(uri)) => (None, Some(uri.clone())),
            (None, None) => (stored.jwks.clone(), stored.jwks_uri.clone()),
        };
        ClientSpec {
            id: stored.id.clone(),
            name: Some(self.name.clone().unwrap_or_else(|| stored.name.clone())),
            confidential: stored.kind == ClientKind::Confidential,
            redirect_uris: list(&self.redirect_uris, &stored.redirect_uris),
            scopes: list(&self.scopes, &stored.scopes),
            grant_types: list(&self.grant_types, &stored.grant_types),
            skip_consent: self.skip_consent.unwrap_or(stored.skip_consent),
            id_token_alg: self
                .id_token_alg
                .clone()
                .unwrap_or_else(|| stored.id_token_alg.clone()),
            jwks,
            jwks_uri,
            post_logout_redirect_uris: if self.clear_post_logout_redirect_uris {
                vec![]
            } else {
                list(
                    &self.post_logout_redirect_uris,
                    &stored.post_logout_redirect_uris,
                )
            },
            no_refresh_rotation: self
                .no_refresh_rotation
                .unwrap_or(!stored.rotate_refresh_tokens),
            always_issue_refresh_token: self
                .always_issue_refresh_token
                .unwrap_or(stored.always_issue_refresh_token),
            dpop_bound_access_tokens: self
                .dpop_bound_access_tokens
                .unwrap_or(stored.dpop_bound_access_tokens),
            require_pushed_authorization_requests: self
                .require_pushed_authorization_requests
                .unwrap_or(stored.require_pushed_authorization_requests),
            resources: if self.any_resource {
                vec![]
            } else {
                list(&self.resources, &stored.resources)
            },
        }
    }
}

/// The grant type a `--grant-type` value names: the registered name, or
/// an obvious short alias of it (`device_code` for RFC 8628 §3.4's URN).
fn grant_type_name(given: &str) -> String {
    match given {
        "device_code" | "device" => proofkey_core::model::DEVICE_CODE_GRANT.to_owned(),
        other => other.to_owned(),
    }
}

/// A `--jwks` file's text, checked to be a JWK Set of public keys.
fn read_jwks(path: &std::path::Path) -> Result<String, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--jwks {}: {e}", path.display()))?;
    validate_jwks(&text).map_err(|e| format!("--jwks {}: {e}", path.display()))?;
    Ok(text)
}

fn validate_client(a: &ClientSpec) -> Result<Client, String> {
    if a.id.is_empty() || a.id.len() > 128 || !a.id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "--id {:?}: 1 to 128 printable ASCII characters without spaces",
            a.id
        ));
    }
    if a.redirect_uris.is_empty() {
        return Err("--redirect-uri: at least one is needed".into());
    }
    for uri in &a.redirect_uris {
        redirect_uri::validate_registration(uri).map_err(|e| format!("--redirect-uri {e}"))?;
    }
    let grant_types: Vec<String> = if a.grant_types.is_empty() {
        vec!["authorization_code".to_owned()]
    } else {
        let mut named: Vec<String> = vec![];
        for g in a.grant_types.iter().map(|g| grant_type_name(g)) {
            if !named.contains(&g) {
                named.push(g);
            }
        }
        named
    };
    if let Some(bad) = grant_types
        .iter()
        .find(|g| !SUPPORTED_GRANT_TYPES.contains(&g.as_str()))
    {
        return Err(format!(
            "--grant-type {bad:?} is not supported by this server; supported: {} (or device_code for the last)",
            SUPPORTED_GRANT_TYPES.join(", ")
        ));
    }
    let scopes: Vec<String> = if a.scopes.is_empty() {
        let mut d: Vec<String> = scope::DEFAULT_CLIENT_SCOPES
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        if grant_types.iter().any(|g| g == "refresh_token") {
            d.push("offline_access".into());
        }
        d
    } else {
        a.scopes.iter().flat_map(|s| scope::parse(s)).collect()
    };
    if let Some(bad) = scopes.iter().find(|s| !scope::is_valid_token(s)) {
        return Err(format!(
            "--scope {bad:?} is not a valid scope token (RFC 6749 §3.3)"
        ));
    }
    if !SUPPORTED_ALGS.contains(&a.id_token_alg.as_str()) {
        return Err(format!(
            "--id-token-alg {:?}: use one of {}",
            a.id_token_alg,
            SUPPORTED_ALGS.join(", ")
        ));
    }
    let public = !a.confidential;
    if public && grant_types.iter().any(|g| g == "client_credentials") {
        return Err(
            "--grant-type client_credentials needs a confidential client (RFC 6749 §4.4)".into(),
        );
    }
    if public && a.no_refresh_rotation {
        return Err("--no-refresh-rotation: public clients' refresh tokens always rotate (OAuth 2.1 §4.3.1)".into());
    }
    if public && (a.jwks.is_some() || a.jwks_uri.is_some()) {
        return Err(
            "--jwks and --jwks-uri are for confidential clients (private_key_jwt, RFC 7523)".into(),
        );
    }
    for uri in &a.post_logout_redirect_uris {
        redirect_uri::validate_registration(uri)
            .map_err(|e| format!("--post-logout-redirect-uri {e}"))?;
    }
    for uri in &a.resources {
        proofkey_core::resource::check_uri(uri).map_err(|e| format!("--resource {e}"))?;
    }
    if let Some(uri) = &a.jwks_uri {
        let ok = url::Url::parse(uri).is_ok_and(|u| {
            u.scheme() == "https"
                || (u.scheme() == "http"
                    && matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")))
        });
        if !ok {
            return Err(format!("--jwks-uri {uri:?} must be an https URL"));
        }
    }
    Ok(Client {
        id: a.id.clone(),
        name: a.name.clone().unwrap_or_else(|| a.id.clone()),
        kind: if a.confidential {
            ClientKind::Confidential
        } else {
            ClientKind::Public
        },
        secret_hash: None,
        previous_secret: None,
        redirect_uris: a.redirect_uris.clone(),
        scopes,
        grant_types,
        skip_consent: a.skip_consent,
        id_token_alg: a.id_token_alg.clone(),
        created_at: SystemClock.now(),
        jwks: a.jwks.clone(),
        jwks_uri: a.jwks_uri.clone(),
        post_logout_redirect_uris: a.post_logout_redirect_uris.clone(),
        rotate_refresh_tokens: !a.no_refresh_rotation,
        always_issue_refresh_token: a.always_issue_refresh_token,
        resources: a.resources.clone(),
        registration: proofkey_core::model::Registration::Admin,
        registration_token_hash: None,
        dpop_bound_access_tokens: a.dpop_bound_access_tokens,
        require_pushed_authorization_requests: a.require_pushed_authorization_requests,
    })
}

/// Every `--resource` must be registered (`proofkey resource create`).
async fn check_resources_registered(store: &dyn Store, c: &Client) -> Result<(), Outcome> {
    for uri in &c.resources {
        if store.get_resource(uri).await?.is_none() {
            return Err(Outcome::BadInput(format!(
                "--resource {uri:?} is not registered; add it with proofkey resource create"
            )));
        }
    }
    Ok(())
}

/// A JWK Set of public signing keys: a `keys` array, each with `kty`, and no
/// private members.
fn validate_jwks(text: &str) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let keys = v["keys"]
        .as_array()
        .ok_or("not a JWK Set (no \"keys\" array)")?;
    if keys.is_empty() {
        return Err("the JWK Set has no keys".into());
    }
    for k in keys {
        if !k["kty"].is_string() {
            return Err("a key has no kty".into());
        }
        if let Some(p) = ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .find(|p| k.get(**p).is_some())
        {
            return Err(format!(
                "a key has the private member {p:?}; register public keys only"
            ));
        }
    }
    Ok(())
}

fn new_secret() -> Result<secret::ClientSecret, Outcome> {
    secret::random_token(32)
        .map(secret::ClientSecret::new)
        .map_err(|e| Outcome::Failed(format!("random number generator: {e}")))
}

pub fn run_client(cmd: ClientCommand) -> ExitCode {
    let as_json = match &cmd {
        ClientCommand::Create(a) => a.json,
        ClientCommand::Update(a) => a.json,
        ClientCommand::List { json, .. }
        | ClientCommand::Show { json, .. }
        | ClientCommand::Delete { json, .. }
        | ClientCommand::InitialToken { json, .. }
        | ClientCommand::RotateSecret { json, .. } => *json,
    };
    finish(block_on(client(cmd)), as_json)
}

async fn client(cmd: ClientCommand) -> Result<Outcome, Outcome> {
    let no_client = |id: &str| Outcome::NotFound(format!("no client {id:?}"));
    Ok(match cmd {
        ClientCommand::Create(a) => {
            let mut c = a
                .spec()
                .and_then(|spec| validate_client(&spec))
                .map_err(Outcome::BadInput)?;
            let store = open(&a.db).await?;
            check_resources_registered(store.as_ref(), &c).await?;
            let mut secret = None;
            if c.kind == ClientKind::Confidential && c.auth_method() == "client_secret_basic" {
                let s = new_secret()?;
                c.secret_hash = Some(proofkey_core::secret_hasher(store.as_ref()).await?.hash(&s));
                secret = Some(s);
            }
            match store.create_client(&c).await {
                Ok(()) => {}
                Err(proofkey_core::StoreError::Conflict(_)) => {
                    return Err(Outcome::BadInput(format!(
                        "client {:?} already exists",
                        c.id
                    )))
                }
                Err(e) => return Err(e.into()),
            }
            let mut j = client_json(&c);
            let mut text = format!("created client\n{}", client_text(&c));
            if let Some(s) = secret {
                j["client_secret"] = json!(s.expose());
                text.push_str(&format!(
                    "\nclient_secret: {}\n(shown once; only a keyed hash is stored)",
                    s.expose()
                ));
            }
            Outcome::Ok { json: j, text }
        }
        ClientCommand::List { db, .. } => {
            let cs = open(&db).await?.list_clients().await?;
            Outcome::Ok {
                json: json!({"clients": cs.iter().map(client_json).collect::<Vec<_>>()}),
                text: if cs.is_empty() {
                    "no clients".into()
                } else {
                    cs.iter()
                        .map(|c| {
                            format!(
                                "{}\t{}\t{}",
                                c.id,
                                c.kind.as_str(),
                                c.redirect_uris.join(" ")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            }
        }
        ClientCommand::Update(a) => {
            // What needs no database is checked before it is opened.
            let jwks = a
                .jwks
                .as_deref()
                .map(read_jwks)
                .transpose()
                .map_err(Outcome::BadInput)?;
            let store = open(&a.db).await?;
            let stored = store
                .get_client(&a.id)
                .await?
                .ok_or_else(|| no_client(&a.id))?;
            if stored.registration != proofkey_core::model::Registration::Admin {
                return Err(Outcome::BadInput(format!(
                    "client {:?} was registered {} (registered_by {}), not by an operator; it changes its registration itself (RFC 7592, or its metadata document), or delete it",
                    a.id,
                    if stored.registration == proofkey_core::model::Registration::Dynamic {
                        "by itself"
                    } else {
                        "by its metadata document"
                    },
                    stored.registration.as_str()
                )));
            }
            let mut c = validate_client(&a.spec(&stored, jwks)).map_err(Outcome::BadInput)?;
            if c.auth_method() != stored.auth_method() {
                return Err(Outcome::BadInput(format!(
                    "that would change how client {:?} authenticates ({} to {}); register a new client instead",
                    a.id,
                    stored.auth_method(),
                    c.auth_method()
                )));
            }
            check_resources_registered(store.as_ref(), &c).await?;
            // Never changed here: kind, secrets, creation, registration.
            c.kind = stored.kind;
            c.secret_hash = stored.secret_hash.clone();
            c.previous_secret = stored.previous_secret.clone();
            c.created_at = stored.created_at;
            c.registration = stored.registration;
            c.registration_token_hash = stored.registration_token_hash.clone();
            if !store.replace_client(&c).await? {
                return Err(no_client(&a.id));
            }
            Outcome::Ok {
                json: client_json(&c),
                text: format!(
                    "updated client (running servers use it within 5 s)\n{}",
                    client_text(&c)
                ),
            }
        }
        ClientCommand::Show { id, db, .. } => {
            let c = open(&db)
                .await?
                .get_client(&id)
                .await?
                .ok_or_else(|| no_client(&id))?;
            Outcome::Ok {
                json: client_json(&c),
                text: client_text(&c),
            }
        }
        ClientCommand::Delete { id, db, .. } => {
            if !open(&db)
                .await?
                .delete_client(&id, SystemClock.now())
                .await?
            {
                return Err(no_client(&id));
            }
            Outcome::Ok {
                json: json!({"deleted": id}),
                text: format!("deleted client {id}"),
            }
        }
        ClientCommand::InitialToken {
            lifetime, uses, db, ..
        } => {
            let lifetime = proofkey_core::config::parse_duration(&lifetime)
                .map_err(|e| Outcome::BadInput(format!("--lifetime {e}")))?;
            if lifetime.as_secs() == 0 || lifetime.as_secs() > 30 * 86_400 {
                return Err(Outcome::BadInput("--lifetime: 1s to 30d".into()));
            }
            if uses == 0 || uses > 100_000 {
                return Err(Outcome::BadInput("--uses: 1 to 100000".into()));
            }
            let token = secret::random_token(32)
                .map_err(|e| Outcome::Failed(format!("random number generator: {e}")))?;
            let now = SystemClock.now();
            let expires_at = now + lifetime.as_secs() as i64;
            open(&db)
                .await?
                .create_initial_access_token(
                    &secret::hash_token(&token),
                    uses.into(),
                    expires_at,
                    now,
                )
                .await?;
            Outcome::Ok {
                json: json!({"initial_access_token": token, "uses": uses, "expires_at": expires_at}),
                text: format!(
                    "initial_access_token: {token}\n(shown once; good for {uses} registration(s) until {expires_at}; send it as Authorization: Bearer to the registration endpoint)"
                ),
            }
        }
        ClientCommand::RotateSecret {
            id, overlap, db, ..
        } => {
            let overlap = proofkey_core::config::parse_duration(&overlap)
                .map_err(|e| Outcome::BadInput(format!("--overlap {e}")))?;
            if overlap.as_secs() > 30 * 86_400 {
                return Err(Outcome::BadInput("--overlap: at most 30d".into()));
            }
            let until =
                (overlap.as_secs() > 0).then(|| SystemClock.now() + overlap.as_secs() as i64);
            let store = open(&db).await?;
            let c = store.get_client(&id).await?.ok_or_else(|| no_client(&id))?;
            if c.auth_method() != "client_secret_basic" {
                return Err(Outcome::BadInput(format!(
                    "client {id:?} authenticates with {}, not a secret",
                    c.auth_method()
                )));
            }
            let s = new_secret()?;
            let hash = proofkey_core::secret_hasher(store.as_ref()).await?.hash(&s);
            if !store.set_client_secret(&id, &hash, until).await? {
                return Err(no_client(&id));
            }
            let old = match until {
                Some(t) => format!(
                    "the old secret keeps working until {t} (in {}s)",
                    overlap.as_secs()
                ),
                None => "the old secret stops working within 5 seconds on running servers".into(),
            };
            Outcome::Ok {
                json: json!({"client_id": id, "client_secret": s.expose(), "old_secret_valid_until": until}),
                text: format!("client_secret: {}\n(shown once; {old})", s.expose()),
            }
        }
    })
}

fn read_password() -> Result<secret::Password, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password: ");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let line = zeroize::Zeroizing::new(line);
    let password = secret::Password::new(line.trim_end_matches(['\n', '\r']));
    if password.expose().chars().count() < MIN_PASSWORD_LEN {
        return Err(format!(
            "the password must be at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    Ok(password)
}

async fn hash_password(password: secret::Password) -> Result<String, Outcome> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| Outcome::Failed(e.to_string()))?
        .map_err(Outcome::Failed)
}

fn user_json(u: &User) -> serde_json::Value {
    json!({"id": u.id, "username": u.username, "email": u.email, "name": u.name, "created_at": u.created_at, "disabled_at": u.disabled_at})
}

fn valid_email(e: &str) -> Result<(), String> {
    if !e.contains('@') || e.chars().any(char::is_whitespace) {
        return Err(format!("--email {e:?} is not an email address"));
    }
    Ok(())
}

pub fn run_user(cmd: UserCommand) -> ExitCode {
    let as_json = match &cmd {
        UserCommand::Create { json, .. }
        | UserCommand::List { json, .. }
        | UserCommand::Show { json, .. }
        | UserCommand::Update { json, .. }
        | UserCommand::Disable { json, .. }
        | UserCommand::Enable { json, .. }
        | UserCommand::Delete { json, .. }
        | UserCommand::Sessions { json, .. }
        | UserCommand::Revoke { json, .. }
        | UserCommand::Unlock { json, .. }
        | UserCommand::SetPassword { json, .. } => *json,
    };
    finish(block_on(user(cmd)), as_json)
}

fn valid_username(u: &str) -> Result<(), String> {
    if u.is_empty() || u.len() > 64 || u.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "username {u:?}: 1 to 64 characters, no spaces or control characters"
        ));
    }
    Ok(())
}

async fn user_by_name(store: &dyn Store, username: &str) -> Result<User, Outcome> {
    store
        .get_user_by_username(username)
        .await?
        .ok_or_else(|| Outcome::NotFound(format!("no user {username:?}")))
}

async fn user(cmd: UserCommand) -> Result<Outcome, Outcome> {
    let no_user = |u: &str| Outcome::NotFound(format!("no user {u:?}"));
    Ok(match cmd {
        UserCommand::Create {
            username,
            email,
            name,
            db,
            ..
        } => {
            valid_username(&username).map_err(Outcome::BadInput)?;
            if let Some(e) = &email {
                valid_email(e).map_err(Outcome::BadInput)?;
            }
            let password = read_password().map_err(Outcome::BadInput)?;
            let store = open(&db).await?;
            let hash = hash_password(password).await?;
            let id = secret::random_token(16).map_err(|e| Outcome::Failed(e.to_string()))?;
            let u = User {
                id,
                username,
                email,
                name,
                password_hash: hash,
                created_at: SystemClock.now(),
                disabled_at: None,
            };
            match store.create_user(&u).await {
                Ok(()) => Outcome::Ok {
                    json: user_json(&u),
                    text: format!("created user {} (sub {})", u.username, u.id),
                },
                Err(proofkey_core::StoreError::Conflict(_)) => {
                    return Err(Outcome::BadInput(format!(
                        "user {:?} already exists",
                        u.username
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
        UserCommand::List { db, .. } => {
            let us = open(&db).await?.list_users().await?;
            Outcome::Ok {
                json: json!({"users": us.iter().map(user_json).collect::<Vec<_>>()}),
                text: if us.is_empty() {
                    "no users".into()
                } else {
                    us.iter()
                        .map(|u| {
                            format!(
                                "{}\t{}\t{}{}",
                                u.username,
                                u.id,
                                u.email.as_deref().unwrap_or("-"),
                                if u.disabled_at.is_some() {
                                    "\tdisabled"
                                } else {
                                    ""
                                }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            }
        }
        UserCommand::Show { username, db, .. } => {
            let store = open(&db).await?;
            let u = user_by_name(store.as_ref(), &username).await?;
            let sessions = store.list_sessions(&u.id, SystemClock.now()).await?;
            let mut j = user_json(&u);
            j["live_sessions"] = json!(sessions.len());
            let state = match u.disabled_at {
                Some(t) => format!("disabled since {}", rfc3339(t)),
                None => "enabled".to_owned(),
            };
            let rows = [
                ("username", u.username.clone()),
                ("sub", u.id.clone()),
                ("email", u.email.clone().unwrap_or_else(|| "-".into())),
                ("name", u.name.clone().unwrap_or_else(|| "-".into())),
                ("state", state),
                ("live_sessions", sessions.len().to_string()),
                ("created_at", rfc3339(u.created_at)),
            ];
            Outcome::Ok {
                json: j,
                text: rows
                    .iter()
                    .map(|(k, v)| format!("{:<15}{v}", format!("{k}:")))
                    .collect::<Vec<_>>()
                    .join("\n"),
            }
        }
        UserCommand::Update {
            username,
            email,
            name,
            password_stdin,
            keep_sessions,
            db,
            ..
        } => {
            if let Some(e) = email.as_deref().filter(|e| !e.is_empty()) {
                valid_email(e).map_err(Outcome::BadInput)?;
            }
            if email.is_none() && name.is_none() && !password_stdin {
                return Err(Outcome::BadInput(
                    "nothing to change: give --email, --name or --password-stdin".into(),
                ));
            }
            let password = if password_stdin {
                Some(read_password().map_err(Outcome::BadInput)?)
            } else {
                None
            };
            let store = open(&db).await?;
            let u = user_by_name(store.as_ref(), &username).await?;
            let cleared = |v: Option<String>, old: Option<String>| match v {
                Some(v) if v.is_empty() => None,
                Some(v) => Some(v),
                None => old,
            };
            let email = cleared(email, u.email.clone());
            let name = cleared(name, u.name.clone());
            // Hashed before anything is written: a failed hash changes
            // nothing, not half of the update.
            let hash = match password {
                Some(password) => Some(hash_password(password).await?),
                None => None,
            };
            if !store
                .update_user(&username, email.as_deref(), name.as_deref())
                .await?
            {
                return Err(no_user(&username));
            }
            let mut j = json!({"username": username, "email": email, "name": name});
            let mut text = format!(
                "updated {username}: email {}, name {}",
                email.as_deref().unwrap_or("-"),
                name.as_deref().unwrap_or("-")
            );
            if let Some(hash) = hash {
                if !store.set_password(&username, &hash).await? {
                    return Err(no_user(&username));
                }
                let (sessions, grants) = if keep_sessions {
                    (0, 0)
                } else {
                    store.revoke_user(&u.id, SystemClock.now()).await?
                };
                j["password"] = json!("set");
                j["sessions_ended"] = json!(sessions);
                j["grants_revoked"] = json!(grants);
                text.push_str(&if keep_sessions {
                    "; password set, sessions and tokens kept".to_owned()
                } else {
                    format!(
                        "; password set, {sessions} sessions ended, {grants} authorizations revoked"
                    )
                });
            }
            Outcome::Ok { json: j, text }
        }
        UserCommand::Disable { username, db, .. } => {
            let store = open(&db).await?;
            let Some((sessions, grants)) = store.disable_user(&username, SystemClock.now()).await?
            else {
                return Err(no_user(&username));
            };
            Outcome::Ok {
                json: json!({"username": username, "disabled": true, "sessions_ended": sessions, "grants_revoked": grants}),
                text: format!(
                    "{username} disabled: cannot sign in; {sessions} sessions ended, {grants} authorizations revoked (every token of them; JWT access tokens already issued still verify offline until they expire)"
                ),
            }
        }
        UserCommand::Enable { username, db, .. } => {
            if !open(&db).await?.enable_user(&username).await? {
                return Err(no_user(&username));
            }
            Outcome::Ok {
                json: json!({"username": username, "disabled": false}),
                text: format!("{username} enabled: can sign in again"),
            }
        }
        UserCommand::Delete { username, db, .. } => {
            if !open(&db)
                .await?
                .delete_user(&username, SystemClock.now())
                .await?
            {
                return Err(no_user(&username));
            }
            Outcome::Ok {
                json: json!({"deleted": username}),
                text: format!("deleted user {username}"),
            }
        }
        UserCommand::Sessions { username, db, .. } => {
            let store = open(&db).await?;
            let user = user_by_name(store.as_ref(), &username).await?;
            let ss = store.list_sessions(&user.id, SystemClock.now()).await?;
            Outcome::Ok {
                json: json!({"username": username, "sessions": ss}),
                text: if ss.is_empty() {
                    format!("{username} has no live sessions")
                } else {
                    ss.iter()
                        .map(|s| {
                            format!(
                                "{}\tauth_time {}\texpires_at {}",
                                s.id, s.auth_time, s.expires_at
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            }
        }
        UserCommand::Revoke { username, db, .. } => {
            let store = open(&db).await?;
            let user = user_by_name(store.as_ref(), &username).await?;
            let (sessions, grants) = store.revoke_user(&user.id, SystemClock.now()).await?;
            Outcome::Ok {
                json: json!({"username": username, "sessions_ended": sessions, "grants_revoked": grants}),
                text: format!(
                    "{username}: {sessions} sessions ended, {grants} authorizations revoked (every token of them)"
                ),
            }
        }
        UserCommand::Unlock {
            username,
            address,
            db,
            ..
        } => {
            use proofkey_core::throttle;
            let store = open(&db).await?;
            let account = store
                .clear_failures(&throttle::account_key(&username))
                .await?;
            let mut addresses = false;
            if let Some(ip) = address {
                for prefix in ["addr", "device"] {
                    addresses |= store
                        .clear_failures(&throttle::address_key(prefix, ip))
                        .await?;
                }
            }
            let what = match (account, addresses) {
                (false, false) => "had no failed attempts to forget".to_owned(),
                (true, false) => "unlocked".to_owned(),
                (false, true) => "had none; the address is unblocked".to_owned(),
                (true, true) => "unlocked, and the address unblocked".to_owned(),
            };
            Outcome::Ok {
                json: json!({"username": username, "account_cleared": account, "address_cleared": addresses}),
                text: format!("{username}: {what}"),
            }
        }
        UserCommand::SetPassword {
            username,
            db,
            keep_sessions,
            ..
        } => {
            let password = read_password().map_err(Outcome::BadInput)?;
            let store = open(&db).await?;
            let user = user_by_name(store.as_ref(), &username).await?;
            let hash = hash_password(password).await?;
            if !store.set_password(&username, &hash).await? {
                return Err(no_user(&username));
            }
            let (sessions, grants) = if keep_sessions {
                (0, 0)
            } else {
                store.revoke_user(&user.id, SystemClock.now()).await?
            };
            Outcome::Ok {
                json: json!({"username": username, "password": "set", "sessions_ended": sessions, "grants_revoked": grants}),
                text: if keep_sessions {
                    format!("password set for {username}; sessions and tokens kept")
                } else {
                    format!("password set for {username}; {sessions} sessions ended, {grants} authorizations revoked")
                },
            }
        }
    })
}

pub fn run_keys(cmd: KeysCommand) -> ExitCode {
    let as_json = match &cmd {
        KeysCommand::List { json, .. }
        | KeysCommand::Rotate { json, .. }
        | KeysCommand::Retire { json, .. }
        | KeysCommand::Rewrap { json, .. } => *json,
    };
    finish(block_on(keys(cmd)), as_json)
}

/// The longest a JWKS may sit in a cache (discovery and JWKS send
/// max-age=300) plus the nodes' reload interval.
const SAFE_ACTIVATION_DELAY: u64 = 330;

async fn keys(cmd: KeysCommand) -> Result<Outcome, Outcome> {
    let now = SystemClock.now();
    Ok(match cmd {
        KeysCommand::List { db, .. } => {
            let keys = open(&db).await?.list_keys().await?;
            let rows: Vec<_> = keys
                .iter()
                .map(|k| json!({"kid": k.kid, "alg": k.alg, "created_at": k.created_at, "activates_at": k.activates_at, "active": k.activates_at <= now, "encrypted": proofkey_core::kek::is_sealed(k)}))
                .collect();
            Outcome::Ok {
                text: keys
                    .iter()
                    .map(|k| {
                        let state = if k.activates_at <= now {
                            format!("active since {}", rfc3339(k.activates_at))
                        } else {
                            format!(
                                "signs from {} (in {}s)",
                                rfc3339(k.activates_at),
                                k.activates_at - now
                            )
                        };
                        format!(
                            "{}\t{}\t{}\tcreated {}",
                            k.kid,
                            k.alg,
                            state,
                            rfc3339(k.created_at)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                json: json!({ "keys": rows }),
            }
        }
        KeysCommand::Rotate {
            algs,
            activation_delay,
            db,
            ..
        } => {
            let delay = proofkey_core::config::parse_duration(&activation_delay)
                .map_err(|e| Outcome::BadInput(format!("--activation-delay {e}")))?;
            let algs: Vec<String> = if algs.is_empty() {
                SUPPORTED_ALGS.iter().map(|a| (*a).to_owned()).collect()
            } else {
                algs
            };
            if let Some(bad) = algs.iter().find(|a| !SUPPORTED_ALGS.contains(&a.as_str())) {
                return Err(Outcome::BadInput(format!(
                    "--alg {bad:?}: use one of {}",
                    SUPPORTED_ALGS.join(", ")
                )));
            }
            if delay.as_secs() < SAFE_ACTIVATION_DELAY {
                eprintln!(
                    "proofkey: warning: an activation delay under {SAFE_ACTIVATION_DELAY}s lets a node sign with a key that clients' cached JWKS do not have yet"
                );
            }
            let store = open(&db).await?;
            let kek = db.kek()?;
            let activates_at = now + delay.as_secs() as i64;
            let mut added = vec![];
            for alg in &algs {
                let kid = secret::random_token(12).map_err(|e| Outcome::Failed(e.to_string()))?;
                let key = proofkey_core::keys::generate(alg, kid, now, activates_at)
                    .map_err(|e| Outcome::Failed(e.to_string()))?;
                let stored = match &kek {
                    Some(kek) => kek.seal(&key).map_err(|e| Outcome::Failed(e.to_string()))?,
                    None => key.clone(),
                };
                store.insert_key(&stored).await?;
                added.push(json!({"kid": key.kid, "alg": key.alg, "activates_at": activates_at}));
            }
            Outcome::Ok {
                text: format!(
                    "added {} key(s), published within 30s, signing from {} (in {}s)",
                    added.len(),
                    rfc3339(activates_at),
                    delay.as_secs()
                ),
                json: json!({ "added": added }),
            }
        }
        KeysCommand::Retire {
            kid, replace, db, ..
        } => {
            let store = open(&db).await?;
            let kek = db.kek()?;
            let stored = store.list_keys().await?;
            let key = stored
                .iter()
                .find(|k| k.kid == kid)
                .ok_or_else(|| Outcome::NotFound(format!("no signing key {kid:?}")))?;
            // The replacement signs at once: the key it replaces is
            // presumed compromised, so waiting for JWKS caches is worse.
            let mut added = None;
            if replace {
                let new_kid =
                    secret::random_token(12).map_err(|e| Outcome::Failed(e.to_string()))?;
                let new = proofkey_core::keys::generate(&key.alg, new_kid, now, now)
                    .map_err(|e| Outcome::Failed(e.to_string()))?;
                let sealed = match &kek {
                    Some(kek) => kek.seal(&new).map_err(|e| Outcome::Failed(e.to_string()))?,
                    None => new.clone(),
                };
                store.insert_key(&sealed).await?;
                added = Some(new);
            }
            let mut after = stored.clone();
            after.extend(added.clone());
            let alg = proofkey_core::keys::check_retirement(&after, &kid, now)
                .map_err(|e| Outcome::BadInput(e.to_string()))?
                .alg
                .clone();
            if !store.delete_key(&kid).await? {
                return Err(Outcome::NotFound(format!("no signing key {kid:?}")));
            }
            let replacement = added
                .as_ref()
                .map(|k| format!("; {} {} signs in its place now", k.alg, k.kid))
                .unwrap_or_default();
            Outcome::Ok {
                text: format!(
                    "retired {alg} key {kid}: running servers stop publishing and using it within 30 s (their key reload){replacement}; tokens it signed are no longer accepted here, and clients that cached the JWKS drop it within 5 min"
                ),
                json: json!({"retired": kid, "alg": alg, "replacement": added.map(|k| k.kid)}),
            }
        }
        KeysCommand::Rewrap {
            new_key_file,
            generate,
            db,
            ..
        } => {
            use proofkey_core::kek::{self, Kek};
            let failed = |e: kek::KekError| Outcome::Failed(e.to_string());
            let store = open(&db).await?;
            let current = db.kek()?;
            let new = if generate {
                Kek::generate_file(&new_key_file).map_err(failed)?
            } else {
                Kek::from_file(&new_key_file).map_err(|e| Outcome::BadInput(e.to_string()))?
            };
            let (mut rewrapped, mut already) = (0, 0);
            for key in store.list_keys().await? {
                if new.sealed_it(&key) {
                    already += 1;
                    continue;
                }
                let plain = kek::open_all(std::slice::from_ref(&key), current.as_ref())
                    .map_err(failed)?
                    .remove(0);
                let sealed = new.seal(&plain).map_err(failed)?;
                store
                    .update_key_private(&key.kid, sealed.private_pkcs8.expose())
                    .await?;
                rewrapped += 1;
            }
            Outcome::Ok {
                text: format!(
                    "{rewrapped} key(s) now encrypted under {} ({already} already were); set key_encryption_key_file = {:?} on every node and restart them",
                    new.id(),
                    new_key_file.display()
                ),
                json: json!({"rewrapped": rewrapped, "already": already, "kek": new.id()}),
            }
        }
    })
}

/// `serve --dev`: the demo user and client, created when missing.
pub async fn ensure_demo(store: &dyn Store) -> Result<(), String> {
    let now = SystemClock.now();
    if store
        .get_user_by_username(DEMO_USER)
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        let hash = tokio::task::spawn_blocking(|| password::hash(&secret::Password::new("demo")))
            .await
            .map_err(|e| e.to_string())??;
        let id = secret::random_token(16).map_err(|e| e.to_string())?;
        let user = User {
            id,
            username: DEMO_USER.into(),
            email: Some("demo@example.com".into()),
            name: Some("Demo User".into()),
            password_hash: hash,
            created_at: now,
            disabled_at: None,
        };
        store.create_user(&user).await.map_err(|e| e.to_string())?;
    }
    if store
        .get_client(DEMO_CLIENT)
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        let mut scopes: Vec<String> = scope::DEFAULT_CLIENT_SCOPES
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        scopes.push("offline_access".into());
        let client = Client {
            id: DEMO_CLIENT.into(),
            name: "Demo CLI".into(),
            kind: ClientKind::Public,
            redirect_uris: vec![DEMO_REDIRECT.into()],
            scopes,
            grant_types: vec![
                "authorization_code".into(),
                "refresh_token".into(),
                proofkey_core::model::DEVICE_CODE_GRANT.into(),
            ],
            id_token_alg: "RS256".into(),
            created_at: now,
            rotate_refresh_tokens: true,
            ..Client::default()
        };
        store
            .create_client(&client)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
