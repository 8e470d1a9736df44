//! Upgrading a database made before grants were rows (SQLite migration
//! 0005, PostgreSQL 0003): nothing a client holds is lost, and nothing
//! that was revoked comes back. Each backend's database is first made with
//! the migrations before, filled with rows as the earlier version wrote
//! them, then opened by this version.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use proofkey_core::model::{AccessTokenRecord, Issued, NewTokens, RefreshTokenRecord, Rotation};
use proofkey_core::Store;
use sqlx::Connection as _;

const NOW: i64 = 1_800_000_000;

/// The migrations of `backend` before grants, copied to a directory of
/// their own.
fn migrations_before(backend: &str, count: usize) -> tempfile::TempDir {
    let src: PathBuf = [env!("CARGO_MANIFEST_DIR"), "migrations", backend]
        .iter()
        .collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let dir = tempfile::tempdir().unwrap();
    for f in &files[..count] {
        std::fs::copy(f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    dir
}

/// Rows as the earlier version wrote them: grant ids were a code's hash
/// (`gl`, `gr`), a device code's hash (`gd`) or random (`gc`, for
/// client_credentials, whose tokens had the client as their user).
const OLD_ROWS: &str = "
-- A live family: its rotated first token, its current one, an access token.
INSERT INTO refresh_tokens (token_hash, grant_id, client_id, user_id, scope, auth_time, issued_at,
  family_expires_at, idle_expires_at, rotated_at, revoked_at)
VALUES ('gl-rt0', 'gl', 'app', 'alice', 'openid offline_access', 1, 1, 1800086400, 1800050000, 1799990000, NULL),
       ('gl-rt1', 'gl', 'app', 'alice', 'openid offline_access', 1, 1, 1800086400, 1800050000, NULL, NULL);
INSERT INTO access_tokens (jti, grant_id, client_id, user_id, scope, expires_at, revoked_at)
VALUES ('gl-at1', 'gl', 'app', 'alice', 'openid', 1800000600, NULL);
-- A family revoked on reuse, and what the old race left alive in it: a
-- refresh and an access token stored after the revocation.
INSERT INTO refresh_tokens (token_hash, grant_id, client_id, user_id, scope, auth_time, issued_at,
  family_expires_at, idle_expires_at, rotated_at, revoked_at)
VALUES ('gr-rt0', 'gr', 'app', 'alice', 'openid offline_access', 1, 1, 1800086400, 1800050000, 1799990000, 1799990001),
       ('gr-survivor', 'gr', 'app', 'alice', 'openid offline_access', 1, 1, 1800086400, 1800050000, NULL, NULL);
INSERT INTO access_tokens (jti, grant_id, client_id, user_id, scope, expires_at, revoked_at)
VALUES ('gr-at-survivor', 'gr', 'app', 'alice', 'openid', 1800000600, NULL);
-- client_credentials.
INSERT INTO access_tokens (jti, grant_id, client_id, user_id, scope, expires_at, revoked_at)
VALUES ('gc-at', 'gc', 'svc', 'svc', 'api', 1800000600, NULL);
-- A code not redeemed yet.
INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge,
  code_challenge_method, scope, nonce, user_id, auth_time, issued_at, expires_at, used_at)
VALUES ('code-new', 'app', 'http://127.0.0.1/cb', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
  'S256', 'openid', NULL, 'alice', 1, 1799999990, 1800000050, NULL);
-- An approved device code not polled yet.
INSERT INTO device_codes (device_code_hash, user_code_hash, client_id, scope, issued_at, expires_at,
  poll_interval, status, user_id, auth_time)
VALUES ('gd', 'uc', 'tv', 'openid', 1799999900, 1800000500, 5, 'approved', 'alice', 1799999950);
";

fn tokens(grant: &str, jti: &str, refresh: Option<&str>) -> NewTokens {
    NewTokens {
        access: AccessTokenRecord {
            jti: jti.into(),
            grant_id: grant.into(),
            client_id: "app".into(),
            user_id: "alice".into(),
            scope: "openid".into(),
            expires_at: NOW + 600,
        },
        refresh: refresh.map(|h| RefreshTokenRecord {
            token_hash: h.into(),
            grant_id: grant.into(),
            client_id: "app".into(),
            user_id: "alice".into(),
            scope: "openid offline_access".into(),
            resources: "".into(),
            auth_time: 1,
            issued_at: NOW,
            family_expires_at: NOW + 86_400,
            idle_expires_at: NOW + 50_000,
            access_jti: Some(jti.into()),
            dpop_jkt: None,
        }),
    }
}

async fn everything_held_survives_and_nothing_revoked_returns(s: &dyn Store) {
    // The live family: its access token works, its current refresh token
    // rotates, its rotated one is still recognised as reuse.
    assert!(s.access_token_active("gl-at1", NOW).await.unwrap());
    assert_eq!(
        s.rotate_refresh_and_issue(
            "gl-rt1",
            NOW,
            Rotation::Rotate { retry_since: None },
            &tokens("gl", "gl-at2", Some("gl-rt2"))
        )
        .await
        .unwrap(),
        Issued::Stored
    );
    assert_eq!(
        s.rotate_refresh_and_issue(
            "gl-rt0",
            NOW,
            Rotation::Rotate { retry_since: None },
            &tokens("gl", "x", Some("y"))
        )
        .await
        .unwrap(),
        Issued::Replayed {
            grant_id: "gl".into()
        }
    );
    // The revoked family stays revoked, and what the old race left alive
    // in it is dead now.
    assert!(!s.access_token_active("gr-at-survivor", NOW).await.unwrap());
    assert!(s
        .get_refresh_token("gr-survivor", NOW)
        .await
        .unwrap()
        .is_none());
    assert!(
        s.find_refresh_token("gr-survivor")
            .await
            .unwrap()
            .unwrap()
            .grant_revoked
    );
    // client_credentials.
    assert!(s.access_token_active("gc-at", NOW).await.unwrap());
    // The code, redeemed after the upgrade; its grant is its hash.
    let code = s.find_code("code-new").await.unwrap().unwrap();
    assert_eq!(code.code.grant_id, "code-new");
    assert_eq!(
        s.redeem_code_and_issue("code-new", NOW, &tokens("code-new", "c-at", Some("c-rt")))
            .await
            .unwrap(),
        Issued::Stored
    );
    assert!(s.access_token_active("c-at", NOW).await.unwrap());
    // The device code, redeemed after the upgrade.
    assert_eq!(
        s.redeem_device_code_and_issue("gd", NOW, &tokens("gd", "d-at", None))
            .await
            .unwrap(),
        Issued::Stored
    );
    assert!(s.access_token_active("d-at", NOW).await.unwrap());
}

#[tokio::test]
async fn sqlite_upgrade_keeps_what_clients_hold() {
    let before = migrations_before("sqlite", 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}", path.display());
    {
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
        let mut c = sqlx::SqliteConnection::connect_with(&options.create_if_missing(true))
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(before.path())
            .await
            .unwrap()
            .run(&mut c)
            .await
            .unwrap();
        sqlx::raw_sql(OLD_ROWS).execute(&mut c).await.unwrap();
        c.close().await.unwrap();
    }
    let s = proofkey_store::open(&url).await.unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(c.query_row(ORPHANS, [], |r| r.get::<_, i64>(0)).unwrap(), 0);
    everything_held_survives_and_nothing_revoked_returns(s.as_ref()).await;
}

/// Rows that name a grant that does not exist: none, after the upgrade.
const ORPHANS: &str = "SELECT (SELECT COUNT(*) FROM authorization_codes WHERE grant_id NOT IN (SELECT id FROM grants))
     + (SELECT COUNT(*) FROM access_tokens WHERE grant_id NOT IN (SELECT id FROM grants))
     + (SELECT COUNT(*) FROM refresh_tokens WHERE grant_id NOT IN (SELECT id FROM grants))
     + (SELECT COUNT(*) FROM device_codes WHERE grant_id IS NOT NULL AND grant_id NOT IN (SELECT id FROM grants))";

#[tokio::test]
async fn postgres_upgrade_keeps_what_clients_hold() {
    let base = std::env::var("PROOFKEY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {base} is required for this test: {e}"));
    let name = format!("pk_upgrade_{}", std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("{base}/{name}");
    {
        let before = migrations_before("postgres", 2);
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::migrate::Migrator::new(before.path())
            .await
            .unwrap()
            .run(&mut c)
            .await
            .unwrap();
        sqlx::raw_sql(OLD_ROWS).execute(&mut c).await.unwrap();
        c.close().await.unwrap();
    }
    let s = proofkey_store::open(&url).await.unwrap();
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    let orphans: i64 = sqlx::query_scalar(ORPHANS).fetch_one(&mut c).await.unwrap();
    assert_eq!(orphans, 0);
    everything_held_survives_and_nothing_revoked_returns(s.as_ref()).await;
    drop(s);
    drop(c);
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}
