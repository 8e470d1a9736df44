//! [`UserStore`] on any backend.

use async_trait::async_trait;
use proofkey_core::model::{Session, SessionInfo, User};
use proofkey_core::store::{StoreResult, UserStore};
use proofkey_core::StoreError;

use super::conflict;
use crate::rows;
use crate::statements as sql;
use crate::tx::{args, Tx};
use crate::Database;

#[async_trait]
impl UserStore for Database {
    async fn create_user(&self, u: &User) -> StoreResult<()> {
        let (name, args) = (u.username.clone(), rows::user_args(u));
        self.single(move |tx| {
            Box::pin(async move {
                tx.exec(&sql::INSERT_USER, args)
                    .await
                    .map_err(conflict(format!("user {name:?}")))?;
                Ok(())
            })
        })
        .await
    }

    async fn get_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let username = username.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                let row = tx.one(&sql::GET_USER_BY_USERNAME, args![username]).await?;
                row.map(rows::user).transpose()
            })
        })
        .await
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        let id = id.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                let row = tx.one(&sql::GET_USER, args![id]).await?;
                row.map(rows::user).transpose()
            })
        })
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.single(|tx| {
            Box::pin(async move {
                let all = tx.all(&sql::LIST_USERS, args![]).await?;
                all.into_iter().map(rows::user).collect()
            })
        })
        .await
    }

    async fn delete_user(&self, username: &str, now: i64) -> StoreResult<bool> {
        let username = username.to_owned();
        self.atomic(move |tx| {
            Box::pin(async move {
                let Some(mut row) = tx.one(&sql::GET_USER_BY_USERNAME, args![username]).await?
                else {
                    return Ok(false);
                };
                let id: String = row.get("id")?;
                // Sessions first, as revoke_user does: a grant being created
                // for the user meanwhile holds one of them (INSERT_GRANT).
                tx.exec(&sql::DELETE_USER_SESSIONS, args![&id]).await?;
                tx.exec(&sql::REVOKE_USER_GRANTS, args![now, &id]).await?;
                // Consents go with the user (ON DELETE CASCADE).
                Ok(tx.exec(&sql::DELETE_USER, args![id]).await? > 0)
            })
        })
        .await
    }

    async fn set_password(&self, username: &str, password_hash: &str) -> StoreResult<bool> {
        let (username, hash) = (username.to_owned(), password_hash.to_owned());
        self.single(move |tx| {
            Box::pin(
                async move { Ok(tx.exec(&sql::SET_PASSWORD, args![hash, username]).await? > 0) },
            )
        })
        .await
    }

    async fn update_user(
        &self,
        username: &str,
        email: Option<&str>,
        name: Option<&str>,
    ) -> StoreResult<bool> {
        let args = args![username, email, name];
        self.single(move |tx| {
            Box::pin(async move { Ok(tx.exec(&sql::UPDATE_USER, args).await? > 0) })
        })
        .await
    }

    async fn disable_user(&self, username: &str, now: i64) -> StoreResult<Option<(u64, u64)>> {
        let username = username.to_owned();
        self.atomic(move |tx| {
            Box::pin(async move {
                let Some(mut row) = tx.one(&sql::GET_USER_BY_USERNAME, args![username]).await?
                else {
                    return Ok(None);
                };
                let id: String = row.get("id")?;
                // The user's row first: a session being stored for them
                // holds it (INSERT_SESSION), so that it is ended below, or
                // finds them disabled and is not stored. Then sessions
                // before grants, as revoke_user does.
                tx.exec(&sql::DISABLE_USER, args![&id, now]).await?;
                let sessions = tx.exec(&sql::DELETE_USER_SESSIONS, args![&id]).await?;
                let grants = tx.exec(&sql::REVOKE_USER_GRANTS, args![now, &id]).await?;
                Ok(Some((sessions, grants)))
            })
        })
        .await
    }

    async fn enable_user(&self, username: &str) -> StoreResult<bool> {
        let username = username.to_owned();
        self.single(move |tx| {
            Box::pin(async move { Ok(tx.exec(&sql::ENABLE_USER, args![username]).await? > 0) })
        })
        .await
    }

    async fn create_session(&self, id_hash: &str, s: &Session) -> StoreResult<bool> {
        let args = args![id_hash, &s.user_id, s.auth_time, s.expires_at];
        self.single(move |tx| {
            Box::pin(async move { Ok(tx.exec(&sql::INSERT_SESSION, args).await? > 0) })
        })
        .await
    }

    async fn get_session(&self, id_hash: &str, now: i64) -> StoreResult<Option<Session>> {
        let id_hash = id_hash.to_owned();
        self.single(move |tx| Box::pin(async move { read_session(tx, &id_hash, now).await }))
            .await
    }

    async fn list_sessions(&self, user_id: &str, now: i64) -> StoreResult<Vec<SessionInfo>> {
        let user_id = user_id.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                let all = tx.all(&sql::LIST_SESSIONS, args![user_id, now]).await?;
                all.into_iter()
                    .map(|mut r| {
                        Ok(SessionInfo {
                            id: r.get("id")?,
                            auth_time: r.get("auth_time")?,
                            expires_at: r.get("expires_at")?,
                        })
                    })
                    .collect()
            })
        })
        .await
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        let id_hash = id_hash.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                tx.exec(&sql::DELETE_SESSION, args![id_hash]).await?;
                Ok(())
            })
        })
        .await
    }

    async fn revoke_user(&self, user_id: &str, now: i64) -> StoreResult<(u64, u64)> {
        let user_id = user_id.to_owned();
        self.atomic(move |tx| {
            Box::pin(async move {
                // Sessions first: a grant being created for the user holds
                // one of them (INSERT_GRANT), so that it is revoked below,
                // or finds none and is not created.
                let sessions = tx.exec(&sql::DELETE_USER_SESSIONS, args![&user_id]).await?;
                let grants = tx
                    .exec(&sql::REVOKE_USER_GRANTS, args![now, &user_id])
                    .await?;
                Ok((sessions, grants))
            })
        })
        .await
    }

    async fn grant_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
    ) -> StoreResult<()> {
        let (user_id, client_id) = (user_id.to_owned(), client_id.to_owned());
        // An empty scope set is remembered too, as the empty string.
        let scopes = if scopes.is_empty() {
            vec![String::new()]
        } else {
            scopes.to_vec()
        };
        self.atomic(move |tx| {
            Box::pin(async move {
                for s in scopes {
                    tx.exec(&sql::INSERT_CONSENT, args![&user_id, &client_id, s])
                        .await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// One job: on SQLite one hand-off to the store's thread instead of
    /// two, per authorization request (docs/performance.md, issue 18).
    async fn get_session_and_consent(
        &self,
        id_hash: &str,
        now: i64,
        client_id: &str,
    ) -> StoreResult<Option<(Session, Vec<String>)>> {
        let (id_hash, client_id) = (id_hash.to_owned(), client_id.to_owned());
        self.single(move |tx| {
            Box::pin(async move {
                let Some(session) = read_session(tx, &id_hash, now).await? else {
                    return Ok(None);
                };
                let consent = read_consent(tx, &session.user_id, &client_id).await?;
                Ok(Some((session, consent)))
            })
        })
        .await
    }

    async fn get_consent(&self, user_id: &str, client_id: &str) -> StoreResult<Vec<String>> {
        let (user_id, client_id) = (user_id.to_owned(), client_id.to_owned());
        self.single(move |tx| Box::pin(async move { read_consent(tx, &user_id, &client_id).await }))
            .await
    }

    async fn record_failure(&self, key: &str, now: i64, window: i64) -> StoreResult<u32> {
        let key = key.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                let mut row = tx
                    .one(&sql::RECORD_FAILURE, args![key, now, window])
                    .await?
                    .ok_or_else(|| StoreError::Backend("no count returned".into()))?;
                let count: i64 = row.take("count")?;
                Ok(u32::try_from(count).unwrap_or(u32::MAX))
            })
        })
        .await
    }

    async fn block_failures(&self, key: &str, until: i64) -> StoreResult<()> {
        let key = key.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                tx.exec(&sql::BLOCK_FAILURES, args![key, until]).await?;
                Ok(())
            })
        })
        .await
    }

    async fn blocked_until(&self, key: &str, now: i64) -> StoreResult<Option<i64>> {
        let key = key.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                match tx.one(&sql::BLOCKED_UNTIL, args![key, now]).await? {
                    Some(mut r) => Ok(Some(r.take("blocked_until")?)),
                    None => Ok(None),
                }
            })
        })
        .await
    }

    async fn clear_failures(&self, key: &str) -> StoreResult<bool> {
        let key = key.to_owned();
        self.single(move |tx| {
            Box::pin(async move { Ok(tx.exec(&sql::CLEAR_FAILURES, args![key]).await? > 0) })
        })
        .await
    }
}

/// The live session stored under `id_hash`.
async fn read_session(tx: &mut dyn Tx, id_hash: &str, now: i64) -> StoreResult<Option<Session>> {
    let Some(mut r) = tx.one(&sql::GET_SESSION, args![id_hash, now]).await? else {
        return Ok(None);
    };
    Ok(Some(Session {
        user_id: r.get("user_id")?,
        auth_time: r.get("auth_time")?,
        expires_at: r.get("expires_at")?,
    }))
}

/// The scopes `user_id` granted to `client_id`.
async fn read_consent(tx: &mut dyn Tx, user_id: &str, client_id: &str) -> StoreResult<Vec<String>> {
    let all = tx.all(&sql::GET_CONSENT, args![user_id, client_id]).await?;
    all.into_iter().map(|mut r| r.take("scope")).collect()
}
