//! `proofkey audit`: checks from the outside whether an authorization
//! server enforces PKCE and the rules around it (see `proofkey-audit`).
//!
//! Exit codes: 0 when nothing at or above `--fail-on` was found, 1 when
//! something was, 2 for usage errors or when the audit could not run (the
//! server unreachable, no metadata, a correct flow failing).

use std::io::Read as _;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use proofkey_audit::agent::{Agent, BrowserAgent};
use proofkey_audit::catalog::Severity;
use proofkey_audit::forms::FormAgent;
use proofkey_audit::report;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The issuer identifier of the server to audit.
    #[arg(long)]
    issuer: String,
    /// A client registered there for the authorization code flow.
    #[arg(long)]
    client_id: String,
    /// The client's secret, for a confidential client (better passed in
    /// the environment than on the command line).
    #[arg(long, env = "PROOFKEY_AUDIT_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// A redirect URI registered for the client. With the browser it must
    /// be a loopback URI; the audit listens on it (any port when it has
    /// none).
    #[arg(long, default_value = "http://127.0.0.1/callback")]
    redirect_uri: String,
    /// Scope to ask for; repeat [default: openid offline_access; without
    /// offline_access when the server refuses it].
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit with 1 when a finding of this severity or higher is found.
    #[arg(long, value_enum, default_value_t = FailOn::Medium)]
    fail_on: FailOn,
    /// Print the URL to open instead of opening a browser.
    #[arg(long, conflicts_with = "login")]
    no_browser: bool,
    /// Sign in through the server's HTML login and consent forms as this
    /// user, without a browser (for test deployments).
    #[arg(long, value_name = "USER", requires = "password_stdin")]
    login: Option<String>,
    /// Read the --login user's password from standard input.
    #[arg(long, requires = "login")]
    password_stdin: bool,
    /// How long to wait for a person to sign in.
    #[arg(long, default_value = "5m", value_parser = duration)]
    timeout: Duration,
    /// How long a chained browser request may take before the server is
    /// taken to have stopped it with a page of its own.
    #[arg(long, default_value = "20s", value_parser = duration)]
    step_timeout: Duration,
    /// Send requests for HOST:PORT to ADDR (like curl's --resolve):
    /// HOST:PORT:ADDR. Repeatable.
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    resolve: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FailOn {
    Low,
    Medium,
    High,
}

impl From<FailOn> for Severity {
    fn from(f: FailOn) -> Severity {
        match f {
            FailOn::Low => Severity::Low,
            FailOn::Medium => Severity::Medium,
            FailOn::High => Severity::High,
        }
    }
}

fn duration(s: &str) -> Result<Duration, String> {
    proofkey_core::config::parse_duration(s)
}

/// HOST:PORT:ADDR, ADDR being an IP (with or without a port) or a name.
fn parse_resolve(s: &str) -> Result<(String, SocketAddr), String> {
    let mut parts = s.splitn(3, ':');
    let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("--resolve {s}: expected HOST:PORT:ADDR"));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("--resolve {s}: bad port {port}"))?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let sock = (addr, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("--resolve {s}: cannot resolve {addr}"))?;
    Ok((host.to_owned(), sock))
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("proofkey audit: {msg}");
    ExitCode::from(2)
}

pub fn run(args: AuditArgs) -> ExitCode {
    let password = if args.password_stdin {
        let mut p = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut p) {
            return usage(&format!("reading the password from standard input: {e}"));
        }
        Some(p.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        None
    };
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("proofkey-audit/", env!("CARGO_PKG_VERSION")));
    for r in &args.resolve {
        match parse_resolve(r) {
            Ok((host, addr)) => builder = builder.resolve(&host, addr),
            Err(e) => return usage(&e),
        }
    }
    let http = match builder.build() {
        Ok(h) => h,
        Err(e) => return usage(&format!("HTTP client: {e}")),
    };
    let scopes = if args.scopes.is_empty() {
        vec!["openid".to_owned(), "offline_access".to_owned()]
    } else {
        args.scopes
            .iter()
            .flat_map(|s| s.split_whitespace())
            .map(str::to_owned)
            .collect()
    };
    let opts = proofkey_audit::Options {
        issuer: args.issuer.clone(),
        client_id: args.client_id.clone(),
        client_secret: args.client_secret.clone(),
        redirect_uri: args.redirect_uri.clone(),
        scopes,
    };
    let rt = match crate::runtime() {
        Ok(rt) => rt,
        Err(e) => return usage(&format!("cannot start the runtime: {e}")),
    };
    let no_browser = args.no_browser;
    let result = rt.block_on(async {
        let mut agent = match (&args.login, password) {
            (Some(user), Some(pw)) => Agent::Forms(FormAgent::new(http.clone(), user, &pw)),
            _ => {
                let open: proofkey_audit::agent::Opener = if no_browser {
                    Box::new(|url: &str| {
                        eprintln!("Open this URL in a browser and sign in:\n\n  {url}\n");
                        true
                    })
                } else {
                    Box::new(|url: &str| {
                        let opened = crate::login_cmd::open_browser(url);
                        if !opened {
                            eprintln!("No browser could be opened. Open this URL:\n\n  {url}\n");
                        }
                        true
                    })
                };
                Agent::Browser(BrowserAgent::new(
                    open,
                    http.clone(),
                    args.timeout,
                    args.step_timeout,
                ))
            }
        };
        let progress = |line: &str| eprintln!("audit: {line}");
        proofkey_audit::audit(http, opts, &mut agent, &progress).await
    });
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("proofkey audit: {e}");
            return ExitCode::from(2);
        }
    };
    let out = match args.format {
        Format::Text => report::to_text(&report),
        Format::Json => report.to_json(),
        Format::Sarif => serde_json::to_string_pretty(&report::to_sarif(&report))
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")),
    };
    println!("{}", out.trim_end());
    if report
        .findings_at_least(args.fail_on.into())
        .next()
        .is_some()
    {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
