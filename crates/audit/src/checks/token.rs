//! The token endpoint: code_verifier checks (RFC 7636 §4.1, §4.5, §4.6),
//! PKCE downgrade (RFC 9700 §2.1.1), code reuse and the revocation it
//! should cause (RFC 6749 §4.1.2), redirect_uri binding (RFC 6749 §4.1.3).

use crate::catalog::{self, Check};
use crate::engine::{random, Authorization, Liveness, Pkce, Session, TokenAnswer};
use crate::report::{CheckResult, Status};
use crate::AuditError;

/// The verifier checks: each gets its own code, whose challenge is the
/// S256 of `made`, and redeems it with `sent`.
struct VerifierCase {
    check: &'static Check,
    what: &'static str,
    made: String,
    sent: Option<String>,
}

fn cases() -> Result<Vec<VerifierCase>, AuditError> {
    let v = random()?;
    let short: String = random()?.chars().take(42).collect();
    let long = format!("{}{}{}", random()?, random()?, random()?);
    let bad = format!("{}+/", &random()?[..41]);
    Ok(vec![
        VerifierCase {
            check: &catalog::VERIFIER_MISSING_ACCEPTED,
            what: "without code_verifier",
            made: v.clone(),
            sent: None,
        },
        VerifierCase {
            check: &catalog::VERIFIER_WRONG_ACCEPTED,
            what: "with a code_verifier that does not match the challenge",
            made: v,
            sent: Some(random()?),
        },
        VerifierCase {
            check: &catalog::VERIFIER_TOO_SHORT_ACCEPTED,
            what: "with a 42-character code_verifier (its challenge matched)",
            made: short.clone(),
            sent: Some(short),
        },
        VerifierCase {
            check: &catalog::VERIFIER_TOO_LONG_ACCEPTED,
            what: "with a 129-character code_verifier (its challenge matched)",
            made: long.clone(),
            sent: Some(long),
        },
        VerifierCase {
            check: &catalog::VERIFIER_BAD_CHARS_ACCEPTED,
            what: "with a code_verifier containing + and / (its challenge matched)",
            made: bad.clone(),
            sent: Some(bad),
        },
    ])
}

/// A code for `pkce`, or the reason there is none.
async fn code_for(
    s: &mut Session<'_>,
    pkce: &Pkce,
    redirect: &str,
) -> Result<Result<(Authorization, String), String>, AuditError> {
    let auth = s.authorize(pkce, redirect).await?;
    Ok(match auth.code() {
        Some(code) => Ok((auth, code)),
        None => Err(format!(
            "no code to test with: the authorization request was {}",
            auth.refusal().unwrap_or_default()
        )),
    })
}

/// Every code_verifier check, and the one about the error code they use.
pub(crate) async fn verifier_checks(
    s: &mut Session<'_>,
    redirect: &str,
) -> Result<Vec<CheckResult>, AuditError> {
    let mut out = Vec::new();
    let mut wrong_codes = Vec::new();
    let mut refused = 0;
    for case in cases()? {
        s.say(&format!("token request {}", case.what));
        let (_, code) = match code_for(s, &Pkce::S256(case.made.clone()), redirect).await? {
            Ok(c) => c,
            Err(why) => {
                out.push(CheckResult::new(case.check, Status::Skipped, why));
                continue;
            }
        };
        let (answer, ev) = s.redeem(&code, redirect, case.sent.as_deref()).await?;
        let ev = Some(ev);
        match &answer {
            TokenAnswer::Issued(_) => out.push(
                CheckResult::new(
                    case.check,
                    Status::Finding,
                    format!("tokens were issued {}", case.what),
                )
                .with(ev),
            ),
            TokenAnswer::Refused { error, .. } => {
                refused += 1;
                if error != "invalid_grant" {
                    wrong_codes.push((case.what, answer.describe(), ev.clone()));
                }
                out.push(CheckResult::new(case.check, Status::Pass, answer.describe()).with(ev));
            }
        }
    }
    out.push(match wrong_codes.first() {
        None if refused == 0 => CheckResult::new(
            &catalog::PKCE_ERROR_CODE,
            Status::Skipped,
            "no PKCE failure was refused, so there is no error code to check",
        ),
        None => CheckResult::new(
            &catalog::PKCE_ERROR_CODE,
            Status::Pass,
            "every PKCE failure was refused with invalid_grant",
        ),
        Some((_, _, ev)) => CheckResult::new(
            &catalog::PKCE_ERROR_CODE,
            Status::Finding,
            wrong_codes
                .iter()
                .map(|(what, how, _)| format!("{what}: {how}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .with(ev.clone()),
    });
    Ok(out)
}

/// The PKCE downgrade: a code issued without a challenge, redeemed with a
/// verifier.
pub(crate) async fn downgrade(
    s: &mut Session<'_>,
    without_challenge: Option<Authorization>,
) -> Result<CheckResult, AuditError> {
    let Some((auth, code)) = without_challenge.and_then(|a| a.code().map(|c| (a, c))) else {
        return Ok(CheckResult::new(
            &catalog::DOWNGRADE_ACCEPTED,
            Status::Pass,
            "nothing to downgrade: the server issues no code without code_challenge",
        ));
    };
    s.say("token request with a code_verifier for a code issued without code_challenge");
    let verifier = random()?;
    let (answer, ev) = s.redeem(&code, &auth.redirect_uri, Some(&verifier)).await?;
    Ok(if answer.is_issued() {
        CheckResult::new(
            &catalog::DOWNGRADE_ACCEPTED,
            Status::Finding,
            "a code issued without code_challenge was redeemed with an arbitrary code_verifier",
        )
    } else {
        CheckResult::new(
            &catalog::DOWNGRADE_ACCEPTED,
            Status::Pass,
            answer.describe(),
        )
    }
    .with(Some(ev)))
}

/// Code reuse, and whether the first redemption's tokens are revoked.
pub(crate) async fn reuse(
    s: &mut Session<'_>,
    redirect: &str,
) -> Result<Vec<CheckResult>, AuditError> {
    s.say("redeeming one code twice");
    let verifier = random()?;
    let (_, code) = match code_for(s, &Pkce::S256(verifier.clone()), redirect).await? {
        Ok(c) => c,
        Err(why) => {
            return Ok(vec![
                CheckResult::new(&catalog::CODE_REUSE_ACCEPTED, Status::Skipped, why.clone()),
                CheckResult::new(&catalog::CODE_REUSE_NOT_REVOKED, Status::Skipped, why),
            ])
        }
    };
    let (first, _) = s.redeem(&code, redirect, Some(&verifier)).await?;
    let Some(access_token) = first.field("access_token") else {
        let why = format!("the first redemption failed: {}", first.describe());
        return Ok(vec![
            CheckResult::new(&catalog::CODE_REUSE_ACCEPTED, Status::Skipped, why.clone()),
            CheckResult::new(&catalog::CODE_REUSE_NOT_REVOKED, Status::Skipped, why),
        ]);
    };
    let (before, _) = s.liveness(&access_token).await;
    let (second, ev) = s.redeem(&code, redirect, Some(&verifier)).await?;
    let ev = Some(ev);
    if second.is_issued() {
        return Ok(vec![
            CheckResult::new(
                &catalog::CODE_REUSE_ACCEPTED,
                Status::Finding,
                "the second redemption of the same code issued tokens again",
            )
            .with(ev),
            CheckResult::new(
                &catalog::CODE_REUSE_NOT_REVOKED,
                Status::Skipped,
                "the code could be redeemed twice (see token.code-reuse-accepted)",
            ),
        ]);
    }
    let reuse = CheckResult::new(
        &catalog::CODE_REUSE_ACCEPTED,
        Status::Pass,
        second.describe(),
    )
    .with(ev);
    let revoked = if before != Liveness::Active {
        CheckResult::new(
            &catalog::CODE_REUSE_NOT_REVOKED,
            Status::Skipped,
            "cannot tell: the first access token could not be shown to work even before the reuse",
        )
    } else {
        let (after, how) = s.liveness(&access_token).await;
        let ev = Some(crate::report::Evidence {
            endpoint: how.split_whitespace().nth(1).unwrap_or_default().to_owned(),
            sent: "the access token from the first redemption, after the second redemption".into(),
            received: how.clone(),
        });
        match after {
            Liveness::Inactive => CheckResult::new(
                &catalog::CODE_REUSE_NOT_REVOKED,
                Status::Pass,
                format!("the first access token was revoked ({how})"),
            ),
            Liveness::Active => CheckResult::new(
                &catalog::CODE_REUSE_NOT_REVOKED,
                Status::Finding,
                format!("the first access token still works ({how})"),
            ),
            Liveness::Unknown => {
                CheckResult::new(&catalog::CODE_REUSE_NOT_REVOKED, Status::Skipped, how)
            }
        }
        .with(ev)
    };
    Ok(vec![reuse, revoked])
}

/// A code redeemed with another redirect_uri than its request's.
pub(crate) async fn redirect_binding(
    s: &mut Session<'_>,
    redirect: &str,
) -> Result<CheckResult, AuditError> {
    s.say("token request with another redirect_uri");
    let verifier = random()?;
    let (_, code) = match code_for(s, &Pkce::S256(verifier.clone()), redirect).await? {
        Ok(c) => c,
        Err(why) => {
            return Ok(CheckResult::new(
                &catalog::REDIRECT_URI_MISMATCH_ACCEPTED,
                Status::Skipped,
                why,
            ))
        }
    };
    let other = match url::Url::parse(redirect) {
        Ok(mut u) => {
            let path = format!("{}/elsewhere", u.path().trim_end_matches('/'));
            u.set_path(&path);
            u.to_string()
        }
        Err(_) => format!("{redirect}/elsewhere"),
    };
    let (answer, ev) = s.redeem(&code, &other, Some(&verifier)).await?;
    Ok(if answer.is_issued() {
        CheckResult::new(
            &catalog::REDIRECT_URI_MISMATCH_ACCEPTED,
            Status::Finding,
            format!("the code for {redirect} was redeemed with redirect_uri={other}"),
        )
    } else {
        CheckResult::new(
            &catalog::REDIRECT_URI_MISMATCH_ACCEPTED,
            Status::Pass,
            answer.describe(),
        )
    }
    .with(Some(ev)))
}
