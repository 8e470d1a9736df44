//! The `proofkey` command.
//!
//! Exit codes are part of the interface, scripts depend on them:
//! 0 success, 1 a negative answer or a failure at run time (`pkce --check`
//! mismatch, an unknown client or user, the database unreachable), 2 bad
//! input or usage (nothing is written then).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod admin;
mod audit_cmd;
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
}

fn main() -> ExitCode {
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
    }
}

/// A current-thread runtime for the admin commands.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
