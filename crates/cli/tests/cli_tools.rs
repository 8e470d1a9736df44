//! The CLI inside other tools (issue 19): a profile set up from the
//! profiles file, then its token used by real git (clone and fetch through
//! `proofkey credential-helper`), the real docker CLI (a registry's
//! manifest through `docker-credential-proofkey`) and real curl (through
//! `proofkey curl`, bearer and DPoP), against the real server; and the
//! completion scripts and man pages, loaded by the shells and `man`.
//! Fails, never skips, when git, docker, curl, bash, zsh, fish or man is
//! missing (.ci/run installs them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

const PASSWORD: &str = "a long enough password";

fn client_cmd(s: &Server, cfg: &Path, config_file: &Path) -> Command {
    let mut c = proofkey();
    c.env("PROOFKEY_CONFIG_DIR", cfg)
        .env("PROOFKEY_CONFIG", config_file)
        .current_dir(s.dir.path());
    c
}

/// `proofkey login --profile NAME --no-browser`, everything else from the
/// profiles file; the browser step by an HTTP client.
fn login(s: &Server, cfg: &Path, config_file: &Path, profile: &str) {
    let mut child = client_cmd(s, cfg, config_file)
        .args(["login", "--profile", profile, "--no-browser"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut printed = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "login: {printed}");
        printed.push_str(&line);
        if let Some(u) = line.split_whitespace().find(|w| w.contains("/authorize?")) {
            break u.to_owned();
        }
    };
    let redirect = Browser::new().authorize(&s.base, &url, "alice", PASSWORD);
    assert_eq!(reqwest::blocking::get(&redirect).unwrap().status(), 200);
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{printed}{rest}");
}

struct KillOnDrop(std::process::Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// tests/tools/standin.py: git over HTTP, a Docker registry and a
/// process-list check, each wanting a token the server accepts. Its port,
/// and the `Authorization` headers it reports.
fn standin(
    issuer: &str,
    repos: &Path,
    tls: bool,
) -> (KillOnDrop, u16, std::sync::mpsc::Receiver<String>) {
    let mut child = KillOnDrop(
        Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/tools/standin.py"
            ))
            .arg(issuer)
            .arg(repos)
            .args(tls.then_some("tls"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3"),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let port = first.trim().strip_prefix("PORT ").unwrap().parse().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines() {
            let Ok(line) = line else { return };
            if let Some(a) = line.strip_prefix("AUTH ") {
                let _ = tx.send(a.to_owned());
            }
        }
    });
    (child, port, rx)
}

fn git(git: &str, home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(git);
    c.args(args)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .env_remove("SSH_ASKPASS");
    c
}

fn stored(cfg: &Path, profile: &str) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(cfg.join("tokens").join(format!("{profile}.json"))).unwrap(),
    )
    .unwrap()
}

fn store(cfg: &Path, profile: &str, v: &serde_json::Value) {
    std::fs::write(
        cfg.join("tokens").join(format!("{profile}.json")),
        serde_json::to_vec(v).unwrap(),
    )
    .unwrap();
}

/// The access token `profile` holds now.
fn access_token(cfg: &Path, profile: &str) -> String {
    stored(cfg, profile)["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Answers of the helper for stdin `input`.
fn helper(s: &Server, cfg: &Path, config_file: &Path, args: &[&str], input: &str) -> Output {
    let mut c = client_cmd(s, cfg, config_file)
        .arg("credential-helper")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    // The helper may stop reading early (input over its limit).
    if let Err(e) = c.stdin.take().unwrap().write_all(input.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
    }
    c.wait_with_output().unwrap()
}

#[test]
fn git_docker_and_curl_use_a_profile_from_the_profiles_file() {
    let s = Server::start(&[]);
    s.cli_client("tools", &[]);
    s.user("alice", PASSWORD);
    let dir = s.dir.path();
    let cfg = dir.join("cfg");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();

    // A bare repository with one commit, served by the stand-in.
    let repos = dir.join("repos");
    let work = dir.join("work");
    for args in [
        vec!["init", "-q", "-b", "main", work.to_str().unwrap()],
        vec![
            "-C",
            work.to_str().unwrap(),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "first",
        ],
        vec![
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            repos.join("repo.git").to_str().unwrap(),
        ],
    ] {
        ok(git("git", &home, &args).output().unwrap(), "git setup");
    }
    let (_standin, port, seen) = standin(&s.base, &repos, false);
    let host = format!("127.0.0.1:{port}");
    let (_registry, registry_port, registry_seen) = standin(&s.base, &repos, true);
    let registry = format!("127.0.0.1:{registry_port}");

    // The profiles file a team would ship: issuer, client, scopes, store,
    // bearer tokens, and where the token may go.
    let config_file = dir.join("team.toml");
    std::fs::File::create(&config_file).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&config_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::write(
        &config_file,
        format!(
            r#"[profiles.work]
issuer = "{}"
client_id = "tools"
scopes = ["openid", "offline_access"]
store = "file"
dpop = false
par = false
credential_hosts = ["{host}", "{registry}"]
credential_username = "oauth2"

[profiles.bound]
issuer = "{}"
client_id = "tools"
scopes = ["openid", "offline_access"]
"#,
            s.base, s.base
        ),
    )
    .unwrap();
    login(&s, &cfg, &config_file, "work");
    let p = stored(&cfg, "work");
    assert_eq!(p["issuer"], s.base);
    assert_eq!(p["client_id"], "tools");
    assert_eq!(p["tokens"]["scope"], "openid offline_access");
    assert!(
        p["tokens"]["dpop_key"].is_null(),
        "dpop = false: a bearer token"
    );

    // A login with neither flags nor file entry says what is missing.
    let out = client_cmd(&s, &cfg, &config_file)
        .args(["login", "--profile", "nowhere", "--no-browser"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("no issuer for profile \"nowhere\"") && e.contains("team.toml"),
        "{e}"
    );

    // git: the protocol by hand first. Only the configured host gets the
    // token, and never over plain http unless it is loopback.
    let at = access_token(&cfg, "work");
    let out = helper(
        &s,
        &cfg,
        &config_file,
        &["--profile", "work", "get"],
        &format!("protocol=http\nhost={host}\npath=repo.git\n\n"),
    );
    let answer = ok(out, "helper get");
    assert!(
        answer.starts_with(&format!(
            "username=oauth2\npassword={at}\npassword_expiry_utc="
        )),
        "{answer}"
    );
    for input in [
        "protocol=https\nhost=evil.example\n".to_owned(),
        format!("protocol=https\nhost={host}.evil.example\n"),
        format!("protocol=https\nhost=127.0.0.1:{}\n", port + 1),
    ] {
        let out = helper(&s, &cfg, &config_file, &["get"], &input);
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "{input}: {out:?}"
        );
    }
    let out = helper(
        &s,
        &cfg,
        &config_file,
        &["--profile", "work", "--host", "git.example.com", "get"],
        "protocol=http\nhost=git.example.com\n",
    );
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("plain http"));
    let out = helper(
        &s,
        &cfg,
        &config_file,
        &["--profile", "work", "get"],
        &"x".repeat(70_000),
    );
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("over 65536 bytes"));
    // A profile asked for by name, for a host it does not list: nothing,
    // and a word why.
    let out = helper(
        &s,
        &cfg,
        &config_file,
        &["--profile", "work", "get"],
        "protocol=https\nhost=other.example\n",
    );
    assert!(out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in the profile's credential_hosts"));
    // git's last `host` counts, here as there.
    let out = helper(
        &s,
        &cfg,
        &config_file,
        &["get"],
        &format!("protocol=http\nhost={host}\nhost=evil.example\n"),
    );
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");

    // Real git clones and fetches through the helper: Debian's git and
    // the one on PATH (2.47 here, which also reads password_expiry_utc).
    let exe = env!("CARGO_BIN_EXE_proofkey");
    let helper_conf =
        format!("credential.http://{host}.helper=!'{exe}' credential-helper --profile work");
    let clone_url = format!("http://{host}/repo.git");
    // git with only proofkey as its helper for the stand-in.
    let git_with = |helper_conf: &str, g: &str, args: &[&str]| {
        let mut c = git(g, &home, &["-c", "credential.helper=", "-c", helper_conf]);
        c.args(args)
            .env("PROOFKEY_CONFIG_DIR", &cfg)
            .env("PROOFKEY_CONFIG", &config_file);
        c.output().unwrap()
    };
    let git_with_helper = |g: &str, args: &[&str]| git_with(&helper_conf, g, args);
    for (i, g) in ["/usr/bin/git", "git"].iter().enumerate() {
        let dest = dir.join(format!("clone{i}"));
        ok(
            git_with_helper(g, &["clone", "-q", &clone_url, dest.to_str().unwrap()]),
            &format!("{g} clone"),
        );
        let log = ok(
            git(
                g,
                &home,
                &["-C", dest.to_str().unwrap(), "log", "--format=%s"],
            )
            .output()
            .unwrap(),
            "log",
        );
        assert_eq!(log.trim(), "first");
    }
    let sent: Vec<String> = seen.try_iter().collect();
    let basic = format!("Basic {}", base64_encode(&format!("oauth2:{at}")));
    assert!(
        sent.contains(&basic),
        "git sent the token as Basic credentials: {sent:?}"
    );
    assert!(sent.iter().all(|a| a.is_empty() || *a == basic), "{sent:?}");

    // A token the server refuses: git says `erase`, which marks it
    // expired; the next fetch refreshes and succeeds.
    let mut p = stored(&cfg, "work");
    p["tokens"]["access_token"] = "refused-token".into();
    store(&cfg, "work", &p);
    let clone0 = dir.join("clone0");
    let fetch = |g: &str| {
        git_with_helper(
            g,
            &["-C", clone0.to_str().unwrap(), "fetch", "-q", "origin"],
        )
    };
    let out = fetch("git");
    assert!(!out.status.success(), "the refused token fails this fetch");
    assert_eq!(
        stored(&cfg, "work")["tokens"]["expires_at"],
        0,
        "erase marked it expired"
    );
    ok(fetch("git"), "fetch after erase");
    let refreshed = access_token(&cfg, "work");
    assert_ne!(refreshed, "refused-token");
    assert_ne!(refreshed, at);

    // --auth bearer: git 2.46+ sends `Authorization: Bearer` (its authtype
    // capability), `erase` works from the credential too; an older git is
    // told it cannot.
    let bearer_conf = format!("{helper_conf} --auth bearer");
    let bearer_fetch = |g: &str| {
        git_with(
            &bearer_conf,
            g,
            &["-C", clone0.to_str().unwrap(), "fetch", "-q", "origin"],
        )
    };
    while seen
        .recv_timeout(std::time::Duration::from_millis(300))
        .is_ok()
    {}
    ok(bearer_fetch("git"), "fetch with Bearer");
    let sent: Vec<String> = seen.try_iter().collect();
    assert!(sent.contains(&format!("Bearer {refreshed}")), "{sent:?}");
    assert!(sent.iter().all(|a| !a.starts_with("Basic")), "{sent:?}");
    let out = bearer_fetch("/usr/bin/git");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("git 2.46 or later"),
        "{out:?}"
    );
    let mut p = stored(&cfg, "work");
    p["tokens"]["access_token"] = "refused-token".into();
    store(&cfg, "work", &p);
    assert!(!bearer_fetch("git").status.success());
    assert_eq!(
        stored(&cfg, "work")["tokens"]["expires_at"],
        0,
        "erased by credential"
    );
    ok(bearer_fetch("git"), "fetch after a Bearer erase");
    let refreshed = access_token(&cfg, "work");
    assert_ne!(refreshed, "refused-token");

    // docker: the protocol by hand, then the real CLI reads a manifest
    // from the registry with the token (docker-credential-proofkey is a
    // link to the binary; no daemon is needed for `manifest inspect`).
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(exe, bin.join("docker-credential-proofkey")).unwrap();
    let docker_helper = |action: &str, input: &str| {
        let mut c = Command::new(bin.join("docker-credential-proofkey"));
        c.arg(action)
            .env("PROOFKEY_CONFIG_DIR", &cfg)
            .env("PROOFKEY_CONFIG", &config_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut c = c.spawn().unwrap();
        use std::io::Write as _;
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    };
    let got: serde_json::Value =
        serde_json::from_str(&ok(docker_helper("get", &registry), "docker get")).unwrap();
    assert_eq!(got["ServerURL"], registry.as_str());
    assert_eq!(got["Username"], "oauth2");
    assert_eq!(got["Secret"], refreshed.as_str());
    let out = docker_helper("get", "https://index.docker.io/v1/");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "credentials not found in native keychain"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&ok(docker_helper("list", ""), "docker list")).unwrap();
    assert_eq!(
        listed,
        serde_json::json!({ host.clone(): "oauth2", registry.clone(): "oauth2" })
    );
    let out = docker_helper("store", r#"{"ServerURL":"x","Username":"u","Secret":"s"}"#);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("proofkey login"));

    let docker_config = dir.join("docker");
    std::fs::create_dir_all(&docker_config).unwrap();
    std::fs::write(
        docker_config.join("config.json"),
        serde_json::json!({ "credHelpers": { registry.clone(): "proofkey" } }).to_string(),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new("docker")
        .args([
            "manifest",
            "inspect",
            "--insecure",
            &format!("{registry}/demo:latest"),
        ])
        .env("DOCKER_CONFIG", &docker_config)
        .env("PATH", &path)
        .env("PROOFKEY_CONFIG_DIR", &cfg)
        .env("PROOFKEY_CONFIG", &config_file)
        .output()
        .expect("docker (the CLI) must be installed (.ci/run installs it)");
    let manifest: serde_json::Value =
        serde_json::from_str(&ok(out, "docker manifest inspect")).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    let basic = format!("Basic {}", base64_encode(&format!("oauth2:{refreshed}")));
    assert!(
        registry_seen.try_iter().any(|a| a == basic),
        "docker sent the token"
    );

    // curl: the token goes in the header and nowhere a process list shows;
    // the stand-in looks at every command line and environment while it
    // holds curl's request.
    let curl = |profile: &str, url: &str, args: &[&str]| {
        client_cmd(&s, &cfg, &config_file)
            .args(["curl", "--profile", profile, url])
            .args(args)
            .output()
            .unwrap()
    };
    let body = ok(
        curl("work", &format!("http://{host}/ps-check"), &["-sS", "-f"]),
        "proofkey curl",
    );
    assert_eq!(body, "clean");
    assert!(seen.try_iter().any(|a| a == format!("Bearer {refreshed}")));
    // The check sees a token that is on a command line.
    let leaky = Command::new("curl")
        .args(["-sS", "-H", &format!("Authorization: Bearer {refreshed}")])
        .arg(format!("http://{host}/ps-check"))
        .output()
        .unwrap();
    assert!(ok(leaky, "curl").starts_with("leak /proc/"));
    let info: serde_json::Value = serde_json::from_str(&ok(
        curl("work", &format!("{}/userinfo", s.base), &["-sS", "-f"]),
        "userinfo",
    ))
    .unwrap();
    assert!(info["sub"].is_string());
    // curl's exit status comes through; a URL it cannot reach is curl's 7.
    let out = curl(
        "work",
        &format!("http://127.0.0.1:{}/", free_port()),
        &["-sS"],
    );
    assert_eq!(out.status.code(), Some(7));
    // Nothing reaches a host that was not checked: plain http elsewhere, a
    // second URL (with or without a scheme, or by an abbreviated option),
    // URL globbing, a config file.
    let ps_check = format!("http://{host}/ps-check");
    // (What the stand-in has reported so far, all of it.)
    while seen
        .recv_timeout(std::time::Duration::from_millis(300))
        .is_ok()
    {}
    for (url, args) in [
        ("http://example.com/x", &[][..]),
        (ps_check.as_str(), &["example.com/x"][..]),
        (ps_check.as_str(), &["https://example.com/"][..]),
        (
            ps_check.as_str(),
            &["--refer", "https://a.example", "example.com"][..],
        ),
        (ps_check.as_str(), &["-K", "/dev/null"][..]),
        (ps_check.as_str(), &["--url", "https://example.com/"][..]),
        (ps_check.as_str(), &["--keepalive", "example.com/x"][..]),
        (ps_check.as_str(), &["-x", "http://proxy.example:3128"][..]),
        (ps_check.as_str(), &["--connect-to", "::example.com:80"][..]),
        ("https://{a,b}.example/", &["--no-globoff"][..]),
    ] {
        let out = curl("work", url, args);
        assert_eq!(out.status.code(), Some(2), "{url} {args:?}: {out:?}");
        assert!(out.stdout.is_empty());
    }
    assert!(seen.try_iter().next().is_none(), "none of those was sent");
    // A proxy from the environment does not carry a plain-http loopback
    // token off: the stand-in, set as the proxy, sees nothing.
    let userinfo_url = format!("{}/userinfo", s.base);
    let out = client_cmd(&s, &cfg, &config_file)
        .args(["curl", "--profile", "work", &userinfo_url, "-sS", "-f"])
        .env("http_proxy", format!("http://{host}"))
        .env("ALL_PROXY", format!("http://{host}"))
        .output()
        .unwrap();
    ok(out, "curl with http_proxy set");
    assert!(
        seen.recv_timeout(std::time::Duration::from_millis(300))
            .is_err(),
        "the proxy got the request"
    );
    // A URL that parsers read differently (`\` before `@`): curl gets the
    // normal form, so the host checked is the host reached.
    let tricky = format!("http://{host}\\@example.com/ps-check");
    let out = curl("work", &tricky, &["-sS"]);
    assert!(out.status.success(), "{out:?}");
    assert!(seen.try_iter().any(|a| a == format!("Bearer {refreshed}")));

    // A DPoP-bound login (the default where the server offers DPoP):
    // `proofkey curl` signs a proof for the method and URL; the server's
    // UserInfo endpoint checks it. git and docker refuse such a token.
    let status: serde_json::Value = serde_json::from_str(&ok(
        client_cmd(&s, &cfg, &config_file)
            .args(["status", "--json"])
            .output()
            .unwrap(),
        "status",
    ))
    .unwrap();
    assert_eq!(
        status["configured_not_logged_in"],
        serde_json::json!(["bound"])
    );
    let status = ok(
        client_cmd(&s, &cfg, &config_file)
            .arg("status")
            .output()
            .unwrap(),
        "status",
    );
    assert!(
        status.contains("bound\t(set up in the profiles file, not logged in"),
        "{status}"
    );
    login(&s, &cfg, &config_file, "bound");
    assert!(stored(&cfg, "bound")["tokens"]["token_type"] == "DPoP");
    for method in [
        &["-sS", "-f"][..],
        &["-sS", "-f", "-X", "POST"][..],
        &["-sS", "-f", "-d", "x=1"][..],
    ] {
        let url = format!("{}/userinfo", s.base);
        let info: serde_json::Value =
            serde_json::from_str(&ok(curl("bound", &url, method), "DPoP userinfo")).unwrap();
        assert!(info["sub"].is_string(), "{method:?}");
    }
    // Those passes mean something: a proof made for GET, sent with a
    // POST, is refused by the same endpoint.
    let url = format!("{}/userinfo", s.base);
    let headers = ok(
        client_cmd(&s, &cfg, &config_file)
            .args([
                "token",
                "--profile",
                "bound",
                "--dpop-proof-for",
                &format!("GET {url}"),
            ])
            .output()
            .unwrap(),
        "dpop-proof-for",
    );
    let mut wrong = Command::new("curl");
    wrong.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"]);
    for h in headers.lines() {
        wrong.args(["-H", h]);
    }
    assert_eq!(ok(wrong.arg(&url).output().unwrap(), "curl"), "401");
    let out = helper(
        &s,
        &cfg,
        &config_file,
        &["--profile", "bound", "--host", &host, "get"],
        &format!("protocol=http\nhost={host}\n"),
    );
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DPoP-bound"));
}

/// An ID token that expires before its access token: `token --id-token`
/// refreshes for it (the refresh brings a new ID token); a plain `token`
/// does not. The stored ID token's `exp` is moved to 10 s from now (its
/// signature no longer matches, which the stored-expiry read does not
/// check: it was validated at login).
#[test]
fn an_id_token_that_expires_first_is_refreshed_for_id_token() {
    let s = Server::start(&[]);
    s.cli_client("idt", &[]);
    s.user("alice", PASSWORD);
    let cfg = s.dir.path().join("cfg");
    let config_file = s.dir.path().join("none.toml");
    std::fs::write(
        &config_file,
        format!(
            "[profiles.work]\nissuer = \"{}\"\nclient_id = \"idt\"\nscopes = [\"openid\", \"offline_access\"]\n",
            s.base
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&config_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    login(&s, &cfg, &config_file, "work");
    let token = |args: &[&str]| {
        ok(
            client_cmd(&s, &cfg, &config_file)
                .args(["token", "--profile", "work"])
                .args(args)
                .output()
                .unwrap(),
            "token",
        )
        .trim()
        .to_owned()
    };
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut p = stored(&cfg, "work");
    let idt = p["tokens"]["id_token"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = idt.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    claims["exp"] = (now + 10).into();
    let soon = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    );
    p["tokens"]["id_token"] = soon.clone().into();
    store(&cfg, "work", &p);
    let at = access_token(&cfg, "work");

    assert_eq!(token(&[]), at, "the access token lives: no refresh");
    assert_eq!(stored(&cfg, "work")["tokens"]["id_token"], soon.as_str());
    let fresh = token(&["--id-token"]);
    assert_ne!(fresh, soon, "a new ID token");
    let claims: serde_json::Value =
        serde_json::from_slice(&b64.decode(fresh.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert!(claims["exp"].as_i64().unwrap() > now + 60, "{claims}");
    assert_ne!(access_token(&cfg, "work"), at, "one refresh brought both");
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The completion scripts load in bash, zsh and fish and complete
/// subcommands; the man pages render with `man`.
#[test]
fn completions_load_in_their_shells_and_man_pages_render() {
    let script = |shell: &str| {
        let out = proofkey().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();

    // bash: the function completes "proofkey cre" to credential-helper.
    let bash = dir.path().join("proofkey.bash");
    std::fs::write(&bash, script("bash")).unwrap();
    let out = Command::new("bash")
        .args(["-c", &format!(
            "source '{}'; COMP_WORDS=(proofkey cre); COMP_CWORD=1; COMP_LINE='proofkey cre'; COMP_POINT=12; _proofkey proofkey cre proofkey; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            bash.display()
        )])
        .output()
        .expect("bash");
    assert_eq!(ok(out, "bash completion").trim(), "credential-helper");

    // zsh: the script parses, and defines the completion function.
    let zsh = dir.path().join("_proofkey");
    std::fs::write(&zsh, script("zsh")).unwrap();
    let out = Command::new("zsh")
        .args(["-f", "-c", &format!("autoload -U compinit && compinit -u -D; source '{}' 2>/dev/null; whence -w _proofkey", zsh.display())])
        .output()
        .expect("zsh must be installed (.ci/run installs it)");
    assert!(ok(out, "zsh").contains("_proofkey: function"));

    // fish: the completions it loads list the subcommands.
    let fish = dir.path().join("proofkey.fish");
    std::fs::write(&fish, script("fish")).unwrap();
    let out = Command::new("fish")
        .args([
            "--no-config",
            "-c",
            &format!("source '{}'; complete -C 'proofkey cur'", fish.display()),
        ])
        .output()
        .expect("fish must be installed (.ci/run installs it)");
    assert!(
        ok(out, "fish").lines().any(|l| l.starts_with("curl")),
        "fish"
    );

    // man: every command has a page, and man renders them.
    let pages = dir.path().join("man");
    ok(
        proofkey()
            .args(["man", "--dir"])
            .arg(&pages)
            .output()
            .unwrap(),
        "proofkey man",
    );
    for page in [
        "proofkey.1",
        "proofkey-login.1",
        "proofkey-credential-helper.1",
        "proofkey-curl.1",
        "proofkey-client-create.1",
    ] {
        assert!(pages.join(page).exists(), "{page}");
    }
    let render = |page: PathBuf| {
        let out = Command::new("man")
            .arg("-l")
            .arg(page)
            .env("MANWIDTH", "100")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .expect("man must be installed (.ci/run installs it)");
        ok(out, "man")
    };
    let text = render(pages.join("proofkey-login.1"));
    assert!(
        text.contains("--profile") && text.contains("profiles file"),
        "{text}"
    );
    let text = render(pages.join("proofkey.1"));
    assert!(text.contains("credential-helper"), "{text}");
}
