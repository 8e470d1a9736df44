//! RFC 9449 (DPoP) at the token and UserInfo endpoints: every defect of a
//! proof refused, every binding held (access token, refresh token, code by
//! `dpop_jkt`), server nonces; each on SQLite and on PostgreSQL, and a
//! proof replayed at a second node refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use proofkey_core::model::ClientKind;
use proofkey_core::{Clock as _, Config};
use proofkey_dpop::DpopKey;
use proofkey_pkce::CodeVerifier;
use serde_json::{json, Value};

fn no_change(_: &mut Config) {}

async fn setup(s: &TestServer) {
    s.public_client("app", &[REDIRECT], true).await;
    s.user("alice").await;
}

fn now(s: &TestServer) -> i64 {
    s.clock.now()
}

/// POST /token with a form and the given `DPoP` header values.
async fn token_with(
    s: &TestServer,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = s.http.post(s.url("/token")).form(form);
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

fn token_proof(s: &TestServer, key: &DpopKey) -> String {
    key.proof("POST", &s.url("/token"), None, None, now(s))
        .unwrap()
}

/// A code for alice with extra authorization parameters, and its verifier.
async fn code_with(s: &TestServer, extra: &[(&str, &str)]) -> (String, CodeVerifier) {
    let verifier = CodeVerifier::generate();
    let mut req = AuthRequest::new("app", &verifier);
    req.scope = "openid offline_access".into();
    for (k, v) in extra {
        req = req.with(k, v);
    }
    let page = s.browser().authorize(&s.base, &req, "alice").await;
    (code_of(&page, &s.base, &req.state), verifier)
}

fn exchange<'a>(code: &'a str, verifier: &'a CodeVerifier) -> [(&'a str, &'a str); 5] {
    [
        ("grant_type", "authorization_code"),
        ("client_id", "app"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.secret()),
    ]
}

/// A P-256 key pair of the test's own, to sign proofs the client library
/// would never make.
struct RawKey(EcdsaKeyPair);

impl RawKey {
    fn new() -> Self {
        RawKey(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }

    fn jwk(&self) -> Value {
        let p = self.0.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256",
               "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..])})
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self.0.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

mod access_token_binding {
    use super::*;
    pub const CONFIG: fn(&mut Config) = no_change;

    /// RFC 9449 §5, §6, §7: the token is `DPoP`, carries `cnf.jkt`, and is
    /// good at UserInfo only with a proof by that key, bound by `ath`.
    pub async fn run(s: &TestServer) {
        setup(s).await;
        let key = DpopKey::generate().unwrap();
        let (code, verifier) = code_with(s, &[]).await;
        let (status, headers, body) =
            token_with(s, &exchange(&code, &verifier), &[&token_proof(s, &key)]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(body["token_type"], "DPoP");
        let at = body["access_token"].as_str().unwrap();
        assert_eq!(jwt_claims(at)["cnf"]["jkt"], key.thumbprint());

        let userinfo = |scheme: &'static str, proof: Option<String>| {
            let mut req = s
                .http
                .get(s.url("/userinfo"))
                .header("Authorization", format!("{scheme} {at}"));
            if let Some(p) = proof {
                req = req.header("DPoP", p);
            }
            async move {
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let challenge = r
                    .headers()
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                (status, challenge, r.json::<Value>().await.unwrap())
            }
        };
        let ui = s.url("/userinfo");
        let good = key.proof("GET", &ui, Some(at), None, now(s)).unwrap();
        let (status, _, info) = userinfo("DPoP", Some(good.clone())).await;
        assert_eq!(status, 200, "{info}");
        assert_eq!(info["sub"], "sub-alice");

        // The same proof again: a replay.
        let (status, challenge, body) = userinfo("DPoP", Some(good)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_dpop_proof"))
        );
        assert!(
            challenge.starts_with("DPoP error=\"invalid_dpop_proof\""),
            "{challenge}"
        );
        assert!(challenge.contains("algs=\"ES256"), "{challenge}");

        // §7.2: a bound token as a bearer token is refused, with the DPoP challenge.
        let (status, challenge, body) = userinfo("Bearer", None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_token"))
        );
        assert!(challenge.starts_with("DPoP "), "{challenge}");

        // A proof without ath, or for another token.
        let no_ath = key.proof("GET", &ui, None, None, now(s)).unwrap();
        let (_, _, body) = userinfo("DPoP", Some(no_ath)).await;
        assert_eq!(body["error"], "invalid_dpop_proof");
        let other_ath = key
            .proof("GET", &ui, Some("another"), None, now(s))
            .unwrap();
        let (_, _, body) = userinfo("DPoP", Some(other_ath)).await;
        assert_eq!(body["error"], "invalid_dpop_proof");

        // A thief's proof, by another key, for the stolen token.
        let thief = DpopKey::generate().unwrap();
        let stolen = thief.proof("GET", &ui, Some(at), None, now(s)).unwrap();
        let (status, _, body) = userinfo("DPoP", Some(stolen)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_token"))
        );
        // The DPoP scheme without any proof.
        let (_, _, body) = userinfo("DPoP", None).await;
        assert_eq!(body["error"], "invalid_dpop_proof");
        // No credentials: both schemes are offered (RFC 9449 §7.1).
        let r = s.http.get(s.url("/userinfo")).send().await.unwrap();
        let offered: Vec<String> = r
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(
            offered.iter().any(|c| c.starts_with("Bearer")),
            "{offered:?}"
        );
        assert!(
            offered.iter().any(|c| c.starts_with("DPoP algs=")),
            "{offered:?}"
        );
        // Two Authorization headers: refused.
        let r = s
            .http
            .get(s.url("/userinfo"))
            .header("Authorization", format!("Bearer {at}"))
            .header("Authorization", format!("DPoP {at}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);

        // RFC 9449 §6.2: introspection shows the binding.
        s.client(
            "rs",
            ClientKind::Confidential,
            &[REDIRECT],
            true,
            "RS256",
            Some("rs-secret"),
        )
        .await;
        let r = s
            .http
            .post(s.url("/introspect"))
            .basic_auth("rs", Some("rs-secret"))
            .form(&[("token", at)])
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["active"], true, "{v}");
        assert_eq!(v["token_type"], "DPoP");
        assert_eq!(v["cnf"]["jkt"], key.thumbprint());
        let r = s
            .http
            .post(s.url("/introspect"))
            .basic_auth("rs", Some("rs-secret"))
            .form(&[("token", body_refresh(&body_of_refresh(s, &key).await))])
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["cnf"]["jkt"], key.thumbprint(), "{v}");
    }

    async fn body_of_refresh(s: &TestServer, key: &DpopKey) -> Value {
        let (code, verifier) = code_with(s, &[]).await;
        let (status, _, body) =
            token_with(s, &exchange(&code, &verifier), &[&token_proof(s, key)]).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    fn body_refresh(v: &Value) -> &str {
        v["refresh_token"].as_str().unwrap()
    }
}

mod proof_defects {
    use super::*;
    pub const CONFIG: fn(&mut Config) = no_change;

    /// RFC 9449 §4.3: each defect is `invalid_dpop_proof`, and none spends
    /// the code: a good proof afterwards still redeems it.
    pub async fn run(s: &TestServer) {
        setup(s).await;
        let (code, verifier) = code_with(s, &[]).await;
        let form = exchange(&code, &verifier);
        let key = DpopKey::generate().unwrap();
        let htu = s.url("/token");
        let t = now(s);
        let raw = RawKey::new();
        let claims = json!({"jti": "j-defect", "htm": "POST", "htu": htu, "iat": t});
        let hs256 = {
            let header =
                json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}});
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, b"secret");
            let tag = aws_lc_rs::hmac::sign(&k, input.as_bytes());
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
        };
        let mut private_jwk = raw.jwk();
        private_jwk["d"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
        let with_private = raw.sign(
            &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private_jwk}),
            &claims,
        );
        let wrong_typ = raw.sign(
            &json!({"typ": "JWT", "alg": "ES256", "jwk": raw.jwk()}),
            &claims,
        );
        let other = RawKey::new();
        let forged = raw.sign(
            &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": other.jwk()}),
            &claims,
        );
        let replayed = token_proof(s, &key);
        // Spent once on a request that fails after the proof's check (an
        // unknown code), so that its jti is recorded.
        let (_, _, body) = token_with(
            s,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", "app"),
                ("code", "nope"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier.secret()),
            ],
            &[&replayed],
        )
        .await;
        assert_eq!(body["error"], "invalid_grant", "{body}");

        let cases: Vec<(&str, Vec<String>)> = vec![
            (
                "wrong htm",
                vec![key.proof("GET", &htu, None, None, t).unwrap()],
            ),
            (
                "wrong htu",
                vec![key
                    .proof("POST", &s.url("/userinfo"), None, None, t)
                    .unwrap()],
            ),
            (
                "another server's htu",
                vec![key
                    .proof("POST", "https://evil.example/token", None, None, t)
                    .unwrap()],
            ),
            (
                "stale iat",
                vec![key.proof("POST", &htu, None, None, t - 61).unwrap()],
            ),
            (
                "future iat",
                vec![key.proof("POST", &htu, None, None, t + 60).unwrap()],
            ),
            ("replayed jti", vec![replayed.clone()]),
            ("symmetric alg", vec![hs256]),
            ("private key in jwk", vec![with_private]),
            ("wrong typ", vec![wrong_typ]),
            ("signed by another key", vec![forged]),
            (
                "two DPoP headers",
                vec![token_proof(s, &key), token_proof(s, &key)],
            ),
            ("not a JWT", vec!["not.a.jwt".into()]),
            ("huge", vec!["A".repeat(9000)]),
        ];
        for (what, proofs) in cases {
            let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
            let (status, headers, body) = token_with(s, &form, &proofs).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_dpop_proof")),
                "{what}: {body}"
            );
            assert_eq!(headers["cache-control"], "no-store", "{what}");
        }
        let (status, _, body) = token_with(s, &form, &[&token_proof(s, &key)]).await;
        assert_eq!(status, 200, "the code survives refused proofs: {body}");
        assert_eq!(body["token_type"], "DPoP");
    }
}

mod refresh_token_binding {
    use super::*;
    pub const CONFIG: fn(&mut Config) = no_change;

    /// RFC 9449 §5: a public client's refresh token is bound to its key; a
    /// thief without it gets nothing, and the owner keeps the family.
    pub async fn run(s: &TestServer) {
        setup(s).await;
        let key = DpopKey::generate().unwrap();
        let (code, verifier) = code_with(s, &[]).await;
        let (_, _, body) =
            token_with(s, &exchange(&code, &verifier), &[&token_proof(s, &key)]).await;
        let rt = body["refresh_token"].as_str().unwrap().to_owned();
        let refresh = [
            ("grant_type", "refresh_token"),
            ("client_id", "app"),
            ("refresh_token", &rt),
        ];

        let (status, _, body) = token_with(s, &refresh, &[]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "no proof: {body}"
        );
        let thief = DpopKey::generate().unwrap();
        let (_, _, body) = token_with(s, &refresh, &[&token_proof(s, &thief)]).await;
        assert_eq!(body["error"], "invalid_grant", "a thief's key: {body}");

        // The owner refreshes: still DPoP, the new refresh token bound too.
        let (status, _, body) = token_with(s, &refresh, &[&token_proof(s, &key)]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "DPoP");
        assert_eq!(
            jwt_claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
            key.thumbprint()
        );
        let rt2 = body["refresh_token"].as_str().unwrap().to_owned();
        let refresh2 = [
            ("grant_type", "refresh_token"),
            ("client_id", "app"),
            ("refresh_token", &rt2),
        ];
        let (_, _, body) = token_with(s, &refresh2, &[]).await;
        assert_eq!(body["error"], "invalid_grant", "{body}");
        let (status, _, body) = token_with(s, &refresh2, &[&token_proof(s, &key)]).await;
        assert_eq!(status, 200, "{body}");
        let rt3 = body["refresh_token"].as_str().unwrap().to_owned();
        // RFC 9700 §4.14.2: a rotated token presented again was copied,
        // key or no key: the family ends, the owner's live token with it.
        let (_, _, body) = token_with(s, &refresh2, &[]).await;
        assert_eq!(body["error"], "invalid_grant", "{body}");
        let refresh3 = [
            ("grant_type", "refresh_token"),
            ("client_id", "app"),
            ("refresh_token", &rt3),
        ];
        let (_, _, body) = token_with(s, &refresh3, &[&token_proof(s, &key)]).await;
        assert_eq!(
            body["error"], "invalid_grant",
            "the family was revoked: {body}"
        );

        // A confidential client's refresh token is bound to its
        // authentication, not to a key: its access tokens are bound anew
        // at each refresh.
        s.client(
            "web",
            ClientKind::Confidential,
            &[REDIRECT],
            true,
            "RS256",
            Some("web-secret"),
        )
        .await;
        let verifier = CodeVerifier::generate();
        let mut req = AuthRequest::new("web", &verifier);
        req.scope = "openid offline_access".into();
        let page = s.browser().authorize(&s.base, &req, "alice").await;
        let code = code_of(&page, &s.base, &req.state);
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", "web"),
            ("client_secret", "web-secret"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.secret()),
        ];
        let (status, _, body) = token_with(s, &form, &[&token_proof(s, &key)]).await;
        assert_eq!(status, 200, "{body}");
        let rt = body["refresh_token"].as_str().unwrap();
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", "web"),
            ("client_secret", "web-secret"),
            ("refresh_token", rt),
        ];
        let (status, _, body) = token_with(s, &form, &[]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "Bearer");
    }
}

mod code_binding {
    use super::*;
    pub const CONFIG: fn(&mut Config) = no_change;

    /// RFC 9449 §10: `dpop_jkt` at /authorize binds the code before any
    /// proof is seen; only a proof by that key redeems it.
    pub async fn run(s: &TestServer) {
        setup(s).await;
        let key = DpopKey::generate().unwrap();
        let jkt = key.thumbprint().to_owned();
        let (code, verifier) = code_with(s, &[("dpop_jkt", &jkt)]).await;
        let (status, _, body) = token_with(s, &exchange(&code, &verifier), &[]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{body}"
        );
        // Refused presentations spend a code (RFC 6749 §4.1.2).
        let (_, _, body) =
            token_with(s, &exchange(&code, &verifier), &[&token_proof(s, &key)]).await;
        assert_eq!(body["error"], "invalid_grant", "{body}");

        let (code, verifier) = code_with(s, &[("dpop_jkt", &jkt)]).await;
        let thief = DpopKey::generate().unwrap();
        let (_, _, body) =
            token_with(s, &exchange(&code, &verifier), &[&token_proof(s, &thief)]).await;
        assert_eq!(body["error"], "invalid_grant", "{body}");

        let (code, verifier) = code_with(s, &[("dpop_jkt", &jkt)]).await;
        let (status, _, body) =
            token_with(s, &exchange(&code, &verifier), &[&token_proof(s, &key)]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            jwt_claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
            jkt
        );

        // A malformed dpop_jkt goes back to the client.
        let verifier = CodeVerifier::generate();
        let req = AuthRequest::new("app", &verifier).with("dpop_jkt", "short");
        let page = s.browser().get(&req.url(&s.base)).await;
        assert_eq!(
            page.redirect_params().get("error").map(String::as_str),
            Some("invalid_request")
        );
    }
}

mod client_must_use_dpop {
    use super::*;
    pub const CONFIG: fn(&mut Config) = no_change;

    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: no proof, no token.
    pub async fn run(s: &TestServer) {
        s.client_with("strict", ClientKind::Public, &[REDIRECT], |c| {
            c.skip_consent = true;
            c.dpop_bound_access_tokens = true;
        })
        .await;
        s.user("alice").await;
        let verifier = CodeVerifier::generate();
        let req = AuthRequest::new("strict", &verifier);
        let page = s.browser().authorize(&s.base, &req, "alice").await;
        let code = code_of(&page, &s.base, &req.state);
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", "strict"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.secret()),
        ];
        let (status, _, body) = token_with(s, &form, &[]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_dpop_proof")),
            "{body}"
        );
        let key = DpopKey::generate().unwrap();
        let (status, _, body) = token_with(s, &form, &[&token_proof(s, &key)]).await;
        assert_eq!(status, 200, "{body}");
    }
}

mod server_nonces {
    use super::*;
    pub const CONFIG: fn(&mut Config) = |c| c.dpop.nonce = true;

    /// RFC 9449 §8: without the server's nonce, `use_dpop_nonce` and the
    /// nonce in `DPoP-Nonce`; with it, tokens; an old nonce, refused again.
    pub async fn run(s: &TestServer) {
        setup(s).await;
        let key = DpopKey::generate().unwrap();
        let (code, verifier) = code_with(s, &[]).await;
        let form = exchange(&code, &verifier);
        let (status, headers, body) = token_with(s, &form, &[&token_proof(s, &key)]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("use_dpop_nonce")),
            "{body}"
        );
        let nonce = headers["dpop-nonce"].to_str().unwrap().to_owned();
        let bad = key
            .proof("POST", &s.url("/token"), None, Some("made-up"), now(s))
            .unwrap();
        let (_, _, body) = token_with(s, &form, &[&bad]).await;
        assert_eq!(body["error"], "use_dpop_nonce");
        let good = key
            .proof("POST", &s.url("/token"), None, Some(&nonce), now(s))
            .unwrap();
        let (status, headers, body) = token_with(s, &form, &[&good]).await;
        assert_eq!(status, 200, "{body}");
        assert!(headers.contains_key("dpop-nonce"));

        // Two nonce periods later, the old nonce is refused.
        s.clock.advance(601);
        let rt = body["refresh_token"].as_str().unwrap();
        let refresh = [
            ("grant_type", "refresh_token"),
            ("client_id", "app"),
            ("refresh_token", rt),
        ];
        let stale = key
            .proof("POST", &s.url("/token"), None, Some(&nonce), now(s))
            .unwrap();
        let (_, headers, body) = token_with(s, &refresh, &[&stale]).await;
        assert_eq!(body["error"], "use_dpop_nonce", "{body}");
        let fresh = headers["dpop-nonce"].to_str().unwrap().to_owned();
        assert_ne!(fresh, nonce);
        let good = key
            .proof("POST", &s.url("/token"), None, Some(&fresh), now(s))
            .unwrap();
        let (status, _, body) = token_with(s, &refresh, &[&good]).await;
        assert_eq!(status, 200, "{body}");
    }
}

both_backends!(
    access_token_binding,
    proof_defects,
    refresh_token_binding,
    code_binding,
    client_must_use_dpop,
    server_nonces,
);

/// RFC 8414, RFC 9449 §5.1: the algorithms are advertised.
#[tokio::test]
async fn discovery_advertises_the_proof_algorithms() {
    let s = TestServer::start().await;
    let doc: Value = s
        .http
        .get(s.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let algs = doc["dpop_signing_alg_values_supported"].as_array().unwrap();
    assert!(algs.iter().any(|a| a == "ES256"), "{doc}");
    assert!(algs
        .iter()
        .all(|a| !a.as_str().unwrap().starts_with("HS") && a != "none"));
}

/// RFC 9449 §11.1: the replay cache is the shared database, so a proof
/// used at one node is refused at another (both serve one issuer).
#[tokio::test]
async fn a_proof_replayed_at_a_second_node_is_refused() {
    let db = fresh_postgres_db().await;
    let url = format!("{}/{db}", pg_url());
    let a = TestServer::start_on(&url, |_| {}, None).await;
    let issuer = a.base.clone();
    let b = TestServer::start_on(&url, move |c| c.issuer = issuer, None).await;
    setup(&a).await;
    let key = DpopKey::generate().unwrap();
    let (code, verifier) = code_with(&a, &[]).await;
    let proof = token_proof(&a, &key);
    let (status, _, body) = token_with(&a, &exchange(&code, &verifier), &[&proof]).await;
    assert_eq!(status, 200, "{body}");
    let rt = body["refresh_token"].as_str().unwrap();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("client_id", "app"),
        ("refresh_token", rt),
    ];
    // The same proof at node B: refused as a replay, not for its htu.
    let (status, _, body) = token_with(&b, &refresh, &[&proof]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("used before"),
        "{body}"
    );
    // A fresh proof at node B works: B accepts A's issuer's htu.
    let (status, _, body) = token_with(&b, &refresh, &[&token_proof(&a, &key)]).await;
    assert_eq!(status, 200, "{body}");
    drop((a, b));
    drop_postgres_db(&db).await;
}

/// RFC 9449 §5.2 and RFC 9126 §6: the client metadata fields, at
/// registration (RFC 7591) and in the answer; a wrong type refused.
#[tokio::test]
async fn registration_takes_the_dpop_and_par_requirements() {
    let s = TestServer::start_with(|c| {
        c.registration = proofkey_core::config::RegistrationPolicy::Open
    })
    .await;
    let register = |body: Value| {
        let req = s.http.post(s.url("/register")).json(&body);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = register(json!({
        "redirect_uris": ["http://127.0.0.1/cb"],
        "token_endpoint_auth_method": "none",
        "dpop_bound_access_tokens": true,
        "require_pushed_authorization_requests": true,
    }))
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["dpop_bound_access_tokens"], true);
    assert_eq!(body["require_pushed_authorization_requests"], true);
    let id = body["client_id"].as_str().unwrap();
    let c = s.store.get_client(id).await.unwrap().unwrap();
    assert!(c.dpop_bound_access_tokens && c.require_pushed_authorization_requests);

    let (status, body) = register(json!({
        "redirect_uris": ["http://127.0.0.1/cb"],
        "token_endpoint_auth_method": "none",
        "dpop_bound_access_tokens": "yes",
    }))
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{body}"
    );
}
