//! Every check of the audit can fail: against a deliberately weak server
//! (tests/weak) each one reports its finding, and against the same server
//! with its weaknesses off none does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod weak;

use std::collections::BTreeSet;

use proofkey_audit::agent::Agent;
use proofkey_audit::catalog;
use proofkey_audit::forms::FormAgent;
use proofkey_audit::report::{Report, Status};
use weak::{Iss, Refresh, Weakness};

/// Audits a weak server. With `named`, its issuer is
/// `http://weak.example:PORT` (resolved to 127.0.0.1 by the client), so
/// that the issuer is not a loopback address.
async fn audit(w: Weakness, named: bool) -> Report {
    audit_scopes(w, named, &["openid"]).await
}

async fn audit_scopes(w: Weakness, named: bool, scopes: &[&str]) -> Report {
    let (addr, issuer) = weak::start(w, |a| {
        if named {
            format!("http://weak.example:{}", a.port())
        } else {
            format!("http://{a}")
        }
    })
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("weak.example", addr)
        .build()
        .unwrap();
    let mut agent = Agent::Forms(FormAgent::new(http.clone(), weak::USER, weak::PASSWORD));
    let opts = proofkey_audit::Options {
        issuer,
        client_id: weak::CLIENT.into(),
        client_secret: None,
        redirect_uri: weak::REDIRECT.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    };
    proofkey_audit::audit(http, opts, &mut agent, &|_| {})
        .await
        .unwrap()
}

fn with(report: &Report, status: Status) -> BTreeSet<&'static str> {
    report
        .results
        .iter()
        .filter(|r| r.status == status)
        .map(|r| r.id)
        .collect()
}

fn wide_open() -> Weakness {
    Weakness {
        advertise_plain_only: true,
        no_iss_metadata: true,
        offer_implicit_and_password: true,
        issuer_mismatch: true,
        jwks_private: true,
        pkce_optional: true,
        accept_plain: true,
        accept_unknown_method: true,
        no_challenge_syntax: true,
        verifier_optional: true,
        verifier_unchecked: true,
        no_verifier_syntax: true,
        codes_reusable: true,
        ignore_redirect_uri_at_token: true,
        strict_loopback_port: true,
        drop_state: true,
        iss: Iss::Missing,
        refresh: Refresh::NotRotated,
        dpop_bearer: true,
        dpop_refresh_without_proof: true,
        dpop_refresh_any_key: true,
        dpop_replay: true,
        par_request_uri_reusable: true,
        ..Weakness::default()
    }
}

fn refuses_badly() -> Weakness {
    Weakness {
        pkce_error_invalid_request: true,
        no_revoke_on_reuse: true,
        iss: Iss::Wrong,
        refresh: Refresh::RotatedReusable,
        ..Weakness::default()
    }
}

const WIDE_OPEN_FINDINGS: &[&str] = &[
    "discovery.s256-not-advertised",
    "discovery.plain-advertised",
    "discovery.iss-parameter-not-advertised",
    "discovery.implicit-grant",
    "discovery.password-grant",
    "discovery.issuer-mismatch",
    "discovery.jwks-private-key",
    "discovery.issuer-not-https",
    "authorize.challenge-missing-accepted",
    "authorize.plain-accepted",
    "authorize.unknown-method-accepted",
    "authorize.challenge-too-short-accepted",
    "authorize.challenge-bad-chars-accepted",
    "response.state-not-echoed",
    "response.iss-missing",
    "redirect.loopback-port-refused",
    "token.verifier-missing-accepted",
    "token.verifier-wrong-accepted",
    "token.verifier-too-short-accepted",
    "token.verifier-too-long-accepted",
    "token.verifier-bad-chars-accepted",
    "token.downgrade-accepted",
    "token.code-reuse-accepted",
    "token.redirect-uri-mismatch-accepted",
    "refresh.not-rotated",
    "dpop.access-token-not-bound",
    "dpop.refresh-without-proof-accepted",
    "dpop.refresh-other-key-accepted",
    "dpop.proof-replay-accepted",
    "par.request-uri-reuse-accepted",
    "par.challenge-missing-accepted",
    "par.plain-accepted",
];

const REFUSES_BADLY_FINDINGS: &[&str] = &[
    "response.iss-wrong",
    "token.pkce-error-code",
    "token.code-reuse-tokens-not-revoked",
    "refresh.reuse-accepted",
    "refresh.family-not-revoked",
];

#[tokio::test]
async fn a_wide_open_server_fires_every_check_that_can_see_it() {
    let report = audit(wide_open(), true).await;
    assert_eq!(report.results.len(), catalog::ALL.len());
    assert_eq!(
        with(&report, Status::Finding),
        WIDE_OPEN_FINDINGS.iter().copied().collect(),
        "{}",
        proofkey_audit::report::to_text(&report)
    );
    // What cannot be seen on a server that refuses nothing is skipped, and
    // says why.
    assert_eq!(
        with(&report, Status::Skipped),
        [
            "response.iss-wrong",
            "token.pkce-error-code",
            "token.code-reuse-tokens-not-revoked",
            "refresh.reuse-accepted",
            "refresh.family-not-revoked",
        ]
        .into_iter()
        .collect()
    );
    let f = report
        .results
        .iter()
        .find(|r| r.id == "token.verifier-too-long-accepted")
        .unwrap();
    let ev = f.evidence.as_ref().unwrap();
    assert!(
        ev.sent.contains("code_verifier=") && ev.sent.contains("(129 chars)"),
        "{ev:?}"
    );
    assert!(
        ev.received.contains("\"access_token\":\"[redacted]\""),
        "{ev:?}"
    );
    assert!(f.fix.is_some());
}

#[tokio::test]
async fn a_server_that_refuses_badly_fires_the_remaining_checks() {
    let report = audit(refuses_badly(), false).await;
    assert_eq!(
        with(&report, Status::Finding),
        REFUSES_BADLY_FINDINGS.iter().copied().collect(),
        "{}",
        proofkey_audit::report::to_text(&report)
    );
    let e = report
        .results
        .iter()
        .find(|r| r.id == "token.pkce-error-code")
        .unwrap();
    assert!(e.detail.contains("invalid_request"), "{}", e.detail);
}

#[test]
fn between_them_the_weak_servers_fire_every_check() {
    let all: BTreeSet<_> = catalog::ALL.iter().map(|c| c.id).collect();
    let fired: BTreeSet<_> = WIDE_OPEN_FINDINGS
        .iter()
        .chain(REFUSES_BADLY_FINDINGS)
        .copied()
        .collect();
    assert_eq!(fired, all);
}

#[tokio::test]
async fn the_same_server_without_weaknesses_passes_every_check() {
    let report = audit(Weakness::default(), false).await;
    let text = proofkey_audit::report::to_text(&report);
    assert_eq!(
        with(&report, Status::Pass).len(),
        catalog::ALL.len(),
        "{text}"
    );
    assert!(
        report.notes.iter().any(|n| n.starts_with("revoked ")),
        "{:?}",
        report.notes
    );
}

#[tokio::test]
async fn offline_access_refused_is_dropped_with_a_note() {
    let w = Weakness {
        refuse_offline_access: true,
        ..Weakness::default()
    };
    let report = audit_scopes(w, false, &["openid", "offline_access"]).await;
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("refused scope offline_access")),
        "{:?}",
        report.notes
    );
    assert_eq!(with(&report, Status::Finding).len(), 0);
}

/// Each DPoP and PAR weakness alone fires its check, and only it.
#[tokio::test]
async fn each_dpop_and_par_weakness_fires_its_own_check() {
    let d = Weakness::default;
    let cases = [
        (
            Weakness {
                dpop_bearer: true,
                ..d()
            },
            "dpop.access-token-not-bound",
        ),
        (
            Weakness {
                dpop_replay: true,
                ..d()
            },
            "dpop.proof-replay-accepted",
        ),
        (
            Weakness {
                dpop_refresh_without_proof: true,
                ..d()
            },
            "dpop.refresh-without-proof-accepted",
        ),
        (
            Weakness {
                dpop_refresh_any_key: true,
                ..d()
            },
            "dpop.refresh-other-key-accepted",
        ),
        (
            Weakness {
                par_request_uri_reusable: true,
                ..d()
            },
            "par.request-uri-reuse-accepted",
        ),
        (
            Weakness {
                par_pkce_optional: true,
                ..d()
            },
            "par.challenge-missing-accepted",
        ),
        (
            Weakness {
                par_accept_plain: true,
                ..d()
            },
            "par.plain-accepted",
        ),
    ];
    for (w, id) in cases {
        let report = audit_scopes(w, false, &["openid", "offline_access"]).await;
        let text = proofkey_audit::report::to_text(&report);
        assert_eq!(
            with(&report, Status::Finding),
            [id].into_iter().collect(),
            "{text}"
        );
        assert_eq!(with(&report, Status::Skipped).len(), 0, "{text}");
        let r = report.results.iter().find(|r| r.id == id).unwrap();
        assert!(r.fix.is_some() && r.evidence.is_some(), "{r:?}");
    }
}

/// A server that demands its DPoP nonce (RFC 9449 §8): the audit retries
/// with it, and every check passes. Reports name proofs by jti and key,
/// never show one.
#[tokio::test]
async fn a_server_demanding_dpop_nonces_passes_every_check() {
    let w = Weakness {
        dpop_nonce: true,
        ..Weakness::default()
    };
    let report = audit(w, false).await;
    let text = proofkey_audit::report::to_text(&report);
    assert_eq!(
        with(&report, Status::Pass).len(),
        catalog::ALL.len(),
        "{text}"
    );
    let json = report.to_json();
    assert!(json.contains("header DPoP: a proof with jti="), "{json}");
    // A compact JWS whose header is a JSON object starts with "eyJ".
    assert!(!json.contains("eyJ"), "{json}");
    let replay = report
        .results
        .iter()
        .find(|r| r.id == "dpop.proof-replay-accepted")
        .unwrap();
    assert!(
        replay.detail.contains("invalid_dpop_proof"),
        "{}",
        replay.detail
    );
}

/// Without an offline_access refresh token the proof is replayed on a
/// second code's redemption, and the refresh binding checks say why they
/// were skipped.
#[tokio::test]
async fn without_a_refresh_token_the_replay_uses_a_second_code() {
    for (replay, status) in [(false, Status::Pass), (true, Status::Finding)] {
        let w = Weakness {
            refresh: Refresh::None,
            dpop_replay: replay,
            ..Weakness::default()
        };
        let report = audit(w, false).await;
        let r = report
            .results
            .iter()
            .find(|r| r.id == "dpop.proof-replay-accepted")
            .unwrap();
        assert_eq!(r.status, status, "{r:?}");
        assert!(
            r.evidence
                .as_ref()
                .unwrap()
                .sent
                .contains("grant_type=authorization_code"),
            "{r:?}"
        );
        for id in [
            "dpop.refresh-without-proof-accepted",
            "dpop.refresh-other-key-accepted",
        ] {
            let r = report.results.iter().find(|r| r.id == id).unwrap();
            assert_eq!(r.status, Status::Skipped, "{r:?}");
            assert!(r.detail.contains("no refresh token"), "{r:?}");
        }
    }
}

/// Without DPoP or PAR advertised, their checks are skipped as not
/// applicable, and nothing is sent to them.
#[tokio::test]
async fn dpop_and_par_checks_are_skipped_when_not_advertised() {
    let w = Weakness {
        no_dpop: true,
        no_par: true,
        ..Weakness::default()
    };
    let report = audit(w, false).await;
    let skipped = with(&report, Status::Skipped);
    let new: BTreeSet<_> = catalog::ALL
        .iter()
        .map(|c| c.id)
        .filter(|id| id.starts_with("dpop.") || id.starts_with("par."))
        .collect();
    assert_eq!(skipped, new);
    for r in report.results.iter().filter(|r| new.contains(r.id)) {
        assert!(
            r.detail
                .starts_with("not applicable: the server does not advertise"),
            "{r:?}"
        );
    }
    assert_eq!(with(&report, Status::Finding).len(), 0);
}

/// A PAR endpoint that accepts anything but whose /authorize refuses it:
/// no code, so the checks pass, and say the push was accepted.
#[tokio::test]
async fn a_par_endpoint_that_checks_late_passes_and_is_described() {
    let w = Weakness {
        par_validate_late: true,
        ..Weakness::default()
    };
    let report = audit(w, false).await;
    for id in ["par.challenge-missing-accepted", "par.plain-accepted"] {
        let r = report.results.iter().find(|r| r.id == id).unwrap();
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(r.detail.contains("accepted it (HTTP 201"), "{r:?}");
    }
}
