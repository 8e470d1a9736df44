//! [`GrantStore`] on any backend: the issuance transactions.
//!
//! Every issuance ends in [`hold_and_store`]: the grant's row is updated
//! (`HOLD_GRANT`, which only matches a live grant) before anything is
//! stored. On PostgreSQL that update takes the row's lock until the
//! transaction ends, and a revocation updates the same row first, so the
//! two are ordered: a revocation that comes first makes the issuance store
//! nothing; one that comes second waits for the issuance's commit and its
//! readers (which all join the grant) refuse what the issuance stored. On
//! SQLite one thread runs every transaction, one after another.

use async_trait::async_trait;
use proofkey_core::model::{
    AccessTokenRecord, AuthorizationCode, CodeConsumption, Grant, Issued, NewTokens, PushedRequest,
    RefreshTokenRecord, RefreshTokenState, Rotation, StoredCode,
};
use proofkey_core::store::{GrantStore, StoreResult};
use proofkey_core::StoreError;

use crate::rows;
use crate::statements as sql;
use crate::tx::{args, Arg, Row, Tx};
use crate::Database;

/// The records of a token response as bind lists, made on the caller's
/// side before the operation runs (the records are the caller's; the
/// engine's thread only binds).
pub(super) struct Prepared {
    grant_id: String,
    horizon: i64,
    /// The new refresh token's hash, when there is one.
    refresh_hash: Option<String>,
    access: Vec<Arg>,
    refresh: Option<Vec<Arg>>,
}

impl Prepared {
    pub(super) fn new(t: &NewTokens) -> StoreResult<Self> {
        if t.refresh
            .as_ref()
            .is_some_and(|r| r.grant_id != t.access.grant_id)
        {
            return Err(StoreError::Backend(
                "the refresh token belongs to another grant than its access token".into(),
            ));
        }
        Ok(Self {
            grant_id: t.grant_id().to_owned(),
            horizon: t.horizon(),
            refresh_hash: t.refresh.as_ref().map(|r| r.token_hash.clone()),
            access: rows::access_args(&t.access),
            refresh: t.refresh.as_ref().map(rows::refresh_args),
        })
    }
}

/// Stores `tokens` in the grant that `consumed` holds: the row of the
/// statement that consumed (or rotated) what was presented, which also
/// held the grant's row and returned its `grant_id` and
/// `grant_expires_at` (or of `HOLD_GRANT`). Moves the grant's expiry if
/// the tokens would outlive it.
pub(super) async fn store(
    tx: &mut dyn Tx,
    consumed: &mut Row,
    tokens: Prepared,
) -> StoreResult<()> {
    if consumed.get::<String>("grant_id")? != tokens.grant_id {
        return Err(StoreError::Backend(
            "the tokens belong to another grant than what was presented".into(),
        ));
    }
    if consumed.take::<i64>("grant_expires_at")? < tokens.horizon {
        tx.exec(&sql::EXTEND_GRANT, args![tokens.horizon, &tokens.grant_id])
            .await?;
    }
    tx.exec(&sql::INSERT_ACCESS_TOKEN, tokens.access).await?;
    if let Some(refresh) = tokens.refresh {
        tx.exec(&sql::INSERT_REFRESH_TOKEN, refresh).await?;
    }
    Ok(())
}

/// Why a code could not be redeemed: used before (`Replayed`), its grant
/// revoked, or unknown.
async fn code_not_redeemed(tx: &mut dyn Tx, code_hash: &str) -> StoreResult<Issued> {
    let Some(mut row) = tx.one(&sql::CODE_GRANT, args![code_hash]).await? else {
        return Ok(Issued::NotFound);
    };
    Ok(if row.take::<Option<i64>>("used_at")?.is_some() {
        Issued::Replayed {
            grant_id: row.take("grant_id")?,
        }
    } else {
        Issued::GrantRevoked
    })
}

/// Why a refresh token that is not rotated could not be used: its grant
/// revoked, or itself expired, revoked or unknown.
async fn refresh_not_used(tx: &mut dyn Tx, token_hash: &str) -> StoreResult<Issued> {
    let revoked = tx
        .one(&sql::REFRESH_GRANT_REVOKED, args![token_hash])
        .await?;
    Ok(if revoked.is_some() {
        Issued::GrantRevoked
    } else {
        Issued::NotFound
    })
}

/// The rotated-token branch of a refresh: a lost answer's retry within the
/// reuse interval when `retry_since` allows it and the child is unseen,
/// otherwise a replay.
async fn refresh_not_rotated(
    tx: &mut dyn Tx,
    token_hash: &str,
    now: i64,
    retry_since: Option<i64>,
    tokens: Prepared,
) -> StoreResult<Issued> {
    let Some(mut rotated) = tx
        .one(&sql::ROTATED_REFRESH_TOKEN, args![now, token_hash])
        .await?
    else {
        return refresh_not_used(tx, token_hash).await;
    };
    let grant_id: String = rotated.get("grant_id")?;
    let rotated_at: i64 = rotated.get("rotated_at")?;
    let child: Option<String> = rotated.get("replaced_by")?;
    let new_child = tokens.refresh_hash.clone();
    if let (Some(since), Some(child), Some(new_child)) = (retry_since, child, new_child) {
        if rotated_at >= since {
            if grant_id != tokens.grant_id {
                return Err(StoreError::Backend(
                    "the tokens belong to another grant than what was presented".into(),
                ));
            }
            // The grant first, as every issuance holds it before any token
            // row (PostgreSQL: one lock order, no deadlock).
            let Some(mut held) = tx.one(&sql::HOLD_GRANT, args![&grant_id]).await? else {
                return Ok(Issued::GrantRevoked);
            };
            if let Some(mut unseen) = tx
                .one(&sql::REVOKE_UNSEEN_CHILD, args![now, child.as_str()])
                .await?
            {
                if let Some(jti) = unseen.get::<Option<String>>("access_jti")? {
                    tx.exec(&sql::REVOKE_ACCESS_BY_JTI, args![now, jti]).await?;
                }
                let replaced = tx
                    .exec(&sql::REPLACE_CHILD, args![token_hash, child, new_child])
                    .await?;
                if replaced == 1 {
                    store(tx, &mut held, tokens).await?;
                    return Ok(Issued::Reissued);
                }
            }
        }
    }
    Ok(Issued::Replayed { grant_id })
}

#[async_trait]
impl GrantStore for Database {
    async fn create_grant_with_code(
        &self,
        grant: &Grant,
        code: &AuthorizationCode,
    ) -> StoreResult<bool> {
        let (grant, code) = (rows::grant_args(grant), rows::code_args(code));
        self.atomic(move |tx| {
            Box::pin(async move {
                if tx.exec(&sql::INSERT_GRANT, grant).await? == 0 {
                    return Ok(false);
                }
                tx.exec(&sql::INSERT_CODE, code).await?;
                Ok(true)
            })
        })
        .await
    }

    async fn push_request(&self, request: &PushedRequest) -> StoreResult<()> {
        let args = rows::pushed_request_args(request);
        self.single(move |tx| {
            Box::pin(async move {
                tx.exec(&sql::INSERT_PUSHED_REQUEST, args).await?;
                Ok(())
            })
        })
        .await
    }

    async fn get_pushed_request(
        &self,
        request_uri_hash: &str,
        now: i64,
    ) -> StoreResult<Option<PushedRequest>> {
        let hash = request_uri_hash.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                let row = tx.one(&sql::GET_PUSHED_REQUEST, args![hash, now]).await?;
                row.map(rows::pushed_request).transpose()
            })
        })
        .await
    }

    async fn extend_pushed_request(
        &self,
        request_uri_hash: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<bool> {
        let hash = request_uri_hash.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                Ok(tx
                    .exec(&sql::EXTEND_PUSHED_REQUEST, args![hash, now, until])
                    .await?
                    == 1)
            })
        })
        .await
    }

    async fn consume_pushed_request(&self, request_uri_hash: &str, now: i64) -> StoreResult<bool> {
        let hash = request_uri_hash.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                Ok(tx
                    .exec(&sql::CONSUME_PUSHED_REQUEST, args![hash, now])
                    .await?
                    == 1)
            })
        })
        .await
    }

    async fn find_code(&self, code_hash: &str) -> StoreResult<Option<StoredCode>> {
        let code_hash = code_hash.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                let Some(mut row) = tx.one(&sql::FIND_CODE, args![code_hash]).await? else {
                    return Ok(None);
                };
                let used = row.take::<Option<i64>>("used_at")?.is_some();
                Ok(Some(StoredCode {
                    code: rows::code(row)?,
                    used,
                }))
            })
        })
        .await
    }

    async fn consume_code(&self, code_hash: &str, now: i64) -> StoreResult<CodeConsumption> {
        let code_hash = code_hash.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                if let Some(row) = tx.one(&sql::CONSUME_CODE, args![now, &code_hash]).await? {
                    return Ok(CodeConsumption::Consumed(Box::new(rows::code(row)?)));
                }
                let state = tx.one(&sql::CODE_GRANT, args![&code_hash]).await?;
                Ok(match state {
                    Some(mut r) => CodeConsumption::AlreadyUsed {
                        grant_id: r.take("grant_id")?,
                    },
                    None => CodeConsumption::NotFound,
                })
            })
        })
        .await
    }

    async fn redeem_code_and_issue(
        &self,
        code_hash: &str,
        now: i64,
        tokens: &NewTokens,
    ) -> StoreResult<Issued> {
        let (code_hash, tokens) = (code_hash.to_owned(), Prepared::new(tokens)?);
        self.atomic(move |tx| {
            Box::pin(async move {
                let Some(mut row) = tx.one(&sql::REDEEM_CODE, args![now, &code_hash]).await? else {
                    return code_not_redeemed(tx, &code_hash).await;
                };
                store(tx, &mut row, tokens).await?;
                Ok(Issued::Stored)
            })
        })
        .await
    }

    async fn find_refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshTokenState>> {
        let token_hash = token_hash.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                let row = tx.one(&sql::FIND_REFRESH_TOKEN, args![token_hash]).await?;
                row.map(rows::refresh_state).transpose()
            })
        })
        .await
    }

    async fn rotate_refresh_and_issue(
        &self,
        token_hash: &str,
        now: i64,
        rotation: Rotation,
        tokens: &NewTokens,
    ) -> StoreResult<Issued> {
        let (token_hash, tokens) = (token_hash.to_owned(), Prepared::new(tokens)?);
        self.atomic(move |tx| {
            Box::pin(async move {
                let taken = match rotation {
                    Rotation::Keep { idle_expires_at } => {
                        let kept = tx
                            .one(
                                &sql::KEEP_REFRESH_TOKEN,
                                args![now, &token_hash, idle_expires_at],
                            )
                            .await?;
                        if kept.is_none() {
                            return refresh_not_used(tx, &token_hash).await;
                        }
                        kept
                    }
                    Rotation::Rotate { retry_since } => {
                        let Some(child) = tokens.refresh_hash.clone() else {
                            return Err(StoreError::Backend(
                                "a rotation needs the refresh token that replaces it".into(),
                            ));
                        };
                        let taken = tx
                            .one(&sql::ROTATE_REFRESH_TOKEN, args![now, &token_hash, child])
                            .await?;
                        if taken.is_none() {
                            return refresh_not_rotated(tx, &token_hash, now, retry_since, tokens)
                                .await;
                        }
                        taken
                    }
                };
                let Some(mut row) = taken else {
                    return Ok(Issued::NotFound);
                };
                store(tx, &mut row, tokens).await?;
                Ok(Issued::Stored)
            })
        })
        .await
    }

    async fn issue_client_credentials(
        &self,
        grant: &Grant,
        tokens: &NewTokens,
    ) -> StoreResult<bool> {
        if tokens.grant_id() != grant.id || tokens.refresh.is_some() {
            return Err(StoreError::Backend(
                "client_credentials issues one access token of its own grant".into(),
            ));
        }
        let (grant, access) = (rows::grant_args(grant), rows::access_args(&tokens.access));
        self.atomic(move |tx| {
            Box::pin(async move {
                if tx.exec(&sql::INSERT_GRANT, grant).await? == 0 {
                    return Ok(false);
                }
                tx.exec(&sql::INSERT_ACCESS_TOKEN, access).await?;
                Ok(true)
            })
        })
        .await
    }

    async fn revoke_grant(&self, grant_id: &str, now: i64) -> StoreResult<bool> {
        let grant_id = grant_id.to_owned();
        self.single(move |tx| {
            Box::pin(
                async move { Ok(tx.exec(&sql::REVOKE_GRANT, args![now, grant_id]).await? > 0) },
            )
        })
        .await
    }

    async fn grant_username(&self, grant_id: &str) -> StoreResult<Option<String>> {
        let grant_id = grant_id.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                match tx.one(&sql::GRANT_USERNAME, args![grant_id]).await? {
                    Some(mut r) => Ok(Some(r.take("username")?)),
                    None => Ok(None),
                }
            })
        })
        .await
    }

    async fn access_token_active(&self, jti: &str, now: i64) -> StoreResult<bool> {
        let jti = jti.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                Ok(tx
                    .one(&sql::ACCESS_TOKEN_ACTIVE, args![jti, now])
                    .await?
                    .is_some())
            })
        })
        .await
    }

    async fn get_access_token(
        &self,
        jti: &str,
        now: i64,
    ) -> StoreResult<Option<AccessTokenRecord>> {
        let jti = jti.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                let row = tx.one(&sql::GET_ACCESS_TOKEN, args![jti, now]).await?;
                row.map(rows::access).transpose()
            })
        })
        .await
    }

    async fn revoke_access_token(&self, jti: &str, client_id: &str, now: i64) -> StoreResult<bool> {
        let (jti, client_id) = (jti.to_owned(), client_id.to_owned());
        self.single(move |tx| {
            Box::pin(async move {
                let n = tx
                    .exec(&sql::REVOKE_ACCESS_TOKEN, args![now, jti, client_id])
                    .await?;
                Ok(n > 0)
            })
        })
        .await
    }

    async fn get_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        let token_hash = token_hash.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                let row = tx
                    .one(&sql::GET_REFRESH_TOKEN, args![token_hash, now])
                    .await?;
                row.map(rows::refresh).transpose()
            })
        })
        .await
    }
}
