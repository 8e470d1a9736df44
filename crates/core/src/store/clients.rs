//! Registered clients, and the client assertion `jti`s they have used.

use async_trait::async_trait;

use super::StoreResult;
use crate::model::{Client, Resource};

/// Clients (RFC 6749 §2) and their `private_key_jwt` assertions' `jti`s
/// (RFC 7523 §3).
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Creates a client. `Conflict` if the id is taken; nothing is written then.
    async fn create_client(&self, client: &Client) -> StoreResult<()>;
    /// The client with this id.
    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>>;
    /// All clients, ordered by id.
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// Deletes a client and revokes every grant it holds at `now`, in one
    /// transaction: no token issued to it is accepted afterwards. False if
    /// there was no such client. It reads every grant (no index serves it:
    /// every authorization would pay for one), so on SQLite other writes
    /// wait for it.
    async fn delete_client(&self, id: &str, now: i64) -> StoreResult<bool>;
    /// Replaces a client's secret hash; false if there is no such
    /// confidential client. With `keep_previous_until`, the old secret
    /// stays accepted until then (a rotation without downtime); without,
    /// it is forgotten at once.
    async fn set_client_secret(
        &self,
        id: &str,
        secret_hash: &str,
        keep_previous_until: Option<i64>,
    ) -> StoreResult<bool>;
    /// Replaces the registration of a client registered as
    /// `client.registration` says (RFC 7592 §2.2, or a refetched metadata
    /// document), keeping its id, kind, secrets and creation time; false if
    /// there is no such client.
    async fn update_client(&self, client: &Client) -> StoreResult<bool>;
    /// An operator's change of a client an operator registered (`proofkey
    /// client update`): replaces every field but its id, kind, secrets,
    /// creation time and registration, in one statement, only while the
    /// client is `registered_by = 'admin'`; false otherwise (no such
    /// client, or one that registered itself or by its metadata document).
    async fn replace_client(&self, client: &Client) -> StoreResult<bool>;
    /// Creates an initial access token (RFC 7591 §3), kept by hash, good
    /// for `uses` registrations until `expires_at`.
    async fn create_initial_access_token(
        &self,
        token_hash: &str,
        uses: i64,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<()>;
    /// Spends one use of an initial access token, in one atomic statement:
    /// false if it is unknown, expired or used up. Of concurrent calls, at
    /// most as many as it had uses left get true.
    async fn use_initial_access_token(&self, token_hash: &str, now: i64) -> StoreResult<bool>;
    /// Records a client assertion's `jti` until `expires_at`. False if it was
    /// recorded before (a replay), in one atomic statement: of concurrent
    /// calls with the same `jti`, exactly one gets true.
    async fn record_jti(&self, client_id: &str, jti: &str, expires_at: i64) -> StoreResult<bool>;
}

/// Protected resources (RFC 8707 §2): the audiences tokens may be issued for.
#[async_trait]
pub trait ResourceStore: Send + Sync {
    /// Registers a resource. `Conflict` if its URI is registered already.
    async fn create_resource(&self, resource: &Resource) -> StoreResult<()>;
    /// The resource with this URI (compared exactly).
    async fn get_resource(&self, uri: &str) -> StoreResult<Option<Resource>>;
    /// All resources, ordered by URI.
    async fn list_resources(&self) -> StoreResult<Vec<Resource>>;
    /// Deletes a resource: no new token is issued for it. Tokens issued
    /// for it already stay valid until they expire or their grant is
    /// revoked. False if there was none.
    async fn delete_resource(&self, uri: &str) -> StoreResult<bool>;
}
