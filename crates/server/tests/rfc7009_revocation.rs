//! RFC 7009 revocation, RFC 7662 introspection, and their effect on
//! userinfo and refresh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use proofkey_core::model::ClientKind;

async fn setup() -> TestServer {
    let s = TestServer::start().await;
    s.public_client("app", &[REDIRECT], true).await;
    s.public_client("other", &[REDIRECT], true).await;
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

async fn introspect(s: &TestServer, token: &str) -> serde_json::Value {
    let (status, headers, body) = s
        .post_form(
            "/introspect",
            &[
                ("token", token),
                ("client_id", "rs"),
                ("client_secret", "rs-secret"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    body
}

async fn revoke(
    s: &TestServer,
    client: &str,
    token: &str,
    hint: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut form = vec![("token", token), ("client_id", client)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    let (status, _, body) = s.post_form("/revoke", &form).await;
    (status, body)
}

async fn userinfo_status(s: &TestServer, at: &str) -> u16 {
    s.http
        .get(s.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

mod revocation {
    use super::*;

    #[tokio::test]
    async fn discovery_advertises_the_endpoints() {
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
        assert_eq!(d["revocation_endpoint"], s.url("/revoke"));
        assert_eq!(d["introspection_endpoint"], s.url("/introspect"));
    }

    #[tokio::test]
    async fn revoking_an_access_token_shows_in_introspection_and_userinfo() {
        let s = setup().await;
        let body = tokens_for(&s, "app", "alice", "openid").await;
        let at = body["access_token"].as_str().unwrap();
        assert_eq!(introspect(&s, at).await["active"], true);
        assert_eq!(userinfo_status(&s, at).await, 200);
        let (status, _) = revoke(&s, "app", at, Some("access_token")).await;
        assert_eq!(status, 200);
        assert_eq!(
            introspect(&s, at).await,
            serde_json::json!({"active": false})
        );
        assert_eq!(userinfo_status(&s, at).await, 401);
    }

    #[tokio::test]
    async fn revoking_a_refresh_token_revokes_the_access_tokens_of_its_grant() {
        let s = setup().await;
        let body = tokens_for(&s, "app", "alice", "openid offline_access").await;
        let at = body["access_token"].as_str().unwrap();
        let rt = body["refresh_token"].as_str().unwrap();
        // Hint deliberately wrong: honoured as a hint, not trusted.
        let (status, _) = revoke(&s, "app", rt, Some("access_token")).await;
        assert_eq!(status, 200);
        assert_eq!(userinfo_status(&s, at).await, 401);
        assert_eq!(
            introspect(&s, rt).await,
            serde_json::json!({"active": false})
        );
        let (status, _, b) = s
            .token(&[
                ("grant_type", "refresh_token"),
                ("client_id", "app"),
                ("refresh_token", rt),
            ])
            .await;
        assert_eq!((status, b["error"].as_str()), (400, Some("invalid_grant")));
    }

    #[tokio::test]
    async fn unknown_and_already_revoked_tokens_give_200() {
        let s = setup().await;
        assert_eq!(revoke(&s, "app", "no-such-token", None).await.0, 200);
        assert_eq!(
            revoke(&s, "app", "a.b.c", Some("refresh_token")).await.0,
            200
        );
        let body = tokens_for(&s, "app", "alice", "openid").await;
        let at = body["access_token"].as_str().unwrap();
        assert_eq!(revoke(&s, "app", at, None).await.0, 200);
        assert_eq!(revoke(&s, "app", at, None).await.0, 200);
    }

    #[tokio::test]
    async fn a_client_cannot_revoke_another_clients_token() {
        let s = setup().await;
        let body = tokens_for(&s, "app", "alice", "openid offline_access").await;
        let at = body["access_token"].as_str().unwrap();
        let rt = body["refresh_token"].as_str().unwrap();
        for token in [at, rt] {
            let (status, b) = revoke(&s, "other", token, None).await;
            assert_eq!(
                (status, b["error"].as_str()),
                (400, Some("unauthorized_client"))
            );
            assert_eq!(introspect(&s, token).await["active"], true);
        }
    }

    #[tokio::test]
    async fn revocation_requires_client_authentication_and_a_token() {
        let s = setup().await;
        let (status, _, b) = s.post_form("/revoke", &[("token", "x")]).await;
        assert_eq!((status, b["error"].as_str()), (401, Some("invalid_client")));
        let (status, _, b) = s
            .post_form(
                "/revoke",
                &[
                    ("token", "x"),
                    ("client_id", "rs"),
                    ("client_secret", "wrong"),
                ],
            )
            .await;
        assert_eq!((status, b["error"].as_str()), (401, Some("invalid_client")));
        let (status, _, b) = s.post_form("/revoke", &[("client_id", "app")]).await;
        assert_eq!(
            (status, b["error"].as_str()),
            (400, Some("invalid_request"))
        );
    }
}

mod introspection {
    use super::*;

    #[tokio::test]
    async fn an_active_access_token_gives_its_claims() {
        let s = setup().await;
        let body = tokens_for(&s, "app", "alice", "openid profile").await;
        let v = introspect(&s, body["access_token"].as_str().unwrap()).await;
        assert_eq!(v["active"], true);
        assert_eq!(v["scope"], "openid profile");
        assert_eq!(v["client_id"], "app");
        assert_eq!(v["sub"], "sub-alice");
        assert_eq!(v["username"], "alice");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["iss"], s.base);
        assert!(v["exp"].is_i64() && v["iat"].is_i64() && v["jti"].is_string());
    }

    #[tokio::test]
    async fn an_active_refresh_token_is_active() {
        let s = setup().await;
        let body = tokens_for(&s, "app", "alice", "openid offline_access").await;
        let v = introspect(&s, body["refresh_token"].as_str().unwrap()).await;
        assert_eq!(v["active"], true);
        assert_eq!(v["client_id"], "app");
    }

    #[tokio::test]
    async fn unknown_expired_and_garbage_tokens_are_exactly_inactive() {
        let s = setup().await;
        let body = tokens_for(&s, "app", "alice", "openid").await;
        let at = body["access_token"].as_str().unwrap();
        for token in ["unknown", "a.b.c"] {
            assert_eq!(
                introspect(&s, token).await,
                serde_json::json!({"active": false})
            );
        }
        // Verified once (and so remembered), it still expires.
        assert_eq!(introspect(&s, at).await["active"], true);
        s.clock.advance(601);
        assert_eq!(
            introspect(&s, at).await,
            serde_json::json!({"active": false})
        );
    }

    #[tokio::test]
    async fn a_token_altered_after_its_original_was_verified_is_inactive() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let s = setup().await;
        let body = tokens_for(&s, "app", "alice", "openid").await;
        let at = body["access_token"].as_str().unwrap();
        assert_eq!(introspect(&s, at).await["active"], true);
        assert_eq!(userinfo_status(&s, at).await, 200);
        let parts: Vec<&str> = at.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        claims["scope"] = "openid profile email admin".into();
        let widened = format!(
            "{}.{}.{}",
            parts[0],
            b64.encode(claims.to_string()),
            parts[2]
        );
        let mut sig = b64.decode(parts[2]).unwrap();
        sig[0] ^= 1;
        let resigned = format!("{}.{}.{}", parts[0], parts[1], b64.encode(sig));
        for token in [widened, resigned] {
            assert_eq!(
                introspect(&s, &token).await,
                serde_json::json!({"active": false})
            );
            assert_eq!(userinfo_status(&s, &token).await, 401);
        }
    }

    #[tokio::test]
    async fn introspection_requires_an_authenticated_confidential_client() {
        let s = setup().await;
        let body = tokens_for(&s, "app", "alice", "openid").await;
        let at = body["access_token"].as_str().unwrap();
        for form in [
            vec![("token", at)],
            vec![("token", at), ("client_id", "app")],
            vec![
                ("token", at),
                ("client_id", "rs"),
                ("client_secret", "wrong"),
            ],
        ] {
            let (status, headers, b) = s.post_form("/introspect", &form).await;
            assert_eq!(
                (status, b["error"].as_str()),
                (401, Some("invalid_client")),
                "{form:?}"
            );
            assert!(headers.contains_key("www-authenticate"));
        }
        let resp = s
            .http
            .post(s.url("/introspect"))
            .basic_auth("rs", Some("rs-secret"))
            .form(&[("token", at)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}

mod client_credentials {
    use super::*;

    async fn cc_setup() -> TestServer {
        let s = setup().await;
        s.client_with("svc", ClientKind::Confidential, &[REDIRECT], |c| {
            c.grant_types = vec!["client_credentials".into()];
            c.scopes = vec!["read".into(), "write".into(), "openid".into()];
        })
        .await;
        let hash = s
            .provider
            .hasher()
            .hash(&proofkey_core::secret::ClientSecret::new("svc-secret"));
        s.store.set_client_secret("svc", &hash, None).await.unwrap();
        s
    }

    async fn cc(s: &TestServer, scope: Option<&str>) -> (u16, serde_json::Value) {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(sc) = scope {
            form.push(("scope", sc));
        }
        let resp = s
            .http
            .post(s.url("/token"))
            .basic_auth("svc", Some("svc-secret"))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    async fn cc_with(s: &TestServer, secret: &str) -> u16 {
        s.http
            .post(s.url("/token"))
            .basic_auth("svc", Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// A secret rotated with an overlap: both secrets work until the
    /// overlap ends, then only the new one; rotated without, the old one
    /// stops at once (RFC 6749 §2.3.1 with `rotate-secret --overlap`).
    #[tokio::test]
    async fn a_rotated_secret_overlaps_only_as_long_as_asked() {
        use proofkey_core::Clock as _;
        let s = cc_setup().await;
        let hash = |v: &str| {
            s.provider
                .hasher()
                .hash(&proofkey_core::secret::ClientSecret::new(v))
        };
        let until = s.clock.now() + 3600;
        s.store
            .set_client_secret("svc", &hash("svc-secret-2"), Some(until))
            .await
            .unwrap();
        s.clock.advance(6); // past the client cache
        assert_eq!(
            cc_with(&s, "svc-secret").await,
            200,
            "the old one, within the overlap"
        );
        assert_eq!(cc_with(&s, "svc-secret-2").await, 200, "the new one");
        assert_eq!(cc_with(&s, "guess").await, 401);
        s.clock.advance(3600);
        assert_eq!(cc_with(&s, "svc-secret").await, 401, "the overlap is over");
        assert_eq!(cc_with(&s, "svc-secret-2").await, 200);
        s.store
            .set_client_secret("svc", &hash("svc-secret-3"), None)
            .await
            .unwrap();
        s.clock.advance(6);
        assert_eq!(cc_with(&s, "svc-secret-2").await, 401, "no overlap asked");
        assert_eq!(cc_with(&s, "svc-secret-3").await, 200);
    }

    #[tokio::test]
    async fn a_confidential_client_gets_a_token_for_its_registered_scopes() {
        let s = cc_setup().await;
        let (status, body) = cc(&s, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["scope"], "read write");
        assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
        let v = introspect(&s, body["access_token"].as_str().unwrap()).await;
        assert_eq!(v["sub"], "svc");
        assert_eq!(v["client_id"], "svc");
        let (status, body) = cc(&s, Some("read")).await;
        assert_eq!((status, body["scope"].as_str()), (200, Some("read")));
    }

    #[tokio::test]
    async fn scopes_beyond_the_registration_or_user_scopes_are_invalid_scope() {
        let s = cc_setup().await;
        for scope in ["admin", "read admin", "openid"] {
            let (status, body) = cc(&s, Some(scope)).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_scope")),
                "{scope}"
            );
        }
    }

    #[tokio::test]
    async fn public_clients_and_clients_without_the_grant_are_unauthorized_client() {
        let s = cc_setup().await;
        s.client_with("pub-cc", ClientKind::Public, &[REDIRECT], |c| {
            c.grant_types = vec!["client_credentials".into()];
        })
        .await;
        let (status, _, b) = s
            .token(&[
                ("grant_type", "client_credentials"),
                ("client_id", "pub-cc"),
            ])
            .await;
        assert_eq!(
            (status, b["error"].as_str()),
            (400, Some("unauthorized_client"))
        );
        let resp = s
            .http
            .post(s.url("/token"))
            .basic_auth("rs", Some("rs-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let b: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(b["error"], "unauthorized_client");
    }
}
