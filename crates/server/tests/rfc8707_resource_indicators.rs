//! RFC 8707 resource indicators: at the authorization, token (every grant,
//! refresh included) and device authorization endpoints; `aud`; the
//! `invalid_target` cases; the `default_resource` setting; consent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use proofkey_core::model::{ClientKind, DEVICE_CODE_GRANT};
use proofkey_core::resource::DefaultResource;
use proofkey_pkce::CodeVerifier;

const MCP: &str = "https://mcp.example.com/mcp";
const OTHER: &str = "https://api.example.com/";

async fn setup_with(tweak: impl FnOnce(&mut proofkey_core::Config)) -> TestServer {
    let s = TestServer::start_with(tweak).await;
    resource(&s, MCP, &["mcp:tools"]).await;
    resource(&s, OTHER, &[]).await;
    s.client_with("app", ClientKind::Public, &[REDIRECT], |c| {
        c.skip_consent = true;
        c.scopes.push("mcp:tools".into());
        c.grant_types.push(DEVICE_CODE_GRANT.into());
    })
    .await;
    s.client_with("only-mcp", ClientKind::Public, &[REDIRECT], |c| {
        c.skip_consent = true;
        c.resources = vec![MCP.into()];
    })
    .await;
    s.client_with("svc", ClientKind::Confidential, &[REDIRECT], |c| {
        c.grant_types = vec!["client_credentials".into()];
        c.scopes = vec!["mcp:tools".into(), "read".into()];
        c.secret_hash = Some(
            s.provider
                .hasher()
                .hash(&proofkey_core::secret::ClientSecret::new("svc-secret")),
        );
    })
    .await;
    s.client(
        "rs",
        ClientKind::Confidential,
        &[REDIRECT],
        true,
        "RS256",
        Some("rs-secret"),
    )
    .await;
    s.user("alice").await;
    s
}

async fn setup() -> TestServer {
    setup_with(|_| {}).await
}

/// The redirect's error for an authorization request with `extra`.
async fn authorize_error(s: &TestServer, client: &str, extra: &[(&str, &str)]) -> (String, String) {
    let v = CodeVerifier::generate();
    let mut req = AuthRequest::new(client, &v);
    for (k, val) in extra {
        req = req.also(k, val);
    }
    let page = s.browser().authorize(&s.base, &req, "alice").await;
    let p = page.redirect_params();
    assert_eq!(p.get("state").map(String::as_str), Some("st-123"), "{p:?}");
    (
        p.get("error").cloned().unwrap_or_default(),
        p.get("error_description").cloned().unwrap_or_default(),
    )
}

/// A code for `client` with `resources`, and its verifier.
async fn code_with(
    s: &TestServer,
    client: &str,
    scope: &str,
    resources: &[&str],
) -> (String, CodeVerifier) {
    let v = CodeVerifier::generate();
    let mut req = AuthRequest::new(client, &v);
    req.scope = scope.into();
    for r in resources {
        req = req.also("resource", r);
    }
    let page = s.browser().authorize(&s.base, &req, "alice").await;
    (code_of(&page, &s.base, &req.state), v)
}

async fn redeem(
    s: &TestServer,
    client: &str,
    code: &str,
    v: &CodeVerifier,
    resources: &[&str],
) -> (u16, serde_json::Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", client),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", v.secret()),
    ];
    for r in resources {
        form.push(("resource", r));
    }
    let (status, _, body) = s.token(&form).await;
    (status, body)
}

fn aud(body: &serde_json::Value) -> serde_json::Value {
    jwt_claims(body["access_token"].as_str().expect("an access token"))["aud"].clone()
}

mod authorization_code {
    use super::*;

    #[tokio::test]
    async fn the_token_is_for_the_resource_asked_for_and_nothing_else() {
        let s = setup().await;
        let (code, v) = code_with(&s, "app", "openid mcp:tools", &[MCP]).await;
        let (status, body) = redeem(&s, "app", &code, &v, &[]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(aud(&body), MCP);
        let at = body["access_token"].as_str().unwrap();

        // RFC 7662: introspection says whom it is for.
        let (_, _, i) = s
            .post_form(
                "/introspect",
                &[
                    ("token", at),
                    ("client_id", "rs"),
                    ("client_secret", "rs-secret"),
                ],
            )
            .await;
        assert_eq!(
            (i["active"].as_bool(), i["aud"].as_str()),
            (Some(true), Some(MCP))
        );

        // No token passthrough: this server's own UserInfo refuses a token
        // for another resource.
        let r = s
            .http
            .get(s.url("/userinfo"))
            .bearer_auth(at)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"));
    }

    #[tokio::test]
    async fn without_a_resource_the_token_is_for_the_issuer_by_default() {
        let s = setup().await;
        let (code, v) = code_with(&s, "app", "openid", &[]).await;
        let (status, body) = redeem(&s, "app", &code, &v, &[]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(aud(&body), s.base.as_str());
        let at = body["access_token"].as_str().unwrap();
        let r = s
            .http
            .get(s.url("/userinfo"))
            .bearer_auth(at)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // And a token request cannot add one afterwards.
        let (code, v) = code_with(&s, "app", "openid", &[]).await;
        let (status, body) = redeem(&s, "app", &code, &v, &[MCP]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target"))
        );
    }

    #[tokio::test]
    async fn the_token_request_narrows_to_one_granted_resource_never_widens() {
        let s = setup().await;
        let (code, v) = code_with(&s, "app", "openid", &[MCP, OTHER]).await;
        let (status, body) = redeem(&s, "app", &code, &v, &[OTHER]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(aud(&body), OTHER);

        // Both granted, none named, or both named: one resource per
        // token (a token for two could be replayed by either at the other).
        let (code, v) = code_with(&s, "app", "openid", &[MCP, OTHER]).await;
        let (status, body) = redeem(&s, "app", &code, &v, &[]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target")),
            "{body}"
        );
        let (status, body) = redeem(&s, "app", &code, &v, &[MCP, OTHER]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target")),
            "{body}"
        );
        // ... and the code was not spent by either refusal.
        let (status, body) = redeem(&s, "app", &code, &v, &[MCP]).await;
        assert_eq!(
            (status, aud(&body)),
            (200, serde_json::json!(MCP)),
            "{body}"
        );
        // Its scope is what MCP understands (and OpenID Connect's).
        assert_eq!(body["scope"], "openid");

        let (code, v) = code_with(&s, "app", "openid", &[MCP]).await;
        let (status, body) = redeem(&s, "app", &code, &v, &[OTHER]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target")),
            "{body}"
        );
    }

    #[tokio::test]
    async fn bad_resources_are_invalid_target_back_at_the_client() {
        let s = setup().await;
        for (bad, says) in [
            ("https://mcp.example.com/mcp#frag", "fragment"),
            ("/mcp", "absolute"),
            ("mcp.example.com", "absolute"),
            ("https://unknown.example.com/", "not registered"),
        ] {
            let (error, description) = authorize_error(&s, "app", &[("resource", bad)]).await;
            assert_eq!(error, "invalid_target", "{bad}: {description}");
            assert!(description.contains(says), "{bad}: {description}");
        }
        // An empty resource is not "none".
        let (error, _) = authorize_error(&s, "app", &[("resource", "")]).await;
        assert_eq!(error, "invalid_request");
        // Eleven is too many.
        let many: Vec<String> = (0..11).map(|i| format!("https://a.example/{i}")).collect();
        let pairs: Vec<(&str, &str)> = many.iter().map(|m| ("resource", m.as_str())).collect();
        let (error, _) = authorize_error(&s, "app", &pairs).await;
        assert_eq!(error, "invalid_target");
    }

    #[tokio::test]
    async fn a_deleted_resource_gets_no_new_token_even_by_refresh() {
        let s = setup().await;
        let (code, v) = code_with(&s, "app", "openid offline_access mcp:tools", &[MCP]).await;
        let (_, body) = redeem(&s, "app", &code, &v, &[]).await;
        assert_eq!(body["scope"], "openid offline_access mcp:tools");
        let rt = body["refresh_token"].as_str().unwrap().to_owned();
        assert!(s.store.delete_resource(MCP).await.unwrap());
        let (status, _, body) = s
            .token(&[
                ("grant_type", "refresh_token"),
                ("client_id", "app"),
                ("refresh_token", &rt),
            ])
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target")),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_client_limited_to_some_resources_gets_no_other() {
        let s = setup().await;
        let (error, description) = authorize_error(&s, "only-mcp", &[("resource", OTHER)]).await;
        assert_eq!(error, "invalid_target", "{description}");
        let (code, v) = code_with(&s, "only-mcp", "openid", &[MCP]).await;
        let (status, body) = redeem(&s, "only-mcp", &code, &v, &[]).await;
        assert_eq!((status, aud(&body)), (200, serde_json::json!(MCP)));
    }

    #[tokio::test]
    async fn a_scope_the_resource_does_not_understand_is_invalid_scope() {
        let s = setup().await;
        let (error, description) =
            authorize_error(&s, "app", &[("resource", MCP), ("scope", "openid read")]).await;
        assert_eq!(error, "invalid_scope", "{description}");
    }
}

mod refresh {
    use super::*;

    #[tokio::test]
    async fn refreshed_tokens_keep_the_resource_and_may_narrow_never_widen() {
        let s = setup().await;
        let (code, v) = code_with(&s, "app", "openid offline_access", &[MCP, OTHER]).await;
        let (_, body) = redeem(&s, "app", &code, &v, &[MCP]).await;
        let mut rt = body["refresh_token"].as_str().unwrap().to_owned();

        // The refresh token holds the grant's resources, not the narrowed one.
        let (status, _, body) = s
            .token(&[
                ("grant_type", "refresh_token"),
                ("client_id", "app"),
                ("refresh_token", &rt),
                ("resource", OTHER),
            ])
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(aud(&body), OTHER);
        rt = body["refresh_token"].as_str().unwrap().to_owned();

        let (status, _, body) = s
            .token(&[
                ("grant_type", "refresh_token"),
                ("client_id", "app"),
                ("refresh_token", &rt),
            ])
            .await;
        // Two granted, none named: name one.
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target")),
            "{body}"
        );

        let (status, _, body) = s
            .token(&[
                ("grant_type", "refresh_token"),
                ("client_id", "app"),
                ("refresh_token", &rt),
                ("resource", "https://unknown.example.com/"),
            ])
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target")),
            "{body}"
        );

        // Introspecting the refresh token names its resources.
        let (_, _, i) = s
            .post_form(
                "/introspect",
                &[
                    ("token", &rt),
                    ("client_id", "rs"),
                    ("client_secret", "rs-secret"),
                ],
            )
            .await;
        assert_eq!(i["aud"], serde_json::json!([MCP, OTHER]), "{i}");
    }
}

mod client_credentials {
    use super::*;

    async fn cc(s: &TestServer, resources: &[&str]) -> (u16, serde_json::Value) {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", "svc"),
            ("client_secret", "svc-secret"),
            ("scope", "mcp:tools"),
        ];
        for r in resources {
            form.push(("resource", r));
        }
        let (status, _, body) = s.token(&form).await;
        (status, body)
    }

    #[tokio::test]
    async fn a_service_token_is_for_the_resource_asked_for() {
        let s = setup().await;
        let (status, body) = cc(&s, &[MCP]).await;
        assert_eq!(
            (status, aud(&body)),
            (200, serde_json::json!(MCP)),
            "{body}"
        );
        let (status, body) = cc(&s, &["https://unknown.example.com/"]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target"))
        );
        let (status, body) = cc(&s, &["https://mcp.example.com/mcp#x"]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target"))
        );
        let (status, body) = cc(&s, &[]).await;
        assert_eq!((status, aud(&body)), (200, serde_json::json!(s.base)));
    }
}

mod device {
    use super::*;

    #[tokio::test]
    async fn the_device_grant_carries_its_resource_to_the_token() {
        let s = setup().await;
        let (status, _, body) = s
            .post_form(
                "/device_authorization",
                &[
                    ("client_id", "app"),
                    ("scope", "openid"),
                    ("resource", "https://nope.example/"),
                ],
            )
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target")),
            "{body}"
        );

        let (status, _, r) = s
            .post_form(
                "/device_authorization",
                &[("client_id", "app"), ("scope", "openid"), ("resource", MCP)],
            )
            .await;
        assert_eq!(status, 200, "{r}");
        let mut b = s.browser();
        // The confirmation page names the resource.
        let page = b.get(&format!("{}/device", s.base)).await;
        let mut form = page.hidden_fields();
        form.push(("user_code".into(), r["user_code"].as_str().unwrap().into()));
        form.push(("username".into(), "alice".into()));
        form.push(("password".into(), PASSWORD.into()));
        let confirm = b.post(&format!("{}/device", s.base), &form).await;
        assert!(unescape(&confirm.body).contains(MCP), "{}", confirm.body);
        let mut form = confirm.hidden_fields();
        form.push(("decision".into(), "allow".into()));
        let done = b.post(&format!("{}/device/decision", s.base), &form).await;
        assert!(done.body.contains("Device connected"), "{}", done.body);
        let (status, _, body) = s
            .token(&[
                ("grant_type", DEVICE_CODE_GRANT),
                ("client_id", "app"),
                ("device_code", r["device_code"].as_str().unwrap()),
            ])
            .await;
        assert_eq!(
            (status, aud(&body)),
            (200, serde_json::json!(MCP)),
            "{body}"
        );
    }
}

mod settings {
    use super::*;

    #[tokio::test]
    async fn required_refuses_a_request_without_a_resource() {
        let s = setup_with(|c| c.default_resource = DefaultResource::Required).await;
        let (error, description) = authorize_error(&s, "app", &[]).await;
        assert_eq!(error, "invalid_target", "{description}");
        let (code, v) = code_with(&s, "app", "openid", &[MCP]).await;
        let (status, body) = redeem(&s, "app", &code, &v, &[]).await;
        assert_eq!((status, aud(&body)), (200, serde_json::json!(MCP)));
    }

    #[tokio::test]
    async fn a_default_resource_is_used_when_none_is_asked_for() {
        let s = setup_with(|c| c.default_resource = DefaultResource::Uri(OTHER.into())).await;
        let (code, v) = code_with(&s, "app", "openid", &[]).await;
        let (status, body) = redeem(&s, "app", &code, &v, &[]).await;
        assert_eq!((status, aud(&body)), (200, serde_json::json!(OTHER)));
    }

    #[tokio::test]
    async fn discovery_lists_the_resources_scopes() {
        let s = setup().await;
        let d: serde_json::Value = s
            .http
            .get(s.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let scopes = d["scopes_supported"].as_array().unwrap();
        assert!(
            scopes.contains(&"mcp:tools".into()) && scopes.contains(&"openid".into()),
            "{d}"
        );
        assert!(
            d.get("registration_endpoint").is_none(),
            "registration is off by default"
        );
    }
}

mod consent {
    use super::*;

    #[tokio::test]
    async fn the_consent_page_names_the_resource_and_each_resource_is_asked_for() {
        let s = setup().await;
        s.public_client("asks", &[REDIRECT], false).await;
        let v = CodeVerifier::generate();
        let req = AuthRequest::new("asks", &v).also("resource", OTHER);
        let mut b = s.browser();
        let login = b.get(&req.url(&s.base)).await;
        let mut consent = b.login(&s.base, &login, "alice", PASSWORD).await;
        if consent.status == 303 {
            consent = b
                .get(&format!("{}{}", s.base, consent.location().unwrap()))
                .await;
        }
        let shown = unescape(&consent.body);
        assert!(
            shown.contains(&format!("API at {OTHER} (<code>{OTHER}</code>)")),
            "{shown}"
        );
        let done = b.decide(&s.base, &consent, "allow").await;
        assert!(done.redirect_params().contains_key("code"));

        // Approved for OTHER: asked again for MCP, not again for OTHER.
        let again = b.get(&req.url(&s.base)).await;
        assert_eq!(again.status, 303, "{}", again.body);
        let req = AuthRequest::new("asks", &v).also("resource", MCP);
        let page = b.get(&req.url(&s.base)).await;
        assert!(
            page.body.contains("name=\"decision\"") && unescape(&page.body).contains(MCP),
            "{}",
            page.body
        );
    }
}
