//! `proofkey audit`: does an authorization server really enforce PKCE?
//!
//! Asked from the outside, with real requests: the published metadata is
//! read (RFC 8414, OIDC Discovery), then codes are requested with missing,
//! `plain`, unknown and malformed challenges, and redeemed without, with
//! wrong and with malformed verifiers, twice, with another `redirect_uri`,
//! after a PKCE downgrade; the responses' `state` and `iss` are checked, a
//! loopback redirect on another port is tried, and refresh tokens are
//! rotated and replayed. A server that advertises DPoP (RFC 9449) gets its
//! token binding and replay cache tried, and one that advertises pushed
//! authorization requests (RFC 9126) gets PKCE tried through that second
//! door too. Each check has a stable id in [`catalog`].
//!
//! * [`agent`]: how codes are obtained (a person's browser through the
//!   loopback redirect, or [`forms`] for unattended runs).
//! * [`report`]: the result, as text, JSON or SARIF 2.1.0.
//!
//! **Invariant:** never destructive. The audit uses only codes and tokens
//! it obtained itself, and revokes every token it obtained at the end
//! (RFC 7009) when the server has a revocation endpoint.

pub mod agent;
pub mod catalog;
pub mod checks;
mod dpop;
mod engine;
pub mod forms;
mod par;
pub mod report;

use std::time::SystemTime;

use serde_json::Value;
use url::Url;

pub use engine::Options;

use crate::agent::Agent;
use crate::engine::{random, Endpoints, Pkce, Session};
use crate::report::{CheckResult, Report};

/// Why an audit could not be completed (exit code 2 in the CLI).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Bad input.
    #[error("{0}")]
    Usage(String),
    /// The metadata could not be read or lacks what the audit needs.
    #[error("discovery: {0}")]
    Discovery(String),
    /// The server could not be reached.
    #[error("{0}")]
    Http(String),
    /// The user agent failed (no browser, a form it cannot fill in...).
    #[error("{0}")]
    Agent(String),
    /// A correct PKCE flow did not work, so nothing can be compared with it.
    #[error("a correct PKCE flow failed, so the audit cannot go on: {0}")]
    Baseline(String),
    /// The OS random number generator failed.
    #[error("random number generator: {0}")]
    Random(String),
}

/// Reads the discovery document: OIDC Discovery first, then RFC 8414.
/// Returns the URL it came from and the document.
async fn discover(http: &reqwest::Client, issuer: &str) -> Result<(String, Value), AuditError> {
    let urls = proofkey_client::discovery::well_known_urls(issuer)
        .map_err(|e| AuditError::Usage(e.to_string()))?;
    let mut tried = Vec::new();
    for url in urls {
        match http.get(&url).send().await {
            Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                Ok(doc) if doc.is_object() => return Ok((url, doc)),
                Ok(_) => tried.push(format!("{url}: not a JSON object")),
                Err(e) => tried.push(format!("{url}: {e}")),
            },
            Ok(r) => tried.push(format!("{url}: HTTP {}", r.status().as_u16())),
            Err(e) => return Err(AuditError::Http(format!("{url}: {e}"))),
        }
    }
    Err(AuditError::Discovery(format!(
        "no metadata found ({})",
        tried.join("; ")
    )))
}

fn endpoint(doc: &Value, key: &str) -> Result<Option<Url>, AuditError> {
    doc.get(key)
        .and_then(Value::as_str)
        .map(|s| Url::parse(s).map_err(|e| AuditError::Discovery(format!("{key} {s:?}: {e}"))))
        .transpose()
}

fn endpoints(doc: &Value) -> Result<Endpoints, AuditError> {
    let need = |key: &str| {
        endpoint(doc, key)?
            .ok_or_else(|| AuditError::Discovery(format!("the metadata has no {key}")))
    };
    let methods: Vec<&str> = doc
        .get("token_endpoint_auth_methods_supported")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    Ok(Endpoints {
        authorization: need("authorization_endpoint")?,
        token: need("token_endpoint")?,
        userinfo: endpoint(doc, "userinfo_endpoint")?,
        introspection: endpoint(doc, "introspection_endpoint")?,
        revocation: endpoint(doc, "revocation_endpoint")?,
        par: endpoint(doc, "pushed_authorization_request_endpoint")?,
        dpop_algs: doc
            .get("dpop_signing_alg_values_supported")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            }),
        basic_auth: methods.is_empty() || methods.contains(&"client_secret_basic"),
    })
}

/// Runs the whole audit. `http` must not follow redirects. `progress`
/// hears a line for each step, for a person watching.
pub async fn audit(
    http: reqwest::Client,
    opts: Options,
    agent: &mut Agent,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Report, AuditError> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let issuer =
        if opts.issuer.ends_with('/') && Url::parse(&opts.issuer).is_ok_and(|u| u.path() == "/") {
            opts.issuer.trim_end_matches('/').to_owned()
        } else {
            opts.issuer.clone()
        };
    progress(&format!("reading the metadata of {issuer}"));
    let (doc_url, doc) = discover(&http, &issuer).await?;
    let jwks = match endpoint(&doc, "jwks_uri")? {
        Some(uri) => match http.get(uri.clone()).send().await {
            Ok(r) if r.status().is_success() => {
                r.json::<Value>().await.ok().map(|j| (uri.to_string(), j))
            }
            _ => None,
        },
        None => None,
    };
    let mut results: Vec<CheckResult> = checks::discovery::check(&checks::discovery::Published {
        issuer: &issuer,
        document_url: &doc_url,
        document: &doc,
        jwks: jwks.as_ref().map(|(u, j)| (u.as_str(), j)),
    });
    let ep = endpoints(&doc)?;
    let iss_advertised = doc
        .get("authorization_response_iss_parameter_supported")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let published_issuer = doc
        .get("issuer")
        .and_then(Value::as_str)
        .unwrap_or(&issuer)
        .to_owned();

    let redirect = agent.prepare(&opts.redirect_uri).await?;
    let client_type = if opts.client_secret.is_some() {
        "confidential"
    } else {
        "public"
    };
    let mut s = Session {
        http,
        opts: Options {
            issuer: issuer.clone(),
            ..opts
        },
        ep,
        agent,
        obtained: Vec::new(),
        notes: Vec::new(),
        dpop_nonce: None,
        progress,
    };
    let outcome = active(
        &mut s,
        &redirect,
        &published_issuer,
        iss_advertised,
        &mut results,
    )
    .await;
    s.agent.finish().await;
    let (revoked, failed) = s.revoke_all().await;
    outcome?;

    let mut notes = std::mem::take(&mut s.notes);
    match (&s.ep.revocation, revoked + failed) {
        (_, 0) => {}
        (None, n) => notes.push(format!(
            "{n} tokens obtained by the audit were left to expire: the server has no revocation_endpoint"
        )),
        (Some(ep), _) => notes.push(format!(
            "revoked {revoked} tokens obtained by the audit at {ep}{}",
            if failed > 0 { format!("; {failed} revocations failed") } else { String::new() }
        )),
    }
    results.sort_by_key(|r| catalog::ALL.iter().position(|c| c.id == r.id));
    Ok(Report {
        tool: "proofkey audit",
        version: env!("CARGO_PKG_VERSION"),
        issuer,
        client_id: s.opts.client_id.clone(),
        client_type,
        started_at,
        results,
        notes,
    })
}

/// The active checks, in an order that keeps a person's browser moving:
/// requests expected to succeed first, refusals (which may strand the
/// browser on an error page) last.
async fn active(
    s: &mut Session<'_>,
    redirect: &str,
    issuer: &str,
    iss_advertised: bool,
    results: &mut Vec<CheckResult>,
) -> Result<(), AuditError> {
    s.say("a correct PKCE flow (sign in if the browser asks)");
    let verifier = random()?;
    let mut auth = s
        .authorize_with(&Pkce::S256(verifier.clone()), redirect, s.offline_prompt())
        .await?;
    if auth.error().as_deref() == Some("invalid_scope")
        && s.opts.scopes.iter().any(|v| v == "offline_access")
    {
        s.opts.scopes.retain(|v| v != "offline_access");
        s.notes.push(format!(
            "the server refused scope offline_access (invalid_scope); the audit went on with {:?}",
            s.opts.scopes.join(" ")
        ));
        auth = s
            .authorize_with(&Pkce::S256(verifier.clone()), redirect, s.offline_prompt())
            .await?;
    }
    let Some(code) = auth.code() else {
        return Err(AuditError::Baseline(format!(
            "the authorization request was {}.\n  sent: {}\n  received: {}",
            auth.refusal().unwrap_or_default(),
            auth.evidence.sent,
            auth.evidence.received
        )));
    };
    results.extend(checks::authorization::response_checks(
        issuer,
        iss_advertised,
        &auth,
    ));
    let (tokens, ev) = s.redeem(&code, redirect, Some(&verifier)).await?;
    if !tokens.is_issued() {
        return Err(AuditError::Baseline(format!(
            "redeeming the code with its verifier was {}.\n  sent: {}\n  received: {}",
            tokens.describe(),
            ev.sent,
            ev.received
        )));
    }
    results.extend(checks::refresh::rotation(s, &tokens).await?);
    results.extend(checks::token::reuse(s, redirect).await?);
    results.extend(checks::token::verifier_checks(s, redirect).await?);
    results.push(checks::token::redirect_binding(s, redirect).await?);
    results.push(checks::authorization::loopback_port(s, redirect).await?);
    results.extend(checks::dpop::checks(s, redirect).await?);
    results.extend(checks::par::checks(s, redirect).await?);
    let (refusals, without_challenge) = checks::authorization::refusals(s, redirect).await?;
    results.extend(refusals);
    results.push(checks::token::downgrade(s, without_challenge).await?);
    Ok(())
}
