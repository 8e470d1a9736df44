//! The store contract: the same suite against SQLite (a real file) and
//! PostgreSQL (the server this machine runs; see `pg_url`). The PostgreSQL
//! half fails, never skips, when that server is missing.
//!
//! Organised by aggregate: clients, users and sessions, grants and their
//! issuance transactions, device authorizations, keys, upkeep. Faults are
//! injected inside the database itself (a trigger that aborts an insert,
//! on both backends), so that they strike in the middle of a transaction,
//! after the consumption it must undo.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use proofkey_core::model::{
    AccessTokenRecord, AuthorizationCode, Client, ClientKind, CodeConsumption, DeviceCode,
    DeviceDecision, DevicePoll, DeviceStatus, Grant, Issued, NewTokens, PushedRequest,
    RefreshTokenRecord, Rotation, Session, StoredKey, User,
};
use proofkey_core::secret::PrivateKeyDer;
use proofkey_core::store::GrantStore as _;
use proofkey_core::{Store, StoreError};

/// A backend under test, with a way to run raw SQL on its database (to
/// inject faults and to look at rows as another process would).
struct Db {
    store: Arc<dyn Store>,
    raw: Raw,
    _guard: Guard,
}

enum Raw {
    Sqlite(std::path::PathBuf),
    Pg(sqlx::PgPool),
}

#[allow(dead_code)]
enum Guard {
    Dir(tempfile::TempDir),
    Pg(PgDb),
}

impl Db {
    async fn exec(&self, sql: &str) {
        match &self.raw {
            Raw::Sqlite(path) => {
                let c = rusqlite::Connection::open(path).unwrap();
                c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
                c.execute_batch(sql).unwrap();
            }
            Raw::Pg(pool) => {
                sqlx::raw_sql(sql).execute(pool).await.unwrap();
            }
        }
    }

    /// Makes every insert into `table` fail, inside the transaction that
    /// attempts it, until [`Db::heal`].
    async fn break_inserts(&self, table: &str) {
        match &self.raw {
            Raw::Sqlite(_) => {
                self.exec(&format!(
                    "CREATE TRIGGER fail_{table} BEFORE INSERT ON {table}
                     BEGIN SELECT RAISE(ABORT, 'injected fault'); END;"
                ))
                .await
            }
            Raw::Pg(_) => {
                self.exec(&format!(
                    "CREATE FUNCTION fail_{table}() RETURNS trigger LANGUAGE plpgsql AS
                     $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$;
                     CREATE TRIGGER fail_{table} BEFORE INSERT ON {table}
                     FOR EACH ROW EXECUTE FUNCTION fail_{table}();"
                ))
                .await
            }
        }
    }

    /// How many rows name a grant that does not exist (always none: the
    /// store creates a grant with what first names it, and sweeps it last).
    async fn orphans(&self) -> i64 {
        let sql = "SELECT (SELECT COUNT(*) FROM authorization_codes WHERE grant_id NOT IN (SELECT id FROM grants))
             + (SELECT COUNT(*) FROM access_tokens WHERE grant_id NOT IN (SELECT id FROM grants))
             + (SELECT COUNT(*) FROM refresh_tokens WHERE grant_id NOT IN (SELECT id FROM grants))
             + (SELECT COUNT(*) FROM device_codes WHERE grant_id IS NOT NULL AND grant_id NOT IN (SELECT id FROM grants))";
        match &self.raw {
            Raw::Sqlite(path) => {
                let c = rusqlite::Connection::open(path).unwrap();
                c.query_row(sql, [], |r| r.get(0)).unwrap()
            }
            Raw::Pg(pool) => sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(pool)
                .await
                .unwrap(),
        }
    }

    async fn heal(&self, table: &str) {
        match &self.raw {
            Raw::Sqlite(_) => self.exec(&format!("DROP TRIGGER fail_{table}")).await,
            Raw::Pg(_) => {
                self.exec(&format!(
                    "DROP TRIGGER fail_{table} ON {table}; DROP FUNCTION fail_{table}();"
                ))
                .await
            }
        }
    }
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contract.db");
    let store = proofkey_store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    seed(store.as_ref()).await;
    Db {
        store,
        raw: Raw::Sqlite(path),
        _guard: Guard::Dir(dir),
    }
}

/// What grants are created for: client "c", and user "u" (ann) with a live
/// session.
async fn seed(s: &dyn Store) {
    s.create_client(&client("c")).await.unwrap();
    s.create_user(&user()).await.unwrap();
    s.create_session("seed", &session(i64::MAX)).await.unwrap();
}

/// `PROOFKEY_TEST_POSTGRES` or the machine's server.
fn pg_url() -> String {
    std::env::var("PROOFKEY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A fresh database on the PostgreSQL server, dropped when the guard is
/// (whether the test passed or not).
struct PgDb {
    base: String,
    name: String,
}

impl Drop for PgDb {
    fn drop(&mut self) {
        use sqlx::Connection as _;
        let (base, name) = (self.base.clone(), self.name.clone());
        // Dropped inside a test's runtime: drop the database from a thread
        // with a runtime of its own, and wait for it.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut c) = sqlx::PgConnection::connect(&format!("{base}/postgres")).await {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(&drop).execute(&mut c).await;
                }
            });
        })
        .join();
    }
}

async fn postgres() -> Db {
    use sqlx::Connection as _;
    let base = pg_url();
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {base} is required for these tests (set PROOFKEY_TEST_POSTGRES): {e}")
        });
    let name = format!(
        "pk_contract_{}",
        proofkey_core::secret::random_token(9)
            .unwrap()
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let guard = PgDb {
        base: base.clone(),
        name: name.clone(),
    };
    let url = format!("{base}/{name}");
    let store = proofkey_store::open(&url).await.unwrap();
    seed(store.as_ref()).await;
    let raw = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap();
    Db {
        store,
        raw: Raw::Pg(raw),
        _guard: Guard::Pg(guard),
    }
}

// ---------------------------------------------------------------------
// Records.

const NOW: i64 = 1_000;

fn grant(id: &str) -> Grant {
    Grant {
        id: id.into(),
        client_id: "c".into(),
        user_id: Some("u".into()),
        scope: "openid offline_access".into(),
        resources: "https://api.example/".into(),
        auth_time: Some(1),
        expires_at: NOW + 100,
        created_at: 2,
    }
}

fn code(hash: &str, grant_id: &str) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: hash.into(),
        grant_id: grant_id.into(),
        client_id: "c".into(),
        redirect_uri: "http://127.0.0.1/cb".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        code_challenge_method: "S256".into(),
        scope: "openid".into(),
        resources: "https://api.example/".into(),
        nonce: Some("n".into()),
        user_id: "u".into(),
        auth_time: 1,
        issued_at: 2,
        expires_at: NOW + 60,
        dpop_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
    }
}

/// A code under a grant of its own (named after the code).
async fn new_code(s: &dyn Store, hash: &str) -> AuthorizationCode {
    let c = code(hash, &format!("g-{hash}"));
    assert!(s
        .create_grant_with_code(&grant(&c.grant_id), &c)
        .await
        .unwrap());
    c
}

/// An access token and, when `refresh` names one, a refresh token, of `grant`.
fn tokens(grant_id: &str, jti: &str, refresh: Option<&str>) -> NewTokens {
    NewTokens {
        access: AccessTokenRecord {
            jti: jti.into(),
            grant_id: grant_id.into(),
            client_id: "c".into(),
            user_id: "u".into(),
            scope: "openid".into(),
            expires_at: NOW + 600,
        },
        refresh: refresh.map(|hash| RefreshTokenRecord {
            token_hash: hash.into(),
            grant_id: grant_id.into(),
            client_id: "c".into(),
            user_id: "u".into(),
            scope: "openid offline_access".into(),
            resources: "https://api.example/".into(),
            auth_time: 1,
            issued_at: NOW,
            family_expires_at: NOW + 10_000,
            idle_expires_at: NOW + 5_000,
            access_jti: Some(jti.into()),
            dpop_jkt: Some("kGQd0VKp9nk5YyQm3jvOm8k4h1lW9wS0Kz3cQ2lJ0nE".into()),
        }),
    }
}

/// A grant with a redeemed code: its access token `{g}-at0` and refresh
/// token `{g}-rt0`, live.
async fn family(s: &dyn Store, g: &str) {
    let c = code(&format!("{g}-code"), g);
    assert!(s.create_grant_with_code(&grant(g), &c).await.unwrap());
    let t = tokens(g, &format!("{g}-at0"), Some(&format!("{g}-rt0")));
    assert_eq!(
        s.redeem_code_and_issue(&c.code_hash, NOW, &t)
            .await
            .unwrap(),
        Issued::Stored
    );
}

async fn live_access(s: &dyn Store, jti: &str) -> bool {
    let active = s.access_token_active(jti, NOW).await.unwrap();
    assert_eq!(
        active,
        s.get_access_token(jti, NOW).await.unwrap().is_some(),
        "both readers agree on {jti}"
    );
    active
}

async fn live_refresh(s: &dyn Store, hash: &str) -> bool {
    s.get_refresh_token(hash, NOW).await.unwrap().is_some()
}

fn rotate() -> Rotation {
    Rotation::Rotate { retry_since: None }
}

// ---------------------------------------------------------------------
// Clients.

fn client(id: &str) -> Client {
    Client {
        id: id.into(),
        name: id.to_uppercase(),
        kind: ClientKind::Public,
        redirect_uris: vec!["https://a.example/cb".into()],
        scopes: vec!["openid".into()],
        grant_types: vec!["authorization_code".into()],
        id_token_alg: "RS256".into(),
        ..Client::default()
    }
}

async fn duplicate_clients_conflict_and_nothing_changes(db: Db) {
    let s = db.store.as_ref();
    s.create_client(&client("a")).await.unwrap();
    let mut other = client("a");
    other.name = "B".into();
    assert!(matches!(
        s.create_client(&other).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.get_client("a").await.unwrap().unwrap().name, "A");
}

async fn deleting_a_client_revokes_its_grants(db: Db) {
    let s = db.store.as_ref();
    family(s, "g1").await;
    assert!(s.delete_client("c", NOW).await.unwrap());
    assert!(s.get_client("c").await.unwrap().is_none());
    assert!(!live_access(s, "g1-at0").await);
    assert!(!live_refresh(s, "g1-rt0").await);
    assert!(!s.delete_client("c", NOW).await.unwrap());
}

async fn an_operators_client_is_replaced_in_place(db: Db) {
    use proofkey_core::model::Registration;
    let s = db.store.as_ref();
    let before = s.get_client("c").await.unwrap().unwrap();
    let mut c = before.clone();
    c.name = "Renamed".into();
    c.redirect_uris = vec!["http://127.0.0.1/new".into()];
    c.post_logout_redirect_uris = vec!["https://a.example/bye".into()];
    c.scopes = vec!["openid".into(), "email".into()];
    c.grant_types = vec!["authorization_code".into(), "refresh_token".into()];
    c.skip_consent = true;
    c.id_token_alg = "ES256".into();
    c.rotate_refresh_tokens = false;
    c.always_issue_refresh_token = true;
    c.resources = vec!["https://api.example/".into()];
    c.dpop_bound_access_tokens = true;
    c.require_pushed_authorization_requests = true;
    assert!(s.replace_client(&c).await.unwrap());
    assert_eq!(s.get_client("c").await.unwrap().unwrap(), c);

    // What it never changes: kind, secrets, creation, registration.
    let mut other = c.clone();
    other.kind = ClientKind::Confidential;
    other.secret_hash = Some("h".into());
    other.created_at = 42;
    other.registration_token_hash = Some("t".into());
    assert!(s.replace_client(&other).await.unwrap());
    assert_eq!(s.get_client("c").await.unwrap().unwrap(), c);

    // Only an operator's client.
    let mut d = client("dyn");
    d.registration = Registration::Dynamic;
    s.create_client(&d).await.unwrap();
    let mut changed = d.clone();
    changed.name = "Hijacked".into();
    assert!(!s.replace_client(&changed).await.unwrap());
    assert_eq!(s.get_client("dyn").await.unwrap().unwrap().name, "DYN");
    assert!(!s.replace_client(&client("nobody")).await.unwrap());
}

async fn assertion_jtis_are_single_use(db: Db) {
    let s = db.store.as_ref();
    assert!(s.record_jti("c", "j1", 100).await.unwrap());
    assert!(!s.record_jti("c", "j1", 100).await.unwrap());
    assert!(s.record_jti("other", "j1", 100).await.unwrap());
}

// ---------------------------------------------------------------------
// Users, sessions, consents.

fn user() -> User {
    User {
        id: "u".into(),
        username: "ann".into(),
        email: None,
        name: None,
        password_hash: "h".into(),
        created_at: 0,
        disabled_at: None,
    }
}

fn session(expires_at: i64) -> Session {
    Session {
        user_id: "u".into(),
        auth_time: 1,
        expires_at,
    }
}

async fn users_sessions_consents_and_revocation(db: Db) {
    let s = db.store.as_ref();
    assert!(matches!(
        s.create_user(&user()).await,
        Err(StoreError::Conflict(_))
    ));
    for (h, exp) in [("s1", 100), ("s2", 5)] {
        s.create_session(h, &session(exp)).await.unwrap();
    }
    assert_eq!(
        s.list_sessions("u", 10).await.unwrap().len(),
        2,
        "s1 and the seed's"
    );
    assert!(s.get_session("s1", 10).await.unwrap().is_some());
    assert!(s.get_session("s2", 10).await.unwrap().is_none(), "expired");
    s.grant_consent("u", "c", &["openid".into(), "email".into()])
        .await
        .unwrap();
    s.grant_consent("u", "c", &["openid".into()]).await.unwrap();
    let mut granted = s.get_consent("u", "c").await.unwrap();
    granted.sort();
    assert_eq!(granted, ["email", "openid"]);
    // The authorization endpoint's one call: a live session with its
    // user's consent to that client only; nothing for an expired or
    // unknown session.
    let (found, mut consent) = s
        .get_session_and_consent("s1", 10, "c")
        .await
        .unwrap()
        .expect("s1 is live");
    consent.sort();
    assert_eq!((found.user_id.as_str(), found.expires_at), ("u", 100));
    assert_eq!(consent, ["email", "openid"]);
    let (_, other) = s
        .get_session_and_consent("s1", 10, "another-client")
        .await
        .unwrap()
        .expect("s1 is live");
    assert!(other.is_empty(), "{other:?}");
    assert!(s
        .get_session_and_consent("s2", 10, "c")
        .await
        .unwrap()
        .is_none());
    assert!(s
        .get_session_and_consent("unknown", 10, "c")
        .await
        .unwrap()
        .is_none());

    family(s, "g1").await;
    family(s, "g2").await;
    let (ended, grants) = s.revoke_user("u", 10).await.unwrap();
    assert_eq!((ended, grants), (3, 2));
    assert!(s.get_session("s1", 10).await.unwrap().is_none());
    for t in ["g1-at0", "g2-at0"] {
        assert!(!live_access(s, t).await, "{t}");
    }
    assert!(!live_refresh(s, "g1-rt0").await);

    s.create_session("s3", &session(100)).await.unwrap();
    family(s, "g3").await;
    assert!(s.delete_user("ann", NOW).await.unwrap());
    assert!(!s.delete_user("ann", NOW).await.unwrap());
    assert!(
        s.get_consent("u", "c").await.unwrap().is_empty(),
        "consents go with the user"
    );
    // The authorization endpoint relies on it: a live session has a user.
    assert!(
        s.get_session("s3", 10).await.unwrap().is_none(),
        "sessions go with the user"
    );
    assert!(
        !live_access(s, "g3-at0").await,
        "grants are revoked with the user"
    );
}

async fn a_user_is_updated_disabled_and_enabled(db: Db) {
    let s = db.store.as_ref();
    assert!(s
        .update_user("ann", Some("ann@example.com"), Some("Ann Example"))
        .await
        .unwrap());
    let u = s.get_user_by_username("ann").await.unwrap().unwrap();
    assert_eq!(
        (u.email.as_deref(), u.name.as_deref(), u.disabled_at),
        (Some("ann@example.com"), Some("Ann Example"), None)
    );
    assert!(!s.update_user("nobody", None, None).await.unwrap());

    family(s, "g1").await;
    let ended = s.disable_user("ann", NOW).await.unwrap();
    assert_eq!(ended, Some((1, 1)), "the seed's session, g1");
    let u = s.get_user("u").await.unwrap().unwrap();
    assert_eq!(u.disabled_at, Some(NOW));
    assert!(s.get_session("seed", 10).await.unwrap().is_none());
    assert!(!live_access(s, "g1-at0").await);
    assert!(!live_refresh(s, "g1-rt0").await);
    // No session is stored for a disabled user, so no grant is made.
    assert!(!s.create_session("after", &session(i64::MAX)).await.unwrap());
    assert!(s.get_session("after", 10).await.unwrap().is_none());
    assert!(!s
        .create_grant_with_code(&grant("g-after"), &code("after", "g-after"))
        .await
        .unwrap());
    // Disabled again: nothing left to end, and the first time is kept.
    assert_eq!(s.disable_user("ann", NOW + 5).await.unwrap(), Some((0, 0)));
    assert_eq!(
        s.get_user("u").await.unwrap().unwrap().disabled_at,
        Some(NOW)
    );
    assert_eq!(s.disable_user("nobody", NOW).await.unwrap(), None);

    // Enabled: sessions again; what disabling ended stays ended.
    assert!(s.enable_user("ann").await.unwrap());
    assert_eq!(s.get_user("u").await.unwrap().unwrap().disabled_at, None);
    assert!(s.create_session("back", &session(i64::MAX)).await.unwrap());
    assert!(!live_refresh(s, "g1-rt0").await);
    assert!(!s.enable_user("nobody").await.unwrap());
    // Nor is a session stored for a user who does not exist.
    let ghost = Session {
        user_id: "ghost".into(),
        ..session(i64::MAX)
    };
    assert!(!s.create_session("ghost", &ghost).await.unwrap());
    assert_eq!(db.orphans().await, 0);
}

/// Sign-ins racing a disabling: whichever order the store sees them in,
/// the user is left without a session (and so cannot be granted anything).
async fn of_sign_ins_racing_a_disabling_no_session_survives(db: Db) {
    let store = Arc::clone(&db.store);
    for round in 0..10 {
        assert!(store.enable_user("ann").await.unwrap());
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..8 {
            let s = Arc::clone(&store);
            tasks.spawn(async move {
                s.create_session(&format!("r{round}-{i}"), &session(i64::MAX))
                    .await
                    .map(|_| ())
            });
        }
        let s = Arc::clone(&store);
        tasks.spawn(async move { s.disable_user("ann", NOW).await.map(|_| ()) });
        while let Some(done) = tasks.join_next().await {
            done.unwrap().unwrap();
        }
        assert!(
            store.list_sessions("u", 10).await.unwrap().is_empty(),
            "round {round}: a session outlived the disabling"
        );
    }
}

// ---------------------------------------------------------------------
// Codes.

async fn a_code_is_consumed_once_then_reported_as_used(db: Db) {
    let s = db.store.as_ref();
    let c = new_code(s, "h1").await;
    let found = s.find_code("h1").await.unwrap().unwrap();
    assert_eq!((found.code, found.used), (c.clone(), false));
    assert_eq!(
        s.consume_code("h1", 10).await.unwrap(),
        CodeConsumption::Consumed(Box::new(c.clone()))
    );
    assert!(s.find_code("h1").await.unwrap().unwrap().used);
    assert_eq!(
        s.consume_code("h1", 11).await.unwrap(),
        CodeConsumption::AlreadyUsed {
            grant_id: c.grant_id.clone()
        }
    );
    // A spent code cannot be redeemed.
    assert_eq!(
        s.redeem_code_and_issue("h1", 12, &tokens(&c.grant_id, "at", None))
            .await
            .unwrap(),
        Issued::Replayed {
            grant_id: c.grant_id
        }
    );
    assert!(!live_access(s, "at").await);
    assert_eq!(
        s.consume_code("nope", 11).await.unwrap(),
        CodeConsumption::NotFound
    );
    assert!(s.find_code("nope").await.unwrap().is_none());
}

async fn a_code_without_a_challenge_is_stored_with_no_grant(db: Db) {
    let s = db.store.as_ref();
    let mut c = code("empty", "g-empty");
    c.code_challenge = String::new();
    assert!(s
        .create_grant_with_code(&grant("g-empty"), &c)
        .await
        .is_err());
    // The grant and its code are one transaction: neither was stored, so
    // the same grant id is free.
    let ok = code("ok", "g-empty");
    s.create_grant_with_code(&grant("g-empty"), &ok)
        .await
        .unwrap();
}

/// Of concurrent redemptions of one code, across connections, exactly one
/// stores its tokens; the others are told it was replayed and store
/// nothing.
async fn of_concurrent_redemptions_exactly_one_stores(db: Db) {
    let s = Arc::clone(&db.store);
    let c = new_code(s.as_ref(), "race").await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (s, g) = (Arc::clone(&s), c.grant_id.clone());
            tokio::spawn(async move {
                let t = tokens(&g, &format!("at{i}"), Some(&format!("rt{i}")));
                (i, s.redeem_code_and_issue("race", NOW, &t).await.unwrap())
            })
        })
        .collect();
    let mut winners = vec![];
    for t in tasks {
        match t.await.unwrap() {
            (i, Issued::Stored) => winners.push(i),
            (_, Issued::Replayed { grant_id }) => assert_eq!(grant_id, c.grant_id),
            (_, other) => panic!("{other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    for i in 0..16 {
        let won = winners.contains(&i);
        assert_eq!(live_access(s.as_ref(), &format!("at{i}")).await, won);
        assert_eq!(live_refresh(s.as_ref(), &format!("rt{i}")).await, won);
    }
}

/// Many requests at once, some of which fail: each succeeds or fails on
/// its own. (The SQLite store runs concurrent requests in one transaction;
/// a failure must not take the others with it, nor be committed.)
async fn concurrent_requests_succeed_or_fail_alone(db: Db) {
    let s = Arc::clone(&db.store);
    new_code(s.as_ref(), "taken").await;
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
            let c = code(&hash, &format!("g-{i}"));
            (
                hash,
                s.create_grant_with_code(&grant(&c.grant_id), &c).await,
            )
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

/// A fault while storing the tokens rolls the redemption back whole: the
/// code is unused, so the client's retry redeems it.
async fn a_failed_redemption_leaves_the_code_unused(db: Db) {
    let s = db.store.as_ref();
    let c = new_code(s, "fault").await;
    let t = tokens(&c.grant_id, "at-fault", Some("rt-fault"));
    db.break_inserts("refresh_tokens").await;
    assert!(s.redeem_code_and_issue("fault", NOW, &t).await.is_err());
    assert!(!s.find_code("fault").await.unwrap().unwrap().used);
    assert!(!live_access(s, "at-fault").await, "nothing half-stored");
    db.heal("refresh_tokens").await;
    assert_eq!(
        s.redeem_code_and_issue("fault", NOW, &t).await.unwrap(),
        Issued::Stored
    );
    assert!(live_access(s, "at-fault").await);
    assert!(live_refresh(s, "rt-fault").await);
}

// ---------------------------------------------------------------------
// Grants and their tokens.

async fn revoking_a_grant_ends_its_tokens_only(db: Db) {
    let s = db.store.as_ref();
    family(s, "g1").await;
    family(s, "g2").await;
    assert!(s.revoke_grant("g1", 5).await.unwrap());
    assert!(!s.revoke_grant("g1", 6).await.unwrap(), "revoked once");
    assert!(!live_access(s, "g1-at0").await);
    assert!(!live_refresh(s, "g1-rt0").await);
    let found = s.find_refresh_token("g1-rt0").await.unwrap().unwrap();
    assert!(
        found.grant_revoked && !found.revoked,
        "the grant is revoked, not the token itself"
    );
    assert!(live_access(s, "g2-at0").await);
    assert!(live_refresh(s, "g2-rt0").await);
    assert!(
        !s.access_token_active("g2-at0", NOW + 600).await.unwrap(),
        "expired at NOW + 600"
    );
    // One access token alone (RFC 7009), by its client only.
    assert!(!s.revoke_access_token("g2-at0", "other", NOW).await.unwrap());
    assert!(s.revoke_access_token("g2-at0", "c", NOW).await.unwrap());
    assert!(!live_access(s, "g2-at0").await);
    assert!(live_refresh(s, "g2-rt0").await);
}

/// Once a grant is revoked nothing can be issued under it, by any grant
/// type, and what was presented for it stays unusable.
async fn nothing_is_issued_into_a_revoked_grant(db: Db) {
    let s = db.store.as_ref();
    let c = new_code(s, "late").await;
    s.revoke_grant(&c.grant_id, NOW).await.unwrap();
    assert_eq!(
        s.redeem_code_and_issue("late", NOW, &tokens(&c.grant_id, "late-at", None))
            .await
            .unwrap(),
        Issued::GrantRevoked
    );
    assert!(!live_access(s, "late-at").await);

    family(s, "g").await;
    s.revoke_grant("g", NOW).await.unwrap();
    let t = tokens("g", "g-at1", Some("g-rt1"));
    assert_eq!(
        s.rotate_refresh_and_issue("g-rt0", NOW, rotate(), &t)
            .await
            .unwrap(),
        Issued::GrantRevoked
    );
    assert!(!live_access(s, "g-at1").await);
    assert!(!live_refresh(s, "g-rt1").await);
}

async fn refresh_rotation_is_atomic_and_reuse_is_reported(db: Db) {
    let s = Arc::clone(&db.store);
    family(s.as_ref(), "g").await;
    let tasks: Vec<_> = (1..=16)
        .map(|i| {
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                let t = tokens("g", &format!("at{i}"), Some(&format!("rt{i}")));
                let got = s.rotate_refresh_and_issue("g-rt0", NOW, rotate(), &t);
                (i, got.await.unwrap())
            })
        })
        .collect();
    let mut winners = vec![];
    for t in tasks {
        match t.await.unwrap() {
            (i, Issued::Stored) => winners.push(i),
            (_, Issued::Replayed { grant_id }) => assert_eq!(grant_id, "g"),
            (_, other) => panic!("{other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation");
    let w = winners[0];
    for i in 1..=16 {
        assert_eq!(live_refresh(s.as_ref(), &format!("rt{i}")).await, i == w);
    }
    let rotated = s.find_refresh_token("g-rt0").await.unwrap().unwrap();
    assert_eq!(rotated.rotated_at, Some(NOW));
    assert!(!live_refresh(s.as_ref(), "g-rt0").await);
    assert_eq!(
        s.rotate_refresh_and_issue("unknown", NOW, rotate(), &tokens("g", "x", Some("y")))
            .await
            .unwrap(),
        Issued::NotFound
    );
}

async fn a_kept_refresh_token_moves_its_idle_expiry_never_past_the_family(db: Db) {
    let s = db.store.as_ref();
    family(s, "k").await;
    let keep = Rotation::Keep {
        idle_expires_at: NOW + 20_000,
    };
    assert_eq!(
        s.rotate_refresh_and_issue("k-rt0", NOW, keep, &tokens("k", "k-at1", None))
            .await
            .unwrap(),
        Issued::Stored
    );
    let live = s.get_refresh_token("k-rt0", NOW).await.unwrap().unwrap();
    assert_eq!(live.idle_expires_at, NOW + 10_000, "capped by the family");
    assert!(live_access(s, "k-at1").await);
    // Past its idle expiry a token is refused.
    family(s, "idle").await;
    let later = NOW + 5_000;
    assert_eq!(
        s.rotate_refresh_and_issue("idle-rt0", later, rotate(), &tokens("idle", "a", Some("b")))
            .await
            .unwrap(),
        Issued::NotFound
    );
}

/// A fault while storing the new tokens rolls the rotation back: the old
/// refresh token is still live and the retry rotates it.
async fn a_failed_rotation_leaves_the_refresh_token_live(db: Db) {
    let s = db.store.as_ref();
    family(s, "f").await;
    let t = tokens("f", "f-at1", Some("f-rt1"));
    db.break_inserts("access_tokens").await;
    assert!(s
        .rotate_refresh_and_issue("f-rt0", NOW, rotate(), &t)
        .await
        .is_err());
    assert!(live_refresh(s, "f-rt0").await, "not rotated");
    db.heal("access_tokens").await;
    assert_eq!(
        s.rotate_refresh_and_issue("f-rt0", NOW, rotate(), &t)
            .await
            .unwrap(),
        Issued::Stored
    );
    assert!(live_refresh(s, "f-rt1").await);
    assert!(live_access(s, "f-at1").await);
}

/// Within the reuse interval, presenting the token just rotated again
/// revokes its unseen child (and the access token issued with it) and
/// issues a fresh pair; once the child was used, or outside the interval,
/// it is a replay.
async fn a_retry_within_the_reuse_interval_replaces_the_unseen_child(db: Db) {
    let s = db.store.as_ref();
    family(s, "r").await;
    let first = tokens("r", "r-at1", Some("r-rt1"));
    let retry = Rotation::Rotate {
        retry_since: Some(NOW - 30),
    };
    assert_eq!(
        s.rotate_refresh_and_issue("r-rt0", NOW, retry, &first)
            .await
            .unwrap(),
        Issued::Stored
    );
    // The answer was lost: the client presents r-rt0 again.
    let second = tokens("r", "r-at2", Some("r-rt2"));
    assert_eq!(
        s.rotate_refresh_and_issue("r-rt0", NOW + 5, retry, &second)
            .await
            .unwrap(),
        Issued::Reissued
    );
    assert!(
        !live_refresh(s, "r-rt1").await,
        "the unseen child is revoked"
    );
    assert!(!live_access(s, "r-at1").await, "with its access token");
    assert!(live_refresh(s, "r-rt2").await);
    assert!(live_access(s, "r-at2").await);
    assert!(live_access(s, "r-at0").await, "the grant lives");
    // The client uses its new token; now r-rt0 again is a replay.
    let third = tokens("r", "r-at3", Some("r-rt3"));
    assert_eq!(
        s.rotate_refresh_and_issue("r-rt2", NOW + 6, retry, &third)
            .await
            .unwrap(),
        Issued::Stored
    );
    let fourth = tokens("r", "r-at4", Some("r-rt4"));
    assert_eq!(
        s.rotate_refresh_and_issue("r-rt0", NOW + 7, retry, &fourth)
            .await
            .unwrap(),
        Issued::Replayed {
            grant_id: "r".into()
        },
        "the child was seen"
    );
    assert!(!live_refresh(s, "r-rt4").await);
    // Outside the interval a rotated token is a replay at once.
    family(s, "o").await;
    s.rotate_refresh_and_issue("o-rt0", NOW, retry, &tokens("o", "o-at1", Some("o-rt1")))
        .await
        .unwrap();
    let late = Rotation::Rotate {
        retry_since: Some(NOW + 1),
    };
    assert!(matches!(
        s.rotate_refresh_and_issue(
            "o-rt0",
            NOW + 40,
            late,
            &tokens("o", "o-at2", Some("o-rt2"))
        )
        .await
        .unwrap(),
        Issued::Replayed { .. }
    ));
    assert!(
        live_refresh(s, "o-rt1").await,
        "the store revokes nothing itself"
    );
}

/// A grant is created only while its client exists and its user has a live
/// session: a grant being created while the user is revoked, or the
/// client deleted, is either not created or revoked with the others.
async fn no_grant_for_a_revoked_user_or_a_deleted_client(db: Db) {
    let s = db.store.as_ref();
    s.revoke_user("u", NOW).await.unwrap();
    let c = code("after-revoke", "g-after");
    assert!(!s
        .create_grant_with_code(&grant("g-after"), &c)
        .await
        .unwrap());
    assert!(
        s.find_code("after-revoke").await.unwrap().is_none(),
        "nothing stored"
    );
    s.insert_device_code(&device()).await.unwrap();
    assert!(!s
        .decide_device_code("uc", 31, &approve("dg"))
        .await
        .unwrap());
    assert!(
        s.pending_device_code("uc", 31).await.unwrap().is_some(),
        "still pending: the decision was not recorded"
    );
    // Signed in again, the user may authorize; without the client, not.
    s.create_session("again", &session(i64::MAX)).await.unwrap();
    assert!(s
        .create_grant_with_code(&grant("g-again"), &code("again", "g-again"))
        .await
        .unwrap());
    assert!(s.delete_client("c", NOW).await.unwrap());
    assert!(!s
        .create_grant_with_code(&grant("g-gone"), &code("gone", "g-gone"))
        .await
        .unwrap());
    let mut cc = grant("cc");
    cc.user_id = None;
    assert!(!s
        .issue_client_credentials(&cc, &tokens("cc", "cc-at", None))
        .await
        .unwrap());
    assert!(!live_access(s, "cc-at").await);
    assert_eq!(db.orphans().await, 0);
}

async fn client_credentials_tokens_have_a_grant_of_their_own(db: Db) {
    let s = db.store.as_ref();
    let mut g = grant("cc");
    g.user_id = None;
    g.auth_time = None;
    assert!(s
        .issue_client_credentials(&g, &tokens("cc", "cc-at", None))
        .await
        .unwrap());
    assert!(live_access(s, "cc-at").await);
    assert!(
        s.issue_client_credentials(&grant("other"), &tokens("cc", "x", None))
            .await
            .is_err(),
        "the token must belong to the new grant"
    );
    s.revoke_grant("cc", NOW).await.unwrap();
    assert!(!live_access(s, "cc-at").await);
}

// ---------------------------------------------------------------------
// Device authorizations.

fn device() -> DeviceCode {
    DeviceCode {
        device_code_hash: "d".into(),
        user_code_hash: "uc".into(),
        client_id: "c".into(),
        scope: "openid".into(),
        resources: "https://api.example/".into(),
        issued_at: 0,
        expires_at: 600,
        interval: 5,
        status: DeviceStatus::Pending,
        user_id: None,
        auth_time: None,
        grant_id: None,
    }
}

fn approve(grant_id: &str) -> DeviceDecision {
    DeviceDecision::Approve {
        grant_id: grant_id.into(),
        user_id: "u".into(),
        auth_time: 30,
        expires_at: 600,
    }
}

async fn device_codes_poll_decide_and_redeem(db: Db) {
    let s = Arc::clone(&db.store);
    s.insert_device_code(&device()).await.unwrap();
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
    assert_eq!(
        s.redeem_device_code_and_issue("d", 31, &tokens("dg", "d-at", None))
            .await
            .unwrap(),
        Issued::NotFound,
        "not approved yet"
    );
    assert!(s.pending_device_code("uc", 31).await.unwrap().is_some());
    assert!(s
        .decide_device_code("uc", 31, &approve("dg"))
        .await
        .unwrap());
    assert!(
        !s.decide_device_code("uc", 31, &DeviceDecision::Deny)
            .await
            .unwrap(),
        "decided once"
    );
    let DevicePoll::Polled { record, .. } = s.poll_device_code("d", 40).await.unwrap() else {
        panic!("not found");
    };
    assert_eq!(record.user_id.as_deref(), Some("u"));
    assert_eq!(record.grant_id.as_deref(), Some("dg"));
    // Of concurrent polls exactly one redeems.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                let t = tokens("dg", &format!("d-at{i}"), None);
                s.redeem_device_code_and_issue("d", 41, &t).await.unwrap()
            })
        })
        .collect();
    let mut stored = 0;
    for t in tasks {
        match t.await.unwrap() {
            Issued::Stored => stored += 1,
            Issued::Replayed { grant_id } => assert_eq!(grant_id, "dg"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(stored, 1);
    assert_eq!(
        s.poll_device_code("d", 50).await.unwrap(),
        DevicePoll::NotFound
    );
}

async fn a_failed_device_redemption_leaves_the_code_for_the_next_poll(db: Db) {
    let s = db.store.as_ref();
    s.insert_device_code(&device()).await.unwrap();
    assert!(s
        .decide_device_code("uc", 31, &approve("dg"))
        .await
        .unwrap());
    let t = tokens("dg", "d-at", Some("d-rt"));
    db.break_inserts("refresh_tokens").await;
    assert!(s.redeem_device_code_and_issue("d", 40, &t).await.is_err());
    db.heal("refresh_tokens").await;
    assert_eq!(
        s.redeem_device_code_and_issue("d", 41, &t).await.unwrap(),
        Issued::Stored
    );
    assert!(live_access(s, "d-at").await);
}

async fn a_denied_device_code_gets_no_grant(db: Db) {
    let s = db.store.as_ref();
    s.insert_device_code(&device()).await.unwrap();
    assert!(s
        .decide_device_code("uc", 31, &DeviceDecision::Deny)
        .await
        .unwrap());
    assert_eq!(
        s.redeem_device_code_and_issue("d", 40, &tokens("dg", "d-at", None))
            .await
            .unwrap(),
        Issued::NotFound
    );
    assert!(!s.revoke_grant("dg", 40).await.unwrap(), "no such grant");
}

// ---------------------------------------------------------------------
// Keys, settings, upkeep.

async fn settings_are_initialised_once(db: Db) {
    let s = db.store.as_ref();
    assert_eq!(s.setting_or_init("k", "first").await.unwrap(), "first");
    assert_eq!(s.setting_or_init("k", "second").await.unwrap(), "first");
}

async fn keys_round_trip_in_order(db: Db) {
    let s = db.store.as_ref();
    for (kid, at) in [("b", 2), ("a", 1)] {
        s.insert_key(&StoredKey {
            kid: kid.into(),
            alg: "ES256".into(),
            private_pkcs8: PrivateKeyDer::new(vec![1, 2, 3]),
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
    assert_eq!(keys[0].private_pkcs8.expose(), [1, 2, 3]);
    assert_eq!(keys[0].activates_at, 11);
    assert!(s.delete_key("a").await.unwrap());
    assert!(!s.delete_key("a").await.unwrap(), "gone already");
    let kids: Vec<String> = s
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["b"]);
    s.ping().await.unwrap();
}

async fn a_sweep_deletes_only_what_expired(db: Db) {
    let s = db.store.as_ref();
    // The fixtures' grants live 40 s past their codes: a code retention
    // of 40 s.
    let retention = 40;
    let c = new_code(s, "old").await;
    family(s, "gg").await;
    assert!(s.record_jti("c", "j", 50).await.unwrap());
    // The code expires at NOW + 60: kept while the cut-off is not past that.
    let none = s.sweep(NOW, NOW - retention).await.unwrap();
    assert_eq!(
        none.codes + none.refresh_tokens + none.access_tokens + none.grants + none.jtis,
        1,
        "only the jti"
    );
    // Past the codes' retention (NOW + 100) their grant goes with them,
    // unless it holds tokens: gg's family lives until NOW + 10,000.
    let at = NOW + 101;
    let swept = s.sweep(at, at - retention).await.unwrap();
    assert_eq!((swept.codes, swept.grants), (2, 1));
    assert!(s.find_code(&c.code_hash).await.unwrap().is_none());
    assert!(live_refresh(s, "gg-rt0").await, "the family lives on");
    let at = NOW + 10_001;
    let swept = s.sweep(at, at - retention).await.unwrap();
    assert_eq!(
        (swept.access_tokens, swept.refresh_tokens, swept.grants),
        (1, 1, 1)
    );
    assert_eq!(db.orphans().await, 0);
    // A revoked grant is kept like any other, until what was issued under
    // it has expired: a replay of its tokens is still recognised.
    family(s, "rv").await;
    s.revoke_grant("rv", NOW).await.unwrap();
    let later = NOW + 4_000;
    assert_eq!(s.sweep(later, later - retention).await.unwrap().grants, 0);
    assert!(matches!(
        s.rotate_refresh_and_issue("rv-rt0", later, rotate(), &tokens("rv", "a", Some("b")))
            .await
            .unwrap(),
        Issued::GrantRevoked
    ));
    let end = NOW + 10_001;
    let swept = s.sweep(end, end - retention).await.unwrap();
    assert_eq!(swept.grants, 1);
    assert_eq!(db.orphans().await, 0);
}

/// However many rows expired (sweeps delete in chunks of 1,000, so that
/// they never hold the database long), all go, and nothing else does.
async fn a_large_sweep_deletes_every_expired_row(db: Db) {
    let s = db.store.as_ref();
    for i in 0..2_345 {
        new_code(s, &format!("expired-{i}")).await;
    }
    let mut live = code("live", "g-live");
    live.expires_at = 1_000_000;
    let mut g = grant("g-live");
    g.expires_at = 1_000_000;
    s.create_grant_with_code(&g, &live).await.unwrap();
    let swept = s.sweep(10_000, 10_000).await.unwrap();
    assert_eq!((swept.codes, swept.grants), (2_345, 2_345));
    assert_eq!(db.orphans().await, 0);
    assert!(matches!(
        s.consume_code("live", 20).await.unwrap(),
        CodeConsumption::Consumed(_)
    ));
    assert_eq!(s.sweep(10_000, 10_000).await.unwrap().codes, 0);
}

// ---------------------------------------------------------------------
// One backend only.

#[tokio::test]
async fn sqlite_runs_in_wal_mode_on_a_real_file() {
    let db = sqlite().await;
    db.store.setting_or_init("x", "y").await.unwrap();
    let Raw::Sqlite(path) = &db.raw else {
        unreachable!()
    };
    assert!(path.exists());
    assert!(
        path.with_extension("db-wal").exists(),
        "WAL journal missing"
    );
}

/// SQLite only: a checkpoint lets the next write start the write-ahead log
/// over, where without one the log keeps every frame (under steady load,
/// passive auto-checkpoints never get that far; see `sqlite/checkpoint.rs`).
#[tokio::test]
async fn sqlite_checkpoint_starts_the_log_over() {
    // The WAL file header's checkpoint sequence number (bytes 12..16, big
    // endian) changes each time the log starts over. Reading the file
    // leaves the database as it is, where asking SQLite would checkpoint.
    fn log_generation(wal: &std::path::Path) -> u32 {
        let bytes = std::fs::read(wal).unwrap();
        u32::from_be_bytes(bytes[12..16].try_into().unwrap())
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contract.db");
    let settings = proofkey_store::StoreSettings {
        checkpoint_interval: None,
        ..Default::default()
    };
    let s =
        proofkey_store::Database::open_sqlite(&format!("sqlite://{}", path.display()), &settings)
            .await
            .unwrap();
    seed(&s).await;
    let wal = path.with_extension("db-wal");
    for i in 0..100 {
        new_code(&s, &format!("w{i}")).await;
    }
    // Far below the 1,000-page auto-checkpoint: no write starts it over.
    let first = log_generation(&wal);
    new_code(&s, "still-the-same-log").await;
    assert_eq!(log_generation(&wal), first);
    s.checkpoint().await.unwrap();
    new_code(&s, "after").await;
    assert_ne!(log_generation(&wal), first, "the log started over");
    assert!(matches!(
        s.consume_code("w0", 10).await.unwrap(),
        CodeConsumption::Consumed(_)
    ));
}

/// SQLite only: the store checkpoints by itself (every half second).
#[tokio::test]
async fn sqlite_checkpoints_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contract.db");
    let settings = proofkey_store::StoreSettings {
        checkpoint_interval: Some(std::time::Duration::from_millis(20)),
        ..Default::default()
    };
    let s =
        proofkey_store::Database::open_sqlite(&format!("sqlite://{}", path.display()), &settings)
            .await
            .unwrap();
    seed(&s).await;
    let wal = path.with_extension("db-wal");
    let generation = || {
        let bytes = std::fs::read(&wal).unwrap();
        u32::from_be_bytes(bytes[12..16].try_into().unwrap())
    };
    new_code(&s, "first").await;
    let first = generation();
    // Writes go on until one of them finds the log started over; bounded.
    for i in 0..2_000 {
        new_code(&s, &format!("n{i}")).await;
        if generation() != first {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("no checkpoint in 2,000 writes");
}

/// SQLite only: when the store answers, the change is committed: another
/// connection to the file (another process) sees the code as used at once.
#[tokio::test]
async fn sqlite_answers_after_the_commit() {
    let db = sqlite().await;
    let Raw::Sqlite(path) = &db.raw else {
        unreachable!()
    };
    let other = rusqlite::Connection::open(path).unwrap();
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
        new_code(db.store.as_ref(), &hash).await;
        assert_eq!(used(&hash), None);
        assert!(matches!(
            db.store.consume_code(&hash, 2).await.unwrap(),
            CodeConsumption::Consumed(_)
        ));
        assert_eq!(
            used(&hash),
            Some(2),
            "{hash} is used as soon as that is answered"
        );
    }
}

/// PostgreSQL only: a revocation that arrives while an issuance's
/// transaction is open (held there by a slow insert) waits for it, then
/// ends what it stored; an issuance that arrives after a revocation stores
/// nothing. No interleaving leaves a live token in a revoked grant.
#[tokio::test]
async fn postgres_a_revocation_during_an_issuance_waits_and_ends_its_tokens() {
    let db = postgres().await;
    let s = Arc::clone(&db.store);
    family(s.as_ref(), "slow").await;
    db.exec(
        "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $$;
         CREATE TRIGGER slow_insert BEFORE INSERT ON refresh_tokens
         FOR EACH ROW EXECUTE FUNCTION slow_insert();",
    )
    .await;
    let issuing = {
        let s = Arc::clone(&s);
        tokio::spawn(async move {
            let t = tokens("slow", "slow-at1", Some("slow-rt1"));
            s.rotate_refresh_and_issue("slow-rt0", NOW, rotate(), &t)
                .await
                .unwrap()
        })
    };
    let Raw::Pg(pool) = &db.raw else {
        unreachable!()
    };
    let sessions = |query: &'static str| {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
            n
        }
    };
    // The issuance holds the grant (its consuming statement is done) and
    // sleeps in its insert.
    let mut inserting = false;
    for _ in 0..2_000 {
        if sessions("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO refresh_tokens%' AND state = 'active'").await > 0 {
            inserting = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(inserting, "the issuance never reached its insert");
    let revoking = {
        let s = Arc::clone(&s);
        tokio::spawn(async move { s.revoke_grant("slow", NOW).await.unwrap() })
    };
    // The revocation waits for the issuance's lock on the grant's row.
    let mut waited = false;
    for _ in 0..2_000 {
        if sessions("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'UPDATE grants SET revoked_at%' AND wait_event_type = 'Lock'").await > 0 {
            waited = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(
        waited,
        "the revocation did not wait for the issuance's lock"
    );
    assert_eq!(issuing.await.unwrap(), Issued::Stored, "it committed first");
    assert!(revoking.await.unwrap(), "then the revocation");
    assert!(!live_access(s.as_ref(), "slow-at1").await);
    assert!(!live_refresh(s.as_ref(), "slow-rt1").await);
    // And after the revocation nothing more is issued.
    let t = tokens("slow", "slow-at2", Some("slow-rt2"));
    assert_eq!(
        s.rotate_refresh_and_issue("slow-rt1", NOW, rotate(), &t)
            .await
            .unwrap(),
        Issued::GrantRevoked
    );
    assert!(!live_access(s.as_ref(), "slow-at2").await);
}

/// Failure counters: counted atomically under concurrency, a new window
/// after the old one, blocks that never shorten, cleared on demand, swept
/// once neither counting nor blocking.
async fn failure_counters_count_block_and_clear(db: Db) {
    let s = Arc::clone(&db.store);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            s.record_failure("user:ann", 1_000, 900).await.unwrap()
        }));
    }
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=20).collect::<Vec<u32>>(),
        "every failure counted once"
    );
    assert_eq!(s.record_failure("user:ann", 1_899, 900).await.unwrap(), 21);
    assert_eq!(
        s.record_failure("user:ann", 1_900, 900).await.unwrap(),
        1,
        "a new window"
    );
    assert_eq!(s.blocked_until("user:ann", 1_900).await.unwrap(), None);
    s.block_failures("user:ann", 2_500).await.unwrap();
    s.block_failures("user:ann", 2_000).await.unwrap();
    assert_eq!(
        s.blocked_until("user:ann", 1_900).await.unwrap(),
        Some(2_500),
        "never shortened"
    );
    assert_eq!(s.blocked_until("user:ann", 2_500).await.unwrap(), None);
    assert_eq!(s.blocked_until("user:bob", 1_900).await.unwrap(), None);
    assert!(s.clear_failures("user:ann").await.unwrap());
    assert!(!s.clear_failures("user:ann").await.unwrap());
    assert_eq!(s.record_failure("user:ann", 3_000, 900).await.unwrap(), 1);
    s.record_failure("addr:192.0.2.1", 3_000, 900)
        .await
        .unwrap();
    s.block_failures("addr:192.0.2.1", 100_000).await.unwrap();
    let swept = s.sweep(3_000 + 86_401, 0).await.unwrap();
    assert_eq!(swept.failure_counters, 1, "the old count, not the block");
    assert_eq!(
        s.blocked_until("addr:192.0.2.1", 90_000).await.unwrap(),
        Some(100_000)
    );
}

// ---------------------------------------------------------------------
// Resources (RFC 8707), self-registered clients (RFC 7591/7592) and
// initial access tokens.

async fn resources_round_trip_and_ride_on_grants(db: Db) {
    let s = db.store.as_ref();
    let r = proofkey_core::model::Resource {
        uri: "https://api.example/".into(),
        name: "API".into(),
        scopes: vec!["read".into(), "write".into()],
        created_at: NOW,
    };
    s.create_resource(&r).await.unwrap();
    assert!(matches!(
        s.create_resource(&r).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.get_resource(&r.uri).await.unwrap(), Some(r.clone()));
    assert_eq!(
        s.get_resource("https://api.example").await.unwrap(),
        None,
        "exact"
    );
    assert_eq!(s.list_resources().await.unwrap(), vec![r.clone()]);

    // A grant's resources reach its code and its refresh tokens.
    family(s, "g1").await;
    let code = s.find_code("g1-code").await.unwrap().unwrap();
    assert_eq!(code.code.resources, "https://api.example/");
    let rt = s.find_refresh_token("g1-rt0").await.unwrap().unwrap();
    assert_eq!(rt.record.resources, "https://api.example/");
    assert_eq!(
        s.get_refresh_token("g1-rt0", NOW)
            .await
            .unwrap()
            .unwrap()
            .resources,
        "https://api.example/"
    );

    assert!(s.delete_resource(&r.uri).await.unwrap());
    assert!(!s.delete_resource(&r.uri).await.unwrap());
    assert!(s.list_resources().await.unwrap().is_empty());
}

async fn self_registered_clients_are_updated_in_place(db: Db) {
    use proofkey_core::model::Registration;
    let s = db.store.as_ref();
    let mut c = client("dyn");
    c.registration = Registration::Dynamic;
    c.registration_token_hash = Some("rat-hash".into());
    c.resources = vec!["https://api.example/".into()];
    s.create_client(&c).await.unwrap();
    let got = s.get_client("dyn").await.unwrap().unwrap();
    assert_eq!(got.registration, Registration::Dynamic);
    assert_eq!(got.registration_token_hash.as_deref(), Some("rat-hash"));
    assert_eq!(got.resources, c.resources);

    let mut changed = c.clone();
    changed.name = "Renamed".into();
    changed.redirect_uris = vec!["http://127.0.0.1/other".into()];
    changed.registration_token_hash = None;
    assert!(s.update_client(&changed).await.unwrap());
    let got = s.get_client("dyn").await.unwrap().unwrap();
    assert_eq!(
        (got.name.as_str(), got.redirect_uris.clone()),
        ("Renamed", changed.redirect_uris)
    );
    assert_eq!(
        got.registration_token_hash.as_deref(),
        Some("rat-hash"),
        "kept"
    );

    // Only a client registered as the update says.
    s.create_client(&client("admin")).await.unwrap();
    let mut as_dynamic = client("admin");
    as_dynamic.registration = Registration::Dynamic;
    as_dynamic.name = "Hijacked".into();
    assert!(!s.update_client(&as_dynamic).await.unwrap());
    assert_eq!(s.get_client("admin").await.unwrap().unwrap().name, "ADMIN");
    assert!(!s
        .update_client(&{
            let mut x = client("nobody");
            x.registration = Registration::Dynamic;
            x
        })
        .await
        .unwrap());
}

async fn initial_access_tokens_are_spent_atomically(db: Db) {
    let s = Arc::clone(&db.store);
    s.create_initial_access_token("iat", 3, NOW + 60, NOW)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.use_initial_access_token("iat", NOW).await.unwrap() })
        })
        .collect();
    let mut used = 0;
    for t in tasks {
        used += usize::from(t.await.unwrap());
    }
    assert_eq!(used, 3, "exactly its uses");
    assert!(!s.use_initial_access_token("unknown", NOW).await.unwrap());
    s.create_initial_access_token("short", 5, NOW + 60, NOW)
        .await
        .unwrap();
    assert!(
        !s.use_initial_access_token("short", NOW + 60).await.unwrap(),
        "expired"
    );
    let swept = s.sweep(NOW + 61, NOW).await.unwrap();
    assert_eq!(
        swept.initial_access_tokens, 2,
        "the used-up and the expired one"
    );
}

// ---------------------------------------------------------------------
// Pushed authorization requests (RFC 9126).

async fn pushed_requests_are_used_once_and_expire(db: Db) {
    let s = Arc::clone(&db.store);
    let pushed = |hash: &str, expires_at: i64| PushedRequest {
        request_uri_hash: hash.into(),
        client_id: "c".into(),
        params: "response_type=code&client_id=c".into(),
        created_at: NOW,
        expires_at,
    };
    s.push_request(&pushed("pr", NOW + 60)).await.unwrap();
    assert_eq!(
        s.get_pushed_request("pr", NOW).await.unwrap(),
        Some(pushed("pr", NOW + 60)),
        "read, not consumed: a reload finds it again"
    );
    assert!(s.get_pushed_request("pr", NOW).await.unwrap().is_some());
    assert!(
        s.get_pushed_request("pr", NOW + 60)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.consume_pushed_request("pr", NOW).await.unwrap() })
        })
        .collect();
    let mut used = 0;
    for t in tasks {
        used += usize::from(t.await.unwrap());
    }
    assert_eq!(used, 1, "one code per request_uri");
    assert!(s.get_pushed_request("pr", NOW).await.unwrap().is_none());

    // Extended once a browser brought it, never shortened, never revived.
    s.push_request(&pushed("long", NOW + 60)).await.unwrap();
    assert!(s
        .extend_pushed_request("long", NOW, NOW + 3600)
        .await
        .unwrap());
    assert!(!s
        .extend_pushed_request("long", NOW, NOW + 100)
        .await
        .unwrap());
    assert_eq!(
        s.get_pushed_request("long", NOW + 3599)
            .await
            .unwrap()
            .map(|p| p.expires_at),
        Some(NOW + 3600)
    );
    s.push_request(&pushed("dead", NOW + 10)).await.unwrap();
    assert!(!s
        .extend_pushed_request("dead", NOW + 10, NOW + 3600)
        .await
        .unwrap());
    assert!(s.consume_pushed_request("long", NOW).await.unwrap());

    s.push_request(&pushed("old", NOW + 10)).await.unwrap();
    assert!(
        !s.consume_pushed_request("old", NOW + 10).await.unwrap(),
        "expired"
    );
    assert_eq!(
        s.sweep(NOW + 11, NOW).await.unwrap().pushed_requests,
        2,
        "the unused old and dead ones"
    );

    // Deleting the client deletes what it pushed.
    s.push_request(&pushed("gone", NOW + 60)).await.unwrap();
    assert!(s.delete_client("c", NOW).await.unwrap());
    assert!(s.get_pushed_request("gone", NOW).await.unwrap().is_none());
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::sqlite().await).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::postgres().await).await;
                }
            )*
        }
    };
}

both_backends!(
    duplicate_clients_conflict_and_nothing_changes,
    deleting_a_client_revokes_its_grants,
    assertion_jtis_are_single_use,
    an_operators_client_is_replaced_in_place,
    users_sessions_consents_and_revocation,
    a_user_is_updated_disabled_and_enabled,
    of_sign_ins_racing_a_disabling_no_session_survives,
    a_code_is_consumed_once_then_reported_as_used,
    a_code_without_a_challenge_is_stored_with_no_grant,
    of_concurrent_redemptions_exactly_one_stores,
    concurrent_requests_succeed_or_fail_alone,
    a_failed_redemption_leaves_the_code_unused,
    revoking_a_grant_ends_its_tokens_only,
    nothing_is_issued_into_a_revoked_grant,
    refresh_rotation_is_atomic_and_reuse_is_reported,
    a_kept_refresh_token_moves_its_idle_expiry_never_past_the_family,
    a_failed_rotation_leaves_the_refresh_token_live,
    a_retry_within_the_reuse_interval_replaces_the_unseen_child,
    client_credentials_tokens_have_a_grant_of_their_own,
    no_grant_for_a_revoked_user_or_a_deleted_client,
    device_codes_poll_decide_and_redeem,
    a_failed_device_redemption_leaves_the_code_for_the_next_poll,
    a_denied_device_code_gets_no_grant,
    settings_are_initialised_once,
    keys_round_trip_in_order,
    a_sweep_deletes_only_what_expired,
    a_large_sweep_deletes_every_expired_row,
    failure_counters_count_block_and_clear,
    resources_round_trip_and_ride_on_grants,
    self_registered_clients_are_updated_in_place,
    initial_access_tokens_are_spent_atomically,
    pushed_requests_are_used_once_and_expire,
);
