//! Session and CSRF cookies (issue 13): `__Host-` names on https, CSRF
//! tokens bound to the session and rotated at sign-in, the previous
//! session ended at a new sign-in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use proofkey_pkce::CodeVerifier;

async fn setup(tweak: impl FnOnce(&mut proofkey_core::Config)) -> TestServer {
    let s = TestServer::start_with(tweak).await;
    s.public_client("app", &[REDIRECT], false).await;
    s.user("alice").await;
    s.user("bob").await;
    s
}

/// The login page, then the consent page after signing in as `user`.
async fn to_consent(s: &TestServer, b: &mut Browser, user: &str) -> (Page, Page) {
    let req = AuthRequest::new("app", &CodeVerifier::generate());
    let login = b.get(&req.url(&s.base)).await;
    let page = b.login(&s.base, &login, user, PASSWORD).await;
    let loc = page.location().unwrap();
    let consent = b.get(&format!("{}{loc}", s.base)).await;
    assert!(
        consent.body.contains("name=\"decision\""),
        "{}",
        consent.body
    );
    (login, consent)
}

fn field(page: &Page, name: &str) -> String {
    page.hidden_fields()
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap()
        .1
}

fn with_field(page: &Page, name: &str, value: &str, decision: &str) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = page
        .hidden_fields()
        .into_iter()
        .filter(|(k, _)| k != name)
        .collect();
    form.push((name.into(), value.into()));
    form.push(("decision".into(), decision.into()));
    form
}

/// The `Set-Cookie` values of a response.
fn set_cookies(page: &Page) -> Vec<&str> {
    page.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

/// On an https issuer both cookies carry the `__Host-` prefix (with
/// `Secure`, `Path=/`, no `Domain`), so that no sibling subdomain can
/// plant them.
#[tokio::test]
async fn cookies_have_the_host_prefix_on_https() {
    let s = setup(|c| c.issuer = "https://auth.example".into()).await;
    let mut b = s.browser();
    let req = AuthRequest::new("app", &CodeVerifier::generate());
    let login = b.get(&req.url(&s.base)).await;
    let csrf = set_cookies(&login);
    assert!(
        csrf.iter().any(|c| c.starts_with("__Host-proofkey_csrf=")
            && c.contains("; Secure")
            && c.contains("Path=/")
            && !c.contains("Domain")),
        "{csrf:?}"
    );
    let signed = b.login(&s.base, &login, "alice", PASSWORD).await;
    let set = set_cookies(&signed);
    assert!(
        set.iter()
            .any(|c| c.starts_with("__Host-proofkey_session=") && c.contains("; Secure")),
        "{set:?}"
    );
    assert!(b.cookies.contains_key("__Host-proofkey_session"));
    assert!(!b.cookies.contains_key("proofkey_session"));
}

/// A consent form's token works only with the session it was shown in:
/// bob's browser cannot submit alice's token, nor the token it had before
/// signing in (rotated at sign-in).
#[tokio::test]
async fn csrf_tokens_are_bound_to_the_session_and_rotated_at_sign_in() {
    let s = setup(|_| {}).await;
    let mut alice = s.browser();
    let (_, alice_consent) = to_consent(&s, &mut alice, "alice").await;
    let mut bob = s.browser();
    let (bob_login, bob_consent) = to_consent(&s, &mut bob, "bob").await;
    let before = field(&bob_login, "csrf");
    let now = field(&bob_consent, "csrf");
    assert_ne!(before, now, "rotated at sign-in");
    let url = format!("{}/consent", s.base);
    let foreign = bob
        .post(
            &url,
            &with_field(
                &bob_consent,
                "csrf",
                &field(&alice_consent, "csrf"),
                "allow",
            ),
        )
        .await;
    assert_eq!(foreign.status, 403, "another session's token");
    let stale = bob
        .post(&url, &with_field(&bob_consent, "csrf", &before, "allow"))
        .await;
    assert_eq!(stale.status, 403, "the token from before the sign-in");
    let own = bob
        .post(&url, &with_field(&bob_consent, "csrf", &now, "allow"))
        .await;
    assert_eq!(own.status, 303, "{}", own.body);
}

/// Signing in again ends the session the browser had: its cookie value no
/// longer signs anyone in.
#[tokio::test]
async fn a_new_sign_in_ends_the_previous_session() {
    let s = setup(|_| {}).await;
    let mut b = s.browser();
    to_consent(&s, &mut b, "alice").await;
    let first = b.cookies["proofkey_session"].clone();
    // The login form again, with prompt=login, in the same browser.
    let req = AuthRequest::new("app", &CodeVerifier::generate()).with("prompt", "login");
    let login = b.get(&req.url(&s.base)).await;
    let page = b.login(&s.base, &login, "bob", PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let second = b.cookies["proofkey_session"].clone();
    assert_ne!(first, second);
    let mut replay = s.browser();
    replay.cookies.insert("proofkey_session".into(), first);
    let req = AuthRequest::new("app", &CodeVerifier::generate());
    let page = replay.get(&req.url(&s.base)).await;
    assert!(
        page.body.contains("name=\"password\""),
        "the old session is gone"
    );
}
