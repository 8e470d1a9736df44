//! RFC 6749 §4.1.1–§4.1.2.1, RFC 7636 §4.3–§4.4.1, RFC 8252 §7.3, RFC 9207,
//! OIDC Core §3.1.2: the authorization endpoint over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use proofkey_pkce::CodeVerifier;

async fn setup() -> TestServer {
    let s = TestServer::start().await;
    s.public_client(
        "app",
        &[REDIRECT, "http://localhost/cb", "https://app.example/cb"],
        false,
    )
    .await;
    s.user("alice").await;
    s
}

fn req() -> AuthRequest {
    AuthRequest::new("app", &CodeVerifier::generate())
}

/// Errors that must not redirect: 400 HTML page, no Location.
async fn assert_error_page(s: &TestServer, url: &str, needle: &str) {
    let mut b = s.browser();
    let page = b.get(url).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.location().is_none());
    assert!(page.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(
        page.body.contains(needle),
        "{needle:?} not in {}",
        page.body
    );
}

/// Errors that redirect with error, error_description, state and iss.
async fn assert_error_redirect(s: &TestServer, url: &str, error: &str) {
    let mut b = s.browser();
    let page = b.get(url).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let loc = page.location().unwrap();
    assert!(loc.starts_with(REDIRECT), "{loc}");
    let p = page.redirect_params();
    assert_eq!(p["error"], error, "{p:?}");
    assert!(!p["error_description"].is_empty());
    assert_eq!(p["state"], "st-123");
    assert_eq!(p["iss"], s.base);
    assert!(!p.contains_key("code"));
}

mod no_redirect {
    use super::*;

    #[tokio::test]
    async fn unknown_client_id_shows_an_error_page() {
        let s = setup().await;
        let mut r = req();
        r.client_id = "nobody".into();
        assert_error_page(&s, &r.url(&s.base), "not registered").await;
    }

    #[tokio::test]
    async fn missing_client_id_shows_an_error_page() {
        let s = setup().await;
        assert_error_page(
            &s,
            &req().with("client_id", "<omit>").url(&s.base),
            "client_id",
        )
        .await;
    }

    #[tokio::test]
    async fn missing_redirect_uri_shows_an_error_page() {
        let s = setup().await;
        assert_error_page(
            &s,
            &req().with("redirect_uri", "<omit>").url(&s.base),
            "redirect_uri",
        )
        .await;
    }

    #[tokio::test]
    async fn unregistered_redirect_uri_shows_an_error_page() {
        let s = setup().await;
        for bad in [
            "https://evil.example/cb",
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "http://127.0.0.1:4000/other",
            // localhost gets any port (OAuth 2.1 §8.4.2), nothing more.
            "http://localhost:4000/other",
            "http://localhost.evil.example:4000/cb",
        ] {
            assert_error_page(
                &s,
                &req().with("redirect_uri", bad).url(&s.base),
                "redirect_uri",
            )
            .await;
        }
    }

    #[tokio::test]
    async fn repeated_client_id_shows_an_error_page() {
        let s = setup().await;
        let url = format!("{}&client_id=app", req().url(&s.base));
        assert_error_page(&s, &url, "repeated").await;
    }
}

mod redirect_errors {
    use super::*;

    #[tokio::test]
    async fn missing_code_challenge_is_invalid_request() {
        let s = setup().await;
        assert_error_redirect(
            &s,
            &req().with("code_challenge", "<omit>").url(&s.base),
            "invalid_request",
        )
        .await;
    }

    #[tokio::test]
    async fn plain_method_is_invalid_request() {
        let s = setup().await;
        let v = CodeVerifier::generate();
        let r = req()
            .with("code_challenge", v.secret())
            .with("code_challenge_method", "plain");
        assert_error_redirect(&s, &r.url(&s.base), "invalid_request").await;
    }

    #[tokio::test]
    async fn missing_method_which_defaults_to_plain_is_invalid_request() {
        let s = setup().await;
        assert_error_redirect(
            &s,
            &req().with("code_challenge_method", "<omit>").url(&s.base),
            "invalid_request",
        )
        .await;
    }

    #[tokio::test]
    async fn unknown_method_is_invalid_request() {
        let s = setup().await;
        assert_error_redirect(
            &s,
            &req().with("code_challenge_method", "S512").url(&s.base),
            "invalid_request",
        )
        .await;
    }

    #[tokio::test]
    async fn malformed_s256_challenge_is_invalid_request() {
        let s = setup().await;
        for bad in [
            "short",
            &"A".repeat(44),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
        ] {
            assert_error_redirect(
                &s,
                &req().with("code_challenge", bad).url(&s.base),
                "invalid_request",
            )
            .await;
        }
    }

    #[tokio::test]
    async fn response_type_other_than_code_is_unsupported_response_type() {
        let s = setup().await;
        for rt in ["token", "id_token", "code id_token"] {
            assert_error_redirect(
                &s,
                &req().with("response_type", rt).url(&s.base),
                "unsupported_response_type",
            )
            .await;
        }
    }

    #[tokio::test]
    async fn missing_response_type_is_invalid_request() {
        let s = setup().await;
        assert_error_redirect(
            &s,
            &req().with("response_type", "<omit>").url(&s.base),
            "invalid_request",
        )
        .await;
    }

    #[tokio::test]
    async fn unknown_scope_is_invalid_scope() {
        let s = setup().await;
        assert_error_redirect(
            &s,
            &req().with("scope", "openid admin").url(&s.base),
            "invalid_scope",
        )
        .await;
    }

    #[tokio::test]
    async fn repeated_parameter_is_invalid_request() {
        let s = setup().await;
        let url = format!("{}&scope=openid", req().url(&s.base));
        assert_error_redirect(&s, &url, "invalid_request").await;
    }

    #[tokio::test]
    async fn prompt_none_without_a_session_is_login_required() {
        let s = setup().await;
        assert_error_redirect(
            &s,
            &req().with("prompt", "none").url(&s.base),
            "login_required",
        )
        .await;
    }

    #[tokio::test]
    async fn prompt_none_without_consent_is_consent_required() {
        let s = setup().await;
        let mut b = s.browser();
        let login = b.get(&req().url(&s.base)).await;
        let after = b.login(&s.base, &login, "alice", PASSWORD).await;
        assert_eq!(after.status, 303);
        let page = b.get(&req().with("prompt", "none").url(&s.base)).await;
        let p = page.redirect_params();
        assert_eq!(p["error"], "consent_required");
        assert_eq!(p["state"], "st-123");
        assert_eq!(p["iss"], s.base);
    }

    #[tokio::test]
    async fn a_user_who_denies_gives_access_denied() {
        let s = setup().await;
        let mut b = s.browser();
        let login = b.get(&req().url(&s.base)).await;
        let after = b.login(&s.base, &login, "alice", PASSWORD).await;
        let consent = b
            .get(&format!("{}{}", s.base, after.location().unwrap()))
            .await;
        let page = b.decide(&s.base, &consent, "deny").await;
        let p = page.redirect_params();
        assert_eq!(p["error"], "access_denied");
        assert_eq!(p["state"], "st-123");
        assert_eq!(p["iss"], s.base);
    }

    #[tokio::test]
    async fn errors_keep_the_redirect_uris_own_query() {
        let s = TestServer::start().await;
        s.public_client("q", &["https://app.example/cb?tenant=7"], false)
            .await;
        let mut r =
            AuthRequest::new("q", &CodeVerifier::generate()).with("code_challenge", "<omit>");
        r.redirect_uri = "https://app.example/cb?tenant=7".into();
        let page = s.browser().get(&r.url(&s.base)).await;
        let p = page.redirect_params();
        assert_eq!(p["tenant"], "7");
        assert_eq!(p["error"], "invalid_request");
    }
}

mod success {
    use super::*;

    #[tokio::test]
    async fn success_redirects_with_code_state_and_iss() {
        let s = setup().await;
        let r = req();
        let page = s.browser().authorize(&s.base, &r, "alice").await;
        assert!(page
            .location()
            .unwrap()
            .starts_with(&format!("{REDIRECT}?code=")));
        let code = code_of(&page, &s.base, "st-123");
        // A clock part (13 hex digits), then 256 random bits, base64url.
        assert_eq!(code.len(), 56);
        assert!(code[..13].bytes().all(|b| b.is_ascii_hexdigit()), "{code}");
    }

    #[tokio::test]
    async fn loopback_redirect_on_another_port_is_accepted() {
        let s = setup().await;
        let mut r = req();
        r.redirect_uri = "http://127.0.0.1:53682/callback".into();
        let page = s.browser().authorize(&s.base, &r, "alice").await;
        assert!(page
            .location()
            .unwrap()
            .starts_with("http://127.0.0.1:53682/callback?code="));
    }

    #[tokio::test]
    async fn ipv6_loopback_redirect_on_any_port_is_accepted() {
        let s = TestServer::start().await;
        s.public_client("v6", &["http://[::1]/cb"], true).await;
        s.user("alice").await;
        let mut r = AuthRequest::new("v6", &CodeVerifier::generate());
        r.redirect_uri = "http://[::1]:8123/cb".into();
        let page = s.browser().authorize(&s.base, &r, "alice").await;
        assert!(page
            .location()
            .unwrap()
            .starts_with("http://[::1]:8123/cb?code="));
    }

    #[tokio::test]
    async fn post_authorize_works_like_get() {
        let s = setup().await;
        s.public_client("first", &[REDIRECT], true).await;
        let mut b = s.browser();
        let r = AuthRequest::new("first", &CodeVerifier::generate());
        let login = b.post(&format!("{}/authorize", s.base), &r.pairs()).await;
        assert!(login.body.contains("name=\"password\""));
    }

    #[tokio::test]
    async fn consent_is_remembered_per_user_client_and_scopes() {
        let s = setup().await;
        let mut b = s.browser();
        let first = b.authorize(&s.base, &req(), "alice").await;
        code_of(&first, &s.base, "st-123");
        // Same scopes: straight to the client.
        let again = b.get(&req().url(&s.base)).await;
        assert_eq!(again.status, 303);
        assert!(again.location().unwrap().starts_with(REDIRECT));
        // A new scope: asked again.
        let mut wider = req();
        wider.scope = "openid profile email read".into();
        let page = b.get(&wider.url(&s.base)).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("name=\"decision\""));
        assert!(page.body.contains("read"));
        // prompt=consent asks even when covered.
        let page = b.get(&req().with("prompt", "consent").url(&s.base)).await;
        assert!(page.body.contains("name=\"decision\""));
    }

    /// A first authorization asks for consent whatever the scope, none
    /// included: the user approves the client itself once.
    #[tokio::test]
    async fn a_first_authorization_without_scope_asks_for_consent() {
        let s = setup().await;
        let mut b = s.browser();
        let mut bare = req();
        bare.scope = String::new();
        let page = b.get(&bare.url(&s.base)).await;
        let page = b.login(&s.base, &page, "alice", PASSWORD).await;
        let loc = page.location().unwrap();
        let page = b.get(&format!("{}{loc}", s.base)).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("name=\"decision\""), "{}", page.body);
        let done = b.decide(&s.base, &page, "allow").await;
        code_of(&done, &s.base, "st-123");
        // Approved once: the next one goes straight to the client.
        let mut again = req();
        again.scope = String::new();
        let page = b.get(&again.url(&s.base)).await;
        assert_eq!(page.status, 303);
        assert!(page.location().unwrap().starts_with(REDIRECT));
    }

    #[tokio::test]
    async fn skip_consent_clients_skip_the_consent_page() {
        let s = setup().await;
        s.public_client("first", &[REDIRECT], true).await;
        let mut b = s.browser();
        let r = AuthRequest::new("first", &CodeVerifier::generate());
        let login = b.get(&r.url(&s.base)).await;
        let after = b.login(&s.base, &login, "alice", PASSWORD).await;
        let page = b
            .get(&format!("{}{}", s.base, after.location().unwrap()))
            .await;
        assert_eq!(page.status, 303);
        assert!(page.location().unwrap().starts_with(REDIRECT));
    }

    #[tokio::test]
    async fn prompt_login_asks_for_the_password_again() {
        let s = setup().await;
        let mut b = s.browser();
        b.authorize(&s.base, &req(), "alice").await;
        let page = b.get(&req().with("prompt", "login").url(&s.base)).await;
        assert!(page.body.contains("name=\"password\""));
        let after = b.login(&s.base, &page, "alice", PASSWORD).await;
        // prompt=login is not carried on, or this would loop.
        assert!(!after.location().unwrap().contains("prompt=login"));
    }
}

mod pages {
    use super::*;

    #[tokio::test]
    async fn pages_send_the_security_headers() {
        let s = setup().await;
        let mut b = s.browser();
        let page = b.get(&req().url(&s.base)).await;
        assert_eq!(page.status, 200);
        let h = &page.headers;
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert_eq!(h["referrer-policy"], "no-referrer");
        // The login form: username, password, a CSRF token; no JavaScript.
        assert!(page.body.contains("name=\"username\"") && page.body.contains("name=\"password\""));
        assert!(page
            .hidden_fields()
            .iter()
            .any(|(k, v)| k == "csrf" && v.len() >= 32));
        assert!(!page.body.contains("<script"));
    }

    #[tokio::test]
    async fn the_session_cookie_is_httponly_and_samesite_lax() {
        let s = setup().await;
        let mut b = s.browser();
        let login = b.get(&req().url(&s.base)).await;
        let after = b.login(&s.base, &login, "alice", PASSWORD).await;
        let cookie = after.headers["set-cookie"].to_str().unwrap();
        assert!(cookie.starts_with("proofkey_session="));
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        // http issuer: not Secure.
        assert!(!cookie.contains("Secure"));
    }

    #[tokio::test]
    async fn a_wrong_password_or_unknown_user_shows_the_same_generic_message() {
        let s = setup().await;
        let mut b = s.browser();
        let login = b.get(&req().url(&s.base)).await;
        let wrong_pw = b.login(&s.base, &login, "alice", "nope nope").await;
        let login = b.get(&req().url(&s.base)).await;
        let no_user = b.login(&s.base, &login, "mallory", "nope nope").await;
        for page in [&wrong_pw, &no_user] {
            assert_eq!(page.status, 200);
            assert!(page.body.contains("username and password do not match"));
            assert!(page
                .headers
                .get("set-cookie")
                .is_none_or(|c| !c.to_str().unwrap().starts_with("proofkey_session")));
        }
    }

    #[tokio::test]
    async fn a_login_without_the_csrf_token_is_refused() {
        let s = setup().await;
        let mut b = s.browser();
        let login = b.get(&req().url(&s.base)).await;
        let mut form: Vec<(String, String)> = login
            .hidden_fields()
            .into_iter()
            .filter(|(k, _)| k != "csrf")
            .collect();
        form.push(("username".into(), "alice".into()));
        form.push(("password".into(), PASSWORD.into()));
        let page = b.post(&format!("{}/login", s.base), &form).await;
        assert_eq!(page.status, 403);
        // And with a token that is not this browser's.
        let mut other = s.browser();
        let login2 = other.get(&req().url(&s.base)).await;
        let mut form = login2.hidden_fields();
        form.push(("username".into(), "alice".into()));
        form.push(("password".into(), PASSWORD.into()));
        let page = b.post(&format!("{}/login", s.base), &form).await;
        assert_eq!(page.status, 403);
    }

    #[tokio::test]
    async fn a_consent_without_the_csrf_token_is_refused() {
        let s = setup().await;
        let mut b = s.browser();
        let login = b.get(&req().url(&s.base)).await;
        let after = b.login(&s.base, &login, "alice", PASSWORD).await;
        let consent = b
            .get(&format!("{}{}", s.base, after.location().unwrap()))
            .await;
        let mut form: Vec<(String, String)> = consent
            .hidden_fields()
            .into_iter()
            .filter(|(k, _)| k != "csrf")
            .collect();
        form.push(("decision".into(), "allow".into()));
        let page = b.post(&format!("{}/consent", s.base), &form).await;
        assert_eq!(page.status, 403);
    }

    #[tokio::test]
    async fn the_consent_page_names_the_client_and_the_scopes() {
        let s = setup().await;
        let mut b = s.browser();
        let login = b.get(&req().url(&s.base)).await;
        let after = b.login(&s.base, &login, "alice", PASSWORD).await;
        let consent = b
            .get(&format!("{}{}", s.base, after.location().unwrap()))
            .await;
        assert!(consent.body.contains("App app"));
        for scope in ["openid", "profile", "email"] {
            assert!(consent.body.contains(scope));
        }
        assert!(
            consent.body.contains("value=\"allow\"") && consent.body.contains("value=\"deny\"")
        );
        assert_eq!(consent.headers["x-frame-options"], "DENY");
    }
}

mod oidc_request_parameters {
    use super::*;

    #[tokio::test]
    async fn max_age_forces_a_new_login_when_the_last_one_is_older() {
        let s = setup().await;
        let mut b = s.browser();
        b.authorize(&s.base, &req(), "alice").await;
        s.clock.advance(120);
        // Within max_age: no login page.
        let page = b.get(&req().with("max_age", "300").url(&s.base)).await;
        assert_eq!(page.status, 303);
        // Older than max_age: log in again.
        let page = b.get(&req().with("max_age", "60").url(&s.base)).await;
        assert!(page.body.contains("name=\"password\""));
        let after = b.login(&s.base, &page, "alice", PASSWORD).await;
        let done = b
            .get(&format!("{}{}", s.base, after.location().unwrap()))
            .await;
        assert!(done.location().unwrap().starts_with(REDIRECT));
        // Not a number.
        assert_error_redirect(
            &s,
            &req().with("max_age", "soon").url(&s.base),
            "invalid_request",
        )
        .await;
    }

    #[tokio::test]
    async fn a_deleted_client_stops_working_within_the_cache_lifetime() {
        let s = setup().await;
        let mut b = s.browser();
        b.authorize(&s.base, &req(), "alice").await;
        assert!(s
            .store
            .delete_client("app", proofkey_core::Clock::now(&s.clock))
            .await
            .unwrap());
        s.clock
            .advance(proofkey_core::clients::CLIENT_CACHE_TTL.as_secs() as i64 + 1);
        let page = b.get(&req().url(&s.base)).await;
        assert_eq!(page.status, 400);
    }

    #[tokio::test]
    async fn a_deleted_users_session_authorizes_nothing() {
        let s = setup().await;
        let mut b = s.browser();
        b.authorize(&s.base, &req(), "alice").await;
        assert!(s
            .store
            .delete_user("alice", proofkey_core::Clock::now(&s.clock))
            .await
            .unwrap());
        // Consent was remembered: were the session still alive, this would
        // be a code. The user's sessions went with the user.
        let page = b.get(&req().url(&s.base)).await;
        assert_eq!(page.status, 200, "the login page, not a redirect");
        assert!(page.body.contains("name=\"password\""));
    }
}
