//! [`proofkey_core::Store`] on SQLite (rusqlite, one connection per node,
//! statements run inline) and PostgreSQL (sqlx, a pool).
//!
//! **Invariant:** single-use things are consumed by one SQL statement
//! (`UPDATE ... WHERE used_at IS NULL RETURNING`), never read-then-write.

mod postgres;
mod rows;
mod sqlite;
mod statements;

pub use postgres::{PgAdmin, PgStore};
pub use sqlite::SqliteStore;

use std::sync::Arc;

use proofkey_core::{Store, StoreError};

/// Connection pool settings, per node, for PostgreSQL (a SQLite node has
/// one connection).
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Most connections per node.
    pub max_connections: u32,
    /// How long a request waits for a connection before it fails with 503.
    pub acquire_timeout: std::time::Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: std::time::Duration::from_secs(5),
        }
    }
}

/// Opens (creating and migrating) the store behind a database URL:
/// `sqlite://PATH` or `postgres://...`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, &PoolSettings::default()).await
}

/// [`open`] with pool settings.
pub async fn open_with(url: &str, pool: &PoolSettings) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open_with(url, pool).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url, pool).await?))
    } else {
        Err(StoreError::Backend(format!(
            "unsupported database URL {url:?}; use sqlite://PATH or postgres://USER@HOST/DB"
        )))
    }
}

pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict("record".into())
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}
