//! Upkeep: expired rows and liveness.

use async_trait::async_trait;

use super::StoreResult;
use crate::model::{Readiness, SweepCounts};

/// Deleting what has expired, and telling whether the database answers.
/// (Upkeep of the database file itself, such as SQLite's checkpoints, is
/// the backend's own business: `proofkey-store` runs it.)
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// Deletes what has expired: codes that expired before
    /// `codes_expired_before` (the provider passes `now` less
    /// `code_retention`, so that a late replay of a used code still
    /// revokes its grant), access token records after expiry, refresh
    /// tokens whose family or idle time is over or that were revoked a day
    /// ago, sessions, used `jti`s, device codes, and last grants past
    /// their expiry or revoked a day ago (with anything left of them).
    /// Deletes in bounded chunks, so that requests go on in between.
    async fn sweep(&self, now: i64, codes_expired_before: i64) -> StoreResult<SweepCounts>;

    /// Whether the database answers (`SELECT 1`), for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;

    /// Whether the database can serve, as the store's health probe last
    /// found (it asks every second with a deadline): answers at once,
    /// without waiting for the database, for `/readyz`.
    fn readiness(&self) -> Readiness;
}
