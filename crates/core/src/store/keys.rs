//! Signing keys and installation settings.

use async_trait::async_trait;

use super::StoreResult;
use crate::model::StoredKey;

/// Signing keys (shared by every node) and installation settings.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// All signing keys, oldest first (by creation, then `kid`).
    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>>;
    /// Adds a signing key. `Conflict` if the `kid` exists.
    async fn insert_key(&self, key: &StoredKey) -> StoreResult<()>;
    /// Replaces a key's stored private part (sealing or re-sealing it
    /// under a key-encryption key); false if there is no such key.
    async fn update_key_private(&self, kid: &str, private: &[u8]) -> StoreResult<bool>;
    /// Deletes a signing key (`proofkey keys retire`): it is neither
    /// published nor used by any node once they reload their keys; false if
    /// there is no such key. Which key may go is the caller's decision
    /// ([`crate::keys::check_retirement`]).
    async fn delete_key(&self, kid: &str) -> StoreResult<bool>;
    /// The value of an installation setting, setting it to `init` first if
    /// absent (atomically: concurrent callers all see the same value).
    async fn setting_or_init(&self, name: &str, init: &str) -> StoreResult<String>;
}
