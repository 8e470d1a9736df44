//! The SQLite store: the embedded default.
//!
//! WAL journal mode lets readers proceed while one writer writes;
//! `synchronous = NORMAL` in WAL mode syncs at checkpoints rather than at
//! every commit, so a power loss can lose the last transactions (codes and
//! tokens of the last moments, which clients then simply re-request) but
//! never corrupts the database.
//!
//! One connection per node, and its statements run inline, on the thread
//! of the request that needs them, under a mutex. A statement on an indexed
//! row takes microseconds; handing it to another thread and back (what sqlx
//! does, with a thread per connection) cost more than the statement and most
//! of the server's CPU time went to those hand-offs. Measured with
//! `bench/compare.sh` (docs/performance.md): complete code flows went from
//! about 2,700 to about 5,000 per second, p99 from 63 to about 10 ms.
//! Nothing long holds the connection: sweeps delete in chunks, and
//! checkpoints run on a connection of their own on a blocking thread.
//!
//! Migrations are sqlx's (the `_sqlx_migrations` table of databases made by
//! earlier versions stays valid), run on a short-lived sqlx connection at
//! open.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use proofkey_core::model::{
    AccessTokenRecord, AuthorizationCode, Client, CodeConsumption, DeviceCode, DevicePoll,
    RefreshTokenRecord, RefreshUse, Session, SessionInfo, StoredKey, SweepCounts, User,
};
use proofkey_core::store::StoreResult;
use proofkey_core::{Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _};

use crate::rows::{self, json_list};
use crate::statements::{self as sql, Sweep};
use crate::PoolSettings;

/// How long a statement waits for another process's write lock (an admin
/// command, say) before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Rows deleted per statement when sweeping, so that a sweep after hours
/// of heavy load never holds the connection for more than moments.
const SWEEP_CHUNK: u64 = 1000;

/// SQLite-backed store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<std::sync::Mutex<Connection>>,
    path: Arc<str>,
}

fn map_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict("record".into())
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

/// Opens a rusqlite connection with the store's settings.
fn connect(path: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         -- 4 MiB of page cache: the node's only connection.
         PRAGMA cache_size = -4096;
         -- The node's checkpointer (Store::checkpoint) checkpoints the log;
         -- SQLite's own passive checkpoints would run inside request
         -- statements and never let the log start over under load.
         PRAGMA wal_autocheckpoint = 0;
         -- After a checkpoint resets the log, its file is cut back to this
         -- size (it is otherwise reused at its largest).
         PRAGMA journal_size_limit = 67108864;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Opens `sqlite://PATH` (or `sqlite:PATH`), creating the file if needed,
    /// and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, &PoolSettings::default()).await
    }

    /// [`SqliteStore::open`]; the pool settings are PostgreSQL's (a SQLite
    /// node has one connection, see the module docs).
    pub async fn open_with(url: &str, _pool: &PoolSettings) -> Result<Self, StoreError> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url)
            .to_owned();
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(|e| StoreError::Backend(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let mut migrator = options
            .connect()
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {path}: {e}")))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut migrator)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        migrator
            .close()
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let conn = connect(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {path}: {e}")))?;
        Ok(Self {
            conn: Arc::new(std::sync::Mutex::new(conn)),
            path: path.into(),
        })
    }

    /// The connection, under a plain (blocking) mutex held only for the
    /// length of a statement. tokio's fair mutex was tried and measured
    /// worse: it hands the connection to the longest waiter, whose thread
    /// may be busy signing an RS256 ID token meanwhile, and the connection
    /// sits idle (flow-openid 3,678 -> 2,607/s).
    fn conn(&self) -> StoreResult<std::sync::MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Backend("the SQLite connection was poisoned".into()))
    }

    /// Deletes what `sweep` matches, `SWEEP_CHUNK` rows per statement,
    /// letting requests in between.
    async fn sweep_table(&self, sweep: Sweep, at: i64) -> StoreResult<u64> {
        let statement = format!(
            "DELETE FROM {t} WHERE ({k}) IN (SELECT {k} FROM {t} WHERE {c} LIMIT {SWEEP_CHUNK})",
            t = sweep.table,
            k = sweep.key,
            c = sweep.condition
        );
        let mut total = 0;
        loop {
            let n = exec(&*self.conn()?, &statement, params![at])? as u64;
            total += n;
            if n < SWEEP_CHUNK {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }

    /// `PRAGMA wal_checkpoint(PASSIVE)` then `(RESTART)` (see
    /// [`Store::checkpoint`]), on a connection of its own on a blocking
    /// thread. PASSIVE copies the log into the database while requests go
    /// on writing; RESTART then waits (busy handler) for the request
    /// connection's statement of the moment, holds writers while it copies
    /// the little PASSIVE left, and lets the log start over. Run on the
    /// request connection instead, the copy and its fsync stopped every
    /// request for their whole length: p99 of refresh chains went from 26
    /// to 137 ms (docs/performance.md).
    async fn checkpoint_log(&self) -> StoreResult<()> {
        let path = Arc::clone(&self.path);
        let (busy, frames) = tokio::task::spawn_blocking(move || {
            let c = Connection::open(&*path)?;
            c.busy_timeout(BUSY_TIMEOUT)?;
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            c.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
        .map_err(map_err)?;
        if busy != 0 {
            tracing::debug!(frames, "WAL checkpoint could not finish; next time");
        }
        Ok(())
    }
}

/// Runs `f` on the connection.
fn run<T>(
    c: &mut Connection,
    f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
) -> StoreResult<T> {
    f(c).map_err(map_err)
}

fn exec(c: &Connection, statement: &str, p: impl rusqlite::Params) -> StoreResult<usize> {
    c.prepare_cached(statement)
        .and_then(|mut st| st.execute(p))
        .map_err(map_err)
}

fn one<T>(
    c: &Connection,
    statement: &str,
    p: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Option<T>> {
    c.prepare_cached(statement)
        .and_then(|mut st| st.query_row(p, f).optional())
        .map_err(map_err)
}

fn all<T>(
    c: &Connection,
    statement: &str,
    p: impl rusqlite::Params,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    c.prepare_cached(statement)
        .and_then(|mut st| st.query_map(p, f)?.collect())
        .map_err(map_err)
}

/// `Conflict` named after what collided.
fn conflict(what: String) -> impl FnOnce(StoreError) -> StoreError {
    move |e| match e {
        StoreError::Conflict(_) => StoreError::Conflict(what),
        other => other,
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_client(&self, c: &Client) -> StoreResult<()> {
        exec(
            &*self.conn()?,
            sql::INSERT_CLIENT,
            params![
                c.id,
                c.name,
                c.kind.as_str(),
                c.secret_hash,
                json_list(&c.redirect_uris),
                json_list(&c.scopes),
                json_list(&c.grant_types),
                c.skip_consent,
                c.id_token_alg,
                c.created_at,
                c.jwks,
                c.jwks_uri,
                json_list(&c.post_logout_redirect_uris),
                c.rotate_refresh_tokens,
                c.always_issue_refresh_token,
            ],
        )
        .map_err(conflict(format!("client {:?}", c.id)))?;
        Ok(())
    }

    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        one(&*self.conn()?, sql::GET_CLIENT, params![id], |r| {
            rows::client(r)
        })
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        all(&*self.conn()?, sql::LIST_CLIENTS, [], |r| rows::client(r))
    }

    async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        Ok(exec(&*self.conn()?, sql::DELETE_CLIENT, params![id])? > 0)
    }

    async fn set_client_secret(&self, id: &str, secret_hash: &str) -> StoreResult<bool> {
        Ok(exec(
            &*self.conn()?,
            sql::SET_CLIENT_SECRET,
            params![secret_hash, id],
        )? > 0)
    }

    async fn create_user(&self, u: &User) -> StoreResult<()> {
        exec(
            &*self.conn()?,
            sql::INSERT_USER,
            params![
                u.id,
                u.username,
                u.email,
                u.name,
                u.password_hash,
                u.created_at
            ],
        )
        .map_err(conflict(format!("user {:?}", u.username)))?;
        Ok(())
    }

    async fn get_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        one(
            &*self.conn()?,
            sql::GET_USER_BY_USERNAME,
            params![username],
            |r| rows::user(r),
        )
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        one(&*self.conn()?, sql::GET_USER, params![id], |r| {
            rows::user(r)
        })
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        all(&*self.conn()?, sql::LIST_USERS, [], |r| rows::user(r))
    }

    async fn delete_user(&self, username: &str) -> StoreResult<bool> {
        Ok(exec(&*self.conn()?, sql::DELETE_USER, params![username])? > 0)
    }

    async fn set_password(&self, username: &str, password_hash: &str) -> StoreResult<bool> {
        Ok(exec(
            &*self.conn()?,
            sql::SET_PASSWORD,
            params![password_hash, username],
        )? > 0)
    }

    async fn create_session(&self, id_hash: &str, s: &Session) -> StoreResult<()> {
        exec(
            &*self.conn()?,
            sql::INSERT_SESSION,
            params![id_hash, s.user_id, s.auth_time, s.expires_at],
        )?;
        Ok(())
    }

    async fn get_session(&self, id_hash: &str, now: i64) -> StoreResult<Option<Session>> {
        one(
            &*self.conn()?,
            sql::GET_SESSION,
            params![id_hash, now],
            |r| {
                Ok(Session {
                    user_id: r.get("user_id")?,
                    auth_time: r.get("auth_time")?,
                    expires_at: r.get("expires_at")?,
                })
            },
        )
    }

    async fn grant_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
    ) -> StoreResult<()> {
        // An empty scope set is remembered too, as the empty string.
        let empty = [String::new()];
        let scopes = if scopes.is_empty() {
            &empty[..]
        } else {
            scopes
        };
        run(&mut *self.conn()?, |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for s in scopes {
                tx.prepare_cached(sql::INSERT_CONSENT)?
                    .execute(params![user_id, client_id, s])?;
            }
            tx.commit()
        })
    }

    async fn get_consent(&self, user_id: &str, client_id: &str) -> StoreResult<Vec<String>> {
        all(
            &*self.conn()?,
            sql::GET_CONSENT,
            params![user_id, client_id],
            |r| r.get("scope"),
        )
    }

    async fn insert_code(&self, c: &AuthorizationCode) -> StoreResult<()> {
        exec(
            &*self.conn()?,
            sql::INSERT_CODE,
            params![
                c.code_hash,
                c.client_id,
                c.redirect_uri,
                c.code_challenge,
                c.code_challenge_method,
                c.scope,
                c.nonce,
                c.user_id,
                c.auth_time,
                c.issued_at,
                c.expires_at,
            ],
        )?;
        Ok(())
    }

    async fn consume_code(&self, code_hash: &str, now: i64) -> StoreResult<CodeConsumption> {
        run(&mut *self.conn()?, |c| {
            let taken = c
                .prepare_cached(sql::CONSUME_CODE)?
                .query_row(params![now, code_hash], |r| rows::code(r))
                .optional()?;
            if let Some(code) = taken {
                return Ok(CodeConsumption::Consumed(Box::new(code)));
            }
            let exists = c
                .prepare_cached(sql::CODE_EXISTS)?
                .exists(params![code_hash])?;
            Ok(if exists {
                CodeConsumption::AlreadyUsed
            } else {
                CodeConsumption::NotFound
            })
        })
    }

    async fn insert_access_token(&self, t: &AccessTokenRecord) -> StoreResult<()> {
        exec(
            &*self.conn()?,
            sql::INSERT_ACCESS_TOKEN,
            params![
                t.jti,
                t.grant_id,
                t.client_id,
                t.user_id,
                t.scope,
                t.expires_at
            ],
        )?;
        Ok(())
    }

    async fn access_token_active(&self, jti: &str, now: i64) -> StoreResult<bool> {
        run(&mut *self.conn()?, |c| {
            c.prepare_cached(sql::ACCESS_TOKEN_ACTIVE)?
                .exists(params![jti, now])
        })
    }

    async fn get_access_token(
        &self,
        jti: &str,
        now: i64,
    ) -> StoreResult<Option<AccessTokenRecord>> {
        one(
            &*self.conn()?,
            sql::GET_ACCESS_TOKEN,
            params![jti, now],
            |r| rows::access(r),
        )
    }

    async fn revoke_access_token(&self, jti: &str, client_id: &str, now: i64) -> StoreResult<bool> {
        Ok(exec(
            &*self.conn()?,
            sql::REVOKE_ACCESS_TOKEN,
            params![now, jti, client_id],
        )? > 0)
    }

    async fn revoke_grant(&self, grant_id: &str, now: i64) -> StoreResult<u64> {
        run(&mut *self.conn()?, |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut n = 0;
            for statement in [sql::REVOKE_GRANT_ACCESS, sql::REVOKE_GRANT_REFRESH] {
                n += tx
                    .prepare_cached(statement)?
                    .execute(params![now, grant_id])? as u64;
            }
            tx.commit()?;
            Ok(n)
        })
    }

    async fn insert_refresh_token(&self, t: &RefreshTokenRecord) -> StoreResult<()> {
        exec(
            &*self.conn()?,
            sql::INSERT_REFRESH_TOKEN,
            params![
                t.token_hash,
                t.grant_id,
                t.client_id,
                t.user_id,
                t.scope,
                t.auth_time,
                t.issued_at,
                t.family_expires_at,
                t.idle_expires_at,
            ],
        )?;
        Ok(())
    }

    async fn use_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
        rotate: bool,
        new_idle_expiry: i64,
    ) -> StoreResult<RefreshUse> {
        run(&mut *self.conn()?, |c| {
            // rusqlite, unlike sqlx, refuses parameters a statement lacks.
            let taken = if rotate {
                c.prepare_cached(sql::ROTATE_REFRESH_TOKEN)?
                    .query_row(params![now, token_hash], |r| rows::refresh(r))
            } else {
                c.prepare_cached(sql::EXTEND_REFRESH_TOKEN)?
                    .query_row(params![now, token_hash, new_idle_expiry], |r| {
                        rows::refresh(r)
                    })
            }
            .optional()?;
            if let Some(t) = taken {
                return Ok(RefreshUse::Taken(Box::new(t)));
            }
            let reused = c
                .prepare_cached(sql::REUSED_REFRESH_TOKEN)?
                .query_row(params![token_hash], |r| rows::refresh(r))
                .optional()?;
            Ok(match reused {
                Some(t) => RefreshUse::Reused(Box::new(t)),
                None => RefreshUse::Invalid,
            })
        })
    }

    async fn get_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        one(
            &*self.conn()?,
            sql::GET_REFRESH_TOKEN,
            params![token_hash, now],
            |r| rows::refresh(r),
        )
    }

    async fn record_jti(&self, client_id: &str, jti: &str, expires_at: i64) -> StoreResult<bool> {
        Ok(exec(
            &*self.conn()?,
            sql::RECORD_JTI,
            params![client_id, jti, expires_at],
        )? == 1)
    }

    async fn list_sessions(&self, user_id: &str, now: i64) -> StoreResult<Vec<SessionInfo>> {
        all(
            &*self.conn()?,
            sql::LIST_SESSIONS,
            params![user_id, now],
            |r| {
                Ok(SessionInfo {
                    id: r.get("id")?,
                    auth_time: r.get("auth_time")?,
                    expires_at: r.get("expires_at")?,
                })
            },
        )
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        exec(&*self.conn()?, sql::DELETE_SESSION, params![id_hash])?;
        Ok(())
    }

    async fn revoke_user(&self, user_id: &str, now: i64) -> StoreResult<(u64, u64)> {
        run(&mut *self.conn()?, |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let sessions = tx
                .prepare_cached(sql::DELETE_USER_SESSIONS)?
                .execute(params![user_id])? as u64;
            let mut tokens = 0;
            for statement in [sql::REVOKE_USER_ACCESS, sql::REVOKE_USER_REFRESH] {
                tokens += tx
                    .prepare_cached(statement)?
                    .execute(params![now, user_id])? as u64;
            }
            tx.commit()?;
            Ok((sessions, tokens))
        })
    }

    async fn insert_device_code(&self, d: &DeviceCode) -> StoreResult<()> {
        exec(
            &*self.conn()?,
            sql::INSERT_DEVICE_CODE,
            params![
                d.device_code_hash,
                d.user_code_hash,
                d.client_id,
                d.scope,
                d.issued_at,
                d.expires_at,
                d.interval,
            ],
        )?;
        Ok(())
    }

    async fn pending_device_code(
        &self,
        user_code_hash: &str,
        now: i64,
    ) -> StoreResult<Option<DeviceCode>> {
        one(
            &*self.conn()?,
            sql::PENDING_DEVICE_CODE,
            params![user_code_hash, now],
            |r| rows::device(r),
        )
    }

    async fn decide_device_code(
        &self,
        user_code_hash: &str,
        now: i64,
        user_id: &str,
        auth_time: i64,
        approve: bool,
    ) -> StoreResult<bool> {
        let status = if approve { "approved" } else { "denied" };
        let n = exec(
            &*self.conn()?,
            sql::DECIDE_DEVICE_CODE,
            params![status, user_id, auth_time, user_code_hash, now],
        )?;
        Ok(n == 1)
    }

    async fn poll_device_code(&self, device_code_hash: &str, now: i64) -> StoreResult<DevicePoll> {
        let polled = one(
            &*self.conn()?,
            sql::POLL_DEVICE_CODE,
            params![now, device_code_hash],
            |r| Ok((rows::device(r)?, r.get::<_, bool>("slow")?)),
        )?;
        Ok(match polled {
            None => DevicePoll::NotFound,
            Some((record, slow_down)) => DevicePoll::Polled {
                record: Box::new(record),
                slow_down,
            },
        })
    }

    async fn consume_device_code(
        &self,
        device_code_hash: &str,
        now: i64,
    ) -> StoreResult<Option<DeviceCode>> {
        one(
            &*self.conn()?,
            sql::CONSUME_DEVICE_CODE,
            params![now, device_code_hash],
            |r| rows::device(r),
        )
    }

    async fn sweep(&self, now: i64) -> StoreResult<SweepCounts> {
        Ok(SweepCounts {
            codes: self.sweep_table(sql::SWEEP_CODES, now - 3600).await?,
            access_tokens: self.sweep_table(sql::SWEEP_ACCESS_TOKENS, now).await?,
            refresh_tokens: self.sweep_table(sql::SWEEP_REFRESH_TOKENS, now).await?,
            sessions: self.sweep_table(sql::SWEEP_SESSIONS, now).await?,
            jtis: self.sweep_table(sql::SWEEP_JTIS, now).await?,
            device_codes: self.sweep_table(sql::SWEEP_DEVICE_CODES, now).await?,
        })
    }

    async fn checkpoint(&self) -> StoreResult<()> {
        self.checkpoint_log().await
    }

    async fn ping(&self) -> StoreResult<()> {
        run(&mut *self.conn()?, |c| {
            c.query_row("SELECT 1", [], |_| Ok(()))
        })
    }

    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
        all(&*self.conn()?, sql::LIST_KEYS, [], |r| {
            Ok(StoredKey {
                kid: r.get("kid")?,
                alg: r.get("alg")?,
                private_pkcs8: r.get("private_pkcs8")?,
                created_at: r.get("created_at")?,
                activates_at: r.get("activates_at")?,
            })
        })
    }

    async fn insert_key(&self, k: &StoredKey) -> StoreResult<()> {
        exec(
            &*self.conn()?,
            sql::INSERT_KEY,
            params![k.kid, k.alg, k.private_pkcs8, k.created_at, k.activates_at],
        )?;
        Ok(())
    }

    async fn setting_or_init(&self, name: &str, init: &str) -> StoreResult<String> {
        run(&mut *self.conn()?, |c| {
            c.prepare_cached(sql::SETTING_OR_INIT)?
                .query_row(params![name, init], |r| r.get("value"))
        })
    }
}
