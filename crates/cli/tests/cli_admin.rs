//! `proofkey client ...` and `proofkey user ...` through the real binary,
//! on a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

struct Db {
    _dir: tempfile::TempDir,
    url: String,
}

/// A new database, created as an operator would: `proofkey migrate`.
fn db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("admin.db").display());
    let d = Db { _dir: dir, url };
    assert!(run(&d, &["migrate"], None).status.success());
    d
}

fn run(db: &Db, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_proofkey"))
        .args(args)
        .env("PROOFKEY_DATABASE_URL", &db.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        // A command that rejects its arguments exits before it reads stdin;
        // the pipe is then closed under us, which is not the test's failure.
        match child.stdin.take().unwrap().write_all(input.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            r => r.unwrap(),
        }
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(s.trim().lines().count(), 1, "one JSON object: {s}");
    serde_json::from_str(&s).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn client_create_public_with_every_option() {
    let d = db();
    let c = json(&run(
        &d,
        &[
            "client",
            "create",
            "--id",
            "cli-app",
            "--name",
            "My CLI",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--redirect-uri",
            "https://app.example/cb",
            "--scope",
            "openid",
            "--scope",
            "email",
            "--grant-type",
            "authorization_code",
            "--skip-consent",
            "--json",
        ],
        None,
    ));
    assert_eq!(c["client_id"], "cli-app");
    assert_eq!(c["name"], "My CLI");
    assert_eq!(c["type"], "public");
    assert_eq!(
        c["redirect_uris"],
        serde_json::json!(["http://127.0.0.1/callback", "https://app.example/cb"])
    );
    assert_eq!(c["scopes"], serde_json::json!(["openid", "email"]));
    assert_eq!(c["skip_consent"], true);
    assert!(c.get("client_secret").is_none());

    let shown = json(&run(&d, &["client", "show", "cli-app", "--json"], None));
    assert_eq!(shown["client_id"], "cli-app");
    assert_eq!(shown["dpop_bound_access_tokens"], false);
    assert_eq!(shown["require_pushed_authorization_requests"], false);
    let list = json(&run(&d, &["client", "list", "--json"], None));
    assert_eq!(list["clients"].as_array().unwrap().len(), 1);

    // RFC 9449 §5.2 and RFC 9126 §6, per client.
    let strict = json(&run(
        &d,
        &[
            "client",
            "create",
            "--id",
            "strict",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--dpop-bound-access-tokens",
            "--require-par",
            "--json",
        ],
        None,
    ));
    assert_eq!(strict["dpop_bound_access_tokens"], true);
    assert_eq!(strict["require_pushed_authorization_requests"], true);
}

#[test]
fn client_create_confidential_prints_the_secret_once_and_stores_a_keyed_hash() {
    let d = db();
    let c = json(&run(
        &d,
        &[
            "client",
            "create",
            "--id",
            "web",
            "--confidential",
            "--redirect-uri",
            "https://web.example/cb",
            "--json",
        ],
        None,
    ));
    let secret = c["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 43);
    // Never shown again.
    let shown = run(&d, &["client", "show", "web", "--json"], None);
    assert!(!String::from_utf8_lossy(&shown.stdout).contains(&secret));
    // Not in the database file either.
    let path = d.url.trim_start_matches("sqlite://");
    let _ = run(&d, &["client", "list"], None); // checkpoint-independent: read all files
    for f in [path.to_owned(), format!("{path}-wal")] {
        if let Ok(bytes) = std::fs::read(&f) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "secret found in {f}"
            );
        }
    }
    // Rotation gives a new secret.
    let r = json(&run(
        &d,
        &["client", "rotate-secret", "web", "--json"],
        None,
    ));
    assert_ne!(r["client_secret"], secret);
    assert_eq!(r["old_secret_valid_until"], serde_json::Value::Null);
    // With an overlap, the old secret's end is said; a too long one is
    // refused.
    let r = json(&run(
        &d,
        &[
            "client",
            "rotate-secret",
            "web",
            "--overlap",
            "1h",
            "--json",
        ],
        None,
    ));
    assert!(r["old_secret_valid_until"].as_i64().unwrap() > 0, "{r}");
    let out = run(
        &d,
        &["client", "rotate-secret", "web", "--overlap", "40d"],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn bad_client_input_exits_2_and_writes_nothing() {
    let d = db();
    let cases: &[&[&str]] = &[
        &[
            "client",
            "create",
            "--id",
            "a",
            "--public",
            "--redirect-uri",
            "http://evil.example/cb",
        ],
        &[
            "client",
            "create",
            "--id",
            "a",
            "--public",
            "--redirect-uri",
            "https://a.example/cb#frag",
        ],
        &[
            "client",
            "create",
            "--id",
            "a",
            "--public",
            "--redirect-uri",
            "not a uri",
        ],
        &[
            "client",
            "create",
            "--id",
            "a",
            "--public",
            "--redirect-uri",
            "https://a.example/cb",
            "--grant-type",
            "password",
        ],
        &[
            "client",
            "create",
            "--id",
            "a",
            "--public",
            "--redirect-uri",
            "https://a.example/cb",
            "--grant-type",
            "implicit",
        ],
        &[
            "client",
            "create",
            "--id",
            "a",
            "--public",
            "--redirect-uri",
            "https://a.example/cb",
            "--scope",
            "bad\"scope",
        ],
        &[
            "client",
            "create",
            "--id",
            "a",
            "--public",
            "--redirect-uri",
            "https://a.example/cb",
            "--id-token-alg",
            "HS256",
        ],
        &[
            "client",
            "create",
            "--id",
            "has space",
            "--public",
            "--redirect-uri",
            "https://a.example/cb",
        ],
        &[
            "client",
            "create",
            "--id",
            "a",
            "--redirect-uri",
            "https://a.example/cb",
        ],
        &[
            "client",
            "create",
            "--id",
            "a",
            "--public",
            "--confidential",
            "--redirect-uri",
            "https://a.example/cb",
        ],
        &["client", "create", "--id", "a", "--public"],
    ];
    for args in cases {
        let out = run(&d, args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).trim().is_empty());
    }
    let list = json(&run(&d, &["client", "list", "--json"], None));
    assert_eq!(list["clients"], serde_json::json!([]));
}

#[test]
fn a_duplicate_client_exits_2() {
    let d = db();
    let args = [
        "client",
        "create",
        "--id",
        "dup",
        "--public",
        "--redirect-uri",
        "https://a.example/cb",
    ];
    assert!(run(&d, &args, None).status.success());
    let out = run(&d, &args, None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists"));
}

#[test]
fn client_delete_and_unknown_ids() {
    let d = db();
    run(
        &d,
        &[
            "client",
            "create",
            "--id",
            "gone",
            "--public",
            "--redirect-uri",
            "https://a.example/cb",
        ],
        None,
    );
    assert!(run(&d, &["client", "delete", "gone"], None)
        .status
        .success());
    for args in [
        ["client", "show", "gone"],
        ["client", "delete", "gone"],
        ["client", "rotate-secret", "gone"],
    ] {
        let out = run(&d, &args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("no client"));
    }
}

#[test]
fn user_lifecycle() {
    let d = db();
    let u = json(&run(
        &d,
        &[
            "user",
            "create",
            "bob",
            "--email",
            "bob@example.com",
            "--name",
            "Bob",
            "--password-stdin",
            "--json",
        ],
        Some("a long enough password\n"),
    ));
    assert_eq!(u["username"], "bob");
    assert_eq!(u["email"], "bob@example.com");
    assert!(u.get("password_hash").is_none());
    let list = json(&run(&d, &["user", "list", "--json"], None));
    assert_eq!(list["users"][0]["username"], "bob");
    assert!(run(
        &d,
        &["user", "set-password", "bob", "--password-stdin"],
        Some("another long password\n")
    )
    .status
    .success());
    assert!(run(&d, &["user", "delete", "bob"], None).status.success());
    assert_eq!(
        run(&d, &["user", "delete", "bob"], None).status.code(),
        Some(1)
    );
}

#[test]
fn bad_user_input_exits_2_and_writes_nothing() {
    let d = db();
    for (args, stdin) in [
        (
            vec!["user", "create", "carol", "--password-stdin"],
            "short\n",
        ),
        (vec!["user", "create", "carol", "--password-stdin"], ""),
        (
            vec!["user", "create", "has space", "--password-stdin"],
            "a long enough password\n",
        ),
        (
            vec![
                "user",
                "create",
                "carol",
                "--email",
                "nope",
                "--password-stdin",
            ],
            "a long enough password\n",
        ),
        (vec!["user", "create", "carol"], "a long enough password\n"),
    ] {
        let out = run(&d, &args, Some(stdin));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(
        json(&run(&d, &["user", "list", "--json"], None))["users"],
        serde_json::json!([])
    );
    run(
        &d,
        &["user", "create", "carol", "--password-stdin"],
        Some("a long enough password\n"),
    );
    let dup = run(
        &d,
        &["user", "create", "carol", "--password-stdin"],
        Some("a long enough password\n"),
    );
    assert_eq!(dup.status.code(), Some(2));
}

#[test]
fn client_create_with_keys_refresh_and_logout_settings() {
    let d = db();
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1","alg":"ES256"}]}"#,
    )
    .unwrap();
    let c = json(&run(
        &d,
        &[
            "client",
            "create",
            "--id",
            "svc",
            "--confidential",
            "--redirect-uri",
            "https://svc.example/cb",
            "--jwks",
            jwks.to_str().unwrap(),
            "--grant-type",
            "client_credentials",
            "--scope",
            "read",
            "--json",
        ],
        None,
    ));
    assert_eq!(c["token_endpoint_auth_method"], "private_key_jwt");
    assert!(
        c.get("client_secret").is_none(),
        "a key client gets no secret"
    );

    let c = json(&run(
        &d,
        &[
            "client",
            "create",
            "--id",
            "spa",
            "--public",
            "--redirect-uri",
            "https://spa.example/cb",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--post-logout-redirect-uri",
            "https://spa.example/bye",
            "--always-issue-refresh-token",
            "--json",
        ],
        None,
    ));
    assert_eq!(
        c["scopes"],
        serde_json::json!(["openid", "profile", "email", "offline_access"])
    );
    assert_eq!(
        c["post_logout_redirect_uris"],
        serde_json::json!(["https://spa.example/bye"])
    );
    assert_eq!(c["rotate_refresh_tokens"], true);
    assert_eq!(c["always_issue_refresh_token"], true);

    let c = json(&run(
        &d,
        &[
            "client",
            "create",
            "--id",
            "backend",
            "--confidential",
            "--redirect-uri",
            "https://b.example/cb",
            "--grant-type",
            "refresh_token",
            "--grant-type",
            "authorization_code",
            "--no-refresh-rotation",
            "--json",
        ],
        None,
    ));
    assert_eq!(c["rotate_refresh_tokens"], false);
    assert!(c["client_secret"].is_string());
}

#[test]
fn bad_key_and_refresh_settings_exit_2() {
    let d = db();
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private.json");
    std::fs::write(
        &private,
        r#"{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"secret"}]}"#,
    )
    .unwrap();
    let not_jwks = dir.path().join("not.json");
    std::fs::write(&not_jwks, "{}").unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "client",
            "create",
            "--id",
            "a",
            "--confidential",
            "--redirect-uri",
            "https://a.example/cb",
            "--jwks",
            private.to_str().unwrap(),
        ],
        vec![
            "client",
            "create",
            "--id",
            "a",
            "--confidential",
            "--redirect-uri",
            "https://a.example/cb",
            "--jwks",
            not_jwks.to_str().unwrap(),
        ],
        vec![
            "client",
            "create",
            "--id",
            "a",
            "--confidential",
            "--redirect-uri",
            "https://a.example/cb",
            "--jwks",
            "/nonexistent",
        ],
        vec![
            "client",
            "create",
            "--id",
            "a",
            "--confidential",
            "--redirect-uri",
            "https://a.example/cb",
            "--jwks-uri",
            "http://keys.example/jwks",
        ],
        vec![
            "client",
            "create",
            "--id",
            "a",
            "--public",
            "--redirect-uri",
            "https://a.example/cb",
            "--jwks-uri",
            "https://keys.example/jwks",
        ],
        vec![
            "client",
            "create",
            "--id",
            "a",
            "--public",
            "--redirect-uri",
            "https://a.example/cb",
            "--grant-type",
            "client_credentials",
        ],
        vec![
            "client",
            "create",
            "--id",
            "a",
            "--public",
            "--redirect-uri",
            "https://a.example/cb",
            "--no-refresh-rotation",
        ],
        vec![
            "client",
            "create",
            "--id",
            "a",
            "--public",
            "--redirect-uri",
            "https://a.example/cb",
            "--post-logout-redirect-uri",
            "http://evil.example/",
        ],
    ];
    for args in &cases {
        let out = run(&d, args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(
        json(&run(&d, &["client", "list", "--json"], None))["clients"],
        serde_json::json!([])
    );
}

#[test]
fn user_sessions_and_revoke() {
    let d = db();
    run(
        &d,
        &["user", "create", "dana", "--password-stdin"],
        Some("a long enough password\n"),
    );
    let s = json(&run(&d, &["user", "sessions", "dana", "--json"], None));
    assert_eq!(s["sessions"], serde_json::json!([]));
    let r = json(&run(&d, &["user", "revoke", "dana", "--json"], None));
    assert_eq!(r["sessions_ended"], 0);
    assert_eq!(
        run(&d, &["user", "sessions", "nobody"], None).status.code(),
        Some(1)
    );
    assert_eq!(
        run(&d, &["user", "revoke", "nobody"], None).status.code(),
        Some(1)
    );
}

/// The admin commands on PostgreSQL (the machine's server; the test fails
/// when it is missing).
#[test]
fn admin_commands_work_on_postgres() {
    let base = std::env::var("PROOFKEY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("pk_cli_{}", std::process::id());
    let psql = |sql: &str| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let admin = proofkey_store::PgAdmin::connect(&format!("{base}/postgres"))
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {base} is required: {e}"));
            admin.execute(sql).await.unwrap();
        });
    };
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    psql(&format!("CREATE DATABASE {name}"));
    let d = Db {
        _dir: tempfile::tempdir().unwrap(),
        url: format!("{base}/{name}"),
    };
    let m = run(&d, &["migrate"], None);
    assert!(m.status.success(), "{}", stderr(&m));
    // The binary speaks verified TLS too (its TLS stack is the one the
    // whole binary links: a second crypto provider made it panic once).
    let tls = Db {
        _dir: tempfile::tempdir().unwrap(),
        url: format!(
            "{}/{name}?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ssl-cert-snakeoil.pem",
            base.replace("127.0.0.1", "localhost")
        ),
    };
    let out = run(&tls, &["client", "list", "--json"], None);
    assert!(out.status.success(), "over TLS: {}", stderr(&out));
    let c = json(&run(
        &d,
        &[
            "client",
            "create",
            "--id",
            "pg-app",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--json",
        ],
        None,
    ));
    assert_eq!(c["client_id"], "pg-app");
    assert_eq!(
        run(
            &d,
            &[
                "client",
                "create",
                "--id",
                "pg-app",
                "--public",
                "--redirect-uri",
                "http://127.0.0.1/callback"
            ],
            None
        )
        .status
        .code(),
        Some(2)
    );
    json(&run(
        &d,
        &["user", "create", "pat", "--password-stdin", "--json"],
        Some("a long enough password\n"),
    ));
    assert_eq!(
        json(&run(&d, &["user", "list", "--json"], None))["users"][0]["username"],
        "pat"
    );
    let rotated = json(&run(
        &d,
        &["keys", "rotate", "--alg", "ES256", "--json"],
        None,
    ));
    assert_eq!(rotated["added"].as_array().unwrap().len(), 1);
    let keys = json(&run(&d, &["keys", "list", "--json"], None));
    assert_eq!(
        keys["keys"][0]["active"], false,
        "a rotated key waits before it signs"
    );
    // Issue 16's commands, on PostgreSQL.
    let u = json(&run(
        &d,
        &["user", "update", "pat", "--name", "Pat", "--json"],
        None,
    ));
    assert_eq!(u["name"], "Pat");
    let off = json(&run(&d, &["user", "disable", "pat", "--json"], None));
    assert_eq!(off["disabled"], true);
    let shown = json(&run(&d, &["user", "show", "pat", "--json"], None));
    assert!(shown["disabled_at"].is_i64(), "{shown}");
    json(&run(&d, &["user", "enable", "pat", "--json"], None));
    let shown = json(&run(&d, &["user", "show", "pat", "--json"], None));
    assert!(shown["disabled_at"].is_null(), "{shown}");
    let c = json(&run(
        &d,
        &[
            "client",
            "update",
            "pg-app",
            "--post-logout-redirect-uri",
            "http://127.0.0.1/bye",
            "--json",
        ],
        None,
    ));
    assert_eq!(
        c["post_logout_redirect_uris"],
        serde_json::json!(["http://127.0.0.1/bye"])
    );
    let retired = json(&run(
        &d,
        &[
            "keys",
            "retire",
            rotated["added"][0]["kid"].as_str().unwrap(),
            "--json",
        ],
        None,
    ));
    assert!(
        retired["retired"].is_string(),
        "a key not active yet: {retired}"
    );
    // The only active ES256 key: refused.
    let active = json(&run(
        &d,
        &[
            "keys",
            "rotate",
            "--alg",
            "ES256",
            "--activation-delay",
            "0s",
            "--json",
        ],
        None,
    ));
    let es256 = active["added"][0]["kid"].as_str().unwrap().to_owned();
    assert_eq!(
        run(&d, &["keys", "retire", &es256], None).status.code(),
        Some(2)
    );
    assert!(run(&d, &["client", "delete", "pg-app"], None)
        .status
        .success());
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

/// No admin command creates a database: pointed at a missing SQLite file
/// it says so (exit 1) and writes nothing. `migrate` creates it.
#[test]
fn admin_commands_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.db");
    let d = Db {
        _dir: dir,
        url: format!("sqlite://{}", path.display()),
    };
    for args in [
        &["client", "list"][..],
        &["user", "list"],
        &["keys", "list"],
        &["user", "unlock", "ann"],
    ] {
        let out = run(&d, args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
        assert!(!path.exists(), "{args:?} created the file");
    }
    assert!(run(&d, &["migrate"], None).status.success());
    assert!(path.exists());
    assert!(run(&d, &["client", "list"], None).status.success());
}

/// Admin commands read the settings file `proofkey serve` reads
/// (`PROOFKEY_CONFIG` or --config): its `database` is the one they act on,
/// unless --database or PROOFKEY_DATABASE_URL names another.
#[test]
fn admin_commands_read_the_config_file() {
    let d = db();
    let made = run(
        &d,
        &[
            "client",
            "create",
            "--id",
            "from-config",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/cb",
        ],
        None,
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("proofkey.toml");
    std::fs::write(&toml, format!("database = \"{}\"\n", d.url)).unwrap();
    let listed = Command::new(env!("CARGO_BIN_EXE_proofkey"))
        .args(["client", "list", "--json"])
        .env_remove("PROOFKEY_DATABASE_URL")
        .env("PROOFKEY_CONFIG", &toml)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        json(&listed)["clients"][0]["client_id"],
        "from-config",
        "{}",
        stderr(&listed)
    );
    let flagged = Command::new(env!("CARGO_BIN_EXE_proofkey"))
        .args(["client", "list", "--json", "--config"])
        .arg(&toml)
        .env_remove("PROOFKEY_DATABASE_URL")
        .env_remove("PROOFKEY_CONFIG")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(json(&flagged)["clients"][0]["client_id"], "from-config");
    assert!(
        !dir.path().join("proofkey.db").exists(),
        "no default database made"
    );
}

#[test]
fn resources_and_clients_limited_to_them() {
    let d = db();
    let r = json(&run(
        &d,
        &[
            "resource",
            "create",
            "--uri",
            "https://mcp.example.com/mcp",
            "--name",
            "MCP",
            "--scope",
            "mcp:tools",
            "--scope",
            "mcp:read",
            "--json",
        ],
        None,
    ));
    assert_eq!(r["uri"], "https://mcp.example.com/mcp");
    assert_eq!(r["scopes"], serde_json::json!(["mcp:tools", "mcp:read"]));
    // A duplicate, a fragment, a relative URI, a bad scope: exit 2.
    for bad in [
        vec!["--uri", "https://mcp.example.com/mcp"],
        vec!["--uri", "https://mcp.example.com/mcp#x"],
        vec!["--uri", "/mcp"],
        vec!["--uri", "https://b.example/", "--scope", "a\"b"],
    ] {
        let mut args = vec!["resource", "create"];
        args.extend(bad.iter().copied());
        let out = run(&d, &args, None);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
    let list = json(&run(&d, &["resource", "list", "--json"], None));
    assert_eq!(list["resources"].as_array().unwrap().len(), 1);

    // A client limited to it; an unregistered resource is refused.
    let c = json(&run(
        &d,
        &[
            "client",
            "create",
            "--id",
            "mcp-app",
            "--public",
            "--redirect-uri",
            "http://localhost/callback",
            "--resource",
            "https://mcp.example.com/mcp",
            "--json",
        ],
        None,
    ));
    assert_eq!(
        c["resources"],
        serde_json::json!(["https://mcp.example.com/mcp"])
    );
    assert_eq!(c["registered_by"], "admin");
    let out = run(
        &d,
        &[
            "client",
            "create",
            "--id",
            "x",
            "--public",
            "--redirect-uri",
            "http://localhost/callback",
            "--resource",
            "https://nope.example/",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not registered"), "{}", stderr(&out));

    let out = run(
        &d,
        &["resource", "delete", "https://mcp.example.com/mcp"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(
        &d,
        &["resource", "delete", "https://mcp.example.com/mcp"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn initial_access_tokens_are_printed_once_and_stored_hashed() {
    let d = db();
    let t = json(&run(
        &d,
        &[
            "client",
            "initial-token",
            "--lifetime",
            "2h",
            "--uses",
            "3",
            "--json",
        ],
        None,
    ));
    let token = t["initial_access_token"].as_str().unwrap();
    assert!(token.len() >= 43, "{token}");
    assert_eq!(t["uses"], 3);
    let path = d.url.strip_prefix("sqlite://").unwrap();
    let c = rusqlite::Connection::open(path).unwrap();
    let (hash, uses): (String, i64) = c
        .query_row(
            "SELECT token_hash, remaining_uses FROM initial_access_tokens",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(uses, 3);
    assert_ne!(hash, token, "only a hash is stored");
    for bad in [["--uses", "0"], ["--lifetime", "0s"], ["--lifetime", "31d"]] {
        let mut args = vec!["client", "initial-token"];
        args.extend(bad);
        assert_eq!(run(&d, &args, None).status.code(), Some(2), "{bad:?}");
    }
}

/// `client update` replaces only what it is given, checked as `create`
/// checks it (the same code); a refused update changes nothing.
#[test]
fn client_update_replaces_only_what_is_given() {
    let d = db();
    let created = json(&run(
        &d,
        &[
            "client",
            "create",
            "--id",
            "app",
            "--name",
            "App",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--post-logout-redirect-uri",
            "https://app.example/bye",
            "--json",
        ],
        None,
    ));
    let updated = json(&run(
        &d,
        &[
            "client",
            "update",
            "app",
            "--redirect-uri",
            "https://app.example/cb",
            "--redirect-uri",
            "http://127.0.0.1/cb2",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "device_code",
            "--skip-consent",
            "--require-par",
            "--json",
        ],
        None,
    ));
    assert_eq!(
        updated["redirect_uris"],
        serde_json::json!(["https://app.example/cb", "http://127.0.0.1/cb2"])
    );
    assert_eq!(
        updated["grant_types"],
        serde_json::json!([
            "authorization_code",
            "urn:ietf:params:oauth:grant-type:device_code"
        ]),
        "device_code is the RFC 8628 URN's short name"
    );
    assert_eq!(updated["skip_consent"], true);
    assert_eq!(updated["require_pushed_authorization_requests"], true);
    // Not given, so kept.
    for kept in [
        "name",
        "scopes",
        "post_logout_redirect_uris",
        "created_at",
        "type",
        "dpop_bound_access_tokens",
        "id_token_signed_response_alg",
    ] {
        assert_eq!(updated[kept], created[kept], "{kept}");
    }
    let shown = json(&run(&d, &["client", "show", "app", "--json"], None));
    assert_eq!(shown, updated);

    // Switches turn off with false; lists clear with their --clear flag.
    let off = json(&run(
        &d,
        &[
            "client",
            "update",
            "app",
            "--skip-consent",
            "false",
            "--clear-post-logout-redirect-uris",
            "--name",
            "Renamed",
            "--json",
        ],
        None,
    ));
    assert_eq!(off["skip_consent"], false);
    assert_eq!(off["post_logout_redirect_uris"], serde_json::json!([]));
    assert_eq!(off["name"], "Renamed");
    assert_eq!(off["require_pushed_authorization_requests"], true, "kept");

    // What create refuses, update refuses (exit 2), changing nothing.
    for bad in [
        &["--redirect-uri", "http://evil.example/cb"][..],
        &["--redirect-uri", "https://app.example/cb#frag"],
        &["--grant-type", "client_credentials"],
        &["--grant-type", "password"],
        &["--scope", "a\"b"],
        &["--id-token-alg", "none"],
        &["--no-refresh-rotation"],
        &["--post-logout-redirect-uri", "ftp://x/"],
        &["--resource", "https://unregistered.example/"],
        &["--jwks-uri", "https://keys.example/jwks"],
    ] {
        let mut args = vec!["client", "update", "app"];
        args.extend_from_slice(bad);
        let out = run(&d, &args, None);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
    assert_eq!(
        json(&run(&d, &["client", "show", "app", "--json"], None)),
        off,
        "nothing changed"
    );
    let out = run(&d, &["client", "update", "nobody", "--name", "x"], None);
    assert_eq!(out.status.code(), Some(1));
}

/// `client show` prints every field, post-logout redirect URIs included.
#[test]
fn client_show_prints_every_field() {
    let d = db();
    run(
        &d,
        &[
            "client",
            "create",
            "--id",
            "web",
            "--confidential",
            "--redirect-uri",
            "https://web.example/cb",
            "--post-logout-redirect-uri",
            "https://web.example/bye",
            "--grant-type",
            "client_credentials",
            "--grant-type",
            "device_code",
            "--dpop-bound-access-tokens",
        ],
        None,
    );
    let out = run(&d, &["client", "show", "web"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "post_logout_redirect_uris: https://web.example/bye",
        "auth_method:",
        "client_secret_basic",
        "urn:ietf:params:oauth:grant-type:device_code",
        "dpop_bound_access_tokens:",
        "rotate_refresh_tokens:",
        "always_issue_refresh_token:",
        "require_par:",
        "created_at:",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    assert!(
        text.lines()
            .find(|l| l.starts_with("created_at:"))
            .is_some_and(|l| l.trim_end().ends_with('Z')),
        "RFC 3339: {text}"
    );
}
