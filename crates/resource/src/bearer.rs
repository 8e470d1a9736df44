//! RFC 6750 §2.1: the access token, from the `Authorization` request
//! header and only from there.
//!
//! §2.2 (form body) is not read; §2.3 (the `access_token` query
//! parameter) is refused explicitly: a token in a URL ends up in logs,
//! proxies and browser history (RFC 6750 §5.3: "Don't pass bearer tokens
//! in page URLs"; OAuth 2.1 drops the method).

use axum::http::{header, HeaderMap, Uri};

use crate::error::{AuthError, InvalidRequest, InvalidToken};

/// The token of a request, checked against the §2.1 syntax:
///
/// ```text
/// credentials = "Bearer" 1*SP b64token
/// b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
/// ```
///
/// The scheme is compared case-insensitively (RFC 9110 §11.1). No header,
/// or a header of another scheme, is "no credentials" (§3.1: no error
/// code); a `Bearer` header that does not hold exactly one `b64token` is
/// `invalid_request`, as are two `Authorization` headers and an
/// `access_token` query parameter. A token longer than `max_len` is refused
/// before anything else looks at it.
pub(crate) fn extract<'a>(
    headers: &'a HeaderMap,
    uri: &Uri,
    max_len: usize,
) -> Result<&'a str, AuthError> {
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
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic, DPoP...): no credentials we support.
        return Err(AuthError::MissingToken);
    }
    let token = rest.trim_start_matches(' ');
    if token.len() > max_len {
        return Err(InvalidToken::TooLong.into());
    }
    if !is_b64token(token) {
        return Err(InvalidRequest::MalformedCredentials.into());
    }
    Ok(token)
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

    fn run(values: &[&str], uri: &str) -> Result<String, AuthError> {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        let uri: Uri = uri.parse().unwrap();
        extract(&h, &uri, 64).map(str::to_owned)
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for v in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR   abc"] {
            assert_eq!(run(&[v], "/").unwrap(), "abc", "{v}");
        }
    }

    #[test]
    fn b64token_syntax() {
        assert_eq!(run(&["Bearer a-._~+/9=="], "/").unwrap(), "a-._~+/9==");
        for v in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer ==",
            "Bearer a=b",
            "Bearer a,b",
            "Bearer \"a\"",
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
        assert!(matches!(
            run(&["Basic YTpi"], "/"),
            Err(AuthError::MissingToken)
        ));
        assert!(matches!(
            run(&["DPoP abc"], "/"),
            Err(AuthError::MissingToken)
        ));
    }

    #[test]
    fn two_headers_are_refused() {
        assert!(matches!(
            run(&["Bearer a", "Bearer b"], "/"),
            Err(AuthError::InvalidRequest(
                InvalidRequest::MultipleAuthorizationHeaders
            ))
        ));
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
        let v = format!("Bearer {}", "a".repeat(65));
        assert!(matches!(
            run(&[&v], "/"),
            Err(AuthError::InvalidToken(InvalidToken::TooLong))
        ));
    }
}
