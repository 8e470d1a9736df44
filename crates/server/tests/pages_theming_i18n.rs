//! The pages people see: languages (OIDC Core §3.1.2.1 `ui_locales`, then
//! `Accept-Language`), branding, operator templates and messages, and the
//! content issue 16 asked for (the destination host, a switch of account,
//! the account and Cancel on logout, described scopes on the device page,
//! a start page, a 404 page, words for users on error pages).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use proofkey_core::model::{ClientKind, DEVICE_CODE_GRANT};
use proofkey_pkce::CodeVerifier;

const APP_REDIRECT: &str = "https://app.example/cb";
/// The session cookie's name on an http issuer.
const SESSION_COOKIE: &str = "proofkey_session";

async fn setup_with(tweak: impl FnOnce(&mut proofkey_core::Config)) -> TestServer {
    let s = TestServer::start_with(tweak).await;
    s.client_with("app", ClientKind::Public, &[REDIRECT, APP_REDIRECT], |c| {
        c.grant_types.push(DEVICE_CODE_GRANT.into());
    })
    .await;
    s.user("alice").await;
    s
}

async fn setup() -> TestServer {
    setup_with(|_| {}).await
}

fn auth(redirect: &str) -> AuthRequest {
    let mut r = AuthRequest::new("app", &CodeVerifier::generate());
    r.redirect_uri = redirect.into();
    r
}

/// Signs alice in and returns the consent page.
async fn consent_page(s: &TestServer, b: &mut Browser, req: &AuthRequest, lang: &str) -> Page {
    let login = b
        .get_with(&req.url(&s.base), &[("accept-language", lang)])
        .await;
    let after = b.login(&s.base, &login, "alice", PASSWORD).await;
    assert_eq!(after.status, 303, "{}", after.body);
    b.get_with(
        &format!("{}{}", s.base, after.location().unwrap()),
        &[("accept-language", lang)],
    )
    .await
}

#[tokio::test]
async fn the_login_page_speaks_the_browsers_language_unless_ui_locales_says_otherwise() {
    let s = setup().await;
    let mut b = s.browser();
    let url = auth(REDIRECT).url(&s.base);
    let en = b.get(&url).await;
    assert!(
        en.body.contains("<html lang=\"en\">") && en.body.contains(">Sign in<"),
        "{}",
        en.body
    );

    let de = b
        .get_with(&url, &[("accept-language", "de-DE,de;q=0.9,en;q=0.5")])
        .await;
    assert!(de.body.contains("<html lang=\"de\">"), "{}", de.body);
    assert!(de.body.contains("Benutzername") && de.body.contains("Passwort"));

    // OIDC Core §3.1.2.1: ui_locales comes first, in its own order.
    let fr = auth(REDIRECT)
        .with("ui_locales", "ja fr-CA de")
        .url(&s.base);
    let fr = b.get_with(&fr, &[("accept-language", "de")]).await;
    assert!(fr.body.contains("<html lang=\"fr\">"), "{}", fr.body);
    assert!(fr.body.contains("Mot de passe"));

    // The language survives the form: a wrong password answers in French.
    let again = b.login(&s.base, &fr, "alice", "wrong").await;
    assert!(
        again.body.contains("ne correspondent pas"),
        "{}",
        again.body
    );

    // A language nobody has, or a hostile header, gets English.
    let odd = b
        .get_with(&url, &[("accept-language", &"x-zz;q=0.5,".repeat(2000))])
        .await;
    assert_eq!(odd.status, 200);
    assert!(odd.body.contains("<html lang=\"en\">"));
}

#[tokio::test]
async fn after_a_wrong_password_the_focus_is_on_the_password() {
    let s = setup().await;
    let mut b = s.browser();
    let login = b.get(&auth(REDIRECT).url(&s.base)).await;
    assert!(login.body.contains("name=\"username\" value=\"\" autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required autofocus"), "{}", login.body);
    let again = b.login(&s.base, &login, "alice", "wrong").await;
    let password = again.body.split("id=\"password\"").nth(1).unwrap();
    assert!(
        password.split('>').next().unwrap().contains("autofocus"),
        "{}",
        again.body
    );
    assert!(!again
        .body
        .split("id=\"username\"")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap()
        .contains("autofocus"));
    assert!(
        again.body.contains("value=\"alice\""),
        "the username is kept"
    );
}

#[tokio::test]
async fn login_hint_fills_the_username() {
    let s = setup().await;
    let mut b = s.browser();
    let page = b
        .get(&auth(REDIRECT).with("login_hint", "alice@corp").url(&s.base))
        .await;
    assert!(page.body.contains("value=\"alice@corp\""), "{}", page.body);
    // The username is there: the password field has the focus.
    let password = page.body.split("id=\"password\"").nth(1).unwrap();
    assert!(password.split('>').next().unwrap().contains("autofocus"));

    // A hint is text, escaped; an overlong one is ignored (a hint, not an
    // error).
    let hostile = b
        .get(
            &auth(REDIRECT)
                .with("login_hint", "\"><script>x</script>")
                .url(&s.base),
        )
        .await;
    assert!(!hostile.body.contains("<script>"), "{}", hostile.body);
    assert!(hostile.body.contains("&lt;script&gt;"));
    let long = "a".repeat(proofkey_core::authorize::MAX_HINT + 1);
    let page = b
        .get(&auth(REDIRECT).with("login_hint", &long).url(&s.base))
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("name=\"username\" value=\"\""),
        "the username starts empty: {}",
        page.body
    );
}

#[tokio::test]
async fn use_another_account_needs_the_forms_csrf_token() {
    let s = setup().await;
    let mut b = s.browser();
    let consent = consent_page(&s, &mut b, &auth(REDIRECT), "en").await;
    let mut form: Vec<(String, String)> = consent
        .hidden_fields()
        .into_iter()
        .filter(|(k, _)| k != "csrf")
        .collect();
    form.push(("csrf".into(), "x".repeat(43)));
    form.push(("decision".into(), "switch".into()));
    let refused = b.post(&format!("{}/consent", s.base), &form).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    // The session is still there: the consent page comes again.
    let again = b.get(&auth(REDIRECT).url(&s.base)).await;
    assert!(again.body.contains("value=\"switch\""), "{}", again.body);
}

#[tokio::test]
async fn ui_locales_travels_in_a_pushed_request_and_a_logout_request() {
    let s = setup().await;
    let pairs = auth(REDIRECT).with("ui_locales", "fr").pairs();
    let pushed = s
        .http
        .post(s.url("/par"))
        .form(&pairs)
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 201);
    let body: serde_json::Value = pushed.json().await.unwrap();
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", "app");
    q.append_pair("request_uri", body["request_uri"].as_str().unwrap());
    let mut b = s.browser();
    let page = b
        .get_with(
            &format!("{}/authorize?{}", s.base, q.finish()),
            &[("accept-language", "de")],
        )
        .await;
    assert!(page.body.contains("<html lang=\"fr\">"), "{}", page.body);

    b.authorize(&s.base, &auth(REDIRECT), "alice").await;
    let logout = b
        .get_with(
            &format!("{}/logout?ui_locales=de", s.base),
            &[("accept-language", "fr")],
        )
        .await;
    assert!(
        logout.body.contains("<html lang=\"de\">"),
        "{}",
        logout.body
    );
}

#[tokio::test]
async fn the_consent_page_says_where_the_user_goes_and_who_is_signed_in() {
    let s = setup().await;
    let mut b = s.browser();
    let page = consent_page(&s, &mut b, &auth(APP_REDIRECT), "en").await;
    assert!(
        page.body.contains("you will be sent to app.example"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Signed in as alice"));
    assert!(
        page.body.contains("See your email address"),
        "scopes described: {}",
        page.body
    );
    assert!(page.body.contains("value=\"switch\""));

    let mut b = s.browser();
    let local = consent_page(&s, &mut b, &auth(REDIRECT), "de").await;
    assert!(
        local.body.contains("zu einer Anwendung auf diesem Gerät"),
        "{}",
        local.body
    );
    assert!(local.body.contains("Ihre E-Mail-Adresse sehen"));
}

#[tokio::test]
async fn use_another_account_ends_the_session_and_asks_for_a_sign_in() {
    let s = setup().await;
    s.user("bob").await;
    let mut b = s.browser();
    let req = auth(REDIRECT);
    let consent = consent_page(&s, &mut b, &req, "en").await;
    let old_session = b.cookies.get(SESSION_COOKIE).cloned();
    let switched = b.decide(&s.base, &consent, "switch").await;
    assert_eq!(switched.status, 303, "{}", switched.body);
    let login = b
        .get(&format!("{}{}", s.base, switched.location().unwrap()))
        .await;
    assert!(
        login.body.contains("name=\"password\""),
        "a sign-in is asked: {}",
        login.body
    );
    // The old session is dead on the server, not only forgotten by the
    // browser: replaying its cookie shows the login page again.
    let old = old_session.expect("a session cookie");
    let mut replay = s.browser();
    replay.cookies.insert(SESSION_COOKIE.into(), old);
    let page = replay.get(&req.url(&s.base)).await;
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
    // Bob signs in and is the one asked.
    let after = b.login(&s.base, &login, "bob", PASSWORD).await;
    let consent = b
        .get(&format!("{}{}", s.base, after.location().unwrap()))
        .await;
    assert!(
        consent.body.contains("Signed in as bob"),
        "{}",
        consent.body
    );
    let done = b.decide(&s.base, &consent, "allow").await;
    assert_eq!(done.redirect_params()["state"], req.state);
}

#[tokio::test]
async fn logout_names_the_account_and_cancel_keeps_the_session() {
    let s = setup().await;
    let mut b = s.browser();
    let page = b.authorize(&s.base, &auth(REDIRECT), "alice").await;
    assert_eq!(page.status, 303);
    let confirm = b
        .get_with(&format!("{}/logout", s.base), &[("accept-language", "fr")])
        .await;
    assert!(
        confirm.body.contains("Connecté en tant que alice"),
        "{}",
        confirm.body
    );
    assert!(confirm.body.contains("value=\"no\""));
    let mut form = confirm.hidden_fields();
    form.push(("confirm".into(), "no".into()));
    let cancelled = b.post(&format!("{}/logout", s.base), &form).await;
    assert_eq!(cancelled.status, 200);
    assert!(
        cancelled.body.contains("Still signed in") || cancelled.body.contains("still signed in"),
        "{}",
        cancelled.body
    );
    // Still signed in: the next authorization asks nothing.
    let again = b.get(&auth(REDIRECT).url(&s.base)).await;
    assert_eq!(again.status, 303, "no login page: {}", again.body);
    assert!(
        again.redirect_params().contains_key("code"),
        "{:?}",
        again.location()
    );
}

#[tokio::test]
async fn error_pages_speak_to_users_and_fold_the_detail_away() {
    let s = setup().await;
    let mut b = s.browser();
    let mut req = auth(REDIRECT);
    req.client_id = "nobody".into();
    let page = b
        .get_with(&req.url(&s.base), &[("accept-language", "de")])
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("Etwas ist schiefgegangen"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<details>"), "{}", page.body);
    assert!(
        !page.body.contains("RFC 6749"),
        "no clause for users: {}",
        page.body
    );

    let logout = b
        .get(&format!("{}/logout?id_token_hint=garbage", s.base))
        .await;
    assert_eq!(logout.status, 400);
    assert!(
        logout
            .body
            .contains("sign-out request could not be handled"),
        "{}",
        logout.body
    );
    assert!(!logout.body.contains("§4.1.2.1"));
}

#[tokio::test]
async fn the_start_page_and_unknown_paths_are_pages_too() {
    let s = setup().await;
    let mut b = s.browser();
    let home = b.get(&format!("{}/", s.base)).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("href=\"/device\""), "{}", home.body);
    assert!(!home.body.contains("Signed in as"));
    let missing = b
        .get_with(
            &format!("{}/no/such/page", s.base),
            &[("accept-language", "fr")],
        )
        .await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.contains("Page introuvable"),
        "{}",
        missing.body
    );
    assert_eq!(
        missing.headers["content-security-policy"],
        home.headers["content-security-policy"]
    );

    b.authorize(&s.base, &auth(REDIRECT), "alice").await;
    let home = b.get(&format!("{}/", s.base)).await;
    assert!(
        home.body.contains("Signed in as alice") && home.body.contains("href=\"/logout\""),
        "{}",
        home.body
    );
}

#[tokio::test]
async fn the_device_page_describes_scopes_like_the_consent_page() {
    let s = setup().await;
    let (_, _, r) = s
        .post_form(
            "/device_authorization",
            &[("client_id", "app"), ("scope", "openid email")],
        )
        .await;
    let mut b = s.browser();
    let entry = b
        .get_with(&format!("{}/device", s.base), &[("accept-language", "de")])
        .await;
    assert!(entry.body.contains("Gerät verbinden"), "{}", entry.body);
    let mut form = entry.hidden_fields();
    form.push(("user_code".into(), r["user_code"].as_str().unwrap().into()));
    form.push(("username".into(), "alice".into()));
    form.push(("password".into(), PASSWORD.into()));
    let resp = b
        .http
        .post(format!("{}/device", s.base))
        .header(
            "cookie",
            b.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .header("accept-language", "de")
        .form(&form)
        .send()
        .await
        .unwrap();
    let body = resp.text().await.unwrap();
    assert!(body.contains("Ihre E-Mail-Adresse sehen"), "{body}");
    assert!(body.contains("Bestätigen, wer Sie sind"));
    assert!(body.contains("Angemeldet als alice"), "{body}");
}

#[tokio::test]
async fn a_theme_brands_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.svg");
    std::fs::write(
        &logo,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>",
    )
    .unwrap();
    let logo2 = logo.clone();
    let s = setup_with(move |c| {
        c.ui.product_name = "Acme ID".into();
        c.ui.primary_color = "#7a1fa2".into();
        c.ui.logo = Some(logo2);
    })
    .await;
    let mut b = s.browser();
    let page = b.get(&auth(REDIRECT).url(&s.base)).await;
    assert!(page.body.contains("--primary:#7a1fa2"), "{}", page.body);
    assert!(
        page.body.contains("<title>Sign in · Acme ID</title>"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("<img src=\"/assets/logo\" alt=\"Acme ID\">"));
    assert!(page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("img-src 'self'"));
    let resp = s.http.get(s.url("/assets/logo")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/svg+xml");
    assert!(resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    assert_eq!(resp.bytes().await.unwrap(), std::fs::read(&logo).unwrap());

    // Without a logo, there is none to fetch.
    let plain = setup().await;
    let resp = plain
        .http
        .get(plain.url("/assets/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn operators_override_templates_messages_and_scope_descriptions() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(
        templates.join("login.html"),
        "{% extends \"layout.html\" %}{% block title %}{{ t(\"login-title\") }}{% endblock %}{% block body %}<p id=\"acme\">{{ t(\"acme-welcome\") }}</p><form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"csrf\" value=\"{{ csrf }}\">{% for p in params %}<input type=\"hidden\" name=\"{{ p.0 }}\" value=\"{{ p.1 }}\">{% endfor %}<input name=\"username\"><input type=\"password\" name=\"password\"><button>{{ t(\"login-submit\") }}</button></form>{% endblock %}",
    )
    .unwrap();
    let locales = dir.path().join("locales");
    for (lang, text) in [
        (
            "en",
            "acme-welcome = Welcome to Acme\nlogin-submit = Log in\n",
        ),
        ("de", "acme-welcome = Willkommen bei Acme\n"),
    ] {
        std::fs::create_dir_all(locales.join(lang)).unwrap();
        std::fs::write(locales.join(lang).join("acme.ftl"), text).unwrap();
    }
    let (t, l) = (templates.clone(), locales.clone());
    let s = setup_with(move |c| {
        c.ui.templates_dir = Some(t);
        c.ui.translations_dir = Some(l);
        c.ui.scope_descriptions = BTreeMap::from([(
            "email".to_owned(),
            BTreeMap::from([("de".to_owned(), "Ihre Adresse für Rechnungen".to_owned())]),
        )]);
    })
    .await;
    let mut b = s.browser();
    let url = auth(REDIRECT).url(&s.base);
    let en = b.get(&url).await;
    assert!(
        en.body.contains("<p id=\"acme\">Welcome to Acme</p>"),
        "{}",
        en.body
    );
    assert!(en.body.contains(">Log in<"));
    let de = b.get_with(&url, &[("accept-language", "de")]).await;
    assert!(de.body.contains("Willkommen bei Acme"), "{}", de.body);
    // German did not override login-submit: German's own word.
    assert!(de.body.contains(">Anmelden<"), "{}", de.body);
    // The overridden form still signs in.
    let consent = consent_page(&s, &mut s.browser(), &auth(REDIRECT), "de").await;
    assert!(
        consent.body.contains("Ihre Adresse für Rechnungen"),
        "{}",
        consent.body
    );
}
