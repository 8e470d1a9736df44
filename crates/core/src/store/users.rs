//! Users, their browser sessions and their consents.

use async_trait::async_trait;

use super::StoreResult;
use crate::model::{Session, SessionInfo, User};

/// Resource owners, their login sessions and what they consented to.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user. `Conflict` if the username is taken.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    /// The user with this username.
    async fn get_user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    /// The user with this id (`sub`).
    async fn get_user(&self, id: &str) -> StoreResult<Option<User>>;
    /// All users, ordered by username.
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Deletes a user with their sessions and consents, and revokes every
    /// grant they gave at `now`, in one transaction; false if there was no
    /// such user. A live session therefore always has a user (the
    /// authorization endpoint relies on it).
    async fn delete_user(&self, username: &str, now: i64) -> StoreResult<bool>;
    /// Replaces a password hash; false if there is no such user.
    async fn set_password(&self, username: &str, password_hash: &str) -> StoreResult<bool>;
    /// Replaces a user's `email` and `name` claims; false if there is no
    /// such user.
    async fn update_user(
        &self,
        username: &str,
        email: Option<&str>,
        name: Option<&str>,
    ) -> StoreResult<bool>;
    /// Disables a user at `now` (an earlier `disabled_at` is kept), ends
    /// every session of theirs and revokes every grant they gave, in one
    /// transaction; `None` if there is no such user, else (sessions ended,
    /// grants revoked). Afterwards no session is stored for them
    /// ([`UserStore::create_session`]) until [`UserStore::enable_user`],
    /// so no grant can be made for them either (a grant needs a live
    /// session of its user).
    async fn disable_user(&self, username: &str, now: i64) -> StoreResult<Option<(u64, u64)>>;
    /// Lets a disabled user sign in again; false if there is no such user.
    /// What disabling ended stays ended.
    async fn enable_user(&self, username: &str) -> StoreResult<bool>;

    /// Stores a session under the hash of its cookie value, only while its
    /// user exists and is not disabled, in one statement that on
    /// PostgreSQL holds the user's row (`FOR SHARE`): a concurrent
    /// [`UserStore::disable_user`] either comes first, and nothing is
    /// stored (false), or waits for this one and ends it.
    async fn create_session(&self, id_hash: &str, session: &Session) -> StoreResult<bool>;
    /// The session, if it exists and `now < expires_at`.
    async fn get_session(&self, id_hash: &str, now: i64) -> StoreResult<Option<Session>>;
    /// The user's live sessions.
    async fn list_sessions(&self, user_id: &str, now: i64) -> StoreResult<Vec<SessionInfo>>;
    /// Ends one session.
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;
    /// Ends every session of a user and revokes every grant they gave, in
    /// one transaction; returns (sessions ended, grants revoked).
    async fn revoke_user(&self, user_id: &str, now: i64) -> StoreResult<(u64, u64)>;

    /// Records that the user granted these scopes to the client, adding to
    /// what was granted before, in one transaction.
    async fn grant_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
    ) -> StoreResult<()>;
    /// Scopes the user has granted to the client.
    async fn get_consent(&self, user_id: &str, client_id: &str) -> StoreResult<Vec<String>>;
    /// [`UserStore::get_session`] and, if the session is live,
    /// [`UserStore::get_consent`] of its user to `client_id`: the two reads
    /// of every authorization request, in one call to the store.
    async fn get_session_and_consent(
        &self,
        id_hash: &str,
        now: i64,
        client_id: &str,
    ) -> StoreResult<Option<(Session, Vec<String>)>> {
        let Some(session) = self.get_session(id_hash, now).await? else {
            return Ok(None);
        };
        let consent = self.get_consent(&session.user_id, client_id).await?;
        Ok(Some((session, consent)))
    }

    /// Counts a failed attempt under `key` (an account, an address), in
    /// one statement, so that concurrent failures on every node all count:
    /// a failure at least `window` seconds after the count began starts a
    /// new count. Returns the count (RFC 6749 §10.10).
    async fn record_failure(&self, key: &str, now: i64, window: i64) -> StoreResult<u32>;
    /// Blocks attempts under `key` until `until` (never shortening a block
    /// already there).
    async fn block_failures(&self, key: &str, until: i64) -> StoreResult<()>;
    /// Until when attempts under `key` are blocked, if they are at `now`.
    async fn blocked_until(&self, key: &str, now: i64) -> StoreResult<Option<i64>>;
    /// Forgets the failures under `key`; false if there were none.
    async fn clear_failures(&self, key: &str) -> StoreResult<bool>;
}
