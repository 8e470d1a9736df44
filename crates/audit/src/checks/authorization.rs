//! The authorization endpoint and its responses: RFC 7636 §4.3/§4.4.1,
//! OAuth 2.1 §4.1.1, RFC 6749 §4.1.2 (state), RFC 9207 §2 (iss), RFC 8252
//! §7.3 (loopback ports).

use crate::catalog::{self, Check};
use crate::engine::{is_loopback, random, s256, Authorization, Pkce, Session};
use crate::report::{CheckResult, Status};
use crate::AuditError;

/// `state` and `iss` of a successful authorization response.
pub(crate) fn response_checks(
    issuer: &str,
    iss_advertised: bool,
    auth: &Authorization,
) -> Vec<CheckResult> {
    let ev = Some(auth.evidence.clone());
    let state = match auth.returned_state() {
        Some(s) if s == auth.state => CheckResult::new(
            &catalog::STATE_NOT_ECHOED,
            Status::Pass,
            "state came back unchanged",
        ),
        Some(_) => CheckResult::new(
            &catalog::STATE_NOT_ECHOED,
            Status::Finding,
            "state came back changed",
        ),
        None => CheckResult::new(
            &catalog::STATE_NOT_ECHOED,
            Status::Finding,
            "state is missing from the response",
        ),
    };
    let (missing, wrong) = match auth.iss() {
        Some(iss) if iss == issuer => (
            CheckResult::new(&catalog::ISS_MISSING, Status::Pass, "iss is present"),
            CheckResult::new(&catalog::ISS_WRONG, Status::Pass, "iss is the issuer"),
        ),
        Some(iss) => (
            CheckResult::new(&catalog::ISS_MISSING, Status::Pass, "iss is present"),
            CheckResult::new(
                &catalog::ISS_WRONG,
                Status::Finding,
                format!("iss is {iss:?}, the issuer is {issuer:?}"),
            )
            .with(ev.clone()),
        ),
        None => (
            CheckResult::new(
                &catalog::ISS_MISSING,
                Status::Finding,
                if iss_advertised {
                    "iss is missing, although the metadata advertises it"
                } else {
                    "iss is missing"
                },
            )
            .with(ev.clone()),
            CheckResult::new(&catalog::ISS_WRONG, Status::Skipped, "no iss to compare"),
        ),
    };
    vec![state.with(ev), missing, wrong]
}

/// A request the server must refuse; returns the result and, when the
/// server issued a code anyway, the authorization.
async fn must_refuse(
    s: &mut Session<'_>,
    check: &'static Check,
    pkce: Pkce,
    redirect: &str,
    what: &str,
) -> Result<(CheckResult, Option<Authorization>), AuditError> {
    s.say(&format!("authorization request {what}"));
    let auth = s.authorize(&pkce, redirect).await?;
    let ev = Some(auth.evidence.clone());
    Ok(match auth.refusal() {
        Some(how) => (CheckResult::new(check, Status::Pass, how).with(ev), None),
        None => (
            CheckResult::new(check, Status::Finding, format!("a code was issued {what}")).with(ev),
            Some(auth),
        ),
    })
}

/// The refusals PKCE requires at the authorization endpoint. Returns the
/// results and the code issued without a challenge, if one was (for the
/// downgrade check).
pub(crate) async fn refusals(
    s: &mut Session<'_>,
    redirect: &str,
) -> Result<(Vec<CheckResult>, Option<Authorization>), AuditError> {
    let mut out = Vec::new();
    let (r, without) = must_refuse(
        s,
        &catalog::CHALLENGE_MISSING_ACCEPTED,
        Pkce::Absent,
        redirect,
        "without code_challenge",
    )
    .await?;
    out.push(r);
    out.push(
        must_refuse(
            s,
            &catalog::PLAIN_ACCEPTED,
            Pkce::Plain(random()?),
            redirect,
            "with code_challenge_method=plain",
        )
        .await?
        .0,
    );
    let challenge = s256(&random()?);
    out.push(
        must_refuse(
            s,
            &catalog::UNKNOWN_METHOD_ACCEPTED,
            Pkce::Raw {
                challenge: challenge.clone(),
                method: "S512".into(),
            },
            redirect,
            "with code_challenge_method=S512 (no such method)",
        )
        .await?
        .0,
    );
    out.push(
        must_refuse(
            s,
            &catalog::CHALLENGE_TOO_SHORT_ACCEPTED,
            Pkce::Raw {
                challenge: challenge[..20].to_owned(),
                method: "S256".into(),
            },
            redirect,
            "with a 20-character S256 code_challenge",
        )
        .await?
        .0,
    );
    // Standard base64 instead of base64url: the mistake people make.
    let std_b64: String = challenge
        .chars()
        .enumerate()
        .map(|(i, c)| match i {
            0 => '+',
            1 => '/',
            _ => c,
        })
        .collect();
    out.push(
        must_refuse(
            s,
            &catalog::CHALLENGE_BAD_CHARS_ACCEPTED,
            Pkce::Raw {
                challenge: std_b64,
                method: "S256".into(),
            },
            redirect,
            "with a code_challenge containing + and /",
        )
        .await?
        .0,
    );
    Ok((out, without))
}

/// RFC 8252 §7.3: a loopback redirect URI on another port must work.
pub(crate) async fn loopback_port(
    s: &mut Session<'_>,
    redirect: &str,
) -> Result<CheckResult, AuditError> {
    let is_lo = url::Url::parse(redirect)
        .map(|u| is_loopback(&u))
        .unwrap_or(false);
    if !is_lo {
        return Ok(CheckResult::new(
            &catalog::LOOPBACK_PORT_REFUSED,
            Status::Skipped,
            "not applicable: the redirect URI is not a loopback address",
        ));
    }
    let other = s.agent.other_port(redirect).await?;
    s.say("authorization request on another loopback port");
    let auth = s.authorize(&Pkce::S256(random()?), &other).await?;
    let ev = Some(auth.evidence.clone());
    Ok(match auth.refusal() {
        None => CheckResult::new(
            &catalog::LOOPBACK_PORT_REFUSED,
            Status::Pass,
            format!("{other} was accepted"),
        ),
        Some(how) => CheckResult::new(
            &catalog::LOOPBACK_PORT_REFUSED,
            Status::Finding,
            format!("{other}: {how}"),
        ),
    }
    .with(ev))
}
