//! `GET`/`POST /userinfo` (OIDC Core §5.3) with a bearer token (RFC 6750
//! §2.1) or a DPoP-bound one and its proof (RFC 9449 §7.1).

use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use proofkey_core::userinfo::{self, Presentation};
use proofkey_core::ErrorCode;

use crate::responses::{bearer_error, json_no_store};
use crate::AppState;

/// The UserInfo endpoint.
pub async fn userinfo(State(s): State<AppState>, method: Method, headers: HeaderMap) -> Response {
    // RFC 6750 §2, RFC 9449 §7.1: one set of credentials.
    if headers.get_all(header::AUTHORIZATION).iter().count() > 1 {
        return bearer_error(Some(&proofkey_core::OAuthError::invalid_request(
            "send one Authorization header",
        )));
    }
    let authorization = crate::params::authorization(&headers);
    // RFC 9110 §11.1: the scheme is case-insensitive.
    let scheme =
        |name| authorization.and_then(|v| proofkey_core::client_auth::credentials(v, name));
    let proofs = crate::dpop::proofs(&headers);
    let (token, how) = match (scheme("Bearer"), scheme("DPoP")) {
        (Some(t), _) => (t.trim(), Presentation::Bearer),
        (None, Some(t)) => (
            t.trim(),
            Presentation::Dpop {
                proofs: &proofs.0,
                method: method.as_str(),
            },
        ),
        // RFC 9449 §7.1: both schemes are offered.
        (None, None) => return crate::dpop::with_dpop_challenge(bearer_error(None)),
    };
    match userinfo::userinfo(&s.provider, token, how).await {
        Ok(info) => crate::dpop::with_nonce(&s.provider, json_no_store(StatusCode::OK, info)),
        // RFC 9449 §7.1: the DPoP scheme's errors carry its challenge; so
        // does a DPoP-bound token sent as a bearer token (§7.2).
        Err(e)
            if matches!(how, Presentation::Dpop { .. })
                || matches!(
                    e.code,
                    ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce
                )
                || e.description == userinfo::BOUND_AS_BEARER =>
        {
            crate::dpop::challenge_error(&s.provider, &e)
        }
        Err(e) => bearer_error(Some(&e)),
    }
}
