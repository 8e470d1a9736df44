//! RFC 9068 §4: validating a JWT access token locally.
//!
//! In order: the JWS compact form (RFC 7515 §7.1); the header's `typ`
//! (`at+jwt` or `application/at+jwt`, case-insensitively: RFC 9068 §4,
//! RFC 7515 §4.1.9); `alg` among the allowed asymmetric algorithms (never
//! `none` or HMAC: RFC 8725 §3.1); no `crit` (RFC 7515 §4.1.11); the `kid`
//! in the issuer's JWK Set, for a key that fits `alg`; the signature; then
//! the claims ([`crate::claims`]: `iss`, `aud`, `exp`, `nbf`, required
//! claims). Only the header is read before the signature is verified.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::Value;

use crate::claims::{AccessClaims, Expected, RawClaims, Source};
use crate::error::{AuthError, InvalidToken};
use crate::jwks::{asymmetric_alg, KeyCache};

/// The JOSE header members looked at. A duplicate member is refused by
/// the parser, one of the two behaviours RFC 7515 §4 allows.
#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    crit: Option<Value>,
}

/// Validates `token` (already length-capped) and returns its claims.
/// `expected` is called after the key is found (a fetch may have taken
/// time), so that `now` is read when the claims are checked.
pub(crate) async fn verify<'a>(
    token: &str,
    keys: &KeyCache,
    algorithms: &[Algorithm],
    expected: impl FnOnce() -> Expected<'a>,
) -> Result<AccessClaims, AuthError> {
    let header = header(token)?;
    let alg = check_header(&header, algorithms)?;
    let kid = header.kid.as_deref().ok_or(InvalidToken::MissingKeyId)?;
    let key = keys.key(kid, alg).await?;

    let mut validation = jsonwebtoken::Validation::new(alg);
    // The claims are checked below, against the injected clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.leeway = 0;
    let raw = jsonwebtoken::decode::<RawClaims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature | ErrorKind::Crypto(_) => InvalidToken::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidKeyFormat => InvalidToken::KeyMismatch,
            ErrorKind::Json(_) | ErrorKind::Utf8(_) => InvalidToken::MalformedClaims,
            _ => InvalidToken::Malformed,
        })?
        .claims;
    Ok(raw.check(&expected(), Source::Jwt)?)
}

/// The header of a JWS compact serialization: exactly three non-empty
/// base64url parts (no padding), the first a JSON object.
fn header(token: &str) -> Result<Header, InvalidToken> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(InvalidToken::Malformed);
    };
    if [h, p, s].iter().any(|part| !is_base64url(part)) {
        return Err(InvalidToken::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| InvalidToken::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| InvalidToken::Malformed)
}

fn is_base64url(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `typ`, `alg` and `crit`; the algorithm to verify with.
fn check_header(h: &Header, allowed: &[Algorithm]) -> Result<Algorithm, InvalidToken> {
    let typ_ok = h.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(InvalidToken::WrongType);
    }
    let alg = asymmetric_alg(&h.alg)
        .filter(|a| allowed.contains(a))
        .ok_or(InvalidToken::UnsupportedAlgorithm)?;
    if h.crit.is_some() {
        return Err(InvalidToken::CriticalHeader);
    }
    Ok(alg)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn token(header: Value) -> String {
        format!(
            "{}.e30.c2ln",
            URL_SAFE_NO_PAD.encode(header.to_string().as_bytes())
        )
    }

    fn checked(header: Value) -> Result<Algorithm, InvalidToken> {
        check_header(
            &self::header(&token(header))?,
            &[Algorithm::ES256, Algorithm::EdDSA],
        )
    }

    #[test]
    fn typ_must_be_at_jwt() {
        for typ in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/AT+JWT",
        ] {
            assert_eq!(
                checked(json!({"alg": "ES256", "typ": typ})),
                Ok(Algorithm::ES256)
            );
        }
        for typ in [
            json!("JWT"),
            json!("jwt"),
            json!("at+jwt "),
            json!(null),
            json!(1),
        ] {
            assert!(
                checked(json!({"alg": "ES256", "typ": typ})).is_err(),
                "{typ}"
            );
        }
        assert_eq!(
            checked(json!({"alg": "ES256"})),
            Err(InvalidToken::WrongType)
        );
    }

    #[test]
    fn alg_none_hmac_and_unlisted_are_refused() {
        for alg in [
            "none", "None", "HS256", "HS384", "HS512", "RS256", "es256", "",
        ] {
            assert_eq!(
                checked(json!({"alg": alg, "typ": "at+jwt"})),
                Err(InvalidToken::UnsupportedAlgorithm),
                "{alg}"
            );
        }
        assert_eq!(
            checked(json!({"alg": "EdDSA", "typ": "at+jwt"})),
            Ok(Algorithm::EdDSA)
        );
    }

    #[test]
    fn crit_is_refused() {
        assert_eq!(
            checked(json!({"alg": "ES256", "typ": "at+jwt", "crit": ["exp"]})),
            Err(InvalidToken::CriticalHeader)
        );
    }

    #[test]
    fn compact_form_is_required() {
        for t in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "a..c",
            "a.b.",
            "a.b.c=",
            "a+.b.c",
            "e30.e30.e30",
        ] {
            assert!(header(t).is_err(), "{t}");
        }
        let dup = format!(
            "{}.e30.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","alg":"none","typ":"at+jwt"}"#)
        );
        assert_eq!(header(&dup).err(), Some(InvalidToken::Malformed));
    }
}
