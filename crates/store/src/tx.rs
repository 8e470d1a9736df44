//! The one seam between the store's operations, written once in `ops/`,
//! and the two drivers: a [`Tx`] runs statements from `statements.rs` with
//! bound [`Arg`]s and hands back owned [`Row`]s; a [`Backend`] runs an
//! operation either atomically (one transaction) or, for single-statement
//! operations, as it comes.
//!
//! **Invariant:** no operation's control flow exists twice. A driver
//! knows how to bind, run and read a statement, and how to begin and end a
//! transaction; which statements an operation runs, in which order, and
//! what it concludes from their results is written once in `ops/`.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use proofkey_core::store::StoreResult;
use proofkey_core::StoreError;

use tracing::Instrument as _;

use crate::health::{Health, ProbeGuard};
use crate::statements::Stmt;

/// A statement's bound parameter, typed even when NULL (PostgreSQL infers
/// nothing from a NULL). Its `Debug` shows the type and size only: bind
/// lists carry secrets' hashes and private keys.
#[derive(Clone, PartialEq)]
pub(crate) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    Blob(Vec<u8>),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_owned()))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(Some(v.clone()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Self {
        Arg::Text(v.clone())
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_owned))
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Arg::Blob(v.to_vec())
    }
}

/// A statement's parameters, in order.
macro_rules! args {
    ($($e:expr),* $(,)?) => { vec![$($crate::tx::Arg::from($e)),*] };
}
pub(crate) use args;

/// A column's value as read. Its `Debug` shows the type and size only.
#[derive(Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
    Blob(Vec<u8>),
}

impl std::fmt::Debug for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arg::Text(Some(t)) => write!(f, "Text({} bytes)", t.len()),
            Arg::Text(None) | Arg::Int(None) => f.write_str("Null"),
            Arg::Int(Some(_)) => f.write_str("Int"),
            Arg::Bool(_) => f.write_str("Bool"),
            Arg::Blob(b) => write!(f, "Blob({} bytes)", b.len()),
        }
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("Null"),
            Value::Int(_) => f.write_str("Int"),
            Value::Bool(_) => f.write_str("Bool"),
            Value::Text(t) => write!(f, "Text({} bytes)", t.len()),
            Value::Blob(b) => write!(f, "Blob({} bytes)", b.len()),
        }
    }
}

/// A statement's column names, read once per statement and driver
/// ([`Stmt::columns`]) and shared by every row it returns.
pub(crate) type Columns = std::sync::Arc<[String]>;

/// A row, owned: its values, by the statement's columns.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    columns: Columns,
    values: Vec<Value>,
}

impl Row {
    pub(crate) fn new(columns: Columns, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    fn slot(&mut self, name: &str) -> StoreResult<&mut Value> {
        self.columns
            .iter()
            .position(|n| n == name)
            .and_then(|i| self.values.get_mut(i))
            .ok_or_else(|| StoreError::Backend(format!("no column {name:?} in the row")))
    }

    /// The column `name`, decoded (a copy: the row keeps it).
    pub(crate) fn get<T: FromValue>(&mut self, name: &str) -> StoreResult<T> {
        let value = self.slot(name)?.clone();
        decode(name, value)
    }

    /// The column `name`, decoded and moved out of the row (which holds
    /// NULL there afterwards): for mapping a row to a record, where each
    /// column is read once.
    pub(crate) fn take<T: FromValue>(&mut self, name: &str) -> StoreResult<T> {
        let value = std::mem::replace(self.slot(name)?, Value::Null);
        decode(name, value)
    }
}

fn decode<T: FromValue>(name: &str, value: Value) -> StoreResult<T> {
    let kind = match &value {
        Value::Null => "NULL",
        Value::Int(_) => "an integer",
        Value::Bool(_) => "a boolean",
        Value::Text(_) => "text",
        Value::Blob(_) => "a blob",
    };
    T::from_value(value).ok_or_else(|| StoreError::Backend(format!("column {name:?} holds {kind}")))
}

/// A Rust type a column decodes to.
pub(crate) trait FromValue: Sized {
    fn from_value(v: Value) -> Option<Self>;
}

impl FromValue for String {
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}
impl FromValue for i64 {
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }
}
impl FromValue for bool {
    fn from_value(v: Value) -> Option<Self> {
        // SQLite keeps booleans as integers.
        match v {
            Value::Bool(b) => Some(b),
            Value::Int(i) => Some(i != 0),
            _ => None,
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Blob(b) => Some(b),
            _ => None,
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// Statements run inside an operation: in its transaction when it is
/// atomic.
#[async_trait]
pub(crate) trait Tx: Send {
    /// Runs a statement; how many rows it changed.
    async fn exec(&mut self, st: &'static Stmt, args: Vec<Arg>) -> StoreResult<u64>;
    /// The first row a statement returns, if any. A statement that changes
    /// rows (`UPDATE ... RETURNING`) changes them all, whatever is read.
    async fn one(&mut self, st: &'static Stmt, args: Vec<Arg>) -> StoreResult<Option<Row>>;
    /// Every row a statement returns.
    async fn all(&mut self, st: &'static Stmt, args: Vec<Arg>) -> StoreResult<Vec<Row>>;
}

/// A boxed future borrowing the transaction.
pub(crate) type TxFuture<'t, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 't>>;

/// An operation: statements on a [`Tx`], and what follows from them.
pub(crate) type Op<T> = Box<dyn for<'t> FnOnce(&'t mut dyn Tx) -> TxFuture<'t, T> + Send>;

/// How an operation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// All its statements commit together, or none does (its error rolls
    /// back everything it did).
    Atomic,
    /// A single statement that writes (reads around it are fine): no
    /// transaction needed around it, since a failed statement undoes
    /// itself. PostgreSQL saves the `BEGIN`/`COMMIT` round trips; SQLite
    /// runs it in its batch's transaction without a savepoint of its own
    /// (two statements fewer per job: about 7 % of the server's CPU per
    /// code flow).
    Single,
}

/// A driver: where operations run.
#[async_trait]
pub(crate) trait Backend: Send + Sync + Debug + 'static {
    /// Runs `op` as `mode` says, and answers after it has committed.
    async fn run<T: Send + 'static>(&self, mode: Mode, op: Op<T>) -> StoreResult<T>;
}

/// The drivers.
#[derive(Debug, Clone)]
pub(crate) enum Driver {
    Sqlite(crate::sqlite::Sqlite),
    Pg(crate::postgres::Pg),
}

/// The store: every operation of `ops/`, on SQLite or PostgreSQL. Open it
/// with [`crate::open`] (or [`Database::open_sqlite`],
/// [`Database::open_postgres`]).
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) driver: Driver,
    /// What the probe knows of the database (`health.rs`).
    pub(crate) health: Arc<Health>,
    /// Ends the probe when the last clone is dropped.
    pub(crate) _probe: Arc<ProbeGuard>,
}

impl Database {
    pub(crate) fn new(driver: Driver, health: Arc<Health>) -> Self {
        Database {
            driver,
            _probe: Arc::new(ProbeGuard(Arc::clone(&health))),
            health,
        }
    }

    /// Every operation passes here: refused at once while the database is
    /// known to be down (`health.rs`), timed, and its failure reported to
    /// the probe.
    async fn run<T: Send + 'static>(&self, mode: Mode, op: Op<T>) -> StoreResult<T> {
        let backend = self.health.backend();
        if let Some(refused) = self.health.refusal() {
            metrics::counter!("proofkey_store_errors_total", "backend" => backend, "kind" => "refused")
                .increment(1);
            return Err(refused);
        }
        let started = Instant::now();
        let mode_label = match mode {
            Mode::Atomic => "atomic",
            Mode::Single => "single",
        };
        // A span per store call, at DEBUG (exported with tracing export on).
        let span = tracing::debug_span!(
            target: "proofkey_store::call",
            "store call",
            db.system = backend,
            mode = mode_label,
        );
        let result = match &self.driver {
            Driver::Sqlite(d) => d.run(mode, op).instrument(span).await,
            Driver::Pg(d) => d.run(mode, op).instrument(span).await,
        };
        self.health
            .duration(mode == Mode::Atomic)
            .record(started.elapsed());
        if let Err(e) = &result {
            let kind = match e {
                StoreError::Unavailable(_) => {
                    self.health.suspect();
                    "unavailable"
                }
                StoreError::Refused(_) => "refused",
                StoreError::Conflict(_) => "conflict",
                StoreError::Backend(_) => "backend",
            };
            metrics::counter!("proofkey_store_errors_total", "backend" => backend, "kind" => kind)
                .increment(1);
        }
        result
    }

    /// Runs an atomic operation.
    pub(crate) async fn atomic<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Tx) -> TxFuture<'t, T> + Send + 'static,
    {
        self.run(Mode::Atomic, Box::new(f)).await
    }

    /// Runs a single-statement operation.
    pub(crate) async fn single<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Tx) -> TxFuture<'t, T> + Send + 'static,
    {
        self.run(Mode::Single, Box::new(f)).await
    }
}
