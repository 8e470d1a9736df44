//! End to end with the real issuer: proofkey (in-process, on a temporary
//! SQLite file) issues a `client_credentials` token for a registered
//! resource (RFC 8707), and an API protected by this crate accepts it by
//! JWK Set and by introspection; a token for another resource is refused
//! (no token passthrough), and so is a revoked one under introspection;
//! a DPoP-bound token (RFC 9449) passes only with a proof by its key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use proofkey_core::model::{Client, ClientKind, Resource};
use proofkey_core::{Config, Provider, SystemClock};
use proofkey_resource::{AccessClaims, ClientSecret, RequireBearer, ResourceServer, Validation};

const API: &str = "https://api.example.com/mcp";
const OTHER: &str = "https://other.example.com/";

struct Issuer {
    base: String,
    _dir: tempfile::TempDir,
}

async fn issuer() -> Issuer {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("issuer.db").display());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = Config::for_issuer(&base, &db).unwrap();
    let store = proofkey_store::open(&db).await.unwrap();
    let provider = Arc::new(
        Provider::new(config, Arc::clone(&store), Arc::new(SystemClock))
            .await
            .unwrap(),
    );
    tokio::spawn(proofkey_server::serve(
        listener,
        Arc::clone(&provider),
        std::future::pending(),
    ));
    for uri in [API, OTHER] {
        store
            .create_resource(&Resource {
                uri: uri.into(),
                name: uri.into(),
                scopes: vec!["mcp:tools".into()],
                created_at: 0,
            })
            .await
            .unwrap();
    }
    for (id, grant) in [("svc", "client_credentials"), ("api", "client_credentials")] {
        store
            .create_client(&Client {
                id: id.into(),
                name: id.into(),
                kind: ClientKind::Confidential,
                secret_hash: Some(provider.hasher().hash(
                    &proofkey_core::secret::ClientSecret::new(format!("{id}-secret")),
                )),
                scopes: vec!["mcp:tools".into()],
                grant_types: vec![grant.into()],
                id_token_alg: "RS256".into(),
                ..Client::default()
            })
            .await
            .unwrap();
    }
    Issuer { base, _dir: dir }
}

async fn token_for(issuer: &Issuer, resource: &str) -> String {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/token", issuer.base))
        .basic_auth("svc", Some("svc-secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "mcp:tools"),
            ("resource", resource),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {body}"))
        .to_owned()
}

/// The protected API on 127.0.0.1:0.
async fn api(rs: &ResourceServer) -> String {
    let app = Router::new()
        .route(
            "/mcp",
            get(|c: AccessClaims| async move { c.client_id.clone() }),
        )
        .route_layer(
            RequireBearer::new(rs)
                .require_scopes(["mcp:tools"])
                .unwrap(),
        )
        .merge(rs.metadata_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

async fn call(base: &str, token: &str) -> (u16, String, String) {
    let r = reqwest::Client::new()
        .get(format!("{base}/mcp"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, challenge, r.text().await.unwrap())
}

#[tokio::test]
async fn tokens_for_this_resource_pass_by_jwks_and_others_do_not() {
    let issuer = issuer().await;
    let rs = ResourceServer::builder(&issuer.base, API).build().unwrap();
    let base = api(&rs).await;
    let (status, _, body) = call(&base, &token_for(&issuer, API).await).await;
    assert_eq!((status, body.as_str()), (200, "svc"));
    let (status, challenge, _) = call(&base, &token_for(&issuer, OTHER).await).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_token"), "{challenge}");
}

#[tokio::test]
async fn introspection_sees_revocation_at_once() {
    let issuer = issuer().await;
    let rs = ResourceServer::builder(&issuer.base, API)
        .validation(Validation::Introspection {
            client_id: "api".into(),
            client_secret: ClientSecret::new("api-secret"),
        })
        .build()
        .unwrap();
    let base = api(&rs).await;
    let token = token_for(&issuer, API).await;
    assert_eq!(call(&base, &token).await.0, 200);
    let (status, _, _) = call(&base, &token_for(&issuer, OTHER).await).await;
    assert_eq!(status, 401, "another resource's token, even when active");
    // RFC 7009: the client revokes its token; the API refuses it at once.
    let r = reqwest::Client::new()
        .post(format!("{}/revoke", issuer.base))
        .basic_auth("svc", Some("svc-secret"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(call(&base, &token).await.0, 401);
}

/// RFC 9449 end to end: proofkey binds a `client_credentials` token to the
/// key of the proof sent to /token; the API accepts it with a proof by that
/// key for the request (`htu` is the resource's URL, `ath` the token), by
/// JWK Set and by introspection, and refuses it as a bearer token, with a
/// proof used twice, or with another key's proof.
#[tokio::test]
async fn dpop_bound_tokens_from_proofkey_need_a_proof_by_their_key() {
    let issuer = issuer().await;
    let key = proofkey_dpop::DpopKey::generate().unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let token_endpoint = format!("{}/token", issuer.base);
    let body: serde_json::Value = reqwest::Client::new()
        .post(&token_endpoint)
        .basic_auth("svc", Some("svc-secret"))
        .header(
            "DPoP",
            key.proof("POST", &token_endpoint, None, None, now())
                .unwrap(),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "mcp:tools"),
            ("resource", API),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();

    let jwks = ResourceServer::builder(&issuer.base, API).build().unwrap();
    let introspection = ResourceServer::builder(&issuer.base, API)
        .validation(Validation::Introspection {
            client_id: "api".into(),
            client_secret: ClientSecret::new("api-secret"),
        })
        .build()
        .unwrap();
    for rs in [&jwks, &introspection] {
        let base = api(rs).await;
        let send = |proof: Option<String>, scheme: &'static str| {
            let mut req = reqwest::Client::new()
                .get(format!("{base}/mcp"))
                .header("Authorization", format!("{scheme} {token}"));
            if let Some(p) = proof {
                req = req.header("DPoP", p);
            }
            async move { req.send().await.unwrap().status().as_u16() }
        };
        // The resource's own URL is the htu, whatever address it was reached at.
        let proof = key.proof("GET", API, Some(&token), None, now()).unwrap();
        assert_eq!(send(Some(proof.clone()), "DPoP").await, 200);
        assert_eq!(send(Some(proof), "DPoP").await, 401, "a replayed proof");
        assert_eq!(send(None, "Bearer").await, 401, "a bound token as bearer");
        let thief = proofkey_dpop::DpopKey::generate().unwrap();
        let stolen = thief.proof("GET", API, Some(&token), None, now()).unwrap();
        assert_eq!(send(Some(stolen), "DPoP").await, 401, "another key");
        let wrong_url = key
            .proof("GET", &format!("{base}/mcp"), Some(&token), None, now())
            .unwrap();
        assert_eq!(send(Some(wrong_url), "DPoP").await, 401, "another htu");
    }
}
