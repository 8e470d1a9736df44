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

use crate::map_err;

/// SQLite-backed store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens `sqlite://PATH` (or `sqlite:PATH`), creating the file if needed,
    /// and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
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
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
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
    /// SQLite is the dialect the statements are written in.
    fn sql(s: &'static str) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed(s)
    }
}

crate::shared::sql_store!(SqliteStore, SqliteRow);
