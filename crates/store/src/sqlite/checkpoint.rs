//! Checkpoints of SQLite's write-ahead log, run by the store itself.
//!
//! SQLite's own passive checkpoints never let the log start over under
//! steady load (some reader always holds an old snapshot), and it grows
//! without bound (a million flows left 1.6 to 40 GB). So
//! `wal_autocheckpoint` is off and the store checkpoints every
//! [`CHECKPOINT_INTERVAL`], on a thread of its own: a `PASSIVE` checkpoint
//! on the thread's own connection copies the log into the database (and
//! syncs it) while requests go on committing; then a `RESTART` on the
//! engine's connection, between two batches, copies the little written
//! since. Since the engine's thread is the only writer, nothing is left
//! behind, the next write starts the log over, and the RESTART waits for
//! no lock (on another connection it had to take the write lock from under
//! the requests, which then slept in SQLite's busy handler).
//!
//! **Invariant:** the checkpointer ends within one interval of the last
//! handle on the store being dropped; it never keeps the engine alive.

use std::sync::Arc;
use std::time::Duration;

use proofkey_core::store::StoreResult;
use proofkey_core::StoreError;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::engine::{stopped, Queue, Request};
use super::{map_err, BUSY_TIMEOUT};
use crate::health::Health;

/// How often the store checkpoints. Each checkpoint briefly stalls the
/// engine's writes (its fsyncs); half a second measured a shorter latency
/// tail than one or two seconds, at the same throughput
/// (docs/performance.md).
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// `PRAGMA wal_checkpoint(PASSIVE)` on `conn`.
fn passive(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

fn open(path: &str) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(map_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    Ok(conn)
}

fn log_restart_outcome(outcome: StoreResult<(i64, i64)>) {
    let label = match outcome {
        Ok((0, _)) => "ok",
        Ok((_, frames)) => {
            tracing::debug!(frames, "WAL checkpoint could not finish; next time");
            "incomplete"
        }
        Err(e) => {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
            "failed"
        }
    };
    count(label);
}

/// Counts a checkpoint by its outcome: `ok`, `incomplete` (a reader kept
/// part of the log) or `failed`.
pub(super) fn count(outcome: &'static str) {
    metrics::counter!("proofkey_sqlite_checkpoints_total", "outcome" => outcome).increment(1);
}

/// A checkpoint that failed for lack of space means the log can only grow
/// from now on, until the disk is full: stop admitting writes now and let
/// the probe's recovery empty the log (`health.rs`).
fn passive_failed(health: &Health, e: &rusqlite::Error) {
    count("failed");
    tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
    if matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull)
    {
        health.writes_failed(&e.to_string());
    }
}

/// Starts the checkpointer thread.
pub(super) fn start(
    path: Arc<str>,
    jobs: mpsc::WeakSender<Request>,
    interval: Duration,
    health: Arc<Health>,
) -> StoreResult<()> {
    let conn = open(&path)?;
    std::thread::Builder::new()
        .name("proofkey-sqlite-checkpoint".into())
        .spawn(move || loop {
            std::thread::sleep(interval);
            let Some(jobs) = jobs.upgrade() else {
                return;
            };
            if health.writes_failing() {
                // The probe's recovery checkpoints meanwhile.
                continue;
            }
            if let Err(e) = passive(&conn) {
                passive_failed(&health, &e);
                continue;
            }
            let (reply, answer) = oneshot::channel();
            if jobs.blocking_send(Request::Restart(reply)).is_err() {
                return;
            }
            drop(jobs);
            log_restart_outcome(answer.blocking_recv().unwrap_or_else(|_| Err(stopped())));
        })
        .map(|_| ())
        .map_err(|e| StoreError::Backend(format!("cannot start the checkpointer: {e}")))
}

/// One checkpoint now, from async code (tests, tools).
pub(super) async fn now(path: &Arc<str>, queue: &Queue) -> StoreResult<()> {
    let path = Arc::clone(path);
    tokio::task::spawn_blocking(move || passive(&open(&path)?).map_err(map_err))
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))??;
    let (reply, answer) = oneshot::channel();
    queue.send(Request::Restart(reply)).await?;
    let outcome = answer.await.map_err(|_| stopped())?;
    if let Err(e) = &outcome {
        return Err(StoreError::Backend(e.to_string()));
    }
    log_restart_outcome(outcome);
    Ok(())
}
