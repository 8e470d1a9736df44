//! [`DeviceStore`] on any backend.

use async_trait::async_trait;
use proofkey_core::model::{DeviceCode, DeviceDecision, DevicePoll, Issued, NewTokens};
use proofkey_core::store::{DeviceStore, StoreResult};
use proofkey_core::StoreError;

use super::grants::{store, Prepared};
use crate::rows;
use crate::statements as sql;
use crate::tx::args;
use crate::Database;

#[async_trait]
impl DeviceStore for Database {
    async fn insert_device_code(&self, d: &DeviceCode) -> StoreResult<()> {
        let args = rows::device_args(d);
        self.single(move |tx| {
            Box::pin(async move {
                tx.exec(&sql::INSERT_DEVICE_CODE, args).await?;
                Ok(())
            })
        })
        .await
    }

    async fn pending_device_code(
        &self,
        user_code_hash: &str,
        now: i64,
    ) -> StoreResult<Option<DeviceCode>> {
        let user_code_hash = user_code_hash.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                let row = tx
                    .one(&sql::PENDING_DEVICE_CODE, args![user_code_hash, now])
                    .await?;
                row.map(rows::device).transpose()
            })
        })
        .await
    }

    async fn decide_device_code(
        &self,
        user_code_hash: &str,
        now: i64,
        decision: &DeviceDecision,
    ) -> StoreResult<bool> {
        let (user_code_hash, decision) = (user_code_hash.to_owned(), decision.clone());
        let decided = self
            .atomic(move |tx| {
                Box::pin(async move {
                    let (status, user_id, auth_time) = match &decision {
                        DeviceDecision::Approve {
                            grant_id,
                            user_id,
                            auth_time,
                            expires_at,
                        } => {
                            // The grant first, while the code is pending, its
                            // client exists and the user has a session.
                            let created = tx
                                .exec(
                                    &sql::INSERT_DEVICE_GRANT,
                                    args![
                                        grant_id,
                                        user_id,
                                        *auth_time,
                                        *expires_at,
                                        now,
                                        &user_code_hash
                                    ],
                                )
                                .await?;
                            if created == 0 {
                                return Ok(false);
                            }
                            ("approved", Some(user_id.clone()), Some(*auth_time))
                        }
                        DeviceDecision::Deny => ("denied", None, None),
                    };
                    let decided = tx
                        .exec(
                            &sql::DECIDE_DEVICE_CODE,
                            args![status, user_id, auth_time, &user_code_hash, now],
                        )
                        .await?;
                    if decided == 0 {
                        // Decided meanwhile (PostgreSQL): undo the grant.
                        return Err(StoreError::Conflict("device code decided".into()));
                    }
                    if let DeviceDecision::Approve { grant_id, .. } = decision {
                        tx.exec(&sql::SET_DEVICE_GRANT, args![grant_id, user_code_hash])
                            .await?;
                    }
                    Ok(true)
                })
            })
            .await;
        match decided {
            Err(StoreError::Conflict(_)) => Ok(false),
            other => other,
        }
    }

    async fn poll_device_code(&self, device_code_hash: &str, now: i64) -> StoreResult<DevicePoll> {
        let device_code_hash = device_code_hash.to_owned();
        self.single(move |tx| {
            Box::pin(async move {
                // Every expression in SET reads the row as it was before the
                // update, so `slow` records whether this poll beat the
                // interval then in force.
                let Some(mut row) = tx
                    .one(&sql::POLL_DEVICE_CODE, args![now, device_code_hash])
                    .await?
                else {
                    return Ok(DevicePoll::NotFound);
                };
                let slow_down = row.take("slow")?;
                Ok(DevicePoll::Polled {
                    record: Box::new(rows::device(row)?),
                    slow_down,
                })
            })
        })
        .await
    }

    async fn redeem_device_code_and_issue(
        &self,
        device_code_hash: &str,
        now: i64,
        tokens: &NewTokens,
    ) -> StoreResult<Issued> {
        let (hash, tokens) = (device_code_hash.to_owned(), Prepared::new(tokens)?);
        self.atomic(move |tx| {
            Box::pin(async move {
                let Some(mut row) = tx.one(&sql::CONSUME_DEVICE_CODE, args![now, &hash]).await?
                else {
                    if let Some(mut r) = tx.one(&sql::DEVICE_CODE_CONSUMED, args![&hash]).await? {
                        return Ok(Issued::Replayed {
                            grant_id: r.take::<Option<String>>("grant_id")?.unwrap_or_default(),
                        });
                    }
                    let revoked = tx.one(&sql::DEVICE_GRANT_REVOKED, args![hash]).await?;
                    return Ok(if revoked.is_some() {
                        Issued::GrantRevoked
                    } else {
                        Issued::NotFound
                    });
                };
                store(tx, &mut row, tokens).await?;
                Ok(Issued::Stored)
            })
        })
        .await
    }
}
