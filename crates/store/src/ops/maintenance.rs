//! [`Maintenance`] on any backend.

use async_trait::async_trait;
use proofkey_core::model::{Readiness, SweepCounts};
use proofkey_core::store::{Maintenance, StoreResult};

use crate::statements::{self as sql, Stmt, SWEEP_CHUNK};
use crate::tx::args;
use crate::Database;

impl Database {
    /// Runs one sweep statement until it deletes less than a chunk, one
    /// operation per chunk, so that requests run in between.
    async fn sweep_all(&self, st: &'static Stmt, cut_off: i64) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let n = self
                .single(move |tx| Box::pin(async move { tx.exec(st, args![cut_off]).await }))
                .await?;
            total += n;
            if n < SWEEP_CHUNK {
                return Ok(total);
            }
        }
    }
}

#[async_trait]
impl Maintenance for Database {
    async fn sweep(&self, now: i64, codes_expired_before: i64) -> StoreResult<SweepCounts> {
        // Grants last: by then little is left of them to cascade.
        Ok(SweepCounts {
            codes: self
                .sweep_all(&sql::SWEEP_CODES, codes_expired_before)
                .await?,
            access_tokens: self.sweep_all(&sql::SWEEP_ACCESS_TOKENS, now).await?,
            refresh_tokens: self.sweep_all(&sql::SWEEP_REFRESH_TOKENS, now).await?,
            sessions: self.sweep_all(&sql::SWEEP_SESSIONS, now).await?,
            jtis: self.sweep_all(&sql::SWEEP_JTIS, now).await?,
            device_codes: self.sweep_all(&sql::SWEEP_DEVICE_CODES, now).await?,
            grants: self.sweep_all(&sql::SWEEP_GRANTS, now).await?,
            failure_counters: self.sweep_all(&sql::SWEEP_FAILURES, now).await?,
            initial_access_tokens: self.sweep_all(&sql::SWEEP_INITIAL_TOKENS, now).await?,
            pushed_requests: self.sweep_all(&sql::SWEEP_PUSHED_REQUESTS, now).await?,
        })
    }

    fn readiness(&self) -> Readiness {
        self.health.readiness()
    }

    async fn ping(&self) -> StoreResult<()> {
        self.single(|tx| {
            Box::pin(async move {
                tx.one(&sql::PING, args![]).await?;
                Ok(())
            })
        })
        .await
    }
}
