//! The harness: a stand-in issuer on 127.0.0.1:0 (RFC 8414 metadata and a
//! JWK Set with one ES256 key generated here, which signs the tokens), the
//! example's router on 127.0.0.1:0, and a minimal MCP client speaking the
//! streamable HTTP transport with reqwest.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proofkey_example_mcp::{app, Config};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};

pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// The stand-in issuer and the example server, both running.
pub struct Setup {
    /// The issuer identifier.
    pub issuer: String,
    /// The example's resource URI: http://127.0.0.1:PORT/mcp.
    pub resource: String,
    /// http://127.0.0.1:PORT
    pub base: String,
    key: EncodingKey,
    pub http: reqwest::Client,
}

impl Setup {
    pub async fn start() -> Self {
        Self::start_with(|c| c).await
    }

    /// Starts both, with the example's configuration edited by `edit`.
    pub async fn start_with(edit: impl FnOnce(Config) -> Config) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "k1",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        });
        let key = EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref());

        let issuer_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", issuer_listener.local_addr().unwrap());
        let metadata = json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/jwks.json"),
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
        });
        let jwks = json!({ "keys": [jwk] });
        let issuer_app = Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(move || async move { Json(metadata) }),
            )
            .route("/jwks.json", get(move || async move { Json(jwks) }));
        tokio::spawn(async move { axum::serve(issuer_listener, issuer_app).await.unwrap() });

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let resource = format!("{base}/mcp");
        let config = edit(Config::new(issuer.clone(), resource.clone()));
        let router = app(&config).unwrap().router;
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

        Self {
            issuer,
            resource,
            base,
            key,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    /// The claims of a good token for the example; tests patch them.
    pub fn claims(&self) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        json!({
            "iss": self.issuer, "sub": "demo", "client_id": "inspector",
            "aud": self.resource, "scope": "openid mcp:tools",
            "iat": now, "exp": now + 300, "jti": format!("j{now}"),
        })
    }

    /// An RFC 9068 access token with `claims`, signed by the issuer's key.
    pub fn token(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }

    /// A good token.
    pub fn good_token(&self) -> String {
        self.token(&self.claims())
    }

    /// A POST of one JSON-RPC message to /mcp, as MCP clients send it.
    pub fn post(
        &self,
        token: Option<&str>,
        session: Option<&str>,
        body: &Value,
    ) -> reqwest::RequestBuilder {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        if let Some(t) = token {
            headers.insert(AUTHORIZATION, format!("Bearer {t}").parse().unwrap());
        }
        if let Some(s) = session {
            headers.insert("mcp-session-id", s.parse().unwrap());
            headers.insert(
                "mcp-protocol-version",
                HeaderValue::from_static(PROTOCOL_VERSION),
            );
        }
        self.http
            .post(&self.resource)
            .headers(headers)
            .body(body.to_string())
    }

    /// initialize, then notifications/initialized: the session id.
    pub async fn initialize(&self, token: &str) -> String {
        let init = json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "proofkey-example-test", "version": "0"}
            }
        });
        let resp = self.post(Some(token), None, &init).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let session = resp
            .headers()
            .get("mcp-session-id")
            .expect("a session id")
            .to_str()
            .unwrap()
            .to_owned();
        let answer = response_for(resp, 1).await;
        assert_eq!(
            answer["result"]["serverInfo"]["name"],
            "proofkey-example-mcp"
        );
        let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let resp = self
            .post(Some(token), Some(&session), &done)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        session
    }

    /// tools/call: the JSON-RPC response.
    pub async fn call_tool(
        &self,
        token: &str,
        session: &str,
        id: u64,
        name: &str,
        args: Value,
    ) -> Value {
        let call = json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": args}
        });
        let resp = self
            .post(Some(token), Some(session), &call)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        response_for(resp, id).await
    }
}

/// The JSON-RPC response with `id`, from a JSON body or an SSE stream.
pub async fn response_for(resp: reqwest::Response, id: u64) -> Value {
    let sse = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = resp.text().await.unwrap();
    if !sse {
        return serde_json::from_str(&body).unwrap();
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no response {id} in {body:?}"))
}

/// The `resource_metadata` parameter of a `WWW-Authenticate` challenge.
pub fn resource_metadata(challenge: &str) -> Option<String> {
    let start = challenge.find("resource_metadata=\"")? + "resource_metadata=\"".len();
    let len = challenge[start..].find('"')?;
    Some(challenge[start..start + len].to_owned())
}
