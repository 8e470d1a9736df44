//! The requests an audit makes, and how their answers are read: building
//! (deliberately wrong) authorization requests, redeeming codes, refreshing,
//! asking whether a token still works, and keeping every token obtained so
//! that it can be revoked at the end.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::agent::Agent;
use crate::forms::Landing;
use crate::report::Evidence;
use crate::AuditError;

/// What the audit was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The issuer identifier to audit.
    pub issuer: String,
    /// A client registered there for the code flow.
    pub client_id: String,
    /// Its secret, for a confidential client.
    pub client_secret: Option<String>,
    /// A redirect URI registered for the client.
    pub redirect_uri: String,
    /// Scopes to ask for.
    pub scopes: Vec<String>,
}

/// The endpoints and settings read from discovery.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    pub authorization: Url,
    pub token: Url,
    pub userinfo: Option<Url>,
    pub introspection: Option<Url>,
    pub revocation: Option<Url>,
    /// RFC 9126 `pushed_authorization_request_endpoint`.
    pub par: Option<Url>,
    /// RFC 9449 `dpop_signing_alg_values_supported`, when advertised.
    pub dpop_algs: Option<Vec<String>>,
    /// Use HTTP Basic for client authentication (else client_secret_post).
    pub basic_auth: bool,
}

/// How the authorization request carries (or does not carry) PKCE.
#[derive(Debug, Clone)]
pub(crate) enum Pkce {
    /// No `code_challenge` at all.
    Absent,
    /// S256 of this verifier (which may itself break the ABNF on purpose).
    S256(String),
    /// `code_challenge_method=plain` with this verifier as the challenge.
    Plain(String),
    /// This challenge and method, verbatim.
    Raw { challenge: String, method: String },
}

/// BASE64URL(SHA256(ASCII(verifier))), RFC 7636 §4.2, for any string (the
/// PKCE crate refuses to build verifiers that break the ABNF; the audit
/// needs exactly those).
pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A fresh random value of 32 bytes, base64url: 43 valid verifier characters.
pub(crate) fn random() -> Result<String, AuditError> {
    proofkey_core::secret::random_token(32).map_err(|e| AuditError::Random(e.to_string()))
}

/// An authorization request's parameters, in the order sent.
pub(crate) type RequestParams = Vec<(&'static str, String)>;

/// Whether the browser agent may first send an authorization request
/// without cookies (see [`crate::agent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// It may: sending the request twice does no harm.
    Allowed,
    /// It may not: the server may use the request up on its first load (a
    /// pushed request's `request_uri`, RFC 9126 §4).
    Never,
}

/// An authorization request that was sent, and where it landed.
#[derive(Debug)]
pub(crate) struct Authorization {
    pub state: String,
    pub redirect_uri: String,
    pub landing: Landing,
    pub evidence: Evidence,
}

impl Authorization {
    fn param(&self, name: &str) -> Option<String> {
        match &self.landing {
            Landing::Redirect(url) => url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned()),
            Landing::Page { .. } => None,
        }
    }

    /// The code, if the server issued one.
    pub fn code(&self) -> Option<String> {
        self.param("code")
    }

    /// The `error` of an error redirect.
    pub fn error(&self) -> Option<String> {
        self.param("error")
    }

    /// `state` as returned.
    pub fn returned_state(&self) -> Option<String> {
        self.param("state")
    }

    /// `iss` as returned (RFC 9207).
    pub fn iss(&self) -> Option<String> {
        self.param("iss")
    }

    /// How the server refused, in words, or `None` when it issued a code.
    pub fn refusal(&self) -> Option<String> {
        match &self.landing {
            Landing::Redirect(_) if self.code().is_some() => None,
            Landing::Redirect(_) => Some(format!(
                "refused with error={}",
                self.error().unwrap_or_else(|| "(none)".into())
            )),
            Landing::Page { status: 0, .. } => Some(
                "refused: no redirect came back (the server kept the browser on its own page)"
                    .into(),
            ),
            Landing::Page { status, .. } => Some(format!(
                "refused with its own page (HTTP {status}), no redirect"
            )),
        }
    }
}

/// The answer of the token endpoint.
#[derive(Debug)]
pub(crate) enum TokenAnswer {
    /// Tokens were issued.
    Issued(Value),
    /// Refused, with this `error` (empty when the body had none).
    Refused { status: u16, error: String },
}

impl TokenAnswer {
    pub fn is_issued(&self) -> bool {
        matches!(self, TokenAnswer::Issued(_))
    }

    pub fn field(&self, name: &str) -> Option<String> {
        match self {
            TokenAnswer::Issued(v) => v.get(name).and_then(Value::as_str).map(str::to_owned),
            TokenAnswer::Refused { .. } => None,
        }
    }

    /// The refusal in words (`HTTP 400 invalid_grant`).
    pub fn describe(&self) -> String {
        match self {
            TokenAnswer::Issued(_) => "tokens were issued".into(),
            TokenAnswer::Refused { status, error } if error.is_empty() => {
                format!("refused with HTTP {status} and no error code")
            }
            TokenAnswer::Refused { status, error } => format!("refused with HTTP {status} {error}"),
        }
    }
}

/// Whether a token still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    Active,
    Inactive,
    Unknown,
}

/// Keys whose values never appear in a report.
const SECRET_KEYS: &[&str] = &[
    "client_secret",
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "password",
    "client_assertion",
];

/// Random one-time values, shortened in reports (their length kept: for a
/// verifier it is the point).
const OPAQUE_KEYS: &[&str] = &[
    "code",
    "code_verifier",
    "code_challenge",
    "state",
    "nonce",
    "session_state",
    "request_uri",
];

/// A parameter value as a report shows it: secrets redacted, long random
/// values shortened.
pub(crate) fn shown(key: &str, value: &str) -> String {
    if SECRET_KEYS.contains(&key) {
        return "[redacted]".into();
    }
    let n = value.chars().count();
    if n > 24 && OPAQUE_KEYS.contains(&key) {
        let head: String = value.chars().take(8).collect();
        let tail: String = value.chars().skip(n - 4).collect();
        format!("{head}…{tail} ({n} chars)")
    } else {
        value.to_owned()
    }
}

pub(crate) fn shown_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .map(|(k, v)| format!("{k}={}", shown(k, v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) fn shown_url(url: &Url) -> String {
    let mut base = url.clone();
    base.set_query(None);
    let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    if q.is_empty() {
        return base.to_string();
    }
    format!(
        "{base}?{}",
        shown_pairs(q.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    )
}

/// An answer's body as JSON (`Null` if it is not), and how a report shows
/// it: the status and the JSON with secrets redacted, or the first 200
/// characters of a body that is not JSON.
pub(crate) fn answer(status: u16, body: &str) -> (Value, String) {
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let shown = if json.is_null() {
        format!(
            "HTTP {status} {}",
            body.chars().take(200).collect::<String>()
        )
    } else {
        format!("HTTP {status} {}", shown_json(&json))
    };
    (json, shown)
}

pub(crate) fn shown_json(v: &Value) -> String {
    let mut v = v.clone();
    if let Some(obj) = v.as_object_mut() {
        for (k, val) in obj.iter_mut() {
            if SECRET_KEYS.contains(&k.as_str()) {
                *val = Value::String("[redacted]".into());
            } else if let (true, Some(text)) = (OPAQUE_KEYS.contains(&k.as_str()), val.as_str()) {
                *val = Value::String(shown(k, text));
            }
        }
    }
    v.to_string()
}

/// Whether `url` is a redirect to `redirect_uri`: same scheme, host and
/// path, and the same port unless the host is a loopback IP literal (where
/// RFC 8252 §7.3 lets the port vary).
pub(crate) fn is_redirect_to(url: &Url, redirect_uri: &Url) -> bool {
    url.scheme() == redirect_uri.scheme()
        && url.host_str() == redirect_uri.host_str()
        && url.path() == redirect_uri.path()
        && (url.port_or_known_default() == redirect_uri.port_or_known_default()
            || is_loopback(redirect_uri))
}

pub(crate) use proofkey_core::redirect_uri::is_loopback_host as is_loopback;

/// The running audit: the HTTP client, the user agent that obtains codes,
/// and the tokens to revoke at the end.
pub(crate) struct Session<'a> {
    pub http: reqwest::Client,
    pub opts: Options,
    pub ep: Endpoints,
    pub agent: &'a mut Agent,
    /// (token, token_type_hint) of everything issued to the audit.
    pub obtained: Vec<(String, &'static str)>,
    /// What the report should mention besides the checks.
    pub notes: Vec<String>,
    /// The server's latest DPoP nonce (RFC 9449 §8), sent in every proof.
    pub dpop_nonce: Option<String>,
    pub progress: &'a (dyn Fn(&str) + Sync),
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("ep", &self.ep)
            .field("obtained", &self.obtained.len())
            .finish_non_exhaustive()
    }
}

impl Session<'_> {
    /// `prompt=consent` when the scopes ask for offline access (OIDC Core
    /// §11), for the flows that need a refresh token: only those ask, so a
    /// person sees as few consent pages as can be.
    pub fn offline_prompt(&self) -> Option<&'static str> {
        let has = |x: &str| self.opts.scopes.iter().any(|v| v == x);
        (has("openid") && has("offline_access")).then_some("consent")
    }

    /// Sends an authorization request through the user agent.
    pub async fn authorize(
        &mut self,
        pkce: &Pkce,
        redirect_uri: &str,
    ) -> Result<Authorization, AuditError> {
        self.authorize_with(pkce, redirect_uri, None).await
    }

    /// The same, with a `prompt` (OIDC Core §3.1.2.1).
    pub async fn authorize_with(
        &mut self,
        pkce: &Pkce,
        redirect_uri: &str,
        prompt: Option<&str>,
    ) -> Result<Authorization, AuditError> {
        let (state, params) = self.request_params(pkce, redirect_uri, prompt)?;
        let mut url = self.ep.authorization.clone();
        url.query_pairs_mut()
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        self.send_authorization(url, state, redirect_uri, Probe::Allowed)
            .await
    }

    /// The parameters of an authorization request (RFC 6749 §4.1.1, RFC
    /// 7636 §4.3), and the `state` among them.
    pub fn request_params(
        &self,
        pkce: &Pkce,
        redirect_uri: &str,
        prompt: Option<&str>,
    ) -> Result<(String, RequestParams), AuditError> {
        let state = random()?;
        let mut q: RequestParams = vec![
            ("response_type", "code".into()),
            ("client_id", self.opts.client_id.clone()),
            ("redirect_uri", redirect_uri.to_owned()),
            ("scope", self.opts.scopes.join(" ")),
            ("state", state.clone()),
        ];
        if self.opts.scopes.iter().any(|s| s == "openid") {
            q.push(("nonce", random()?));
        }
        if let Some(p) = prompt {
            q.push(("prompt", p.to_owned()));
        }
        match pkce {
            Pkce::Absent => {}
            Pkce::S256(v) => {
                q.push(("code_challenge", s256(v)));
                q.push(("code_challenge_method", "S256".into()));
            }
            Pkce::Plain(v) => {
                q.push(("code_challenge", v.clone()));
                q.push(("code_challenge_method", "plain".into()));
            }
            Pkce::Raw { challenge, method } => {
                q.push(("code_challenge", challenge.clone()));
                q.push(("code_challenge_method", method.clone()));
            }
        }
        Ok((state, q))
    }

    /// Sends the browser to `/authorize` with a pushed request's reference
    /// (RFC 9126 §4: `client_id` and `request_uri` alone). `state` is the
    /// one inside the pushed request.
    pub async fn authorize_pushed(
        &mut self,
        request_uri: &str,
        state: &str,
        redirect_uri: &str,
        probe: Probe,
    ) -> Result<Authorization, AuditError> {
        let mut url = self.ep.authorization.clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.opts.client_id)
            .append_pair("request_uri", request_uri);
        self.send_authorization(url, state.to_owned(), redirect_uri, probe)
            .await
    }

    async fn send_authorization(
        &mut self,
        url: Url,
        state: String,
        redirect_uri: &str,
        probe: Probe,
    ) -> Result<Authorization, AuditError> {
        let target = Url::parse(redirect_uri)
            .map_err(|e| AuditError::Usage(format!("redirect URI {redirect_uri}: {e}")))?;
        let landing = match probe {
            Probe::Allowed => self.agent.authorize(&url, &target).await?,
            Probe::Never => self.agent.authorize_unprobed(&url, &target).await?,
        };
        let received = match &landing {
            Landing::Redirect(to) => format!("redirect to {}", shown_url(to)),
            Landing::Page {
                status: 0,
                url,
                text,
            } => format!("no redirect came back; last page {url}: {text}"),
            Landing::Page { status, url, text } => format!("HTTP {status} page at {url}: {text}"),
        };
        Ok(Authorization {
            evidence: Evidence {
                endpoint: self.ep.authorization.to_string(),
                sent: format!("GET {}", shown_url(&url)),
                received,
            },
            state,
            redirect_uri: redirect_uri.to_owned(),
            landing,
        })
    }

    /// POSTs `params` to the token endpoint with the client's credentials.
    pub async fn token(
        &mut self,
        params: &[(&str, &str)],
    ) -> Result<(TokenAnswer, Evidence), AuditError> {
        self.token_request(params, None).await
    }

    /// The same, with this DPoP proof in the `DPoP` header (RFC 9449 §5).
    /// A `DPoP-Nonce` in the answer becomes the session's nonce (§8).
    pub async fn token_request(
        &mut self,
        params: &[(&str, &str)],
        proof: Option<&str>,
    ) -> Result<(TokenAnswer, Evidence), AuditError> {
        let mut form: Vec<(&str, &str)> = params.to_vec();
        let mut req = self.http.post(self.ep.token.clone());
        if let Some(p) = proof {
            req = req.header(proofkey_dpop::HEADER, p);
        }
        req = self.authenticate(req, &mut form);
        let resp = req
            .form(&form)
            .send()
            .await
            .map_err(|e| AuditError::Http(format!("{}: {e}", self.ep.token)))?;
        let status = resp.status().as_u16();
        let nonce = crate::dpop::nonce(resp.headers());
        let body = resp
            .text()
            .await
            .map_err(|e| AuditError::Http(format!("{}: {e}", self.ep.token)))?;
        let (json, received) = answer(status, &body);
        let evidence = Evidence {
            endpoint: self.ep.token.to_string(),
            sent: format!(
                "POST {} {}{}",
                self.ep.token,
                shown_pairs(form.iter().copied()),
                proof.map(crate::dpop::shown_proof).unwrap_or_default()
            ),
            received,
        };
        if nonce.is_some() {
            self.dpop_nonce = nonce;
        }
        let answer = if (200..300).contains(&status) && json.get("access_token").is_some() {
            for (key, hint) in [
                ("refresh_token", "refresh_token"),
                ("access_token", "access_token"),
            ] {
                if let Some(t) = json.get(key).and_then(Value::as_str) {
                    self.obtained.push((t.to_owned(), hint));
                }
            }
            TokenAnswer::Issued(json)
        } else {
            TokenAnswer::Refused {
                status,
                error: json
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            }
        };
        Ok((answer, evidence))
    }

    /// Redeems `code` (RFC 6749 §4.1.3), with `verifier` if given.
    pub async fn redeem(
        &mut self,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
    ) -> Result<(TokenAnswer, Evidence), AuditError> {
        let mut p = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(v) = verifier {
            p.push(("code_verifier", v));
        }
        self.token(&p).await
    }

    /// Uses `refresh_token` (RFC 6749 §6).
    pub async fn refresh(
        &mut self,
        refresh_token: &str,
    ) -> Result<(TokenAnswer, Evidence), AuditError> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// Client authentication (RFC 6749 §2.3.1): HTTP Basic with the
    /// form-encoded id and secret, or client_secret_post, or just
    /// `client_id` for a public client.
    pub(crate) fn authenticate<'b>(
        &'b self,
        req: reqwest::RequestBuilder,
        form: &mut Vec<(&'b str, &'b str)>,
    ) -> reqwest::RequestBuilder {
        match &self.opts.client_secret {
            Some(secret) if self.ep.basic_auth => {
                let enc =
                    |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                req.basic_auth(enc(&self.opts.client_id), Some(enc(secret)))
            }
            Some(secret) => {
                form.push(("client_id", &self.opts.client_id));
                form.push(("client_secret", secret));
                req
            }
            None => {
                form.push(("client_id", &self.opts.client_id));
                req
            }
        }
    }

    /// Whether `access_token` still works: at userinfo (OIDC Core §5.3,
    /// 401 once revoked), else at introspection (RFC 7662, confidential
    /// clients only).
    pub async fn liveness(&self, access_token: &str) -> (Liveness, String) {
        if let Some(ui) = &self.ep.userinfo {
            if self.opts.scopes.iter().any(|s| s == "openid") {
                let resp = self
                    .http
                    .get(ui.clone())
                    .bearer_auth(access_token)
                    .send()
                    .await;
                return match resp.map(|r| r.status().as_u16()) {
                    Ok(200) => (Liveness::Active, format!("userinfo {ui} answered 200")),
                    Ok(s @ (401 | 403)) => {
                        (Liveness::Inactive, format!("userinfo {ui} answered {s}"))
                    }
                    Ok(s) => (Liveness::Unknown, format!("userinfo {ui} answered {s}")),
                    Err(e) => (Liveness::Unknown, format!("userinfo {ui}: {e}")),
                };
            }
        }
        if let (Some(ep), Some(_)) = (&self.ep.introspection, &self.opts.client_secret) {
            let mut form = vec![("token", access_token), ("token_type_hint", "access_token")];
            let req = self.authenticate(self.http.post(ep.clone()), &mut form);
            let resp = req.form(&form).send().await;
            let active = match resp {
                Ok(r) if r.status().is_success() => r
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v.get("active").and_then(Value::as_bool)),
                _ => None,
            };
            return match active {
                Some(true) => (Liveness::Active, format!("introspection {ep} said active")),
                Some(false) => (
                    Liveness::Inactive,
                    format!("introspection {ep} said inactive"),
                ),
                None => (
                    Liveness::Unknown,
                    format!("introspection {ep} gave no answer"),
                ),
            };
        }
        (
            Liveness::Unknown,
            "no way to ask: no userinfo endpoint (or no openid scope), and no introspection with a client secret".into(),
        )
    }

    /// Revokes everything obtained (RFC 7009), refresh tokens first.
    /// Returns (revoked, failed).
    pub async fn revoke_all(&mut self) -> (usize, usize) {
        let Some(ep) = self.ep.revocation.clone() else {
            return (0, self.obtained.len());
        };
        let mut tokens = std::mem::take(&mut self.obtained);
        tokens.sort_by_key(|(_, hint)| *hint != "refresh_token");
        tokens.dedup();
        let (mut ok, mut failed) = (0, 0);
        for (token, hint) in &tokens {
            let mut form = vec![("token", token.as_str()), ("token_type_hint", *hint)];
            let req = self.authenticate(self.http.post(ep.clone()), &mut form);
            match req.form(&form).send().await {
                Ok(r) if r.status().is_success() => ok += 1,
                _ => failed += 1,
            }
        }
        (ok, failed)
    }

    /// Tells the person running the audit what is happening.
    pub fn say(&self, what: &str) {
        (self.progress)(what);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn s256_matches_the_rfc_7636_appendix_b_vector() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn reports_redact_secrets_and_keep_lengths() {
        assert_eq!(shown("client_secret", "s3cr3t"), "[redacted]");
        assert_eq!(shown("state", "short"), "short");
        let r = "http://127.0.0.1:5555/callback/elsewhere";
        assert_eq!(shown("redirect_uri", r), r);
        let v = "a".repeat(129);
        assert_eq!(shown("code_verifier", &v), "aaaaaaaa…aaaa (129 chars)");
        let j = serde_json::json!({"access_token": "x", "token_type": "Bearer"});
        assert_eq!(
            shown_json(&j),
            r#"{"access_token":"[redacted]","token_type":"Bearer"}"#
        );
    }

    #[test]
    fn loopback_redirects_match_on_any_port() {
        let r = Url::parse("http://127.0.0.1/callback").unwrap();
        assert!(is_redirect_to(
            &Url::parse("http://127.0.0.1:5555/callback?code=x").unwrap(),
            &r
        ));
        assert!(!is_redirect_to(
            &Url::parse("http://127.0.0.1:5555/other").unwrap(),
            &r
        ));
        let r = Url::parse("https://app.example/cb").unwrap();
        assert!(!is_redirect_to(
            &Url::parse("https://app.example:8443/cb").unwrap(),
            &r
        ));
        assert!(is_redirect_to(
            &Url::parse("https://app.example/cb?error=x").unwrap(),
            &r
        ));
    }
}
