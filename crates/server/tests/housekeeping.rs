//! Expired codes, tokens, sessions and used `jti`s are swept, so the
//! database stops growing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[tokio::test]
async fn a_sweep_removes_what_has_expired_and_keeps_what_lives() {
    let s = TestServer::start().await;
    s.public_client("app", &[REDIRECT], true).await;
    s.user("alice").await;
    let old = tokens_for(&s, "app", "alice", "openid offline_access").await;
    let nothing = s.provider.sweep().await.unwrap();
    assert_eq!(nothing, proofkey_core::model::SweepCounts::default());

    // 31 days: the first flow's code, access token, refresh family and
    // session are all past their lifetimes.
    s.clock.advance(31 * 86_400);
    let fresh = tokens_for(&s, "app", "alice", "openid offline_access").await;
    let swept = s.provider.sweep().await.unwrap();
    assert!(swept.codes >= 1, "{swept:?}");
    assert!(swept.access_tokens >= 1, "{swept:?}");
    assert_eq!(swept.refresh_tokens, 1, "{swept:?}");
    assert!(swept.sessions >= 1, "{swept:?}");

    // What is alive still works.
    let (status, _, _) = s
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", "app"),
            ("refresh_token", fresh["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = s
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", "app"),
            ("refresh_token", old["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(status, 400);
}

/// Used codes are kept `code_retention` past expiry (an hour by default), so
/// that a late replay still revokes the tokens issued from them; with
/// `code_retention = 0s` they go at the first sweep after expiry.
#[tokio::test]
async fn codes_are_kept_for_their_retention_after_expiry() {
    for (retention, kept_an_hour) in [(None, true), (Some(0), false)] {
        let s = TestServer::start_with(|c| {
            if let Some(secs) = retention {
                c.code_retention = std::time::Duration::from_secs(secs);
            }
        })
        .await;
        s.public_client("app", &[REDIRECT], true).await;
        s.user("alice").await;
        let body = tokens_for(&s, "app", "alice", "openid").await;
        assert!(body["access_token"].is_string());
        // Past the code's 60 seconds, within the hour.
        s.clock.advance(120);
        let swept = s.provider.sweep().await.unwrap();
        assert_eq!(swept.codes, u64::from(!kept_an_hour), "{retention:?}");
        // Past the hour: gone in either case.
        s.clock.advance(3600);
        let swept = s.provider.sweep().await.unwrap();
        assert_eq!(swept.codes, u64::from(kept_an_hour), "{retention:?}");
    }
}
