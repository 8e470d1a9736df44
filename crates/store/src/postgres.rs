//! The PostgreSQL store: several stateless nodes on one database.
//!
//! The statements are those of the SQLite store (`statements.rs`), adapted
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
    AccessTokenRecord, AuthorizationCode, Client, CodeConsumption, DeviceCode, DevicePoll,
    RefreshTokenRecord, RefreshUse, Session, SessionInfo, StoredKey, SweepCounts, User,
};
use proofkey_core::store::StoreResult;
use proofkey_core::{Store, StoreError};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

use crate::rows::{self, json_list};
use crate::statements as sql;
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

#[async_trait]
impl Store for PgStore {
    async fn create_client(&self, c: &Client) -> StoreResult<()> {
        sqlx::query(&Self::sql(sql::INSERT_CLIENT))
            .bind(&c.id)
            .bind(&c.name)
            .bind(c.kind.as_str())
            .bind(&c.secret_hash)
            .bind(json_list(&c.redirect_uris))
            .bind(json_list(&c.scopes))
            .bind(json_list(&c.grant_types))
            .bind(c.skip_consent)
            .bind(&c.id_token_alg)
            .bind(c.created_at)
            .bind(&c.jwks)
            .bind(&c.jwks_uri)
            .bind(json_list(&c.post_logout_redirect_uris))
            .bind(c.rotate_refresh_tokens)
            .bind(c.always_issue_refresh_token)
            .execute(&self.pool)
            .await
            .map_err(|e| match map_err(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("client {:?}", c.id)),
                other => other,
            })?;
        Ok(())
    }

    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let row = sqlx::query(&Self::sql(sql::GET_CLIENT))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::client).transpose().map_err(map_err)
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let rows = sqlx::query(&Self::sql(sql::LIST_CLIENTS))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(rows::client)
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        let r = sqlx::query(&Self::sql(sql::DELETE_CLIENT))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn set_client_secret(&self, id: &str, secret_hash: &str) -> StoreResult<bool> {
        let r = sqlx::query(&Self::sql(sql::SET_CLIENT_SECRET))
            .bind(secret_hash)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn create_user(&self, u: &User) -> StoreResult<()> {
        sqlx::query(&Self::sql(sql::INSERT_USER))
            .bind(&u.id)
            .bind(&u.username)
            .bind(&u.email)
            .bind(&u.name)
            .bind(&u.password_hash)
            .bind(u.created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| match map_err(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("user {:?}", u.username)),
                other => other,
            })?;
        Ok(())
    }

    async fn get_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(&Self::sql(sql::GET_USER_BY_USERNAME))
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::user).transpose().map_err(map_err)
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(&Self::sql(sql::GET_USER))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::user).transpose().map_err(map_err)
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(&Self::sql(sql::LIST_USERS))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(rows::user)
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn delete_user(&self, username: &str) -> StoreResult<bool> {
        let r = sqlx::query(&Self::sql(sql::DELETE_USER))
            .bind(username)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn set_password(&self, username: &str, password_hash: &str) -> StoreResult<bool> {
        let r = sqlx::query(&Self::sql(sql::SET_PASSWORD))
            .bind(password_hash)
            .bind(username)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn create_session(&self, id_hash: &str, s: &Session) -> StoreResult<()> {
        sqlx::query(&Self::sql(sql::INSERT_SESSION))
            .bind(id_hash)
            .bind(&s.user_id)
            .bind(s.auth_time)
            .bind(s.expires_at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_session(&self, id_hash: &str, now: i64) -> StoreResult<Option<Session>> {
        let row = sqlx::query(&Self::sql(sql::GET_SESSION))
            .bind(id_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| {
            Ok(Session {
                user_id: r.try_get("user_id")?,
                auth_time: r.try_get("auth_time")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
        .map_err(map_err)
    }

    async fn grant_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // An empty scope set is remembered too, as the empty string.
        let empty = [String::new()];
        let scopes = if scopes.is_empty() {
            &empty[..]
        } else {
            scopes
        };
        for s in scopes {
            sqlx::query(&Self::sql(sql::INSERT_CONSENT))
                .bind(user_id)
                .bind(client_id)
                .bind(s)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn get_consent(&self, user_id: &str, client_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(&Self::sql(sql::GET_CONSENT))
            .bind(user_id)
            .bind(client_id)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| r.try_get("scope"))
            .collect::<Result<_, _>>()
            .map_err(map_err)
    }

    async fn insert_code(&self, c: &AuthorizationCode) -> StoreResult<()> {
        sqlx::query(&Self::sql(sql::INSERT_CODE))
            .bind(&c.code_hash)
            .bind(&c.client_id)
            .bind(&c.redirect_uri)
            .bind(&c.code_challenge)
            .bind(&c.code_challenge_method)
            .bind(&c.scope)
            .bind(&c.nonce)
            .bind(&c.user_id)
            .bind(c.auth_time)
            .bind(c.issued_at)
            .bind(c.expires_at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn consume_code(&self, code_hash: &str, now: i64) -> StoreResult<CodeConsumption> {
        let row = sqlx::query(&Self::sql(sql::CONSUME_CODE))
            .bind(now)
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        if let Some(r) = row {
            return rows::code(&r)
                .map(|c| CodeConsumption::Consumed(Box::new(c)))
                .map_err(map_err);
        }
        let used = sqlx::query(&Self::sql(sql::CODE_EXISTS))
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(if used.is_some() {
            CodeConsumption::AlreadyUsed
        } else {
            CodeConsumption::NotFound
        })
    }

    async fn insert_access_token(&self, t: &AccessTokenRecord) -> StoreResult<()> {
        sqlx::query(&Self::sql(sql::INSERT_ACCESS_TOKEN))
            .bind(&t.jti)
            .bind(&t.grant_id)
            .bind(&t.client_id)
            .bind(&t.user_id)
            .bind(&t.scope)
            .bind(t.expires_at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn access_token_active(&self, jti: &str, now: i64) -> StoreResult<bool> {
        let row = sqlx::query(&Self::sql(sql::ACCESS_TOKEN_ACTIVE))
            .bind(jti)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.is_some())
    }

    async fn get_access_token(
        &self,
        jti: &str,
        now: i64,
    ) -> StoreResult<Option<AccessTokenRecord>> {
        let row = sqlx::query(&Self::sql(sql::GET_ACCESS_TOKEN))
            .bind(jti)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::access).transpose().map_err(map_err)
    }

    async fn revoke_access_token(&self, jti: &str, client_id: &str, now: i64) -> StoreResult<bool> {
        let r = sqlx::query(&Self::sql(sql::REVOKE_ACCESS_TOKEN))
            .bind(now)
            .bind(jti)
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn revoke_grant(&self, grant_id: &str, now: i64) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let mut n = 0;
        for sql in [sql::REVOKE_GRANT_ACCESS, sql::REVOKE_GRANT_REFRESH] {
            n += sqlx::query(&Self::sql(sql))
                .bind(now)
                .bind(grant_id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
        }
        tx.commit().await.map_err(map_err)?;
        Ok(n)
    }

    async fn insert_refresh_token(&self, t: &RefreshTokenRecord) -> StoreResult<()> {
        sqlx::query(&Self::sql(sql::INSERT_REFRESH_TOKEN))
            .bind(&t.token_hash)
            .bind(&t.grant_id)
            .bind(&t.client_id)
            .bind(&t.user_id)
            .bind(&t.scope)
            .bind(t.auth_time)
            .bind(t.issued_at)
            .bind(t.family_expires_at)
            .bind(t.idle_expires_at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn use_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
        rotate: bool,
        new_idle_expiry: i64,
    ) -> StoreResult<RefreshUse> {
        let sql = if rotate {
            sql::ROTATE_REFRESH_TOKEN
        } else {
            sql::EXTEND_REFRESH_TOKEN
        };
        let row = sqlx::query(&Self::sql(sql))
            .bind(now)
            .bind(token_hash)
            .bind(new_idle_expiry)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        if let Some(r) = row {
            return rows::refresh(&r)
                .map(|t| RefreshUse::Taken(Box::new(t)))
                .map_err(map_err);
        }
        let row = sqlx::query(&Self::sql(sql::REUSED_REFRESH_TOKEN))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        match row {
            Some(r) => rows::refresh(&r)
                .map(|t| RefreshUse::Reused(Box::new(t)))
                .map_err(map_err),
            None => Ok(RefreshUse::Invalid),
        }
    }

    async fn get_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        let row = sqlx::query(&Self::sql(sql::GET_REFRESH_TOKEN))
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::refresh).transpose().map_err(map_err)
    }

    async fn record_jti(&self, client_id: &str, jti: &str, expires_at: i64) -> StoreResult<bool> {
        let r = sqlx::query(&Self::sql(sql::RECORD_JTI))
            .bind(client_id)
            .bind(jti)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn list_sessions(&self, user_id: &str, now: i64) -> StoreResult<Vec<SessionInfo>> {
        let rows = sqlx::query(&Self::sql(sql::LIST_SESSIONS))
            .bind(user_id)
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(SessionInfo {
                    id: r.try_get("id")?,
                    auth_time: r.try_get("auth_time")?,
                    expires_at: r.try_get("expires_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(map_err)
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        sqlx::query(&Self::sql(sql::DELETE_SESSION))
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn revoke_user(&self, user_id: &str, now: i64) -> StoreResult<(u64, u64)> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let sessions = sqlx::query(&Self::sql(sql::DELETE_USER_SESSIONS))
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        let mut tokens = 0;
        for sql in [sql::REVOKE_USER_ACCESS, sql::REVOKE_USER_REFRESH] {
            tokens += sqlx::query(&Self::sql(sql))
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
        }
        tx.commit().await.map_err(map_err)?;
        Ok((sessions, tokens))
    }

    async fn insert_device_code(&self, d: &DeviceCode) -> StoreResult<()> {
        sqlx::query(&Self::sql(sql::INSERT_DEVICE_CODE))
            .bind(&d.device_code_hash)
            .bind(&d.user_code_hash)
            .bind(&d.client_id)
            .bind(&d.scope)
            .bind(d.issued_at)
            .bind(d.expires_at)
            .bind(d.interval)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn pending_device_code(
        &self,
        user_code_hash: &str,
        now: i64,
    ) -> StoreResult<Option<DeviceCode>> {
        let row = sqlx::query(&Self::sql(sql::PENDING_DEVICE_CODE))
            .bind(user_code_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::device).transpose().map_err(map_err)
    }

    async fn decide_device_code(
        &self,
        user_code_hash: &str,
        now: i64,
        user_id: &str,
        auth_time: i64,
        approve: bool,
    ) -> StoreResult<bool> {
        let r = sqlx::query(&Self::sql(sql::DECIDE_DEVICE_CODE))
            .bind(if approve { "approved" } else { "denied" })
            .bind(user_id)
            .bind(auth_time)
            .bind(user_code_hash)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn poll_device_code(&self, device_code_hash: &str, now: i64) -> StoreResult<DevicePoll> {
        // Every expression in SET reads the row as it was before the update,
        // so `slow` records whether this poll beat the interval then in force.
        let row = sqlx::query(&Self::sql(sql::POLL_DEVICE_CODE))
            .bind(now)
            .bind(device_code_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        let Some(row) = row else {
            return Ok(DevicePoll::NotFound);
        };
        let slow_down: bool = row.try_get("slow").map_err(map_err)?;
        let record = rows::device(&row).map_err(map_err)?;
        Ok(DevicePoll::Polled {
            record: Box::new(record),
            slow_down,
        })
    }

    async fn consume_device_code(
        &self,
        device_code_hash: &str,
        now: i64,
    ) -> StoreResult<Option<DeviceCode>> {
        let row = sqlx::query(&Self::sql(sql::CONSUME_DEVICE_CODE))
            .bind(now)
            .bind(device_code_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(rows::device).transpose().map_err(map_err)
    }

    async fn sweep(&self, now: i64, codes_expired_before: i64) -> StoreResult<SweepCounts> {
        let run = |sweep: sql::Sweep, at: i64| {
            let pool = self.pool.clone();
            async move {
                let statement = to_postgres(&format!(
                    "DELETE FROM {} WHERE {}",
                    sweep.table, sweep.condition
                ));
                sqlx::query(&statement)
                    .bind(at)
                    .execute(&pool)
                    .await
                    .map(|r| r.rows_affected())
                    .map_err(map_err)
            }
        };
        Ok(SweepCounts {
            codes: run(sql::SWEEP_CODES, codes_expired_before).await?,
            access_tokens: run(sql::SWEEP_ACCESS_TOKENS, now).await?,
            refresh_tokens: run(sql::SWEEP_REFRESH_TOKENS, now).await?,
            sessions: run(sql::SWEEP_SESSIONS, now).await?,
            jtis: run(sql::SWEEP_JTIS, now).await?,
            device_codes: run(sql::SWEEP_DEVICE_CODES, now).await?,
        })
    }

    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
        let rows = sqlx::query(&Self::sql(sql::LIST_KEYS))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(StoredKey {
                    kid: r.try_get("kid")?,
                    alg: r.try_get("alg")?,
                    private_pkcs8: r.try_get("private_pkcs8")?,
                    created_at: r.try_get("created_at")?,
                    activates_at: r.try_get("activates_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(map_err)
    }

    async fn checkpoint(&self) -> StoreResult<()> {
        self.checkpoint_log().await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn insert_key(&self, k: &StoredKey) -> StoreResult<()> {
        sqlx::query(&Self::sql(sql::INSERT_KEY))
            .bind(&k.kid)
            .bind(&k.alg)
            .bind(&k.private_pkcs8)
            .bind(k.created_at)
            .bind(k.activates_at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn setting_or_init(&self, name: &str, init: &str) -> StoreResult<String> {
        let row = sqlx::query(&Self::sql(sql::SETTING_OR_INIT))
            .bind(name)
            .bind(init)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row.try_get("value").map_err(map_err)
    }
}

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
