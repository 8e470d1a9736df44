//! `proofkey curl [OPTIONS] URL [CURL ARGS]`: runs curl with the profile's
//! access token in the `Authorization` header, and a DPoP proof for the
//! request when the token is DPoP-bound (RFC 9449 §7.1).
//!
//! The headers never appear on a command line (which every user of the
//! machine can read in `ps`) nor in the environment: they are written to a
//! pipe, and curl reads them with `-H @/dev/fd/N` from the pipe's read end,
//! which it inherits. Nothing touches the disk.
//!
//! The token must reach the one URL that was checked, and no other:
//! * The URL is proofkey's own argument, parsed and handed to curl in its
//!   normal form (`--url`), so that curl and the check read the same host
//!   (a `\` or `@` cannot make them disagree), with `--globoff` (no
//!   `{a,b}` expansion) and `-q` first (no `~/.curlrc`, which could add
//!   URLs).
//! * curl's arguments are read with curl's own option table (`curl --help
//!   all`; bundles are understood, abbreviations refused): an argument that
//!   is neither an option nor an option's value would be another URL, and
//!   is refused, as are `--url`, `-K`/`--config`, `-:`/`--next` and
//!   `--location-trusted`.
//! * Plain http only to a loopback host, unless `--allow-insecure-http`;
//!   an https URL's redirects stay on https (`--proto-redir =https`).
//!
//! Plain http to loopback must stay on the machine: no proxy from the
//! environment (`--noproxy '*'`), and routing options (`--proxy`,
//! `--connect-to`, `--resolve`, ...) are refused with it; with https they
//! are honoured as given (a proxy sees a CONNECT, not the header). The
//! fixed options come after the user's, so that none turns them off.
//!
//! With a DPoP-bound token the proof names the method curl will use:
//! `-X`/`--request`, else HEAD for `-I`, GET for `-G`, PUT for `-T`, POST
//! for a body (`-d`, `--data*`, `--json`, `-F`, `--form`, `--form-string`),
//! else GET; `--request-target` is refused with such a token (the proof
//! would name another URL).

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use crate::login_cmd::{block_on, min_valid_secs, valid_for};
use clap::Args;
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
    /// The URL (absolute, http or https); the token goes there only.
    url: String,
    /// curl's options, without another URL.
    #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
    args: Vec<OsString>,
}

/// curl's options, from `curl --help all`: long name (without `--`) to
/// whether it takes a value, and the same for the one-letter forms.
#[derive(Debug, Default)]
struct CurlOptions {
    long: HashMap<String, bool>,
    short: HashMap<char, (String, bool)>,
}

impl CurlOptions {
    /// Reads the table from lines like ` -d, --data <data>  HTTP POST data`
    /// and `     --compressed   Request compressed response`.
    fn parse(help: &str) -> CurlOptions {
        let mut t = CurlOptions::default();
        for line in help.lines() {
            let mut words = line.split_whitespace();
            let Some(first) = words.next() else { continue };
            let (short, long) = match first.strip_prefix("--") {
                Some(long) => (None, long),
                None => match (first.strip_prefix('-'), words.next()) {
                    (Some(s), Some(long)) if s.len() == 2 && s.ends_with(',') => {
                        match long.strip_prefix("--") {
                            Some(long) => (s.chars().next(), long),
                            None => continue,
                        }
                    }
                    _ => continue,
                },
            };
            // `<data>`, or `[protocol://]host[:port]` (--proxy, --preproxy).
            let value = words
                .next()
                .is_some_and(|w| w.starts_with('<') || w.starts_with('['));
            t.long.insert(long.to_owned(), value);
            if let Some(c) = short {
                t.short.insert(c, (long.to_owned(), value));
            }
        }
        t
    }

    /// The long option `name` is, whether it takes a value, and whether
    /// it is on (`no-X` turns a switch X off). Exact names only: curl also
    /// takes abbreviations, but it knows options that `--help all` does
    /// not list (`--keepalive`), so an abbreviation could be read as
    /// another option than curl reads, with or without a value.
    fn resolve(&self, name: &str) -> Option<(String, bool, bool)> {
        if let Some(v) = self.long.get(name) {
            return Some((name.to_owned(), *v, true));
        }
        let switch = name.strip_prefix("no-")?;
        (self.long.get(switch) == Some(&false)).then(|| (switch.to_owned(), false, false))
    }
}

/// What curl's arguments ask for, as far as the token is concerned.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    /// The method curl will use.
    method: String,
    /// `--request-target` was given.
    request_target: bool,
    /// An option that sends the request somewhere else than the URL's
    /// host ([`ROUTING`]).
    rerouted: bool,
}

/// Options that send the request through or to another host: with a plain
/// http URL the token would leave the loopback interface in clear text.
const ROUTING: &[&str] = &[
    "proxy",
    "preproxy",
    "socks4",
    "socks4a",
    "socks5",
    "socks5-hostname",
    "connect-to",
    "resolve",
    "noproxy",
];

/// Options that would take the token elsewhere, or that proofkey sets.
const REFUSED: &[&str] = &["url", "config", "next", "location-trusted"];

/// Reads curl's arguments (no URL among them) with its option table.
fn read_args(args: &[String], table: &CurlOptions) -> Result<Request, String> {
    let mut explicit = None;
    let (mut head, mut get, mut put, mut form, mut data, mut target, mut rerouted) =
        (false, false, false, false, false, false, false);
    let mut it = args.iter();
    let mut seen = |long: &str, value: Option<&str>, on: bool| -> Result<(), String> {
        if REFUSED.contains(&long) {
            return Err(format!(
                "--{long} is not allowed: the URL is proofkey curl's first argument, and only it gets the token"
            ));
        }
        match long {
            "request" => explicit = value.map(str::to_owned),
            "head" => head = on,
            "get" => get = on,
            "upload-file" => put = true,
            "request-target" => target = true,
            "form" | "form-string" => form = true,
            "data" | "data-ascii" | "data-binary" | "data-raw" | "data-urlencode" | "json" => {
                data = true
            }
            l if ROUTING.contains(&l) => rerouted = true,
            _ => {}
        }
        Ok(())
    };
    while let Some(a) = it.next() {
        if let Some(name) = a.strip_prefix("--") {
            let Some((long, takes, on)) = table.resolve(name) else {
                return Err(format!(
                    "{a}: not a curl option (write options in full: abbreviations are refused)"
                ));
            };
            let value = if takes {
                Some(
                    it.next()
                        .ok_or_else(|| format!("{a} needs a value"))?
                        .as_str(),
                )
            } else {
                None
            };
            seen(&long, value, on)?;
        } else if let Some(bundle) = a.strip_prefix('-').filter(|b| !b.is_empty()) {
            for (i, c) in bundle.char_indices() {
                let Some((long, takes)) = table.short.get(&c) else {
                    return Err(format!("-{c} (in {a}): not a curl option"));
                };
                if *takes {
                    let rest = &bundle[i + c.len_utf8()..];
                    let value = if rest.is_empty() {
                        it.next()
                            .ok_or_else(|| format!("-{c} needs a value"))?
                            .as_str()
                    } else {
                        rest
                    };
                    seen(long, Some(value), true)?;
                    break;
                }
                seen(long, None, true)?;
            }
        } else {
            return Err(format!(
                "{a:?} is not a curl option: give one URL, as proofkey curl's first argument (curl would send the token to every URL)"
            ));
        }
    }
    // As curl decides: -X, then an upload, -I, a form; -G makes a body
    // a query; a body is a POST.
    let method = match explicit {
        Some(m) => m,
        None if put => "PUT".into(),
        None if head => "HEAD".into(),
        None if form => "POST".into(),
        None if data && !get => "POST".into(),
        None => "GET".into(),
    };
    Ok(Request {
        method,
        request_target: target,
        rerouted,
    })
}

/// `curl --help all`, read into its option table.
fn curl_options(curl: &OsString) -> Result<CurlOptions, String> {
    let out = std::process::Command::new(curl)
        .args(["--help", "all"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", curl.to_string_lossy()))?;
    let table = CurlOptions::parse(&String::from_utf8_lossy(&out.stdout));
    if !table.long.contains_key("header") || !table.long.contains_key("globoff") {
        return Err(format!(
            "{} --help all lists no options; proofkey curl needs curl 7.73 or later",
            curl.to_string_lossy()
        ));
    }
    Ok(table)
}

use proofkey_core::redirect_uri::is_loopback_host as is_loopback;

pub fn run(args: CurlArgs) -> ExitCode {
    let fail = |code: u8, e: &str| {
        eprintln!("proofkey curl: {e}");
        ExitCode::from(code)
    };
    if let Err(e) = proofkey_client::cache::valid_name(&args.profile) {
        return fail(2, &e.to_string());
    }
    let url = match url::Url::parse(&args.url) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some_and(|h| !h.is_empty() && !h.contains(['{', '}'])) =>
        {
            u
        }
        _ => {
            return fail(
                2,
                &format!("{:?} is not an absolute http(s) URL; it comes first, e.g. proofkey curl https://api.example.com/items -sS", args.url),
            )
        }
    };
    if url.scheme() == "http" && !is_loopback(&url) && !args.allow_insecure_http {
        return fail(
            2,
            &format!("not sending the token to {url} over plain http; use https (or --allow-insecure-http)"),
        );
    }
    let text: Vec<String> = args
        .args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let request = match curl_options(&args.curl).and_then(|t| read_args(&text, &t)) {
        Ok(r) => r,
        Err(e) => return fail(2, &e),
    };
    // Plain http is allowed for loopback because it stays on the machine:
    // so it must not be routed off it, by an option or by a proxy
    // variable (http_proxy, ALL_PROXY).
    let plain = url.scheme() == "http" && !args.allow_insecure_http;
    if plain && request.rerouted {
        return fail(
            2,
            "a proxy or --connect-to/--resolve would take the token off this machine over plain http; use https (or --allow-insecure-http)",
        );
    }
    let headers = block_on(async {
        let p = valid_for(&args.profile, min_valid_secs(args.min_valid), false, false).await?;
        let t = &p.tokens;
        match t.dpop()? {
            Some(_) if request.request_target => Err(proofkey_client::ClientError::Dpop(
                "--request-target with a DPoP-bound token: the proof would name another URL".into(),
            )),
            Some(key) => token::proof(
                &key,
                &request.method,
                url.as_str(),
                Some(&t.access_token),
                None,
            )
            .map(|proof| format!("Authorization: DPoP {}\nDPoP: {proof}\n", t.access_token)),
            None => Ok(format!("Authorization: Bearer {}\n", t.access_token)),
        }
    });
    let headers = match headers {
        Ok(h) => h,
        Err(e) => return fail(1, &e),
    };
    // After the user's options, so that none of them turns these off.
    let mut fixed: Vec<OsString> = vec!["--globoff".into()];
    if url.scheme() == "https" {
        fixed.extend(["--proto-redir".into(), "=https".into()]);
    }
    if plain {
        fixed.extend(["--noproxy".into(), "*".into()]);
    }
    fixed.extend(["--url".into(), url.as_str().into()]);
    run_curl(&args.curl, &fixed, &args.args, &headers)
}

/// Runs curl with `-q` first, then `-H @/dev/fd/N` (the headers, written
/// into the pipe once curl runs: however long they are, nothing blocks
/// before curl reads them), the user's `args`, and `fixed` last. curl's exit
/// status is ours; killed by signal n, 128 + n, as shells say.
#[cfg(unix)]
fn run_curl(curl: &OsString, fixed: &[OsString], args: &[OsString], headers: &str) -> ExitCode {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::process::ExitStatusExt as _;
    let fail = |e: String| {
        eprintln!("proofkey curl: {e}");
        ExitCode::FAILURE
    };
    // The read end is made inheritable; the write end stays close-on-exec,
    // so that curl sees the end of the headers when we close it.
    let (reader, mut writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return fail(format!("cannot make a pipe for the headers: {e}")),
    };
    if let Err(e) = rustix::io::fcntl_setfd(&reader, rustix::io::FdFlags::empty()) {
        return fail(format!("cannot hand the pipe to curl: {e}"));
    }
    let mut cmd = std::process::Command::new(curl);
    cmd.arg("-q")
        .arg("-H")
        .arg(format!("@/dev/fd/{}", reader.as_raw_fd()))
        .args(args)
        .args(fixed);
    let child = cmd.spawn();
    drop(reader);
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                1
            };
            eprintln!("proofkey curl: cannot run {}: {e}", curl.to_string_lossy());
            return ExitCode::from(code);
        }
    };
    // curl may have stopped before reading (a bad option): its status
    // says why, not the broken pipe.
    let _ = writer.write_all(headers.as_bytes());
    drop(writer);
    match child.wait() {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
            (None, Some(sig)) => ExitCode::from(u8::try_from(128 + sig).unwrap_or(1)),
            (None, None) => ExitCode::FAILURE,
        },
        Err(e) => fail(format!("curl: {e}")),
    }
}

#[cfg(not(unix))]
fn run_curl(_curl: &OsString, _fixed: &[OsString], _args: &[OsString], _headers: &str) -> ExitCode {
    eprintln!("proofkey curl: only on Unix (it hands curl the headers through a pipe)");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few lines of curl 7.88's `--help all`.
    const HELP: &str = "Usage: curl [options...] <url>
 -a, --append             Append to target file when uploading
 -d, --data <data>        HTTP POST data
     --data-binary <data> HTTP POST binary data
     --form-escape        Escape multipart form field/file names using backslash
 -F, --form <name=content> Specify multipart MIME data
 -G, --get                Put the post data in the URL and use GET
 -H, --header <header/@file> Pass custom header(s) to server
 -I, --head               Show document info only
     --json <data>        HTTP POST JSON
 -K, --config <file>      Read config from a file
     --keepalive-time <seconds> Interval time for keepalive probes
 -L, --location           Follow redirects
     --location-trusted   Like --location, and send auth to other hosts
 -:, --next               Make next URL use its separate set of options
 -o, --output <file>      Write to file instead of stdout
 -e, --referer <URL>      Referrer URL
 -X, --request <method>   Specify request command to use
     --request-target <path> Specify the target for this request
 -s, --silent             Silent mode
 -S, --show-error         Show error even with -s
 -T, --upload-file <file> Transfer local FILE to destination
     --url <url>          URL to work with
 -x, --proxy [protocol://]host[:port] Use this proxy
     --globoff            Disable URL sequences and ranges using {} and []
";

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn reads_curls_table() {
        let t = CurlOptions::parse(HELP);
        assert_eq!(t.long.get("data"), Some(&true));
        assert_eq!(t.long.get("silent"), Some(&false));
        assert_eq!(t.short.get(&'X'), Some(&("request".to_owned(), true)));
        assert_eq!(t.short.get(&':'), Some(&("next".to_owned(), false)));
        assert_eq!(
            t.resolve("referer"),
            Some(("referer".to_owned(), true, true))
        );
        assert_eq!(
            t.resolve("no-silent"),
            Some(("silent".to_owned(), false, false))
        );
        assert_eq!(t.resolve("no-data"), None, "takes a value: no no- form");
        assert_eq!(t.resolve("refer"), None, "no abbreviations");
        assert_eq!(t.resolve("keepalive"), None, "curl's unlisted switch");
        assert_eq!(t.resolve("nope"), None);
    }

    #[test]
    fn knows_the_method_and_refuses_other_urls() {
        let t = CurlOptions::parse(HELP);
        let m = |a: &[&str]| read_args(&v(a), &t).map(|r| r.method);
        assert_eq!(m(&[]).unwrap(), "GET");
        assert_eq!(m(&["-X", "DELETE"]).unwrap(), "DELETE");
        assert_eq!(m(&["-XPATCH"]).unwrap(), "PATCH");
        assert_eq!(m(&["-sI"]).unwrap(), "HEAD");
        assert_eq!(m(&["-d", "x=1"]).unwrap(), "POST");
        assert_eq!(m(&["--json", "{}"]).unwrap(), "POST");
        assert_eq!(m(&["-sSd@file"]).unwrap(), "POST");
        assert_eq!(m(&["-G", "-d", "q=1"]).unwrap(), "GET");
        assert_eq!(m(&["-T", "f"]).unwrap(), "PUT");
        assert_eq!(m(&["-F", "a=b", "-X", "PUT"]).unwrap(), "PUT");
        // Values of bundled options are values, not flags.
        assert_eq!(m(&["-HX-Request-Id:1"]).unwrap(), "GET");
        assert_eq!(m(&["-oIMG.png"]).unwrap(), "GET");
        assert_eq!(m(&["-odata.json"]).unwrap(), "GET");
        assert_eq!(m(&["--form-escape"]).unwrap(), "GET");
        assert_eq!(m(&["--referer", "https://x.example", "-s"]).unwrap(), "GET");
        assert_eq!(m(&["-sx", "http://proxy.example:3128"]).unwrap(), "GET");
        // Switched off, and in curl's order.
        assert_eq!(m(&["-I", "--no-head"]).unwrap(), "GET");
        assert_eq!(m(&["-d", "x", "-G", "--no-get"]).unwrap(), "POST");
        assert_eq!(m(&["-G", "-T", "f"]).unwrap(), "PUT");
        assert_eq!(m(&["-F", "a=b", "-G"]).unwrap(), "POST");
        let routed = |a: &[&str]| read_args(&v(a), &t).unwrap().rerouted;
        assert!(routed(&["-x", "http://proxy.example:3128"]));
        assert!(!routed(&["-s", "--referer", "https://x.example"]));
        assert!(
            read_args(&v(&["--request-target", "/x"]), &t)
                .unwrap()
                .request_target
        );
        // Anything that would be another URL, or bring one in.
        for bad in [
            &["evil.example/x"][..],
            &["https://evil.example/"],
            &["-s", "https://{a,b}.example/"],
            &["--refer", "https://x.example", "evil.example"],
            &["--url", "https://evil.example/"],
            &["-K", "file"],
            &["-sK", "file"],
            &["--conf", "file"],
            &["--keepalive", "evil.example/x"],
            &["--refer", "https://x.example"],
            &["-:"],
            &["--location-trusted"],
            &["--re", "GET"],
            &["--url=https://evil.example/"],
            &["-d"],
            &["-Z"],
        ] {
            assert!(read_args(&v(bad), &t).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_installed_curls_table_is_read() {
        // curl is required by the tests (.ci/run installs it).
        let t = curl_options(&"curl".into()).unwrap();
        assert_eq!(t.resolve("data"), Some(("data".to_owned(), true, true)));
        assert_eq!(t.short.get(&'s'), Some(&("silent".to_owned(), false)));
        assert!(t.long.len() > 150, "{}", t.long.len());
    }
}
