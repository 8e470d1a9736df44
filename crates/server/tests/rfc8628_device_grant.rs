//! RFC 8628 device authorization grant, server side.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use proofkey_core::model::{ClientKind, DEVICE_CODE_GRANT};

async fn setup() -> TestServer {
    let s = TestServer::start().await;
    s.client_with("tv", ClientKind::Public, &[REDIRECT], |c| {
        c.grant_types = vec![DEVICE_CODE_GRANT.into(), "refresh_token".into()];
    })
    .await;
    s.user("alice").await;
    s
}

async fn start(s: &TestServer, scope: &str) -> serde_json::Value {
    let (status, headers, body) = s
        .post_form(
            "/device_authorization",
            &[("client_id", "tv"), ("scope", scope)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    body
}

async fn poll(s: &TestServer, device_code: &str) -> (u16, serde_json::Value) {
    let (status, _, body) = s
        .token(&[
            ("grant_type", DEVICE_CODE_GRANT),
            ("client_id", "tv"),
            ("device_code", device_code),
        ])
        .await;
    (status, body)
}

#[tokio::test]
async fn discovery_advertises_the_device_grant() {
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
    assert_eq!(
        d["device_authorization_endpoint"],
        s.url("/device_authorization")
    );
    assert!(d["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&DEVICE_CODE_GRANT.into()));
}

#[tokio::test]
async fn the_device_authorization_response_is_complete() {
    let s = setup().await;
    let r = start(&s, "openid").await;
    let user_code = r["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert!(
        user_code
            .chars()
            .all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)),
        "{user_code}"
    );
    assert_eq!(r["device_code"].as_str().unwrap().len(), 43);
    assert_eq!(r["verification_uri"], s.url("/device"));
    assert_eq!(
        r["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", s.base)
    );
    assert_eq!(r["expires_in"], 600);
    assert_eq!(r["interval"], 5);
    // The complete URI pre-fills the code.
    let page = s
        .browser()
        .get(r["verification_uri_complete"].as_str().unwrap())
        .await;
    assert!(page.body.contains(&format!("value=\"{user_code}\"")));
}

#[tokio::test]
async fn the_whole_grant_pending_then_approved_then_single_use() {
    let s = setup().await;
    let r = start(&s, "openid offline_access").await;
    let dc = r["device_code"].as_str().unwrap();
    let (status, body) = poll(&s, dc).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );

    // Typed in lower case without the dash: still the code (RFC 8628 §6.1).
    let typed = r["user_code"]
        .as_str()
        .unwrap()
        .replace('-', "")
        .to_lowercase();
    let mut b = s.browser();
    let done = user_decides(&s, &mut b, &typed, "allow").await;
    assert!(done.body.contains("Device connected"), "{}", done.body);

    s.clock.advance(5);
    let (status, body) = poll(&s, dc).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["access_token"].is_string()
            && body["id_token"].is_string()
            && body["refresh_token"].is_string()
    );

    s.clock.advance(5);
    let (status, body) = poll(&s, dc).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn polling_faster_than_the_interval_is_slow_down_and_the_interval_grows() {
    let s = setup().await;
    let r = start(&s, "openid").await;
    let dc = r["device_code"].as_str().unwrap();
    assert_eq!(poll(&s, dc).await.1["error"], "authorization_pending");
    s.clock.advance(2);
    assert_eq!(poll(&s, dc).await.1["error"], "slow_down");
    // The interval is now 10 s: 5 s later is still too soon.
    s.clock.advance(5);
    assert_eq!(poll(&s, dc).await.1["error"], "slow_down");
    s.clock.advance(15);
    assert_eq!(poll(&s, dc).await.1["error"], "authorization_pending");
}

#[tokio::test]
async fn a_user_who_denies_gives_access_denied() {
    let s = setup().await;
    let r = start(&s, "openid").await;
    let mut b = s.browser();
    user_decides(&s, &mut b, r["user_code"].as_str().unwrap(), "deny").await;
    let (status, body) = poll(&s, r["device_code"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("access_denied"))
    );
}

#[tokio::test]
async fn an_expired_device_code_is_expired_token() {
    let s = setup().await;
    let r = start(&s, "openid").await;
    s.clock.advance(601);
    let (status, body) = poll(&s, r["device_code"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("expired_token"))
    );
    // And the user can no longer approve it.
    let mut b = s.browser();
    let page = b.get(&format!("{}/device", s.base)).await;
    let mut form = page.hidden_fields();
    form.push(("user_code".into(), r["user_code"].as_str().unwrap().into()));
    form.push(("username".into(), "alice".into()));
    form.push(("password".into(), PASSWORD.into()));
    let again = b.post(&format!("{}/device", s.base), &form).await;
    assert!(again.body.contains("not valid"));
}

#[tokio::test]
async fn approved_codes_give_tokens_once_under_concurrent_polls() {
    let s = setup().await;
    let r = start(&s, "openid").await;
    let mut b = s.browser();
    user_decides(&s, &mut b, r["user_code"].as_str().unwrap(), "allow").await;
    let dc = r["device_code"].as_str().unwrap().to_owned();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let http = s.http.clone();
            let url = s.url("/token");
            let dc = dc.clone();
            tokio::spawn(async move {
                http.post(url)
                    .form(&[
                        ("grant_type", DEVICE_CODE_GRANT),
                        ("client_id", "tv"),
                        ("device_code", &dc),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn user_code_guessing_is_rate_limited() {
    let s = setup().await;
    let r = start(&s, "openid").await;
    let mut b = s.browser();
    // Sign in with a wrong code first, then keep guessing.
    let page = b.get(&format!("{}/device", s.base)).await;
    let mut form = page.hidden_fields();
    form.push(("user_code".into(), "BBBB-BBBB".into()));
    form.push(("username".into(), "alice".into()));
    form.push(("password".into(), PASSWORD.into()));
    let mut page = b.post(&format!("{}/device", s.base), &form).await;
    assert!(page.body.contains("not valid"));
    for guess in ["BBBB-BBBC", "BBBB-BBBD", "BBBB-BBBF", "BBBB-BBBG"] {
        let mut form = page.hidden_fields();
        form.push(("user_code".into(), guess.into()));
        page = b.post(&format!("{}/device", s.base), &form).await;
    }
    // Five failures: now even the right code is refused for a while.
    let mut form = page.hidden_fields();
    form.push(("user_code".into(), r["user_code"].as_str().unwrap().into()));
    let blocked = b.post(&format!("{}/device", s.base), &form).await;
    assert!(blocked.body.contains("Too many"), "{}", blocked.body);
    s.clock.advance(301);
    let mut form = blocked.hidden_fields();
    form.push(("user_code".into(), r["user_code"].as_str().unwrap().into()));
    let ok = b.post(&format!("{}/device", s.base), &form).await;
    assert!(ok.body.contains("name=\"decision\""));
}

/// RFC 8628 §5.1 at the decision endpoint: it goes through the same
/// limiter as the code entry, so wrong codes posted straight to it are
/// counted, and once blocked, the right code with `decision=allow` does not
/// connect the victim's device to the guesser's account.
#[tokio::test]
async fn guessing_at_the_decision_endpoint_is_limited_too() {
    let s = setup().await;
    let r = start(&s, "openid").await;
    let mut b = s.browser();
    // A session and a CSRF token (the first wrong code counts too).
    let page = b.get(&format!("{}/device", s.base)).await;
    let mut form = page.hidden_fields();
    form.push(("user_code".into(), "BBBB-BBBB".into()));
    form.push(("username".into(), "alice".into()));
    form.push(("password".into(), PASSWORD.into()));
    let page = b.post(&format!("{}/device", s.base), &form).await;
    assert!(page.body.contains("not valid"));
    let decide = |code: &str| {
        let mut form: Vec<(String, String)> = page
            .hidden_fields()
            .into_iter()
            .filter(|(k, _)| k != "user_code")
            .collect();
        form.push(("user_code".into(), code.into()));
        form.push(("decision".into(), "allow".into()));
        form
    };
    let mut statuses = Vec::new();
    for guess in [
        "BBBB-BBBC",
        "BBBB-BBBD",
        "BBBB-BBBF",
        "BBBB-BBBG",
        "BBBB-BBBH",
    ] {
        let p = b
            .post(&format!("{}/device/decision", s.base), &decide(guess))
            .await;
        statuses.push(p.status);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429], "five failures block");
    let right = b
        .post(
            &format!("{}/device/decision", s.base),
            &decide(r["user_code"].as_str().unwrap()),
        )
        .await;
    assert_eq!(right.status, 429, "{}", right.body);
    assert!(right.body.contains("Too many attempts"), "{}", right.body);
    let (status, body) = poll(&s, r["device_code"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending")),
        "the device was not connected"
    );
    // The entry page agrees: the address is blocked there too.
    let mut form = page.hidden_fields();
    form.retain(|(k, _)| k != "user_code");
    form.push(("user_code".into(), r["user_code"].as_str().unwrap().into()));
    let blocked = b.post(&format!("{}/device", s.base), &form).await;
    assert!(blocked.body.contains("Too many"), "{}", blocked.body);
    // After the window, the right code works at the decision endpoint.
    s.clock.advance(301);
    let ok = b
        .post(
            &format!("{}/device/decision", s.base),
            &decide(r["user_code"].as_str().unwrap()),
        )
        .await;
    assert!(ok.body.contains("Device connected"), "{}", ok.body);
}

#[tokio::test]
async fn clients_without_the_grant_and_bad_scopes_are_refused() {
    let s = setup().await;
    s.public_client("web", &[REDIRECT], true).await;
    let (status, _, b) = s
        .post_form("/device_authorization", &[("client_id", "web")])
        .await;
    assert_eq!(
        (status, b["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, _, b) = s
        .post_form(
            "/device_authorization",
            &[("client_id", "tv"), ("scope", "admin")],
        )
        .await;
    assert_eq!((status, b["error"].as_str()), (400, Some("invalid_scope")));
    let (status, _, b) = s
        .post_form("/device_authorization", &[("client_id", "ghost")])
        .await;
    assert_eq!((status, b["error"].as_str()), (401, Some("invalid_client")));
    let (status, b) = poll(&s, "unknown").await;
    assert_eq!((status, b["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn the_verification_forms_need_the_csrf_token() {
    let s = setup().await;
    let r = start(&s, "openid").await;
    let mut b = s.browser();
    b.get(&format!("{}/device", s.base)).await;
    let form = vec![
        (
            "user_code".to_owned(),
            r["user_code"].as_str().unwrap().to_owned(),
        ),
        ("username".to_owned(), "alice".to_owned()),
        ("password".to_owned(), PASSWORD.to_owned()),
    ];
    let page = b.post(&format!("{}/device", s.base), &form).await;
    assert_eq!(page.status, 403);
}
