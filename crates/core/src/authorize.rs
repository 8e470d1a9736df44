//! The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core
//! §3.1.2.1) and its validation, one check after another.
//!
//! RFC 6749 §4.1.2.1 splits errors in two: while the client and redirect URI
//! are not established (unknown `client_id`, missing or unregistered
//! `redirect_uri`) the user is told directly and nothing is redirected
//! ([`AuthorizeError::Page`]); every later error goes back to the client
//! with `error`, `error_description`, `state` and `iss` (RFC 9207)
//! ([`AuthorizeError::Redirect`]).

use proofkey_pkce::{ChallengeError, ChallengePolicy, CodeChallenge};

use crate::error::{ErrorCode, OAuthError};
use crate::model::Client;
use crate::{redirect_uri, scope};

/// Parameters this server reads; anything else is ignored (§3.1).
pub const PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "prompt",
    "max_age",
    "dpop_jkt",
    "request",
    "ui_locales",
    "login_hint",
];

/// The longest `state` and `nonce` accepted: both are echoed (in the
/// redirect, in the ID token) and a pushed request stores them.
pub const MAX_ECHOED: usize = 1024;

/// The longest `ui_locales` or `login_hint` taken into account.
pub const MAX_HINT: usize = 256;

/// `prompt` (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prompt {
    /// `none`: never show a page.
    pub none: bool,
    /// `login`: authenticate again.
    pub login: bool,
    /// `consent`: ask again.
    pub consent: bool,
}

/// A request that passed every check.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    /// The client.
    pub client: Client,
    /// The redirect URI, as sent.
    pub redirect_uri: String,
    /// `state`, echoed.
    pub state: Option<String>,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// The PKCE challenge.
    pub challenge: CodeChallenge,
    /// OIDC nonce.
    pub nonce: Option<String>,
    /// OIDC prompt.
    pub prompt: Prompt,
    /// OIDC `max_age`: seconds since the last authentication beyond which the
    /// user must log in again.
    pub max_age: Option<i64>,
    /// The resources asked for (RFC 8707), checked by
    /// [`crate::authorization::validate`]; space-separated.
    pub resources: String,
    /// The original parameters (to carry through the login and consent
    /// forms): for a pushed request, only `client_id` and `request_uri`.
    pub params: Vec<(String, String)>,
    /// RFC 9449 §10 `dpop_jkt`: the key the code is bound to.
    pub dpop_jkt: Option<String>,
    /// OIDC Core §3.1.2.1 `ui_locales`: the languages the user prefers for
    /// the pages, most preferred first (a hint; at most [`MAX_HINT`] bytes
    /// kept).
    pub ui_locales: Option<String>,
    /// OIDC Core §3.1.2.1 `login_hint`: the username the login form starts
    /// with (a hint; at most [`MAX_HINT`] bytes kept).
    pub login_hint: Option<String>,
    /// For a pushed request (RFC 9126 §4), the hash of its `request_uri`,
    /// consumed when the code is issued.
    pub pushed: Option<String>,
    /// For a pushed request, when it was pushed: a sign-in since then
    /// honours its `prompt=login` (the forms cannot drop it from the
    /// stored parameters, as they do from a request sent in full).
    pub pushed_at: Option<i64>,
}

/// Where an error goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The database cannot be reached: a 503 page, nothing redirected.
    Unavailable,
    /// Shown to the user as an HTML page with status 400; never redirected.
    Page(String),
    /// Sent back to the client's redirect URI.
    Redirect {
        /// The validated redirect URI.
        redirect_uri: String,
        /// The error.
        error: OAuthError,
        /// `state`, echoed.
        state: Option<String>,
    },
}

/// Parameters as name/value pairs, with the duplicates §3.1 forbids found.
/// Its `Debug` shows the values of [`SECRET_PARAMS`] as `<redacted>`.
#[derive(Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
    /// More than [`MAX_PARAMS`] pairs came: every lookup fails.
    overflow: bool,
}

/// The most parameters a request may carry. OAuth requests have a few
/// dozen names at most; a hostile one could send hundreds of thousands of
/// pairs, each an allocation and each scanned by every lookup.
pub const MAX_PARAMS: usize = 64;

/// Parameters whose values are secrets (codes, verifiers, tokens, client
/// credentials, passwords, user codes), never shown.
pub const SECRET_PARAMS: &[&str] = &[
    "code",
    "code_verifier",
    "refresh_token",
    "client_secret",
    "client_assertion",
    "token",
    "device_code",
    "user_code",
    "password",
    "id_token_hint",
    "csrf",
    "request_uri",
];

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.pairs.iter().map(|(k, v)| {
                let shown = if SECRET_PARAMS.contains(&k.as_str()) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            }))
            .finish()
    }
}

impl Params {
    /// From decoded query or form pairs, read lazily: past [`MAX_PARAMS`]
    /// pairs nothing more is read, and every lookup fails.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut pairs = pairs.into_iter();
        let kept: Vec<_> = pairs.by_ref().take(MAX_PARAMS).collect();
        let overflow = pairs.next().is_some();
        Self {
            pairs: kept,
            overflow,
        }
    }

    /// The single value of `name`; `Err` if it is repeated.
    pub fn get(&self, name: &str) -> Result<Option<&str>, String> {
        if self.overflow {
            return Err(format!("the request has more than {MAX_PARAMS} parameters"));
        }
        let mut found = self
            .pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = found.next();
        if found.next().is_some() {
            return Err(format!("parameter {name} is repeated (RFC 6749 §3.1)"));
        }
        // An empty value is treated as absent (RFC 6749 §3.1).
        Ok(first.filter(|v| !v.is_empty()))
    }

    /// Every value of `name`, a parameter that may be repeated (RFC 8707
    /// §2 `resource`); empty values are refused.
    pub fn get_all(&self, name: &str) -> Result<Vec<&str>, String> {
        if self.overflow {
            return Err(format!("the request has more than {MAX_PARAMS} parameters"));
        }
        let all: Vec<&str> = self
            .pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        if all.iter().any(|v| v.is_empty()) {
            return Err(format!("parameter {name} is empty"));
        }
        Ok(all)
    }

    /// The known parameters, for re-sending through a form.
    pub fn known(&self) -> Vec<(String, String)> {
        self.pairs
            .iter()
            .filter(|(k, _)| PARAMS.contains(&k.as_str()) || k == "resource")
            .cloned()
            .collect()
    }
}

/// Runs every check of an authorization request. `client` is the registered
/// client for `client_id`, looked up by the caller.
pub fn validate(
    params: &Params,
    client: Option<Client>,
    policy: &ChallengePolicy,
) -> Result<ValidRequest, AuthorizeError> {
    // Until the client and redirect URI are established: no redirects.
    let page = AuthorizeError::Page;
    let client_id = params.get("client_id").map_err(page)?;
    let Some(_) = client_id else {
        return Err(AuthorizeError::Page("the request has no client_id".into()));
    };
    let Some(client) = client else {
        return Err(AuthorizeError::Page(
            "the client_id is not registered here".into(),
        ));
    };
    let redirect = params.get("redirect_uri").map_err(page)?;
    let Some(redirect) = redirect else {
        return Err(AuthorizeError::Page(
            "the request has no redirect_uri".into(),
        ));
    };
    if !redirect_uri::matches(&client.redirect_uris, redirect) {
        return Err(AuthorizeError::Page(
            "the redirect_uri is not registered for this client".into(),
        ));
    }
    let redirect_uri = redirect.to_owned();

    // From here on, errors go back to the client. `state` first, so that
    // even a repeated parameter error carries it when it can.
    let state = params.get("state").ok().flatten().map(str::to_owned);
    let fail = |code: ErrorCode, description: String| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        error: OAuthError::new(code, description),
        state: state.clone(),
    };
    let invalid = |d: String| fail(ErrorCode::InvalidRequest, d);
    for name in PARAMS {
        params.get(name).map_err(invalid)?;
    }
    let get = |name: &str| params.get(name).ok().flatten();
    if get("request").is_some() {
        return Err(fail(
            ErrorCode::RequestNotSupported,
            "request objects are not supported; send the parameters, or push them (RFC 9126)"
                .into(),
        ));
    }
    for name in ["state", "nonce"] {
        if get(name).is_some_and(|v| v.len() > MAX_ECHOED) {
            return Err(invalid(format!(
                "{name} is longer than {MAX_ECHOED} characters"
            )));
        }
    }

    match get("response_type") {
        None => return Err(invalid("response_type is required".into())),
        Some("code") => {}
        Some(other) => {
            return Err(fail(
                ErrorCode::UnsupportedResponseType,
                format!("response_type {other:?} is not supported; use code"),
            ))
        }
    }
    if !client.grant_types.iter().any(|g| g == "authorization_code") {
        return Err(fail(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code grant".into(),
        ));
    }

    // RFC 7636 §4.4.1: PKCE is required of every client (OAuth 2.1 §4.1.1).
    let Some(challenge) = get("code_challenge") else {
        return Err(invalid(
            "code_challenge is required (PKCE, RFC 7636); send code_challenge and code_challenge_method=S256".into(),
        ));
    };
    let challenge = CodeChallenge::from_request(challenge, get("code_challenge_method"), policy)
        .map_err(|e: ChallengeError| invalid(e.to_string()))?;

    let scopes = scope::parse_request(get("scope").unwrap_or(""))
        .map_err(|e| fail(ErrorCode::InvalidScope, e))?;
    if let Some(bad) = scopes.iter().find(|s| !scope::is_valid_token(s)) {
        return Err(fail(
            ErrorCode::InvalidScope,
            format!("scope {bad:?} is malformed"),
        ));
    }
    if let Some(unknown) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        return Err(fail(
            ErrorCode::InvalidScope,
            format!("scope {unknown:?} is not available to this client"),
        ));
    }

    let mut prompt = Prompt::default();
    for p in get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
    {
        match p {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => {}
            other => return Err(invalid(format!("prompt value {other:?} is not supported"))),
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(invalid(
            "prompt=none cannot be combined with other values (OIDC Core §3.1.2.1)".into(),
        ));
    }

    let max_age = match get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => return Err(invalid(format!("max_age {v:?} is not a number of seconds"))),
        },
    };

    // RFC 9449 §10: a JWK SHA-256 thumbprint, base64url (43 characters).
    let dpop_jkt = get("dpop_jkt").map(str::to_owned);
    if let Some(jkt) = &dpop_jkt {
        let well_formed = jkt.len() == 43
            && jkt
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(invalid(
                "dpop_jkt must be a base64url JWK SHA-256 thumbprint (RFC 9449 §10)".into(),
            ));
        }
    }

    // OIDC Core §3.1.2.1: hints, never errors; an overlong one is ignored.
    let hint = |name: &str| get(name).filter(|v| v.len() <= MAX_HINT).map(str::to_owned);
    Ok(ValidRequest {
        ui_locales: hint("ui_locales"),
        login_hint: hint("login_hint"),
        dpop_jkt,
        pushed: None,
        pushed_at: None,
        client,
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        scopes,
        challenge,
        nonce: get("nonce").map(str::to_owned),
        prompt,
        max_age,
        resources: String::new(),
        params: params.known(),
    })
}

/// Builds the redirect back to the client: `redirect_uri` with `extra`
/// appended to its query, keeping any query it had (RFC 6749 §3.1.2).
pub fn redirect_with(redirect_uri: &str, extra: &[(&str, &str)]) -> String {
    if extra.is_empty() {
        // Not even a "?": the registered URI exactly.
        return redirect_uri.to_owned();
    }
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in extra {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        // Registered URIs always parse; keep a safe fallback regardless.
        Err(_) => redirect_uri.to_owned(),
    }
}

/// The error redirect: `error`, `error_description`, `state`, `iss`.
pub fn error_redirect(
    redirect_uri: &str,
    error: &OAuthError,
    state: Option<&str>,
    issuer: &str,
) -> String {
    let mut extra = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_str()),
    ];
    if let Some(s) = state {
        extra.push(("state", s));
    }
    extra.push(("iss", issuer));
    redirect_with(redirect_uri, &extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_show_no_secret_in_debug() {
        let p = Params::new(vec![
            ("grant_type".into(), "authorization_code".into()),
            ("code".into(), "the-code-value".into()),
            ("code_verifier".into(), "the-verifier-value".into()),
            ("client_secret".into(), "the-secret-value".into()),
            ("refresh_token".into(), "the-refresh-value".into()),
        ]);
        let shown = format!("{p:?}");
        assert!(shown.contains("authorization_code"), "{shown}");
        assert!(!shown.contains("-value"), "{shown}");
    }
}
