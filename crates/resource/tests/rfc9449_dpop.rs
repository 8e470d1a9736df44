//! RFC 9449: DPoP-bound access tokens at the resource server. §7.1 (the
//! `DPoP` scheme, its proof and its challenge), §4.3 (each check of the
//! proof, over HTTP), §7.2 (a bound token is no bearer token; the
//! challenges of a resource taking both schemes), §6.2 (introspection's
//! `cnf`), §11.1 (replay), and RFC 9728's DPoP metadata.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{
    assert_dpop_error, assert_invalid_token, bind, challenge, challenges, sign_raw, Api, Issuer,
    TestKey, DEFAULT_ALGS, INTROSPECTION_CLIENT, INTROSPECTION_SECRET,
};
use jsonwebtoken::{Algorithm, EncodingKey};
use proofkey_dpop::DpopKey;
use proofkey_resource::{
    AccessClaims, ClientSecret, ManualClock, RequireBearer, ResourceServer, ResourceServerBuilder,
    Validation,
};
use reqwest::Method;
use serde_json::{json, Value};

struct Setup {
    issuer: Issuer,
    api: Api,
    /// The issuer's signing key.
    key: TestKey,
    /// The client's DPoP key.
    dpop: DpopKey,
    /// A token bound to `dpop`, with `mcp:tools`.
    token: String,
}

async fn setup() -> Setup {
    setup_with(|b| b).await
}

async fn setup_with(tweak: impl FnOnce(ResourceServerBuilder) -> ResourceServerBuilder) -> Setup {
    let issuer = Issuer::start().await;
    let key = TestKey::es256("k1");
    issuer.publish(&key);
    let api = Api::start_with(&issuer.base, tweak).await;
    let dpop = DpopKey::generate().unwrap();
    let token = key.sign(&bind(api.claims(&issuer.base), dpop.thumbprint()));
    Setup {
        issuer,
        api,
        key,
        dpop,
        token,
    }
}

impl Setup {
    fn metadata_url(&self) -> String {
        self.api.rs.resource_metadata_url().to_owned()
    }

    async fn get_with(&self, proofs: &[&str]) -> reqwest::Response {
        self.api
            .dpop(Method::GET, "/mcp", &self.token, proofs)
            .await
    }
}

fn rand() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// A proof signed by `signer` (any algorithm jsonwebtoken knows) with any
/// header: for the defects `DpopKey` cannot make.
fn raw_proof(header: &Value, claims: &Value, signer: &EncodingKey, alg: Algorithm) -> String {
    sign_raw(header, claims, signer, alg)
}

fn good_claims(s: &Setup) -> Value {
    json!({
        "jti": format!("raw-{}", rand()),
        "htm": "GET",
        "htu": s.api.url("/mcp"),
        "iat": s.api.clock_now(),
        "ath": proofkey_dpop::access_token_hash(&s.token),
    })
}

// §7.1: the good case.

#[tokio::test]
async fn a_bound_token_with_a_proof_for_the_request_is_accepted() {
    let s = setup().await;
    let resp = s.api.dpop_get("/mcp", &s.token, &s.dpop).await;
    assert_eq!(resp.status(), 200);
    let seen: Value = resp.json().await.unwrap();
    assert_eq!(seen["sub"], "alice");
    assert_eq!(seen["dpop_jkt"], s.dpop.thumbprint());
    assert!(seen["extra"].get("cnf").is_none());
    // Another method, with its own proof; the scheme is case-insensitive.
    let proof = s.api.proof(&s.dpop, "POST", "/mcp", &s.token);
    let resp = s
        .api
        .http
        .post(s.api.url("/mcp"))
        .header("authorization", format!("dpop {}", s.token))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(s.api.handled(), 2);
}

/// §4.3 check 9: the query is not part of `htu`.
#[tokio::test]
async fn the_query_is_not_part_of_htu() {
    let s = setup().await;
    let proof = s.api.proof(&s.dpop, "GET", "/mcp", &s.token);
    let resp = s
        .api
        .dpop(Method::GET, "/mcp?cursor=2", &s.token, &[&proof])
        .await;
    assert_eq!(resp.status(), 200);
}

// §4.3: each check of the proof.

/// Check 8: `htm` is the request's method.
#[tokio::test]
async fn a_proof_for_another_method_is_refused() {
    let s = setup().await;
    let proof = s.api.proof(&s.dpop, "POST", "/mcp", &s.token);
    assert_dpop_error(
        s.get_with(&[&proof]).await,
        "invalid_dpop_proof",
        "htm",
        &s.metadata_url(),
    )
    .await;
    let proof = s.api.proof(&s.dpop, "get", "/mcp", &s.token);
    assert_dpop_error(
        s.get_with(&[&proof]).await,
        "invalid_dpop_proof",
        "htm",
        &s.metadata_url(),
    )
    .await;
    assert_eq!(s.api.handled(), 0);
}

/// Check 9: `htu` is this request's URL: the configured origin and the
/// request's path; another path, host, port or scheme is refused.
#[tokio::test]
async fn a_proof_for_another_url_is_refused() {
    let s = setup().await;
    let port = s
        .api
        .base
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    for htu in [
        s.api.url("/any"),
        s.api.url("/mcp/"),
        format!("http://localhost:{port}/mcp"),
        format!("http://127.0.0.1:{}/mcp", port.wrapping_add(1)),
        format!("https://127.0.0.1:{port}/mcp"),
    ] {
        let proof = s
            .dpop
            .proof("GET", &htu, Some(&s.token), None, s.api.clock_now() as i64)
            .unwrap();
        assert_dpop_error(
            s.get_with(&[&proof]).await,
            "invalid_dpop_proof",
            "htu",
            &s.metadata_url(),
        )
        .await;
    }
    assert_eq!(s.api.handled(), 0);
}

/// The URL is never taken from the Host header: a client that sends
/// another Host cannot make a proof for another URL pass.
#[tokio::test]
async fn the_host_header_does_not_make_the_url() {
    let s = setup().await;
    let proof = s
        .dpop
        .proof(
            "GET",
            "http://evil.example/mcp",
            Some(&s.token),
            None,
            s.api.clock_now() as i64,
        )
        .unwrap();
    let resp = s
        .api
        .http
        .get(s.api.url("/mcp"))
        .header("host", "evil.example")
        .header("authorization", format!("DPoP {}", s.token))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    assert_dpop_error(resp, "invalid_dpop_proof", "htu", &s.metadata_url()).await;
}

/// Check 11: `iat` within `dpop_max_age` (60 s) in the past and the leeway
/// (60 s) in the future.
#[tokio::test]
async fn a_stale_or_future_proof_is_refused() {
    let s = setup().await;
    let now = s.api.clock_now() as i64;
    for iat in [now - 61, now + 61, 0] {
        let proof = s
            .dpop
            .proof("GET", &s.api.url("/mcp"), Some(&s.token), None, iat)
            .unwrap();
        assert_dpop_error(
            s.get_with(&[&proof]).await,
            "invalid_dpop_proof",
            "iat",
            &s.metadata_url(),
        )
        .await;
    }
    for iat in [now - 60, now + 60] {
        let proof = s
            .dpop
            .proof("GET", &s.api.url("/mcp"), Some(&s.token), None, iat)
            .unwrap();
        assert_eq!(s.get_with(&[&proof]).await.status(), 200, "{}", iat - now);
    }
}

/// Check 11, §11.1: a proof is accepted once; its replay is refused while
/// it could still be accepted, then it is refused as stale.
#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let s = setup().await;
    let proof = s.api.proof(&s.dpop, "GET", "/mcp", &s.token);
    assert_eq!(s.get_with(&[&proof]).await.status(), 200);
    assert_dpop_error(
        s.get_with(&[&proof]).await,
        "invalid_dpop_proof",
        "used before",
        &s.metadata_url(),
    )
    .await;
    s.api.clock.advance(60);
    assert_dpop_error(
        s.get_with(&[&proof]).await,
        "invalid_dpop_proof",
        "used before",
        &s.metadata_url(),
    )
    .await;
    s.api.clock.advance(1);
    assert_dpop_error(
        s.get_with(&[&proof]).await,
        "invalid_dpop_proof",
        "iat",
        &s.metadata_url(),
    )
    .await;
    assert_eq!(s.api.handled(), 1);
}

/// Concurrent replays: exactly one wins (the cache checks and inserts
/// under one lock).
#[tokio::test]
async fn concurrent_replays_are_accepted_once() {
    let s = setup().await;
    let proof = s.api.proof(&s.dpop, "GET", "/mcp", &s.token);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let req = s
            .api
            .http
            .get(s.api.url("/mcp"))
            .header("authorization", format!("DPoP {}", s.token))
            .header("dpop", proof.clone());
        calls.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    let statuses: Vec<u16> = calls.join_all().await;
    assert_eq!(
        statuses.iter().filter(|c| **c == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|c| **c == 401).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(s.api.handled(), 1);
}

/// Check 12, §7: `ath` is the hash of the token sent with the proof.
#[tokio::test]
async fn a_proof_for_another_token_or_without_ath_is_refused() {
    let s = setup().await;
    let other = s
        .key
        .sign(&bind(s.api.claims(&s.issuer.base), s.dpop.thumbprint()));
    let proof = s.api.proof(&s.dpop, "GET", "/mcp", &other);
    assert_dpop_error(
        s.get_with(&[&proof]).await,
        "invalid_dpop_proof",
        "ath",
        &s.metadata_url(),
    )
    .await;
    let no_ath = s
        .dpop
        .proof(
            "GET",
            &s.api.url("/mcp"),
            None,
            None,
            s.api.clock_now() as i64,
        )
        .unwrap();
    assert_dpop_error(
        s.get_with(&[&no_ath]).await,
        "invalid_dpop_proof",
        "ath",
        &s.metadata_url(),
    )
    .await;
}

/// §7.1, §6.1: a valid proof by a key other than the token's `cnf.jkt` is
/// an `invalid_token` (Figure 16: "Invalid DPoP key binding").
#[tokio::test]
async fn a_proof_by_another_key_than_cnf_jkt_is_invalid_token() {
    let s = setup().await;
    let stranger = DpopKey::generate().unwrap();
    let resp = s.api.dpop_get("/mcp", &s.token, &stranger).await;
    assert_dpop_error(
        resp,
        "invalid_token",
        "not the key the token is bound to",
        &s.metadata_url(),
    )
    .await;
    assert_eq!(s.api.handled(), 0);
}

/// Check 5: `none` and symmetric algorithms are never accepted (a MAC
/// proves nothing about a public key).
#[tokio::test]
async fn symmetric_and_none_algorithms_are_refused() {
    let s = setup().await;
    let jwk = TestKey::es256("x").jwk;
    let hs = raw_proof(
        &json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk}),
        &good_claims(&s),
        &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        Algorithm::HS256,
    );
    assert_dpop_error(
        s.get_with(&[&hs]).await,
        "invalid_dpop_proof",
        "signing algorithm is not accepted",
        &s.metadata_url(),
    )
    .await;
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"typ": "dpop+jwt", "alg": "none", "jwk": jwk}).to_string()),
        URL_SAFE_NO_PAD.encode(good_claims(&s).to_string())
    );
    assert_dpop_error(
        s.get_with(&[&none]).await,
        "invalid_dpop_proof",
        "signing algorithm is not accepted",
        &s.metadata_url(),
    )
    .await;
}

/// Check 7: the `jwk` must not hold a private key.
#[tokio::test]
async fn a_private_key_in_the_jwk_is_refused() {
    let s = setup().await;
    let signer = TestKey::es256("x");
    let mut jwk = signer.jwk.clone();
    jwk["d"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    let proof = raw_proof(
        &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}),
        &good_claims(&s),
        &signer.encoding,
        Algorithm::ES256,
    );
    assert_dpop_error(
        s.get_with(&[&proof]).await,
        "invalid_dpop_proof",
        "private key",
        &s.metadata_url(),
    )
    .await;
}

/// Checks 4 and 6: `typ`, and a signature by the `jwk`. (The same
/// hand-made proof, well made, passes: the refusals above and below are
/// the defect's, not the harness's.)
#[tokio::test]
async fn a_wrong_typ_or_signature_is_refused() {
    let s = setup().await;
    let signer = TestKey::es256("x");
    let other = TestKey::es256("y");
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": signer.jwk});
    let jkt = proofkey_dpop::thumbprint(&signer.jwk).unwrap();
    let token = s.key.sign(&bind(s.api.claims(&s.issuer.base), &jkt));
    let mut claims = good_claims(&s);
    claims["ath"] = json!(proofkey_dpop::access_token_hash(&token));
    let good = raw_proof(&header, &claims, &signer.encoding, Algorithm::ES256);
    let resp = s.api.dpop(Method::GET, "/mcp", &token, &[&good]).await;
    assert_eq!(resp.status(), 200);

    let jwt = raw_proof(
        &json!({"typ": "JWT", "alg": "ES256", "jwk": signer.jwk}),
        &good_claims(&s),
        &signer.encoding,
        Algorithm::ES256,
    );
    assert_dpop_error(
        s.get_with(&[&jwt]).await,
        "invalid_dpop_proof",
        "typ",
        &s.metadata_url(),
    )
    .await;
    let forged = raw_proof(&header, &good_claims(&s), &other.encoding, Algorithm::ES256);
    assert_dpop_error(
        s.get_with(&[&forged]).await,
        "invalid_dpop_proof",
        "signature does not verify",
        &s.metadata_url(),
    )
    .await;
}

/// Check 1: exactly one `DPoP` header, bounded, holding a JWT.
#[tokio::test]
async fn exactly_one_well_formed_dpop_header() {
    let s = setup().await;
    let url = s.metadata_url();
    let a = s.api.proof(&s.dpop, "GET", "/mcp", &s.token);
    let b = s.api.proof(&s.dpop, "GET", "/mcp", &s.token);
    assert_dpop_error(
        s.get_with(&[&a, &b]).await,
        "invalid_dpop_proof",
        "more than one DPoP header",
        &url,
    )
    .await;
    assert_dpop_error(
        s.get_with(&[]).await,
        "invalid_dpop_proof",
        "DPoP proof (the DPoP header) is required",
        &url,
    )
    .await;
    let long = "a".repeat(proofkey_dpop::MAX_PROOF_LEN + 1);
    assert_dpop_error(
        s.get_with(&[&long]).await,
        "invalid_dpop_proof",
        "too long",
        &url,
    )
    .await;
    for garbage in ["x", "a.b.c", "e30.e30", &format!("{a}, {b}")] {
        assert_dpop_error(
            s.get_with(&[garbage]).await,
            "invalid_dpop_proof",
            "not a well-formed JWT",
            &url,
        )
        .await;
    }
    // None of these was remembered: the good proofs still pass, once.
    assert_eq!(s.get_with(&[&a]).await.status(), 200);
    assert_eq!(s.get_with(&[&b]).await.status(), 200);
    assert_eq!(s.api.handled(), 2);
}

// §7.2: the two schemes side by side.

/// A DPoP-bound token presented as a bearer token is refused: a stolen
/// bound token must not work without its key. The Bearer challenge
/// carries the error, the DPoP one follows (Figure 18).
#[tokio::test]
async fn a_bound_token_as_bearer_is_refused() {
    let s = setup().await;
    let url = s.metadata_url();
    let resp = s.api.get("/mcp", &s.token).await;
    let all = challenges(&resp);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(
        all[1],
        format!("DPoP {DEFAULT_ALGS}, resource_metadata=\"{url}\"")
    );
    assert_invalid_token(resp, "sender-constrained", &url).await;
    // With a proof alongside, still the Bearer scheme: still refused.
    let proof = s.api.proof(&s.dpop, "GET", "/mcp", &s.token);
    let resp = s
        .api
        .http
        .get(s.api.url("/mcp"))
        .bearer_auth(&s.token)
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    assert_invalid_token(resp, "sender-constrained", &url).await;
    assert_eq!(s.api.handled(), 0);
}

/// A token without `cnf` with the DPoP scheme and a valid proof: refused
/// (RFC 9449 §7.1 leaves it open; the proof would bind nothing).
#[tokio::test]
async fn an_unbound_token_with_the_dpop_scheme_is_refused() {
    let s = setup().await;
    let plain = s.key.sign(&s.api.claims(&s.issuer.base));
    let resp = s.api.dpop_get("/mcp", &plain, &s.dpop).await;
    let all = challenges(&resp);
    assert_eq!(
        all[1],
        format!("Bearer resource_metadata=\"{}\"", s.metadata_url())
    );
    assert_dpop_error(resp, "invalid_token", "not DPoP-bound", &s.metadata_url()).await;
    // The same token as a bearer token is fine.
    assert_eq!(s.api.get("/mcp", &plain).await.status(), 200);
}

/// Token checks apply as usual, in the DPoP challenge.
#[tokio::test]
async fn token_errors_with_the_dpop_scheme_are_dpop_challenges() {
    let s = setup().await;
    let mut claims = bind(s.api.claims(&s.issuer.base), s.dpop.thumbprint());
    claims["aud"] = json!("https://other.example/mcp");
    let token = s.key.sign(&claims);
    let resp = s.api.dpop_get("/mcp", &token, &s.dpop).await;
    assert_dpop_error(
        resp,
        "invalid_token",
        "not meant for this resource",
        &s.metadata_url(),
    )
    .await;
    let mut claims = bind(s.api.claims(&s.issuer.base), s.dpop.thumbprint());
    claims["cnf"]["x5t#S256"] = json!("abc");
    let token = s.key.sign(&claims);
    let resp = s.api.dpop_get("/mcp", &token, &s.dpop).await;
    assert_dpop_error(
        resp,
        "invalid_token",
        "confirmation method this resource does not support",
        &s.metadata_url(),
    )
    .await;
}

/// RFC 6750 §3.1 through RFC 9449 §7.1: 403 in the DPoP scheme.
#[tokio::test]
async fn insufficient_scope_is_a_dpop_challenge_for_dpop_tokens() {
    let s = setup().await;
    let resp = s.api.dpop_get("/admin", &s.token, &s.dpop).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        challenge(&resp),
        format!(
            "DPoP error=\"insufficient_scope\", error_description=\"the access token does not grant \
             the scopes this resource requires\", scope=\"admin mcp:tools\", {DEFAULT_ALGS}, \
             resource_metadata=\"{}\"",
            s.metadata_url()
        )
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
}

/// Figure 17: no credentials, both schemes, no error code; and the
/// `algs` follow the configuration.
#[tokio::test]
async fn no_credentials_get_both_challenges() {
    let s = setup_with(|b| b.dpop_algorithms(["EdDSA", "ES256"])).await;
    let resp = s.api.http.get(s.api.url("/mcp")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let md = format!("resource_metadata=\"{}\"", s.metadata_url());
    assert_eq!(
        challenges(&resp),
        [
            format!("Bearer {md}"),
            format!("DPoP algs=\"EdDSA ES256\", {md}")
        ]
    );
    // A DPoP header alone is no credentials either.
    let proof = s.api.proof(&s.dpop, "GET", "/mcp", &s.token);
    let resp = s
        .api
        .http
        .get(s.api.url("/mcp"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(challenges(&resp)[0], format!("Bearer {md}"));
}

/// Figure 19: two Authorization headers (both schemes) are ambiguous:
/// 400, both challenges carry the error.
#[tokio::test]
async fn two_schemes_at_once_are_invalid_request_in_both_challenges() {
    let s = setup().await;
    let proof = s.api.proof(&s.dpop, "GET", "/mcp", &s.token);
    let resp = s
        .api
        .http
        .get(s.api.url("/mcp"))
        .header("authorization", format!("Bearer {}", s.token))
        .header("authorization", format!("DPoP {}", s.token))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let all = challenges(&resp);
    assert_eq!(all.len(), 2);
    assert!(
        all[0].starts_with("Bearer error=\"invalid_request\""),
        "{all:?}"
    );
    assert!(
        all[1].starts_with("DPoP error=\"invalid_request\""),
        "{all:?}"
    );
}

// RFC 9728 §2 and `dpop_required`.

#[tokio::test]
async fn the_metadata_names_the_dpop_algorithms() {
    let s = setup_with(|b| b.dpop_algorithms(["ES256"])).await;
    let doc: Value = s
        .api
        .http
        .get(s.metadata_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["dpop_signing_alg_values_supported"], json!(["ES256"]));
    assert_eq!(doc["dpop_bound_access_tokens_required"], json!(false));
    // Only the configured algorithms are accepted: EdDSA is not.
    let signer = TestKey::eddsa("x");
    let proof = raw_proof(
        &json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": signer.jwk}),
        &good_claims(&s),
        &signer.encoding,
        Algorithm::EdDSA,
    );
    let resp = s.get_with(&[&proof]).await;
    assert_eq!(resp.status(), 401);
    let c = challenge(&resp);
    assert!(c.contains("signing algorithm is not accepted"), "{c}");
    assert!(c.contains("algs=\"ES256\""), "{c}");
}

/// `dpop_required`: bearer tokens get 401 in a DPoP challenge (and only
/// DPoP challenges are sent); DPoP-bound tokens with proofs pass.
#[tokio::test]
async fn when_dpop_is_required_bearer_tokens_are_refused() {
    let s = setup_with(|b| b.dpop_required(true)).await;
    let md = format!("resource_metadata=\"{}\"", s.metadata_url());
    let doc: Value = s
        .api
        .http
        .get(s.metadata_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["dpop_bound_access_tokens_required"], json!(true));

    let plain = s.key.sign(&s.api.claims(&s.issuer.base));
    let resp = s.api.get("/mcp", &plain).await;
    assert_eq!(challenges(&resp).len(), 1);
    assert_dpop_error(
        resp,
        "invalid_token",
        "requires a DPoP-bound access token",
        &s.metadata_url(),
    )
    .await;
    let resp = s.api.get("/mcp", &s.token).await;
    assert_dpop_error(
        resp,
        "invalid_token",
        "requires a DPoP-bound access token",
        &s.metadata_url(),
    )
    .await;

    let resp = s.api.http.get(s.api.url("/mcp")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(challenges(&resp), [format!("DPoP {DEFAULT_ALGS}, {md}")]);

    assert_eq!(
        s.api.dpop_get("/mcp", &s.token, &s.dpop).await.status(),
        200
    );
    assert_eq!(s.api.handled(), 1);
    assert!(s.api.rs.verify(&plain).await.is_err());
}

// §11.1: the replay cache is bounded.

/// A cache full of live entries refuses new proofs with 503 and
/// `Retry-After` (the proof may be good), until entries expire.
#[tokio::test]
async fn a_full_replay_cache_is_503_until_entries_expire() {
    let s = setup_with(|b| b.dpop_replay_capacity(1)).await;
    assert_eq!(
        s.api.dpop_get("/mcp", &s.token, &s.dpop).await.status(),
        200
    );
    let resp = s.api.dpop_get("/mcp", &s.token, &s.dpop).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "121");
    assert!(resp.headers().get("www-authenticate").is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // The token is still valid 121 s later (it lives 300 s).
    s.api.clock.advance(121);
    assert_eq!(
        s.api.dpop_get("/mcp", &s.token, &s.dpop).await.status(),
        200
    );
    assert_eq!(s.api.handled(), 2);
}

/// Proofs that fail are not remembered, so strangers with keys of their
/// own cannot fill the cache.
#[tokio::test]
async fn refused_proofs_take_no_room_in_the_cache() {
    let s = setup_with(|b| b.dpop_replay_capacity(1)).await;
    let stranger = DpopKey::generate().unwrap();
    let plain = s.key.sign(&s.api.claims(&s.issuer.base));
    for _ in 0..3 {
        assert_eq!(
            s.api.dpop_get("/mcp", &s.token, &stranger).await.status(),
            401
        );
        assert_eq!(
            s.api.dpop_get("/mcp", &plain, &stranger).await.status(),
            401
        );
    }
    assert_eq!(
        s.api.dpop_get("/mcp", &s.token, &s.dpop).await.status(),
        200
    );
}

// §11.1: the quota of each key in the replay cache.

impl Setup {
    /// Another client: a key of its own and a token bound to it.
    fn client(&self) -> (DpopKey, String) {
        let dpop = DpopKey::generate().unwrap();
        let token = self
            .key
            .sign(&bind(self.api.claims(&self.issuer.base), dpop.thumbprint()));
        (dpop, token)
    }
}

/// The security review's finding: one token (and its key) must not fill
/// the cache for everyone. Past its quota a key's proofs get 429 with
/// `Retry-After` and no challenge; another key's proofs still pass; and
/// the quota comes back as the key's entries expire (clock moved, no
/// sleeping).
#[tokio::test]
async fn a_key_over_its_quota_is_refused_while_other_keys_pass() {
    let s = setup_with(|b| b.dpop_replay_key_quota(3)).await;
    for _ in 0..3 {
        assert_eq!(
            s.api.dpop_get("/mcp", &s.token, &s.dpop).await.status(),
            200
        );
    }
    let resp = s.api.dpop_get("/mcp", &s.token, &s.dpop).await;
    assert_eq!(resp.status(), 429);
    // Until the key's first proof expires: iat + 60 s + 60 s, inclusive.
    assert_eq!(resp.headers()["retry-after"], "121");
    assert!(resp.headers().get("www-authenticate").is_none());
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(
        body["error_description"],
        "too many DPoP proofs by this key in the replay window; retry with a new proof later"
    );
    // The refused proof was not remembered, nor counted: still refused.
    assert_eq!(
        s.api.dpop_get("/mcp", &s.token, &s.dpop).await.status(),
        429
    );
    // Another client (its own key) is not affected, up to its own quota.
    let (other, other_token) = s.client();
    for _ in 0..3 {
        assert_eq!(
            s.api.dpop_get("/mcp", &other_token, &other).await.status(),
            200
        );
    }
    assert_eq!(
        s.api.dpop_get("/mcp", &other_token, &other).await.status(),
        429
    );
    // 121 s on, the entries have expired: the quota is back.
    s.api.clock.advance(121);
    let first = s.api.proof(&s.dpop, "GET", "/mcp", &s.token);
    assert_eq!(s.get_with(&[&first]).await.status(), 200);
    for _ in 0..2 {
        assert_eq!(
            s.api.dpop_get("/mcp", &s.token, &s.dpop).await.status(),
            200
        );
    }
    assert_eq!(
        s.api.dpop_get("/mcp", &s.token, &s.dpop).await.status(),
        429
    );
    // A replay is still a replay (401), even by a key over its quota.
    assert_dpop_error(
        s.get_with(&[&first]).await,
        "invalid_dpop_proof",
        "used before",
        &s.metadata_url(),
    )
    .await;
    assert_eq!(
        s.api.dpop_get("/mcp", &other_token, &other).await.status(),
        200
    );
    assert_eq!(s.api.handled(), 3 + 3 + 1 + 2 + 1);
}

/// The default quota (5 % of the capacity, at least 16): with a capacity
/// of 200, a key holds 16 entries, whoever else is there.
#[tokio::test]
async fn the_default_quota_is_at_least_16_proofs() {
    let s = setup_with(|b| b.dpop_replay_capacity(200)).await;
    for i in 0..16 {
        assert_eq!(
            s.api.dpop_get("/mcp", &s.token, &s.dpop).await.status(),
            200,
            "{i}"
        );
    }
    assert_eq!(
        s.api.dpop_get("/mcp", &s.token, &s.dpop).await.status(),
        429
    );
}

/// The quota does not replace the capacity: many keys, each within its
/// quota, still fill the cache, and then every key gets 503 (those at
/// their quota too: a full cache is the server's condition) until
/// entries expire.
#[tokio::test]
async fn many_keys_within_their_quotas_still_fill_the_cache() {
    let s = setup_with(|b| b.dpop_replay_capacity(4).dpop_replay_key_quota(2)).await;
    let (other, other_token) = s.client();
    for _ in 0..2 {
        for (key, token) in [(&s.dpop, &s.token), (&other, &other_token)] {
            assert_eq!(s.api.dpop_get("/mcp", token, key).await.status(), 200);
        }
    }
    let (third, third_token) = s.client();
    let resp = s.api.dpop_get("/mcp", &third_token, &third).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "121");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(
        s.api.dpop_get("/mcp", &s.token, &s.dpop).await.status(),
        503
    );
    s.api.clock.advance(121);
    assert_eq!(
        s.api.dpop_get("/mcp", &third_token, &third).await.status(),
        200
    );
    assert_eq!(s.api.handled(), 5);
}

// §6.2: introspection.

fn introspection() -> Validation {
    Validation::Introspection {
        client_id: INTROSPECTION_CLIENT.into(),
        client_secret: ClientSecret::new(INTROSPECTION_SECRET),
    }
}

/// The introspection answer for a DPoP-bound token carries `cnf.jkt`
/// (and `token_type: DPoP`); the resource checks the proof itself.
#[tokio::test]
async fn introspected_tokens_carry_their_binding_in_cnf() {
    let issuer = Issuer::start().await;
    let api = Api::start_with(&issuer.base, |b| b.validation(introspection())).await;
    let url = api.rs.resource_metadata_url().to_owned();
    let dpop = DpopKey::generate().unwrap();
    let now = api.clock_now();
    let answer = |token_type: Option<&str>| {
        let mut a = json!({
            "active": true,
            "scope": "mcp:tools",
            "client_id": "mcp-client",
            "sub": "alice",
            "aud": api.resource,
            "iss": issuer.base,
            "exp": now + 300,
            "iat": now,
            "cnf": {"jkt": dpop.thumbprint()},
        });
        if let Some(t) = token_type {
            a["token_type"] = json!(t);
        }
        a
    };
    issuer.answer("opaque-dpop", answer(Some("DPoP")));
    issuer.answer("opaque-dpop-untyped", answer(None));
    for token in ["opaque-dpop", "opaque-dpop-untyped"] {
        let resp = api.dpop_get("/mcp", token, &dpop).await;
        assert_eq!(resp.status(), 200, "{token}");
        let seen: Value = resp.json().await.unwrap();
        assert_eq!(seen["dpop_jkt"], dpop.thumbprint());
    }
    assert_eq!(issuer.introspections(), 2);

    // As a bearer token: refused.
    assert_invalid_token(
        api.get("/mcp", "opaque-dpop").await,
        "sender-constrained",
        &url,
    )
    .await;
    // With another key's proof: refused.
    let stranger = DpopKey::generate().unwrap();
    assert_dpop_error(
        api.dpop_get("/mcp", "opaque-dpop", &stranger).await,
        "invalid_token",
        "not the key the token is bound to",
        &url,
    )
    .await;
    // token_type Bearer contradicts cnf (RFC 9449 §6.2).
    issuer.answer("opaque-mistyped", answer(Some("Bearer")));
    assert_dpop_error(
        api.dpop_get("/mcp", "opaque-mistyped", &dpop).await,
        "invalid_token",
        "does not match its key binding",
        &url,
    )
    .await;
    let asked = issuer.introspections();
    // A bad proof is refused before the issuer is asked.
    let proof = dpop
        .proof(
            "POST",
            &api.url("/mcp"),
            Some("opaque-dpop"),
            None,
            now as i64,
        )
        .unwrap();
    let resp = api
        .dpop(Method::GET, "/mcp", "opaque-dpop", &[&proof])
        .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(issuer.introspections(), asked);
}

// The URL of a proof under a nested router.

/// Under `Router::nest` the layer sees a shortened path; the URL a proof
/// names is still the one the client called (axum's `OriginalUri`).
#[tokio::test]
async fn the_url_under_a_nested_router_is_the_original_one() {
    let issuer = Issuer::start().await;
    let key = TestKey::es256("k1");
    issuer.publish(&key);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let resource = format!("{base}/api/mcp");
    let clock = ManualClock::at_system_time();
    let rs = ResourceServer::builder(&issuer.base, &resource)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let inner = Router::new()
        .route("/mcp", get(|c: AccessClaims| async move { c.sub }))
        .route_layer(RequireBearer::new(&rs));
    let app = Router::new().nest("/api", inner);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dpop = DpopKey::generate().unwrap();
    use proofkey_resource::Clock;
    let now = clock.now();
    let claims = json!({
        "iss": issuer.base, "sub": "alice", "client_id": "c", "aud": resource,
        "exp": now + 300, "iat": now, "jti": "j", "cnf": {"jkt": dpop.thumbprint()},
    });
    let token = key.sign(&claims);
    let http = reqwest::Client::new();
    let call = |htu: String| {
        let proof = dpop
            .proof("GET", &htu, Some(&token), None, now as i64)
            .unwrap();
        http.get(format!("{base}/api/mcp"))
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .send()
    };
    assert_eq!(call(format!("{base}/api/mcp")).await.unwrap().status(), 200);
    let resp = call(format!("{base}/mcp")).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(challenge(&resp).contains("htu"));
}
