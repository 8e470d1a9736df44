//! RFC 9068 access tokens, OIDC Core §2/§3.1.3.6 ID tokens verified against
//! the published JWKS by an independent library, §5.3 UserInfo, RFC 6750 §3.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use proofkey_core::model::ClientKind;
use sha2::{Digest, Sha256, Sha512};

async fn jwks(s: &TestServer) -> JwkSet {
    s.http
        .get(s.url("/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn verify(
    jwks: &JwkSet,
    token: &str,
    aud: &str,
    iss: &str,
) -> (jsonwebtoken::Header, serde_json::Value) {
    let header = decode_header(token).unwrap();
    let kid = header.kid.clone().unwrap();
    let jwk = jwks.find(&kid).expect("kid published in the JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut v = Validation::new(header.alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[iss]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let data = decode::<serde_json::Value>(token, &key, &v).unwrap();
    (header, data.claims)
}

async fn tokens(
    s: &TestServer,
    client: &str,
    nonce: Option<&str>,
    scope: &str,
) -> serde_json::Value {
    let extra: Vec<(&str, &str)> = nonce.map(|n| ("nonce", n)).into_iter().collect();
    tokens_with(s, client, "alice", scope, &extra).await
}

async fn setup() -> TestServer {
    let s = TestServer::start().await;
    s.user("alice").await;
    for (id, alg) in [("rs", "RS256"), ("es", "ES256"), ("ed", "EdDSA")] {
        s.client(id, ClientKind::Public, &[REDIRECT], true, alg, None)
            .await;
    }
    s
}

#[tokio::test]
async fn the_id_token_verifies_against_the_jwks_for_each_algorithm() {
    let s = setup().await;
    let keys = jwks(&s).await;
    for (client, alg) in [
        ("rs", Algorithm::RS256),
        ("es", Algorithm::ES256),
        ("ed", Algorithm::EdDSA),
    ] {
        let body = tokens(&s, client, Some("n-0S6_WzA2Mj"), "openid").await;
        let id_token = body["id_token"].as_str().unwrap();
        let (header, claims) = verify(&keys, id_token, client, &s.base);
        assert_eq!(header.alg, alg);
        assert_eq!(claims["sub"], "sub-alice");
        assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
        assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());
        // at_hash: left half of the hash of the access token (OIDC Core §3.1.3.6).
        let at = body["access_token"].as_str().unwrap();
        let expected = if client == "ed" {
            URL_SAFE_NO_PAD.encode(&Sha512::digest(at.as_bytes())[..32])
        } else {
            URL_SAFE_NO_PAD.encode(&Sha256::digest(at.as_bytes())[..16])
        };
        assert_eq!(claims["at_hash"], expected, "{client}");
    }
}

#[tokio::test]
async fn rs256_is_the_default_id_token_algorithm() {
    let s = setup().await;
    let body = tokens(&s, "rs", None, "openid").await;
    let header = decode_header(body["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let (_, claims) = verify(
        &jwks(&s).await,
        body["id_token"].as_str().unwrap(),
        "rs",
        &s.base,
    );
    assert!(claims.get("nonce").is_none());
}

#[tokio::test]
async fn the_access_token_is_an_rfc9068_jwt_signed_es256() {
    let s = setup().await;
    let body = tokens(&s, "rs", None, "openid profile").await;
    let at = body["access_token"].as_str().unwrap();
    let header = decode_header(at).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let (_, claims) = verify(&jwks(&s).await, at, &s.base, &s.base);
    for claim in [
        "iss",
        "exp",
        "aud",
        "sub",
        "client_id",
        "iat",
        "jti",
        "scope",
    ] {
        assert!(claims.get(claim).is_some(), "{claim} missing: {claims}");
    }
    assert_eq!(claims["client_id"], "rs");
    assert_eq!(claims["scope"], "openid profile");
}

#[tokio::test]
async fn no_id_token_without_openid() {
    let s = setup().await;
    let body = tokens(&s, "rs", None, "profile").await;
    assert!(body.get("id_token").is_none());
    assert_eq!(body["scope"], "profile");
}

mod userinfo {
    use super::*;

    #[tokio::test]
    async fn returns_the_claims_of_the_granted_scopes() {
        let s = setup().await;
        let body = tokens(&s, "rs", None, "openid profile email").await;
        let at = body["access_token"].as_str().unwrap();
        for method in ["GET", "POST"] {
            let resp = s
                .http
                .request(method.parse().unwrap(), s.url("/userinfo"))
                .bearer_auth(at)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let info: serde_json::Value = resp.json().await.unwrap();
            assert_eq!(info["sub"], "sub-alice");
            assert_eq!(info["email"], "alice@example.com");
            assert_eq!(info["preferred_username"], "alice");
        }
        let only_openid = tokens(&s, "rs", None, "openid").await;
        let info: serde_json::Value = s
            .http
            .get(s.url("/userinfo"))
            .bearer_auth(only_openid["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info, serde_json::json!({"sub": "sub-alice"}));
    }

    /// RFC 9110 §11.1: the scheme name is case-insensitive.
    #[tokio::test]
    async fn the_bearer_scheme_is_case_insensitive() {
        let s = setup().await;
        let body = tokens(&s, "rs", None, "openid").await;
        let at = body["access_token"].as_str().unwrap();
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let resp = s
                .http
                .get(s.url("/userinfo"))
                .header("authorization", format!("{scheme} {at}"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{scheme}");
        }
    }

    #[tokio::test]
    async fn without_a_token_is_401_with_a_bearer_challenge() {
        let s = setup().await;
        let resp = s.http.get(s.url("/userinfo")).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert!(resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
    }

    #[tokio::test]
    async fn a_forged_or_tampered_token_is_invalid_token() {
        let s = setup().await;
        let body = tokens(&s, "rs", None, "openid").await;
        let at = body["access_token"].as_str().unwrap();
        let mut parts: Vec<String> = at.split('.').map(str::to_owned).collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        claims["sub"] = "sub-mallory".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        for token in [parts.join("."), "garbage".to_owned()] {
            let resp = s
                .http
                .get(s.url("/userinfo"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 401);
            let challenge = resp.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        }
    }

    #[tokio::test]
    async fn an_expired_token_is_invalid_token() {
        let s = setup().await;
        let body = tokens(&s, "rs", None, "openid").await;
        s.clock.advance(601);
        let resp = s
            .http
            .get(s.url("/userinfo"))
            .bearer_auth(body["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert!(resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"));
    }

    #[tokio::test]
    async fn a_token_without_openid_is_insufficient_scope() {
        let s = setup().await;
        let body = tokens(&s, "rs", None, "profile").await;
        let resp = s
            .http
            .get(s.url("/userinfo"))
            .bearer_auth(body["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
        assert!(resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope"));
    }
}
