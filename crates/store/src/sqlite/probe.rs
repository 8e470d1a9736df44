//! SQLite's health probe (see `health.rs`): a `SELECT 1` through the
//! engine's queue; while writes fail, a recovery instead (`engine.rs`,
//! `recover`); and every time, the size of the write-ahead log and the free
//! space of the database's file system.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proofkey_core::StoreError;
use tokio::sync::{mpsc, oneshot};

use super::engine::{Queue, Request};
use crate::health::{low_space_threshold, spawn_probe, Health, PROBE_DEADLINE};
use crate::tx::Mode;

/// How long a recovery may take: copying a large log into the database
/// takes a while, and nothing else is admitted meanwhile anyway.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(30);

/// Starts the probe of the database at `path`, whose engine is `jobs`.
pub(super) fn start(health: Arc<Health>, path: Arc<str>, jobs: mpsc::WeakSender<Request>) {
    let file = database_file(&path);
    let warned = Arc::new(AtomicBool::new(false));
    let slow = Arc::new(AtomicU32::new(0));
    let h = Arc::clone(&health);
    spawn_probe(health, move || {
        let health = Arc::clone(&h);
        let jobs = jobs.clone();
        let file = file.clone();
        let warned = Arc::clone(&warned);
        let slow = Arc::clone(&slow);
        async move {
            if let Some(file) = &file {
                observe_files(file, &warned, &health);
            }
            let Some(jobs) = jobs.upgrade() else {
                return;
            };
            if health.writes_failing() {
                try_recovery(&health, jobs).await;
            } else {
                ping(&health, jobs, &slow).await;
            }
        }
    });
}

/// Probes in a row without an answer in time before SQLite's node says it
/// is not ready: an engine busy with a burst is slow, not down, and the
/// only replica of a SQLite deployment must not leave its load balancer for
/// that; an engine stuck for seconds is another matter.
const SLOW_PROBES_FOR_NOT_READY: u32 = 3;

async fn ping(health: &Health, jobs: mpsc::Sender<Request>, slow: &AtomicU32) {
    let queue = Queue {
        jobs,
        enqueue_timeout: PROBE_DEADLINE,
    };
    let answer = tokio::time::timeout(
        PROBE_DEADLINE,
        queue.call(Mode::Single, |c| {
            c.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(super::map_err)
        }),
    )
    .await;
    let why = match answer {
        Ok(Ok(())) => {
            slow.store(0, Ordering::Relaxed);
            return health.reached();
        }
        Ok(Err(e)) => format!("the database failed the health probe: {e}"),
        Err(_) => format!(
            "the database did not answer the health probe within {PROBE_DEADLINE:?} (overloaded?)"
        ),
    };
    if slow.fetch_add(1, Ordering::Relaxed) + 1 >= SLOW_PROBES_FOR_NOT_READY {
        health.slow(why);
    } else {
        tracing::debug!(reason = %why, "health probe: no answer in time");
        health.answered_late();
    }
}

async fn try_recovery(health: &Health, jobs: mpsc::Sender<Request>) {
    let (reply, answer) = oneshot::channel();
    if jobs.send(Request::Recover(reply)).await.is_err() {
        return;
    }
    match tokio::time::timeout(RECOVERY_DEADLINE, answer).await {
        Ok(Ok(Ok(()))) => health.reached(),
        Ok(Ok(Err(e))) => {
            // Said once when the fault began (`health.rs`); not every second.
            tracing::debug!(error = %e, "database writes still fail; retrying in a second");
            health.still_failing(recovery_failure(e));
        }
        Ok(Err(_)) | Err(_) => {
            tracing::warn!("the recovery did not finish in time; retrying");
        }
    }
}

fn recovery_failure(e: StoreError) -> String {
    match e {
        StoreError::Unavailable(m) | StoreError::Refused(m) | StoreError::Backend(m) => m,
        StoreError::Conflict(m) => m,
    }
}

/// The database's file, or `None` for special names (`:memory:`, URIs).
fn database_file(path: &str) -> Option<PathBuf> {
    let file = path.split('?').next().unwrap_or(path);
    if file.is_empty() || file.starts_with(':') || file.starts_with("file:") {
        return None;
    }
    Some(PathBuf::from(file))
}

/// Gauges of the log's size and of the file system's space, and a warning
/// once when free space falls below [`low_space_threshold`] (again after
/// it has risen above it).
fn observe_files(file: &Path, warned: &AtomicBool, health: &Health) {
    let mut wal = file.as_os_str().to_owned();
    wal.push("-wal");
    let wal_bytes = std::fs::metadata(&wal).map_or(0, |m| m.len());
    metrics::gauge!("proofkey_sqlite_wal_bytes").set(wal_bytes as f64);
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(fs) = rustix::fs::statvfs(dir) else {
        return;
    };
    let free = fs.f_bavail.saturating_mul(fs.f_frsize);
    let total = fs.f_blocks.saturating_mul(fs.f_frsize);
    health.set_free_space(free);
    metrics::gauge!("proofkey_sqlite_disk_free_bytes").set(free as f64);
    metrics::gauge!("proofkey_sqlite_disk_total_bytes").set(total as f64);
    let low = free < low_space_threshold(total);
    if low && !warned.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            directory = %dir.display(),
            free_bytes = free,
            total_bytes = total,
            wal_bytes,
            "disk space is low: the database stops accepting writes when it runs out"
        );
    } else if !low {
        warned.store(false, Ordering::Relaxed);
    }
}
