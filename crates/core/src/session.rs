//! Signing in: password checks (argon2id, RFC 9106) and browser sessions.

use crate::error::{ErrorCode, OAuthError};
use crate::model::{Session, User};
use crate::secret::{self, Password};
use std::net::IpAddr;

use crate::{password, throttle, Provider, StoreError};

/// The session behind a cookie value, if it is live.
pub async fn find(p: &Provider, cookie: Option<&str>) -> Result<Option<Session>, StoreError> {
    match cookie {
        Some(c) if !c.is_empty() => p.store().get_session(&secret::hash_token(c), p.now()).await,
        _ => Ok(None),
    }
}

/// [`find`], with the session's user's consent to `client_id`, read in
/// the same call to the store (the authorization endpoint's two reads).
pub async fn find_with_consent(
    p: &Provider,
    cookie: Option<&str>,
    client_id: &str,
) -> Result<Option<(Session, Vec<String>)>, StoreError> {
    match cookie {
        Some(c) if !c.is_empty() => {
            p.store()
                .get_session_and_consent(&secret::hash_token(c), p.now(), client_id)
                .await
        }
        _ => Ok(None),
    }
}

/// What a sign-in from a blocked address is told.
pub const ADDRESS_BLOCKED: &str =
    "Too many failed sign-ins came from your network. Try again later.";

/// What a sign-in turned away for lack of room is told.
pub const BUSY: &str = "Too many sign-ins at once. Try again in a few seconds.";

/// The `tracing` target of security events (failed and refused sign-ins,
/// locks, guessed user codes, replayed codes, reused refresh tokens): one
/// structured line each, with the username, client and address known.
pub const SECURITY: &str = "proofkey::security";

/// A sign-in: who, with what, from where, for which client.
#[derive(Debug)]
pub struct Attempt<'a> {
    /// The username as typed.
    pub username: &'a str,
    /// The password as typed.
    pub password: Password,
    /// The client's address (the peer, or what a trusted proxy says).
    pub address: IpAddr,
    /// The client the user signs in for, if known.
    pub client_id: Option<&'a str>,
}

/// How a sign-in ended.
#[derive(Debug)]
pub enum SignIn {
    /// The password is right and nothing blocks the account.
    User(User),
    /// Anything else about the account: an unknown user, a wrong
    /// password, a disabled account, or an account locked or delayed
    /// after failures. One
    /// answer for all, so that it tells nothing about who exists.
    Invalid,
    /// The address made too many failures: refused for this many seconds
    /// whatever the account (429).
    AddressBlocked {
        /// Seconds until it may try again.
        retry_after: i64,
    },
}

/// Signs a user in (RFC 6749 §10.10: guessing prevented). An address
/// blocked after too many failures is refused before anything else. A
/// blocked account's password is still checked, against nothing, so that
/// the answer takes the same time. A wrong password counts against the
/// account and the address ([`crate::throttle`]), a right one clears the
/// account's count. The check runs with argon2id in one of the provider's
/// password slots: `temporarily_unavailable` (with [`BUSY`]) when none
/// came free within `password_hash_wait`. An unknown user costs the same
/// as a wrong password and counts the same. A disabled user's right
/// password is answered as a wrong one (and not counted).
pub async fn sign_in(p: &Provider, a: Attempt<'_>) -> Result<SignIn, OAuthError> {
    let now = p.now();
    let account = throttle::account_key(a.username);
    let address = throttle::address_key("addr", a.address);
    let (username, client_id, ip) = (a.username, a.client_id.unwrap_or(""), a.address);
    if let Some(until) = throttle::blocked(p, &address).await? {
        tracing::warn!(target: SECURITY, event = "sign_in_refused", reason = "address blocked", username, client_id, address = %ip, until);
        login_outcome("locked");
        return Ok(SignIn::AddressBlocked {
            retry_after: until - now,
        });
    }
    let account_blocked = throttle::blocked(p, &account).await?;
    let user = match account_blocked {
        Some(_) => None,
        None => p.store().get_user_by_username(username).await?,
    };
    let stored = user.as_ref().map_or_else(
        || password::dummy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    let ok = p
        .passwords()
        .verify(a.password, stored)
        .await
        .map_err(|_| {
            tracing::warn!("password check turned away: every slot busy past the wait");
            login_outcome("unavailable");
            OAuthError::new(ErrorCode::TemporarilyUnavailable, BUSY)
        })?;
    if let Some(until) = account_blocked {
        tracing::warn!(target: SECURITY, event = "sign_in_refused", reason = "account blocked", username, client_id, address = %ip, until);
        login_outcome("locked");
        return Ok(SignIn::Invalid);
    }
    let disabled = user.as_ref().is_some_and(|u| u.disabled_at.is_some());
    if ok && disabled {
        // Told as a wrong password is (nothing about who exists or why),
        // after the same argon2 work, and counted like one below: were
        // it not, the address's block would come one attempt later after
        // a right guess, telling a disabled account's password.
        tracing::warn!(target: SECURITY, event = "sign_in_refused", reason = "account disabled", username, client_id, address = %ip);
    }
    if let (true, false, Some(user)) = (ok, disabled, user) {
        throttle::clear(p, &account).await?;
        tracing::info!(target: SECURITY, event = "sign_in", username, client_id, address = %ip);
        login_outcome("success");
        return Ok(SignIn::User(user));
    }
    let config = p.config();
    let failed = throttle::fail(p, &account, &config.login_policy()).await?;
    let from = throttle::fail(p, &address, &config.address_policy()).await?;
    tracing::warn!(
        target: SECURITY,
        event = "sign_in_failed",
        username,
        client_id,
        address = %ip,
        failures = failed.count,
        address_failures = from.count,
    );
    login_outcome("failure");
    if failed.locked {
        tracing::warn!(target: SECURITY, event = "account_locked", username, client_id, address = %ip, until = failed.blocked_until);
        metrics::counter!("proofkey_login_lockouts_total", "scope" => "account").increment(1);
    }
    if from.locked {
        tracing::warn!(target: SECURITY, event = "address_blocked", username, client_id, address = %ip, until = from.blocked_until);
        metrics::counter!("proofkey_login_lockouts_total", "scope" => "address").increment(1);
    }
    Ok(SignIn::Invalid)
}

/// Counts a sign-in's outcome (`proofkey_logins_total`, docs/operations.md).
fn login_outcome(outcome: &'static str) {
    metrics::counter!("proofkey_logins_total", "outcome" => outcome).increment(1);
}

/// Starts a session for `user`; returns the cookie value. Fails if the
/// user was disabled or deleted meanwhile (the store stores no session
/// for them).
pub async fn start(p: &Provider, user: &User) -> Result<String, OAuthError> {
    let cookie = secret::random_token(32).map_err(OAuthError::server_error)?;
    let now = p.now();
    let session = Session {
        user_id: user.id.clone(),
        auth_time: now,
        expires_at: now + p.config().session_lifetime.as_secs() as i64,
    };
    let stored = p
        .store()
        .create_session(&secret::hash_token(&cookie), &session)
        .await?;
    if !stored {
        // Disabled (or deleted) since its password was checked: the store
        // refuses its session, and no grant can be made without one.
        return Err(OAuthError::server_error(
            "the user was disabled or deleted while signing in",
        ));
    }
    Ok(cookie)
}

/// Ends the session behind a cookie value.
pub async fn end(p: &Provider, cookie: &str) -> Result<(), StoreError> {
    p.store().delete_session(&secret::hash_token(cookie)).await
}
