//! The claims of an accepted access token (RFC 9068 §2.2; RFC 7662 §2.2
//! for introspection) and the checks every token passes (RFC 9068 §4).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::error::{AuthError, InvalidToken};

/// What a handler learns about the caller: the claims of the access token
/// that [`crate::RequireBearer`] accepted, put in the request's extensions.
/// It is also an axum extractor.
///
/// Whatever the validation mode, a token gets here only if `iss` is the
/// configured issuer, `aud` names this resource, `exp` has not passed and
/// `sub`, `client_id`, `iat` are present (and `jti`, for JWTs); and, for a
/// DPoP-bound token ([`AccessClaims::dpop_jkt`]), only with the `DPoP`
/// scheme and a valid proof made with the key it is bound to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AccessClaims {
    /// The issuer (RFC 9068 §2.2 `iss`); with introspection, the configured
    /// issuer when the answer omits it.
    pub iss: String,
    /// The resource owner, or the client itself for `client_credentials`.
    pub sub: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// The audiences; one of them is this resource's URI.
    pub aud: Vec<String>,
    /// The granted scopes, space-separated as issued (RFC 9068 §2.2.3);
    /// empty when the token has none. See [`AccessClaims::scopes`].
    pub scope: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issue time, seconds since the epoch.
    pub iat: u64,
    /// The token's identifier (always present in a JWT access token;
    /// present with introspection only if the issuer sends it).
    pub jti: Option<String>,
    /// When the user authenticated (RFC 9068 §2.2.1), if known.
    pub auth_time: Option<u64>,
    /// For a DPoP-bound token, the RFC 7638 thumbprint of the key it is
    /// bound to (`cnf.jkt`, RFC 9449 §6.1 and, by introspection, §6.2);
    /// the request's proof was made with that key. `None` for a bearer
    /// token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// Every other claim (or introspection member), as sent (`cnf` is
    /// read into [`AccessClaims::dpop_jkt`]).
    pub extra: Map<String, Value>,
}

impl AccessClaims {
    /// The granted scopes, one by one.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether `scope` was granted (exact, case-sensitive: RFC 6749 §3.3).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// `Ok` when every scope in `required` was granted, else
    /// [`AuthError::InsufficientScope`] naming all of `required` (RFC 6750
    /// §3.1: the challenge's `scope` lists what the resource needs).
    pub fn require_scopes<S: AsRef<str>>(&self, required: &[S]) -> Result<(), AuthError> {
        if required.iter().all(|r| self.has_scope(r.as_ref())) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope {
                required: required.iter().map(|r| r.as_ref().to_owned()).collect(),
            })
        }
    }
}

/// The extractor: the claims [`crate::RequireBearer`] put in the request.
impl<S: Send + Sync> FromRequestParts<S> for AccessClaims {
    type Rejection = ClaimsMissing;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AccessClaims>()
            .cloned()
            .ok_or(ClaimsMissing)
    }
}

/// The [`AccessClaims`] extractor's rejection: the handler's route is not
/// behind [`crate::RequireBearer`]. That is a bug in the application, so
/// the answer is a 500 (never the handler running unauthenticated).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("AccessClaims extracted on a route without the RequireBearer layer")]
pub struct ClaimsMissing;

impl IntoResponse for ClaimsMissing {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    }
}

/// A claim set as received, before the checks.
#[derive(Debug, Deserialize)]
pub(crate) struct RawClaims {
    iss: Option<String>,
    sub: Option<String>,
    client_id: Option<String>,
    aud: Option<Audience>,
    scope: Option<String>,
    #[serde(default, deserialize_with = "numeric_date")]
    exp: Option<u64>,
    #[serde(default, deserialize_with = "numeric_date")]
    iat: Option<u64>,
    #[serde(default, deserialize_with = "numeric_date")]
    nbf: Option<u64>,
    #[serde(default, deserialize_with = "numeric_date")]
    auth_time: Option<u64>,
    jti: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// RFC 7519 §4.1.3: `aud` is one string or an array of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// RFC 7519 §2 NumericDate: a JSON number of seconds, possibly
/// fractional (truncated here), never negative.
fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n = Option::<serde_json::Number>::deserialize(d)?;
    let Some(n) = n else { return Ok(None) };
    if let Some(u) = n.as_u64() {
        return Ok(Some(u));
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom("invalid NumericDate")),
    }
}

/// Where the claims come from: a JWT (RFC 9068 §2.2 requires `iss` and
/// `jti`) or an introspection answer (RFC 7662 §2.2: `iss` and `jti` are
/// optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Jwt,
    Introspection,
}

/// What the checks compare against.
#[derive(Debug)]
pub(crate) struct Expected<'a> {
    pub issuer: &'a str,
    pub resource: &'a str,
    pub leeway: u64,
    pub now: u64,
}

impl RawClaims {
    /// RFC 9068 §4: required claims present; `cnf`, if any, exactly
    /// `{"jkt": "..."}` (RFC 9449 §6.1; whether the token may be used with
    /// the request's scheme is the caller's check); `iss` exactly the
    /// issuer; `aud` containing exactly this resource's URI (RFC 8707 §2);
    /// `exp` not passed and `nbf` (if any) reached, both with the leeway.
    pub(crate) fn check(
        self,
        expected: &Expected<'_>,
        source: Source,
    ) -> Result<AccessClaims, InvalidToken> {
        let iss = match (self.iss, source) {
            (Some(iss), _) => iss,
            (None, Source::Introspection) => expected.issuer.to_owned(),
            (None, Source::Jwt) => return Err(InvalidToken::MissingClaim("iss")),
        };
        let sub = self.sub.ok_or(InvalidToken::MissingClaim("sub"))?;
        let client_id = self
            .client_id
            .ok_or(InvalidToken::MissingClaim("client_id"))?;
        let aud = match self.aud.ok_or(InvalidToken::MissingClaim("aud"))? {
            Audience::One(a) => vec![a],
            Audience::Many(v) => v,
        };
        let exp = self.exp.ok_or(InvalidToken::MissingClaim("exp"))?;
        let iat = self.iat.ok_or(InvalidToken::MissingClaim("iat"))?;
        if source == Source::Jwt && self.jti.is_none() {
            return Err(InvalidToken::MissingClaim("jti"));
        }
        let mut extra = self.extra;
        let dpop_jkt = match extra.remove("cnf") {
            None => None,
            Some(cnf) => Some(jkt(cnf)?),
        };
        if iss != expected.issuer {
            tracing::debug!(?iss, "token refused: iss is not the configured issuer");
            return Err(InvalidToken::WrongIssuer);
        }
        if !aud.iter().any(|a| a == expected.resource) {
            tracing::debug!(?aud, "token refused: aud does not name this resource");
            return Err(InvalidToken::WrongAudience);
        }
        if expected.now >= exp.saturating_add(expected.leeway) {
            return Err(InvalidToken::Expired);
        }
        if self
            .nbf
            .is_some_and(|nbf| nbf > expected.now.saturating_add(expected.leeway))
        {
            return Err(InvalidToken::NotYetValid);
        }
        Ok(AccessClaims {
            iss,
            sub,
            client_id,
            aud,
            scope: self.scope.unwrap_or_default(),
            exp,
            iat,
            jti: self.jti,
            auth_time: self.auth_time,
            dpop_jkt,
            extra,
        })
    }
}

/// RFC 7800 §3.1, RFC 9449 §6.1: the `jkt` of a `cnf` that holds exactly
/// that confirmation method. Another method (mTLS's `x5t#S256`, RFC 8705
/// §3.1), alone or with `jkt`, is a binding this resource cannot check:
/// the token is refused rather than half-checked.
fn jkt(cnf: Value) -> Result<String, InvalidToken> {
    let Value::Object(mut members) = cnf else {
        return Err(InvalidToken::MalformedClaims);
    };
    match (members.remove("jkt"), members.is_empty()) {
        (Some(Value::String(jkt)), true) if !jkt.is_empty() => Ok(jkt),
        _ => Err(InvalidToken::UnsupportedBinding),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://as.example",
            resource: "https://api.example/mcp",
            leeway: 60,
            now: NOW,
        }
    }

    fn claims(patch: Value) -> Value {
        let mut c = json!({
            "iss": "https://as.example", "sub": "alice", "client_id": "app",
            "aud": "https://api.example/mcp", "exp": NOW + 300, "iat": NOW,
            "jti": "j1", "scope": "a b"
        });
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    }

    fn check(patch: Value, source: Source) -> Result<AccessClaims, InvalidToken> {
        let raw: RawClaims = serde_json::from_value(claims(patch)).unwrap();
        raw.check(&expected(), source)
    }

    #[test]
    fn accepts_a_valid_set() {
        let c = check(json!({"extra": 1}), Source::Jwt).unwrap();
        assert_eq!(c.sub, "alice");
        assert!(c.has_scope("a") && c.has_scope("b") && !c.has_scope("c"));
        assert_eq!(c.extra["extra"], 1);
        assert!(c.require_scopes(&["a", "b"]).is_ok());
        assert!(c.require_scopes(&["a", "c"]).is_err());
    }

    #[test]
    fn aud_array_matches_any_element_exactly() {
        assert!(check(
            json!({"aud": ["x", "https://api.example/mcp"]}),
            Source::Jwt
        )
        .is_ok());
        for aud in [
            json!("https://api.example/mcp/"),
            json!("https://api.example"),
            json!(["https://API.example/mcp"]),
            json!([]),
        ] {
            assert_eq!(
                check(json!({ "aud": aud }), Source::Jwt),
                Err(InvalidToken::WrongAudience)
            );
        }
    }

    #[test]
    fn expiry_and_not_before_with_leeway() {
        assert!(check(json!({"exp": NOW - 59}), Source::Jwt).is_ok());
        assert_eq!(
            check(json!({"exp": NOW - 60}), Source::Jwt),
            Err(InvalidToken::Expired)
        );
        assert!(check(json!({"nbf": NOW + 60}), Source::Jwt).is_ok());
        assert_eq!(
            check(json!({"nbf": NOW + 61}), Source::Jwt),
            Err(InvalidToken::NotYetValid)
        );
        assert!(check(json!({"exp": (NOW + 10) as f64 + 0.5}), Source::Jwt).is_ok());
    }

    #[test]
    fn required_claims() {
        for name in ["iss", "sub", "client_id", "aud", "exp", "iat", "jti"] {
            assert_eq!(
                check(json!({ name: null }), Source::Jwt),
                Err(InvalidToken::MissingClaim(name)),
                "{name}"
            );
        }
        assert!(check(json!({"iss": null, "jti": null}), Source::Introspection).is_ok());
    }

    #[test]
    fn cnf_jkt_is_read_and_other_bindings_are_refused() {
        let c = check(json!({"cnf": {"jkt": "abc"}}), Source::Jwt).unwrap();
        assert_eq!(c.dpop_jkt.as_deref(), Some("abc"));
        assert!(!c.extra.contains_key("cnf"));
        assert_eq!(check(json!({}), Source::Jwt).unwrap().dpop_jkt, None);
        for cnf in [
            json!({"x5t#S256": "abc"}),
            json!({"jkt": "abc", "x5t#S256": "abc"}),
            json!({"jkt": 1}),
            json!({"jkt": ""}),
            json!({}),
        ] {
            assert_eq!(
                check(json!({ "cnf": cnf }), Source::Introspection),
                Err(InvalidToken::UnsupportedBinding),
                "{cnf}"
            );
        }
        assert_eq!(
            check(json!({"cnf": "abc"}), Source::Jwt),
            Err(InvalidToken::MalformedClaims)
        );
    }

    #[test]
    fn issuer_compared_exactly() {
        assert_eq!(
            check(json!({"iss": "https://as.example/"}), Source::Jwt),
            Err(InvalidToken::WrongIssuer)
        );
        assert_eq!(
            check(
                json!({"iss": "https://evil.example"}),
                Source::Introspection
            ),
            Err(InvalidToken::WrongIssuer)
        );
    }

    #[test]
    fn wrong_types_do_not_parse() {
        for patch in [
            json!({"exp": "soon"}),
            json!({"aud": 3}),
            json!({"exp": -1}),
        ] {
            assert!(serde_json::from_value::<RawClaims>(claims(patch)).is_err());
        }
    }
}
