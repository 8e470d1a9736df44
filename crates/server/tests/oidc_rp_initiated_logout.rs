//! OpenID Connect RP-Initiated Logout 1.0, and sessions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use proofkey_core::model::ClientKind;
use proofkey_pkce::CodeVerifier;

const AFTER: &str = "https://app.example/signed-out";

async fn setup() -> TestServer {
    let s = TestServer::start().await;
    s.client_with("app", ClientKind::Public, &[REDIRECT], |c| {
        c.skip_consent = true;
        c.post_logout_redirect_uris = vec![AFTER.into()];
    })
    .await;
    s.user("alice").await;
    s
}

/// Logs a browser in and returns it with an ID token.
async fn logged_in(s: &TestServer) -> (Browser, String) {
    let verifier = CodeVerifier::generate();
    let req = AuthRequest::new("app", &verifier);
    let mut b = s.browser();
    let page = b.authorize(&s.base, &req, "alice").await;
    let code = code_of(&page, &s.base, &req.state);
    let (_, _, body) = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", "app"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.secret()),
        ])
        .await;
    (b, body["id_token"].as_str().unwrap().to_owned())
}

async fn still_logged_in(s: &TestServer, b: &mut Browser) -> bool {
    let req = AuthRequest::new("app", &CodeVerifier::generate());
    let page = b.get(&req.url(&s.base)).await;
    page.status == 303
}

fn logout_url(s: &TestServer, pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    format!("{}/logout?{}", s.base, q.finish())
}

#[tokio::test]
async fn discovery_advertises_the_end_session_endpoint() {
    let s = setup().await;
    let d: serde_json::Value = s
        .http
        .get(s.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["end_session_endpoint"], s.url("/logout"));
}

#[tokio::test]
async fn id_token_hint_and_a_registered_uri_log_out_and_redirect_with_state() {
    let s = setup().await;
    let (mut b, id_token) = logged_in(&s).await;
    assert!(still_logged_in(&s, &mut b).await);
    let page = b
        .get(&logout_url(
            &s,
            &[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", AFTER),
                ("state", "bye-1"),
            ],
        ))
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location().unwrap(), format!("{AFTER}?state=bye-1"));
    assert!(page.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert!(!still_logged_in(&s, &mut b).await);
}

#[tokio::test]
async fn without_a_hint_the_user_confirms_on_a_csrf_protected_page() {
    let s = setup().await;
    let (mut b, _) = logged_in(&s).await;
    let page = b
        .get(&logout_url(
            &s,
            &[("client_id", "app"), ("post_logout_redirect_uri", AFTER)],
        ))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Sign out"));
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert!(
        still_logged_in(&s, &mut b).await,
        "nothing ends before confirmation"
    );

    // Without the CSRF token: asked again, still logged in.
    let mut form: Vec<(String, String)> = page
        .hidden_fields()
        .into_iter()
        .filter(|(k, _)| k != "csrf")
        .collect();
    form.push(("confirm".into(), "yes".into()));
    let again = b.post(&format!("{}/logout", s.base), &form).await;
    assert_eq!(again.status, 200);
    assert!(still_logged_in(&s, &mut b).await);

    let mut form = page.hidden_fields();
    form.push(("confirm".into(), "yes".into()));
    let done = b.post(&format!("{}/logout", s.base), &form).await;
    assert_eq!(done.status, 303);
    assert_eq!(done.location().unwrap(), AFTER);
    assert!(!still_logged_in(&s, &mut b).await);
}

#[tokio::test]
async fn an_unregistered_post_logout_redirect_uri_is_never_followed() {
    let s = setup().await;
    let (mut b, id_token) = logged_in(&s).await;
    for pairs in [
        vec![
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        vec![("post_logout_redirect_uri", AFTER)],
        vec![("client_id", "nobody"), ("post_logout_redirect_uri", AFTER)],
        vec![("id_token_hint", "not.a.token")],
    ] {
        let page = b.get(&logout_url(&s, &pairs)).await;
        assert_eq!(page.status, 400, "{pairs:?}");
        assert!(page.location().is_none());
    }
    assert!(still_logged_in(&s, &mut b).await);
}

#[tokio::test]
async fn logging_out_without_a_session_just_says_so() {
    let s = setup().await;
    let page = s.browser().get(&format!("{}/logout", s.base)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("signed out"));
}

#[tokio::test]
async fn revoking_a_user_ends_sessions_and_tokens() {
    let s = setup().await;
    let (mut b, _) = logged_in(&s).await;
    let body = tokens_for(&s, "app", "alice", "openid offline_access").await;
    let sessions = s
        .store
        .list_sessions("sub-alice", proofkey_core::Clock::now(&s.clock))
        .await
        .unwrap();
    assert_eq!(sessions.len(), 2);
    let (ended, revoked) = s
        .store
        .revoke_user("sub-alice", proofkey_core::Clock::now(&s.clock))
        .await
        .unwrap();
    assert_eq!(ended, 2);
    assert!(revoked >= 1, "grants revoked: {revoked}");
    assert!(!still_logged_in(&s, &mut b).await);
    let at = body["access_token"].as_str().unwrap();
    let r = s
        .http
        .get(s.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// A store failure shows a generic page: the database's words ("no such
/// table: clients") are for the log only.
#[tokio::test]
async fn a_store_error_shows_generic_text() {
    let s = setup().await;
    s.sql("ALTER TABLE clients RENAME TO clients_elsewhere")
        .await;
    let mut b = s.browser();
    let page = b
        .get(&format!(
            "{}/logout?client_id=app&post_logout_redirect_uri={AFTER}",
            s.base
        ))
        .await;
    assert!(
        page.body.contains("temporarily unavailable"),
        "{}",
        page.body
    );
    for detail in ["no such table", "clients", "database"] {
        assert!(!page.body.contains(detail), "{detail}: {}", page.body);
    }
}
