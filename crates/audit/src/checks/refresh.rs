//! Refresh token rotation for public clients: OAuth 2.1 §4.3.1, RFC 9700
//! §4.14.2 (a reused rotated token means theft; revoke the family).

use crate::catalog;
use crate::engine::{Session, TokenAnswer};
use crate::report::{CheckResult, Status};
use crate::AuditError;

fn skip_all(why: &str) -> Vec<CheckResult> {
    [
        &catalog::REFRESH_NOT_ROTATED,
        &catalog::REFRESH_REUSE_ACCEPTED,
        &catalog::REFRESH_FAMILY_NOT_REVOKED,
    ]
    .into_iter()
    .map(|c| CheckResult::new(c, Status::Skipped, why))
    .collect()
}

/// Rotation, reuse of a rotated token, and revocation of its family,
/// starting from the tokens of a fresh code redemption.
pub(crate) async fn rotation(
    s: &mut Session<'_>,
    first: &TokenAnswer,
) -> Result<Vec<CheckResult>, AuditError> {
    let Some(rt1) = first.field("refresh_token") else {
        let scope = s.opts.scopes.join(" ");
        return Ok(skip_all(
            &if s.opts.scopes.iter().any(|v| v == "offline_access") {
                format!("no refresh token was issued for scope {scope:?}")
            } else {
                format!("no refresh token was issued for scope {scope:?}; add --scope offline_access to run the refresh checks")
            },
        ));
    };
    s.say("refresh token rotation");
    let (second, ev) = s.refresh(&rt1).await?;
    let ev = Some(ev);
    if !second.is_issued() {
        return Ok(skip_all(&format!(
            "the refresh token was refused on its first use: {}",
            second.describe()
        )));
    }
    let public = s.opts.client_secret.is_none();
    let rt2 = second.field("refresh_token");
    let Some(rt2) = rt2.filter(|t| *t != rt1) else {
        let not_rotated = if public {
            CheckResult::new(
                &catalog::REFRESH_NOT_ROTATED,
                Status::Finding,
                "the refresh response kept the same refresh token (or sent none)",
            )
            .with(ev)
        } else {
            CheckResult::new(
                &catalog::REFRESH_NOT_ROTATED,
                Status::Pass,
                "not rotated, which a confidential client's tokens need not be (they are bound to its credentials)",
            )
        };
        let mut out = vec![not_rotated];
        out.extend(
            skip_all("not applicable: the refresh token was not rotated")
                .into_iter()
                .skip(1),
        );
        return Ok(out);
    };
    let mut out = vec![CheckResult::new(
        &catalog::REFRESH_NOT_ROTATED,
        Status::Pass,
        "a new refresh token came with each refresh",
    )];
    s.say("reusing a rotated refresh token");
    let (reuse, ev) = s.refresh(&rt1).await?;
    out.push(
        if reuse.is_issued() {
            CheckResult::new(
                &catalog::REFRESH_REUSE_ACCEPTED,
                Status::Finding,
                "the already rotated refresh token was accepted again",
            )
        } else {
            CheckResult::new(
                &catalog::REFRESH_REUSE_ACCEPTED,
                Status::Pass,
                reuse.describe(),
            )
        }
        .with(Some(ev)),
    );
    let (family, ev) = s.refresh(&rt2).await?;
    out.push(
        if family.is_issued() {
            CheckResult::new(
                &catalog::REFRESH_FAMILY_NOT_REVOKED,
                Status::Finding,
                "after the reuse, the newest refresh token of the family still works",
            )
        } else {
            CheckResult::new(
                &catalog::REFRESH_FAMILY_NOT_REVOKED,
                Status::Pass,
                format!(
                    "the newest refresh token was revoked: {}",
                    family.describe()
                ),
            )
        }
        .with(Some(ev)),
    );
    Ok(out)
}
