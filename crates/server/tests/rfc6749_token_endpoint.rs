//! RFC 6749 §4.1.3, §5 and RFC 7636 §4.5–§4.6, RFC 9700 §2.1.1: the token
//! endpoint over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::*;
use proofkey_core::model::ClientKind;
use proofkey_core::Clock as _;
use proofkey_pkce::CodeVerifier;

const APPENDIX_B_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const APPENDIX_B_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

async fn setup() -> TestServer {
    let s = TestServer::start().await;
    s.public_client("app", &[REDIRECT], true).await;
    s.user("alice").await;
    s
}

fn exchange<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", "app"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ]
}

fn without<'a>(mut form: Vec<(&'a str, &'a str)>, name: &str) -> Vec<(&'a str, &'a str)> {
    form.retain(|(k, _)| *k != name);
    form
}

async fn assert_token_error(s: &TestServer, form: &[(&str, &str)], status: u16, error: &str) {
    let (st, headers, body) = s.token(form).await;
    assert_eq!(st, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string());
    assert_eq!(headers["cache-control"], "no-store");
}

mod pkce {
    use super::*;

    #[tokio::test]
    async fn the_appendix_b_vector_goes_through_the_whole_flow() {
        let s = setup().await;
        let mut req = AuthRequest::new("app", &CodeVerifier::generate());
        req.challenge = APPENDIX_B_CHALLENGE.into();
        let page = s.browser().authorize(&s.base, &req, "alice").await;
        let code = code_of(&page, &s.base, &req.state);
        let (status, headers, body) = s.token(&exchange(&code, APPENDIX_B_VERIFIER)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(body["token_type"], "Bearer");
        assert!(body["access_token"].is_string());
        assert_eq!(body["scope"], "openid profile email");
        assert!(body["expires_in"].as_u64().unwrap() > 0);
        assert!(body["id_token"].is_string());
    }

    #[tokio::test]
    async fn a_wrong_code_verifier_is_invalid_grant() {
        let s = setup().await;
        let (code, _) = code_for(&s, "app", "alice").await;
        let other = CodeVerifier::generate();
        assert_token_error(&s, &exchange(&code, other.secret()), 400, "invalid_grant").await;
    }

    #[tokio::test]
    async fn a_missing_code_verifier_is_invalid_grant() {
        let s = setup().await;
        let (code, _) = code_for(&s, "app", "alice").await;
        assert_token_error(
            &s,
            &without(exchange(&code, ""), "code_verifier"),
            400,
            "invalid_grant",
        )
        .await;
    }

    #[tokio::test]
    async fn checks_that_code_verifier_conforms_to_its_abnf() {
        let s = setup().await;
        let too_short = "a".repeat(42);
        let too_long = "a".repeat(129);
        let forbidden = format!("{}+", "a".repeat(50));
        for bad in [too_short.as_str(), too_long.as_str(), forbidden.as_str()] {
            let (code, _) = code_for(&s, "app", "alice").await;
            assert_token_error(&s, &exchange(&code, bad), 400, "invalid_grant").await;
        }
    }

    #[tokio::test]
    async fn the_right_verifier_after_a_wrong_one_is_refused_the_code_is_burnt() {
        let s = setup().await;
        let (code, verifier) = code_for(&s, "app", "alice").await;
        let other = CodeVerifier::generate();
        assert_token_error(&s, &exchange(&code, other.secret()), 400, "invalid_grant").await;
        assert_token_error(
            &s,
            &exchange(&code, verifier.secret()),
            400,
            "invalid_grant",
        )
        .await;
    }

    #[tokio::test]
    async fn a_code_issued_without_a_challenge_cannot_exist_and_is_refused() {
        // RFC 9700 §2.1.1 downgrade: the server never issues such a code
        // (the authorization endpoint requires code_challenge) and the store
        // refuses to hold one.
        let s = setup().await;
        let grant = proofkey_core::model::Grant {
            id: "g-no-challenge".into(),
            client_id: "app".into(),
            user_id: Some("sub-alice".into()),
            scope: "openid".into(),
            resources: "".into(),
            auth_time: Some(0),
            expires_at: i64::MAX,
            created_at: 0,
        };
        let rec = proofkey_core::model::AuthorizationCode {
            code_hash: proofkey_core::secret::hash_token("no-challenge"),
            grant_id: grant.id.clone(),
            client_id: "app".into(),
            redirect_uri: REDIRECT.into(),
            code_challenge: String::new(),
            code_challenge_method: "S256".into(),
            scope: "openid".into(),
            resources: "".into(),
            nonce: None,
            user_id: "sub-alice".into(),
            auth_time: 0,
            issued_at: 0,
            expires_at: i64::MAX,
            dpop_jkt: None,
        };
        // A session, so that only the missing challenge stands in the way.
        let session = proofkey_core::model::Session {
            user_id: "sub-alice".into(),
            auth_time: 0,
            expires_at: i64::MAX,
        };
        s.store
            .create_session("alice-session", &session)
            .await
            .unwrap();
        assert!(s.store.create_grant_with_code(&grant, &rec).await.is_err());
        let v = CodeVerifier::generate();
        assert_token_error(
            &s,
            &exchange("no-challenge", v.secret()),
            400,
            "invalid_grant",
        )
        .await;
    }
}

mod code {
    use super::*;

    #[tokio::test]
    async fn sixteen_concurrent_redemptions_give_exactly_one_success() {
        let s = setup().await;
        let (code, verifier) = code_for(&s, "app", "alice").await;
        let mut tasks = vec![];
        for _ in 0..16 {
            let http = s.http.clone();
            let url = s.url("/token");
            let form: Vec<(String, String)> = exchange(&code, verifier.secret())
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            tasks.push(tokio::spawn(async move {
                http.post(url)
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
        let mut statuses = vec![];
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 400).count(),
            15,
            "{statuses:?}"
        );
    }

    #[tokio::test]
    async fn a_replayed_code_is_invalid_grant_and_revokes_the_tokens_issued_from_it() {
        let s = setup().await;
        let (code, verifier) = code_for(&s, "app", "alice").await;
        let (status, _, first) = s.token(&exchange(&code, verifier.secret())).await;
        assert_eq!(status, 200);
        let at = first["access_token"].as_str().unwrap();
        let ok = s
            .http
            .get(s.url("/userinfo"))
            .bearer_auth(at)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);

        assert_token_error(
            &s,
            &exchange(&code, verifier.secret()),
            400,
            "invalid_grant",
        )
        .await;

        let revoked = s
            .http
            .get(s.url("/userinfo"))
            .bearer_auth(at)
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 401);
        assert!(revoked.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"));
    }

    #[tokio::test]
    async fn a_code_of_another_client_is_invalid_grant() {
        let s = setup().await;
        s.public_client("other", &[REDIRECT], true).await;
        let (code, verifier) = code_for(&s, "app", "alice").await;
        let mut form = exchange(&code, verifier.secret());
        form[1] = ("client_id", "other");
        assert_token_error(&s, &form, 400, "invalid_grant").await;
    }

    #[tokio::test]
    async fn a_different_redirect_uri_is_invalid_grant() {
        let s = setup().await;
        let (code, verifier) = code_for(&s, "app", "alice").await;
        let mut form = exchange(&code, verifier.secret());
        form[3] = ("redirect_uri", "http://127.0.0.1:9999/callback");
        assert_token_error(&s, &form, 400, "invalid_grant").await;
        let (code, verifier) = code_for(&s, "app", "alice").await;
        assert_token_error(
            &s,
            &without(exchange(&code, verifier.secret()), "redirect_uri"),
            400,
            "invalid_grant",
        )
        .await;
    }

    #[tokio::test]
    async fn an_expired_code_is_invalid_grant() {
        let s = setup().await;
        let (code, verifier) = code_for(&s, "app", "alice").await;
        s.clock.advance(61);
        assert_token_error(
            &s,
            &exchange(&code, verifier.secret()),
            400,
            "invalid_grant",
        )
        .await;
    }

    #[tokio::test]
    async fn a_code_just_before_expiry_is_accepted() {
        let s = setup().await;
        let (code, verifier) = code_for(&s, "app", "alice").await;
        s.clock.advance(59);
        let (status, _, body) = s.token(&exchange(&code, verifier.secret())).await;
        assert_eq!(status, 200, "{body}");
    }

    #[tokio::test]
    async fn the_code_lifetime_is_configurable() {
        let s =
            TestServer::start_with(|c| c.code_lifetime = std::time::Duration::from_secs(5)).await;
        s.public_client("app", &[REDIRECT], true).await;
        s.user("alice").await;
        let (code, verifier) = code_for(&s, "app", "alice").await;
        s.clock.advance(6);
        assert_token_error(
            &s,
            &exchange(&code, verifier.secret()),
            400,
            "invalid_grant",
        )
        .await;
    }

    #[tokio::test]
    async fn an_unknown_code_is_invalid_grant() {
        let s = setup().await;
        let v = CodeVerifier::generate();
        assert_token_error(
            &s,
            &exchange("not-a-code", v.secret()),
            400,
            "invalid_grant",
        )
        .await;
    }

    #[tokio::test]
    async fn codes_are_stored_only_as_hashes() {
        let s = setup().await;
        let (code, _) = code_for(&s, "app", "alice").await;
        // The store can find it only by hash.
        let by_code = s.store.consume_code(&code, s.clock.now()).await.unwrap();
        assert_eq!(by_code, proofkey_core::model::CodeConsumption::NotFound);
    }
}

mod client_authentication {
    use super::*;

    async fn confidential(s: &TestServer) {
        s.client(
            "conf",
            ClientKind::Confidential,
            &[REDIRECT],
            true,
            "RS256",
            Some("s3cret-value"),
        )
        .await;
    }

    fn conf_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut f = exchange(code, verifier);
        f.retain(|(k, _)| *k != "client_id");
        f
    }

    #[tokio::test]
    async fn client_secret_basic_works() {
        let s = setup().await;
        confidential(&s).await;
        let (code, verifier) = code_for(&s, "conf", "alice").await;
        let resp = s
            .http
            .post(s.url("/token"))
            .basic_auth("conf", Some("s3cret-value"))
            .form(&conf_form(&code, verifier.secret()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }

    #[tokio::test]
    async fn client_secret_post_works() {
        let s = setup().await;
        confidential(&s).await;
        let (code, verifier) = code_for(&s, "conf", "alice").await;
        let mut form = conf_form(&code, verifier.secret());
        form.push(("client_id", "conf"));
        form.push(("client_secret", "s3cret-value"));
        let (status, _, body) = s.token(&form).await;
        assert_eq!(status, 200, "{body}");
    }

    #[tokio::test]
    async fn a_wrong_secret_is_401_invalid_client_with_www_authenticate() {
        let s = setup().await;
        confidential(&s).await;
        let (code, verifier) = code_for(&s, "conf", "alice").await;
        let resp = s
            .http
            .post(s.url("/token"))
            .header(
                "authorization",
                format!("Basic {}", STANDARD.encode("conf:wrong")),
            )
            .form(&conf_form(&code, verifier.secret()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert!(resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");

        let mut form = conf_form(&code, verifier.secret());
        form.push(("client_id", "conf"));
        form.push(("client_secret", "wrong"));
        let (status, headers, body) = s.token(&form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        assert!(headers.contains_key("www-authenticate"));
    }

    #[tokio::test]
    async fn a_confidential_client_without_its_secret_is_invalid_client() {
        let s = setup().await;
        confidential(&s).await;
        let (code, verifier) = code_for(&s, "conf", "alice").await;
        let mut form = conf_form(&code, verifier.secret());
        form.push(("client_id", "conf"));
        assert_token_error(&s, &form, 401, "invalid_client").await;
    }

    #[tokio::test]
    async fn a_public_client_sending_a_secret_is_invalid_client() {
        let s = setup().await;
        let (code, verifier) = code_for(&s, "app", "alice").await;
        let mut form = exchange(&code, verifier.secret());
        form.push(("client_secret", "anything"));
        assert_token_error(&s, &form, 401, "invalid_client").await;
    }

    #[tokio::test]
    async fn an_unknown_client_is_invalid_client() {
        let s = setup().await;
        let (code, verifier) = code_for(&s, "app", "alice").await;
        let mut form = exchange(&code, verifier.secret());
        form[1] = ("client_id", "ghost");
        assert_token_error(&s, &form, 401, "invalid_client").await;
    }
}

mod request {
    use super::*;

    #[tokio::test]
    async fn an_unsupported_grant_is_unsupported_grant_type() {
        let s = setup().await;
        for g in [
            "password",
            "implicit",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
        ] {
            assert_token_error(
                &s,
                &[("grant_type", g), ("client_id", "app")],
                400,
                "unsupported_grant_type",
            )
            .await;
        }
    }

    #[tokio::test]
    async fn a_missing_grant_type_is_invalid_request() {
        let s = setup().await;
        assert_token_error(&s, &[("client_id", "app")], 400, "invalid_request").await;
    }

    #[tokio::test]
    async fn repeated_parameters_are_invalid_request() {
        let s = setup().await;
        let (code, verifier) = code_for(&s, "app", "alice").await;
        let mut form = exchange(&code, verifier.secret());
        form.push(("code", "again"));
        assert_token_error(&s, &form, 400, "invalid_request").await;
        let mut form = exchange(&code, verifier.secret());
        form.push(("code_verifier", verifier.secret()));
        assert_token_error(&s, &form, 400, "invalid_request").await;
    }

    #[tokio::test]
    async fn get_is_405() {
        let s = setup().await;
        let resp = s.http.get(s.url("/token")).send().await.unwrap();
        assert_eq!(resp.status(), 405);
    }

    #[tokio::test]
    async fn a_non_form_body_is_invalid_request() {
        let s = setup().await;
        let resp = s
            .http
            .post(s.url("/token"))
            .json(&serde_json::json!({"grant_type": "authorization_code"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
}
