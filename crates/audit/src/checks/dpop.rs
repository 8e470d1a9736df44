//! DPoP at the token endpoint (RFC 9449): a token request with a proof
//! gets tokens bound to the proof's key (§5, §6.1); a public client's
//! refresh token then works only with a proof by that key (§5); and a
//! proof is accepted once (§11.1).
//!
//! One code is redeemed with a proof by the audit's key. Its proof is then
//! sent again (on a refresh, or on a second code's redemption without a
//! refresh token), and the refresh token is tried without a proof and with
//! a proof by another key. After each refusal the refresh token is used
//! with a fresh proof by its own key, to show the refusal was about the
//! proof and to go on with the newest token of the family.

use proofkey_dpop::DpopKey;
use serde_json::Value;

use crate::catalog::{self, Check};
use crate::dpop::{jwt_claims, shown_key, ALG};
use crate::engine::{random, Pkce, Session, TokenAnswer};
use crate::report::{CheckResult, Evidence, Status};
use crate::AuditError;

const CHECKS: [&Check; 4] = [
    &catalog::DPOP_ACCESS_TOKEN_NOT_BOUND,
    &catalog::DPOP_PROOF_REPLAY_ACCEPTED,
    &catalog::DPOP_REFRESH_WITHOUT_PROOF_ACCEPTED,
    &catalog::DPOP_REFRESH_OTHER_KEY_ACCEPTED,
];

fn skip(checks: &[&'static Check], why: &str, ev: Option<Evidence>) -> Vec<CheckResult> {
    checks
        .iter()
        .map(|c| CheckResult::new(c, Status::Skipped, why).with(ev.clone()))
        .collect()
}

/// Every DPoP check, when the server advertises DPoP with ES256.
pub(crate) async fn checks(
    s: &mut Session<'_>,
    redirect: &str,
) -> Result<Vec<CheckResult>, AuditError> {
    let Some(algs) = s.ep.dpop_algs.clone() else {
        return Ok(skip(
            &CHECKS,
            "not applicable: the server does not advertise DPoP (no dpop_signing_alg_values_supported)",
            None,
        ));
    };
    if !algs.iter().any(|a| a == ALG) {
        return Ok(skip(
            &CHECKS,
            &format!("not applicable: dpop_signing_alg_values_supported is {algs:?}, without {ALG}, the algorithm of the audit's proofs"),
            None,
        ));
    }
    s.say("a code redeemed with a DPoP proof");
    let verifier = random()?;
    let auth = s
        .authorize_with(&Pkce::S256(verifier.clone()), redirect, s.offline_prompt())
        .await?;
    let Some(code) = auth.code() else {
        return Ok(skip(
            &CHECKS,
            &format!(
                "no code to test with: the authorization request was {}",
                auth.refusal().unwrap_or_default()
            ),
            Some(auth.evidence),
        ));
    };
    let key = crate::dpop::key()?;
    let (first, ev, proof) = s
        .token_with_proof(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("code_verifier", &verifier),
            ],
            &key,
        )
        .await?;
    if !first.is_issued() {
        return Ok(skip(
            &CHECKS,
            &format!(
                "redeeming a code with a DPoP proof was {}",
                first.describe()
            ),
            Some(ev),
        ));
    }
    let mut out = vec![binding(&first, &key).with(Some(ev))];
    let (replay, refresh_token) = replay(s, &proof, first.field("refresh_token"), redirect).await?;
    out.push(replay);
    out.extend(refresh_binding(s, refresh_token, &key).await?);
    Ok(out)
}

/// RFC 9449 §5: `token_type` DPoP; §6.1: a JWT access token names the key
/// in `cnf.jkt`. An opaque access token can only be judged by its type.
fn binding(answer: &TokenAnswer, key: &DpopKey) -> CheckResult {
    let check = &catalog::DPOP_ACCESS_TOKEN_NOT_BOUND;
    let token_type = answer.field("token_type").unwrap_or_default();
    if !token_type.eq_ignore_ascii_case("DPoP") {
        return CheckResult::new(
            check,
            Status::Finding,
            format!("the token request carried a DPoP proof, and token_type is {token_type:?}, not DPoP: the access token is a bearer token"),
        );
    }
    let Some(claims) = answer.field("access_token").as_deref().and_then(jwt_claims) else {
        return CheckResult::new(
            check,
            Status::Pass,
            "token_type is DPoP (the access token is opaque: its binding is the server's to keep)",
        );
    };
    match claims.pointer("/cnf/jkt").and_then(Value::as_str) {
        Some(jkt) if jkt == key.thumbprint() => CheckResult::new(
            check,
            Status::Pass,
            "token_type is DPoP, and the JWT access token's cnf.jkt is the proof key's thumbprint",
        ),
        Some(jkt) => CheckResult::new(
            check,
            Status::Finding,
            format!(
                "the JWT access token's cnf.jkt is {jkt:?}, not the thumbprint of the proof's key ({})",
                shown_key(key)
            ),
        ),
        None => CheckResult::new(
            check,
            Status::Finding,
            "token_type is DPoP, but the JWT access token has no cnf.jkt: a resource server that reads it cannot tell it is bound",
        ),
    }
}

fn refresh_params(refresh_token: &str) -> [(&str, &str); 2] {
    [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ]
}

/// The code redemption's proof, sent again: on a refresh when there is a
/// refresh token (a request that a fresh proof would make succeed), else
/// on a second code's redemption. Returns the result and the refresh
/// token to go on with (a new one when the replay was accepted).
async fn replay(
    s: &mut Session<'_>,
    proof: &str,
    refresh_token: Option<String>,
    redirect: &str,
) -> Result<(CheckResult, Option<String>), AuditError> {
    let check = &catalog::DPOP_PROOF_REPLAY_ACCEPTED;
    if let Some(rt) = refresh_token {
        s.say("a refresh with the DPoP proof of the code redemption (a replay)");
        let (answer, ev) = s.token_request(&refresh_params(&rt), Some(proof)).await?;
        return Ok(match answer {
            TokenAnswer::Issued(_) => (
                CheckResult::new(
                    check,
                    Status::Finding,
                    "the proof of the code redemption was accepted again, on a refresh",
                )
                .with(Some(ev)),
                answer.field("refresh_token").or(Some(rt)),
            ),
            TokenAnswer::Refused { .. } => (
                CheckResult::new(check, Status::Pass, answer.describe()).with(Some(ev)),
                Some(rt),
            ),
        });
    }
    s.say("a second code redeemed with the DPoP proof of the first (a replay)");
    let verifier = random()?;
    let auth = s.authorize(&Pkce::S256(verifier.clone()), redirect).await?;
    let Some(code) = auth.code() else {
        return Ok((
            CheckResult::new(
                check,
                Status::Skipped,
                format!(
                    "no code to replay the proof with: the authorization request was {}",
                    auth.refusal().unwrap_or_default()
                ),
            )
            .with(Some(auth.evidence)),
            None,
        ));
    };
    let (answer, ev) = s
        .token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("code_verifier", &verifier),
            ],
            Some(proof),
        )
        .await?;
    Ok((
        if answer.is_issued() {
            CheckResult::new(
                check,
                Status::Finding,
                "the proof of one code redemption was accepted again, on another code's redemption",
            )
        } else {
            CheckResult::new(check, Status::Pass, answer.describe())
        }
        .with(Some(ev)),
        None,
    ))
}

/// A refresh with a fresh proof by the token's own key, after a refusal.
/// Returns the refresh token to go on with (`None` when even this failed)
/// and a sentence for the refusal's detail.
async fn control(
    s: &mut Session<'_>,
    refresh_token: String,
    key: &DpopKey,
) -> Result<(Option<String>, String), AuditError> {
    let (answer, _, _) = s
        .token_with_proof(&refresh_params(&refresh_token), key)
        .await?;
    Ok(if answer.is_issued() {
        (
            Some(answer.field("refresh_token").unwrap_or(refresh_token)),
            "with a fresh proof by its own key it then worked".into(),
        )
    } else {
        (
            None,
            format!(
                "with a fresh proof by its own key it was then {} too (the server may have revoked it)",
                answer.describe()
            ),
        )
    })
}

/// RFC 9449 §5: a public client's refresh token, issued with a proof,
/// needs a proof by the same key.
async fn refresh_binding(
    s: &mut Session<'_>,
    refresh_token: Option<String>,
    key: &DpopKey,
) -> Result<Vec<CheckResult>, AuditError> {
    let both = [
        &catalog::DPOP_REFRESH_WITHOUT_PROOF_ACCEPTED,
        &catalog::DPOP_REFRESH_OTHER_KEY_ACCEPTED,
    ];
    if s.opts.client_secret.is_some() {
        return Ok(skip(
            &both,
            "not applicable: RFC 9449 §5 binds a public client's refresh tokens; a confidential client's are bound to its credentials",
            None,
        ));
    }
    let Some(rt) = refresh_token else {
        let scope = s.opts.scopes.join(" ");
        return Ok(skip(
            &both,
            &format!("no refresh token was issued for scope {scope:?}"),
            None,
        ));
    };
    let mut out = Vec::new();

    s.say("a refresh without a DPoP proof, with a DPoP-bound refresh token");
    let (answer, ev) = s.refresh(&rt).await?;
    let rt = if answer.is_issued() {
        out.push(
            CheckResult::new(
                both[0],
                Status::Finding,
                "the refresh token, issued with a DPoP proof to a public client, was accepted without a proof",
            )
            .with(Some(ev)),
        );
        Some(answer.field("refresh_token").unwrap_or(rt))
    } else {
        let (rt, then) = control(s, rt, key).await?;
        out.push(
            CheckResult::new(
                both[0],
                Status::Pass,
                format!("{}; {then}", answer.describe()),
            )
            .with(Some(ev)),
        );
        rt
    };

    let Some(rt) = rt else {
        out.push(CheckResult::new(
            both[1],
            Status::Skipped,
            "no refresh token left to test with: after the refresh without a proof, it failed with a proof by its own key too",
        ));
        return Ok(out);
    };
    s.say("a refresh with a DPoP proof by another key");
    let other = crate::dpop::key()?;
    let (answer, ev, _) = s.token_with_proof(&refresh_params(&rt), &other).await?;
    if answer.is_issued() {
        out.push(
            CheckResult::new(
                both[1],
                Status::Finding,
                format!(
                    "the refresh token bound to the key {} was accepted with a proof by another key ({})",
                    shown_key(key),
                    shown_key(&other)
                ),
            )
            .with(Some(ev)),
        );
    } else {
        let (_, then) = control(s, rt, key).await?;
        out.push(
            CheckResult::new(
                both[1],
                Status::Pass,
                format!("{}; {then}", answer.describe()),
            )
            .with(Some(ev)),
        );
    }
    Ok(out)
}
