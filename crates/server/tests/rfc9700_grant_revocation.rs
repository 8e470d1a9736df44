//! RFC 9700 §4.14.2 (refresh token reuse) and RFC 6749 §4.1.2 / RFC 9700
//! §4.2.4 (code replay), tried as an attacker would: two requests with the
//! same refresh token or code released together, 200 rounds each, on both
//! backends. After every round, every token that round produced is dead
//! everywhere: `/userinfo` refuses its access tokens, introspection says
//! they are inactive, and its refresh tokens refresh nothing. Zero
//! survivors, whoever won.
//!
//! Then faults: an insert that fails inside the issuance transaction (a
//! trigger in the database, on both backends) leaves what was presented as
//! it was, so that the client's retry succeeds and the family lives. And
//! the `refresh_token_reuse_interval`: inside it a lost answer's retry
//! works and the unseen child dies; outside it the family dies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use proofkey_core::model::{ClientKind, DEVICE_CODE_GRANT};
use proofkey_core::Config;
use serde_json::Value;
use tokio::sync::Barrier;

const ROUNDS: usize = 200;
const RS_SECRET: &str = "rs-secret-0123456789";

/// A server on one backend, with a public client "app" (skip consent,
/// code + refresh + device grants), a confidential client "rs" that may
/// introspect, and the user alice. Its PostgreSQL database is dropped with
/// it.
struct Backend {
    s: TestServer,
    pg: Option<String>,
}

impl Backend {
    async fn sqlite(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::setup(TestServer::start_with(tweak).await, None).await
    }

    async fn postgres(tweak: impl FnOnce(&mut Config)) -> Self {
        let db = fresh_postgres_db().await;
        let s = TestServer::start_on(&format!("{}/{db}", pg_url()), tweak, None).await;
        Self::setup(s, Some(db)).await
    }

    async fn setup(s: TestServer, pg: Option<String>) -> Self {
        s.client_with("app", ClientKind::Public, &[REDIRECT], |c| {
            c.skip_consent = true;
            c.grant_types.push(DEVICE_CODE_GRANT.into());
        })
        .await;
        s.client(
            "rs",
            ClientKind::Confidential,
            &["https://rs.example/cb"],
            true,
            "RS256",
            Some(RS_SECRET),
        )
        .await;
        s.user("alice").await;
        Backend { s, pg }
    }

    async fn stop(self) {
        let Backend { s, pg } = self;
        drop(s);
        if let Some(db) = pg {
            drop_postgres_db(&db).await;
        }
    }

    /// Makes every insert into `table` fail inside the transaction that
    /// attempts it (after that transaction's consumption or rotation).
    async fn break_inserts(&self, table: &str) {
        self.s
            .sql(&if self.pg.is_some() {
                format!(
                    "CREATE FUNCTION fail_{table}() RETURNS trigger LANGUAGE plpgsql AS
                     $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$;
                     CREATE TRIGGER fail_{table} BEFORE INSERT ON {table}
                     FOR EACH ROW EXECUTE FUNCTION fail_{table}();"
                )
            } else {
                format!(
                    "CREATE TRIGGER fail_{table} BEFORE INSERT ON {table}
                     BEGIN SELECT RAISE(ABORT, 'injected fault'); END;"
                )
            })
            .await;
    }

    async fn heal(&self, table: &str) {
        self.s
            .sql(&if self.pg.is_some() {
                format!("DROP TRIGGER fail_{table} ON {table}; DROP FUNCTION fail_{table}();")
            } else {
                format!("DROP TRIGGER fail_{table}")
            })
            .await;
    }
}

fn refresh_form(token: &str) -> Vec<(String, String)> {
    owned(&[
        ("grant_type", "refresh_token"),
        ("client_id", "app"),
        ("refresh_token", token),
    ])
}

fn code_form(code: &str, verifier: &str) -> Vec<(String, String)> {
    owned(&[
        ("grant_type", "authorization_code"),
        ("client_id", "app"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ])
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn post_token(s: &TestServer, form: &[(String, String)]) -> (u16, Value) {
    let r = s
        .http
        .post(s.url("/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Two token requests released together.
async fn twice_at_once(s: &TestServer, form: Vec<(String, String)>) -> [(u16, Value); 2] {
    let barrier = Arc::new(Barrier::new(2));
    let go = |form: Vec<(String, String)>| {
        let (http, url, barrier) = (s.http.clone(), s.url("/token"), Arc::clone(&barrier));
        tokio::spawn(async move {
            barrier.wait().await;
            let r = http.post(url).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
        })
    };
    let (a, b) = (go(form.clone()), go(form));
    [a.await.unwrap(), b.await.unwrap()]
}

/// A code for alice from a browser that is already signed in (or signs
/// in now), and its verifier.
async fn code(s: &TestServer, b: &mut Browser) -> (String, proofkey_pkce::CodeVerifier) {
    let verifier = proofkey_pkce::CodeVerifier::generate();
    let mut req = AuthRequest::new("app", &verifier);
    req.scope = "openid offline_access".into();
    let page = b.authorize(&s.base, &req, "alice").await;
    (code_of(&page, &s.base, &req.state), verifier)
}

/// A fresh family: the token response of a code exchange.
async fn family(s: &TestServer, b: &mut Browser) -> Value {
    let (code, verifier) = code(s, b).await;
    let (status, body) = post_token(s, &code_form(&code, verifier.secret())).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn access(body: &Value) -> Option<&str> {
    body["access_token"].as_str()
}

fn refresh(body: &Value) -> Option<&str> {
    body["refresh_token"].as_str()
}

/// Whether an access token is accepted anywhere: at `/userinfo`, or as
/// active by introspection (both must agree).
async fn access_lives(s: &TestServer, token: &str) -> bool {
    let userinfo = s
        .http
        .get(s.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    let introspected: Value = s
        .http
        .post(s.url("/introspect"))
        .basic_auth("rs", Some(RS_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let active = introspected["active"] == true;
    assert_eq!(
        userinfo == 200,
        active,
        "userinfo {userinfo}, {introspected}"
    );
    if !active {
        assert_eq!(introspected, serde_json::json!({"active": false}));
        assert_eq!(userinfo, 401);
    }
    active
}

/// Whether a refresh token still refreshes. (Presenting it is itself a
/// use: only ask of tokens that are meant to be dead, or last.)
async fn refresh_lives(s: &TestServer, token: &str) -> bool {
    let (status, body) = post_token(s, &refresh_form(token)).await;
    if status != 200 {
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    status == 200
}

/// Every token of `bodies` is dead everywhere; the failure names the round.
async fn no_survivor(s: &TestServer, round: usize, bodies: &[&Value]) {
    for body in bodies {
        if let Some(at) = access(body) {
            assert!(
                !access_lives(s, at).await,
                "round {round}: an access token survived"
            );
        }
        if let Some(rt) = refresh(body) {
            assert!(
                !refresh_lives(s, rt).await,
                "round {round}: a refresh token survived"
            );
        }
    }
}

// ---------------------------------------------------------------------
// Races.

/// Two refreshes of the same token at once: one rotates, the other is
/// reuse and revokes the family, whatever the order in which their
/// statements ran. Nothing of the family survives.
async fn two_concurrent_refreshes_leave_no_survivor(backend: Backend) {
    let s = &backend.s;
    let mut b = s.browser();
    for round in 0..ROUNDS {
        let first = family(s, &mut b).await;
        let answers = twice_at_once(s, refresh_form(refresh(&first).unwrap())).await;
        let won = answers.iter().filter(|(st, _)| *st == 200).count();
        assert_eq!(won, 1, "round {round}: {answers:?}");
        let lost = answers.iter().find(|(st, _)| *st != 200).unwrap();
        assert_eq!(lost.1["error"], "invalid_grant", "round {round}");
        no_survivor(s, round, &[&first, &answers[0].1, &answers[1].1]).await;
    }
    backend.stop().await;
}

/// Two redemptions of the same code at once: one gets tokens, the other is
/// a replay and revokes its grant. Nothing issued from the code survives.
async fn two_concurrent_code_redemptions_leave_no_survivor(backend: Backend) {
    let s = &backend.s;
    let mut b = s.browser();
    for round in 0..ROUNDS {
        let (code, verifier) = code(s, &mut b).await;
        let answers = twice_at_once(s, code_form(&code, verifier.secret())).await;
        let won = answers.iter().filter(|(st, _)| *st == 200).count();
        assert_eq!(won, 1, "round {round}: {answers:?}");
        let lost = answers.iter().find(|(st, _)| *st != 200).unwrap();
        assert_eq!(lost.1["error"], "invalid_grant", "round {round}");
        no_survivor(s, round, &[&answers[0].1, &answers[1].1]).await;
    }
    backend.stop().await;
}

// ---------------------------------------------------------------------
// Faults inside the issuance transaction.

/// The new tokens cannot be stored: the client gets a 5xx, its refresh
/// token is not spent, the retry succeeds, and the family lives on.
async fn a_failed_refresh_leaves_the_token_and_the_family_alive(backend: Backend) {
    let s = &backend.s;
    let mut b = s.browser();
    let first = family(s, &mut b).await;
    let token = refresh(&first).unwrap();
    backend.break_inserts("access_tokens").await;
    let (status, body) = post_token(s, &refresh_form(token)).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"], "server_error");
    backend.heal("access_tokens").await;
    let (status, second) = post_token(s, &refresh_form(token)).await;
    assert_eq!(status, 200, "the retry is not reuse: {second}");
    assert!(
        access_lives(s, access(&first).unwrap()).await,
        "the family lives"
    );
    assert!(access_lives(s, access(&second).unwrap()).await);
    assert!(refresh_lives(s, refresh(&second).unwrap()).await);
    backend.stop().await;
}

/// The tokens of a code exchange cannot be stored: the code is not spent,
/// and the retry (same code, same verifier) gets the tokens.
async fn a_failed_code_redemption_leaves_the_code_redeemable(backend: Backend) {
    let s = &backend.s;
    let mut b = s.browser();
    let (code, verifier) = code(s, &mut b).await;
    backend.break_inserts("refresh_tokens").await;
    let (status, body) = post_token(s, &code_form(&code, verifier.secret())).await;
    assert_eq!(status, 500, "{body}");
    backend.heal("refresh_tokens").await;
    let (status, tokens) = post_token(s, &code_form(&code, verifier.secret())).await;
    assert_eq!(status, 200, "the retry is not a replay: {tokens}");
    assert!(access_lives(s, access(&tokens).unwrap()).await);
    assert!(refresh_lives(s, refresh(&tokens).unwrap()).await);
    backend.stop().await;
}

/// The tokens of an approved device code cannot be stored: the next poll
/// gets them.
async fn a_failed_device_redemption_leaves_the_device_code_redeemable(backend: Backend) {
    let s = &backend.s;
    let (status, _, started) = s
        .post_form(
            "/device_authorization",
            &[("client_id", "app"), ("scope", "openid offline_access")],
        )
        .await;
    assert_eq!(status, 200, "{started}");
    let mut b = s.browser();
    user_decides(s, &mut b, started["user_code"].as_str().unwrap(), "allow").await;
    let poll = owned(&[
        ("grant_type", DEVICE_CODE_GRANT),
        ("client_id", "app"),
        ("device_code", started["device_code"].as_str().unwrap()),
    ]);
    backend.break_inserts("access_tokens").await;
    let (status, body) = post_token(s, &poll).await;
    assert_eq!(status, 500, "{body}");
    backend.heal("access_tokens").await;
    // The next poll, after the interval.
    s.clock.advance(5);
    let (status, tokens) = post_token(s, &poll).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(access_lives(s, access(&tokens).unwrap()).await);
    let (status, again) = post_token(s, &poll).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    backend.stop().await;
}

// ---------------------------------------------------------------------
// The reuse interval.

fn thirty_seconds(c: &mut Config) {
    c.refresh_token_reuse_interval = Duration::from_secs(30);
}

/// A lost answer: the client presents the token it just rotated again
/// within the interval, before using the new one. It gets a fresh pair;
/// the lost pair dies; the family lives.
async fn inside_the_reuse_interval_the_retry_works_and_the_unseen_child_dies(backend: Backend) {
    let s = &backend.s;
    let mut b = s.browser();
    let first = family(s, &mut b).await;
    let token = refresh(&first).unwrap();
    let (status, lost) = post_token(s, &refresh_form(token)).await;
    assert_eq!(status, 200, "{lost}");
    s.clock.advance(20);
    let (status, retry) = post_token(s, &refresh_form(token)).await;
    assert_eq!(status, 200, "the retry within 30 s works: {retry}");
    assert!(
        !access_lives(s, access(&lost).unwrap()).await,
        "the lost pair dies"
    );
    assert!(
        access_lives(s, access(&first).unwrap()).await,
        "the family lives"
    );
    assert!(access_lives(s, access(&retry).unwrap()).await);
    let (status, next) = post_token(s, &refresh_form(refresh(&retry).unwrap())).await;
    assert_eq!(status, 200, "the new pair refreshes: {next}");
    backend.stop().await;
}

/// The pair a retry replaced was not lost after all: someone presents its
/// refresh token. That is reuse (RFC 9700 §4.14.2): the family dies,
/// whoever holds the current token.
async fn presenting_the_replaced_successor_revokes_the_family(backend: Backend) {
    let s = &backend.s;
    let mut b = s.browser();
    let first = family(s, &mut b).await;
    let token = refresh(&first).unwrap();
    let (_, lost) = post_token(s, &refresh_form(token)).await;
    let (status, retry) = post_token(s, &refresh_form(token)).await;
    assert_eq!(status, 200, "{retry}");
    assert!(!refresh_lives(s, refresh(&lost).unwrap()).await);
    assert!(
        !access_lives(s, access(&retry).unwrap()).await,
        "the family is revoked"
    );
    assert!(!refresh_lives(s, refresh(&retry).unwrap()).await);
    backend.stop().await;
}

/// Outside the interval, presenting a rotated token is reuse: the family
/// dies.
async fn outside_the_reuse_interval_reuse_revokes_the_family(backend: Backend) {
    let s = &backend.s;
    let mut b = s.browser();
    let first = family(s, &mut b).await;
    let token = refresh(&first).unwrap();
    let (status, second) = post_token(s, &refresh_form(token)).await;
    assert_eq!(status, 200, "{second}");
    s.clock.advance(31);
    assert!(!refresh_lives(s, token).await);
    assert!(!access_lives(s, access(&first).unwrap()).await);
    assert!(!access_lives(s, access(&second).unwrap()).await);
    assert!(!refresh_lives(s, refresh(&second).unwrap()).await);
    backend.stop().await;
}

/// Inside the interval, but the child has been used: not a lost answer,
/// a copy. The family dies.
async fn a_used_child_makes_reuse_revoke_the_family_even_inside_the_interval(backend: Backend) {
    let s = &backend.s;
    let mut b = s.browser();
    let first = family(s, &mut b).await;
    let token = refresh(&first).unwrap();
    let (_, second) = post_token(s, &refresh_form(token)).await;
    let (status, third) = post_token(s, &refresh_form(refresh(&second).unwrap())).await;
    assert_eq!(status, 200, "{third}");
    assert!(!refresh_lives(s, token).await);
    assert!(!access_lives(s, access(&third).unwrap()).await);
    assert!(!refresh_lives(s, refresh(&third).unwrap()).await);
    backend.stop().await;
}

/// Off by default: the first reuse revokes the family at once.
async fn without_the_setting_any_reuse_revokes_the_family(backend: Backend) {
    let s = &backend.s;
    assert_eq!(
        s.provider.config().refresh_token_reuse_interval.as_secs(),
        0
    );
    let mut b = s.browser();
    let first = family(s, &mut b).await;
    let token = refresh(&first).unwrap();
    let (_, second) = post_token(s, &refresh_form(token)).await;
    assert!(!refresh_lives(s, token).await);
    assert!(!access_lives(s, access(&second).unwrap()).await);
    backend.stop().await;
}

macro_rules! both_backends {
    ($($name:ident $(with $tweak:path)?),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let tweak = |_c: &mut super::Config| { $($tweak(_c);)? };
                    super::$name(super::Backend::sqlite(tweak).await).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let tweak = |_c: &mut super::Config| { $($tweak(_c);)? };
                    super::$name(super::Backend::postgres(tweak).await).await;
                }
            )*
        }
    };
}

both_backends!(
    two_concurrent_refreshes_leave_no_survivor,
    two_concurrent_code_redemptions_leave_no_survivor,
    a_failed_refresh_leaves_the_token_and_the_family_alive,
    a_failed_code_redemption_leaves_the_code_redeemable,
    a_failed_device_redemption_leaves_the_device_code_redeemable,
    inside_the_reuse_interval_the_retry_works_and_the_unseen_child_dies with super::thirty_seconds,
    outside_the_reuse_interval_reuse_revokes_the_family with super::thirty_seconds,
    a_used_child_makes_reuse_revoke_the_family_even_inside_the_interval with super::thirty_seconds,
    presenting_the_replaced_successor_revokes_the_family with super::thirty_seconds,
    without_the_setting_any_reuse_revokes_the_family,
);
