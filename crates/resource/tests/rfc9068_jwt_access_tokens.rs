//! RFC 9068 §4: validating JWT access tokens, over HTTP, against a
//! stand-in issuer's JWK Set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_invalid_token, sign_raw, Api, Issuer, TestKey};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

async fn setup() -> (Issuer, Api, TestKey) {
    let issuer = Issuer::start().await;
    let key = TestKey::es256("k1");
    issuer.publish(&key);
    let api = Api::start(&issuer).await;
    (issuer, api, key)
}

fn with(mut claims: Value, patch: Value) -> Value {
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

#[tokio::test]
async fn accepts_a_valid_token_and_hands_its_claims_to_the_handler() {
    let (issuer, api, key) = setup().await;
    let claims = api.claims(&issuer.base);
    let resp = api.get("/mcp", &key.sign(&claims)).await;
    assert_eq!(resp.status(), 200);
    let seen: Value = resp.json().await.unwrap();
    assert_eq!(seen["sub"], "alice");
    assert_eq!(seen["client_id"], "mcp-client");
    assert_eq!(seen["scope"], "mcp:tools read");
    assert_eq!(seen["aud"], json!([api.resource]));
    assert_eq!(seen["jti"], claims["jti"]);
    assert_eq!(seen["exp"], claims["exp"]);
    assert_eq!(seen["iss"], issuer.base);
    assert_eq!(api.handled(), 1);
}

#[tokio::test]
async fn accepts_eddsa_and_rs256_keys_from_the_same_set() {
    let (issuer, api, _) = setup().await;
    for key in [TestKey::eddsa("ed"), TestKey::rs256("rsa")] {
        issuer.publish(&key);
        // A new kid after the first fetch: let the refetch interval pass.
        api.clock.advance(31);
        let resp = api.get("/mcp", &key.sign(&api.claims(&issuer.base))).await;
        assert_eq!(resp.status(), 200, "{:?}", key.alg);
    }
}

#[tokio::test]
async fn aud_array_is_accepted_when_one_element_is_this_resource() {
    let (issuer, api, key) = setup().await;
    let claims = with(
        api.claims(&issuer.base),
        json!({"aud": ["https://other.example/api", api.resource]}),
    );
    assert_eq!(api.get("/mcp", &key.sign(&claims)).await.status(), 200);
}

/// RFC 8707 §2, RFC 9068 §4: a token minted for another resource (the
/// MCP "token passthrough" attack) is refused, however close the name.
#[tokio::test]
async fn refuses_a_token_for_another_resource() {
    let (issuer, api, key) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    for aud in [
        json!("https://other.example/mcp"),
        json!(format!("{}/", api.resource)),
        json!(api.base),
        json!(api.resource.to_uppercase()),
        json!(["https://other.example/mcp"]),
    ] {
        let token = key.sign(&with(api.claims(&issuer.base), json!({ "aud": aud })));
        assert_invalid_token(
            api.get("/mcp", &token).await,
            "not meant for this resource",
            &url,
        )
        .await;
    }
    assert_eq!(api.handled(), 0);
}

#[tokio::test]
async fn refuses_a_token_from_another_issuer() {
    let (issuer, api, key) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    for iss in [
        "https://evil.example".to_owned(),
        format!("{}/", issuer.base),
    ] {
        let token = key.sign(&with(api.claims(&issuer.base), json!({ "iss": iss })));
        assert_invalid_token(
            api.get("/mcp", &token).await,
            "another authorization server",
            &url,
        )
        .await;
    }
}

#[tokio::test]
async fn refuses_an_expired_token_after_the_leeway() {
    let (issuer, api, key) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    let token = key.sign(&api.claims(&issuer.base));
    assert_eq!(api.get("/mcp", &token).await.status(), 200);
    // exp = now + 300; leeway 60 s.
    api.clock.advance(359);
    assert_eq!(api.get("/mcp", &token).await.status(), 200);
    api.clock.advance(1);
    assert_invalid_token(api.get("/mcp", &token).await, "has expired", &url).await;
}

#[tokio::test]
async fn refuses_a_token_not_valid_yet() {
    let (issuer, api, key) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    let now = api.clock_now();
    let ok = key.sign(&with(api.claims(&issuer.base), json!({"nbf": now + 60})));
    assert_eq!(api.get("/mcp", &ok).await.status(), 200);
    let early = key.sign(&with(api.claims(&issuer.base), json!({"nbf": now + 61})));
    assert_invalid_token(api.get("/mcp", &early).await, "not valid yet", &url).await;
}

/// RFC 9068 §4: `typ` must be `at+jwt` (an ID token, `typ: JWT`, is not an
/// access token).
#[tokio::test]
async fn refuses_a_token_of_another_type() {
    let (issuer, api, key) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    let claims = api.claims(&issuer.base);
    for header in [
        json!({"alg": "ES256", "typ": "JWT", "kid": "k1"}),
        json!({"alg": "ES256", "kid": "k1"}),
        json!({"alg": "ES256", "typ": "id_token+jwt", "kid": "k1"}),
    ] {
        let token = key.sign_with_header(&header, &claims);
        assert_invalid_token(api.get("/mcp", &token).await, "(typ)", &url).await;
    }
    let upper = key.sign_with_header(
        &json!({"alg": "ES256", "typ": "Application/AT+JWT", "kid": "k1"}),
        &claims,
    );
    assert_eq!(api.get("/mcp", &upper).await.status(), 200);
}

#[tokio::test]
async fn refuses_alg_none() {
    let (issuer, api, _) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    let header = json!({"alg": "none", "typ": "at+jwt", "kid": "k1"});
    let message = format!(
        "{}.{}",
        base64url(&header.to_string()),
        base64url(&api.claims(&issuer.base).to_string())
    );
    // Unsigned, as `none` is meant to be...
    assert_invalid_token(
        api.get("/mcp", &format!("{message}.")).await,
        "malformed",
        &url,
    )
    .await;
    // ...and with some bytes where the signature goes.
    assert_invalid_token(
        api.get("/mcp", &format!("{message}.c2ln")).await,
        "signing algorithm is not accepted",
        &url,
    )
    .await;
    assert_eq!(api.handled(), 0);
}

/// RFC 8725 §2.1: HS256 "signed" with the issuer's public key as the HMAC
/// secret, hoping the verifier uses the key bytes as given.
#[tokio::test]
async fn refuses_hs256_signed_with_the_public_key() {
    let (issuer, api, key) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"});
    let claims = api.claims(&issuer.base);
    for secret in [key.public_bytes.clone(), key.jwk.to_string().into_bytes()] {
        let token = sign_raw(
            &header,
            &claims,
            &EncodingKey::from_secret(&secret),
            Algorithm::HS256,
        );
        assert_invalid_token(
            api.get("/mcp", &token).await,
            "algorithm is not accepted",
            &url,
        )
        .await;
    }
}

#[tokio::test]
async fn refuses_a_bad_signature() {
    let (issuer, api, key) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    let claims = api.claims(&issuer.base);
    // The payload changed after signing (more scopes).
    let token = key.sign(&claims);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = base64url(&with(claims.clone(), json!({"scope": "mcp:tools admin"})).to_string());
    assert_invalid_token(
        api.get("/mcp", &parts.join(".")).await,
        "signature is invalid",
        &url,
    )
    .await;
    // Another key under the published kid.
    let impostor = TestKey::es256("k1");
    assert_invalid_token(
        api.get("/mcp", &impostor.sign(&claims)).await,
        "signature is invalid",
        &url,
    )
    .await;
}

/// The key named by `kid` must fit `alg` (an EC key cannot verify RS256).
#[tokio::test]
async fn refuses_an_algorithm_that_does_not_fit_the_key() {
    let (issuer, api, _) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    let rsa = TestKey::rs256("rsa-unpublished");
    let token = rsa.sign_with_header(
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}),
        &api.claims(&issuer.base),
    );
    assert_invalid_token(
        api.get("/mcp", &token).await,
        "does not match its key",
        &url,
    )
    .await;
}

#[tokio::test]
async fn refuses_missing_required_claims() {
    let (issuer, api, key) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    for claim in ["sub", "client_id", "jti", "exp", "iat", "aud", "iss"] {
        let token = key.sign(&with(api.claims(&issuer.base), json!({ claim: null })));
        assert_invalid_token(
            api.get("/mcp", &token).await,
            &format!("lacks a required claim ({claim})"),
            &url,
        )
        .await;
    }
}

#[tokio::test]
async fn refuses_a_token_without_kid_or_with_crit() {
    let (issuer, api, key) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    let claims = api.claims(&issuer.base);
    let no_kid = key.sign_with_header(&json!({"alg": "ES256", "typ": "at+jwt"}), &claims);
    assert_invalid_token(api.get("/mcp", &no_kid).await, "no key id", &url).await;
    let crit = key.sign_with_header(
        &json!({"alg": "ES256", "typ": "at+jwt", "kid": "k1", "crit": ["x"], "x": 1}),
        &claims,
    );
    assert_invalid_token(api.get("/mcp", &crit).await, "critical header", &url).await;
}

/// RFC 9449 §6: a DPoP-bound token replayed as a bearer token.
#[tokio::test]
async fn refuses_a_sender_constrained_token() {
    let (issuer, api, key) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    let token = key.sign(&with(
        api.claims(&issuer.base),
        json!({"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}),
    ));
    assert_invalid_token(api.get("/mcp", &token).await, "sender-constrained", &url).await;
}

#[tokio::test]
async fn refuses_a_token_longer_than_the_cap() {
    let (issuer, api, key) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    let padded = with(
        api.claims(&issuer.base),
        json!({"padding": "x".repeat(8 * 1024)}),
    );
    assert_invalid_token(api.get("/mcp", &key.sign(&padded)).await, "too long", &url).await;
    assert_eq!(
        issuer.jwks_fetches(),
        0,
        "refused before any key was looked up"
    );
}

#[tokio::test]
async fn algorithms_can_be_narrowed() {
    let issuer = Issuer::start().await;
    let ec = TestKey::es256("ec");
    let ed = TestKey::eddsa("ed");
    issuer.publish(&ec);
    issuer.publish(&ed);
    let api = Api::start_with(&issuer.base, |b| b.algorithms(["ES256"])).await;
    let url = api.rs.resource_metadata_url().to_owned();
    assert_eq!(
        api.get("/mcp", &ec.sign(&api.claims(&issuer.base)))
            .await
            .status(),
        200
    );
    assert_invalid_token(
        api.get("/mcp", &ed.sign(&api.claims(&issuer.base))).await,
        "algorithm is not accepted",
        &url,
    )
    .await;
}

#[tokio::test]
async fn garbage_is_an_invalid_token() {
    let (_issuer, api, _) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    for token in ["abc", "a.b.c", "a.b.c.d.e", "e30.e30.e30"] {
        assert_invalid_token(api.get("/mcp", token).await, "malformed", &url).await;
    }
}

fn base64url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}
