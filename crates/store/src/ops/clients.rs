//! [`ClientStore`] on any backend.

use async_trait::async_trait;
use proofkey_core::model::{Client, Resource};
use proofkey_core::store::{ClientStore, ResourceStore, StoreResult};

use super::conflict;
use crate::rows;
use crate::statements as sql;
use crate::tx::args;
use crate::Database;

#[async_trait]
impl ClientStore for Database {
    async fn create_client(&self, c: &Client) -> StoreResult<()> {
        let (id, args) = (c.id.clone(), rows::client_args(c));
        self.single(move |tx| {
            Box::pin(async move {
                tx.exec(&sql::INSERT_CLIENT, args)
                    .await
                    .map_err(conflict(format!("client {id:?}")))?;
                Ok(())
            })
        })
        .await
    }

    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let id = id.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                let row = tx.one(&sql::GET_CLIENT, args![id]).await?;
                row.map(rows::client).transpose()
            })
        })
        .await
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        self.single(|tx| {
            Box::pin(async move {
                let all = tx.all(&sql::LIST_CLIENTS, args![]).await?;
                all.into_iter().map(rows::client).collect()
            })
        })
        .await
    }

    async fn delete_client(&self, id: &str, now: i64) -> StoreResult<bool> {
        let id = id.to_owned();
        self.atomic(move |tx| {
            Box::pin(async move {
                // The client first: a grant being created for it meanwhile
                // holds its row (INSERT_GRANT), so it is revoked below, or
                // finds the client gone and is not created.
                let deleted = tx.exec(&sql::DELETE_CLIENT, args![&id]).await? > 0;
                tx.exec(&sql::REVOKE_CLIENT_GRANTS, args![now, &id]).await?;
                Ok(deleted)
            })
        })
        .await
    }

    async fn set_client_secret(
        &self,
        id: &str,
        secret_hash: &str,
        keep_previous_until: Option<i64>,
    ) -> StoreResult<bool> {
        let (id, hash) = (id.to_owned(), secret_hash.to_owned());
        self.single(move |tx| {
            Box::pin(async move {
                let args = args![id, hash, keep_previous_until];
                Ok(tx.exec(&sql::SET_CLIENT_SECRET, args).await? > 0)
            })
        })
        .await
    }

    async fn update_client(&self, c: &Client) -> StoreResult<bool> {
        let args = rows::client_update_args(c);
        self.single(move |tx| {
            Box::pin(async move { Ok(tx.exec(&sql::UPDATE_CLIENT, args).await? > 0) })
        })
        .await
    }

    async fn replace_client(&self, c: &Client) -> StoreResult<bool> {
        let args = rows::client_replace_args(c);
        self.single(move |tx| {
            Box::pin(async move { Ok(tx.exec(&sql::REPLACE_CLIENT, args).await? > 0) })
        })
        .await
    }

    async fn create_initial_access_token(
        &self,
        token_hash: &str,
        uses: i64,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<()> {
        let hash = token_hash.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                tx.exec(
                    &sql::INSERT_INITIAL_TOKEN,
                    args![hash, uses, expires_at, now],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn use_initial_access_token(&self, token_hash: &str, now: i64) -> StoreResult<bool> {
        let hash = token_hash.to_owned();
        self.single(move |tx| {
            Box::pin(
                async move { Ok(tx.exec(&sql::USE_INITIAL_TOKEN, args![hash, now]).await? > 0) },
            )
        })
        .await
    }

    async fn record_jti(&self, client_id: &str, jti: &str, expires_at: i64) -> StoreResult<bool> {
        let (client_id, jti) = (client_id.to_owned(), jti.to_owned());
        self.single(move |tx| {
            Box::pin(async move {
                let n = tx
                    .exec(&sql::RECORD_JTI, args![client_id, jti, expires_at])
                    .await?;
                Ok(n == 1)
            })
        })
        .await
    }
}

#[async_trait]
impl ResourceStore for Database {
    async fn create_resource(&self, r: &Resource) -> StoreResult<()> {
        let (uri, args) = (r.uri.clone(), rows::resource_args(r));
        self.single(move |tx| {
            Box::pin(async move {
                tx.exec(&sql::INSERT_RESOURCE, args)
                    .await
                    .map_err(conflict(format!("resource {uri:?}")))?;
                Ok(())
            })
        })
        .await
    }

    async fn get_resource(&self, uri: &str) -> StoreResult<Option<Resource>> {
        let uri = uri.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                let row = tx.one(&sql::GET_RESOURCE, args![uri]).await?;
                row.map(rows::resource).transpose()
            })
        })
        .await
    }

    async fn list_resources(&self) -> StoreResult<Vec<Resource>> {
        self.single(|tx| {
            Box::pin(async move {
                let all = tx.all(&sql::LIST_RESOURCES, args![]).await?;
                all.into_iter().map(rows::resource).collect()
            })
        })
        .await
    }

    async fn delete_resource(&self, uri: &str) -> StoreResult<bool> {
        let uri = uri.to_owned();
        self.single(move |tx| {
            Box::pin(async move { Ok(tx.exec(&sql::DELETE_RESOURCE, args![uri]).await? > 0) })
        })
        .await
    }
}
