//! `proofkey-loadgen`: measures an OAuth 2.1 authorization server the way
//! its users feel it. N concurrent keep-alive clients run one scenario each
//! for a fixed time, and one JSON object per scenario reports operations per
//! second and p50/p99 latency.
//!
//! Scenarios (an operation is what one client does once):
//! * `flow`, `flow-openid`: a complete authorization code flow with PKCE
//!   S256 (RFC 7636 §4): `GET /authorize` on a signed-in session whose
//!   consent is remembered, the redirect with `code`, `state` and `iss`
//!   checked (RFC 9207), and the code redeemed with its `code_verifier` at
//!   the token endpoint (RFC 6749 §4.1.3). `flow-openid` asks for `openid`,
//!   so the server also signs an ID token.
//! * `refresh`: each client follows its own refresh-token chain
//!   (RFC 6749 §6), taking the rotated token each time (OAuth 2.1 §4.3.1).
//! * `flow-dpop`, `refresh-dpop`: the same with a DPoP proof (RFC 9449 §5)
//!   on every token request, by one ES256 key, so the tokens are bound; a
//!   server that answers `use_dpop_nonce` gets the retry with its nonce.
//! * `introspect`: RFC 7662 introspection of an access token by a
//!   confidential client.
//! * `client-credentials`: RFC 6749 §4.4 token requests by a confidential
//!   client.
//!
//! Nothing here is specific to proofkey: the sign-in walks whatever forms
//! the server shows (see `proofkey_audit::forms`), and endpoints come from discovery.

mod run;

use std::time::Duration;

use clap::Parser;

/// What can stop a load run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    Usage(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    Flow,
    FlowOpenid,
    FlowDpop,
    Refresh,
    RefreshDpop,
    Introspect,
    ClientCredentials,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Flow => "flow",
            Scenario::FlowOpenid => "flow-openid",
            Scenario::FlowDpop => "flow-dpop",
            Scenario::Refresh => "refresh",
            Scenario::RefreshDpop => "refresh-dpop",
            Scenario::Introspect => "introspect",
            Scenario::ClientCredentials => "client-credentials",
        }
    }
}

/// Load generator for OAuth 2.1 authorization servers.
#[derive(Debug, Parser)]
#[command(name = "proofkey-loadgen", version)]
pub struct Args {
    /// The issuer; endpoints come from its discovery document. Repeatable:
    /// several nodes of one deployment, each with its own issuer URL, and
    /// client `i` uses issuer `i mod n` (a load balancer's round robin,
    /// with each client sticking to its node).
    #[arg(long = "issuer", required = true)]
    pub issuers: Vec<String>,
    /// A public client registered for the code flow with PKCE (and the
    /// refresh_token grant for `refresh`).
    #[arg(long)]
    pub client_id: String,
    /// The client's registered redirect URI.
    #[arg(long, default_value = "http://127.0.0.1/callback")]
    pub redirect_uri: String,
    /// The user that signs in once through the server's form.
    #[arg(long)]
    pub username: String,
    /// That user's password.
    #[arg(long, env = "LOADGEN_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// A confidential client (client_secret_basic) for `introspect` and
    /// `client-credentials`.
    #[arg(long)]
    pub confidential_id: Option<String>,
    /// Its secret.
    #[arg(long, env = "LOADGEN_CONFIDENTIAL_SECRET", hide_env_values = true)]
    pub confidential_secret: Option<String>,
    /// Scope of `flow` (no `openid`); empty sends no scope parameter.
    #[arg(long, default_value = "")]
    pub flow_scope: String,
    /// Scope of `flow-openid`.
    #[arg(long, default_value = "openid")]
    pub openid_scope: String,
    /// Scope of the flow that starts each refresh chain.
    #[arg(long, default_value = "openid offline_access")]
    pub refresh_scope: String,
    /// Extra authorization request parameters for the flow that starts a
    /// refresh chain, as `k=v` (e.g. `prompt=consent`).
    #[arg(long = "refresh-param")]
    pub refresh_params: Vec<String>,
    /// Scenarios to run, in order (repeatable).
    #[arg(long = "scenario", value_enum, required = true)]
    pub scenarios: Vec<Scenario>,
    /// Concurrent clients, each on its own keep-alive connection.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Measured time per scenario.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Unmeasured time before it, per scenario.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Stop a scenario after this many measured operations (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub max_ops: u64,
    /// Label put in each report (e.g. the server's name).
    #[arg(long, default_value = "server")]
    pub label: String,
    /// A server process whose CPU time (user + system, from
    /// `/proc/PID/stat`) is read at the start and the end of each measured
    /// window and reported per operation as `server_cpu_us_per_op`
    /// (repeatable: the sum, for several nodes).
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// Also report `db_cpu_us_per_op`: the CPU time of every process whose
    /// name (`/proc/PID/comm`) is this, e.g. `postgres` (its backends, WAL
    /// writer, checkpointer). A process that exits within the window takes
    /// its time with it; pooled connections live through it.
    #[arg(long)]
    pub db_comm: Option<String>,
    /// Appended to each scenario's name in the reports (e.g. `-es256` for
    /// a run with another client).
    #[arg(long, default_value = "")]
    pub name_suffix: String,
    /// Worker threads of the generator itself (it shares the machine with
    /// the server).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("proofkey-loadgen: cannot start the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match rt.block_on(run::run(&args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proofkey-loadgen: {e}");
            std::process::ExitCode::from(match e {
                Error::Usage(_) => 2,
                _ => 1,
            })
        }
    }
}
