//! Discovery, the one sign-in, and the timed loops of each scenario.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use proofkey_pkce::{CodeChallenge, CodeVerifier, DEFAULT_ENTROPY_BYTES};
use reqwest::header::{AUTHORIZATION, COOKIE, LOCATION};
use serde::Serialize;
use serde_json::Value;
use url::Url;

use crate::{Args, Error, Scenario};
use proofkey_audit::forms::{FormAgent, Landing};

/// What every client shares: the connection pool, the endpoints, and the
/// signed-in session.
#[derive(Debug)]
struct Target {
    http: reqwest::Client,
    issuer: String,
    authorization_endpoint: Url,
    token_endpoint: String,
    introspection_endpoint: Option<String>,
    iss_parameter: bool,
    client_id: String,
    redirect_uri: String,
    /// `Authorization: Basic` of the confidential client, RFC 6749 §2.3.1
    /// (id and secret form-urlencoded first).
    confidential_basic: Option<String>,
    cookie: String,
    /// The key of the DPoP scenarios' proofs.
    dpop: proofkey_dpop::DpopKey,
}

/// One JSON line per scenario.
#[derive(Debug, Serialize)]
struct Report {
    label: String,
    scenario: String,
    concurrency: usize,
    duration_s: f64,
    ops: u64,
    /// Operations completed in the warm-up (not in `ops`): with `ops`, what
    /// the server did in the whole run, for counters read around it.
    warmup_ops: u64,
    ops_per_sec: f64,
    errors: u64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// CPU time of the `--server-pid` processes in the measured window,
    /// per measured operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    server_cpu_us_per_op: Option<f64>,
    /// The same for the `--db-comm` processes.
    #[serde(skip_serializing_if = "Option::is_none")]
    db_cpu_us_per_op: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_error: Option<String>,
}

/// Clock ticks per second of `/proc/PID/stat`'s times: Linux's `USER_HZ`,
/// 100 on every architecture it exports to user space.
const USER_HZ: f64 = 100.0;

/// User plus system CPU time of one process (all its threads), in ticks;
/// `None` when it is gone or unreadable.
fn cpu_ticks(pid: u32) -> Option<u64> {
    stat_cpu_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// utime + stime of a `/proc/PID/stat` line (proc(5)).
fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The name (field 2) is in parentheses and may hold spaces and
    // parentheses; utime and stime are fields 14 and 15, the 12th and 13th
    // after it.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split(' ').skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The CPU ticks of the watched processes: the `--server-pid`s, and every
/// process named `--db-comm`.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    server: u64,
    db: u64,
}

fn cpu_sample(args: &Args) -> CpuSample {
    let server = args.server_pids.iter().filter_map(|p| cpu_ticks(*p)).sum();
    let db = match &args.db_comm {
        None => 0,
        Some(name) => std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim_end() == name)
            })
            .filter_map(cpu_ticks)
            .sum(),
    };
    CpuSample { server, db }
}

pub async fn run(args: &Args) -> Result<(), Error> {
    if args.concurrency == 0 {
        return Err(Error::Usage("--concurrency must be at least 1".into()));
    }
    let needs_confidential = args
        .scenarios
        .iter()
        .any(|s| matches!(s, Scenario::Introspect | Scenario::ClientCredentials));
    let confidential_basic = match (&args.confidential_id, &args.confidential_secret) {
        (Some(id), Some(secret)) => Some(basic(id, secret)),
        (None, None) if !needs_confidential => None,
        _ => return Err(Error::Usage(
            "introspect and client-credentials need --confidential-id and --confidential-secret"
                .into(),
        )),
    };
    let mut targets = Vec::new();
    for issuer in &args.issuers {
        targets.push(Arc::new(
            connect(args, issuer, confidential_basic.clone()).await?,
        ));
    }
    for &scenario in &args.scenarios {
        let report = match scenario {
            Scenario::Flow | Scenario::FlowOpenid | Scenario::FlowDpop => {
                let scope = if scenario == Scenario::FlowOpenid {
                    args.openid_scope.clone()
                } else {
                    args.flow_scope.clone()
                };
                let scope = Arc::new(scope);
                let dpop = scenario == Scenario::FlowDpop;
                measure_each(args, scenario, &targets, move |t| {
                    let scope = scope.clone();
                    async move { t.flow(&scope, &[], dpop).await.map(drop) }
                })
                .await
            }
            Scenario::Refresh | Scenario::RefreshDpop => {
                let extra = Arc::new(refresh_params(args)?);
                let scope = Arc::new(args.refresh_scope.clone());
                let chains: Vec<Option<String>> = vec![None; args.concurrency];
                let dpop = scenario == Scenario::RefreshDpop;
                measure(args, scenario, &targets, chains, move |t, chain| {
                    let (scope, extra) = (scope.clone(), extra.clone());
                    async move { t.refresh_step(chain, &scope, &extra, dpop).await }
                })
                .await
            }
            Scenario::Introspect => {
                // One access token per node; each client introspects its
                // node's.
                let mut tokens = Vec::new();
                for t in &targets {
                    if t.introspection_endpoint.is_none() {
                        return Err(Error::Protocol(
                            "discovery has no introspection_endpoint".into(),
                        ));
                    }
                    let token = t.flow(&args.flow_scope, &[], false).await?;
                    tokens.push(Arc::new(string(&token, "access_token")?));
                }
                let states = (0..args.concurrency)
                    .map(|i| tokens[i % tokens.len()].clone())
                    .collect();
                measure(args, scenario, &targets, states, |t, at| async move {
                    let endpoint = t.introspection_endpoint.as_deref().unwrap_or_default();
                    let done = t.introspect(endpoint, &at).await.map(|()| true);
                    (at, done)
                })
                .await
            }
            Scenario::ClientCredentials => {
                measure_each(args, scenario, &targets, |t| async move {
                    t.client_credentials().await
                })
                .await
            }
        };
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| Error::Protocol(e.to_string()))?
        );
    }
    Ok(())
}

/// Discovers `issuer`, signs in once through its forms and consents once to
/// each scope set the scenarios use; every later request rides on this
/// session.
async fn connect(
    args: &Args,
    issuer: &str,
    confidential_basic: Option<String>,
) -> Result<Target, Error> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.concurrency * 2)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let meta = discover(&http, issuer).await?;
    let endpoint = |name: &str| meta.get(name).and_then(Value::as_str).map(str::to_owned);
    let authorization_endpoint = endpoint("authorization_endpoint")
        .ok_or_else(|| Error::Protocol("discovery has no authorization_endpoint".into()))?;
    let mut target = Target {
        http,
        issuer: issuer.to_owned(),
        authorization_endpoint: Url::parse(&authorization_endpoint)
            .map_err(|e| Error::Protocol(format!("authorization_endpoint: {e}")))?,
        token_endpoint: endpoint("token_endpoint")
            .ok_or_else(|| Error::Protocol("discovery has no token_endpoint".into()))?,
        introspection_endpoint: endpoint("introspection_endpoint"),
        iss_parameter: meta["authorization_response_iss_parameter_supported"] == Value::Bool(true),
        client_id: args.client_id.clone(),
        redirect_uri: args.redirect_uri.clone(),
        confidential_basic,
        cookie: String::new(),
        dpop: proofkey_dpop::DpopKey::generate()
            .map_err(|e| Error::Protocol(format!("a DPoP key: {e}")))?,
    };

    // Sign in once through the forms, and consent once to each scope set
    // the scenarios use; every later request rides on this session.
    let mut agent = FormAgent::new(target.http.clone(), &args.username, &args.password);
    let mut scopes: Vec<(&str, Vec<(String, String)>)> = Vec::new();
    for s in &args.scenarios {
        let want = match s {
            Scenario::Flow | Scenario::FlowDpop | Scenario::Introspect => {
                (args.flow_scope.as_str(), Vec::new())
            }
            Scenario::FlowOpenid => (args.openid_scope.as_str(), Vec::new()),
            Scenario::Refresh | Scenario::RefreshDpop => {
                (args.refresh_scope.as_str(), refresh_params(args)?)
            }
            Scenario::ClientCredentials => continue,
        };
        if !scopes.contains(&want) {
            scopes.push(want);
        }
    }
    for (scope, extra) in &scopes {
        let (verifier, url, state) = target.authorization_request(scope, extra);
        let landing = agent
            .walk(url, |u| u.as_str().starts_with(&args.redirect_uri))
            .await
            .map_err(|e| Error::Protocol(format!("signing in: {e}")))?;
        let redirect = match landing {
            Landing::Redirect(r) => r,
            Landing::Page { url, status, text } => {
                return Err(Error::Protocol(format!(
                    "signing in: stopped at {url} (HTTP {status}): {text}"
                )))
            }
        };
        target.cookie = agent.cookie_header().unwrap_or_default();
        let code = target.code_from(&redirect, &state)?;
        target.redeem(&code, verifier, false).await?;
    }

    Ok(target)
}

fn refresh_params(args: &Args) -> Result<Vec<(String, String)>, Error> {
    args.refresh_params
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| Error::Usage(format!("--refresh-param {p}: expected k=v")))
        })
        .collect()
}

/// RFC 8414 §3 / OIDC Discovery §4: OpenID's document first, then OAuth's.
async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Value, Error> {
    let base = issuer.trim_end_matches('/');
    let mut last = String::new();
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let resp = http.get(format!("{base}{path}")).send().await?;
        if resp.status().is_success() {
            return Ok(resp.json().await?);
        }
        last = format!("{base}{path}: {}", resp.status());
    }
    Err(Error::Protocol(format!("no discovery document ({last})")))
}

fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn random_state() -> String {
    let mut b = [0u8; 16];
    // The state only has to be unpredictable to other parties; a failing
    // OS RNG would make the verifier fail first anyway.
    let _ = getrandom::fill(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn string(v: &Value, name: &str) -> Result<String, Error> {
    v.get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::Protocol(format!("no {name} in {v}")))
}

async fn json_ok(resp: reqwest::Response, what: &str) -> Result<Value, Error> {
    let status = resp.status();
    let body = resp.bytes().await?;
    if !status.is_success() {
        return Err(Error::Protocol(format!(
            "{what}: {status} {}",
            String::from_utf8_lossy(&body)
        )));
    }
    serde_json::from_slice(&body).map_err(|e| Error::Protocol(format!("{what}: {e}")))
}

impl Target {
    /// A fresh RFC 7636 §4.1 verifier (OS CSPRNG), its S256 challenge, and
    /// the authorization request URL (RFC 6749 §4.1.1).
    fn authorization_request(
        &self,
        scope: &str,
        extra: &[(String, String)],
    ) -> (CodeVerifier, Url, String) {
        let verifier = CodeVerifier::try_generate(DEFAULT_ENTROPY_BYTES)
            .unwrap_or_else(|_| CodeVerifier::generate());
        let state = random_state();
        let mut url = self.authorization_endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("state", &state)
                .append_pair("code_challenge", &CodeChallenge::s256(&verifier).as_str())
                .append_pair("code_challenge_method", "S256");
            if !scope.is_empty() {
                q.append_pair("scope", scope);
            }
            for (k, v) in extra {
                q.append_pair(k, v);
            }
        }
        (verifier, url, state)
    }

    /// The code of an authorization response, with `state` and (RFC 9207)
    /// `iss` checked.
    fn code_from(&self, redirect: &Url, state: &str) -> Result<String, Error> {
        let (mut code, mut got_state, mut iss, mut error) = (None, None, None, None);
        for (k, v) in redirect.query_pairs() {
            match &*k {
                "code" => code = Some(v.into_owned()),
                "state" => got_state = Some(v.into_owned()),
                "iss" => iss = Some(v.into_owned()),
                "error" => error = Some(redirect.query().unwrap_or_default().to_owned()),
                _ => {}
            }
        }
        if let Some(e) = error {
            return Err(Error::Protocol(format!("authorization error: {e}")));
        }
        if got_state.as_deref() != Some(state) {
            return Err(Error::Protocol("state mismatch in the redirect".into()));
        }
        if self.iss_parameter && iss.as_deref() != Some(self.issuer.as_str()) {
            return Err(Error::Protocol(format!("iss mismatch: {iss:?}")));
        }
        code.ok_or_else(|| Error::Protocol(format!("no code in {redirect}")))
    }

    /// RFC 6749 §4.1.3 with RFC 7636 §4.5: the code and its verifier.
    async fn redeem(&self, code: &str, verifier: CodeVerifier, dpop: bool) -> Result<Value, Error> {
        let resp = self
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", &self.redirect_uri),
                    ("client_id", &self.client_id),
                    ("code_verifier", verifier.secret()),
                ],
                dpop,
            )
            .await?;
        let v = json_ok(resp, "token (authorization_code)").await?;
        string(&v, "access_token")?;
        if dpop && v["token_type"] != "DPoP" {
            return Err(Error::Protocol(format!(
                "a DPoP proof was sent, but the token is {}",
                v["token_type"]
            )));
        }
        Ok(v)
    }

    /// A token request, with a DPoP proof when `dpop` (RFC 9449 §5), and
    /// once more with the server's nonce if it answers `use_dpop_nonce`
    /// (§8). The nonce is not kept between requests: a server that demands
    /// nonces costs a round trip more per request, measured as such.
    async fn token_request(
        &self,
        form: &[(&str, &str)],
        dpop: bool,
    ) -> Result<reqwest::Response, Error> {
        let mut nonce: Option<String> = None;
        loop {
            let mut req = self.http.post(&self.token_endpoint).form(form);
            if dpop {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                let proof = self
                    .dpop
                    .proof("POST", &self.token_endpoint, None, nonce.as_deref(), now)
                    .map_err(|e| Error::Protocol(format!("a DPoP proof: {e}")))?;
                req = req.header(proofkey_dpop::HEADER, proof);
            }
            let resp = req.send().await?;
            let offered = resp
                .headers()
                .get(proofkey_dpop::NONCE_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            match offered {
                Some(n) if dpop && nonce.is_none() && resp.status() == 400 => nonce = Some(n),
                _ => return Ok(resp),
            }
        }
    }

    /// One complete flow on the signed-in session: authorize, then redeem.
    async fn flow(
        &self,
        scope: &str,
        extra: &[(String, String)],
        dpop: bool,
    ) -> Result<Value, Error> {
        let (verifier, url, state) = self.authorization_request(scope, extra);
        let resp = self
            .http
            .get(url)
            .header(COOKIE, &self.cookie)
            .send()
            .await?;
        let status = resp.status();
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let body = resp.bytes().await?;
        let location = match location {
            Some(l) if status.is_redirection() => l,
            _ => {
                return Err(Error::Protocol(format!(
                    "authorize: {status} where a redirect with a code was due: {}",
                    String::from_utf8_lossy(&body)
                        .chars()
                        .take(200)
                        .collect::<String>()
                )))
            }
        };
        let redirect = self
            .authorization_endpoint
            .join(&location)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        if !redirect.as_str().starts_with(&self.redirect_uri) {
            return Err(Error::Protocol(format!(
                "authorize redirected to {redirect}, not to the client"
            )));
        }
        let code = self.code_from(&redirect, &state)?;
        self.redeem(&code, verifier, dpop).await
    }

    /// One link of a refresh chain (RFC 6749 §6); a client without a chain
    /// (or whose chain broke) starts one with an unmeasured flow.
    async fn refresh_step(
        &self,
        chain: Option<String>,
        scope: &str,
        extra: &[(String, String)],
        dpop: bool,
    ) -> (Option<String>, Result<bool, Error>) {
        let Some(rt) = chain else {
            return match self.flow(scope, extra, dpop).await {
                Ok(v) => match string(&v, "refresh_token") {
                    Ok(rt) => (Some(rt), Ok(false)),
                    Err(e) => (None, Err(e)),
                },
                Err(e) => (None, Err(e)),
            };
        };
        let sent = self
            .token_request(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                    ("client_id", &self.client_id),
                ],
                dpop,
            )
            .await;
        let result = match sent {
            Ok(resp) => json_ok(resp, "token (refresh_token)").await,
            Err(e) => Err(e),
        };
        match result {
            // A server that does not rotate answers without a new one.
            Ok(v) => (Some(string(&v, "refresh_token").unwrap_or(rt)), Ok(true)),
            Err(e) => (None, Err(e)),
        }
    }

    /// RFC 7662 §2.1, by the confidential client.
    async fn introspect(&self, endpoint: &str, token: &str) -> Result<(), Error> {
        let resp = self
            .http
            .post(endpoint)
            .header(
                AUTHORIZATION,
                self.confidential_basic.as_deref().unwrap_or(""),
            )
            .form(&[("token", token)])
            .send()
            .await?;
        let v = json_ok(resp, "introspection").await?;
        if v["active"] != Value::Bool(true) {
            return Err(Error::Protocol(format!("token not active: {v}")));
        }
        Ok(())
    }

    /// RFC 6749 §4.4.2.
    async fn client_credentials(&self) -> Result<(), Error> {
        let resp = self
            .http
            .post(&self.token_endpoint)
            .header(
                AUTHORIZATION,
                self.confidential_basic.as_deref().unwrap_or(""),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await?;
        string(
            &json_ok(resp, "token (client_credentials)").await?,
            "access_token",
        )?;
        Ok(())
    }
}

/// [`measure`] for clients that keep no state between operations, each of
/// which is measured.
async fn measure_each<F, Fut>(
    args: &Args,
    scenario: Scenario,
    targets: &[Arc<Target>],
    op: F,
) -> Report
where
    F: Fn(Arc<Target>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    let states = vec![(); args.concurrency];
    measure(args, scenario, targets, states, move |t, ()| {
        let done = op(t);
        async move { ((), done.await.map(|()| true)) }
    })
    .await
}

/// Runs `op` on `states.len()` concurrent clients for the warm-up and the
/// measured time. `op` answers `Ok(true)` for a measured operation and
/// `Ok(false)` for set-up work (such as starting a refresh chain).
async fn measure<S, F, Fut>(
    args: &Args,
    scenario: Scenario,
    targets: &[Arc<Target>],
    states: Vec<S>,
    op: F,
) -> Report
where
    S: Send + 'static,
    F: Fn(Arc<Target>, S) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = (S, Result<bool, Error>)> + Send + 'static,
{
    let start = Instant::now();
    let measure_from = start + args.warmup;
    let watch_cpu = !args.server_pids.is_empty() || args.db_comm.is_some();
    let deadline = measure_from + args.duration;
    let max_ops = args.max_ops;
    let counted = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (i, state) in states.into_iter().enumerate() {
        let target = targets[i % targets.len()].clone();
        let (op, counted) = (op.clone(), counted.clone());
        tasks.push(tokio::spawn(async move {
            let mut state = state;
            let mut latencies: Vec<u32> = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            let mut last_end = measure_from;
            let mut warm = 0u64;
            loop {
                let t0 = Instant::now();
                if t0 >= deadline || (max_ops > 0 && counted.load(Ordering::Relaxed) >= max_ops) {
                    break;
                }
                let (next, result) = op(target.clone(), state).await;
                state = next;
                let t1 = Instant::now();
                match result {
                    Ok(true) if t0 >= measure_from => {
                        latencies.push(u32::try_from((t1 - t0).as_micros()).unwrap_or(u32::MAX));
                        counted.fetch_add(1, Ordering::Relaxed);
                        last_end = t1;
                    }
                    Ok(true) => warm += 1,
                    Ok(false) => {}
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            (latencies, errors, first_error, last_end, warm)
        }));
    }
    let cpu_from = if watch_cpu {
        tokio::time::sleep_until(measure_from.into()).await;
        Some(cpu_sample(args))
    } else {
        None
    };
    let mut all = Vec::new();
    let mut warmup_ops = 0;
    let mut errors = 0;
    let mut first_error = None;
    let mut end = measure_from;
    for t in tasks {
        if let Ok((l, e, f, last, w)) = t.await {
            all.extend(l);
            warmup_ops += w;
            errors += e;
            if first_error.is_none() {
                first_error = f;
            }
            end = end.max(last);
        }
    }
    let cpu_to = cpu_from.map(|_| cpu_sample(args));
    all.sort_unstable();
    let per_op =
        |ticks: u64| (!all.is_empty()).then(|| ticks as f64 / USER_HZ * 1e6 / all.len() as f64);
    let (server_cpu_us_per_op, db_cpu_us_per_op) = match (cpu_from, cpu_to) {
        (Some(a), Some(b)) => (
            (!args.server_pids.is_empty())
                .then(|| per_op(b.server.saturating_sub(a.server)))
                .flatten(),
            args.db_comm
                .as_ref()
                .and_then(|_| per_op(b.db.saturating_sub(a.db))),
        ),
        _ => (None, None),
    };
    let elapsed = end.saturating_duration_since(measure_from).as_secs_f64();
    let pct = |p: f64| {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        f64::from(all[i]) / 1000.0
    };
    Report {
        label: args.label.clone(),
        scenario: format!("{}{}", scenario.name(), args.name_suffix),
        concurrency: args.concurrency,
        duration_s: elapsed,
        ops: all.len() as u64,
        warmup_ops,
        ops_per_sec: if elapsed > 0.0 {
            all.len() as f64 / elapsed
        } else {
            0.0
        },
        errors,
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
        max_ms: all.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
        server_cpu_us_per_op,
        db_cpu_us_per_op,
        first_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_the_last_parenthesis() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime ...
        let line = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 1402 0 0 0 731 269 0 0 20 0 9 0";
        assert_eq!(stat_cpu_ticks(line), Some(1000));
        assert_eq!(stat_cpu_ticks("4242 (cut"), None);
        assert_eq!(stat_cpu_ticks("4242 (x) S 1"), None);
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let spin = (0..2_000_000u64).fold(0u64, |a, b| a.wrapping_add(b * b));
        std::hint::black_box(spin);
        let mine = cpu_ticks(std::process::id());
        assert!(mine.is_some(), "/proc/self/stat unreadable");
        assert_eq!(cpu_ticks(u32::MAX), None);
    }
}
