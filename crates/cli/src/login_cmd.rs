//! `proofkey login`, `token`, `logout`, `status`: the PKCE flow for the
//! command line, on `proofkey-client`.

use std::io::{BufRead as _, IsTerminal as _};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use proofkey_client::cache::{Cache, Profile, StoreKind};
use proofkey_client::config::ConfigFile;
use proofkey_client::{
    authorize::PendingAuthorization, device, discovery, id_token, loopback, token, ClientError,
};
use proofkey_dpop::DpopKey;

use crate::k8s;
use serde_json::json;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The authorization server's issuer URL [default: the profile's
    /// `issuer` in the profiles file].
    #[arg(long, env = "PROOFKEY_ISSUER")]
    issuer: Option<String>,
    /// The (public) client id registered for this tool [default: the
    /// profile's `client_id` in the profiles file].
    #[arg(long)]
    client_id: Option<String>,
    /// Scope to ask for; repeat [default: the profile's `scopes`, else
    /// openid profile email offline_access].
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<String>,
    /// The profile: where the tokens are stored, and the settings read
    /// from the profiles file (`$PROOFKEY_CONFIG`, else config.toml in
    /// the config directory) for what is not given here.
    #[arg(long, default_value = "default")]
    profile: String,
    /// Listen on this port instead of an ephemeral one.
    #[arg(long, conflicts_with = "redirect_uri")]
    port: Option<u16>,
    /// Use this exact loopback redirect URI (http://127.0.0.1:PORT/PATH).
    #[arg(long)]
    redirect_uri: Option<String>,
    /// Listen on [::1] instead of 127.0.0.1.
    #[arg(long, conflicts_with = "redirect_uri")]
    ipv6: bool,
    /// Print the URL instead of opening a browser.
    #[arg(long)]
    no_browser: bool,
    /// Paste the final redirect URL instead of receiving it (remote machines).
    #[arg(long, conflicts_with = "device")]
    paste: bool,
    /// Use the device authorization grant (RFC 8628) instead of a browser redirect.
    #[arg(long)]
    device: bool,
    /// How long to wait for the browser.
    #[arg(long, default_value = "5m", value_parser = humantime_secs)]
    timeout: Duration,
    /// Where to keep the tokens: a 0600 file, or the OS keyring (with a
    /// timeout, and no fallback to a file) [default: the profile's `store`,
    /// else file].
    #[arg(long, value_enum)]
    store: Option<StoreArg>,
    /// Do not bind the tokens to a DPoP key even if the server offers DPoP
    /// (RFC 9449); they are then bearer tokens, usable by whoever holds them.
    #[arg(long)]
    no_dpop: bool,
    /// Send the authorization request through the browser even if the
    /// server offers pushed authorization requests (RFC 9126).
    #[arg(long)]
    no_par: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum StoreArg {
    File,
    Keyring,
}

fn humantime_secs(s: &str) -> Result<Duration, String> {
    proofkey_core::config::parse_duration(s)
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The profile.
    #[arg(long, default_value = "default")]
    profile: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    profile: ProfileArgs,
    /// Print the two header lines for one request, "METHOD URL", with a
    /// DPoP-bound token: `Authorization: DPoP <token>` and `DPoP: <proof>`
    /// (RFC 9449 §7); with a bearer token, the `Authorization: Bearer`
    /// line only. For `curl -H @-`.
    #[arg(long, value_name = "METHOD URL", conflicts_with = "json")]
    dpop_proof_for: Option<String>,
    /// Refresh first unless the access token lives at least this much
    /// longer (e.g. `30m`), so that a long job does not see it expire half
    /// way. At least a minute is always asked for.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    min_valid: Option<std::time::Duration>,
    /// Refresh now, whatever the access token's age.
    #[arg(long)]
    force_refresh: bool,
    /// Print the token for a tool's credential protocol: `k8s-exec`, a
    /// kubectl exec plugin's `ExecCredential` (the version asked for in
    /// `KUBERNETES_EXEC_INFO`), with its expiry.
    #[arg(long, value_enum, conflicts_with_all = ["json", "dpop_proof_for"])]
    format: Option<TokenFormat>,
    /// Use the ID token instead of the access token (for a Kubernetes API
    /// server that takes OIDC ID tokens); refreshed like the access token.
    #[arg(long, conflicts_with = "dpop_proof_for")]
    id_token: bool,
}

/// `proofkey token --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenFormat {
    /// kubectl's exec credential plugin (`client.authentication.k8s.io`).
    K8sExec,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn fail(e: &ClientError) -> ExitCode {
    eprintln!("proofkey: {e}");
    ExitCode::FAILURE
}

fn runtime_or_fail<F: std::future::Future<Output = ExitCode>>(f: F) -> ExitCode {
    match crate::runtime() {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("proofkey: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn cache() -> Result<Cache, ClientError> {
    Ok(Cache::new(Cache::default_dir()?))
}

/// `--min-valid` in seconds; 0 when not given.
pub(crate) fn min_valid_secs(d: Option<std::time::Duration>) -> i64 {
    d.map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The profile, with tokens refreshed first unless the access token lives
/// `min_valid` seconds more ([`Cache::tokens_valid_for`]).
pub(crate) async fn valid_for(
    profile: &str,
    min_valid: i64,
    force: bool,
    id_token: bool,
) -> Result<Profile, ClientError> {
    let http = proofkey_client::http_client()?;
    cache()?
        .tokens_valid_for(&http, profile, min_valid, force, id_token)
        .await
}

/// Runs `f` on a runtime of its own, for the commands that are not async
/// (the credential helpers, `curl`); a failure as text.
pub(crate) fn block_on<T>(
    f: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, String> {
    let rt = crate::runtime().map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(f).map_err(|e| e.to_string())
}

/// Opens `url` in the system browser; false when there is none.
pub(crate) fn open_browser(url: &str) -> bool {
    let spawn = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .is_ok()
    };
    if let Ok(browser) = std::env::var("BROWSER") {
        if !browser.is_empty() {
            return spawn(&browser, &[url]);
        }
    }
    if cfg!(target_os = "macos") {
        spawn("open", &[url])
    } else if cfg!(windows) {
        spawn("cmd", &["/C", "start", "", url])
    } else {
        spawn("xdg-open", &[url])
    }
}

pub fn login(args: LoginArgs) -> ExitCode {
    if let Err(e) = proofkey_client::cache::valid_name(&args.profile) {
        eprintln!("proofkey: {e}");
        return ExitCode::from(2);
    }
    runtime_or_fail(async move {
        match do_login(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        }
    })
}

/// A login's settings: the command line's, else the profiles file's,
/// else the defaults.
#[derive(Debug)]
struct Settings {
    profile: String,
    issuer: String,
    client_id: String,
    scopes: Vec<String>,
    store: StoreKind,
    dpop: bool,
    par: bool,
}

impl Settings {
    fn resolve(args: &LoginArgs, file: &ConfigFile) -> Result<Settings, ClientError> {
        let conf = file.profile(&args.profile);
        let missing = |what: &str, key: &str| -> ClientError {
            let where_ = ConfigFile::location()
                .map(|(p, _)| p.display().to_string())
                .unwrap_or_else(|_| "the profiles file".into());
            ClientError::Config(format!(
                "{where_}: no {what} for profile {:?}: pass --{key}, or set {} under [profiles.{}]",
                args.profile,
                key.replace('-', "_"),
                args.profile
            ))
        };
        Ok(Settings {
            profile: args.profile.clone(),
            issuer: args
                .issuer
                .clone()
                .or(conf.issuer)
                .ok_or_else(|| missing("issuer", "issuer"))?,
            client_id: args
                .client_id
                .clone()
                .or(conf.client_id)
                .ok_or_else(|| missing("client id", "client-id"))?,
            scopes: match (&args.scopes[..], conf.scopes) {
                ([], Some(s)) if !s.is_empty() => s,
                ([], _) => ["openid", "profile", "email", "offline_access"]
                    .map(str::to_owned)
                    .to_vec(),
                (given, _) => given.to_vec(),
            },
            store: match args.store {
                Some(StoreArg::File) => StoreKind::File,
                Some(StoreArg::Keyring) => StoreKind::Keyring,
                None => conf.store.unwrap_or_default(),
            },
            dpop: !args.no_dpop && conf.dpop != Some(false),
            par: !args.no_par && conf.par != Some(false),
        })
    }
}

async fn do_login(args: LoginArgs) -> Result<(), ClientError> {
    let settings = Settings::resolve(&args, &ConfigFile::load()?)?;
    let http = proofkey_client::http_client()?;
    let meta = discovery::discover(&http, &settings.issuer).await?;
    if let Some(w) = meta.pkce_warning() {
        eprintln!("proofkey: {w}");
    }
    let scopes = &settings.scopes;

    // RFC 9449: a fresh key per login, kept with its tokens.
    let dpop = if settings.dpop && meta.supports_dpop() {
        Some(DpopKey::generate().map_err(|e| ClientError::Dpop(e.to_string()))?)
    } else {
        None
    };
    let account = if args.device {
        let auth = device::start(&http, &meta, &settings.client_id, scopes).await?;
        eprintln!(
            "To sign in, open {} and enter the code {}",
            auth.verification_uri, auth.user_code
        );
        if let Some(complete) = &auth.verification_uri_complete {
            eprintln!("(or open {complete})");
        }
        let tokens = device::poll(
            &http,
            &meta,
            &settings.client_id,
            &auth,
            dpop.as_ref(),
            tokio::time::sleep,
        )
        .await?;
        finish(&http, &meta, &settings, tokens, None).await?
    } else {
        let receiver = match &args.redirect_uri {
            Some(uri) => loopback::LoopbackReceiver::bind_uri(uri).await?,
            None => {
                loopback::LoopbackReceiver::bind(args.ipv6, args.port.unwrap_or(0), "/callback")
                    .await?
            }
        };
        let redirect_uri = args
            .redirect_uri
            .clone()
            .unwrap_or_else(|| receiver.redirect_uri());
        let pending = PendingAuthorization::start(
            &http,
            &meta,
            &settings.client_id,
            &redirect_uri,
            scopes,
            dpop.as_ref(),
            settings.par,
        )
        .await?;
        if args.paste {
            eprintln!("Open this URL in a browser, sign in, then paste the address of the page it ends on:\n\n  {}\n", pending.url());
            drop(receiver);
            let mut line = String::new();
            if std::io::stdin().is_terminal() {
                eprint!("redirect URL: ");
            }
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| ClientError::Paste(e.to_string()))?;
            let code = pending.code_from_url(&line)?;
            redeem(&http, &meta, &settings, pending, &code, dpop.as_ref()).await?
        } else {
            if let Ok(ssh) = std::env::var("SSH_CONNECTION") {
                let port = receiver.local_addr().port();
                let server = ssh.split_whitespace().nth(2).unwrap_or("THIS-HOST");
                eprintln!(
                    "This looks like a remote session. On the machine with the browser, forward the port first:\n\n  ssh -L {port}:127.0.0.1:{port} {server}\n\nor run again with --paste (or --device)."
                );
            }
            let opened = !args.no_browser && open_browser(pending.url());
            if opened {
                eprintln!(
                    "Opening the browser to sign in. If it does not open, visit:\n\n  {}\n",
                    pending.url()
                );
            } else {
                eprintln!(
                    "Open this URL in a browser to sign in:\n\n  {}\n",
                    pending.url()
                );
            }
            eprintln!("Waiting for the redirect on {redirect_uri} ...");
            // The browser's request stays open until the login is done or
            // has failed, so that its page tells the truth (the loopback
            // module bounds that wait).
            let callback = receiver.wait(args.timeout).await?;
            let outcome = match pending.code_from(callback.params()) {
                Ok(code) => redeem(&http, &meta, &settings, pending, &code, dpop.as_ref()).await,
                Err(e) => Err(e),
            };
            match &outcome {
                Ok(account) => callback.succeed(account.as_deref()).await,
                Err(e) => callback.fail(e).await,
            }
            outcome?
        }
    };
    eprintln!(
        "Logged in to {}{} (profile {}).",
        meta.issuer,
        account.map(|s| format!(" as {s}")).unwrap_or_default(),
        settings.profile
    );
    Ok(())
}

/// Redeems the authorization code (RFC 6749 §4.1.3, RFC 7636 §4.5), then
/// [`finish`]es the login; who logged in.
async fn redeem(
    http: &reqwest::Client,
    meta: &discovery::Metadata,
    settings: &Settings,
    pending: PendingAuthorization,
    code: &str,
    dpop: Option<&DpopKey>,
) -> Result<Option<String>, ClientError> {
    let nonce = pending.nonce().to_owned();
    let tokens = pending.exchange(http, meta, code, dpop).await?;
    finish(http, meta, settings, tokens, Some(&nonce)).await
}

/// The claims a person is named by (`name`, `email`,
/// `preferred_username`): the ID token's, else the UserInfo endpoint's
/// (OIDC Core §5.3; a server may keep them out of the ID token, §5.4),
/// taken only when its `sub` is the ID token's (§5.3.2). A UserInfo
/// failure costs only the name: the login stands, shown by `sub`.
async fn with_userinfo(
    http: &reqwest::Client,
    meta: &discovery::Metadata,
    tokens: &token::TokenSet,
    mut claims: serde_json::Value,
) -> serde_json::Value {
    const NAMES: [&str; 3] = ["name", "email", "preferred_username"];
    if NAMES.iter().any(|c| claims[*c].is_string()) {
        return claims;
    }
    let Some(endpoint) = &meta.userinfo_endpoint else {
        return claims;
    };
    let key = match tokens.dpop() {
        Ok(key) => key,
        Err(_) => return claims,
    };
    match token::userinfo(http, endpoint, &tokens.access_token, key.as_ref()).await {
        Ok(info) if info["sub"].is_string() && info["sub"] == claims["sub"] => {
            for c in NAMES {
                if info[c].is_string() {
                    claims[c] = info[c].clone();
                }
            }
        }
        Ok(_) => tracing::debug!("userinfo names another subject; ignored"),
        Err(e) => tracing::debug!(error = %e, "no userinfo; the account is shown by its sub"),
    }
    claims
}

/// Validates the token response's ID token when there is one (OIDC Core
/// §3.1.3.7, with the request's `nonce`), and stores the login; returns
/// who logged in ([`id_token::display_name`]).
async fn finish(
    http: &reqwest::Client,
    meta: &discovery::Metadata,
    args: &Settings,
    tokens: token::TokenSet,
    nonce: Option<&str>,
) -> Result<Option<String>, ClientError> {
    let mut account = None;
    if let Some(idt) = &tokens.id_token {
        let jwks_uri = meta.jwks_uri.as_deref().ok_or_else(|| {
            ClientError::IdToken("the server publishes no jwks_uri to check it against".into())
        })?;
        let jwks = id_token::fetch_jwks(http, jwks_uri).await?;
        let claims = id_token::validate(
            idt,
            &jwks,
            &id_token::Expected {
                issuer: &meta.issuer,
                client_id: &args.client_id,
                nonce,
                access_token: Some(&tokens.access_token),
                now: token_now(),
            },
        )?;
        account = id_token::display_name(&with_userinfo(http, meta, &tokens, claims).await);
    }

    let profile = Profile {
        name: args.profile.clone(),
        issuer: meta.issuer.clone(),
        client_id: args.client_id.clone(),
        token_endpoint: meta.token_endpoint.clone(),
        revocation_endpoint: meta.revocation_endpoint.clone(),
        store: args.store,
        account: account.clone(),
        tokens,
    };
    let cache = cache()?;
    let lock = cache.lock(&args.profile).await?;
    if let Err(e) = cache.save(&profile, &lock).await {
        // Do not leave a session behind that nobody holds.
        if let (Some(endpoint), Some(rt)) =
            (&meta.revocation_endpoint, &profile.tokens.refresh_token)
        {
            let _ = token::revoke(http, endpoint, &args.client_id, rt, "refresh_token").await;
        }
        return Err(e);
    }
    Ok(account)
}

/// "METHOD URL" of `--dpop-proof-for`: an HTTP method and an absolute
/// http(s) URL.
fn request_line(line: &str) -> Result<(String, String), String> {
    let (method, url) = line
        .trim()
        .split_once(char::is_whitespace)
        .ok_or("expected \"METHOD URL\", e.g. \"GET https://api.example.com/x\"")?;
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!("{method:?} is not an HTTP method (GET, POST, ...)"));
    }
    let url = url.trim();
    let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(format!("{url:?} is not an http(s) URL"));
    }
    Ok((method.to_owned(), url.to_owned()))
}

fn token_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn token(args: TokenArgs) -> ExitCode {
    let target = match args.dpop_proof_for.as_deref().map(request_line).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("proofkey: --dpop-proof-for: {e}");
            return ExitCode::from(2);
        }
    };
    let min_valid = min_valid_secs(args.min_valid);
    let force = args.force_refresh;
    let (format, want_id_token) = (args.format, args.id_token);
    let args = args.profile;
    runtime_or_fail(async move {
        let result = valid_for(&args.profile, min_valid, force, want_id_token).await;
        let result = result.and_then(|p| {
            if want_id_token && p.tokens.id_token.is_none() {
                return Err(ClientError::LoginRequired(format!(
                    "profile {:?} holds no ID token; run: proofkey login --profile {} with the openid scope",
                    args.profile, args.profile
                )));
            }
            Ok(p)
        });
        if let (Some(TokenFormat::K8sExec), Ok(p)) = (format, &result) {
            let t = &p.tokens;
            let (value, expires_at) = if want_id_token {
                let id = t.id_token.clone().unwrap_or_default();
                let exp = id_token::stored_expiry(&id);
                (id, exp)
            } else {
                if t.dpop().ok().flatten().is_some() {
                    eprintln!(
                        "proofkey: the access token is DPoP-bound and cannot be sent as a bearer token; log in with --no-dpop for kubectl, or use --id-token"
                    );
                    return ExitCode::FAILURE;
                }
                (t.access_token.clone(), t.expires_at)
            };
            let info = std::env::var("KUBERNETES_EXEC_INFO").ok();
            return match k8s::exec_credential(&value, expires_at, info.as_deref()) {
                Ok(v) => {
                    println!("{v}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("proofkey: {e}");
                    ExitCode::from(2)
                }
            };
        }
        if let Ok(p) = &result {
            if let Some(exp) = p.tokens.expires_at {
                if exp - token_now() < min_valid {
                    eprintln!(
                        "proofkey: the server's access token lives {}s, less than --min-valid asks",
                        (exp - token_now()).max(0)
                    );
                }
            }
        }
        match result {
            Ok(p) if target.is_some() => {
                let (method, url) = target.unwrap_or_default();
                let t = &p.tokens;
                let headers = match t.dpop() {
                    Ok(Some(key)) => token::proof(&key, &method, &url, Some(&t.access_token), None)
                        .map(|proof| {
                            format!("Authorization: DPoP {}\nDPoP: {proof}", t.access_token)
                        }),
                    Ok(None) => Ok(format!("Authorization: Bearer {}", t.access_token)),
                    Err(e) => Err(e),
                };
                match headers {
                    Ok(h) => {
                        println!("{h}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(&e),
                }
            }
            Ok(p) if args.json => {
                let t = &p.tokens;
                println!(
                    "{}",
                    json!({
                        "access_token": t.access_token, "token_type": t.token_type, "expires_at": t.expires_at,
                        "refresh_token": t.refresh_token, "id_token": t.id_token, "scope": t.scope,
                        "dpop_jkt": t.dpop().ok().flatten().map(|k| k.thumbprint().to_owned()),
                    })
                );
                ExitCode::SUCCESS
            }
            Ok(p) if want_id_token => {
                println!("{}", p.tokens.id_token.unwrap_or_default());
                ExitCode::SUCCESS
            }
            Ok(p) => {
                println!("{}", p.tokens.access_token);
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        }
    })
}

pub fn logout(args: ProfileArgs) -> ExitCode {
    runtime_or_fail(async move {
        let result = async {
            let cache = cache()?;
            let lock = cache.lock(&args.profile).await?;
            let Some(p) = cache.load(&args.profile).await? else {
                return Err(ClientError::LoginRequired(format!(
                    "no login stored for profile {:?}",
                    args.profile
                )));
            };
            let mut problems = vec![];
            match &p.revocation_endpoint {
                Some(endpoint) => {
                    let http = proofkey_client::http_client()?;
                    // The refresh token first: revoking it ends the grant.
                    if let Some(rt) = &p.tokens.refresh_token {
                        if let Err(e) =
                            token::revoke(&http, endpoint, &p.client_id, rt, "refresh_token").await
                        {
                            problems.push(e.to_string());
                        }
                    }
                    if let Err(e) = token::revoke(
                        &http,
                        endpoint,
                        &p.client_id,
                        &p.tokens.access_token,
                        "access_token",
                    )
                    .await
                    {
                        problems.push(e.to_string());
                    }
                }
                None => problems.push(
                    "the server has no revocation endpoint; tokens stay valid until they expire"
                        .into(),
                ),
            }
            cache.delete(&args.profile, &lock).await?;
            Ok(problems)
        }
        .await;
        match result {
            Ok(problems) if problems.is_empty() => {
                eprintln!(
                    "Logged out: tokens revoked and deleted (profile {}).",
                    args.profile
                );
                ExitCode::SUCCESS
            }
            Ok(problems) => {
                eprintln!(
                    "proofkey: tokens deleted locally, but revocation failed: {}",
                    problems.join("; ")
                );
                ExitCode::FAILURE
            }
            Err(e) => fail(&e),
        }
    })
}

pub fn status(args: StatusArgs) -> ExitCode {
    runtime_or_fail(async move {
        let profiles = match async { cache()?.list().await }.await {
            Ok(p) => p,
            Err(e) => return fail(&e),
        };
        let now = token_now();
        // Profiles the profiles file sets up that hold no login yet.
        let pending: Vec<String> = match ConfigFile::load() {
            Ok(file) => file
                .profiles
                .keys()
                .filter(|n| !profiles.iter().any(|(name, _, _)| name == *n))
                .cloned()
                .collect(),
            Err(e) => {
                eprintln!("proofkey: {e}");
                vec![]
            }
        };
        if args.json {
            let list: Vec<_> = profiles
                .iter()
                .map(|(name, path, p)| match p {
                    Ok(p) => json!({
                        "profile": name, "account": p.account(), "issuer": p.issuer, "client_id": p.client_id,
                        "expires_at": p.tokens.expires_at, "refresh_token": p.tokens.refresh_token.is_some(),
                        "token_type": p.tokens.token_type,
                        "store": p.store.as_str(), "path": path,
                    }),
                    Err(e) => json!({"profile": name, "path": path, "error": e.to_string()}),
                })
                .collect();
            println!(
                "{}",
                json!({ "profiles": list, "configured_not_logged_in": pending })
            );
            return ExitCode::SUCCESS;
        }
        if profiles.is_empty() {
            println!("no stored logins");
        }
        for name in &pending {
            println!("{name}\t(set up in the profiles file, not logged in: proofkey login --profile {name})");
        }
        for (name, path, p) in profiles {
            let p = match p {
                Ok(p) => p,
                Err(e) => {
                    println!("{name}\t(unreadable: {e})\t{}", path.display());
                    continue;
                }
            };
            let expiry = match p.tokens.expires_at {
                Some(e) if e > now => format!("access token valid {}s more", e - now),
                Some(e) => format!("access token expired {}s ago", now - e),
                None => "access token expiry unknown".into(),
            };
            let refresh = if p.tokens.refresh_token.is_some() {
                "refreshable"
            } else {
                "no refresh token"
            };
            let refresh = if p.tokens.dpop_key.is_some() {
                format!("{refresh}, DPoP-bound")
            } else {
                refresh.to_owned()
            };
            let store = match p.store {
                StoreKind::File => format!("file {}", path.display()),
                StoreKind::Keyring => format!("OS keyring (profile file {})", path.display()),
            };
            let account = p
                .account()
                .map(|a| format!("as {a}"))
                .unwrap_or_else(|| "(no ID token: account unknown)".into());
            println!(
                "{name}\t{account}\t{}\t{}\t{expiry}, {refresh}\t{store}",
                p.issuer, p.client_id
            );
        }
        ExitCode::SUCCESS
    })
}
