//! OAuth 2.1 §4.3, RFC 6749 §6, RFC 9700 §4.14: refresh tokens, rotation,
//! reuse detection, lifetimes, scope narrowing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use proofkey_core::model::ClientKind;

const DAY: i64 = 86_400;

async fn setup() -> TestServer {
    let s = TestServer::start().await;
    s.public_client("app", &[REDIRECT], true).await;
    s.user("alice").await;
    s
}

async fn refresh(
    s: &TestServer,
    client: &str,
    token: &str,
    scope: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", client),
        ("refresh_token", token),
    ];
    if let Some(sc) = scope {
        form.push(("scope", sc));
    }
    let (status, headers, body) = s.token(&form).await;
    assert_eq!(headers["cache-control"], "no-store");
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

fn rt(body: &serde_json::Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned()
}

mod issuance {
    use super::*;

    #[tokio::test]
    async fn issued_with_offline_access() {
        let s = setup().await;
        let body = tokens_for(&s, "app", "alice", "openid offline_access").await;
        // A clock part (13 hex digits) and 256 random bits.
        assert_eq!(rt(&body).len(), 56);
    }

    /// Refresh tokens issued before they carried a clock part (43
    /// characters, stored under the SHA-256 of the whole token) go on
    /// working, and rotate into the new kind.
    #[tokio::test]
    async fn a_token_of_the_older_kind_still_refreshes() {
        let s = setup().await;
        let body = tokens_for(&s, "app", "alice", "openid offline_access").await;
        let hash = proofkey_core::secret::hash_token(&rt(&body));
        let older = proofkey_core::secret::random_token(32).unwrap();
        assert_eq!(older.len(), 43);
        // A row of the family under the older token's storage form.
        s.sql(&format!(
            "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, user_id, scope, auth_time,
               issued_at, family_expires_at, idle_expires_at)
             SELECT '{}', grant_id, client_id, user_id, scope, auth_time, issued_at,
               family_expires_at, idle_expires_at
             FROM refresh_tokens WHERE token_hash = '{hash}'",
            proofkey_core::secret::hash_token(&older)
        ))
        .await;
        let (status, refreshed) = refresh(&s, "app", &older, None).await;
        assert_eq!(status, 200, "{refreshed}");
        assert_eq!(rt(&refreshed).len(), 56);
        let (status, again) = refresh(&s, "app", &older, None).await;
        assert_eq!(
            (status, again["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }

    #[tokio::test]
    async fn not_issued_without_offline_access() {
        let s = setup().await;
        let body = tokens_for(&s, "app", "alice", "openid").await;
        assert!(body.get("refresh_token").is_none());
    }

    #[tokio::test]
    async fn issued_without_offline_access_when_the_client_is_registered_so() {
        let s = setup().await;
        s.client_with("always", ClientKind::Public, &[REDIRECT], |c| {
            c.skip_consent = true;
            c.always_issue_refresh_token = true;
        })
        .await;
        let body = tokens_for(&s, "always", "alice", "openid").await;
        assert!(body["refresh_token"].is_string());
    }

    #[tokio::test]
    async fn not_issued_to_a_client_without_the_refresh_token_grant() {
        let s = setup().await;
        s.client_with("norefresh", ClientKind::Public, &[REDIRECT], |c| {
            c.skip_consent = true;
            c.grant_types = vec!["authorization_code".into()];
        })
        .await;
        let body = tokens_for(&s, "norefresh", "alice", "openid offline_access").await;
        assert!(body.get("refresh_token").is_none());
        let (status, body) = refresh(&s, "norefresh", "anything", None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("unauthorized_client"))
        );
    }
}

mod rotation {
    use super::*;

    #[tokio::test]
    async fn every_refresh_rotates_the_token_of_a_public_client() {
        let s = setup().await;
        let first = tokens_for(&s, "app", "alice", "openid offline_access").await;
        let (status, second) = refresh(&s, "app", &rt(&first), None).await;
        assert_eq!(status, 200, "{second}");
        assert_ne!(rt(&second), rt(&first));
        assert!(second["access_token"].is_string());
        assert!(second["id_token"].is_string());
        assert_eq!(second["scope"], "openid offline_access");
        let (status, third) = refresh(&s, "app", &rt(&second), None).await;
        assert_eq!(status, 200, "{third}");
    }

    #[tokio::test]
    async fn reuse_of_a_rotated_token_is_invalid_grant_and_revokes_the_family() {
        let s = setup().await;
        let first = tokens_for(&s, "app", "alice", "openid offline_access").await;
        let (_, second) = refresh(&s, "app", &rt(&first), None).await;
        let at1 = first["access_token"].as_str().unwrap();
        let at2 = second["access_token"].as_str().unwrap();
        assert_eq!(userinfo_status(&s, at2).await, 200);

        let (status, body) = refresh(&s, "app", &rt(&first), None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );

        // The whole family is dead: the current refresh token and every access token.
        let (status, body) = refresh(&s, "app", &rt(&second), None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert_eq!(userinfo_status(&s, at1).await, 401);
        assert_eq!(userinfo_status(&s, at2).await, 401);
    }

    #[tokio::test]
    async fn reuse_does_not_touch_other_families() {
        let s = setup().await;
        let a = tokens_for(&s, "app", "alice", "openid offline_access").await;
        let b = tokens_for(&s, "app", "alice", "openid offline_access").await;
        refresh(&s, "app", &rt(&a), None).await;
        refresh(&s, "app", &rt(&a), None).await; // reuse: family a revoked
        let (status, _) = refresh(&s, "app", &rt(&b), None).await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn the_rotation_race_has_exactly_one_winner() {
        let s = setup().await;
        let first = tokens_for(&s, "app", "alice", "openid offline_access").await;
        let token = rt(&first);
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let http = s.http.clone();
                let url = s.url("/token");
                let token = token.clone();
                tokio::spawn(async move {
                    http.post(url)
                        .form(&[
                            ("grant_type", "refresh_token"),
                            ("client_id", "app"),
                            ("refresh_token", &token),
                        ])
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        let mut statuses = vec![];
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        assert_eq!(
            statuses.iter().filter(|c| **c == 200).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|c| **c == 400).count(),
            15,
            "{statuses:?}"
        );
    }

    #[tokio::test]
    async fn a_confidential_client_may_keep_non_rotating_tokens() {
        let s = setup().await;
        s.client_with("conf", ClientKind::Confidential, &[REDIRECT], |c| {
            c.skip_consent = true;
            c.rotate_refresh_tokens = false;
            c.secret_hash = None;
        })
        .await;
        // Give it a secret through the provider's hasher.
        let hash = s
            .provider
            .hasher()
            .hash(&proofkey_core::secret::ClientSecret::new("conf-secret"));
        s.store
            .set_client_secret("conf", &hash, None)
            .await
            .unwrap();
        let verifier = proofkey_pkce::CodeVerifier::generate();
        let mut req = AuthRequest::new("conf", &verifier);
        req.scope = "openid offline_access".into();
        let page = s.browser().authorize(&s.base, &req, "alice").await;
        let code = code_of(&page, &s.base, &req.state);
        let (_, _, body) = s
            .token(&[
                ("grant_type", "authorization_code"),
                ("client_id", "conf"),
                ("client_secret", "conf-secret"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier.secret()),
            ])
            .await;
        let token = rt(&body);
        for _ in 0..3 {
            let (status, _, b) = s
                .token(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", "conf"),
                    ("client_secret", "conf-secret"),
                    ("refresh_token", &token),
                ])
                .await;
            assert_eq!(status, 200, "{b}");
            assert!(
                b.get("refresh_token").is_none(),
                "the same token stays valid"
            );
        }
    }

    #[tokio::test]
    async fn a_refresh_token_of_another_client_is_invalid_grant() {
        let s = setup().await;
        s.public_client("other", &[REDIRECT], true).await;
        let body = tokens_for(&s, "app", "alice", "openid offline_access").await;
        let (status, b) = refresh(&s, "other", &rt(&body), None).await;
        assert_eq!((status, b["error"].as_str()), (400, Some("invalid_grant")));
    }

    #[tokio::test]
    async fn an_unknown_or_missing_refresh_token_is_refused() {
        let s = setup().await;
        let (status, b) = refresh(&s, "app", "not-a-token", None).await;
        assert_eq!((status, b["error"].as_str()), (400, Some("invalid_grant")));
        let (status, _, b) = s
            .token(&[("grant_type", "refresh_token"), ("client_id", "app")])
            .await;
        assert_eq!(
            (status, b["error"].as_str()),
            (400, Some("invalid_request"))
        );
    }
}

mod scope {
    use super::*;

    #[tokio::test]
    async fn scope_can_be_narrowed_on_refresh() {
        let s = setup().await;
        let body = tokens_for(&s, "app", "alice", "openid profile offline_access").await;
        let (status, narrow) = refresh(&s, "app", &rt(&body), Some("openid")).await;
        assert_eq!(status, 200, "{narrow}");
        assert_eq!(narrow["scope"], "openid");
        // The family keeps the original scope: the next refresh may ask for it all.
        let (status, back) = refresh(&s, "app", &rt(&narrow), Some("openid profile")).await;
        assert_eq!(status, 200, "{back}");
        assert_eq!(back["scope"], "openid profile");
    }

    #[tokio::test]
    async fn scope_can_never_be_widened() {
        let s = setup().await;
        let body = tokens_for(&s, "app", "alice", "openid offline_access").await;
        let (status, b) = refresh(&s, "app", &rt(&body), Some("openid email")).await;
        assert_eq!((status, b["error"].as_str()), (400, Some("invalid_scope")));
    }
}

mod lifetimes {
    use super::*;

    #[tokio::test]
    async fn an_idle_token_dies_after_seven_days() {
        let s = setup().await;
        let body = tokens_for(&s, "app", "alice", "openid offline_access").await;
        s.clock.advance(7 * DAY + 1);
        let (status, b) = refresh(&s, "app", &rt(&body), None).await;
        assert_eq!((status, b["error"].as_str()), (400, Some("invalid_grant")));
    }

    #[tokio::test]
    async fn use_keeps_a_token_alive_until_the_absolute_thirty_days() {
        let s = setup().await;
        let mut token = rt(&tokens_for(&s, "app", "alice", "openid offline_access").await);
        for _ in 0..4 {
            s.clock.advance(6 * DAY);
            let (status, b) = refresh(&s, "app", &token, None).await;
            assert_eq!(status, 200, "{b}");
            token = rt(&b);
        }
        // Day 24 now; day 30 is the end whatever the use.
        s.clock.advance(6 * DAY + 1);
        let (status, b) = refresh(&s, "app", &token, None).await;
        assert_eq!((status, b["error"].as_str()), (400, Some("invalid_grant")));
    }

    #[tokio::test]
    async fn lifetimes_are_configurable() {
        let s = TestServer::start_with(|c| {
            c.refresh_token_idle_lifetime = std::time::Duration::from_secs(60);
        })
        .await;
        s.public_client("app", &[REDIRECT], true).await;
        s.user("alice").await;
        let body = tokens_for(&s, "app", "alice", "openid offline_access").await;
        s.clock.advance(61);
        let (status, _) = refresh(&s, "app", &rt(&body), None).await;
        assert_eq!(status, 400);
    }
}
