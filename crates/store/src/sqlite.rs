//! The SQLite store: the embedded default.
//!
//! WAL journal mode lets readers proceed while one writer writes;
//! `synchronous = NORMAL` in WAL mode syncs at checkpoints rather than at
//! every commit, so a power loss can lose the last transactions (codes and
//! tokens of the last moments, which clients then simply re-request) but
//! never corrupts the database. A busy timeout makes concurrent writers wait
//! instead of failing.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use proofkey_core::model::{
    AccessTokenRecord, AuthorizationCode, Client, ClientKind, CodeConsumption, DeviceCode,
    DevicePoll, DeviceStatus, RefreshTokenRecord, RefreshUse, Session, SessionInfo, StoredKey,
    SweepCounts, User,
};
use proofkey_core::store::StoreResult;
use proofkey_core::{Store, StoreError};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use crate::{map_err, PoolSettings};

/// SQLite-backed store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens `sqlite://PATH` (or `sqlite:PATH`), creating the file if needed,
    /// and applies pending migrations, with the default pool settings.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, &PoolSettings::default()).await
    }

    /// [`SqliteStore::open`] with `pool` settings. sqlx runs each SQLite
    /// connection on a thread of its own and hands every statement over a
    /// channel; the pool size is how many statements can be in flight at
    /// once. Measured with `bench/compare.sh` on 2 cores and 32 clients:
    /// 8 connections gave 1,760 flows/s, 16 gave 2,070, and 32 no more
    /// throughput but a worse p99 (writers queue on SQLite's lock), so the
    /// default is 16 (docs/performance.md).
    pub async fn open_with(url: &str, pool: &PoolSettings) -> Result<Self, StoreError> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(map_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // 1 MiB of page cache per connection instead of 2: with 16
            // connections the caches are most of the resident memory, and in
            // WAL mode one connection's writes invalidate the others' pages
            // anyway. A million flows: 60 -> 54 MiB resident, no slower.
            .pragma("cache_size", "-1024")
            // The node's checkpointer (Store::checkpoint) checkpoints the
            // log; SQLite's own passive checkpoints after each commit past
            // 1,000 pages would hold the checkpoint lock most of the time
            // under load, so that the RESTART checkpoint never gets it
            // (it does not wait for that lock) and the log never starts over.
            .pragma("wal_autocheckpoint", "0")
            // After a checkpoint resets the log, its file is cut back to
            // this size (it is otherwise reused at its largest).
            .pragma("journal_size_limit", "67108864");
        let pool = SqlitePoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {path}: {e}")))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }
}

impl SqliteStore {
    /// `PRAGMA wal_checkpoint(RESTART)` (see [`Store::checkpoint`]). It
    /// waits, through the busy handler, for readers of older snapshots to
    /// finish (single statements: moments) and holds new writers meanwhile.
    async fn checkpoint_log(&self) -> StoreResult<()> {
        // PASSIVE first copies what it can without holding writers back,
        // so that RESTART, which does hold them, has little left to copy.
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let row = sqlx::query("PRAGMA wal_checkpoint(RESTART)")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let busy: i64 = row.try_get(0).map_err(map_err)?;
        let frames: i64 = row.try_get(1).map_err(map_err)?;
        if busy != 0 {
            tracing::debug!(frames, "WAL checkpoint could not finish; next time");
        }
        Ok(())
    }

    /// SQLite is the dialect the statements are written in.
    fn sql(s: &'static str) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed(s)
    }
}

crate::shared::sql_store!(SqliteStore, SqliteRow);
