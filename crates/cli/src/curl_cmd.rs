//! `proofkey curl [curl args]`: runs curl with the profile's access token
//! in the `Authorization` header, and a DPoP proof for the request when
//! the token is DPoP-bound (RFC 9449 §7.1).
//!
//! The headers never appear on a command line (which every user of the
//! machine can read in `ps`) nor in the environment: they are written to a
//! pipe, and curl reads them with `-H @/dev/fd/N` from the pipe's read end,
//! which it inherits. The pipe holds them until curl reads them, so
//! nothing touches the disk.
//!
//! The URL is the one argument that is an absolute http(s) URL (or the
//! value of `--url`); several are refused, since curl would send the
//! headers to each. A token goes over plain http only to a loopback host,
//! or with `--allow-insecure-http`. With a DPoP-bound token the proof
//! names the method curl will use: `-X`/`--request`, else HEAD for `-I`,
//! GET for `-G`, PUT for `-T`, POST for a body (`-d`, `--data*`, `--json`,
//! `-F`, `--form*`), else GET.

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use proofkey_client::cache::Cache;
use proofkey_client::token;

#[derive(Debug, Args)]
pub struct CurlArgs {
    /// The profile whose token is sent.
    #[arg(long, default_value = "default")]
    profile: String,
    /// Refresh first unless the token lives at least this much longer.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    min_valid: Option<Duration>,
    /// Send the token over plain http to a host that is not loopback
    /// (anyone on the path can read and use it).
    #[arg(long)]
    allow_insecure_http: bool,
    /// The curl program.
    #[arg(long, env = "PROOFKEY_CURL", default_value = "curl")]
    curl: OsString,
    /// curl's arguments, with one http(s) URL; proofkey's own options
    /// come before them.
    #[arg(required = true, allow_hyphen_values = true, trailing_var_arg = true)]
    args: Vec<OsString>,
}

/// Options whose value may be a URL that is not the request's.
const URL_VALUED: &[&str] = &[
    "-e",
    "--referer",
    "-x",
    "--proxy",
    "--preproxy",
    "--doh-url",
    "-H",
    "--header",
    "--proxy-header",
    "-d",
    "--data",
    "--data-raw",
    "--data-binary",
    "--data-ascii",
    "--data-urlencode",
    "--json",
    "-F",
    "--form",
    "--form-string",
];

/// The request's URL among curl's arguments.
fn request_url(args: &[String]) -> Result<String, String> {
    let mut found = vec![];
    let mut prev: Option<&str> = None;
    for a in args {
        if let Some(u) = a.strip_prefix("--url=") {
            found.push(u.to_owned());
        } else if prev == Some("--url")
            || (!prev.is_some_and(|p| URL_VALUED.contains(&p)) && is_http_url(a))
        {
            found.push(a.clone());
        }
        prev = Some(a);
    }
    match &found[..] {
        [one] if is_http_url(one) => Ok(one.clone()),
        [one] => Err(format!("{one:?} is not an absolute http(s) URL")),
        [] => Err("no http(s) URL among the arguments (write it with its https://)".into()),
        _ => Err(format!(
            "{} URLs ({}); curl would send the token to each: run proofkey curl once per URL",
            found.len(),
            found.join(", ")
        )),
    }
}

fn is_http_url(a: &str) -> bool {
    url::Url::parse(a).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

/// The HTTP method curl will use (see the module's documentation).
fn request_method(args: &[String]) -> String {
    let (mut explicit, mut head, mut get, mut put, mut body) = (None, false, false, false, false);
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            match name {
                "request" => explicit = inline.or_else(|| it.next().cloned()),
                "head" => head = true,
                "get" => get = true,
                "upload-file" => put = true,
                n if n.starts_with("data") || n == "json" || n.starts_with("form") => body = true,
                _ => {}
            }
        } else if let Some(short) = a.strip_prefix('-').filter(|s| !s.is_empty()) {
            // A bundle of short options; a value-taking one ends it.
            for (i, c) in short.char_indices() {
                match c {
                    'X' => {
                        let rest = &short[i + 1..];
                        explicit = if rest.is_empty() {
                            it.next().cloned()
                        } else {
                            Some(rest.to_owned())
                        };
                        break;
                    }
                    'I' => head = true,
                    'G' => get = true,
                    'T' => {
                        put = true;
                        break;
                    }
                    'd' | 'F' => {
                        body = true;
                        break;
                    }
                    _ => {}
                }
            }
        }
    }
    match explicit {
        Some(m) => m,
        None if head => "HEAD".into(),
        None if get => "GET".into(),
        None if put => "PUT".into(),
        None if body => "POST".into(),
        None => "GET".into(),
    }
}

/// Writes `headers` into a new pipe and returns its read end, made
/// inheritable so that the child reads it at `/dev/fd/N`.
#[cfg(unix)]
fn header_pipe(headers: &str) -> std::io::Result<std::io::PipeReader> {
    let (reader, mut writer) = std::io::pipe()?;
    writer.write_all(headers.as_bytes())?;
    drop(writer);
    rustix::io::fcntl_setfd(&reader, rustix::io::FdFlags::empty())?;
    Ok(reader)
}

pub fn run(args: CurlArgs) -> ExitCode {
    let fail = |code: u8, e: &str| {
        eprintln!("proofkey curl: {e}");
        ExitCode::from(code)
    };
    if let Err(e) = proofkey_client::cache::valid_name(&args.profile) {
        return fail(2, &e.to_string());
    }
    let text: Vec<String> = args
        .args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let url = match request_url(&text) {
        Ok(u) => u,
        Err(e) => return fail(2, &e),
    };
    if let Ok(u) = url::Url::parse(&url) {
        let loopback = match u.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(a)) => a.is_loopback(),
            Some(url::Host::Ipv6(a)) => a.is_loopback(),
            None => false,
        };
        if u.scheme() == "http" && !loopback && !args.allow_insecure_http {
            return fail(
                2,
                &format!("not sending the token to {url} over plain http; use https (or --allow-insecure-http)"),
            );
        }
    }
    let method = request_method(&text);
    let min_valid = args
        .min_valid
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let headers = crate::runtime()
        .map_err(|e| proofkey_client::ClientError::Http(e.to_string()))
        .and_then(|rt| {
            rt.block_on(async {
                let http = proofkey_client::http_client()?;
                Cache::new(Cache::default_dir()?)
                    .tokens_valid_for(&http, &args.profile, min_valid, false, false)
                    .await
            })
        })
        .and_then(|p| {
            let t = &p.tokens;
            match t.dpop()? {
                Some(key) => {
                    token::proof(&key, &method, &url, Some(&t.access_token), None).map(|proof| {
                        format!("Authorization: DPoP {}\nDPoP: {proof}\n", t.access_token)
                    })
                }
                None => Ok(format!("Authorization: Bearer {}\n", t.access_token)),
            }
        });
    let headers = match headers {
        Ok(h) => h,
        Err(e) => return fail(1, &e.to_string()),
    };
    run_curl(&args.curl, &args.args, &headers)
}

#[cfg(unix)]
fn run_curl(curl: &OsString, args: &[OsString], headers: &str) -> ExitCode {
    use std::os::fd::AsRawFd as _;
    let reader = match header_pipe(headers) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("proofkey curl: cannot make a pipe for the headers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut cmd = std::process::Command::new(curl);
    cmd.arg("-H")
        .arg(format!("@/dev/fd/{}", reader.as_raw_fd()))
        .args(args);
    let status = cmd.status();
    drop(reader);
    match status {
        Ok(s) => match s.code() {
            Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
            None => ExitCode::FAILURE,
        },
        Err(e) => {
            eprintln!("proofkey curl: cannot run {}: {e}", curl.to_string_lossy());
            ExitCode::from(if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                1
            })
        }
    }
}

#[cfg(not(unix))]
fn run_curl(_curl: &OsString, _args: &[OsString], _headers: &str) -> ExitCode {
    eprintln!("proofkey curl: only on Unix (it hands curl the headers through a pipe)");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn finds_the_one_url() {
        let url = |a: &[&str]| request_url(&v(a));
        assert_eq!(
            url(&["-sS", "https://a.example/x?y"]).unwrap(),
            "https://a.example/x?y"
        );
        assert_eq!(
            url(&["-e", "https://ref.example", "https://a.example/"]).unwrap(),
            "https://a.example/"
        );
        assert_eq!(
            url(&["-d", "u=https://b.example", "--url", "https://a.example/"]).unwrap(),
            "https://a.example/"
        );
        assert_eq!(
            url(&["--url=https://a.example/"]).unwrap(),
            "https://a.example/"
        );
        assert!(url(&["https://a.example/", "https://b.example/"]).is_err());
        assert!(url(&["a.example/x"]).is_err());
        assert!(url(&["--url", "ftp://a.example/"]).is_err());
    }

    #[test]
    fn knows_the_method() {
        let m = |a: &[&str]| request_method(&v(a));
        assert_eq!(m(&["https://a"]), "GET");
        assert_eq!(m(&["-X", "DELETE", "https://a"]), "DELETE");
        assert_eq!(m(&["-XPATCH", "https://a"]), "PATCH");
        assert_eq!(m(&["--request=PUT", "https://a"]), "PUT");
        assert_eq!(m(&["-sI", "https://a"]), "HEAD");
        assert_eq!(m(&["-d", "x=1", "https://a"]), "POST");
        assert_eq!(m(&["--json", "{}", "https://a"]), "POST");
        assert_eq!(m(&["-sSd@file", "https://a"]), "POST");
        assert_eq!(m(&["-G", "-d", "q=1", "https://a"]), "GET");
        assert_eq!(m(&["-T", "f", "https://a"]), "PUT");
        assert_eq!(m(&["-F", "a=b", "-X", "PUT", "https://a"]), "PUT");
    }
}
