//! A real third-party client, the `oauth2` crate, through the whole flow the
//! way a user's application would drive it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse as _, TokenUrl,
};

#[tokio::test]
async fn the_oauth2_crate_completes_a_pkce_flow() {
    let s = TestServer::start().await;
    s.public_client("rust-app", &[REDIRECT], false).await;
    s.user("alice").await;

    let client = BasicClient::new(ClientId::new("rust-app".into()))
        .set_auth_uri(AuthUrl::new(s.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(s.url("/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:40123/callback".into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The user's browser: log in and consent.
    let mut browser = s.browser();
    let mut page = browser.get(auth_url.as_str()).await;
    page = browser.login(&s.base, &page, "alice", PASSWORD).await;
    page = browser
        .get(&format!("{}{}", s.base, page.location().unwrap()))
        .await;
    page = browser.decide(&s.base, &page, "allow").await;
    let params = page.redirect_params();
    assert_eq!(&params["state"], csrf.secret());
    assert_eq!(params["iss"], s.base);

    let http = oauth2::reqwest::ClientBuilder::new()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    assert!(!token.access_token().secret().is_empty());
    let scopes: Vec<String> = token
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["openid", "profile"]);

    // The access token works at userinfo.
    let info: serde_json::Value = s
        .http
        .get(s.url("/userinfo"))
        .bearer_auth(token.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["preferred_username"], "alice");
}

#[tokio::test]
async fn the_oauth2_crate_without_pkce_is_refused() {
    let s = TestServer::start().await;
    s.public_client("rust-app", &[REDIRECT], false).await;
    let client = BasicClient::new(ClientId::new("rust-app".into()))
        .set_auth_uri(AuthUrl::new(s.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(s.url("/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (auth_url, _) = client.authorize_url(CsrfToken::new_random).url();
    let page = s.browser().get(auth_url.as_str()).await;
    assert_eq!(page.redirect_params()["error"], "invalid_request");
}
