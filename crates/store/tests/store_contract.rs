//! The store contract: the same suite against SQLite (a real file) and
//! PostgreSQL (the server this machine runs; see `pg_url`). The PostgreSQL
//! half fails, never skips, when that server is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use proofkey_core::model::{AuthorizationCode, Client, ClientKind, CodeConsumption};
use proofkey_core::{Store, StoreError};

async fn sqlite() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("contract.db").display());
    let store = proofkey_store::open(&url).await.unwrap();
    (dir, store)
}

fn code(hash: &str) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: hash.into(),
        client_id: "c".into(),
        redirect_uri: "http://127.0.0.1/cb".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        code_challenge_method: "S256".into(),
        scope: "openid".into(),
        nonce: Some("n".into()),
        user_id: "u".into(),
        auth_time: 1,
        issued_at: 2,
        expires_at: 3,
    }
}

async fn a_code_is_consumed_once_then_reported_as_used(s: Arc<dyn Store>) {
    s.insert_code(&code("h1")).await.unwrap();
    assert_eq!(
        s.consume_code("h1", 10).await.unwrap(),
        CodeConsumption::Consumed(Box::new(code("h1")))
    );
    assert_eq!(
        s.consume_code("h1", 11).await.unwrap(),
        CodeConsumption::AlreadyUsed
    );
    assert_eq!(
        s.consume_code("nope", 11).await.unwrap(),
        CodeConsumption::NotFound
    );
}

async fn of_concurrent_consumptions_exactly_one_wins(s: Arc<dyn Store>) {
    s.insert_code(&code("race")).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.consume_code("race", 10).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), CodeConsumption::Consumed(_)) {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

async fn a_code_without_a_challenge_cannot_be_stored(s: Arc<dyn Store>) {
    let mut c = code("empty");
    c.code_challenge = String::new();
    assert!(s.insert_code(&c).await.is_err());
}

async fn duplicate_clients_conflict_and_nothing_changes(s: Arc<dyn Store>) {
    let c = Client {
        id: "a".into(),
        name: "A".into(),
        kind: ClientKind::Public,
        secret_hash: None,
        redirect_uris: vec!["https://a.example/cb".into()],
        scopes: vec!["openid".into()],
        grant_types: vec!["authorization_code".into()],
        skip_consent: false,
        id_token_alg: "RS256".into(),
        created_at: 0,
        ..Client::default()
    };
    s.create_client(&c).await.unwrap();
    let mut other = c.clone();
    other.name = "B".into();
    assert!(matches!(
        s.create_client(&other).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.get_client("a").await.unwrap().unwrap().name, "A");
}

/// Many requests at once, some of which fail: each succeeds or fails on
/// its own. (The SQLite store runs concurrent requests in one transaction;
/// a failure must not take the others with it, nor be committed.)
async fn concurrent_requests_succeed_or_fail_alone(s: Arc<dyn Store>) {
    s.insert_code(&code("taken")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            // Every third request collides with an existing code.
            let hash = if i % 3 == 0 {
                "taken".to_owned()
            } else {
                format!("new-{i}")
            };
            (hash.clone(), s.insert_code(&code(&hash)).await)
        }));
    }
    let mut conflicts = 0;
    for task in tasks {
        let (hash, result) = task.await.unwrap();
        if hash == "taken" {
            assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
            conflicts += 1;
        } else {
            result.unwrap();
            assert!(
                matches!(
                    s.consume_code(&hash, 2).await.unwrap(),
                    CodeConsumption::Consumed(_)
                ),
                "{hash} was stored"
            );
        }
    }
    assert_eq!(conflicts, 22);
    assert!(matches!(
        s.consume_code("taken", 2).await.unwrap(),
        CodeConsumption::Consumed(_)
    ));
}

async fn settings_are_initialised_once(s: Arc<dyn Store>) {
    assert_eq!(s.setting_or_init("k", "first").await.unwrap(), "first");
    assert_eq!(s.setting_or_init("k", "second").await.unwrap(), "first");
}

async fn revoking_a_grant_deactivates_its_tokens_only(s: Arc<dyn Store>) {
    for (jti, grant) in [("t1", "g1"), ("t2", "g1"), ("t3", "g2")] {
        s.insert_access_token(&proofkey_core::model::AccessTokenRecord {
            jti: jti.into(),
            grant_id: grant.into(),
            client_id: "c".into(),
            user_id: "u".into(),
            scope: "openid".into(),
            expires_at: 100,
        })
        .await
        .unwrap();
    }
    assert_eq!(s.revoke_grant("g1", 5).await.unwrap(), 2);
    assert!(!s.access_token_active("t1", 5).await.unwrap());
    assert!(!s.access_token_active("t2", 5).await.unwrap());
    assert!(s.access_token_active("t3", 5).await.unwrap());
    assert!(
        !s.access_token_active("t3", 100).await.unwrap(),
        "expired at 100"
    );
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_on_a_real_file() {
    let (d, s) = sqlite().await;
    s.setting_or_init("x", "y").await.unwrap();
    assert!(d.path().join("contract.db").exists());
    assert!(
        d.path().join("contract.db-wal").exists(),
        "WAL journal missing"
    );
}

fn refresh(hash: &str, grant: &str) -> proofkey_core::model::RefreshTokenRecord {
    proofkey_core::model::RefreshTokenRecord {
        token_hash: hash.into(),
        grant_id: grant.into(),
        client_id: "c".into(),
        user_id: "u".into(),
        scope: "openid offline_access".into(),
        auth_time: 1,
        issued_at: 1,
        family_expires_at: 1000,
        idle_expires_at: 500,
    }
}

async fn refresh_rotation_is_atomic_and_reuse_is_reported(s: Arc<dyn Store>) {
    use proofkey_core::model::RefreshUse;
    s.insert_refresh_token(&refresh("r1", "g")).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.use_refresh_token("r1", 10, true, 600).await.unwrap() })
        })
        .collect();
    let mut taken = 0;
    let mut reused = 0;
    for t in tasks {
        match t.await.unwrap() {
            RefreshUse::Taken(_) => taken += 1,
            RefreshUse::Reused(r) => {
                assert_eq!(r.grant_id, "g");
                reused += 1
            }
            RefreshUse::Invalid => panic!("a rotated token is reuse, not invalid"),
        }
    }
    assert_eq!((taken, reused), (1, 15));
    assert!(s.get_refresh_token("r1", 10).await.unwrap().is_none());
    // Idle and absolute expiry, revocation.
    s.insert_refresh_token(&refresh("r2", "g2")).await.unwrap();
    assert_eq!(
        s.use_refresh_token("r2", 500, false, 900).await.unwrap(),
        RefreshUse::Invalid
    );
    s.insert_refresh_token(&refresh("r3", "g3")).await.unwrap();
    assert!(matches!(
        s.use_refresh_token("r3", 10, false, 2000).await.unwrap(),
        RefreshUse::Taken(_)
    ));
    let live = s.get_refresh_token("r3", 10).await.unwrap().unwrap();
    assert_eq!(
        live.idle_expires_at, 1000,
        "idle expiry never passes the family's"
    );
    s.revoke_grant("g3", 11).await.unwrap();
    assert_eq!(
        s.use_refresh_token("r3", 12, false, 2000).await.unwrap(),
        RefreshUse::Invalid
    );
}

async fn assertion_jtis_are_single_use(s: Arc<dyn Store>) {
    assert!(s.record_jti("c", "j1", 100).await.unwrap());
    assert!(!s.record_jti("c", "j1", 100).await.unwrap());
    assert!(s.record_jti("other", "j1", 100).await.unwrap());
}

async fn device_codes_poll_decide_and_consume(s: Arc<dyn Store>) {
    use proofkey_core::model::{DeviceCode, DevicePoll, DeviceStatus};
    s.insert_device_code(&DeviceCode {
        device_code_hash: "d".into(),
        user_code_hash: "u".into(),
        client_id: "c".into(),
        scope: "openid".into(),
        issued_at: 0,
        expires_at: 600,
        interval: 5,
        status: DeviceStatus::Pending,
        user_id: None,
        auth_time: None,
    })
    .await
    .unwrap();
    let poll = |now| {
        let s = Arc::clone(&s);
        async move {
            match s.poll_device_code("d", now).await.unwrap() {
                DevicePoll::Polled { record, slow_down } => {
                    (record.interval, slow_down, record.status)
                }
                DevicePoll::NotFound => panic!("not found"),
            }
        }
    };
    assert_eq!(poll(10).await, (5, false, DeviceStatus::Pending));
    assert_eq!(poll(12).await, (10, true, DeviceStatus::Pending));
    assert_eq!(poll(30).await, (10, false, DeviceStatus::Pending));
    assert!(
        s.consume_device_code("d", 31).await.unwrap().is_none(),
        "not approved yet"
    );
    assert!(s.pending_device_code("u", 31).await.unwrap().is_some());
    assert!(s
        .decide_device_code("u", 31, "user", 30, true)
        .await
        .unwrap());
    assert!(
        !s.decide_device_code("u", 31, "user", 30, false)
            .await
            .unwrap(),
        "decided once"
    );
    let got = s.consume_device_code("d", 32).await.unwrap().unwrap();
    assert_eq!(got.user_id.as_deref(), Some("user"));
    assert!(s.consume_device_code("d", 33).await.unwrap().is_none());
    assert_eq!(
        s.poll_device_code("d", 40).await.unwrap(),
        DevicePoll::NotFound
    );
}

async fn users_sessions_consents_and_revocation(s: Arc<dyn Store>) {
    use proofkey_core::model::{Session, User};
    let u = User {
        id: "u1".into(),
        username: "ann".into(),
        email: None,
        name: None,
        password_hash: "h".into(),
        created_at: 0,
    };
    s.create_user(&u).await.unwrap();
    assert!(matches!(
        s.create_user(&u).await,
        Err(StoreError::Conflict(_))
    ));
    let c = Client {
        id: "c".into(),
        name: "C".into(),
        redirect_uris: vec![],
        scopes: vec![],
        grant_types: vec![],
        id_token_alg: "RS256".into(),
        ..Client::default()
    };
    s.create_client(&c).await.unwrap();
    for (h, exp) in [("s1", 100), ("s2", 5)] {
        s.create_session(
            h,
            &Session {
                user_id: "u1".into(),
                auth_time: 1,
                expires_at: exp,
            },
        )
        .await
        .unwrap();
    }
    assert_eq!(s.list_sessions("u1", 10).await.unwrap().len(), 1);
    assert!(s.get_session("s1", 10).await.unwrap().is_some());
    assert!(s.get_session("s2", 10).await.unwrap().is_none(), "expired");
    s.grant_consent("u1", "c", &["openid".into(), "email".into()])
        .await
        .unwrap();
    s.grant_consent("u1", "c", &["openid".into()])
        .await
        .unwrap();
    let mut granted = s.get_consent("u1", "c").await.unwrap();
    granted.sort();
    assert_eq!(granted, ["email", "openid"]);
    let (ended, _) = s.revoke_user("u1", 10).await.unwrap();
    assert_eq!(ended, 2);
    assert!(s.get_session("s1", 10).await.unwrap().is_none());
    s.create_session(
        "s3",
        &Session {
            user_id: "u1".into(),
            auth_time: 1,
            expires_at: 100,
        },
    )
    .await
    .unwrap();
    assert!(s.delete_user("ann").await.unwrap());
    assert!(
        s.get_consent("u1", "c").await.unwrap().is_empty(),
        "consents go with the user"
    );
    // The authorization endpoint relies on it: a live session has a user.
    assert!(
        s.get_session("s3", 10).await.unwrap().is_none(),
        "sessions go with the user"
    );
}

async fn keys_round_trip_in_order(s: Arc<dyn Store>) {
    for (kid, at) in [("b", 2), ("a", 1)] {
        s.insert_key(&proofkey_core::model::StoredKey {
            kid: kid.into(),
            alg: "ES256".into(),
            private_pkcs8: vec![1, 2, 3],
            created_at: at,
            activates_at: at + 10,
        })
        .await
        .unwrap();
    }
    let keys = s.list_keys().await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(keys[0].private_pkcs8, [1, 2, 3]);
    assert_eq!(keys[0].activates_at, 11);
    s.ping().await.unwrap();
}

async fn a_checkpoint_keeps_every_record(s: Arc<dyn Store>) {
    s.insert_code(&code("before-checkpoint")).await.unwrap();
    s.checkpoint().await.unwrap();
    s.checkpoint().await.unwrap();
    assert_eq!(
        s.consume_code("before-checkpoint", 10).await.unwrap(),
        CodeConsumption::Consumed(Box::new(code("before-checkpoint")))
    );
}

/// SQLite only: a checkpoint lets the next write start the write-ahead log
/// over, where without one the log keeps every frame (under steady load,
/// passive auto-checkpoints never get that far; see `Store::checkpoint`).
#[tokio::test]
async fn sqlite_checkpoint_starts_the_log_over() {
    // The WAL file header's checkpoint sequence number (bytes 12..16, big
    // endian) changes each time the log starts over. Reading the file
    // leaves the database as it is, where asking SQLite would checkpoint.
    fn log_generation(wal: &std::path::Path) -> u32 {
        let bytes = std::fs::read(wal).unwrap();
        u32::from_be_bytes(bytes[12..16].try_into().unwrap())
    }
    let (dir, s) = sqlite().await;
    let wal = dir.path().join("contract.db-wal");
    for i in 0..100 {
        s.insert_code(&code(&format!("w{i}"))).await.unwrap();
    }
    // Far below the 1,000-page auto-checkpoint: no write starts it over.
    let first = log_generation(&wal);
    s.insert_code(&code("still-the-same-log")).await.unwrap();
    assert_eq!(log_generation(&wal), first);
    s.checkpoint().await.unwrap();
    s.insert_code(&code("after")).await.unwrap();
    assert_ne!(log_generation(&wal), first, "the log started over");
}

/// SQLite only: when the store answers, the change is committed: another
/// connection to the file (another process) sees the code as used at once.
#[tokio::test]
async fn sqlite_answers_after_the_commit() {
    let (dir, s) = sqlite().await;
    let other = rusqlite::Connection::open(dir.path().join("contract.db")).unwrap();
    let used = |hash: &str| -> Option<i64> {
        other
            .query_row(
                "SELECT used_at FROM authorization_codes WHERE code_hash = ?1",
                [hash],
                |r| r.get(0),
            )
            .unwrap()
    };
    for i in 0..50 {
        let hash = format!("c{i}");
        s.insert_code(&code(&hash)).await.unwrap();
        assert_eq!(used(&hash), None);
        assert!(matches!(
            s.consume_code(&hash, 2).await.unwrap(),
            CodeConsumption::Consumed(_)
        ));
        assert_eq!(
            used(&hash),
            Some(2),
            "{hash} is used as soon as that is answered"
        );
    }
}

async fn a_sweep_deletes_only_what_expired(s: Arc<dyn Store>) {
    s.insert_code(&code("old")).await.unwrap();
    s.insert_refresh_token(&refresh("rr", "gg")).await.unwrap();
    assert!(s.record_jti("c", "j", 50).await.unwrap());
    // The code expires at 3: kept while the cut-off is not past that.
    let none = s.sweep(4, 3).await.unwrap();
    assert_eq!(none.codes + none.refresh_tokens + none.jtis, 0);
    let swept = s.sweep(10_000, 3).await.unwrap();
    assert_eq!((swept.codes, swept.refresh_tokens, swept.jtis), (0, 1, 1));
    let swept = s.sweep(10_000, 4).await.unwrap();
    assert_eq!((swept.codes, swept.refresh_tokens, swept.jtis), (1, 0, 0));
}

/// However many rows expired (the SQLite store deletes them in chunks of
/// 1,000, so that a sweep never holds its connection long), all go, and
/// nothing else does.
async fn a_large_sweep_deletes_every_expired_row(s: Arc<dyn Store>) {
    for i in 0..2_345 {
        s.insert_code(&code(&format!("expired-{i}"))).await.unwrap();
    }
    let mut live = code("live");
    live.expires_at = 1_000_000;
    s.insert_code(&live).await.unwrap();
    let swept = s.sweep(10_000, 10_000).await.unwrap();
    assert_eq!(swept.codes, 2_345);
    assert!(matches!(
        s.consume_code("live", 20).await.unwrap(),
        CodeConsumption::Consumed(_)
    ));
    assert_eq!(s.sweep(10_000, 10_000).await.unwrap().codes, 0);
}

/// `PROOFKEY_TEST_POSTGRES` or the machine's server.
fn pg_url() -> String {
    std::env::var("PROOFKEY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A fresh database on the PostgreSQL server, dropped by the guard.
#[derive(Debug)]
pub struct PgDb {
    admin: sqlx::PgPool,
    name: String,
}

impl PgDb {
    async fn drop_now(self) {
        let _ = sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&self.admin)
        .await;
    }
}

async fn postgres() -> (PgDb, Arc<dyn Store>) {
    let base = pg_url();
    let admin = sqlx::PgPool::connect(&format!("{base}/postgres"))
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {base} is required for these tests (set PROOFKEY_TEST_POSTGRES): {e}"));
    let name = format!(
        "pk_contract_{}",
        proofkey_core::secret::random_token(9)
            .unwrap()
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let store = proofkey_store::open(&format!("{base}/{name}"))
        .await
        .unwrap();
    (PgDb { admin, name }, store)
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let (_d, s) = sqlite().await;
                    super::$name(s).await;
                }
            )*
        }
        mod on_postgres {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let (db, s) = postgres().await;
                    super::$name(s).await;
                    db.drop_now().await;
                }
            )*
        }
    };
}

both_backends!(
    refresh_rotation_is_atomic_and_reuse_is_reported,
    assertion_jtis_are_single_use,
    device_codes_poll_decide_and_consume,
    users_sessions_consents_and_revocation,
    keys_round_trip_in_order,
    a_sweep_deletes_only_what_expired,
    a_large_sweep_deletes_every_expired_row,
    a_checkpoint_keeps_every_record,
    a_code_is_consumed_once_then_reported_as_used,
    of_concurrent_consumptions_exactly_one_wins,
    a_code_without_a_challenge_cannot_be_stored,
    duplicate_clients_conflict_and_nothing_changes,
    settings_are_initialised_once,
    concurrent_requests_succeed_or_fail_alone,
    revoking_a_grant_deactivates_its_tokens_only
);
