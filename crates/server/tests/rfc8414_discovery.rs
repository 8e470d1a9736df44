//! RFC 8414 §2–§3, OIDC Discovery 1.0 §3–§4, RFC 7517 §5: metadata and JWKS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

async fn get_json(s: &TestServer, path: &str) -> serde_json::Value {
    let resp = s.http.get(s.url(path)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    resp.json().await.unwrap()
}

#[tokio::test]
async fn both_well_known_documents_are_the_same_and_complete() {
    let s = TestServer::start().await;
    let oidc = get_json(&s, "/.well-known/openid-configuration").await;
    let oauth = get_json(&s, "/.well-known/oauth-authorization-server").await;
    assert_eq!(oidc, oauth);
    assert_eq!(oidc["issuer"], s.base);
    for field in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
        "grant_types_supported",
        "token_endpoint_auth_methods_supported",
    ] {
        assert!(oidc.get(field).is_some(), "{field}");
    }
    assert_eq!(
        oidc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(oidc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        oidc["response_types_supported"],
        serde_json::json!(["code"])
    );
    let grants: Vec<&str> = oidc["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(grants.contains(&"authorization_code"));
    assert!(!grants.contains(&"implicit") && !grants.contains(&"password"));
    let algs = oidc["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&"RS256".into()));
    // Every advertised endpoint lives under the issuer and answers.
    for ep in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
    ] {
        assert!(oidc[ep].as_str().unwrap().starts_with(&s.base));
    }
}

#[tokio::test]
async fn jwks_publishes_public_keys_only_with_kid_alg_use() {
    let s = TestServer::start().await;
    let jwks = get_json(&s, "/jwks.json").await;
    let keys = jwks["keys"].as_array().unwrap();
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(algs.contains(&alg), "{alg} missing");
    }
    for k in keys {
        assert!(k["kid"].is_string());
        assert_eq!(k["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(k.get(private).is_none(), "private member {private} in {k}");
        }
    }
}

#[tokio::test]
async fn keys_survive_a_restart_on_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("k.db").display());
    let mut kids = vec![];
    for _ in 0..2 {
        let store = proofkey_store::open(&db).await.unwrap();
        let cfg = proofkey_core::Config::for_issuer("http://127.0.0.1:1", &db).unwrap();
        let p = proofkey_core::Provider::new(
            cfg,
            store,
            std::sync::Arc::new(proofkey_core::SystemClock),
        )
        .await
        .unwrap();
        kids.push(p.jwks());
    }
    assert_eq!(kids[0], kids[1]);
}
