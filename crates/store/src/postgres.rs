//! The PostgreSQL store: several stateless nodes on one database.
//!
//! It runs the statements of `statements.rs` as translated once
//! ([`crate::statements::Stmt::pg`]). An atomic operation runs in a
//! transaction (READ COMMITTED); a single-statement one straight on the
//! pool, saving the `BEGIN` and `COMMIT` round trips. Every single-use
//! consumption is one statement, which PostgreSQL runs atomically across
//! connections and nodes (row locks: a second `UPDATE ... WHERE used_at
//! IS NULL` re-checks the row after the first commits and matches
//! nothing); every issuance updates its grant's row before storing, which
//! orders it with any revocation of that grant (`ops/grants.rs`).

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use proofkey_core::store::StoreResult;
use proofkey_core::StoreError;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Column as _, ConnectOptions as _, PgPool, Postgres, Row as _, TypeInfo as _};

use crate::health::{spawn_probe, Health, PROBE_DEADLINE};
use crate::statements::{Dialect, Stmt};
use crate::tx::{Arg, Backend, Driver, Mode, Op, Row, Tx, Value};
use crate::{Database, StoreSettings};

/// The PostgreSQL driver: a pool of connections.
#[derive(Debug, Clone)]
pub(crate) struct Pg {
    pool: PgPool,
    health: Arc<Health>,
}

pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict("record".into())
        }
        // The server cannot be reached, or the connection broke: at the
        // socket, in the TLS handshake (sslmode=prefer tries it first), or
        // mid-message.
        sqlx::Error::PoolTimedOut
        | sqlx::Error::Io(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some(code) if refuses_writes(code) => {
                StoreError::Unavailable(format!("{WRITES_REFUSED}{e}"))
            }
            // Connection exceptions (class 08), the server shutting down or
            // starting (57P01 to 57P03), out of resources (class 53):
            // unavailable, answered 503, not a server error.
            Some(code)
                if code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") =>
            {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Backend(e.to_string()),
        },
        _ => StoreError::Backend(e.to_string()),
    }
}

/// SQLSTATEs of a server that answers but will not write: disk full
/// (53100) and a read-only transaction (25006: a standby after a failover,
/// `default_transaction_read_only`). The store's health probe then refuses
/// work until a test write commits (`health.rs`).
fn refuses_writes(code: &str) -> bool {
    matches!(code, "53100" | "25006")
}

/// How an `Unavailable` for a refused write begins: `Pg::run` tells the
/// health state from it.
const WRITES_REFUSED: &str = "the database refuses writes: ";

impl Database {
    /// Connects to `postgres://...` with `settings` and applies pending
    /// migrations (concurrent nodes serialise on sqlx's advisory lock).
    pub async fn open_postgres(url: &str, settings: &StoreSettings) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .idle_timeout(Some(Duration::from_secs(600)))
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        let health = Health::new("postgres");
        start_probe(
            Arc::clone(&health),
            options,
            pool.clone(),
            settings.acquire_timeout.min(PROBE_CONNECT_DEADLINE),
        );
        Ok(Database::new(
            Driver::Pg(Pg {
                pool,
                health: Arc::clone(&health),
            }),
            health,
        ))
    }
}

/// Probe timeouts in a row that make the database unreachable: one slow
/// answer (a checkpoint's stall, say) is not an outage; a refused or
/// broken connection is, at once.
const SLOW_PROBES_FOR_OUTAGE: u32 = 2;

/// How long the probe may take to connect.
const PROBE_CONNECT_DEADLINE: Duration = Duration::from_secs(2);

/// What one probe found.
enum Probe {
    /// The server answered (an SQL error is an answer too: `too many
    /// connections` means it is up, and the pool may still have room).
    Answered,
    /// It could not connect, or the connection broke: unreachable.
    Broken(String),
    /// No answer within the deadline.
    Silent(String),
}

/// PostgreSQL's health probe (see `health.rs`): `SELECT 1` on a connection
/// of its own, outside the pool, so that a pool busy with requests is never
/// taken for an outage; also the pool's gauges. Connecting has
/// [`PROBE_CONNECT_DEADLINE`] (TLS and authentication to a remote server
/// take their time), at most the acquire timeout; the query has
/// [`PROBE_DEADLINE`].
fn start_probe(
    health: Arc<Health>,
    options: PgConnectOptions,
    pool: PgPool,
    connect_timeout: Duration,
) {
    let conn: Arc<tokio::sync::Mutex<Option<PgConnection>>> = Arc::default();
    let slow = Arc::new(AtomicU32::new(0));
    let h = Arc::clone(&health);
    spawn_probe(health, move || {
        let (health, options, pool, conn, slow) = (
            Arc::clone(&h),
            options.clone(),
            pool.clone(),
            Arc::clone(&conn),
            Arc::clone(&slow),
        );
        async move {
            let idle = pool.num_idle();
            let size = pool.size() as usize;
            metrics::gauge!("proofkey_postgres_pool_connections", "state" => "idle")
                .set(idle as f64);
            metrics::gauge!("proofkey_postgres_pool_connections", "state" => "in_use")
                .set(size.saturating_sub(idle) as f64);
            let mut slot = conn.lock().await;
            if health.writes_failing() {
                // A fresh session: defaults such as read-only are read at
                // connect time, and the probe's old session may predate them.
                *slot = None;
                let deadline = connect_timeout + PROBE_DEADLINE;
                match tokio::time::timeout(deadline, test_write(&options)).await {
                    Ok(Ok(c)) => {
                        *slot = Some(c);
                        health.writes_recovered();
                        health.reached();
                    }
                    Ok(Err(e)) if matches!(e, sqlx::Error::Database(_)) => {
                        health.still_failing(e.to_string());
                    }
                    Ok(Err(e)) => health.unreachable(e.to_string()),
                    Err(_) => health.still_failing(format!(
                        "the test write did not finish within {deadline:?}"
                    )),
                }
                return;
            }
            match probe(&mut slot, &options, connect_timeout).await {
                Probe::Answered => {
                    slow.store(0, Ordering::Relaxed);
                    health.reached();
                }
                Probe::Broken(why) => health.unreachable(why),
                Probe::Silent(why) => {
                    if slow.fetch_add(1, Ordering::Relaxed) + 1 >= SLOW_PROBES_FOR_OUTAGE {
                        health.unreachable(why);
                    } else {
                        health.slow(why);
                    }
                }
            }
        }
    });
}

/// While writes fail: a write that leaves nothing behind, committed on a
/// new connection, which is returned for the probe to keep.
async fn test_write(options: &PgConnectOptions) -> sqlx::Result<PgConnection> {
    use sqlx::Connection as _;
    let mut conn = options.connect().await?;
    let mut tx = conn.begin().await?;
    sqlx::query(
        "INSERT INTO settings (name, value) VALUES ('health_probe', 'written') \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM settings WHERE name = 'health_probe'")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(conn)
}

async fn probe(
    slot: &mut Option<PgConnection>,
    options: &PgConnectOptions,
    connect_timeout: Duration,
) -> Probe {
    let answered = |e: &sqlx::Error| matches!(e, sqlx::Error::Database(_));
    if slot.is_none() {
        match tokio::time::timeout(connect_timeout, options.connect()).await {
            Ok(Ok(c)) => *slot = Some(c),
            Ok(Err(e)) if answered(&e) => return Probe::Answered,
            Ok(Err(e)) => return Probe::Broken(e.to_string()),
            // Silence, as a partition gives: counted like a query's.
            Err(_) => {
                return Probe::Silent(format!("could not connect within {connect_timeout:?}"))
            }
        }
    }
    let Some(conn) = slot.as_mut() else {
        return Probe::Broken("no connection".into());
    };
    let outcome = tokio::time::timeout(PROBE_DEADLINE, sqlx::query("SELECT 1").execute(conn)).await;
    match outcome {
        Ok(Ok(_)) => Probe::Answered,
        Ok(Err(e)) if answered(&e) => Probe::Answered,
        Ok(Err(e)) => {
            *slot = None;
            Probe::Broken(e.to_string())
        }
        Err(_) => {
            // A query cut short leaves the connection in an unknown state.
            *slot = None;
            Probe::Silent(format!(
                "no answer to the health probe within {PROBE_DEADLINE:?}"
            ))
        }
    }
}

#[async_trait]
impl Backend for Pg {
    /// Runs `op`; a write the server refused (disk full, read-only) marks
    /// writes failing, as SQLite's engine does for its own.
    async fn run<T: Send + 'static>(&self, mode: Mode, op: Op<T>) -> StoreResult<T> {
        let result = self.run_op(mode, op).await;
        if let Err(StoreError::Unavailable(why)) = &result {
            if why.starts_with(WRITES_REFUSED) {
                self.health.writes_failed(why);
            }
        }
        result
    }
}

impl Pg {
    async fn run_op<T: Send + 'static>(&self, mode: Mode, op: Op<T>) -> StoreResult<T> {
        match mode {
            Mode::Single => op(&mut PgTx::Pool(&self.pool)).await,
            Mode::Atomic => {
                let mut tx = self.pool.begin().await.map_err(map_err)?;
                let result = op(&mut PgTx::Tx(&mut tx)).await;
                match result {
                    Ok(value) => {
                        tx.commit().await.map_err(map_err)?;
                        Ok(value)
                    }
                    Err(e) => {
                        // Dropping the transaction would roll it back too,
                        // but on the pool's time; say so now.
                        let _ = tx.rollback().await;
                        Err(e)
                    }
                }
            }
        }
    }
}

/// Where an operation's statements go.
enum PgTx<'a> {
    /// Each statement on its own (single-statement operations).
    Pool(&'a PgPool),
    /// In a transaction.
    Tx(&'a mut sqlx::Transaction<'static, Postgres>),
}

fn bind(st: &'static Stmt, args: Vec<Arg>) -> Query<'static, Postgres, PgArguments> {
    let mut q = sqlx::query(st.pg());
    for a in args {
        q = match a {
            Arg::Text(v) => q.bind(v),
            Arg::Int(v) => q.bind(v),
            Arg::Bool(v) => q.bind(v),
            Arg::Blob(v) => q.bind(v),
        };
    }
    q
}

fn read_row(st: &'static Stmt, r: &PgRow) -> StoreResult<Row> {
    let names = st.columns(Dialect::Pg, || {
        r.columns().iter().map(|c| c.name().to_owned()).collect()
    });
    let mut values = Vec::with_capacity(r.len());
    for (i, c) in r.columns().iter().enumerate() {
        let decoded = match c.type_info().name() {
            "TEXT" | "VARCHAR" | "NAME" => r
                .try_get::<Option<String>, _>(i)
                .map(|v| v.map_or(Value::Null, Value::Text)),
            "INT8" => r
                .try_get::<Option<i64>, _>(i)
                .map(|v| v.map_or(Value::Null, Value::Int)),
            "INT4" => r
                .try_get::<Option<i32>, _>(i)
                .map(|v| v.map_or(Value::Null, |n| Value::Int(n.into()))),
            "BOOL" => r
                .try_get::<Option<bool>, _>(i)
                .map(|v| v.map_or(Value::Null, Value::Bool)),
            "BYTEA" => r
                .try_get::<Option<Vec<u8>>, _>(i)
                .map(|v| v.map_or(Value::Null, Value::Blob)),
            other => {
                return Err(StoreError::Backend(format!(
                    "column {:?} has the unexpected type {other}",
                    c.name()
                )))
            }
        };
        values.push(decoded.map_err(map_err)?);
    }
    Ok(Row::new(names, values))
}

#[async_trait]
impl Tx for PgTx<'_> {
    async fn exec(&mut self, st: &'static Stmt, args: Vec<Arg>) -> StoreResult<u64> {
        let q = bind(st, args);
        let done = match self {
            PgTx::Pool(pool) => q.execute(*pool).await,
            PgTx::Tx(tx) => q.execute(&mut ***tx).await,
        };
        Ok(done.map_err(map_err)?.rows_affected())
    }

    async fn one(&mut self, st: &'static Stmt, args: Vec<Arg>) -> StoreResult<Option<Row>> {
        // Every row is fetched: an `UPDATE ... RETURNING` must run to the end.
        Ok(self.all(st, args).await?.into_iter().next())
    }

    async fn all(&mut self, st: &'static Stmt, args: Vec<Arg>) -> StoreResult<Vec<Row>> {
        let q = bind(st, args);
        let rows = match self {
            PgTx::Pool(pool) => q.fetch_all(*pool).await,
            PgTx::Tx(tx) => q.fetch_all(&mut ***tx).await,
        };
        rows.map_err(map_err)?
            .iter()
            .map(|r| read_row(st, r))
            .collect()
    }
}

/// A plain connection for administrative statements (creating and
/// dropping databases in tests and tools).
#[derive(Debug)]
pub struct PgAdmin(PgPool);

impl PgAdmin {
    /// Connects to `url`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .map(Self)
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Runs one statement.
    pub async fn execute(&self, sql: &str) -> Result<(), StoreError> {
        sqlx::raw_sql(sql)
            .execute(&self.0)
            .await
            .map(|_| ())
            .map_err(map_err)
    }
}
