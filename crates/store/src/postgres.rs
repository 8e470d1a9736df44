//! The PostgreSQL store: several stateless nodes on one database.
//!
//! The statements are those of the SQLite store (see `shared.rs`), adapted
//! by [`PgStore::sql`]: `?`/`?N` placeholders become `$N`, `INSERT OR IGNORE`
//! becomes `ON CONFLICT DO NOTHING`, `MIN(a, b)` becomes `LEAST(a, b)`.
//! Every single-use consumption stays one statement, which PostgreSQL runs
//! atomically across connections and nodes (row locks under READ COMMITTED:
//! a second `UPDATE ... WHERE used_at IS NULL` re-checks the row after the
//! first commits and matches nothing).

use std::borrow::Cow;
use std::time::Duration;

use async_trait::async_trait;
use proofkey_core::model::{
    AccessTokenRecord, AuthorizationCode, Client, ClientKind, CodeConsumption, DeviceCode,
    DevicePoll, DeviceStatus, RefreshTokenRecord, RefreshUse, Session, SessionInfo, StoredKey,
    SweepCounts, User,
};
use proofkey_core::store::StoreResult;
use proofkey_core::{Store, StoreError};
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

use crate::{map_err, PoolSettings};

/// PostgreSQL-backed store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `postgres://...` with `pool` settings and applies pending
    /// migrations (concurrent nodes serialise on sqlx's advisory lock).
    pub async fn open(url: &str, pool: &PoolSettings) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.acquire_timeout)
            .idle_timeout(Some(Duration::from_secs(600)))
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))
    }

    /// PostgreSQL checkpoints its own log (see [`Store::checkpoint`]).
    async fn checkpoint_log(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Adapts a statement written in SQLite's dialect.
    fn sql(s: &'static str) -> Cow<'static, str> {
        Cow::Owned(to_postgres(s))
    }
}

/// The dialect translation (see the module docs).
pub(crate) fn to_postgres(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 32);
    let mut n = 0;
    let mut chars = s.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            in_str = !in_str;
            out.push(c);
        } else if c == '?' && !in_str {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            if digits.is_empty() {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push('$');
                out.push_str(&digits);
            }
        } else {
            out.push(c);
        }
    }
    let mut out = out.replace("MIN(", "LEAST(");
    if let Some(rest) = out.strip_prefix("INSERT OR IGNORE ") {
        out = format!("INSERT {} ON CONFLICT DO NOTHING", rest.trim_end());
    }
    out
}

crate::shared::sql_store!(PgStore, PgRow);

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

#[cfg(test)]
mod tests {
    use super::to_postgres;

    #[test]
    fn translates_placeholders_and_dialect() {
        assert_eq!(
            to_postgres("SELECT * FROM t WHERE a = ? AND b = ?"),
            "SELECT * FROM t WHERE a = $1 AND b = $2"
        );
        assert_eq!(
            to_postgres("UPDATE t SET x = ?1 WHERE y = ?2 AND z > ?1"),
            "UPDATE t SET x = $1 WHERE y = $2 AND z > $1"
        );
        assert_eq!(
            to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?)"),
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"
        );
        assert_eq!(to_postgres("SET a = MIN(?3, b)"), "SET a = LEAST($3, b)");
        assert_eq!(to_postgres("WHERE s = '?'"), "WHERE s = '?'");
    }
}
