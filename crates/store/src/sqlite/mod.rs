//! The SQLite store: the embedded default.
//!
//! WAL journal mode lets readers proceed while one writer writes;
//! `synchronous = NORMAL` in WAL mode syncs at checkpoints rather than at
//! every commit, so a power loss can lose the last transactions (codes and
//! tokens of the last moments, which clients then simply re-request) but
//! never corrupts the database.
//!
//! `engine.rs` is the commit engine (one connection on a thread of its
//! own, group commit, a bounded queue); `checkpoint.rs` keeps the
//! write-ahead log small; this module opens the database and runs the
//! operations of `ops/` on the engine's connection ([`SqliteTx`]).
//!
//! Migrations are sqlx's (the `_sqlx_migrations` table of databases made by
//! earlier versions stays valid), run on a short-lived sqlx connection at
//! open.

mod checkpoint;
mod engine;
mod probe;

use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_trait::async_trait;
use proofkey_core::store::StoreResult;
use proofkey_core::StoreError;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _};
use tokio::sync::mpsc;

use crate::health::Health;
use crate::statements::{Dialect, Stmt};
use crate::tx::{Arg, Backend, Columns, Driver, Mode, Op, Row, Tx, TxFuture, Value};
use crate::{Database, StoreSettings};

pub use checkpoint::CHECKPOINT_INTERVAL;

/// How long a statement waits for another process's write lock (an admin
/// command, say) before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQLite driver: a handle on the engine's queue. Clones share the
/// engine's thread, which ends when the last clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Sqlite {
    queue: engine::Queue,
    path: Arc<str>,
}

pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
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
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ if cannot_write(&e) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

/// Whether `e` says the database cannot write (a full disk, a read-only
/// file, an I/O error): `Unavailable`, and a fault the engine reports to
/// the probe (`health.rs`). A lock another process held past the busy
/// timeout is `Unavailable` too, but no fault: it passes by itself.
pub(crate) fn cannot_write(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode;
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if matches!(
        f.code,
        ErrorCode::CannotOpen | ErrorCode::DiskFull | ErrorCode::SystemIoFailure | ErrorCode::ReadOnly
    ))
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
         -- The store's checkpointer (checkpoint.rs) checkpoints the log;
         -- SQLite's own passive checkpoints would run inside request
         -- transactions and stop every request for their copy and fsync.
         PRAGMA wal_autocheckpoint = 0;
         -- After a checkpoint resets the log, its file is cut back to this
         -- size (it is otherwise reused at its largest).
         PRAGMA journal_size_limit = 67108864;",
    )?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// Makes the database file and its `-wal` and `-shm` files readable and
/// writable by their owner only (0600): they hold the private signing
/// keys, and hashes of every secret. A missing database file is created
/// 0600 here, before SQLite creates it with the umask's mode (usually
/// 0644); an existing one with wider permissions is narrowed, with a
/// warning. Special names (`:memory:`, URIs) are left alone.
fn owner_only(path: &str) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let file = path.split('?').next().unwrap_or(path);
        if file.is_empty() || file.starts_with(':') || file.starts_with("file:") {
            return Ok(());
        }
        let io = |e: std::io::Error| StoreError::Unavailable(format!("cannot secure {file}: {e}"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            // A missing directory: SQLite says so in its own words.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(e)),
        }
        for f in [
            file.to_owned(),
            format!("{file}-wal"),
            format!("{file}-shm"),
        ] {
            let Ok(meta) = std::fs::metadata(&f) else {
                continue;
            };
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode & 0o700))
                    .map_err(io)?;
                tracing::warn!(file = %f, from = format!("{:o}", mode & 0o777), "database file was readable by others; now owner-only");
            }
        }
    }
    Ok(())
}

impl Database {
    /// Opens `sqlite://PATH` (or `sqlite:PATH`), creating the file if
    /// needed, and applies pending migrations. The acquire timeout bounds
    /// the wait for room in the engine's queue; the checkpoint interval
    /// starts the checkpointer (see `checkpoint.rs`).
    pub async fn open_sqlite(url: &str, settings: &StoreSettings) -> Result<Self, StoreError> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url)
            .to_owned();
        owner_only(&path)?;
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
        // The log and shared-memory files now exist (SQLite gives new ones
        // the database's mode; older ones may have been created 0644).
        owner_only(&path)?;
        let (jobs, requests) = mpsc::channel(engine::QUEUE_CAPACITY);
        let health = Health::new("sqlite");
        let engine_health = Arc::clone(&health);
        std::thread::Builder::new()
            .name("proofkey-sqlite".into())
            .spawn(move || engine::serve(conn, requests, engine_health))
            .map_err(|e| StoreError::Backend(format!("cannot start the SQLite thread: {e}")))?;
        let path: Arc<str> = path.into();
        if let Some(interval) = settings.checkpoint_interval {
            checkpoint::start(
                Arc::clone(&path),
                jobs.downgrade(),
                interval,
                Arc::clone(&health),
            )?;
        }
        probe::start(Arc::clone(&health), Arc::clone(&path), jobs.downgrade());
        Ok(Database::new(
            Driver::Sqlite(Sqlite {
                queue: engine::Queue {
                    jobs,
                    enqueue_timeout: settings.acquire_timeout,
                },
                path,
            }),
            health,
        ))
    }

    /// SQLite: checkpoints the write-ahead log now (the checkpointer does
    /// it every [`CHECKPOINT_INTERVAL`]; see `checkpoint.rs`). PostgreSQL
    /// manages its own log: nothing to do.
    pub async fn checkpoint(&self) -> StoreResult<()> {
        match &self.driver {
            Driver::Sqlite(s) => checkpoint::now(&s.path, &s.queue).await,
            Driver::Pg(_) => Ok(()),
        }
    }
}

/// An online backup of the SQLite database at `path` into `to`, a file
/// that must not exist: `VACUUM INTO` on a read-only connection of its
/// own, which reads one consistent snapshot while the server goes on
/// writing (WAL), into a new owner-only (0600) file beside `to`; the copy
/// is then checked (`PRAGMA integrity_check`) and synced, and only then
/// linked in as `to` (a link fails if `to` exists: nothing is ever
/// overwritten, and `to` is never a partial copy). Returns the copy's size
/// in bytes.
pub fn backup(path: &str, to: &std::path::Path) -> Result<u64, StoreError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Backend(format!("{}: {what}: {e}", to.display()))
    };
    let target = to
        .to_str()
        .ok_or_else(|| StoreError::Backend(format!("{}: not a UTF-8 path", to.display())))?;
    if to.symlink_metadata().is_ok() {
        return Err(StoreError::Backend(format!("{target}: exists already")));
    }
    let dir = match to.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    // Empty and 0600 (tempfile's default): VACUUM INTO writes into it.
    let partial = tempfile::Builder::new()
        .prefix(".proofkey-backup-")
        .tempfile_in(dir)
        .map_err(|e| failed("cannot create the copy", &e))?;
    let partial_path = partial
        .path()
        .to_str()
        .ok_or_else(|| StoreError::Backend(format!("{}: not a UTF-8 path", dir.display())))?
        .to_owned();
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(map_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    conn.execute("VACUUM INTO ?1", [&partial_path])
        .map_err(map_err)?;
    drop(conn);
    // The copy, checked whole (the live database is left alone).
    let ok: String = Connection::open(&partial_path)
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
        .map_err(map_err)?;
    if ok != "ok" {
        return Err(StoreError::Backend(format!(
            "the copy fails its integrity check: {ok}"
        )));
    }
    // VACUUM INTO does not sync what it wrote.
    let file =
        std::fs::File::open(&partial_path).map_err(|e| failed("cannot sync the copy", &e))?;
    file.sync_all()
        .map_err(|e| failed("cannot sync the copy", &e))?;
    let bytes = file
        .metadata()
        .map_err(|e| failed("cannot read the copy", &e))?
        .len();
    std::fs::hard_link(&partial_path, to).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            StoreError::Backend(format!("{target}: exists already"))
        }
        _ => failed("cannot put the copy in place", &e),
    })?;
    // The partial name goes with `partial`'s drop; the directory's entry
    // for `to` is made durable.
    drop(partial);
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(bytes)
}

#[async_trait]
impl Backend for Sqlite {
    /// Every operation runs as one job of its batch's transaction; an
    /// atomic one in a savepoint, so that its failure undoes it alone.
    async fn run<T: Send + 'static>(&self, mode: Mode, op: Op<T>) -> StoreResult<T> {
        self.queue
            .call(mode, move |conn| {
                let mut tx = SqliteTx { conn };
                ready(op(&mut tx))
            })
            .await
    }
}

/// The result of an operation's future, which runs SQLite's statements
/// synchronously and so is ready at its first poll.
fn ready<T>(mut fut: TxFuture<'_, T>) -> StoreResult<T> {
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(StoreError::Backend(
            "an operation waited for something other than SQLite".into(),
        )),
    }
}

/// The engine's connection, inside the batch's transaction.
struct SqliteTx<'c> {
    conn: &'c mut Connection,
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as V;
        Ok(match self {
            Arg::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Arg::Text(None) | Arg::Int(None) => ToSqlOutput::Owned(V::Null),
            Arg::Int(Some(i)) => ToSqlOutput::Owned(V::Integer(*i)),
            Arg::Bool(b) => ToSqlOutput::Owned(V::Integer(i64::from(*b))),
            Arg::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn read_row(names: &Columns, r: &rusqlite::Row<'_>) -> StoreResult<Row> {
    let mut values = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let value = match r.get_ref(i).map_err(map_err)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(n) => Value::Int(n),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            ValueRef::Real(_) => {
                return Err(StoreError::Backend(format!(
                    "column {name:?} holds a real number"
                )))
            }
        };
        values.push(value);
    }
    Ok(Row::new(Arc::clone(names), values))
}

impl SqliteTx<'_> {
    fn rows(&mut self, st: &'static Stmt, args: &[Arg], limit: usize) -> StoreResult<Vec<Row>> {
        let mut statement = self.conn.prepare_cached(st.sqlite()).map_err(map_err)?;
        let names = st.columns(Dialect::Sqlite, || {
            statement
                .column_names()
                .into_iter()
                .map(str::to_owned)
                .collect()
        });
        let mut rows = statement
            .query(rusqlite::params_from_iter(args))
            .map_err(map_err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(map_err)? {
            out.push(read_row(&names, r)?);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Tx for SqliteTx<'_> {
    async fn exec(&mut self, st: &'static Stmt, args: Vec<Arg>) -> StoreResult<u64> {
        let mut statement = self.conn.prepare_cached(st.sqlite()).map_err(map_err)?;
        let n = statement
            .execute(rusqlite::params_from_iter(&args))
            .map_err(map_err)?;
        Ok(n as u64)
    }

    async fn one(&mut self, st: &'static Stmt, args: Vec<Arg>) -> StoreResult<Option<Row>> {
        Ok(self.rows(st, &args, 1)?.pop())
    }

    async fn all(&mut self, st: &'static Stmt, args: Vec<Arg>) -> StoreResult<Vec<Row>> {
        self.rows(st, &args, usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tx::args;

    async fn store() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("batch.db").display());
        let settings = StoreSettings::default();
        (dir, Database::open_sqlite(&url, &settings).await.unwrap())
    }

    fn mode(path: &std::path::Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// A new database, its log and its shared memory are owner-only,
    /// whatever the umask; an old database readable by others (and its
    /// log) is narrowed when opened.
    #[tokio::test]
    async fn database_files_are_owner_only() {
        use proofkey_core::store::Maintenance;
        let (dir, s) = store().await;
        s.ping().await.unwrap();
        let db = dir.path().join("batch.db");
        for f in ["batch.db", "batch.db-wal", "batch.db-shm"] {
            assert_eq!(mode(&dir.path().join(f)), 0o600, "{f}");
        }
        drop(s);
        use std::os::unix::fs::PermissionsExt;
        for f in ["batch.db", "batch.db-wal"] {
            let p = dir.path().join(f);
            if p.exists() {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
        let url = format!("sqlite://{}", db.display());
        let s = Database::open_sqlite(&url, &StoreSettings::default())
            .await
            .unwrap();
        s.ping().await.unwrap();
        for f in ["batch.db", "batch.db-wal", "batch.db-shm"] {
            assert_eq!(mode(&dir.path().join(f)), 0o600, "{f} after reopening");
        }
    }

    /// A store on `s`'s file whose engine is `jobs`' receiver.
    fn on_queue(s: &Database, jobs: mpsc::Sender<engine::Request>, wait: Duration) -> Database {
        let Driver::Sqlite(d) = &s.driver else {
            unreachable!()
        };
        Database::new(
            Driver::Sqlite(Sqlite {
                queue: engine::Queue {
                    jobs,
                    enqueue_timeout: wait,
                },
                path: Arc::clone(&d.path),
            }),
            Health::new("sqlite"),
        )
    }

    static INSERT_SETTING: Stmt = Stmt::new("INSERT INTO settings (name, value) VALUES (?1, 'v')");
    static SETTING_NAMES: Stmt = Stmt::new("SELECT name FROM settings");

    async fn setting_names(s: &Database) -> Vec<String> {
        s.single(|tx| {
            Box::pin(async move {
                let rows = tx.all(&SETTING_NAMES, args![]).await?;
                rows.into_iter().map(|mut r| r.take("name")).collect()
            })
        })
        .await
        .unwrap()
    }

    /// A job that fails after writing leaves nothing behind, and the jobs
    /// around it, in the same transaction or not, commit.
    #[tokio::test]
    async fn a_failing_job_rolls_back_alone() {
        let (_dir, s) = store().await;
        let write = |name: String, fail: bool| {
            s.atomic(move |tx| {
                Box::pin(async move {
                    tx.exec(&INSERT_SETTING, args![name]).await?;
                    if fail {
                        return Err(StoreError::Backend("failed on purpose".into()));
                    }
                    Ok(())
                })
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
        let names = setting_names(&s).await;
        assert_eq!(names.iter().filter(|n| n.starts_with('a')).count(), 20);
        assert_eq!(names.iter().filter(|n| n.starts_with('c')).count(), 20);
        assert!(!names.iter().any(|n| n.starts_with('b')), "{names:?}");
    }

    static INSERT_THREE_SETTINGS: Stmt = Stmt::new(
        "INSERT INTO settings (name, value) VALUES (?1 || '-1', 'v'), (?1 || '-2', 'v'), (?2, 'v')",
    );

    /// A single-statement job runs without a savepoint: a statement that
    /// fails after writing rows (here its third row collides) leaves none
    /// of them behind, and the jobs of its batch commit.
    #[tokio::test]
    async fn a_failing_statement_rolls_back_alone() {
        let (_dir, s) = store().await;
        let write = |name: String, collide: bool| {
            let last = if collide {
                "taken".to_owned()
            } else {
                format!("{name}-3")
            };
            s.single(move |tx| {
                Box::pin(async move { tx.exec(&INSERT_THREE_SETTINGS, args![name, last]).await })
            })
        };
        s.single(|tx| Box::pin(async move { tx.exec(&INSERT_SETTING, args!["taken"]).await }))
            .await
            .unwrap();
        for i in 0..20 {
            let (a, b, c) = tokio::join!(
                write(format!("a{i}"), false),
                write(format!("b{i}"), true),
                write(format!("c{i}"), false)
            );
            a.unwrap();
            assert!(matches!(b, Err(StoreError::Conflict(_))), "{b:?}");
            c.unwrap();
        }
        let names = setting_names(&s).await;
        assert_eq!(names.iter().filter(|n| n.starts_with('a')).count(), 60);
        assert_eq!(names.iter().filter(|n| n.starts_with('c')).count(), 60);
        assert!(!names.iter().any(|n| n.starts_with('b')), "{names:?}");
    }

    /// Dropping the store's last handle ends everything it started: the
    /// probe task, the checkpointer and the engine's thread each hold the
    /// health state, so it is ours alone once they have all ended.
    #[tokio::test]
    async fn dropping_the_store_ends_its_probe_checkpointer_and_engine() {
        use proofkey_core::store::Maintenance;
        let (_dir, s) = store().await;
        s.ping().await.unwrap();
        let health = Arc::clone(&s.health);
        let other = s.clone();
        drop(s);
        other.ping().await.unwrap();
        assert!(
            Arc::strong_count(&health) > 1,
            "a clone keeps it all running"
        );
        drop(other);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while Arc::strong_count(&health) > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "{} holders left",
                Arc::strong_count(&health) - 1
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A recovery between batches clears the fault; work is refused while
    /// the fault lasts, without reaching the engine.
    #[tokio::test]
    async fn a_write_fault_refuses_work_until_a_recovery() {
        use proofkey_core::store::Maintenance;
        let (_dir, s) = store().await;
        s.health.writes_failed("disk full (a test)");
        assert!(matches!(s.ping().await, Err(StoreError::Refused(m)) if m.contains("disk full")));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while s.ping().await.is_err() {
            assert!(std::time::Instant::now() < deadline, "no recovery");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!s.health.writes_failing());
        let names = setting_names(&s).await;
        assert!(
            !names.iter().any(|n| n == "health_probe"),
            "the test write leaves nothing"
        );
    }

    /// Dropping every clone of the store ends its thread; a caller of a
    /// stopped store gets `Unavailable`, not a hang.
    #[tokio::test]
    async fn the_thread_ends_with_the_last_clone() {
        use proofkey_core::store::Maintenance;
        let (_dir, s) = store().await;
        let (jobs, requests) = mpsc::channel(1);
        drop(requests);
        let stopped = on_queue(&s, jobs, Duration::from_secs(1));
        assert!(matches!(
            stopped.ping().await,
            Err(StoreError::Unavailable(_))
        ));
        s.ping().await.unwrap();
    }

    /// A full queue makes callers wait, and past the timeout fail with
    /// `Unavailable`, without queueing their work: memory stays bounded.
    #[tokio::test]
    async fn a_full_queue_pushes_back() {
        use proofkey_core::store::Maintenance;
        let (jobs, requests) = mpsc::channel(2);
        let (_dir, s) = store().await;
        let stalled = on_queue(&s, jobs, Duration::from_millis(50));
        // Nobody serves this queue: two requests fill it.
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let st = stalled.clone();
                tokio::spawn(async move { st.ping().await })
            })
            .collect();
        while requests.len() < 2 {
            tokio::task::yield_now().await;
        }
        let refused = stalled.ping().await;
        assert!(
            matches!(&refused, Err(StoreError::Unavailable(m)) if m.contains("overloaded")),
            "{refused:?}"
        );
        assert_eq!(requests.len(), 2, "the refused call queued nothing");
        drop(requests);
        for w in waiting {
            assert!(w.await.unwrap().is_err());
        }
    }
}
