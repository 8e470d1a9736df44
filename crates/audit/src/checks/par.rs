//! Pushed authorization requests (RFC 9126): a second door to the
//! authorization endpoint, which must check PKCE as the first does (§2.1),
//! and whose `request_uri` yields one code (§4).
//!
//! A pushed request is decided by the code it yields: a PAR endpoint that
//! accepts a request `/authorize` then refuses passes (the detail says so,
//! since RFC 9126 §2.1 wants it refused when pushed).

use crate::catalog::{self, Check};
use crate::engine::{random, Pkce, Probe, Session};
use crate::par::Pushed;
use crate::report::{CheckResult, Evidence, Status};
use crate::AuditError;

const CHECKS: [&Check; 3] = [
    &catalog::PAR_REQUEST_URI_REUSE_ACCEPTED,
    &catalog::PAR_CHALLENGE_MISSING_ACCEPTED,
    &catalog::PAR_PLAIN_ACCEPTED,
];

/// Every PAR check, when the server advertises a PAR endpoint.
pub(crate) async fn checks(
    s: &mut Session<'_>,
    redirect: &str,
) -> Result<Vec<CheckResult>, AuditError> {
    if s.ep.par.is_none() {
        return Ok(CHECKS
            .iter()
            .map(|c| CheckResult::new(c, Status::Skipped, "not applicable: the server does not advertise PAR (no pushed_authorization_request_endpoint)"))
            .collect());
    }
    s.say("a pushed authorization request (PAR), used twice");
    let (state, params) = s.request_params(&Pkce::S256(random()?), redirect, None)?;
    let (pushed, ev) = s.push(&params).await?;
    let Pushed::Accepted { request_uri, .. } = pushed else {
        let why = format!(
            "the PAR endpoint refused a correct pushed request (S256): {}",
            pushed.describe()
        );
        return Ok(CHECKS
            .iter()
            .map(|c| CheckResult::new(c, Status::Skipped, why.clone()).with(Some(ev.clone())))
            .collect());
    };
    let mut out = vec![reuse(s, &request_uri, &state, redirect).await?];
    out.push(
        must_refuse(
            s,
            &catalog::PAR_CHALLENGE_MISSING_ACCEPTED,
            Pkce::Absent,
            redirect,
            "without code_challenge",
        )
        .await?,
    );
    out.push(
        must_refuse(
            s,
            &catalog::PAR_PLAIN_ACCEPTED,
            Pkce::Plain(random()?),
            redirect,
            "with code_challenge_method=plain",
        )
        .await?,
    );
    Ok(out)
}

/// RFC 9126 §4: a `request_uri` that yielded a code, sent again.
async fn reuse(
    s: &mut Session<'_>,
    request_uri: &str,
    state: &str,
    redirect: &str,
) -> Result<CheckResult, AuditError> {
    let check = &catalog::PAR_REQUEST_URI_REUSE_ACCEPTED;
    let first = s
        .authorize_pushed(request_uri, state, redirect, Probe::Never)
        .await?;
    if first.code().is_none() {
        return Ok(CheckResult::new(
            check,
            Status::Skipped,
            format!(
                "no code to start from: /authorize with the pushed request's request_uri was {}",
                first.refusal().unwrap_or_default()
            ),
        )
        .with(Some(first.evidence)));
    }
    let second = s
        .authorize_pushed(request_uri, state, redirect, Probe::Allowed)
        .await?;
    let ev = Some(Evidence {
        sent: format!(
            "{} (a second time: the first time it yielded a code)",
            second.evidence.sent
        ),
        ..second.evidence.clone()
    });
    Ok(match second.refusal() {
        Some(how) => CheckResult::new(check, Status::Pass, how),
        None => CheckResult::new(
            check,
            Status::Finding,
            "after the request_uri yielded a code, a second /authorize with it yielded another",
        ),
    }
    .with(ev))
}

/// A pushed request PKCE forbids: refused by the PAR endpoint, or at the
/// latest by `/authorize` when its `request_uri` is used.
async fn must_refuse(
    s: &mut Session<'_>,
    check: &'static Check,
    pkce: Pkce,
    redirect: &str,
    what: &str,
) -> Result<CheckResult, AuditError> {
    s.say(&format!("pushed authorization request {what}"));
    let (state, params) = s.request_params(&pkce, redirect, None)?;
    let (pushed, push_ev) = s.push(&params).await?;
    let (request_uri, status) = match pushed {
        Pushed::Accepted {
            request_uri,
            status,
        } => (request_uri, status),
        refused @ Pushed::Refused { .. } => {
            return Ok(CheckResult::new(
                check,
                Status::Pass,
                format!("the PAR endpoint {}", refused.describe()),
            )
            .with(Some(push_ev)))
        }
    };
    let auth = s
        .authorize_pushed(&request_uri, &state, redirect, Probe::Never)
        .await?;
    // Both steps, located at the PAR endpoint: that is where the request
    // should have been refused.
    let ev = Some(Evidence {
        endpoint: push_ev.endpoint,
        sent: format!("{}\nthen {}", push_ev.sent, auth.evidence.sent),
        received: format!("{}\nthen {}", push_ev.received, auth.evidence.received),
    });
    Ok(match auth.refusal() {
        None => CheckResult::new(
            check,
            Status::Finding,
            format!("pushed {what}: the PAR endpoint accepted it (HTTP {status}), and /authorize with its request_uri issued a code"),
        ),
        Some(how) => CheckResult::new(
            check,
            Status::Pass,
            format!("the PAR endpoint accepted it (HTTP {status}; RFC 9126 §2.1 wants it refused there), but /authorize with its request_uri {how}: no code"),
        ),
    }
    .with(ev))
}
