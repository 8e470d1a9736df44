//! `proofkey credential-helper`: a profile's access token for git and
//! docker, through their own credential helper protocols.
//!
//! * git (`gitcredentials(7)`, `git-credential(1)`): git runs the helper
//!   with `get`, `store` or `erase` and writes `key=value` lines on its
//!   stdin (`protocol`, `host`, `path`, ...). `get` answers
//!   `username=oauth2` (or as configured), `password=<access token>` and
//!   `password_expiry_utc`; git sends them as HTTP Basic credentials.
//!   With `--auth bearer` (`credential_auth = "bearer"`) and a git that
//!   announces `capability[]=authtype` (2.46+), it answers
//!   `authtype=Bearer` and `credential=<access token>` instead, and git
//!   sends `Authorization: Bearer`.
//!   `erase` (the server refused them) marks the token expired so that the
//!   next `get` refreshes it; `store` has nothing to do.
//! * docker (`docker-credential-helpers`): `get` reads a registry's
//!   server URL on stdin and answers `{"ServerURL", "Username", "Secret"}`;
//!   `list` answers `{server: username}`. `store` is refused: the token
//!   comes from `proofkey login`, not from `docker login`. Run as
//!   `docker-credential-proofkey` (a link to this binary), it speaks this
//!   protocol.
//!
//! A token is only given to a host listed in the profile's
//! `credential_hosts` (the profiles file) or named with `--host`, and to
//! git over plain http only for a loopback host (or with
//! `--allow-insecure-http`). docker names a registry without its scheme,
//! so that check applies to docker only when it does name one; whether
//! docker falls back to http is its `insecure-registries` setting. A
//! DPoP-bound token is refused: neither tool can send a proof. When the
//! profiles file names an issuer for the profile, the stored login must
//! be with that issuer.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use crate::login_cmd::{block_on, cache, min_valid_secs, valid_for};
use clap::Args;
use proofkey_client::config::{ConfigFile, CredentialAuth, ProfileConfig};
use serde_json::json;

/// The most a helper reads from its stdin: git's attributes and docker's
/// server URL are a few hundred bytes.
const MAX_INPUT: u64 = 64 * 1024;

/// docker-credential-helpers' "not found" answer; the docker CLI matches
/// this text.
const DOCKER_NOT_FOUND: &str = "credentials not found in native keychain";

/// The user name paired with the token when none is configured.
const DEFAULT_USERNAME: &str = "oauth2";

#[derive(Debug, Args)]
pub struct CredentialHelperArgs {
    /// The profile whose token is given [default: the profile whose
    /// `credential_hosts` lists the host, else `default`].
    #[arg(long)]
    profile: Option<String>,
    /// Give the token to this host too (`host` or `host:port`), besides
    /// the profile's `credential_hosts`; repeat.
    #[arg(long = "host", value_name = "HOST")]
    hosts: Vec<String>,
    /// The user name paired with the token [default: the profile's
    /// `credential_username`, else oauth2].
    #[arg(long)]
    username: Option<String>,
    /// How git sends the token: `basic` (the user name and the token as
    /// password) or `bearer` (`Authorization: Bearer`, git 2.46 and
    /// later) [default: the profile's `credential_auth`, else basic].
    #[arg(long, value_enum)]
    auth: Option<AuthArg>,
    /// Speak docker's credential helper protocol (JSON) instead of git's.
    #[arg(long)]
    docker: bool,
    /// Refresh first unless the token lives at least this much longer.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    min_valid: Option<Duration>,
    /// Give the token over plain http to a host that is not loopback
    /// (anyone on the path can read and use it).
    #[arg(long)]
    allow_insecure_http: bool,
    /// What the tool asks: get, store or erase (docker also: list).
    action: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum AuthArg {
    Basic,
    Bearer,
}

impl CredentialHelperArgs {
    /// The arguments of `docker-credential-proofkey ACTION`.
    pub fn docker(action: String) -> Self {
        CredentialHelperArgs {
            profile: None,
            hosts: vec![],
            username: None,
            auth: None,
            docker: true,
            min_valid: None,
            allow_insecure_http: false,
            action,
        }
    }
}

/// Whose token a host gets, under which user name.
#[derive(Debug)]
struct Target {
    profile: String,
    username: String,
    /// The issuer the profiles file names for the profile: the stored
    /// login must be with it.
    issuer: Option<String>,
    /// How git sends the token.
    auth: CredentialAuth,
}

/// The profile that may give its token to `host`, if any.
fn target(args: &CredentialHelperArgs, file: &ConfigFile, host: &str) -> Option<Target> {
    let key = proofkey_client::config::host_key(host);
    let named = key.is_some()
        && args
            .hosts
            .iter()
            .any(|h| proofkey_client::config::host_key(h) == key);
    let (profile, conf): (String, ProfileConfig) = match &args.profile {
        Some(p) => {
            let conf = file.profile(p);
            if !(named || conf.allows_host(host)) {
                // Asked for by name, so the silence needs a word.
                eprintln!(
                    "proofkey: not giving profile {p}'s token to {host}: it is not in the profile's credential_hosts (add it there, or --host {host})"
                );
                return None;
            }
            (p.clone(), conf)
        }
        None => match file.profile_for_host(host) {
            Some((p, conf)) => (p.to_owned(), conf.clone()),
            None if named => ("default".to_owned(), file.profile("default")),
            None => return None,
        },
    };
    Some(Target {
        profile,
        issuer: conf.issuer.clone(),
        auth: match args.auth {
            Some(AuthArg::Basic) => CredentialAuth::Basic,
            Some(AuthArg::Bearer) => CredentialAuth::Bearer,
            None => conf.credential_auth.unwrap_or(CredentialAuth::Basic),
        },
        username: args
            .username
            .clone()
            .or(conf.credential_username)
            .unwrap_or_else(|| DEFAULT_USERNAME.to_owned()),
    })
}

/// Whether `host` (`host[:port]`) is the loopback interface.
fn is_loopback(host: &str) -> bool {
    url::Url::parse(&format!("http://{host}/"))
        .is_ok_and(|u| proofkey_core::redirect_uri::is_loopback_host(&u))
}

/// The `host[:port]` of a docker server address (`registry.example.com`,
/// `https://index.docker.io/v1/`, `127.0.0.1:5000`), and whether it says
/// plain http.
fn docker_host(server: &str) -> (String, bool) {
    let (rest, http) = match server.split_once("://") {
        Some((scheme, rest)) => (rest, scheme.eq_ignore_ascii_case("http")),
        None => (server, false),
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    (host.to_ascii_lowercase(), http)
}

fn read_stdin() -> Result<String, String> {
    let mut input = String::new();
    std::io::stdin()
        .lock()
        .take(MAX_INPUT + 1)
        .read_to_string(&mut input)
        .map_err(|e| format!("cannot read the request on stdin: {e}"))?;
    if input.len() as u64 > MAX_INPUT {
        return Err(format!("the request on stdin is over {MAX_INPUT} bytes"));
    }
    Ok(input)
}

/// git's attributes: `key=value` lines up to a blank line or the end.
fn git_attributes(input: &str) -> Vec<(&str, &str)> {
    input
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once('='))
        .collect()
}

/// A valid bearer access token of `profile`, or why there is none.
fn bearer_token(
    target: &Target,
    min_valid: Option<Duration>,
) -> Result<(String, Option<i64>), String> {
    let profile = target.profile.as_str();
    let p = block_on(valid_for(profile, min_valid_secs(min_valid), false, false))?;
    if let Some(expected) = &target.issuer {
        if expected.trim_end_matches('/') != p.issuer.trim_end_matches('/') {
            return Err(format!(
                "profile {profile:?} is logged in to {}, but the profiles file names {expected} for it; run: proofkey login --profile {profile}",
                p.issuer
            ));
        }
    }
    // Any sign of a binding counts: a key that cannot be read does not
    // make the token a bearer token.
    if p.tokens.dpop_key.is_some() || p.tokens.token_type.eq_ignore_ascii_case("dpop") {
        return Err(format!(
            "profile {profile:?} holds a DPoP-bound token, which this tool cannot send; log in again with --no-dpop (or dpop = false in the profiles file)"
        ));
    }
    Ok((p.tokens.access_token, p.tokens.expires_at))
}

pub fn run(args: CredentialHelperArgs) -> ExitCode {
    for h in &args.hosts {
        if !proofkey_client::config::valid_host(h) {
            eprintln!("proofkey: --host {h:?} is not a host or host:port");
            return ExitCode::from(2);
        }
    }
    if let Some(p) = &args.profile {
        if let Err(e) = proofkey_client::cache::valid_name(p) {
            eprintln!("proofkey: {e}");
            return ExitCode::from(2);
        }
    }
    let file = match ConfigFile::load() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("proofkey: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.docker {
        docker(&args, &file)
    } else {
        git(&args, &file)
    }
}

fn git(args: &CredentialHelperArgs, file: &ConfigFile) -> ExitCode {
    let fail = |e: &str| {
        eprintln!("proofkey: {e}");
        ExitCode::FAILURE
    };
    let input = match read_stdin() {
        Ok(i) => i,
        Err(e) => return fail(&e),
    };
    let attrs = git_attributes(&input);
    // A repeated attribute: the last one counts, as in git.
    let attr = |k: &str| attrs.iter().rfind(|(key, _)| *key == k).map(|(_, v)| *v);
    let (Some(protocol), Some(host)) = (attr("protocol"), attr("host")) else {
        // Not an HTTP credential (or not for us): nothing to say.
        return ExitCode::SUCCESS;
    };
    let Some(target) = target(args, file, host) else {
        return ExitCode::SUCCESS;
    };
    match args.action.as_str() {
        "get" => {
            match protocol {
                "https" => {}
                "http" if is_loopback(host) || args.allow_insecure_http => {}
                "http" => {
                    return fail(&format!(
                        "not sending the token to {host} over plain http; use https (or --allow-insecure-http)"
                    ))
                }
                _ => return ExitCode::SUCCESS,
            }
            let (token, expires_at) = match bearer_token(&target, args.min_valid) {
                Ok(t) => t,
                Err(e) => return fail(&e),
            };
            let mut out = match target.auth {
                CredentialAuth::Basic => {
                    format!("username={}\npassword={token}\n", target.username)
                }
                // git-credential(1): a pre-encoded credential for the
                // scheme, only when git says it can send one.
                CredentialAuth::Bearer
                    if attrs.contains(&("capability[]", "authtype")) =>
                {
                    format!("capability[]=authtype\nauthtype=Bearer\ncredential={token}\n")
                }
                CredentialAuth::Bearer => {
                    return fail(
                        "this git cannot send a Bearer credential (it needs git 2.46 or later); use --auth basic (credential_auth = \"basic\")",
                    )
                }
            };
            if let Some(exp) = expires_at {
                // git 2.41+ drops the credential after this; older ones
                // ignore the line.
                out.push_str(&format!("password_expiry_utc={exp}\n"));
            }
            print_or_fail(&out)
        }
        "erase" => {
            // The token comes back as the password, or as the Bearer
            // credential.
            let Some(password) = attr("password").or(attr("credential")) else {
                return ExitCode::SUCCESS;
            };
            let discarded = block_on(async {
                cache()?
                    .discard_access_token(&target.profile, password)
                    .await
            });
            match discarded {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
        // `store`, and any action a later git adds: nothing to do
        // (git-credential(1): ignore what is not understood).
        _ => ExitCode::SUCCESS,
    }
}

fn print_or_fail(out: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proofkey: cannot write the answer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn docker(args: &CredentialHelperArgs, file: &ConfigFile) -> ExitCode {
    // The protocol: an error is a message on stdout and exit status 1
    // (docker shows that message; it does not show stderr).
    let fail = |e: &str| {
        let _ = print_or_fail(&format!("proofkey: {e}\n"));
        ExitCode::FAILURE
    };
    let not_found = || {
        let _ = print_or_fail(&format!("{DOCKER_NOT_FOUND}\n"));
        ExitCode::FAILURE
    };
    match args.action.as_str() {
        "get" => {
            let input = match read_stdin() {
                Ok(i) => i,
                Err(e) => return fail(&e),
            };
            let server = input.trim();
            let (host, http) = docker_host(server);
            let Some(target) = target(args, file, &host) else {
                return not_found();
            };
            if http && !is_loopback(&host) && !args.allow_insecure_http {
                return fail(&format!(
                    "not sending the token to {host} over plain http; use https (or --allow-insecure-http)"
                ));
            }
            match bearer_token(&target, args.min_valid) {
                Ok((token, _)) => print_or_fail(&format!(
                    "{}\n",
                    json!({"ServerURL": server, "Username": target.username, "Secret": token})
                )),
                Err(e) => fail(&e),
            }
        }
        "list" => {
            let mut hosts = serde_json::Map::new();
            let store = cache().ok();
            let logged_in = |p: &str| {
                store
                    .as_ref()
                    .and_then(|c| c.path(p).ok())
                    .is_some_and(|f| f.exists())
            };
            for (name, conf) in &file.profiles {
                if args.profile.as_ref().is_some_and(|p| p != name) {
                    continue;
                }
                for h in &conf.credential_hosts {
                    if let Some(t) = target(args, file, h).filter(|t| logged_in(&t.profile)) {
                        hosts.entry(h.clone()).or_insert(t.username.into());
                    }
                }
            }
            for h in &args.hosts {
                if let Some(t) = target(args, file, h).filter(|t| logged_in(&t.profile)) {
                    hosts.entry(h.clone()).or_insert(t.username.into());
                }
            }
            print_or_fail(&format!("{}\n", serde_json::Value::Object(hosts)))
        }
        "store" => {
            // Read what docker sends so that it never sees a broken pipe.
            let _ = read_stdin();
            fail("proofkey does not store registry passwords: the token comes from `proofkey login`; configure this helper per registry under credHelpers, and skip `docker login`")
        }
        "erase" => {
            let _ = read_stdin();
            eprintln!("proofkey: nothing is stored for docker; `proofkey logout --profile NAME` ends the login itself");
            ExitCode::SUCCESS
        }
        other => fail(&format!("unknown credential action {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_attributes() {
        assert_eq!(
            docker_host("https://index.docker.io/v1/"),
            ("index.docker.io".into(), false)
        );
        assert_eq!(
            docker_host("127.0.0.1:5000"),
            ("127.0.0.1:5000".into(), false)
        );
        assert_eq!(
            docker_host("http://Reg.example/x"),
            ("reg.example".into(), true)
        );
        for l in ["localhost", "127.0.0.1:80", "[::1]:9", "127.1.2.3"] {
            assert!(is_loopback(l), "{l}");
        }
        for l in ["example.com", "10.0.0.1", "localhost.evil.com", "[::2]"] {
            assert!(!is_loopback(l), "{l}");
        }
        let attrs = git_attributes("protocol=https\nhost=a.example\n\nhost=later\n");
        assert_eq!(attrs, vec![("protocol", "https"), ("host", "a.example")]);
    }
}
