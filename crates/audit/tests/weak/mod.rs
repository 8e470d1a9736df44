//! A deliberately weak authorization server, for the audit's own tests:
//! each weakness can be switched on, so that every check of the audit can
//! be shown to fire. In memory, one client (`weak-client`, redirect URI
//! `http://127.0.0.1/callback`), one user (`alice` / `secret`), a plain
//! HTML login form. It offers DPoP (RFC 9449) and pushed authorization
//! requests (RFC 9126) unless told not to. Never use it for anything else.
//!
//! Its DPoP proofs are read, never verified: their shape, `htm`, `htu`,
//! nonce and `jti` are checked and their key's thumbprint computed, but
//! not their signature (the audit only sends well-signed proofs, and none
//! of its checks is about signatures).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

pub const CLIENT: &str = "weak-client";
pub const REDIRECT: &str = "http://127.0.0.1/callback";
pub const USER: &str = "alice";
pub const PASSWORD: &str = "secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Iss {
    Correct,
    Missing,
    Wrong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// No refresh tokens.
    None,
    /// The same refresh token comes back on every refresh.
    NotRotated,
    /// Rotated, but old tokens keep working and nothing is revoked.
    RotatedReusable,
    /// Rotated; reuse revokes the family.
    Proper,
}

/// What the server gets wrong. `Default` is a server that gets nothing
/// wrong.
#[derive(Debug, Clone, Copy)]
pub struct Weakness {
    pub advertise_plain_only: bool,
    pub no_iss_metadata: bool,
    pub offer_implicit_and_password: bool,
    pub issuer_mismatch: bool,
    pub jwks_private: bool,
    pub pkce_optional: bool,
    pub accept_plain: bool,
    pub accept_unknown_method: bool,
    pub no_challenge_syntax: bool,
    pub verifier_optional: bool,
    pub verifier_unchecked: bool,
    pub no_verifier_syntax: bool,
    pub pkce_error_invalid_request: bool,
    pub codes_reusable: bool,
    pub no_revoke_on_reuse: bool,
    pub ignore_redirect_uri_at_token: bool,
    pub strict_loopback_port: bool,
    pub drop_state: bool,
    pub refuse_offline_access: bool,
    pub iss: Iss,
    pub refresh: Refresh,
    /// DPoP is not offered (no `dpop_signing_alg_values_supported`).
    pub no_dpop: bool,
    /// Pushed authorization requests are not offered.
    pub no_par: bool,
    /// Every DPoP proof must carry the server's nonce (RFC 9449 §8). Not a
    /// weakness: it makes the audit retry with the nonce.
    pub dpop_nonce: bool,
    /// `token_type` is Bearer even when a proof came with the request.
    pub dpop_bearer: bool,
    /// A DPoP-bound refresh token works without a proof.
    pub dpop_refresh_without_proof: bool,
    /// A DPoP-bound refresh token works with a proof by any key.
    pub dpop_refresh_any_key: bool,
    /// Proofs' `jti`s are not remembered: a proof replays.
    pub dpop_replay: bool,
    /// A pushed request's `request_uri` yields a code every time.
    pub par_request_uri_reusable: bool,
    /// Pushed requests need no `code_challenge` (requests sent to
    /// `/authorize` do, unless `pkce_optional`).
    pub par_pkce_optional: bool,
    /// Pushed requests may use `plain`.
    pub par_accept_plain: bool,
    /// The PAR endpoint accepts every request; `/authorize` checks it when
    /// its `request_uri` is used (RFC 9126 §2.1 wants it checked when
    /// pushed).
    pub par_validate_late: bool,
}

impl Default for Weakness {
    fn default() -> Self {
        Weakness {
            advertise_plain_only: false,
            no_iss_metadata: false,
            offer_implicit_and_password: false,
            issuer_mismatch: false,
            jwks_private: false,
            pkce_optional: false,
            accept_plain: false,
            accept_unknown_method: false,
            no_challenge_syntax: false,
            verifier_optional: false,
            verifier_unchecked: false,
            no_verifier_syntax: false,
            pkce_error_invalid_request: false,
            codes_reusable: false,
            no_revoke_on_reuse: false,
            ignore_redirect_uri_at_token: false,
            strict_loopback_port: false,
            drop_state: false,
            refuse_offline_access: false,
            iss: Iss::Correct,
            refresh: Refresh::Proper,
            no_dpop: false,
            no_par: false,
            dpop_nonce: false,
            dpop_bearer: false,
            dpop_refresh_without_proof: false,
            dpop_refresh_any_key: false,
            dpop_replay: false,
            par_request_uri_reusable: false,
            par_pkce_optional: false,
            par_accept_plain: false,
            par_validate_late: false,
        }
    }
}

struct Code {
    redirect_uri: String,
    challenge: Option<(String, String)>,
    used: bool,
    tokens: Vec<String>,
}

#[derive(Default)]
struct Db {
    codes: HashMap<String, Code>,
    access: HashMap<String, bool>,
    /// refresh token -> (family, active)
    refresh: HashMap<String, (u64, bool)>,
    next_family: u64,
    /// family -> the thumbprint of the DPoP key its tokens are bound to
    family_jkt: HashMap<u64, String>,
    /// DPoP proofs' jtis seen
    jtis: HashSet<String>,
    /// request_uri -> (pushed parameters, used)
    pushed: HashMap<String, (HashMap<String, String>, bool)>,
    sessions: Vec<String>,
    counter: u64,
}

#[derive(Clone)]
struct App {
    issuer: String,
    weak: Weakness,
    db: Arc<Mutex<Db>>,
}

impl App {
    fn fresh(&self, prefix: &str) -> String {
        let mut db = self.db.lock().unwrap();
        db.counter += 1;
        let n = db.counter;
        drop(db);
        let mut h = Sha256::new();
        h.update(format!("{prefix}{n}{:?}", std::time::SystemTime::now()));
        format!("{prefix}{}", URL_SAFE_NO_PAD.encode(h.finalize()))
    }
}

/// Starts the server on 127.0.0.1:0; `issuer` may name another host (the
/// test then resolves it to the returned address). Returns the address.
pub async fn start(
    weak: Weakness,
    issuer: impl FnOnce(SocketAddr) -> String,
) -> (SocketAddr, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let issuer = issuer(addr);
    let app = App {
        issuer: issuer.clone(),
        weak,
        db: Arc::default(),
    };
    let router = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/login", post(login))
        .route("/token", post(token))
        .route("/par", post(par))
        .route("/userinfo", get(userinfo))
        .route("/revoke", post(revoke))
        .with_state(app);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, issuer)
}

async fn discovery(State(app): State<App>) -> Json<Value> {
    let w = app.weak;
    let i = &app.issuer;
    let mut doc = json!({
        "issuer": if w.issuer_mismatch { format!("{i}/tenant") } else { i.clone() },
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "revocation_endpoint": format!("{i}/revoke"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": if w.advertise_plain_only { json!(["plain"]) } else { json!(["S256"]) },
        "token_endpoint_auth_methods_supported": ["none"],
    });
    if !w.no_iss_metadata {
        doc["authorization_response_iss_parameter_supported"] = json!(true);
    }
    if !w.no_dpop {
        doc["dpop_signing_alg_values_supported"] = json!(["ES256"]);
    }
    if !w.no_par {
        doc["pushed_authorization_request_endpoint"] = json!(format!("{i}/par"));
    }
    if w.offer_implicit_and_password {
        doc["response_types_supported"] = json!(["code", "token", "id_token token"]);
        doc["grant_types_supported"] = json!(["authorization_code", "implicit", "password"]);
    }
    Json(doc)
}

async fn jwks(State(app): State<App>) -> Json<Value> {
    let mut key = json!({"kty": "EC", "crv": "P-256", "kid": "k1", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
    if app.weak.jwks_private {
        key["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
    }
    Json(json!({"keys": [key]}))
}

fn page(status: StatusCode, body: String) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><title>weak</title><body>{body}</body>"
        )),
    )
        .into_response()
}

fn logged_in(app: &App, headers: &HeaderMap) -> bool {
    let db = app.db.lock().unwrap();
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|c| c.to_str().ok())
        .flat_map(|c| c.split(';'))
        .filter_map(|kv| kv.trim().strip_prefix("sid="))
        .any(|sid| db.sessions.iter().any(|s| s == sid))
}

fn loopback_match(w: &Weakness, got: &str) -> bool {
    if got == REDIRECT {
        return true;
    }
    if w.strict_loopback_port {
        return false;
    }
    url::Url::parse(got).is_ok_and(|u| {
        u.scheme() == "http"
            && u.host_str() == Some("127.0.0.1")
            && u.path() == "/callback"
            && u.query().is_none()
    })
}

fn b64url_43(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn verifier_ok(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// PKCE at the authorization endpoint (RFC 7636 §4.4.1), weaknesses
/// included: the challenge and its method, or `Err` for invalid_request.
/// `pushed`: the request came through the PAR endpoint.
fn challenge(
    w: &Weakness,
    q: &HashMap<String, String>,
    pushed: bool,
) -> Result<Option<(String, String)>, ()> {
    let optional = w.pkce_optional || (pushed && w.par_pkce_optional);
    let plain_ok = w.accept_plain || (pushed && w.par_accept_plain);
    match (q.get("code_challenge"), q.get("code_challenge_method")) {
        (None, _) if optional => Ok(None),
        (None, _) => Err(()),
        (Some(c), m) => {
            let m = m.cloned().unwrap_or_else(|| "plain".into());
            match m.as_str() {
                "S256" => {}
                "plain" if plain_ok => {}
                "plain" => return Err(()),
                _ if w.accept_unknown_method => {}
                _ => return Err(()),
            }
            if m == "S256" && !w.no_challenge_syntax && !b64url_43(c) {
                return Err(());
            }
            Ok(Some((c.clone(), m)))
        }
    }
}

async fn authorize(
    State(app): State<App>,
    headers: HeaderMap,
    Query(raw): Query<HashMap<String, String>>,
) -> Response {
    let w = app.weak;
    // RFC 9126 §4: a pushed request's parameters stand in for the query.
    let (q, pushed) = match raw.get("request_uri") {
        Some(uri) if !w.no_par => {
            let db = app.db.lock().unwrap();
            match db.pushed.get(uri) {
                Some((params, used)) if !*used || w.par_request_uri_reusable => {
                    (params.clone(), Some(uri.clone()))
                }
                _ => {
                    return page(
                        StatusCode::BAD_REQUEST,
                        "request_uri unknown or used".into(),
                    )
                }
            }
        }
        _ => (raw.clone(), None),
    };
    let get = |k: &str| q.get(k).cloned();
    if get("client_id").as_deref() != Some(CLIENT) || raw.get("client_id") != q.get("client_id") {
        return page(StatusCode::BAD_REQUEST, "unknown client".into());
    }
    let Some(redirect) = get("redirect_uri").filter(|r| loopback_match(&w, r)) else {
        return page(
            StatusCode::BAD_REQUEST,
            "redirect_uri not registered".into(),
        );
    };
    let back = |params: Vec<(&str, String)>| {
        let mut u = url::Url::parse(&redirect).unwrap();
        {
            let mut qp = u.query_pairs_mut();
            for (k, v) in params {
                qp.append_pair(k, &v);
            }
            if let (Some(s), false) = (get("state"), w.drop_state) {
                qp.append_pair("state", &s);
            }
            match w.iss {
                Iss::Correct => {
                    qp.append_pair("iss", &app.issuer);
                }
                Iss::Wrong => {
                    qp.append_pair("iss", "https://someone-else.example");
                }
                Iss::Missing => {}
            }
        }
        Redirect::to(u.as_str()).into_response()
    };
    let error = |e: &str| back(vec![("error", e.to_owned())]);
    let scope = get("scope").unwrap_or_default();
    if w.refuse_offline_access && scope.split(' ').any(|s| s == "offline_access") {
        return error("invalid_scope");
    }
    let Ok(challenge) = challenge(&w, &q, pushed.is_some()) else {
        return error("invalid_request");
    };
    if !logged_in(&app, &headers) {
        let raw = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(raw.iter())
            .finish();
        return page(
            StatusCode::OK,
            format!(
                r#"<form method="post" action="/login"><input type="hidden" name="q" value="{}">
                <input type="text" name="username"><input type="password" name="password">
                <button type="submit">Sign in</button></form>"#,
                raw.replace('&', "&amp;").replace('"', "&quot;")
            ),
        );
    }
    let code = app.fresh("c");
    let mut db = app.db.lock().unwrap();
    if let Some(p) = pushed.and_then(|uri| db.pushed.get_mut(&uri)) {
        p.1 = true;
    }
    db.codes.insert(
        code.clone(),
        Code {
            redirect_uri: redirect.clone(),
            challenge,
            used: false,
            tokens: Vec::new(),
        },
    );
    drop(db);
    back(vec![("code", code)])
}

/// The PAR endpoint (RFC 9126 §2): the client as at the token endpoint,
/// the request checked as `/authorize` would (unless `par_validate_late`),
/// 201 with a `request_uri`.
async fn par(State(app): State<App>, Form(f): Form<HashMap<String, String>>) -> Response {
    let w = app.weak;
    if w.no_par {
        return StatusCode::NOT_FOUND.into_response();
    }
    if f.get("client_id").map(String::as_str) != Some(CLIENT) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    if f.contains_key("request_uri") {
        return oauth_error("invalid_request");
    }
    if !w.par_validate_late {
        let redirect_ok = f.get("redirect_uri").is_some_and(|r| loopback_match(&w, r));
        if !redirect_ok || challenge(&w, &f, true).is_err() {
            return oauth_error("invalid_request");
        }
    }
    let uri = format!("urn:ietf:params:oauth:request_uri:{}", app.fresh("p"));
    app.db
        .lock()
        .unwrap()
        .pushed
        .insert(uri.clone(), (f, false));
    (
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({"request_uri": uri, "expires_in": 60})),
    )
        .into_response()
}

async fn login(State(app): State<App>, Form(f): Form<HashMap<String, String>>) -> Response {
    if f.get("username").map(String::as_str) != Some(USER)
        || f.get("password").map(String::as_str) != Some(PASSWORD)
    {
        return page(StatusCode::UNAUTHORIZED, "wrong password".into());
    }
    let sid = app.fresh("s");
    app.db.lock().unwrap().sessions.push(sid.clone());
    let q = f.get("q").cloned().unwrap_or_default();
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, format!("sid={sid}; Path=/; HttpOnly")),
            (header::LOCATION, format!("/authorize?{q}")),
        ],
    )
        .into_response()
}

fn oauth_error(e: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response()
}

/// Tokens; `jkt` is the key of the request's DPoP proof, which a new
/// family of refresh tokens is bound to.
fn issue(app: &App, family: Option<u64>, jkt: Option<&str>) -> (Value, String) {
    let at = app.fresh("a");
    let mut db = app.db.lock().unwrap();
    db.access.insert(at.clone(), true);
    let token_type = if jkt.is_some() && !app.weak.dpop_bearer {
        "DPoP"
    } else {
        "Bearer"
    };
    let mut body = json!({"access_token": at, "token_type": token_type, "expires_in": 300});
    if app.weak.refresh != Refresh::None {
        let fam = family.unwrap_or_else(|| {
            db.next_family += 1;
            if let Some(jkt) = jkt {
                let n = db.next_family;
                db.family_jkt.insert(n, jkt.to_owned());
            }
            db.next_family
        });
        drop(db);
        let rt = app.fresh("r");
        app.db
            .lock()
            .unwrap()
            .refresh
            .insert(rt.clone(), (fam, true));
        body["refresh_token"] = json!(rt);
    }
    (body, at)
}

const DPOP_NONCE: &str = "weak-nonce";

fn jws_part(jws: &str, i: usize) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jws.split('.').nth(i)?).ok()?).ok()
}

/// The RFC 7638 thumbprint of an EC key: its required members in
/// lexicographic order, SHA-256, base64url.
fn ec_thumbprint(jwk: &Value) -> Option<String> {
    let m = |k: &str| jwk.get(k).and_then(Value::as_str);
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        m("crv")?,
        m("x")?,
        m("y")?
    );
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

/// The token request's DPoP proof (see the module's doc): the thumbprint
/// of its key, `None` without a proof, or the refusal.
fn dpop_proof(app: &App, headers: &HeaderMap) -> Result<Option<String>, Box<Response>> {
    let w = app.weak;
    let Some(proof) = headers.get("dpop").and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let invalid = || Box::new(oauth_error("invalid_dpop_proof"));
    let (Some(head), Some(claims)) = (jws_part(proof, 0), jws_part(proof, 1)) else {
        return Err(invalid());
    };
    let Some(jkt) = head.get("jwk").and_then(ec_thumbprint) else {
        return Err(invalid());
    };
    let claim = |k: &str| claims.get(k).and_then(Value::as_str);
    if head.get("typ").and_then(Value::as_str) != Some("dpop+jwt")
        || claim("htm") != Some("POST")
        || claim("htu") != Some(format!("{}/token", app.issuer).as_str())
    {
        return Err(invalid());
    }
    if w.dpop_nonce && claim("nonce") != Some(DPOP_NONCE) {
        return Err(Box::new(
            (
                StatusCode::BAD_REQUEST,
                [("dpop-nonce", DPOP_NONCE)],
                Json(json!({"error": "use_dpop_nonce"})),
            )
                .into_response(),
        ));
    }
    let Some(jti) = claim("jti") else {
        return Err(invalid());
    };
    let fresh = app.db.lock().unwrap().jtis.insert(jti.to_owned());
    if !fresh && !w.dpop_replay {
        return Err(invalid());
    }
    Ok(Some(jkt))
}

async fn token(
    State(app): State<App>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let w = app.weak;
    if f.get("client_id").map(String::as_str) != Some(CLIENT) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let jkt = if w.no_dpop {
        None
    } else {
        match dpop_proof(&app, &headers) {
            Ok(jkt) => jkt,
            Err(refused) => return *refused,
        }
    };
    let jkt = jkt.as_deref();
    let pkce_error = if w.pkce_error_invalid_request {
        "invalid_request"
    } else {
        "invalid_grant"
    };
    match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = f.get("code").cloned().unwrap_or_default();
            let mut db = app.db.lock().unwrap();
            let Some(c) = db.codes.get_mut(&code) else {
                return oauth_error("invalid_grant");
            };
            if c.used && !w.codes_reusable {
                let tokens = std::mem::take(&mut c.tokens);
                if !w.no_revoke_on_reuse {
                    for t in tokens {
                        db.access.insert(t, false);
                    }
                }
                return oauth_error("invalid_grant");
            }
            if !w.ignore_redirect_uri_at_token && f.get("redirect_uri") != Some(&c.redirect_uri) {
                return oauth_error("invalid_grant");
            }
            if let Some((challenge, method)) = &c.challenge {
                match f.get("code_verifier") {
                    None if w.verifier_optional => {}
                    None => return oauth_error(pkce_error),
                    Some(v) => {
                        if !w.no_verifier_syntax && !verifier_ok(v) {
                            return oauth_error(pkce_error);
                        }
                        let computed = if method == "S256" {
                            URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))
                        } else {
                            v.clone()
                        };
                        if !w.verifier_unchecked && computed != *challenge {
                            return oauth_error(pkce_error);
                        }
                    }
                }
            }
            c.used = true;
            drop(db);
            let (body, at) = issue(&app, None, jkt);
            if let Some(c) = app.db.lock().unwrap().codes.get_mut(&code) {
                c.tokens.push(at);
            }
            ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
        }
        Some("refresh_token") => {
            let rt = f.get("refresh_token").cloned().unwrap_or_default();
            let mut db = app.db.lock().unwrap();
            let Some(&(family, active)) = db.refresh.get(&rt) else {
                return oauth_error("invalid_grant");
            };
            // RFC 9449 §5: a bound refresh token needs a proof by its key.
            if let Some(bound) = db.family_jkt.get(&family) {
                let refused = match jkt {
                    None => !w.dpop_refresh_without_proof,
                    Some(k) => k != bound && !w.dpop_refresh_any_key,
                };
                if refused {
                    return oauth_error("invalid_grant");
                }
            }
            match w.refresh {
                Refresh::None => oauth_error("invalid_grant"),
                Refresh::NotRotated => {
                    drop(db);
                    let (mut body, _) = issue(&app, Some(family), jkt);
                    body["refresh_token"] = json!(rt);
                    Json(body).into_response()
                }
                Refresh::RotatedReusable => {
                    drop(db);
                    Json(issue(&app, Some(family), jkt).0).into_response()
                }
                Refresh::Proper if !active => {
                    for (_, (fam, act)) in db.refresh.iter_mut() {
                        if *fam == family {
                            *act = false;
                        }
                    }
                    oauth_error("invalid_grant")
                }
                Refresh::Proper => {
                    db.refresh.insert(rt, (family, false));
                    drop(db);
                    Json(issue(&app, Some(family), jkt).0).into_response()
                }
            }
        }
        _ => oauth_error("unsupported_grant_type"),
    }
}

async fn userinfo(State(app): State<App>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    if app.db.lock().unwrap().access.get(token) == Some(&true) {
        Json(json!({"sub": USER})).into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response()
    }
}

async fn revoke(State(app): State<App>, Form(f): Form<HashMap<String, String>>) -> StatusCode {
    let t = f.get("token").cloned().unwrap_or_default();
    let mut db = app.db.lock().unwrap();
    if let Some(a) = db.access.get_mut(&t) {
        *a = false;
    }
    if let Some(r) = db.refresh.get_mut(&t) {
        r.1 = false;
    }
    StatusCode::OK
}
