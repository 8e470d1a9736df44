//! The SQLite store: the embedded default.
//!
//! WAL journal mode lets readers proceed while one writer writes;
//! `synchronous = NORMAL` in WAL mode syncs at checkpoints rather than at
//! every commit, so a power loss can lose the last transactions (codes and
//! tokens of the last moments, which clients then simply re-request) but
//! never corrupts the database.
//!
//! One connection per node, owned by a thread of its own, with group
//! commit: requests send their statements to that thread as jobs; it takes
//! every job waiting, runs them in one transaction (each job in a savepoint
//! of its own, so that a failing job rolls back alone, exactly as if it had
//! been a transaction of its own), commits once, and only then answers each
//! job. Under load a commit serves dozens of requests: one WAL append, one
//! lock round, one write of each hot page, where a transaction per
//! statement paid each of those per statement. Request threads never
//! block on the connection and never sleep in SQLite's busy handler.
//! Measured with `bench/compare.sh` (docs/performance.md).
//!
//! **Invariant:** a job is answered only after the transaction holding it
//! has committed: a consumed code or a rotated refresh token is durable (to
//! `synchronous = NORMAL`'s measure) before the caller acts on it.
//!
//! Migrations are sqlx's (the `_sqlx_migrations` table of databases made by
//! earlier versions stays valid), run on a short-lived sqlx connection at
//! open.

use std::str::FromStr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use proofkey_core::model::{
    AccessTokenRecord, AuthorizationCode, Client, CodeConsumption, DeviceCode, DevicePoll,
    RefreshTokenRecord, RefreshUse, Session, SessionInfo, StoredKey, SweepCounts, User,
};
use proofkey_core::store::StoreResult;
use proofkey_core::{Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _};
use tokio::sync::oneshot;

use crate::rows::{self, json_list};
use crate::statements::{self as sql, Sweep};
use crate::PoolSettings;

/// How long a statement waits for another process's write lock (an admin
/// command, say) before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Rows deleted per statement when sweeping, so that a sweep after hours
/// of heavy load never holds the connection for more than moments.
const SWEEP_CHUNK: u64 = 1000;

/// Most jobs in one transaction. Large enough that a commit serves every
/// request in flight at a few hundred concurrent clients; small enough that
/// one batch never keeps the first job's caller waiting long.
const MAX_BATCH: usize = 256;

/// SQLite-backed store. Clones share the connection's thread, which ends
/// when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    jobs: mpsc::Sender<Request>,
    path: Arc<str>,
}

/// What the connection's thread is asked to do.
enum Request {
    /// Statements, run in the next batch.
    Work(Box<dyn Job>),
    /// `PRAGMA wal_checkpoint(RESTART)`, between batches (see
    /// [`SqliteStore::checkpoint_log`]).
    Restart(oneshot::Sender<StoreResult<(i64, i64)>>),
}

/// One caller's statements, run on the connection's thread.
trait Job: Send {
    /// Runs the statements inside the batch's transaction.
    fn run(&mut self, c: &Connection);
    /// Answers the caller once the batch is over; `committed` is the
    /// outcome of its transaction.
    fn finish(self: Box<Self>, committed: &Result<(), String>);
}

struct Call<T, F> {
    work: Option<F>,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for Call<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> StoreResult<T> + Send,
{
    fn run(&mut self, c: &Connection) {
        if let Some(work) = self.work.take() {
            self.result = Some(in_savepoint(c, work));
        }
    }

    fn finish(self: Box<Self>, committed: &Result<(), String>) {
        let answer = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::Backend("the statement did not run".into())),
            (Err(e), _) => Err(StoreError::Unavailable(e.clone())),
        };
        // The caller may have gone (its request was dropped): nothing to do.
        let _ = self.reply.send(answer);
    }
}

/// Runs `work` in a savepoint: rolled back alone if it fails, as a
/// transaction of its own would be.
fn in_savepoint<T>(
    c: &Connection,
    work: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    exec(c, "SAVEPOINT job", [])?;
    let result = work(c);
    if result.is_err() {
        exec(c, "ROLLBACK TO job", [])?;
    }
    exec(c, "RELEASE job", [])?;
    result
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
         -- transactions and stop every request for their copy and fsync.
         PRAGMA wal_autocheckpoint = 0;
         -- After a checkpoint resets the log, its file is cut back to this
         -- size (it is otherwise reused at its largest).
         PRAGMA journal_size_limit = 67108864;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// The connection's thread: takes every job waiting (up to [`MAX_BATCH`]),
/// runs them in one `BEGIN IMMEDIATE` transaction, commits, answers them;
/// a checkpoint request runs between batches. Ends when every sender
/// (every clone of the store) is gone.
fn serve(conn: Connection, requests: mpsc::Receiver<Request>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = requests.recv() {
        let mut restart = None;
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Work(job) => batch.push(job),
                Request::Restart(reply) => {
                    restart = Some(reply);
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = requests.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let committed = run_batch(&conn, &mut batch);
            for job in batch.drain(..) {
                job.finish(&committed);
            }
        }
        if let Some(reply) = restart {
            let outcome = conn
                .query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })
                .map_err(map_err);
            let _ = reply.send(outcome);
        }
    }
}

/// One transaction for the whole batch; the commit's outcome (as text,
/// since every job of the batch gets it).
fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), String> {
    exec(conn, "BEGIN IMMEDIATE", []).map_err(|e| e.to_string())?;
    for job in batch.iter_mut() {
        job.run(conn);
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (an I/O error, a full
            // disk): every job of the batch failed, none may say otherwise.
            tracing::error!(jobs = batch.len(), "SQLite rolled back a batch");
            return Err("the transaction was rolled back by the database".into());
        }
    }
    match exec(conn, "COMMIT", []) {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!(error = %e, jobs = batch.len(), "SQLite commit failed; rolled back");
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(e.to_string())
        }
    }
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
        let (jobs, requests) = mpsc::channel();
        std::thread::Builder::new()
            .name("proofkey-sqlite".into())
            .spawn(move || serve(conn, requests))
            .map_err(|e| StoreError::Backend(format!("cannot start the SQLite thread: {e}")))?;
        Ok(Self {
            jobs,
            path: path.into(),
        })
    }

    /// Runs `work` on the connection's thread in the next batch, and waits
    /// (asynchronously) for its answer, which comes after the commit.
    async fn call<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Call {
            work: Some(work),
            result: None,
            reply,
        };
        self.jobs
            .send(Request::Work(Box::new(job)))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Deletes what `sweep` matches, `SWEEP_CHUNK` rows per job, so that
    /// requests' jobs run in between.
    async fn sweep_table(&self, sweep: Sweep, at: i64) -> StoreResult<u64> {
        let statement: Arc<str> = format!(
            "DELETE FROM {t} WHERE ({k}) IN (SELECT {k} FROM {t} WHERE {c} LIMIT {SWEEP_CHUNK})",
            t = sweep.table,
            k = sweep.key,
            c = sweep.condition
        )
        .into();
        let mut total = 0;
        loop {
            let st = Arc::clone(&statement);
            let n = self.call(move |c| exec(c, &st, params![at])).await? as u64;
            total += n;
            if n < SWEEP_CHUNK {
                return Ok(total);
            }
        }
    }

    /// `PRAGMA wal_checkpoint(PASSIVE)` on a connection of its own on a
    /// blocking thread, then `RESTART` on the node's connection between two
    /// batches (see [`Store::checkpoint`]). PASSIVE copies the log into the
    /// database, and syncs it, while requests go on committing. The RESTART
    /// then copies the little written since, and since the node's thread
    /// is the only writer, nothing is left behind and the log starts over;
    /// it waits for no lock (a RESTART on the other connection had to take
    /// the write lock from under the requests, which then slept in SQLite's
    /// busy handler).
    async fn checkpoint_log(&self) -> StoreResult<()> {
        let path = Arc::clone(&self.path);
        tokio::task::spawn_blocking(move || {
            let c = Connection::open(&*path)?;
            c.busy_timeout(BUSY_TIMEOUT)?;
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
        .map_err(map_err)?;
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Request::Restart(reply))
            .map_err(|_| stopped())?;
        let (busy, frames) = answer.await.map_err(|_| stopped())??;
        if busy != 0 {
            tracing::debug!(frames, "WAL checkpoint could not finish; next time");
        }
        Ok(())
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite connection's thread has stopped".into())
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
        let c = c.clone();
        self.call(move |conn| {
            exec(
                conn,
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
            .map_err(conflict(format!("client {:?}", c.id)))
        })
        .await?;
        Ok(())
    }

    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let id = id.to_owned();
        self.call(move |c| one(c, sql::GET_CLIENT, params![id], |r| rows::client(r)))
            .await
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        self.call(|c| all(c, sql::LIST_CLIENTS, [], |r| rows::client(r)))
            .await
    }

    async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        Ok(self
            .call(move |c| exec(c, sql::DELETE_CLIENT, params![id]))
            .await?
            > 0)
    }

    async fn set_client_secret(&self, id: &str, secret_hash: &str) -> StoreResult<bool> {
        let (id, secret_hash) = (id.to_owned(), secret_hash.to_owned());
        Ok(self
            .call(move |c| exec(c, sql::SET_CLIENT_SECRET, params![secret_hash, id]))
            .await?
            > 0)
    }

    async fn create_user(&self, u: &User) -> StoreResult<()> {
        let u = u.clone();
        self.call(move |c| {
            exec(
                c,
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
            .map_err(conflict(format!("user {:?}", u.username)))
        })
        .await?;
        Ok(())
    }

    async fn get_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let username = username.to_owned();
        self.call(move |c| {
            one(c, sql::GET_USER_BY_USERNAME, params![username], |r| {
                rows::user(r)
            })
        })
        .await
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        let id = id.to_owned();
        self.call(move |c| one(c, sql::GET_USER, params![id], |r| rows::user(r)))
            .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.call(|c| all(c, sql::LIST_USERS, [], |r| rows::user(r)))
            .await
    }

    async fn delete_user(&self, username: &str) -> StoreResult<bool> {
        let username = username.to_owned();
        Ok(self
            .call(move |c| exec(c, sql::DELETE_USER, params![username]))
            .await?
            > 0)
    }

    async fn set_password(&self, username: &str, password_hash: &str) -> StoreResult<bool> {
        let (username, password_hash) = (username.to_owned(), password_hash.to_owned());
        Ok(self
            .call(move |c| exec(c, sql::SET_PASSWORD, params![password_hash, username]))
            .await?
            > 0)
    }

    async fn create_session(&self, id_hash: &str, s: &Session) -> StoreResult<()> {
        let (id_hash, s) = (id_hash.to_owned(), s.clone());
        self.call(move |c| {
            exec(
                c,
                sql::INSERT_SESSION,
                params![id_hash, s.user_id, s.auth_time, s.expires_at],
            )
        })
        .await?;
        Ok(())
    }

    async fn get_session(&self, id_hash: &str, now: i64) -> StoreResult<Option<Session>> {
        let id_hash = id_hash.to_owned();
        self.call(move |c| {
            one(c, sql::GET_SESSION, params![id_hash, now], |r| {
                Ok(Session {
                    user_id: r.get("user_id")?,
                    auth_time: r.get("auth_time")?,
                    expires_at: r.get("expires_at")?,
                })
            })
        })
        .await
    }

    async fn grant_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
    ) -> StoreResult<()> {
        let (user_id, client_id) = (user_id.to_owned(), client_id.to_owned());
        // An empty scope set is remembered too, as the empty string.
        let scopes = if scopes.is_empty() {
            vec![String::new()]
        } else {
            scopes.to_vec()
        };
        // One job: its savepoint makes the scopes land together or not at all.
        self.call(move |c| {
            for s in &scopes {
                exec(c, sql::INSERT_CONSENT, params![user_id, client_id, s])?;
            }
            Ok(())
        })
        .await
    }

    async fn get_consent(&self, user_id: &str, client_id: &str) -> StoreResult<Vec<String>> {
        let (user_id, client_id) = (user_id.to_owned(), client_id.to_owned());
        self.call(move |c| {
            all(c, sql::GET_CONSENT, params![user_id, client_id], |r| {
                r.get("scope")
            })
        })
        .await
    }

    async fn insert_code(&self, code: &AuthorizationCode) -> StoreResult<()> {
        let code = code.clone();
        self.call(move |c| {
            exec(
                c,
                sql::INSERT_CODE,
                params![
                    code.code_hash,
                    code.client_id,
                    code.redirect_uri,
                    code.code_challenge,
                    code.code_challenge_method,
                    code.scope,
                    code.nonce,
                    code.user_id,
                    code.auth_time,
                    code.issued_at,
                    code.expires_at,
                ],
            )
        })
        .await?;
        Ok(())
    }

    async fn consume_code(&self, code_hash: &str, now: i64) -> StoreResult<CodeConsumption> {
        let code_hash = code_hash.to_owned();
        self.call(move |c| {
            let taken = one(c, sql::CONSUME_CODE, params![now, code_hash], |r| {
                rows::code(r)
            })?;
            if let Some(code) = taken {
                return Ok(CodeConsumption::Consumed(Box::new(code)));
            }
            let exists = one(c, sql::CODE_EXISTS, params![code_hash], |_| Ok(()))?;
            Ok(if exists.is_some() {
                CodeConsumption::AlreadyUsed
            } else {
                CodeConsumption::NotFound
            })
        })
        .await
    }

    async fn insert_access_token(&self, t: &AccessTokenRecord) -> StoreResult<()> {
        let t = t.clone();
        self.call(move |c| {
            exec(
                c,
                sql::INSERT_ACCESS_TOKEN,
                params![
                    t.jti,
                    t.grant_id,
                    t.client_id,
                    t.user_id,
                    t.scope,
                    t.expires_at
                ],
            )
        })
        .await?;
        Ok(())
    }

    async fn access_token_active(&self, jti: &str, now: i64) -> StoreResult<bool> {
        let jti = jti.to_owned();
        self.call(move |c| {
            Ok(one(c, sql::ACCESS_TOKEN_ACTIVE, params![jti, now], |_| Ok(()))?.is_some())
        })
        .await
    }

    async fn get_access_token(
        &self,
        jti: &str,
        now: i64,
    ) -> StoreResult<Option<AccessTokenRecord>> {
        let jti = jti.to_owned();
        self.call(move |c| {
            one(c, sql::GET_ACCESS_TOKEN, params![jti, now], |r| {
                rows::access(r)
            })
        })
        .await
    }

    async fn revoke_access_token(&self, jti: &str, client_id: &str, now: i64) -> StoreResult<bool> {
        let (jti, client_id) = (jti.to_owned(), client_id.to_owned());
        Ok(self
            .call(move |c| exec(c, sql::REVOKE_ACCESS_TOKEN, params![now, jti, client_id]))
            .await?
            > 0)
    }

    async fn revoke_grant(&self, grant_id: &str, now: i64) -> StoreResult<u64> {
        let grant_id = grant_id.to_owned();
        // One job, so both statements land together.
        self.call(move |c| {
            let mut n = 0;
            for statement in [sql::REVOKE_GRANT_ACCESS, sql::REVOKE_GRANT_REFRESH] {
                n += exec(c, statement, params![now, grant_id])? as u64;
            }
            Ok(n)
        })
        .await
    }

    async fn insert_refresh_token(&self, t: &RefreshTokenRecord) -> StoreResult<()> {
        let t = t.clone();
        self.call(move |c| {
            exec(
                c,
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
            )
        })
        .await?;
        Ok(())
    }

    async fn use_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
        rotate: bool,
        new_idle_expiry: i64,
    ) -> StoreResult<RefreshUse> {
        let token_hash = token_hash.to_owned();
        self.call(move |c| {
            // rusqlite, unlike sqlx, refuses parameters a statement lacks.
            let taken = if rotate {
                one(
                    c,
                    sql::ROTATE_REFRESH_TOKEN,
                    params![now, token_hash],
                    |r| rows::refresh(r),
                )?
            } else {
                one(
                    c,
                    sql::EXTEND_REFRESH_TOKEN,
                    params![now, token_hash, new_idle_expiry],
                    |r| rows::refresh(r),
                )?
            };
            if let Some(t) = taken {
                return Ok(RefreshUse::Taken(Box::new(t)));
            }
            let reused = one(c, sql::REUSED_REFRESH_TOKEN, params![token_hash], |r| {
                rows::refresh(r)
            })?;
            Ok(match reused {
                Some(t) => RefreshUse::Reused(Box::new(t)),
                None => RefreshUse::Invalid,
            })
        })
        .await
    }

    async fn get_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        let token_hash = token_hash.to_owned();
        self.call(move |c| {
            one(c, sql::GET_REFRESH_TOKEN, params![token_hash, now], |r| {
                rows::refresh(r)
            })
        })
        .await
    }

    async fn record_jti(&self, client_id: &str, jti: &str, expires_at: i64) -> StoreResult<bool> {
        let (client_id, jti) = (client_id.to_owned(), jti.to_owned());
        Ok(self
            .call(move |c| exec(c, sql::RECORD_JTI, params![client_id, jti, expires_at]))
            .await?
            == 1)
    }

    async fn list_sessions(&self, user_id: &str, now: i64) -> StoreResult<Vec<SessionInfo>> {
        let user_id = user_id.to_owned();
        self.call(move |c| {
            all(c, sql::LIST_SESSIONS, params![user_id, now], |r| {
                Ok(SessionInfo {
                    id: r.get("id")?,
                    auth_time: r.get("auth_time")?,
                    expires_at: r.get("expires_at")?,
                })
            })
        })
        .await
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        let id_hash = id_hash.to_owned();
        self.call(move |c| exec(c, sql::DELETE_SESSION, params![id_hash]))
            .await?;
        Ok(())
    }

    async fn revoke_user(&self, user_id: &str, now: i64) -> StoreResult<(u64, u64)> {
        let user_id = user_id.to_owned();
        // One job, so sessions and tokens go together.
        self.call(move |c| {
            let sessions = exec(c, sql::DELETE_USER_SESSIONS, params![user_id])? as u64;
            let mut tokens = 0;
            for statement in [sql::REVOKE_USER_ACCESS, sql::REVOKE_USER_REFRESH] {
                tokens += exec(c, statement, params![now, user_id])? as u64;
            }
            Ok((sessions, tokens))
        })
        .await
    }

    async fn insert_device_code(&self, d: &DeviceCode) -> StoreResult<()> {
        let d = d.clone();
        self.call(move |c| {
            exec(
                c,
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
            )
        })
        .await?;
        Ok(())
    }

    async fn pending_device_code(
        &self,
        user_code_hash: &str,
        now: i64,
    ) -> StoreResult<Option<DeviceCode>> {
        let user_code_hash = user_code_hash.to_owned();
        self.call(move |c| {
            one(
                c,
                sql::PENDING_DEVICE_CODE,
                params![user_code_hash, now],
                |r| rows::device(r),
            )
        })
        .await
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
        let (user_code_hash, user_id) = (user_code_hash.to_owned(), user_id.to_owned());
        let n = self
            .call(move |c| {
                exec(
                    c,
                    sql::DECIDE_DEVICE_CODE,
                    params![status, user_id, auth_time, user_code_hash, now],
                )
            })
            .await?;
        Ok(n == 1)
    }

    async fn poll_device_code(&self, device_code_hash: &str, now: i64) -> StoreResult<DevicePoll> {
        let device_code_hash = device_code_hash.to_owned();
        let polled = self
            .call(move |c| {
                one(
                    c,
                    sql::POLL_DEVICE_CODE,
                    params![now, device_code_hash],
                    |r| Ok((rows::device(r)?, r.get::<_, bool>("slow")?)),
                )
            })
            .await?;
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
        let device_code_hash = device_code_hash.to_owned();
        self.call(move |c| {
            one(
                c,
                sql::CONSUME_DEVICE_CODE,
                params![now, device_code_hash],
                |r| rows::device(r),
            )
        })
        .await
    }

    async fn sweep(&self, now: i64, codes_expired_before: i64) -> StoreResult<SweepCounts> {
        Ok(SweepCounts {
            codes: self
                .sweep_table(sql::SWEEP_CODES, codes_expired_before)
                .await?,
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
        self.call(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(map_err))
            .await
    }

    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
        self.call(|c| {
            all(c, sql::LIST_KEYS, [], |r| {
                Ok(StoredKey {
                    kid: r.get("kid")?,
                    alg: r.get("alg")?,
                    private_pkcs8: r.get("private_pkcs8")?,
                    created_at: r.get("created_at")?,
                    activates_at: r.get("activates_at")?,
                })
            })
        })
        .await
    }

    async fn insert_key(&self, k: &StoredKey) -> StoreResult<()> {
        let k = k.clone();
        self.call(move |c| {
            exec(
                c,
                sql::INSERT_KEY,
                params![k.kid, k.alg, k.private_pkcs8, k.created_at, k.activates_at],
            )
        })
        .await?;
        Ok(())
    }

    async fn setting_or_init(&self, name: &str, init: &str) -> StoreResult<String> {
        let (name, init) = (name.to_owned(), init.to_owned());
        self.call(move |c| {
            one(c, sql::SETTING_OR_INIT, params![name, init], |r| {
                r.get("value")
            })?
            .ok_or_else(|| StoreError::Backend(format!("setting {name:?} was not stored")))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("batch.db").display());
        (dir, SqliteStore::open(&url).await.unwrap())
    }

    fn count(c: &Connection) -> StoreResult<i64> {
        c.query_row("SELECT COUNT(*) FROM settings", [], |r| r.get(0))
            .map_err(map_err)
    }

    /// A job that fails after writing leaves nothing behind, and the jobs
    /// around it, in the same transaction or not, commit.
    #[tokio::test]
    async fn a_failing_job_rolls_back_alone() {
        let (_dir, s) = store().await;
        let write = |name: String, fail: bool| {
            s.call(move |c| {
                exec(
                    c,
                    "INSERT INTO settings (name, value) VALUES (?1, 'v')",
                    params![name],
                )?;
                if fail {
                    return Err(StoreError::Backend("failed on purpose".into()));
                }
                Ok(())
            })
        };
        for i in 0..20 {
            // Sent together, so that the thread usually takes them as one batch.
            let (a, b, c) = tokio::join!(
                write(format!("a{i}"), false),
                write(format!("b{i}"), true),
                write(format!("c{i}"), false)
            );
            a.unwrap();
            assert!(matches!(b, Err(StoreError::Backend(_))));
            c.unwrap();
        }
        let names = s
            .call(|c| {
                all(c, "SELECT name FROM settings", [], |r| {
                    r.get::<_, String>(0)
                })
            })
            .await
            .unwrap();
        assert_eq!(names.iter().filter(|n| n.starts_with('a')).count(), 20);
        assert_eq!(names.iter().filter(|n| n.starts_with('c')).count(), 20);
        assert!(!names.iter().any(|n| n.starts_with('b')), "{names:?}");
        assert_eq!(s.call(count).await.unwrap(), names.len() as i64);
    }

    /// Dropping every clone of the store ends its thread; a caller of a
    /// stopped store gets `Unavailable`, not a hang.
    #[tokio::test]
    async fn the_thread_ends_with_the_last_clone() {
        let (_dir, s) = store().await;
        let (jobs, requests) = mpsc::channel::<Request>();
        drop(requests);
        let stopped = SqliteStore {
            jobs,
            path: Arc::clone(&s.path),
        };
        assert!(matches!(
            stopped.ping().await,
            Err(StoreError::Unavailable(_))
        ));
        s.ping().await.unwrap();
    }
}
