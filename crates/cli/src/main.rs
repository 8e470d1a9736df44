//! The `proofkey` command.
//!
//! Exit codes are part of the interface, scripts depend on them:
//! 0 success, 1 a negative answer or a failure at run time (`pkce --check`
//! mismatch, an unknown client or user, the database unreachable), 2 bad
//! input or usage (nothing is written then).

use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

mod admin;
mod audit_cmd;
mod credential_helper;
mod curl_cmd;
mod k8s;
mod login_cmd;
mod pkce_cmd;
mod serve_cmd;
mod telemetry;

/// mimalloc instead of glibc's malloc. A request allocates and frees many
/// small buffers on two or three threads (the runtime's workers, the
/// SQLite engine); glibc's malloc and free took about 15 % of the server's
/// CPU on the code flow (docs/performance.md, issue 18).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// proofkey: PKCE-first OAuth 2.1 authorization server and tools.
#[derive(Debug, Parser)]
#[command(name = "proofkey", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the authorization server.
    Serve(Box<serve_cmd::ServeArgs>),
    /// Copy the SQLite database while the server runs (an online backup).
    Backup(admin::BackupArgs),
    /// Apply pending database migrations (they also run at server start).
    Migrate(admin::Db),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(admin::ClientCommand),
    /// Manage protected resources (RFC 8707 resource indicators).
    #[command(subcommand)]
    Resource(admin::ResourceCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(admin::KeysCommand),
    /// Manage users.
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Make or check an RFC 7636 code_verifier / code_challenge pair.
    Pkce(pkce_cmd::PkceArgs),
    /// Log in to an authorization server (PKCE, loopback redirect or device grant).
    Login(Box<login_cmd::LoginArgs>),
    /// Print a valid access token, refreshing it first if needed (or, with
    /// --dpop-proof-for, the headers of one request with it).
    Token(login_cmd::TokenArgs),
    /// Revoke and delete the stored tokens.
    Logout(login_cmd::ProfileArgs),
    /// List stored logins.
    Status(login_cmd::StatusArgs),
    /// Check whether an authorization server really enforces PKCE.
    Audit(Box<audit_cmd::AuditArgs>),
    /// Give a profile's access token to git or docker through their
    /// credential helper protocols (`get`, `store`, `erase`; docker also
    /// `list`).
    CredentialHelper(credential_helper::CredentialHelperArgs),
    /// Run curl with a profile's access token (and a DPoP proof when the
    /// token is bound), never on a command line: `proofkey curl
    /// [--profile P] URL [curl options]`.
    Curl(curl_cmd::CurlArgs),
    /// Print a shell completion script: `source <(proofkey completions bash)`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (one per command), or print proofkey(1).
    Man {
        /// Write proofkey.1 and a page for every subcommand into this
        /// directory instead of printing proofkey.1.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    // Linked as docker-credential-proofkey, the binary is docker's
    // credential helper: `docker-credential-proofkey get|store|erase|list`.
    let mut argv = std::env::args_os();
    let name = argv
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    if name == "docker-credential-proofkey" {
        let action = argv.next().map(|a| a.to_string_lossy().into_owned());
        return match action {
            Some(a) if argv.next().is_none() => {
                credential_helper::run(credential_helper::CredentialHelperArgs::docker(a))
            }
            _ => {
                eprintln!("usage: docker-credential-proofkey get|store|erase|list");
                ExitCode::from(2)
            }
        };
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Pkce(args) => pkce_cmd::run(args),
        Command::Serve(args) => serve_cmd::run(*args),
        Command::Client(cmd) => admin::run_client(cmd),
        Command::Migrate(db) => admin::run_migrate(db),
        Command::Backup(args) => admin::run_backup(args),
        Command::Keys(cmd) => admin::run_keys(cmd),
        Command::Resource(cmd) => admin::run_resource(cmd),
        Command::User(cmd) => admin::run_user(cmd),
        Command::Login(args) => login_cmd::login(*args),
        Command::Token(args) => login_cmd::token(args),
        Command::Logout(args) => login_cmd::logout(args),
        Command::Status(args) => login_cmd::status(args),
        Command::Audit(args) => audit_cmd::run(*args),
        Command::CredentialHelper(args) => credential_helper::run(args),
        Command::Curl(args) => curl_cmd::run(args),
        Command::Completions { shell } => {
            // Into a buffer first: clap_complete panics on a write error
            // (a closed pipe, `| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "proofkey", &mut script);
            let mut out = std::io::stdout().lock();
            match out.write_all(&script).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("proofkey: cannot write the script: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Man { dir } => man(dir.as_deref()),
    }
}

/// `proofkey man`: proofkey(1) on stdout, or every page into `dir`.
fn man(dir: Option<&std::path::Path>) -> ExitCode {
    let cmd = Cli::command();
    let result = match dir {
        Some(dir) => std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir)),
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proofkey: cannot write the man pages: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A current-thread runtime for the admin commands.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
