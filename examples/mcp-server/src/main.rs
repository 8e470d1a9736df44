//! `proofkey-example-mcp`: an MCP server (streamable HTTP) whose tools need
//! an access token from a proofkey issuer. See README.md.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use proofkey_example_mcp::{app, Config, DEFAULT_SCOPE};

/// An example MCP server protected by proofkey.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The proofkey issuer identifier, exactly as in its metadata (tokens'
    /// `iss`), e.g. http://127.0.0.1:8080.
    #[arg(long, env = "MCP_ISSUER", value_name = "URL")]
    issuer: String,
    /// Where to listen; port 0 picks a free port (printed on start).
    #[arg(long, env = "MCP_LISTEN", default_value = "127.0.0.1:3001")]
    listen: SocketAddr,
    /// This server's resource URI (RFC 8707): the `aud` of its tokens,
    /// exactly as registered with `proofkey resource create --uri`, and
    /// the URL clients connect to [default: http://<bound address>/mcp].
    #[arg(long, env = "MCP_RESOURCE", value_name = "URI")]
    resource: Option<String>,
    /// The scope every MCP request's token must grant.
    #[arg(long, env = "MCP_SCOPE", default_value = DEFAULT_SCOPE)]
    scope: String,
    /// A browser origin allowed besides loopback ones
    /// (scheme://host[:port]); repeat.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let resource = match args.resource {
        Some(r) => r,
        // A wildcard address is not one clients can connect to.
        None if local.ip().is_unspecified() => {
            return Err(format!(
                "--listen {local} is a wildcard address: say with --resource which URL clients connect to"
            ))
        }
        None => format!("http://{local}/mcp"),
    };
    let config = Config {
        scope: args.scope,
        allowed_origins: args.allowed_origins,
        ..Config::new(args.issuer, resource)
    };
    let shutdown = config.shutdown.clone();
    let app = app(&config).map_err(|e| e.to_string())?;
    let rs = app.resource_server.clone();
    tracing::info!(
        listen = %local,
        resource = rs.resource(),
        issuer = rs.issuer(),
        scope = %config.scope,
        "serving"
    );
    // On stdout, for people and for tests that start the binary.
    println!("listening on http://{local}");
    println!("resource: {}", rs.resource());
    println!("metadata: {}", rs.resource_metadata_url());
    // Early word of a wrong --issuer (unreachable, or its metadata names
    // another issuer: http://localhost:8080 is not http://127.0.0.1:8080).
    // Only a warning: the issuer may come up later.
    tokio::spawn(async move {
        match rs.prefetch().await {
            Ok(()) => tracing::info!(issuer = rs.issuer(), "issuer metadata and keys fetched"),
            Err(e) => tracing::warn!(
                issuer = rs.issuer(),
                error = %e,
                "the issuer is not usable yet; requests with a token get 503 until it is \
                 (retried at most every 30 s)"
            ),
        }
    });

    axum::serve(listener, app.router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            shutdown.cancel();
        })
        .await
        .map_err(|e| format!("server error: {e}"))
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
