//! [`KeyStore`] on any backend.

use async_trait::async_trait;
use proofkey_core::model::StoredKey;
use proofkey_core::store::{KeyStore, StoreResult};
use proofkey_core::StoreError;

use super::conflict;
use crate::rows;
use crate::statements as sql;
use crate::tx::args;
use crate::Database;

#[async_trait]
impl KeyStore for Database {
    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
        self.single(|tx| {
            Box::pin(async move {
                let all = tx.all(&sql::LIST_KEYS, args![]).await?;
                all.into_iter().map(rows::key).collect()
            })
        })
        .await
    }

    async fn insert_key(&self, k: &StoredKey) -> StoreResult<()> {
        let (kid, args) = (k.kid.clone(), rows::key_args(k));
        self.single(move |tx| {
            Box::pin(async move {
                tx.exec(&sql::INSERT_KEY, args)
                    .await
                    .map_err(conflict(format!("key {kid:?}")))?;
                Ok(())
            })
        })
        .await
    }

    async fn update_key_private(&self, kid: &str, private: &[u8]) -> StoreResult<bool> {
        let (kid, private) = (kid.to_owned(), private.to_vec());
        self.single(move |tx| {
            Box::pin(async move {
                Ok(tx
                    .exec(&sql::UPDATE_KEY_PRIVATE, args![kid, private.as_slice()])
                    .await?
                    > 0)
            })
        })
        .await
    }

    async fn delete_key(&self, kid: &str) -> StoreResult<bool> {
        let kid = kid.to_owned();
        self.single(move |tx| {
            Box::pin(async move { Ok(tx.exec(&sql::DELETE_KEY, args![kid]).await? > 0) })
        })
        .await
    }

    async fn setting_or_init(&self, name: &str, init: &str) -> StoreResult<String> {
        let (name, init) = (name.to_owned(), init.to_owned());
        self.single(move |tx| {
            Box::pin(async move {
                let row = tx.one(&sql::SETTING_OR_INIT, args![&name, init]).await?;
                row.ok_or_else(|| StoreError::Backend(format!("setting {name:?} was not stored")))?
                    .take("value")
            })
        })
        .await
    }
}
