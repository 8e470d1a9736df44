//! RFC 7591 dynamic client registration and RFC 7592 management: the
//! `registration` policy (off, initial access token, open), what open
//! registration admits, its rate limit, the registration access token;
//! and what MCP clients need around it: `localhost` redirects on any port
//! (OAuth 2.1 §8.4.2) and CORS from loopback origins.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use proofkey_core::config::RegistrationPolicy;
use proofkey_core::Clock;
use proofkey_pkce::CodeVerifier;
use serde_json::{json, Value};

async fn open_server() -> TestServer {
    let s = TestServer::start_with(|c| c.registration = RegistrationPolicy::Open).await;
    s.user("alice").await;
    s
}

async fn register(
    s: &TestServer,
    bearer: Option<&str>,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = s.http.post(s.url("/register")).json(body);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// A call to a registration client URI (RFC 7592) with the registration
/// access token: the status and the JSON answer (null if none).
async fn call(
    s: &TestServer,
    method: reqwest::Method,
    uri: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = s.http.request(method, uri).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn mcp_client() -> Value {
    json!({
        "client_name": "Some MCP client",
        "redirect_uris": ["http://localhost/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    })
}

async fn discovery(s: &TestServer) -> Value {
    s.http
        .get(s.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn registration_is_off_by_default() {
    let s = TestServer::start().await;
    let (status, _, _) = register(&s, None, &mcp_client()).await;
    assert_eq!(status, 404);
    assert!(discovery(&s).await.get("registration_endpoint").is_none());
}

mod open {
    use super::*;

    #[tokio::test]
    async fn an_mcp_client_registers_and_signs_in_on_a_localhost_port() {
        let s = open_server().await;
        assert_eq!(
            discovery(&s).await["registration_endpoint"],
            s.url("/register")
        );
        let (status, headers, reg) = register(&s, None, &mcp_client()).await;
        assert_eq!(status, 201, "{reg}");
        assert_eq!(headers["cache-control"], "no-store");
        let id = reg["client_id"].as_str().unwrap();
        assert!(reg["registration_access_token"].as_str().unwrap().len() >= 43);
        assert_eq!(reg["token_endpoint_auth_method"], "none");
        assert!(reg["client_id_issued_at"].is_i64());
        assert!(reg.get("client_secret").is_none());
        assert_eq!(
            reg["registration_client_uri"],
            s.url(&format!("/register/{id}"))
        );

        // OAuth 2.1 §8.4.2: registered without a port, used with one.
        let v = CodeVerifier::generate();
        let mut req = AuthRequest::new(id, &v);
        req.redirect_uri = "http://localhost:43123/callback".into();
        let mut b = s.browser();
        let login = b.get(&req.url(&s.base)).await;
        let mut consent = b.login(&s.base, &login, "alice", PASSWORD).await;
        if consent.status == 303 {
            consent = b
                .get(&format!("{}{}", s.base, consent.location().unwrap()))
                .await;
        }
        assert!(
            consent.body.contains("registered itself"),
            "{}",
            consent.body
        );
        let done = b.decide(&s.base, &consent, "allow").await;
        let loc = done.location().unwrap();
        assert!(loc.starts_with("http://localhost:43123/callback?"), "{loc}");
        let code = done.redirect_params()["code"].clone();
        let (status, _, body) = s
            .token(&[
                ("grant_type", "authorization_code"),
                ("client_id", id),
                ("code", &code),
                ("redirect_uri", "http://localhost:43123/callback"),
                ("code_verifier", v.secret()),
            ])
            .await;
        assert_eq!(status, 200, "{body}");

        // A self-registered client is asked about every time.
        let again = b.get(&req.url(&s.base)).await;
        assert!(again.body.contains("name=\"decision\""), "{}", again.body);
        // ... and prompt=none cannot get past that.
        let mut silent = AuthRequest::new(id, &v).with("prompt", "none");
        silent.redirect_uri = req.redirect_uri.clone();
        let silent = b.get(&silent.url(&s.base)).await;
        assert_eq!(silent.redirect_params()["error"], "consent_required");
    }

    #[tokio::test]
    async fn open_registration_admits_public_clients_with_safe_redirects_only() {
        let s = open_server().await;
        let cases = [
            (
                json!({"redirect_uris": ["http://localhost/cb"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["http://localhost/cb"], "token_endpoint_auth_method": "client_secret_post"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["http://app.example/cb"], "token_endpoint_auth_method": "none"}),
                "invalid_redirect_uri",
            ),
            (
                json!({"redirect_uris": ["com.example.app:/cb"], "token_endpoint_auth_method": "none"}),
                "invalid_redirect_uri",
            ),
            (
                json!({"redirect_uris": ["https://app.example/cb#x"], "token_endpoint_auth_method": "none"}),
                "invalid_redirect_uri",
            ),
            (
                json!({"token_endpoint_auth_method": "none"}),
                "invalid_redirect_uri",
            ),
            (
                json!({"redirect_uris": "https://app.example/cb", "token_endpoint_auth_method": "none"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none", "scope": "admin"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none", "response_types": ["token"]}),
                "invalid_client_metadata",
            ),
            (json!(["not", "an", "object"]), "invalid_client_metadata"),
        ];
        for (body, error) in cases {
            let (status, _, r) = register(&s, None, &body).await;
            assert_eq!(
                (status, r["error"].as_str()),
                (400, Some(error)),
                "{body} -> {r}"
            );
        }
        // Not JSON at all.
        let r = s
            .http
            .post(s.url("/register"))
            .form(&[("redirect_uris", "https://a.example/cb")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        // Unknown metadata is ignored (RFC 7591 §2), https works.
        let (status, _, r) = register(
            &s,
            None,
            &json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none", "logo_uri": "https://app.example/logo.png", "x-custom": 1}),
        )
        .await;
        assert_eq!(status, 201, "{r}");
    }

    #[tokio::test]
    async fn a_resource_registered_just_now_can_be_asked_for_at_once() {
        let s = open_server().await;
        // Discovery has cached the scopes on offer...
        assert!(!discovery(&s).await["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&"mcp:tools".into()));
        resource(&s, "http://127.0.0.1:3001/mcp", &["mcp:tools"]).await;
        // ... but registration reads them now.
        let mut body = mcp_client();
        body["scope"] = json!("mcp:tools");
        let (status, _, r) = register(&s, None, &body).await;
        assert_eq!(status, 201, "{r}");
        // Registered for refresh tokens: offline_access comes with them.
        assert_eq!(r["scope"], "mcp:tools offline_access");
    }

    #[tokio::test]
    async fn open_registration_is_rate_limited_per_address() {
        let s = TestServer::start_with(|c| {
            c.registration = RegistrationPolicy::Open;
            c.registration_max_per_address = 3;
        })
        .await;
        for _ in 0..3 {
            let (status, _, r) = register(&s, None, &mcp_client()).await;
            assert_eq!(status, 201, "{r}");
        }
        let (status, headers, _) = register(&s, None, &mcp_client()).await;
        assert_eq!(status, 429);
        assert!(
            headers["retry-after"]
                .to_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
                > 0
        );
        // Concurrently too: a burst gets no further.
        let burst = futures_join(&s, 10).await;
        assert!(burst.iter().all(|st| *st == 429), "{burst:?}");
        // After the hour, registrations are possible again.
        s.clock.advance(3601);
        let (status, _, _) = register(&s, None, &mcp_client()).await;
        assert_eq!(status, 201);
    }

    async fn futures_join(s: &TestServer, n: usize) -> Vec<u16> {
        let mut tasks = Vec::new();
        for _ in 0..n {
            let http = s.http.clone();
            let url = s.url("/register");
            tasks.push(tokio::spawn(async move {
                http.post(url)
                    .json(&mcp_client())
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    fn id_token_alg(body: &Value) -> String {
        let id_token = body["id_token"].as_str().expect("an ID token");
        format!("{:?}", jsonwebtoken::decode_header(id_token).unwrap().alg)
    }

    /// OIDC Dynamic Client Registration §2: `id_token_signed_response_alg`
    /// is RS256 unless the client asks for another the server signs with;
    /// RFC 7592 §2.2 replaces it like any other field.
    #[tokio::test]
    async fn the_id_token_algorithm_is_registered_per_client() {
        let s = open_server().await;
        let client = |alg: Option<Value>| {
            let mut c = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
                "scope": "openid"});
            if let Some(alg) = alg {
                c["id_token_signed_response_alg"] = alg;
            }
            c
        };
        let (status, _, r) = register(&s, None, &client(None)).await;
        assert_eq!(status, 201, "{r}");
        assert_eq!(r["id_token_signed_response_alg"], "RS256");
        let id = r["client_id"].as_str().unwrap();
        assert_eq!(
            id_token_alg(&tokens_for(&s, id, "alice", "openid").await),
            "RS256"
        );

        let (status, _, r) = register(&s, None, &client(Some(json!("ES256")))).await;
        assert_eq!(status, 201, "{r}");
        assert_eq!(r["id_token_signed_response_alg"], "ES256");
        let id = r["client_id"].as_str().unwrap();
        assert_eq!(
            id_token_alg(&tokens_for(&s, id, "alice", "openid").await),
            "ES256"
        );
        // Read back (RFC 7592 §2.1), then replaced (§2.2).
        let uri = r["registration_client_uri"].as_str().unwrap();
        let rat = r["registration_access_token"].as_str().unwrap();
        let (status, read) = call(&s, reqwest::Method::GET, uri, rat, None).await;
        assert_eq!(status, 200);
        assert_eq!(read["id_token_signed_response_alg"], "ES256");
        let mut update = client(Some(json!("EdDSA")));
        update["client_id"] = json!(id);
        let (status, updated) = call(&s, reqwest::Method::PUT, uri, rat, Some(&update)).await;
        assert_eq!(status, 200);
        assert_eq!(updated["id_token_signed_response_alg"], "EdDSA");
        assert_eq!(
            id_token_alg(&tokens_for(&s, id, "alice", "openid").await),
            "EdDSA"
        );

        // `none`, HMAC (no shared key here), unknown names and wrong types.
        for bad in [json!("none"), json!("HS256"), json!("RS512"), json!(256)] {
            let (status, _, r) = register(&s, None, &client(Some(bad.clone()))).await;
            assert_eq!(
                (status, r["error"].as_str()),
                (400, Some("invalid_client_metadata")),
                "{bad} -> {r}"
            );
        }
    }
}

mod initial_access_token {
    use super::*;

    #[tokio::test]
    async fn a_token_is_required_and_its_uses_are_counted() {
        let s = TestServer::start_with(|c| c.registration = RegistrationPolicy::InitialAccessToken)
            .await;
        let (status, headers, r) = register(&s, None, &mcp_client()).await;
        assert_eq!(
            (status, r["error"].as_str()),
            (401, Some("invalid_token")),
            "{r}"
        );
        assert!(headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));

        let token = "iat-0123456789-0123456789-0123456789";
        let hash = proofkey_core::secret::hash_token(token);
        s.store
            .create_initial_access_token(&hash, 1, s.clock.now() + 60, s.clock.now())
            .await
            .unwrap();
        // A confidential client may register with an initial access token.
        let (status, _, r) = register(
            &s,
            Some(token),
            &json!({"redirect_uris": ["https://app.example/cb"], "grant_types": ["client_credentials"], "client_name": "Service"}),
        )
        .await;
        assert_eq!(status, 201, "{r}");
        assert_eq!(r["token_endpoint_auth_method"], "client_secret_basic");
        let (status, _, t) = s
            .token(&[
                ("grant_type", "client_credentials"),
                ("client_id", r["client_id"].as_str().unwrap()),
                ("client_secret", r["client_secret"].as_str().unwrap()),
            ])
            .await;
        assert_eq!(status, 200, "{t}");

        // Used up.
        let (status, _, _) = register(&s, Some(token), &mcp_client()).await;
        assert_eq!(status, 401);
        // Expired.
        let other = "iat-expired-0123456789-0123456789";
        s.store
            .create_initial_access_token(
                &proofkey_core::secret::hash_token(other),
                5,
                s.clock.now() + 60,
                s.clock.now(),
            )
            .await
            .unwrap();
        s.clock.advance(61);
        let (status, _, _) = register(&s, Some(other), &mcp_client()).await;
        assert_eq!(status, 401);
    }
}

mod management {
    use super::*;

    #[tokio::test]
    async fn the_registration_access_token_reads_updates_and_deletes_its_client_only() {
        let s = open_server().await;
        let (_, _, a) = register(&s, None, &mcp_client()).await;
        let (_, _, b) = register(&s, None, &mcp_client()).await;
        let uri = a["registration_client_uri"].as_str().unwrap();
        let rat = a["registration_access_token"].as_str().unwrap();
        let other = b["registration_access_token"].as_str().unwrap();

        let (status, read) = call(&s, reqwest::Method::GET, uri, rat, None).await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(read["client_id"], a["client_id"]);
        assert!(read.get("registration_access_token").is_none());

        // Another client's token, a made-up one: 401, the same answer.
        for t in [other, "made-up"] {
            let (status, e) = call(&s, reqwest::Method::GET, uri, t, None).await;
            assert_eq!((status, e["error"].as_str()), (401, Some("invalid_token")));
        }

        let mut update = mcp_client();
        update["client_id"] = a["client_id"].clone();
        update["redirect_uris"] = json!(["http://127.0.0.1/cb"]);
        update["client_name"] = json!("Renamed");
        let (status, updated) = call(&s, reqwest::Method::PUT, uri, rat, Some(&update)).await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["redirect_uris"], json!(["http://127.0.0.1/cb"]));
        assert_eq!(updated["client_name"], "Renamed");
        let mut wrong = update.clone();
        wrong["client_id"] = b["client_id"].clone();
        let (status, _) = call(&s, reqwest::Method::PUT, uri, rat, Some(&wrong)).await;
        assert_eq!(status, 400);
        let mut bad = update.clone();
        bad["redirect_uris"] = json!(["http://evil.example/cb"]);
        let (status, e) = call(&s, reqwest::Method::PUT, uri, rat, Some(&bad)).await;
        assert_eq!(
            (status, e["error"].as_str()),
            (400, Some("invalid_redirect_uri"))
        );

        let r = s.http.delete(uri).bearer_auth(rat).send().await.unwrap();
        assert_eq!(r.status(), 204);
        let (status, _) = call(&s, reqwest::Method::GET, uri, rat, None).await;
        assert_eq!(status, 401);
        // An operator's client cannot be managed this way.
        s.public_client("admin-made", &[REDIRECT], false).await;
        let (status, _) = call(
            &s,
            reqwest::Method::GET,
            &s.url("/register/admin-made"),
            rat,
            None,
        )
        .await;
        assert_eq!(status, 401);
    }
}

mod cors {
    use super::*;

    async fn preflight(s: &TestServer, path: &str, origin: &str) -> (u16, Option<String>) {
        let r = s
            .http
            .request(reqwest::Method::OPTIONS, s.url(path))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            r.headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_owned()),
        )
    }

    #[tokio::test]
    async fn loopback_browser_tools_may_read_metadata_register_and_redeem() {
        let s = open_server().await;
        let tool = "http://localhost:6274";
        for path in [
            "/.well-known/oauth-authorization-server",
            "/jwks.json",
            "/register",
        ] {
            assert_eq!(
                preflight(&s, path, tool).await,
                (204, Some(tool.into())),
                "{path}"
            );
            assert_eq!(
                preflight(&s, path, "https://evil.example").await.0,
                403,
                "{path}"
            );
        }
        // /token: only for the origins of registered clients.
        assert_eq!(preflight(&s, "/token", tool).await.0, 403);
        register(&s, None, &mcp_client()).await;
        s.clock.advance(6); // the origins' cache
        assert_eq!(
            preflight(&s, "/token", tool).await,
            (204, Some(tool.into()))
        );
        assert_eq!(
            preflight(&s, "/token", "http://localhost.evil.example:6274")
                .await
                .0,
            403
        );
        // A simple GET gets the header too.
        let r = s
            .http
            .get(s.url("/.well-known/oauth-authorization-server"))
            .header("origin", "http://127.0.0.1:9999")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["access-control-allow-origin"],
            "http://127.0.0.1:9999"
        );
    }
}

/// What a hostile registrant tries (the review of issue 14's change).
mod attacks {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    async fn iat_server() -> (TestServer, String) {
        let s = TestServer::start_with(|c| c.registration = RegistrationPolicy::InitialAccessToken)
            .await;
        let token = "iat-attacks-0123456789-0123456789";
        s.store
            .create_initial_access_token(
                &proofkey_core::secret::hash_token(token),
                10,
                s.clock.now() + 600,
                s.clock.now(),
            )
            .await
            .unwrap();
        (s, token.to_owned())
    }

    #[tokio::test]
    async fn a_self_registered_post_logout_redirect_is_no_open_redirect() {
        let s = open_server().await;
        let mut body = mcp_client();
        body["post_logout_redirect_uris"] = json!(["com.evil.app:/x"]);
        let (status, _, r) = register(&s, None, &body).await;
        assert_eq!(
            (status, r["error"].as_str()),
            (400, Some("invalid_redirect_uri")),
            "{r}"
        );
        body["post_logout_redirect_uris"] = json!(["https://phish.example/"]);
        let (status, _, r) = register(&s, None, &body).await;
        assert_eq!(status, 201, "{r}");
        let id = r["client_id"].as_str().unwrap();
        // Without an id_token_hint, the redirect is not followed.
        let url = format!(
            "{}/logout?client_id={id}&post_logout_redirect_uri=https%3A%2F%2Fphish.example%2F&state=z",
            s.base
        );
        let page = s.browser().get(&url).await;
        assert_ne!(page.status, 303, "{:?}", page.location());
        assert!(page.location().is_none());
    }

    #[tokio::test]
    async fn names_cannot_reorder_the_consent_page() {
        let s = open_server().await;
        let mut body = mcp_client();
        body["client_name"] = json!("Payroll Admin \u{202e}\u{200b}nimda");
        let (status, _, r) = register(&s, None, &body).await;
        assert_eq!(
            (status, r["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{r}"
        );
    }

    #[tokio::test]
    async fn self_registered_confidential_clients_cannot_introspect_or_switch_methods() {
        let (s, token) = iat_server().await;
        let (status, _, r) = register(
            &s,
            Some(&token),
            &json!({"redirect_uris": ["https://app.example/cb"], "grant_types": ["client_credentials"]}),
        )
        .await;
        assert_eq!(status, 201, "{r}");
        let id = r["client_id"].as_str().unwrap();
        let secret = r["client_secret"].as_str().unwrap();
        // RFC 7662 §4: not an operator's resource server.
        let (status, _, e) = s
            .post_form(
                "/introspect",
                &[
                    ("token", "anything"),
                    ("client_id", id),
                    ("client_secret", secret),
                ],
            )
            .await;
        assert_eq!(
            (status, e["error"].as_str()),
            (401, Some("invalid_client")),
            "{e}"
        );
        // Adding keys would silently make it a private_key_jwt client.
        let mut update = json!({"client_id": id, "redirect_uris": ["https://app.example/cb"],
            "grant_types": ["client_credentials"], "jwks_uri": "https://keys.example/jwks"});
        let uri = r["registration_client_uri"].as_str().unwrap();
        let rat = r["registration_access_token"].as_str().unwrap();
        let (status, _) = call(&s, reqwest::Method::PUT, uri, rat, Some(&update)).await;
        assert_eq!(status, 400);
        update.as_object_mut().unwrap().remove("jwks_uri");
        let (status, _) = call(&s, reqwest::Method::PUT, uri, rat, Some(&update)).await;
        assert_eq!(status, 200);
    }

    /// A listener that counts the connections made to it.
    async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let count = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&count);
        tokio::spawn(async move {
            while let Ok((sock, _)) = l.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                drop(sock);
            }
        });
        (port, count)
    }

    fn assertion(client_id: &str, aud: &str) -> String {
        use base64::Engine;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        format!(
            "{}.{}.{}",
            b64(json!({"alg": "ES256", "kid": "k1", "typ": "JWT"})),
            b64(
                json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": now + 60, "jti": format!("j-{client_id}")})
            ),
            "c2lnbmF0dXJl"
        )
    }

    async fn present(s: &TestServer, client_id: &str) -> u16 {
        let a = assertion(client_id, &s.url("/token"));
        s.token(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &a),
        ])
        .await
        .0
    }

    #[tokio::test]
    async fn a_self_registered_jwks_uri_never_reaches_an_internal_address() {
        let (s, token) = iat_server().await;
        let (port, hits) = counting_listener().await;
        let jwks_uri = format!("https://127.0.0.1:{port}/jwks.json");
        // The control: an operator's client with that jwks_uri is fetched.
        s.client_with(
            "admin-keys",
            proofkey_core::model::ClientKind::Confidential,
            &[REDIRECT],
            |c| {
                c.jwks_uri = Some(jwks_uri.clone());
                c.grant_types = vec!["client_credentials".into()];
            },
        )
        .await;
        assert_ne!(present(&s, "admin-keys").await, 200);
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "the operator's jwks_uri was fetched"
        );

        let (status, _, r) = register(
            &s,
            Some(&token),
            &json!({"redirect_uris": ["https://app.example/cb"], "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_uri}),
        )
        .await;
        assert_eq!(status, 201, "{r}");
        let id = r["client_id"].as_str().unwrap();
        assert_ne!(present(&s, id).await, 200);
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "nothing reached the internal address"
        );
    }
}
