//! The access token of a request, from the `Authorization` request header
//! and only from there: RFC 6750 §2.1 (`Bearer`) and RFC 9449 §7.1
//! (`DPoP`), which share one syntax.
//!
//! RFC 6750 §2.2 (form body) is not read; §2.3 (the `access_token` query
//! parameter) is refused explicitly: a token in a URL ends up in logs,
//! proxies and browser history (RFC 6750 §5.3: "Don't pass bearer tokens
//! in page URLs"; OAuth 2.1 drops the method).

use axum::http::{header, HeaderMap, Uri};

use crate::error::{AuthError, InvalidRequest, InvalidToken};

/// The authentication scheme a request's token came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// RFC 6750 §2.1.
    Bearer,
    /// RFC 9449 §7.1: the token is DPoP-bound and a proof comes with it.
    Dpop,
}

/// The token of a request and its scheme, checked against the syntax
/// (RFC 6750 §2.1; RFC 9449 §7.1's `token68` is the same):
///
/// ```text
/// credentials = ( "Bearer" / "DPoP" ) 1*SP b64token
/// b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
/// ```
///
/// The scheme is compared case-insensitively (RFC 9110 §11.1). No header,
/// or a header of another scheme, is "no credentials" (RFC 6750 §3.1: no
/// error code); a `Bearer` or `DPoP` header that does not hold exactly one
/// `b64token` is `invalid_request`, as are two `Authorization` headers and
/// an `access_token` query parameter. A token longer than `max_len` is
/// refused before anything else looks at it.
pub(crate) fn extract<'a>(
    headers: &'a HeaderMap,
    uri: &Uri,
    max_len: usize,
) -> Result<(Scheme, &'a str), AuthError> {
    if uri.query().is_some_and(has_access_token_param) {
        return Err(InvalidRequest::TokenInQuery.into());
    }
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::MissingToken);
    };
    if values.next().is_some() {
        return Err(InvalidRequest::MultipleAuthorizationHeaders.into());
    }
    let value = value
        .to_str()
        .map_err(|_| InvalidRequest::MalformedCredentials)?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let Some(scheme) = parse_scheme(scheme) else {
        // Another scheme (Basic...): no credentials we support.
        return Err(AuthError::MissingToken);
    };
    let token = rest.trim_start_matches(' ');
    if token.len() > max_len {
        return Err(InvalidToken::TooLong.into());
    }
    if !is_b64token(token) {
        return Err(InvalidRequest::MalformedCredentials.into());
    }
    Ok((scheme, token))
}

/// The scheme of the request's one `Authorization` header, if it is one
/// of ours; `None` when there is no such header, or several (ambiguous).
/// Only the challenge of a refusal uses this (RFC 9449 §7.2: the scheme
/// that was tried carries the error).
pub(crate) fn scheme(headers: &HeaderMap) -> Option<Scheme> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    let value = value.to_str().ok()?;
    parse_scheme(value.split_once(' ').map_or(value, |(s, _)| s))
}

fn parse_scheme(s: &str) -> Option<Scheme> {
    if s.eq_ignore_ascii_case("bearer") {
        Some(Scheme::Bearer)
    } else if s.eq_ignore_ascii_case("dpop") {
        Some(Scheme::Dpop)
    } else {
        None
    }
}

/// `b64token` (RFC 6750 §2.1): at least one character of the set, then
/// only `=` padding.
fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

fn has_access_token_param(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "access_token")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn run(values: &[&str], uri: &str) -> Result<(Scheme, String), AuthError> {
        let h = headers(values);
        let uri: Uri = uri.parse().unwrap();
        extract(&h, &uri, 64).map(|(s, t)| (s, t.to_owned()))
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for v in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR   abc"] {
            assert_eq!(
                run(&[v], "/").unwrap(),
                (Scheme::Bearer, "abc".into()),
                "{v}"
            );
        }
        for v in ["DPoP abc", "dpop abc", "DPOP  abc"] {
            assert_eq!(run(&[v], "/").unwrap(), (Scheme::Dpop, "abc".into()), "{v}");
        }
    }

    #[test]
    fn b64token_syntax() {
        assert_eq!(run(&["Bearer a-._~+/9=="], "/").unwrap().1, "a-._~+/9==");
        for v in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer ==",
            "Bearer a=b",
            "Bearer a,b",
            "Bearer \"a\"",
            "DPoP",
            "DPoP a b",
        ] {
            assert!(
                matches!(
                    run(&[v], "/"),
                    Err(AuthError::InvalidRequest(
                        InvalidRequest::MalformedCredentials
                    ))
                ),
                "{v}"
            );
        }
    }

    #[test]
    fn no_header_or_another_scheme_is_no_credentials() {
        assert!(matches!(run(&[], "/"), Err(AuthError::MissingToken)));
        for v in ["Basic YTpi", "DPoP2 abc", "Bearer2 abc"] {
            assert!(
                matches!(run(&[v], "/"), Err(AuthError::MissingToken)),
                "{v}"
            );
        }
    }

    #[test]
    fn two_headers_are_refused() {
        assert!(matches!(
            run(&["Bearer a", "DPoP b"], "/"),
            Err(AuthError::InvalidRequest(
                InvalidRequest::MultipleAuthorizationHeaders
            ))
        ));
    }

    #[test]
    fn scheme_of_the_request() {
        assert_eq!(scheme(&headers(&["dpop x"])), Some(Scheme::Dpop));
        assert_eq!(scheme(&headers(&["Bearer"])), Some(Scheme::Bearer));
        assert_eq!(scheme(&headers(&["Basic x"])), None);
        assert_eq!(scheme(&headers(&[])), None);
        assert_eq!(scheme(&headers(&["DPoP a", "DPoP b"])), None);
    }

    #[test]
    fn query_token_is_refused_even_with_a_header() {
        for uri in [
            "/x?access_token=abc",
            "/x?a=1&access_token=",
            "/x?access%5Ftoken=abc",
        ] {
            assert!(
                matches!(
                    run(&["Bearer abc"], uri),
                    Err(AuthError::InvalidRequest(InvalidRequest::TokenInQuery))
                ),
                "{uri}"
            );
        }
        assert!(run(&["Bearer abc"], "/x?access_tokens=1").is_ok());
    }

    #[test]
    fn long_token_is_refused_by_length() {
        for scheme in ["Bearer", "DPoP"] {
            let v = format!("{scheme} {}", "a".repeat(65));
            assert!(matches!(
                run(&[&v], "/"),
                Err(AuthError::InvalidToken(InvalidToken::TooLong))
            ));
        }
    }
}
