//! The challenges of a refused request: RFC 6750 §3 (`Bearer`) and
//! RFC 9449 §7.1 (`DPoP`), both carrying RFC 9728 §5.1's
//! `resource_metadata`, combined as RFC 9449 §7.2 recommends.

use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::credentials::Scheme;
use crate::error::AuthError;

/// The longest `error_description` sent; ours are far shorter.
const MAX_DESCRIPTION: usize = 200;

/// What every challenge of a resource says, whatever the error.
#[derive(Debug)]
pub(crate) struct ChallengeParams {
    /// The RFC 9728 metadata URL (`resource_metadata`).
    pub resource_metadata: String,
    /// The DPoP proof algorithms accepted, space-separated (`algs`).
    pub algs: String,
    /// Whether the `Bearer` scheme is accepted (not when DPoP-bound tokens
    /// are required).
    pub bearer: bool,
}

/// A refused request, ready to be answered: the [`AuthError`], the
/// scheme the request tried (if it could be told), and this resource's
/// challenge parameters.
///
/// | error | status | `WWW-Authenticate` |
/// |---|---|---|
/// | [`AuthError::MissingToken`] | 401 | `Bearer resource_metadata="…"` and `DPoP algs="…", resource_metadata="…"` (no error code, RFC 6750 §3.1, RFC 9449 §7.2) |
/// | [`AuthError::InvalidRequest`] | 400 | `error="invalid_request", error_description="…"` |
/// | [`AuthError::InvalidToken`] | 401 | `error="invalid_token", error_description="…"` |
/// | [`AuthError::InvalidDpopProof`] | 401 | `DPoP error="invalid_dpop_proof", error_description="…", algs="…", resource_metadata="…"` (RFC 9449 §7.1) |
/// | [`AuthError::InsufficientScope`] | 403 | `error="insufficient_scope", error_description="…", scope="…"` |
/// | [`AuthError::DpopKeyQuotaExceeded`] | 429 | none; `Retry-After` |
/// | [`AuthError::IssuerUnavailable`], [`AuthError::ReplayCacheFull`] | 503 | none; `Retry-After` when known |
///
/// Which scheme carries the error (RFC 9449 §7.2's recommendation): the
/// one the request used (`DPoP` for proof errors); when that cannot be
/// told (two `Authorization` headers, a token in the query string), every
/// accepted scheme. The other accepted scheme follows, bare, so the client
/// learns both. A `DPoP` challenge always names `algs`; both name
/// `resource_metadata`. When DPoP-bound tokens are required, only `DPoP`
/// challenges are sent (and a `Bearer` request's error goes in it).
///
/// Each challenge is its own `WWW-Authenticate` field (RFC 9110 §11.6.1
/// allows that or a comma-separated list), the one with the error first,
/// so that a client reading only the first field gets the error and the
/// metadata URL.
///
/// Coded errors also have a JSON body `{"error", "error_description"}`.
/// Every answer carries `Access-Control-Expose-Headers: WWW-Authenticate`,
/// so that a browser client allowed by the application's CORS policy can
/// read the challenge (MCP clients start their authorization from it);
/// whether any origin is allowed at all stays the application's decision.
#[derive(Debug)]
pub struct Rejection {
    error: AuthError,
    scheme: Option<Scheme>,
    params: Arc<ChallengeParams>,
}

impl Rejection {
    pub(crate) fn new(
        error: AuthError,
        scheme: Option<Scheme>,
        params: Arc<ChallengeParams>,
    ) -> Self {
        Self {
            error,
            scheme,
            params,
        }
    }

    /// Why the request was refused.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// The error, taken back.
    pub fn into_error(self) -> AuthError {
        self.error
    }

    /// The challenges, one `WWW-Authenticate` field each, the one carrying
    /// the error first; empty for a 503 or a 429 (the credentials are
    /// good: the client is to come back later, not with others).
    pub fn challenges(&self) -> Vec<String> {
        let offered: &[Scheme] = if self.params.bearer {
            &[Scheme::Bearer, Scheme::Dpop]
        } else {
            &[Scheme::Dpop]
        };
        let e = match &self.error {
            AuthError::IssuerUnavailable(_)
            | AuthError::ReplayCacheFull { .. }
            | AuthError::DpopKeyQuotaExceeded { .. } => return Vec::new(),
            AuthError::MissingToken => return offered.iter().map(|s| self.bare(*s)).collect(),
            e => e,
        };
        let carriers: Vec<Scheme> = match (e, self.scheme) {
            (AuthError::InvalidDpopProof(_), _) => vec![Scheme::Dpop],
            (_, Some(s)) if offered.contains(&s) => vec![s],
            // A Bearer request where only DPoP is accepted.
            (_, Some(_)) => vec![Scheme::Dpop],
            (_, None) => offered.to_vec(),
        };
        let mut out: Vec<String> = carriers.iter().map(|s| self.coded(*s, e)).collect();
        out.extend(
            offered
                .iter()
                .filter(|s| !carriers.contains(s))
                .map(|s| self.bare(*s)),
        );
        out
    }

    /// The `WWW-Authenticate` value, all challenges in one comma-separated
    /// list (RFC 9110 §11.6.1), if the answer has any.
    pub fn challenge(&self) -> Option<String> {
        let all = self.challenges();
        (!all.is_empty()).then(|| all.join(", "))
    }

    /// A challenge without error: what the scheme needs, and where the
    /// metadata is.
    fn bare(&self, scheme: Scheme) -> String {
        match scheme {
            Scheme::Bearer => format!("Bearer {}", self.metadata()),
            Scheme::Dpop => format!("DPoP {}, {}", self.algs(), self.metadata()),
        }
    }

    fn coded(&self, scheme: Scheme, e: &AuthError) -> String {
        let code = e.error_code().unwrap_or("invalid_request");
        let mut description = quoted_string(&e.description());
        truncate(&mut description, MAX_DESCRIPTION);
        let scope = match e {
            AuthError::InsufficientScope { required } => {
                format!(", scope=\"{}\"", quoted_string(&required.join(" ")))
            }
            _ => String::new(),
        };
        let (name, algs) = match scheme {
            Scheme::Bearer => ("Bearer", String::new()),
            Scheme::Dpop => ("DPoP", format!(", {}", self.algs())),
        };
        format!(
            "{name} error=\"{code}\", error_description=\"{description}\"{scope}{algs}, {}",
            self.metadata()
        )
    }

    fn metadata(&self) -> String {
        format!(
            "resource_metadata=\"{}\"",
            quoted_string(&self.params.resource_metadata)
        )
    }

    fn algs(&self) -> String {
        format!("algs=\"{}\"", quoted_string(&self.params.algs))
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let status = self.error.status();
        let challenges = self.challenges();
        let mut resp = match self.error.error_code() {
            Some(code) => (
                status,
                axum::Json(json!({"error": code, "error_description": self.error.description()})),
            )
                .into_response(),
            None => status.into_response(),
        };
        let headers = resp.headers_mut();
        for value in challenges
            .iter()
            .filter_map(|c| HeaderValue::from_str(c).ok())
        {
            headers.append(header::WWW_AUTHENTICATE, value);
        }
        if let Some(secs) = self.error.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate"),
        );
        resp
    }
}

/// RFC 6750 §3: attribute values may hold only %x20-21 / %x23-5B / %x5D-7E
/// (printable ASCII without `"` and `\`); anything else is dropped, so the
/// header always parses and nothing can be injected into it.
pub(crate) fn quoted_string(s: &str) -> String {
    s.chars()
        .filter(|c| matches!(c, ' '..='~') && *c != '"' && *c != '\\')
        .collect()
}

fn truncate(s: &mut String, max: usize) {
    // Only ASCII is left, so any index is a character boundary.
    if s.len() > max {
        s.truncate(max);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::error::{InvalidDpopProof, InvalidRequest, InvalidToken, IssuerError};

    const MD: &str =
        "resource_metadata=\"https://api.example/.well-known/oauth-protected-resource/x\"";

    fn params(bearer: bool) -> Arc<ChallengeParams> {
        Arc::new(ChallengeParams {
            resource_metadata: "https://api.example/.well-known/oauth-protected-resource/x".into(),
            algs: "ES256 EdDSA".into(),
            bearer,
        })
    }

    fn rejection(e: AuthError, scheme: Option<Scheme>) -> Rejection {
        Rejection::new(e, scheme, params(true))
    }

    #[test]
    fn quoted_string_drops_quotes_backslashes_and_controls() {
        assert_eq!(quoted_string("a\"b\\c\r\nd\u{e9}e\t"), "abcde");
        assert_eq!(quoted_string("scope:a b!#[]~"), "scope:a b!#[]~");
    }

    /// RFC 9449 §7.2 Figure 17: both schemes, no error.
    #[test]
    fn missing_token_has_no_error_code_and_both_schemes() {
        let r = rejection(AuthError::MissingToken, None);
        assert_eq!(
            r.challenges(),
            [
                format!("Bearer {MD}"),
                format!("DPoP algs=\"ES256 EdDSA\", {MD}")
            ]
        );
        assert_eq!(
            r.challenge().unwrap(),
            format!("Bearer {MD}, DPoP algs=\"ES256 EdDSA\", {MD}")
        );
        let r = Rejection::new(AuthError::MissingToken, None, params(false));
        assert_eq!(r.challenges(), [format!("DPoP algs=\"ES256 EdDSA\", {MD}")]);
    }

    /// RFC 9449 §7.2 Figure 18: the scheme used carries the error.
    #[test]
    fn invalid_token_goes_in_the_scheme_used() {
        let r = rejection(
            AuthError::InvalidToken(InvalidToken::Expired),
            Some(Scheme::Bearer),
        );
        assert_eq!(
            r.challenges(),
            [
                format!(
                    "Bearer error=\"invalid_token\", error_description=\"the access token has expired\", {MD}"
                ),
                format!("DPoP algs=\"ES256 EdDSA\", {MD}"),
            ]
        );
        let r = rejection(
            AuthError::InvalidToken(InvalidToken::DpopKeyMismatch),
            Some(Scheme::Dpop),
        );
        let c = r.challenges();
        assert!(
            c[0].starts_with("DPoP error=\"invalid_token\", error_description=\"the DPoP proof"),
            "{c:?}"
        );
        assert!(
            c[0].ends_with(&format!(", algs=\"ES256 EdDSA\", {MD}")),
            "{c:?}"
        );
        assert_eq!(c[1], format!("Bearer {MD}"));
    }

    #[test]
    fn proof_errors_are_dpop_challenges() {
        let r = rejection(
            AuthError::InvalidDpopProof(InvalidDpopProof::Replayed),
            None,
        );
        assert_eq!(
            r.challenges()[0],
            format!(
                "DPoP error=\"invalid_dpop_proof\", error_description=\"the DPoP proof has been used \
                 before\", algs=\"ES256 EdDSA\", {MD}"
            )
        );
        assert_eq!(r.error().status(), 401);
    }

    /// RFC 9449 §7.2 Figure 19: ambiguous, so both carry the error.
    #[test]
    fn ambiguous_requests_get_the_error_in_both() {
        let r = rejection(
            AuthError::InvalidRequest(InvalidRequest::MultipleAuthorizationHeaders),
            None,
        );
        let c = r.challenges();
        assert_eq!(c.len(), 2);
        assert!(
            c[0].starts_with("Bearer error=\"invalid_request\""),
            "{c:?}"
        );
        assert!(c[1].starts_with("DPoP error=\"invalid_request\""), "{c:?}");
    }

    #[test]
    fn bearer_when_dpop_is_required_gets_a_dpop_challenge_only() {
        let r = Rejection::new(
            AuthError::InvalidToken(InvalidToken::DpopRequired),
            Some(Scheme::Bearer),
            params(false),
        );
        let c = r.challenges();
        assert_eq!(c.len(), 1);
        assert!(c[0].starts_with("DPoP error=\"invalid_token\""), "{c:?}");
    }

    #[test]
    fn insufficient_scope_lists_the_required_scopes() {
        for scheme in [Scheme::Bearer, Scheme::Dpop] {
            let r = rejection(
                AuthError::InsufficientScope {
                    required: vec!["a".into(), "b\"c".into()],
                },
                Some(scheme),
            );
            let c = r.challenges();
            assert!(c[0].contains("error=\"insufficient_scope\""), "{c:?}");
            assert!(c[0].contains(", scope=\"a bc\", "), "{c:?}");
            assert_eq!(c[0].starts_with("DPoP "), scheme == Scheme::Dpop, "{c:?}");
        }
    }

    #[test]
    fn unavailable_is_503_without_challenge() {
        let r = rejection(
            AuthError::IssuerUnavailable(IssuerError::Backoff { retry_after: 12 }),
            None,
        );
        assert!(r.challenge().is_none());
        let resp = r.into_response();
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "12");
        let r = rejection(AuthError::ReplayCacheFull { retry_after: 7 }, None);
        assert!(r.challenges().is_empty());
        let resp = r.into_response();
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "7");
    }

    /// A key over its replay cache quota: 429, `Retry-After`, the JSON
    /// body of the 503s, no challenge.
    #[tokio::test]
    async fn a_key_over_its_quota_is_429_without_challenge() {
        let r = rejection(
            AuthError::DpopKeyQuotaExceeded { retry_after: 42 },
            Some(Scheme::Dpop),
        );
        assert!(r.challenges().is_empty());
        let resp = r.into_response();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "42");
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        assert!(resp.headers().get(header::WWW_AUTHENTICATE).is_none());
        let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
        assert_eq!(
            body["error_description"],
            "too many DPoP proofs by this key in the replay window; retry with a new proof later"
        );
    }

    #[test]
    fn each_challenge_is_its_own_header_field() {
        let resp = rejection(AuthError::MissingToken, None).into_response();
        let fields: Vec<_> = resp
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(fields.len(), 2);
        assert!(fields[0].starts_with("Bearer "));
        assert!(fields[1].starts_with("DPoP "));
    }
}
