//! Device authorizations (RFC 8628).

use async_trait::async_trait;

use super::StoreResult;
use crate::model::{DeviceCode, DeviceDecision, DevicePoll, Issued, NewTokens};

/// Device authorizations, from the device's request to its tokens.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Stores a new device authorization (RFC 8628 §3.2).
    async fn insert_device_code(&self, code: &DeviceCode) -> StoreResult<()>;
    /// The pending, unexpired device authorization with this user code.
    async fn pending_device_code(
        &self,
        user_code_hash: &str,
        now: i64,
    ) -> StoreResult<Option<DeviceCode>>;
    /// Records the user's decision on a pending, unexpired authorization
    /// (RFC 8628 §3.3), in one transaction; approving creates the grant
    /// (for the device's client and scope) that the device's tokens will
    /// belong to, while that client exists and the user has a live
    /// session. False, changing nothing, if it is no longer pending or
    /// those are gone: of concurrent decisions exactly one is recorded.
    async fn decide_device_code(
        &self,
        user_code_hash: &str,
        now: i64,
        decision: &DeviceDecision,
    ) -> StoreResult<bool>;
    /// Records a poll at `now` in one statement, growing the interval by 5 s
    /// when it came too soon (RFC 8628 §3.5 `slow_down`). `NotFound` once
    /// the code has been redeemed.
    async fn poll_device_code(&self, device_code_hash: &str, now: i64) -> StoreResult<DevicePoll>;
    /// Redeems an approved device code (RFC 8628 §3.5), in one transaction,
    /// as [`crate::store::GrantStore::redeem_code_and_issue`] redeems a code:
    /// of concurrent polls exactly one gets `Stored`; the others get
    /// `Replayed`. `NotFound` if it is not approved, expired or unknown.
    async fn redeem_device_code_and_issue(
        &self,
        device_code_hash: &str,
        now: i64,
        tokens: &NewTokens,
    ) -> StoreResult<Issued>;
}
