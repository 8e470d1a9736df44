//! The SQLite commit engine: one connection per node, on a thread of its
//! own, with group commit.
//!
//! Requests send their operations to that thread as jobs, through a
//! bounded queue: a caller waits (asynchronously, up to the acquire
//! timeout, then `Unavailable`) while it is full, so a flood of requests
//! costs waiting, never unbounded memory. The thread takes every job
//! waiting (up to [`MAX_BATCH`]), runs them in one `BEGIN IMMEDIATE`
//! transaction, each atomic job in a savepoint of its own (so that a
//! failing job rolls back alone, exactly as if it had been a transaction of
//! its own; a single statement needs none: SQLite undoes a failed
//! statement itself), commits once, and only then answers each job. Under load a commit
//! serves dozens of requests: one WAL append, one lock round, one write of
//! each hot page. Request threads never block on the connection and never
//! sleep in SQLite's busy handler. Measured with `bench/compare.sh`
//! (docs/performance.md).
//!
//! **Invariant:** a job is answered only after the transaction holding it
//! has committed: a consumed code or a rotated refresh token is durable
//! (to `synchronous = NORMAL`'s measure) before the caller acts on it. If
//! SQLite rolls the whole transaction back, every job of the batch fails.
//!
//! **Invariant:** the thread is the node's only writer; its transactions
//! run one after another, so no two jobs ever interleave.

use std::sync::Arc;
use std::time::Duration;

use proofkey_core::store::StoreResult;
use proofkey_core::StoreError;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::{cannot_write, map_err};
use crate::health::Health;
use crate::tx::Mode;

/// Most jobs in one transaction. Large enough that a commit serves every
/// request in flight at a few hundred concurrent clients; small enough that
/// one batch never keeps the first job's caller waiting long.
pub(super) const MAX_BATCH: usize = 256;

/// Most jobs waiting for the thread. Past it, callers wait for room (up to
/// the acquire timeout): back-pressure instead of unbounded memory.
pub(super) const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

/// What the connection's thread is asked to do.
pub(super) enum Request {
    /// An operation, run in the next batch.
    Work(Box<dyn Job>),
    /// `PRAGMA wal_checkpoint(RESTART)`, between batches (see
    /// `checkpoint.rs`).
    Restart(oneshot::Sender<StoreResult<(i64, i64)>>),
    /// While writes fail: empty and truncate the log, then commit a test
    /// write (see [`recover`]).
    Recover(oneshot::Sender<StoreResult<()>>),
}

/// One caller's operation, run on the connection's thread.
pub(super) trait Job: Send {
    /// Runs the operation inside the batch's transaction; if it failed
    /// because the database could not write (`Unavailable`: a full disk,
    /// a read-only file, an I/O error), why.
    fn run(&mut self, c: &mut Connection) -> Option<String>;
    /// Answers the caller once the batch is over; `committed` is the
    /// outcome of its transaction.
    fn finish(self: Box<Self>, committed: &Result<(), String>);
}

/// A job made of a function of the connection.
pub(super) struct Call<T, F> {
    work: Option<F>,
    mode: Mode,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Call<T, F> {
    pub(super) fn new(work: F, mode: Mode, reply: oneshot::Sender<StoreResult<T>>) -> Self {
        Self {
            work: Some(work),
            mode,
            result: None,
            reply,
        }
    }
}

impl<T, F> Job for Call<T, F>
where
    T: Send,
    F: FnOnce(&mut Connection) -> StoreResult<T> + Send,
{
    fn run(&mut self, c: &mut Connection) -> Option<String> {
        let work = self.work.take()?;
        let result = match self.mode {
            Mode::Atomic => in_savepoint(c, work),
            // One statement: SQLite undoes a failed statement itself
            // (and an error that ends the transaction fails the batch,
            // see `run_batch`), so no savepoint is needed.
            Mode::Single => work(c),
        };
        let fault = match &result {
            Err(StoreError::Unavailable(why)) => Some(why.clone()),
            _ => None,
        };
        self.result = Some(result);
        fault
    }

    fn finish(self: Box<Self>, committed: &Result<(), String>) {
        let answer = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::Backend("the operation did not run".into())),
            (Err(e), _) => Err(StoreError::Unavailable(e.clone())),
        };
        // The caller may have gone (its request was dropped): nothing to do.
        let _ = self.reply.send(answer);
    }
}

/// Runs `work` in a savepoint: rolled back alone if it fails, as a
/// transaction of its own would be.
fn in_savepoint<T>(
    c: &mut Connection,
    work: impl FnOnce(&mut Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    run(c, "SAVEPOINT job").map_err(map_err)?;
    let result = work(c);
    if result.is_err() {
        run(c, "ROLLBACK TO job").map_err(map_err)?;
    }
    run(c, "RELEASE job").map_err(map_err)?;
    result
}

/// Runs a statement of the engine's own, prepared once.
fn run(c: &Connection, statement: &str) -> rusqlite::Result<()> {
    c.prepare_cached(statement)?.execute([]).map(|_| ())
}

/// The connection's thread: takes every job waiting (up to [`MAX_BATCH`]),
/// runs them in one `BEGIN IMMEDIATE` transaction, commits, answers them;
/// a checkpoint request runs between batches. Ends when every sender
/// (every clone of the store) is gone.
pub(super) fn serve(
    mut conn: Connection,
    mut requests: mpsc::Receiver<Request>,
    health: Arc<Health>,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    let wal = conn
        .path()
        .filter(|p| !p.is_empty())
        .map(|p| format!("{p}-wal"));
    // Looked up once: this thread is every request's, and a lookup by name
    // on each batch showed in the throughput of the cheapest requests.
    let batch_size = metrics::histogram!("proofkey_sqlite_batch_size");
    let queue_depth = metrics::gauge!("proofkey_sqlite_queue_depth");
    let commit_time = metrics::histogram!("proofkey_sqlite_commit_duration_seconds");
    while let Some(first) = requests.blocking_recv() {
        let mut between = None;
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Work(job) => batch.push(job),
                other => {
                    between = Some(other);
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = requests.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            batch_size.record(batch.len() as f64);
            queue_depth.set((requests.max_capacity() - requests.capacity()) as f64);
            let started = std::time::Instant::now();
            let (committed, fault) = run_batch(&mut conn, &mut batch);
            commit_time.record(started.elapsed());
            if let Some(why) = fault {
                health.writes_failed(&why);
            }
            for job in batch.drain(..) {
                job.finish(&committed);
            }
            if let (Some(budget), Some(wal)) = (health.wal_budget(), &wal) {
                keep_log_within(&conn, wal, budget, &health);
            }
        }
        match between {
            Some(Request::Restart(reply)) => {
                let outcome = conn
                    .query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                    })
                    .map_err(map_err);
                let _ = reply.send(outcome);
            }
            Some(Request::Recover(reply)) => {
                let outcome = recover(&mut conn);
                if outcome.is_ok() {
                    // Here, between batches: a batch that fails after this
                    // marks the fault again, never before it is cleared.
                    health.writes_recovered();
                }
                let _ = reply.send(outcome);
            }
            Some(Request::Work(_)) | None => {}
        }
    }
}

/// One transaction for the whole batch: the commit's outcome (as text,
/// since every job of the batch gets it), and, if the database could not
/// write (a job failed so, or the commit did), why.
fn run_batch(
    conn: &mut Connection,
    batch: &mut [Box<dyn Job>],
) -> (Result<(), String>, Option<String>) {
    if let Err(e) = run(conn, "BEGIN IMMEDIATE") {
        let fault = cannot_write(&e).then(|| e.to_string());
        return (Err(e.to_string()), fault);
    }
    let mut fault = None;
    for job in batch.iter_mut() {
        if let Some(why) = job.run(conn) {
            fault = Some(why);
        }
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (an I/O error, a full
            // disk): every job of the batch failed, none may say otherwise.
            tracing::error!(jobs = batch.len(), "SQLite rolled back a batch");
            let why =
                fault.unwrap_or_else(|| "the transaction was rolled back by the database".into());
            return (Err(why.clone()), Some(why));
        }
    }
    match run(conn, "COMMIT") {
        Ok(()) => (Ok(()), fault),
        Err(e) => {
            tracing::error!(error = %e, jobs = batch.len(), "SQLite commit failed; rolled back");
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            let fault = cannot_write(&e).then(|| e.to_string()).or(fault);
            (Err(e.to_string()), fault)
        }
    }
}

/// When space is short (`Health::wal_budget`): empties and truncates the
/// log once it holds more than `budget` bytes, so that it gives its space
/// back instead of growing into the last free bytes.
fn keep_log_within(conn: &Connection, wal: &str, budget: u64, health: &Health) {
    if std::fs::metadata(wal).map_or(0, |m| m.len()) <= budget {
        return;
    }
    let outcome = truncate_now(conn);
    super::checkpoint::count(match &outcome {
        Ok(0) => "ok",
        Ok(_) => "incomplete",
        Err(_) => "failed",
    });
    if let Err(e) = outcome {
        if cannot_write(&e) {
            health.writes_failed(&e.to_string());
        }
    }
}

/// `PRAGMA wal_checkpoint(TRUNCATE)` without waiting for another
/// process's lock (the engine must not stall on a reader, such as a long
/// backup): `busy` (1 when a reader kept part of the log), or the error.
fn truncate_now(conn: &Connection) -> rusqlite::Result<i64> {
    conn.busy_timeout(Duration::ZERO)?;
    let outcome = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        r.get::<_, i64>(0)
    });
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    outcome
}

/// Recovery while writes fail (`health.rs`): the log is copied into the
/// database and truncated to nothing (`TRUNCATE`: its whole size goes back
/// to the file system), then a test write must commit. Runs on the engine's
/// thread between batches, so no write of a request is in between. A
/// reader (a backup) may keep the log from being emptied; the test write
/// decides then: if it commits, there is room to write.
fn recover(conn: &mut Connection) -> StoreResult<()> {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    match truncate_now(conn) {
        Ok(0) => {}
        Ok(_) => tracing::debug!("a reader kept part of the log; trying the test write anyway"),
        Err(e) => {
            tracing::debug!(error = %e, "the log could not be emptied; trying the test write anyway")
        }
    }
    let test = conn.execute_batch(
        "BEGIN IMMEDIATE;
         INSERT OR REPLACE INTO settings (name, value) VALUES ('health_probe', 'written');
         DELETE FROM settings WHERE name = 'health_probe';
         COMMIT;",
    );
    if let Err(e) = test {
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return Err(map_err(e));
    }
    Ok(())
}

/// The sending side: what a store handle holds.
#[derive(Debug, Clone)]
pub(super) struct Queue {
    pub(super) jobs: mpsc::Sender<Request>,
    /// How long a caller waits for room in a full queue.
    pub(super) enqueue_timeout: Duration,
}

impl Queue {
    /// Sends a request, waiting for room up to the timeout.
    pub(super) async fn send(&self, request: Request) -> StoreResult<()> {
        match tokio::time::timeout(self.enqueue_timeout, self.jobs.send(request)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(stopped()),
            Err(_) => Err(StoreError::Unavailable(format!(
                "the database is overloaded: {QUEUE_CAPACITY} operations waiting for {:?}",
                self.enqueue_timeout
            ))),
        }
    }

    /// Runs `work` on the connection's thread in the next batch, and waits
    /// (asynchronously) for its answer, which comes after the commit. Once
    /// queued, the work runs whether or not the caller still waits.
    pub(super) async fn call<T, F>(&self, mode: Mode, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Work(Box::new(Call::new(work, mode, reply))))
            .await?;
        answer.await.map_err(|_| stopped())?
    }
}

pub(super) fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite connection's thread has stopped".into())
}
