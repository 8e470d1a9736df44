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
    /// The value of an installation setting, setting it to `init` first if
    /// absent (atomically: concurrent callers all see the same value).
    async fn setting_or_init(&self, name: &str, init: &str) -> StoreResult<String>;
}
