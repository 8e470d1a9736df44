//! The storage contract. Backends live in `proofkey-store`.
//!
//! Every method states its invariant; every backend must pass the same
//! contract tests.

use async_trait::async_trait;

use crate::model::{
    AccessTokenRecord, AuthorizationCode, Client, CodeConsumption, DeviceCode, DevicePoll,
    RefreshTokenRecord, RefreshUse, Session, SessionInfo, StoredKey, SweepCounts, User,
};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with that key exists already.
    #[error("{0} already exists")]
    Conflict(String),
    /// The database cannot be reached; callers answer 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else the backend reports.
    #[error("database error: {0}")]
    Backend(String),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the provider persists.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Creates a client. `Conflict` if the id is taken; nothing is written then.
    async fn create_client(&self, client: &Client) -> StoreResult<()>;
    /// The client with this id.
    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>>;
    /// All clients, ordered by id.
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// Deletes a client; false if there was none.
    async fn delete_client(&self, id: &str) -> StoreResult<bool>;
    /// Replaces a client's secret hash; false if there is no such client.
    async fn set_client_secret(&self, id: &str, secret_hash: &str) -> StoreResult<bool>;

    /// Creates a user. `Conflict` if the username is taken.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    /// The user with this username.
    async fn get_user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    /// The user with this id (`sub`).
    async fn get_user(&self, id: &str) -> StoreResult<Option<User>>;
    /// All users, ordered by username.
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Deletes a user with their sessions and consents; false if none.
    async fn delete_user(&self, username: &str) -> StoreResult<bool>;
    /// Replaces a password hash; false if there is no such user.
    async fn set_password(&self, username: &str, password_hash: &str) -> StoreResult<bool>;

    /// Stores a session under the hash of its cookie value.
    async fn create_session(&self, id_hash: &str, session: &Session) -> StoreResult<()>;
    /// The session, if it exists and `now < expires_at`.
    async fn get_session(&self, id_hash: &str, now: i64) -> StoreResult<Option<Session>>;

    /// Records that the user granted these scopes to the client, adding to
    /// what was granted before.
    async fn grant_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
    ) -> StoreResult<()>;
    /// Scopes the user has granted to the client.
    async fn get_consent(&self, user_id: &str, client_id: &str) -> StoreResult<Vec<String>>;

    /// Stores a new code (by hash).
    async fn insert_code(&self, code: &AuthorizationCode) -> StoreResult<()>;
    /// Marks the code used and returns it, in one atomic statement: of any
    /// number of concurrent calls with the same hash, across connections and
    /// nodes, exactly one gets `Consumed`; every later call gets
    /// `AlreadyUsed` until the code is swept.
    async fn consume_code(&self, code_hash: &str, now: i64) -> StoreResult<CodeConsumption>;

    /// Records an issued access token.
    async fn insert_access_token(&self, token: &AccessTokenRecord) -> StoreResult<()>;
    /// Whether the token with this `jti` was issued, is unrevoked and `now < expires_at`.
    async fn access_token_active(&self, jti: &str, now: i64) -> StoreResult<bool>;
    /// The record of an access token, if it is unrevoked and unexpired.
    async fn get_access_token(&self, jti: &str, now: i64)
        -> StoreResult<Option<AccessTokenRecord>>;
    /// Revokes one access token of `client_id`; false if there was none.
    async fn revoke_access_token(&self, jti: &str, client_id: &str, now: i64) -> StoreResult<bool>;
    /// Revokes every access and refresh token of a grant at `now`, in one
    /// transaction; returns how many were revoked.
    async fn revoke_grant(&self, grant_id: &str, now: i64) -> StoreResult<u64>;

    /// Stores a new refresh token (by hash).
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()>;
    /// Presents a refresh token at `now`. With `rotate`, marks it rotated
    /// in one atomic statement: of any number of concurrent calls exactly one
    /// gets `Taken`, and every later call `Reused`. Without `rotate`, returns
    /// it and moves its idle expiry to `new_idle_expiry`. A revoked token,
    /// or one past its absolute or idle expiry, is `Invalid`.
    async fn use_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
        rotate: bool,
        new_idle_expiry: i64,
    ) -> StoreResult<RefreshUse>;
    /// The live (unrevoked, unrotated, unexpired) refresh token with this hash.
    async fn get_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<RefreshTokenRecord>>;

    /// Records a client assertion's `jti` until `expires_at`. False if it was
    /// recorded before (a replay), in one atomic statement.
    async fn record_jti(&self, client_id: &str, jti: &str, expires_at: i64) -> StoreResult<bool>;

    /// The user's live sessions.
    async fn list_sessions(&self, user_id: &str, now: i64) -> StoreResult<Vec<SessionInfo>>;
    /// Ends one session.
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;
    /// Ends every session and revokes every token of a user; returns
    /// (sessions ended, tokens revoked).
    async fn revoke_user(&self, user_id: &str, now: i64) -> StoreResult<(u64, u64)>;

    /// Stores a new device authorization.
    async fn insert_device_code(&self, code: &DeviceCode) -> StoreResult<()>;
    /// The pending, unexpired device authorization with this user code.
    async fn pending_device_code(
        &self,
        user_code_hash: &str,
        now: i64,
    ) -> StoreResult<Option<DeviceCode>>;
    /// Records the user's decision on a pending, unexpired authorization;
    /// false if it is no longer pending.
    async fn decide_device_code(
        &self,
        user_code_hash: &str,
        now: i64,
        user_id: &str,
        auth_time: i64,
        approve: bool,
    ) -> StoreResult<bool>;
    /// Records a poll at `now` in one statement, growing the interval by 5 s
    /// when it came too soon (RFC 8628 §3.5 `slow_down`).
    async fn poll_device_code(&self, device_code_hash: &str, now: i64) -> StoreResult<DevicePoll>;
    /// Consumes an approved device code atomically: of concurrent calls
    /// exactly one gets it.
    async fn consume_device_code(
        &self,
        device_code_hash: &str,
        now: i64,
    ) -> StoreResult<Option<DeviceCode>>;

    /// Deletes what has expired: codes that expired before
    /// `codes_expired_before` (the provider passes `now` less
    /// `code_retention`, so that a late replay of a used code still
    /// revokes what was issued from it), access token records after expiry,
    /// refresh tokens whose family or idle time is over or that were
    /// revoked a day ago, sessions, used `jti`s, device codes.
    async fn sweep(&self, now: i64, codes_expired_before: i64) -> StoreResult<SweepCounts>;

    /// Upkeep of the database file between requests, run every half second by
    /// each node. SQLite: a `PASSIVE` then a `RESTART` checkpoint, which
    /// copy the write-ahead log into the database and let the next write
    /// start the log over. Without it, under steady load some reader always
    /// holds an old snapshot, passive checkpoints never reset the log, and
    /// it grows without bound (a million flows left 1.6 to 40 GB).
    /// PostgreSQL manages its own log: nothing to do.
    async fn checkpoint(&self) -> StoreResult<()>;

    /// Whether the database answers (`SELECT 1`), for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;

    /// All signing keys, oldest first.
    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>>;
    /// Adds a signing key.
    async fn insert_key(&self, key: &StoredKey) -> StoreResult<()>;

    /// The value of an installation setting, setting it to `init` first if
    /// absent (atomically: concurrent callers all see the same value).
    async fn setting_or_init(&self, name: &str, init: &str) -> StoreResult<String>;
}
