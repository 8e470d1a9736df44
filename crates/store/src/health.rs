//! Whether the database can serve, known without asking it on every
//! request: the state behind `/readyz` and behind failing fast.
//!
//! A probe task per store ([`spawn_probe`]) asks the database every
//! [`PROBE_INTERVAL`], at once when a request saw it fail, with a deadline
//! of [`PROBE_DEADLINE`]:
//!
//! - PostgreSQL: `SELECT 1` on a connection of the probe's own, outside
//!   the pool, so that a busy pool is never taken for an outage. When it
//!   cannot connect or gets no answer in time, the database is
//!   *unreachable*: every operation is refused at once
//!   ([`StoreError::Refused`]), instead of each waiting the acquire
//!   timeout, until the probe reaches it again.
//! - SQLite: the engine marks *writes failing* when a batch fails for lack
//!   of space, a read-only file or an I/O error (`engine.rs`). Operations
//!   are then refused at once, and every interval the probe asks the engine
//!   to empty the write-ahead log into the database and truncate it
//!   (`PRAGMA wal_checkpoint(TRUNCATE)`) and to commit a test write; work
//!   is admitted again only after both succeed. So the space an operator
//!   frees goes to the checkpoint first, not to new writes that would fill
//!   the disk again while the log can never be emptied. The probe also
//!   reads the free space of the database's file system (a gauge, and a
//!   warning when it runs low).
//!
//! **Invariant:** `/readyz` answers from this state, without waiting for
//! the database; the state is never older than one interval plus one
//! deadline.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use proofkey_core::model::Readiness;
use proofkey_core::StoreError;
use tokio::sync::Notify;

/// How often the probe asks the database when nothing happens.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// How long the probe waits for an answer (and `/readyz`, at most, for
/// nothing: it reads the probe's last answer).
pub const PROBE_DEADLINE: Duration = Duration::from_millis(500);

/// Below this much free space, the engine bounds the write-ahead log by
/// the free space ([`Health::wal_budget`]).
pub(crate) const TIGHT_SPACE: u64 = 1 << 30;

/// The least time between two probes.
const MIN_PROBE_GAP: Duration = Duration::from_millis(100);

/// What the store knows of its database.
#[derive(Debug)]
pub(crate) struct Health {
    backend: &'static str,
    /// Operations are refused at once while set (the fast path: one load).
    refusing: AtomicBool,
    state: Mutex<State>,
    /// Wakes the probe early: a request saw the database fail.
    wake: Notify,
    /// Ends the probe: the last handle on the store was dropped.
    stop: Notify,
    /// SQLite: free bytes of the database's file system, as the probe last
    /// read them (`u64::MAX` until then).
    free_space: AtomicU64,
    /// The operation duration histograms, atomic and single: looked up
    /// once (at the first operation, after `serve` has installed the
    /// recorder), not on every operation.
    durations: OnceLock<[metrics::Histogram; 2]>,
}

#[derive(Debug, Default)]
struct State {
    /// PostgreSQL could not be reached by the probe: why.
    unreachable: Option<String>,
    /// SQLite's writes fail: why.
    writes_failing: Option<String>,
    /// The probe's last answer did not come in time (not a fault that
    /// refuses work: the database may only be busy), or was never given.
    probe_error: Option<String>,
    /// When the probe last answered.
    last_probe: Option<Instant>,
}

impl State {
    /// The fault that refuses work, if any: its fixed reason, and the
    /// database's words.
    fn fault(&self) -> Option<(&'static str, &str)> {
        if let Some(e) = &self.unreachable {
            Some(("the database is unreachable", e))
        } else {
            self.writes_failing
                .as_deref()
                .map(|e| ("database writes are failing", e))
        }
    }
}

impl Health {
    pub(crate) fn new(backend: &'static str) -> Arc<Self> {
        metrics::gauge!("proofkey_database_up").set(1.0);
        metrics::gauge!("proofkey_database_writes_failing").set(0.0);
        Arc::new(Self {
            backend,
            refusing: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            stop: Notify::new(),
            free_space: AtomicU64::new(u64::MAX),
            durations: OnceLock::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn backend(&self) -> &'static str {
        self.backend
    }

    /// The operation duration histogram of atomic operations, or of
    /// single-statement ones.
    pub(crate) fn duration(&self, atomic: bool) -> &metrics::Histogram {
        let [a, s] = self.durations.get_or_init(|| {
            let backend = self.backend;
            [
                metrics::histogram!("proofkey_store_operation_duration_seconds", "backend" => backend, "mode" => "atomic"),
                metrics::histogram!("proofkey_store_operation_duration_seconds", "backend" => backend, "mode" => "single"),
            ]
        });
        if atomic {
            a
        } else {
            s
        }
    }

    /// The error of an operation refused at once, or `None` to run it.
    pub(crate) fn refusal(&self) -> Option<StoreError> {
        if !self.refusing.load(Ordering::Relaxed) {
            return None;
        }
        let s = self.state();
        let (reason, detail) = s.fault()?;
        Some(StoreError::Refused(format!("{reason}: {detail}")))
    }

    /// Whether `/readyz` may say ready, and if not, why: a fixed reason,
    /// and the database's own words as detail (for the operator only).
    pub(crate) fn readiness(&self) -> Readiness {
        let s = self.state();
        let (reason, detail) = if let Some((reason, detail)) = s.fault() {
            (reason, detail.to_owned())
        } else if let Some(e) = &s.probe_error {
            ("the database does not answer in time", e.clone())
        } else if s
            .last_probe
            .is_none_or(|t| t.elapsed() > 2 * PROBE_INTERVAL + PROBE_DEADLINE)
        {
            (
                "the database has not answered the health probe lately",
                String::new(),
            )
        } else {
            return Readiness::Ready;
        };
        Readiness::NotReady { reason, detail }
    }

    fn publish(&self, s: &State) {
        let refusing = s.fault().is_some();
        self.refusing.store(refusing, Ordering::Relaxed);
        metrics::gauge!("proofkey_database_up").set(if s.unreachable.is_some() {
            0.0
        } else {
            1.0
        });
        metrics::gauge!("proofkey_database_writes_failing").set(if s.writes_failing.is_some() {
            1.0
        } else {
            0.0
        });
    }

    /// The probe reached the database.
    pub(crate) fn reached(&self) {
        let mut s = self.state();
        if let Some(e) = s.unreachable.take() {
            tracing::info!(was = %e, "the database is reachable again");
        }
        s.probe_error = None;
        s.last_probe = Some(Instant::now());
        self.publish(&s);
    }

    /// The probe could not reach the database: refuse work until it can.
    pub(crate) fn unreachable(&self, why: String) {
        let mut s = self.state();
        if s.unreachable.is_none() {
            tracing::error!(error = %why, "the database is unreachable; refusing requests that need it until the probe reaches it");
        }
        s.unreachable = Some(why);
        s.last_probe = Some(Instant::now());
        self.publish(&s);
    }

    /// The probe got no answer in time, but this is not known to be an
    /// outage (SQLite's queue may be long): not ready, nothing refused.
    pub(crate) fn slow(&self, why: String) {
        let mut s = self.state();
        s.probe_error = Some(why);
        s.last_probe = Some(Instant::now());
        self.publish(&s);
    }

    /// The probe got no answer in time, once or twice in a row: tolerated
    /// (the state stays what it was, and fresh).
    pub(crate) fn answered_late(&self) {
        let mut s = self.state();
        s.last_probe = Some(Instant::now());
        self.publish(&s);
    }

    /// Writes failed (SQLite): refuse work until a recovery succeeds.
    pub(crate) fn writes_failed(&self, why: &str) {
        let mut s = self.state();
        if s.writes_failing.is_none() {
            tracing::error!(error = %why, "database writes are failing; refusing requests until the write-ahead log is emptied and a test write commits");
        }
        s.writes_failing = Some(why.to_owned());
        self.publish(&s);
        drop(s);
        self.wake.notify_one();
    }

    /// A recovery failed: writes still fail (no new wake-up of the probe:
    /// it retries at the next interval).
    pub(crate) fn still_failing(&self, why: String) {
        let mut s = self.state();
        s.writes_failing = Some(why);
        self.publish(&s);
    }

    /// Whether writes are known to fail.
    pub(crate) fn writes_failing(&self) -> bool {
        self.state().writes_failing.is_some()
    }

    /// A recovery succeeded: writes commit again.
    pub(crate) fn writes_recovered(&self) {
        let mut s = self.state();
        if let Some(e) = s.writes_failing.take() {
            tracing::info!(was = %e, "database writes succeed again; admitting requests");
        }
        self.publish(&s);
    }

    /// The probe read the file system's free space.
    pub(crate) fn set_free_space(&self, bytes: u64) {
        self.free_space.store(bytes, Ordering::Relaxed);
    }

    /// SQLite: how large the write-ahead log may grow before the engine
    /// empties and truncates it itself, when space is short: half the free
    /// space once less than [`TIGHT_SPACE`] is free, so that the log never
    /// takes what is left (it grows by about 25 KB per operation, and the
    /// checkpointer's interval alone let it fill a small disk again at
    /// once). `None` while space is plentiful: the checkpointer's rhythm.
    pub(crate) fn wal_budget(&self) -> Option<u64> {
        let free = self.free_space.load(Ordering::Relaxed);
        (free < TIGHT_SPACE).then_some(free / 2)
    }

    /// A request saw the database fail: probe now rather than at the next
    /// interval.
    pub(crate) fn suspect(&self) {
        self.wake.notify_one();
    }

    /// Until the next probe is due: the interval, or a wake-up.
    pub(crate) async fn until_next_probe(&self) {
        // Wake-ups come from failing requests, as often as they fail: at
        // most ten probes a second.
        tokio::time::sleep(MIN_PROBE_GAP).await;
        tokio::select! {
            () = tokio::time::sleep(PROBE_INTERVAL.saturating_sub(MIN_PROBE_GAP)) => {}
            () = self.wake.notified() => {}
        }
    }

    /// Until the store is dropped.
    pub(crate) async fn stopped(&self) {
        self.stop.notified().await;
    }
}

/// Held by every clone of the store; the last one's drop ends the probe.
#[derive(Debug)]
pub(crate) struct ProbeGuard(pub(crate) Arc<Health>);

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        // `notify_one` stores a permit if the probe is not waiting yet.
        self.0.stop.notify_one();
    }
}

/// Runs `probe` every interval (or when woken) until the store is
/// dropped. `probe` is the backend's: it reports to the [`Health`] itself.
pub(crate) fn spawn_probe<P, F>(health: Arc<Health>, mut probe: P)
where
    P: FnMut() -> F + Send + 'static,
    F: std::future::Future<Output = ()> + Send,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        loop {
            tokio::select! {
                () = health.stopped() => return,
                () = probe() => {}
            }
            tokio::select! {
                () = health.stopped() => return,
                () = health.until_next_probe() => {}
            }
        }
    });
}

/// The smaller of 10 % of the file system and 1 GiB: below it, free space
/// is low enough to warn about.
pub(crate) fn low_space_threshold(total: u64) -> u64 {
    (total / 10).min(1 << 30)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_while_a_fault_lasts() {
        let h = Health::new("sqlite");
        assert!(h.refusal().is_none());
        h.writes_failed("disk full");
        assert!(matches!(h.refusal(), Some(StoreError::Refused(m)) if m.contains("disk full")));
        assert!(
            matches!(h.readiness(), Readiness::NotReady { reason, detail } if reason.contains("writes") && detail.contains("disk full"))
        );
        h.writes_recovered();
        h.reached();
        assert!(h.refusal().is_none());
        assert_eq!(h.readiness(), Readiness::Ready);
        h.unreachable("connection refused".into());
        assert!(matches!(h.refusal(), Some(StoreError::Refused(m)) if m.contains("unreachable")));
        h.slow("slow".into());
        assert!(h.refusal().is_some(), "slowness does not clear an outage");
        h.reached();
        assert!(h.refusal().is_none());
    }

    #[test]
    fn a_slow_probe_is_not_ready_but_refuses_nothing() {
        let h = Health::new("sqlite");
        h.slow("no answer within 500ms".into());
        assert!(h.refusal().is_none());
        assert!(matches!(h.readiness(), Readiness::NotReady { .. }));
    }

    #[test]
    fn low_space_is_the_smaller_of_a_tenth_and_a_gibibyte() {
        assert_eq!(low_space_threshold(2 << 20), (2 << 20) / 10);
        assert_eq!(low_space_threshold(1 << 40), 1 << 30);
    }
}
