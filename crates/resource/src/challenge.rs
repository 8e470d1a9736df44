//! RFC 6750 §3: the `WWW-Authenticate: Bearer` challenge of a refused
//! request, carrying RFC 9728 §5.1's `resource_metadata`.

use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::AuthError;

/// The longest `error_description` sent; ours are far shorter.
const MAX_DESCRIPTION: usize = 200;

/// A refused request, ready to be answered: the [`AuthError`] and this
/// resource's metadata URL.
///
/// | error | status | `WWW-Authenticate` |
/// |---|---|---|
/// | [`AuthError::MissingToken`] | 401 | `Bearer resource_metadata="…"` (no error code, RFC 6750 §3.1) |
/// | [`AuthError::InvalidRequest`] | 400 | `Bearer error="invalid_request", error_description="…", resource_metadata="…"` |
/// | [`AuthError::InvalidToken`] | 401 | `Bearer error="invalid_token", error_description="…", resource_metadata="…"` |
/// | [`AuthError::InsufficientScope`] | 403 | `Bearer error="insufficient_scope", error_description="…", scope="…", resource_metadata="…"` |
/// | [`AuthError::IssuerUnavailable`] | 503 | none; `Retry-After` when known |
///
/// Coded errors also have a JSON body `{"error", "error_description"}`.
/// Every answer carries `Access-Control-Expose-Headers: WWW-Authenticate`,
/// so that a browser client allowed by the application's CORS policy can
/// read the challenge (MCP clients start their authorization from it);
/// whether any origin is allowed at all stays the application's decision.
#[derive(Debug)]
pub struct Rejection {
    error: AuthError,
    resource_metadata: Arc<str>,
}

impl Rejection {
    pub(crate) fn new(error: AuthError, resource_metadata: Arc<str>) -> Self {
        Self {
            error,
            resource_metadata,
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

    /// The `WWW-Authenticate` value, if the answer has one.
    pub fn challenge(&self) -> Option<String> {
        let metadata = format!(
            "resource_metadata=\"{}\"",
            quoted_string(&self.resource_metadata)
        );
        match &self.error {
            AuthError::MissingToken => Some(format!("Bearer {metadata}")),
            AuthError::IssuerUnavailable(_) => None,
            e => {
                let code = e.error_code().unwrap_or("invalid_request");
                let mut description = quoted_string(&e.description());
                truncate(&mut description, MAX_DESCRIPTION);
                let scope = match e {
                    AuthError::InsufficientScope { required } => {
                        format!(", scope=\"{}\"", quoted_string(&required.join(" ")))
                    }
                    _ => String::new(),
                };
                Some(format!(
                    "Bearer error=\"{code}\", error_description=\"{description}\"{scope}, {metadata}"
                ))
            }
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let status = self.error.status();
        let challenge = self.challenge();
        let mut resp = match self.error.error_code() {
            Some(code) => (
                status,
                axum::Json(json!({"error": code, "error_description": self.error.description()})),
            )
                .into_response(),
            None => status.into_response(),
        };
        let headers = resp.headers_mut();
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let AuthError::IssuerUnavailable(e) = &self.error {
            if let Some(secs) = e.retry_after() {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
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
    use crate::error::{InvalidToken, IssuerError};

    fn rejection(e: AuthError) -> Rejection {
        Rejection::new(
            e,
            Arc::from("https://api.example/.well-known/oauth-protected-resource/x"),
        )
    }

    #[test]
    fn quoted_string_drops_quotes_backslashes_and_controls() {
        assert_eq!(quoted_string("a\"b\\c\r\nd\u{e9}e\t"), "abcde");
        assert_eq!(quoted_string("scope:a b!#[]~"), "scope:a b!#[]~");
    }

    #[test]
    fn missing_token_has_no_error_code() {
        let r = rejection(AuthError::MissingToken);
        assert_eq!(
            r.challenge().unwrap(),
            "Bearer resource_metadata=\"https://api.example/.well-known/oauth-protected-resource/x\""
        );
    }

    #[test]
    fn invalid_token_names_code_description_and_metadata() {
        let r = rejection(AuthError::InvalidToken(InvalidToken::Expired));
        assert_eq!(
            r.challenge().unwrap(),
            "Bearer error=\"invalid_token\", error_description=\"the access token has expired\", \
             resource_metadata=\"https://api.example/.well-known/oauth-protected-resource/x\""
        );
    }

    #[test]
    fn insufficient_scope_lists_the_required_scopes() {
        let r = rejection(AuthError::InsufficientScope {
            required: vec!["a".into(), "b\"c".into()],
        });
        let c = r.challenge().unwrap();
        assert!(c.starts_with("Bearer error=\"insufficient_scope\""), "{c}");
        assert!(c.contains(", scope=\"a bc\", "), "{c}");
    }

    #[test]
    fn issuer_unavailable_is_503_without_challenge() {
        let r = rejection(AuthError::IssuerUnavailable(IssuerError::Backoff {
            retry_after: 12,
        }));
        assert!(r.challenge().is_none());
        let resp = r.into_response();
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "12");
    }
}
