//! Grants and everything issued under them: codes, access tokens, refresh
//! tokens (RFC 6749 §4.1, §6; RFC 9700 §4.14.2; OAuth 2.1 §4.3).

use async_trait::async_trait;

use super::StoreResult;
use crate::model::{
    AccessTokenRecord, AuthorizationCode, CodeConsumption, Grant, Issued, NewTokens, PushedRequest,
    RefreshTokenRecord, RefreshTokenState, Rotation, StoredCode,
};

/// Grants and the codes and tokens issued under them.
///
/// **Invariant (one transaction per issuance):** each `*_and_issue` call,
/// and [`GrantStore::issue_client_credentials`], is one transaction: it
/// consumes or rotates what was presented, checks that the grant is not
/// revoked (holding the grant's row until it commits), and stores every
/// new record; or, whatever it answers and wherever it fails, it leaves
/// nothing changed but (at most) the consumption it reports. A failure
/// while storing the new records rolls back the consumption too, so a
/// client's retry finds its code or refresh token as it was.
///
/// **Invariant (no token outlives a revoked grant):** [`GrantStore::revoke_grant`]
/// marks the grant's row in a transaction of its own. An issuance that
/// holds the row first commits before the revocation proceeds; one that
/// comes second finds the grant revoked and stores nothing. Every check of
/// a token (live access token, live refresh token, rotation) reads its
/// grant's state, so a revoked grant's tokens are refused everywhere from
/// the moment the revocation commits, whichever of the two committed first.
///
/// **Invariant (single use):** a code, and a rotating refresh token, is
/// consumed by one conditional statement; of any number of concurrent
/// calls, across connections and nodes, exactly one consumes it.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Creates a grant and its authorization code together (RFC 6749
    /// §4.1.2), in one transaction, while the client exists and the user
    /// has a live session; false, storing nothing, otherwise (a revocation
    /// of the user, or the client's deletion, ran meanwhile: whichever
    /// commits first, the grant is either not created or revoked).
    /// `code.grant_id` is `grant.id`.
    async fn create_grant_with_code(
        &self,
        grant: &Grant,
        code: &AuthorizationCode,
    ) -> StoreResult<bool>;

    /// Keeps a pushed authorization request (RFC 9126 §2) until it
    /// expires or is consumed.
    async fn push_request(&self, request: &PushedRequest) -> StoreResult<()>;

    /// The pushed request with this `request_uri` hash, if unexpired and
    /// not yet consumed. Reads only: a reload of the authorization page
    /// finds it again until a code is issued for it.
    async fn get_pushed_request(
        &self,
        request_uri_hash: &str,
        now: i64,
    ) -> StoreResult<Option<PushedRequest>>;

    /// Moves a live pushed request's expiry to `until` if that is later;
    /// whether it did.
    async fn extend_pushed_request(
        &self,
        request_uri_hash: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<bool>;

    /// Uses a pushed request up (RFC 9126 §4: one-time use), in one
    /// statement: of concurrent calls, across nodes, exactly one gets
    /// true; an expired one is never consumed.
    async fn consume_pushed_request(&self, request_uri_hash: &str, now: i64) -> StoreResult<bool>;

    /// The code with this hash, used or not; `None` if unknown (or swept).
    /// Reads only: whoever acts on it consumes it with
    /// [`GrantStore::redeem_code_and_issue`] or [`GrantStore::consume_code`].
    async fn find_code(&self, code_hash: &str) -> StoreResult<Option<StoredCode>>;

    /// Spends a code without issuing anything (a presentation that failed
    /// a check: RFC 6749 §4.1.2, a code is used once), in one statement: of
    /// concurrent calls exactly one gets `Consumed`; every later call, and
    /// every redemption, finds it `AlreadyUsed` until it is swept.
    async fn consume_code(&self, code_hash: &str, now: i64) -> StoreResult<CodeConsumption>;

    /// Redeems a code (RFC 6749 §4.1.3), in one transaction: consumes it,
    /// checks its grant (`tokens`'s) is live and moves the grant's expiry
    /// to `tokens.horizon()`, and stores `tokens`. `Replayed` if it had been
    /// used (nothing is stored; the caller revokes the grant), `NotFound`
    /// if unknown, `GrantRevoked` if the grant was revoked (the code is left
    /// unused, and can never be redeemed).
    async fn redeem_code_and_issue(
        &self,
        code_hash: &str,
        now: i64,
        tokens: &NewTokens,
    ) -> StoreResult<Issued>;

    /// The refresh token with this hash, whatever its state (live,
    /// rotated, revoked with its grant, expired); `None` if unknown.
    async fn find_refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshTokenState>>;

    /// Redeems a refresh token (RFC 6749 §6), in one transaction: rotates
    /// or keeps it as `rotation` says (a live, unexpired token only),
    /// checks its grant is live and moves the grant's expiry, and stores
    /// `tokens` (with a refresh token when rotating). `Replayed` if it had
    /// been rotated already and no retry applies (nothing is stored; the
    /// caller revokes the grant), `Reissued` for a retry within the reuse
    /// interval (see [`Rotation::Rotate`]), `NotFound` if unknown, expired
    /// or revoked, `GrantRevoked` if the grant was revoked.
    async fn rotate_refresh_and_issue(
        &self,
        token_hash: &str,
        now: i64,
        rotation: Rotation,
        tokens: &NewTokens,
    ) -> StoreResult<Issued>;

    /// Creates a grant and its access token together (RFC 6749 §4.4),
    /// while the client exists; false, storing nothing, otherwise.
    async fn issue_client_credentials(
        &self,
        grant: &Grant,
        tokens: &NewTokens,
    ) -> StoreResult<bool>;

    /// Revokes a grant at `now`, in a transaction of its own (see the
    /// invariants above): from its commit on, no token of the grant is
    /// accepted anywhere and nothing can be issued under it. True if it was
    /// live.
    async fn revoke_grant(&self, grant_id: &str, now: i64) -> StoreResult<bool>;
    /// The username of the user who gave the grant (none for
    /// `client_credentials`, or if the user is gone): for the security log.
    async fn grant_username(&self, grant_id: &str) -> StoreResult<Option<String>>;

    /// Whether the access token with this `jti` was issued, is unrevoked,
    /// `now < expires_at`, and its grant is live.
    async fn access_token_active(&self, jti: &str, now: i64) -> StoreResult<bool>;
    /// The record of an access token that is active (as
    /// [`GrantStore::access_token_active`] says).
    async fn get_access_token(&self, jti: &str, now: i64)
        -> StoreResult<Option<AccessTokenRecord>>;
    /// Revokes one access token of `client_id` (RFC 7009); false if there
    /// was none.
    async fn revoke_access_token(&self, jti: &str, client_id: &str, now: i64) -> StoreResult<bool>;

    /// The live refresh token with this hash: unrotated, unrevoked,
    /// unexpired, of a live grant.
    async fn get_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<RefreshTokenRecord>>;
}
