//! The test harness: a stand-in issuer on 127.0.0.1:0 (RFC 8414 metadata,
//! a JWK Set of keys generated here, an RFC 7662 introspection endpoint,
//! each counting its requests), and an API protected by `RequireBearer` on
//! 127.0.0.1:0, both driven over HTTP with reqwest. Tokens are signed with
//! `jsonwebtoken`; the keys come from aws-lc-rs. DPoP-bound tokens carry
//! `cnf.jkt` ([`bind`]); their proofs come from `proofkey_dpop::DpopKey`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use proofkey_dpop::DpopKey;
use proofkey_resource::{
    AccessClaims, ManualClock, RequireBearer, ResourceServer, ResourceServerBuilder,
};
use serde_json::{json, Value};

pub const INTROSPECTION_CLIENT: &str = "api:client";
/// Characters that Basic credentials must form-urlencode (RFC 6749 §2.3.1).
pub const INTROSPECTION_SECRET: &str = "s3cret:with%special+chars";

/// A signing key and its public JWK.
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Value,
    /// The raw public key bytes (for the algorithm-confusion test).
    pub public_bytes: Vec<u8>,
}

impl TestKey {
    pub fn es256(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let pkcs8 = pair.to_pkcs8v1().unwrap();
        let point = pair.public_key().as_ref().to_vec();
        assert_eq!(point.len(), 65);
        Self {
            kid: kid.into(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            }),
            public_bytes: point,
        }
    }

    pub fn eddsa(kid: &str) -> Self {
        let pair = Ed25519KeyPair::generate().unwrap();
        let pkcs8 = pair.to_pkcs8v1().unwrap();
        let public = pair.public_key().as_ref().to_vec();
        Self {
            kid: kid.into(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "OKP", "crv": "Ed25519", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(&public),
            }),
            public_bytes: public,
        }
    }

    pub fn rs256(kid: &str) -> Self {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der: Pkcs8V1Der = pair.as_der().unwrap();
        let b64 = STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        let public = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        Self {
            kid: kid.into(),
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            jwk: json!({
                "kty": "RSA", "kid": kid, "alg": "RS256",
                "n": URL_SAFE_NO_PAD.encode(&public.n),
                "e": URL_SAFE_NO_PAD.encode(&public.e),
            }),
            public_bytes: public.n,
        }
    }

    /// A token with the standard `at+jwt` header for this key.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": alg_name(self.alg), "typ": "at+jwt", "kid": self.kid}),
            claims,
        )
    }

    /// A token with any header, signed with this key and its algorithm.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        sign_raw(header, claims, &self.encoding, self.alg)
    }
}

pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        Algorithm::RS256 => "RS256",
        Algorithm::HS256 => "HS256",
        other => panic!("not used in tests: {other:?}"),
    }
}

/// A JWS compact serialization of exactly `header` and `claims`.
pub fn sign_raw(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

/// What the stand-in issuer serves and counts.
#[derive(Default)]
pub struct IssuerState {
    pub issuer: Mutex<String>,
    /// The JWKs published at /jwks.json.
    pub keys: Mutex<Vec<Value>>,
    /// The `issuer` the metadata claims (default: the real one).
    pub metadata_issuer: Mutex<Option<String>>,
    /// Introspection answers by token; unknown tokens are inactive.
    pub answers: Mutex<HashMap<String, Value>>,
    pub metadata_fetches: AtomicUsize,
    pub jwks_fetches: AtomicUsize,
    pub introspections: AtomicUsize,
}

/// The stand-in issuer.
pub struct Issuer {
    pub base: String,
    pub state: Arc<IssuerState>,
}

impl Issuer {
    pub async fn start() -> Self {
        let state = Arc::new(IssuerState::default());
        let app = Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/jwks.json", get(jwks))
            .route("/introspect", post(introspect))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        *state.issuer.lock().unwrap() = base.clone();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, state }
    }

    pub fn publish(&self, key: &TestKey) {
        self.state.keys.lock().unwrap().push(key.jwk.clone());
    }

    pub fn withdraw(&self, kid: &str) {
        self.state.keys.lock().unwrap().retain(|k| k["kid"] != kid);
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn metadata_fetches(&self) -> usize {
        self.state.metadata_fetches.load(Ordering::SeqCst)
    }

    pub fn introspections(&self) -> usize {
        self.state.introspections.load(Ordering::SeqCst)
    }

    /// The introspection endpoint will answer `answer` for `token`.
    pub fn answer(&self, token: &str, answer: Value) {
        self.state
            .answers
            .lock()
            .unwrap()
            .insert(token.to_owned(), answer);
    }
}

async fn metadata(State(s): State<Arc<IssuerState>>) -> Json<Value> {
    s.metadata_fetches.fetch_add(1, Ordering::SeqCst);
    let base = s.issuer.lock().unwrap().clone();
    let claimed = s.metadata_issuer.lock().unwrap().clone();
    Json(json!({
        "issuer": claimed.unwrap_or_else(|| base.clone()),
        "jwks_uri": format!("{base}/jwks.json"),
        "introspection_endpoint": format!("{base}/introspect"),
        "token_endpoint": format!("{base}/token"),
    }))
}

async fn jwks(State(s): State<Arc<IssuerState>>) -> Json<Value> {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    Json(json!({ "keys": s.keys.lock().unwrap().clone() }))
}

/// RFC 7662 §2.1: the caller authenticates with `client_secret_basic`,
/// each part form-urlencoded (RFC 6749 §2.3.1).
async fn introspect(
    State(s): State<Arc<IssuerState>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    s.introspections.fetch_add(1, Ordering::SeqCst);
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode = |s: &str| -> String {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Some(decode(id) == INTROSPECTION_CLIENT && decode(secret) == INTROSPECTION_SECRET)
        })
        .unwrap_or(false);
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let params: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let token = params.get("token").cloned().unwrap_or_default();
    let answer = s
        .answers
        .lock()
        .unwrap()
        .get(&token)
        .cloned()
        .unwrap_or_else(|| json!({"active": false}));
    Json(answer).into_response()
}

/// The API under test.
pub struct Api {
    pub base: String,
    /// Its resource identifier: `{base}/mcp`.
    pub resource: String,
    pub rs: ResourceServer,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    /// How many times a protected handler ran.
    pub handled: Arc<AtomicUsize>,
}

impl Api {
    /// Protected by `issuer`, validating with JWKS.
    pub async fn start(issuer: &Issuer) -> Self {
        Self::start_with(&issuer.base, |b| b).await
    }

    /// `/mcp` requires `mcp:tools`; `/admin` requires `admin`; `/any`
    /// requires a token only; the metadata route is public. Each protected
    /// handler answers the claims it got as JSON.
    pub async fn start_with(
        issuer: &str,
        tweak: impl FnOnce(ResourceServerBuilder) -> ResourceServerBuilder,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let resource = format!("{base}/mcp");
        let clock = ManualClock::at_system_time();
        let rs = tweak(ResourceServer::builder(issuer, &resource).clock(Arc::new(clock.clone())))
            .build()
            .unwrap();
        let handled = Arc::new(AtomicUsize::new(0));
        let echo = {
            let handled = handled.clone();
            move |claims: AccessClaims| {
                let handled = handled.clone();
                async move {
                    handled.fetch_add(1, Ordering::SeqCst);
                    Json(claims)
                }
            }
        };
        let app = Router::new()
            .route("/mcp", get(echo.clone()).post(echo.clone()))
            .route_layer(
                RequireBearer::new(&rs)
                    .require_scopes(["mcp:tools"])
                    .unwrap(),
            )
            .route(
                "/admin",
                get(echo.clone()).layer(
                    RequireBearer::new(&rs)
                        .require_scopes(["admin", "mcp:tools"])
                        .unwrap(),
                ),
            )
            .route("/any", get(echo).layer(rs.require_bearer()))
            .route("/unprotected", get(|_c: AccessClaims| async { "reached" }))
            .merge(rs.metadata_router());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base,
            resource,
            rs,
            clock,
            http: reqwest::Client::new(),
            handled,
        }
    }

    /// Claims for this API from `issuer`, valid for five minutes from the
    /// API's clock, with `mcp:tools`.
    pub fn claims(&self, issuer: &str) -> Value {
        let now = self.clock_now();
        json!({
            "iss": issuer,
            "sub": "alice",
            "client_id": "mcp-client",
            "aud": self.resource,
            "exp": now + 300,
            "iat": now,
            "jti": format!("jti-{now}-{}", rand_suffix()),
            "scope": "mcp:tools read",
        })
    }

    pub fn clock_now(&self) -> u64 {
        use proofkey_resource::Clock;
        self.clock.now()
    }

    /// The URL of `path` on this API (what a DPoP proof's `htu` names).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A proof by `key` for `method` on `path` of this API with `token`,
    /// made now by the API's clock.
    pub fn proof(&self, key: &DpopKey, method: &str, path: &str, token: &str) -> String {
        key.proof(
            method,
            &self.url(path),
            Some(token),
            None,
            self.clock_now() as i64,
        )
        .unwrap()
    }

    /// `method` `path` with `Authorization: DPoP {token}` and one `DPoP`
    /// header per proof.
    pub async fn dpop(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        proofs: &[&str],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .request(method, self.url(path))
            .header("authorization", format!("DPoP {token}"));
        for p in proofs {
            req = req.header("dpop", *p);
        }
        req.send().await.unwrap()
    }

    /// GET `path` with a DPoP-bound `token` and a fresh proof by `key`.
    pub async fn dpop_get(&self, path: &str, token: &str, key: &DpopKey) -> reqwest::Response {
        let proof = self.proof(key, "GET", path, token);
        self.dpop(reqwest::Method::GET, path, token, &[&proof])
            .await
    }

    /// GET `path` with `Authorization: Bearer {token}`.
    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub fn handled(&self) -> usize {
        self.handled.load(Ordering::SeqCst)
    }
}

fn rand_suffix() -> u64 {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst) as u64
}

/// The claims, bound to the DPoP key with thumbprint `jkt` (RFC 9449
/// §6.1 `cnf.jkt`).
pub fn bind(mut claims: Value, jkt: &str) -> Value {
    claims["cnf"] = json!({ "jkt": jkt });
    claims
}

/// Every `WWW-Authenticate` field of a response, in order.
pub fn challenges(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The `algs` of the DPoP challenges with the default settings.
pub const DEFAULT_ALGS: &str = "algs=\"ES256 ES384 EdDSA RS256 PS256\"";

/// Asserts a 401 whose first challenge is `DPoP error="{code}"` with a
/// description containing `needle`, `algs` and `resource_metadata`, and
/// whose JSON body names `code`.
pub async fn assert_dpop_error(
    resp: reqwest::Response,
    code: &str,
    needle: &str,
    metadata_url: &str,
) {
    assert_eq!(resp.status(), 401);
    let c = challenge(&resp);
    assert!(
        c.starts_with(&format!("DPoP error=\"{code}\", error_description=\"")),
        "{c}"
    );
    assert!(c.contains(needle), "expected {needle:?} in {c}");
    assert!(
        c.ends_with(&format!(
            ", {DEFAULT_ALGS}, resource_metadata=\"{metadata_url}\""
        )),
        "{c}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], code);
}

/// `WWW-Authenticate` of a response (its first field).
pub fn challenge(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Asserts a 401 `invalid_token` whose description contains `needle`, and
/// returns the challenge.
pub async fn assert_invalid_token(resp: reqwest::Response, needle: &str, metadata_url: &str) {
    assert_eq!(resp.status(), 401);
    let c = challenge(&resp);
    assert!(
        c.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{c}"
    );
    assert!(c.contains(needle), "expected {needle:?} in {c}");
    assert!(
        c.ends_with(&format!("resource_metadata=\"{metadata_url}\"")),
        "{c}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}
