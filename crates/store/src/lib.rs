//! The store traits of `proofkey_core::store` on SQLite (rusqlite, the
//! embedded default) and PostgreSQL (sqlx, for several stateless nodes).
//!
//! `statements.rs` holds every statement once; `ops/` every operation once
//! (which statements it runs, in which order, and what follows from
//! their results), on the [`tx::Backend`] seam; `rows.rs` maps rows to
//! records once. The drivers (`sqlite/`, `postgres.rs`) only bind, run
//! and read statements and begin and end transactions.
//!
//! **Invariant:** single-use things are consumed by one SQL statement
//! (`UPDATE ... WHERE used_at IS NULL RETURNING`), never read-then-write;
//! every issuance is one atomic operation.

mod health;
mod ops;
mod postgres;
mod rows;
mod sqlite;
mod statements;
mod tx;

pub use health::{PROBE_DEADLINE, PROBE_INTERVAL};
pub use postgres::PgAdmin;
pub use sqlite::{backup as backup_sqlite, CHECKPOINT_INTERVAL};
pub use tx::Database;

use std::sync::Arc;
use std::time::Duration;

use proofkey_core::{Store, StoreError};

/// Store settings, per node.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// PostgreSQL: most connections per node (a SQLite node has one).
    pub max_connections: u32,
    /// How long a request waits for a PostgreSQL connection, or for room
    /// in the SQLite engine's queue, before it fails with `Unavailable`.
    pub acquire_timeout: Duration,
    /// SQLite: how often the store checkpoints its write-ahead log; `None`
    /// for no checkpointer (tests that watch the log; a short-lived tool).
    pub checkpoint_interval: Option<Duration>,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            checkpoint_interval: Some(CHECKPOINT_INTERVAL),
        }
    }
}

/// Opens (creating and migrating) the store behind a database URL:
/// `sqlite://PATH` or `postgres://...`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, &StoreSettings::default()).await
}

/// [`open`] with settings.
pub async fn open_with(url: &str, settings: &StoreSettings) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(Database::open_sqlite(url, settings).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(Database::open_postgres(url, settings).await?))
    } else {
        Err(StoreError::Backend(format!(
            "unsupported database URL {:?}; use sqlite://PATH or postgres://USER@HOST/DB",
            proofkey_core::config::redact_url(url)
        )))
    }
}
