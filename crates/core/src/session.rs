//! Signing in: password checks (argon2id, RFC 9106) and browser sessions.

use crate::error::{ErrorCode, OAuthError};
use crate::model::{Session, User};
use crate::secret::{self, Password};
use crate::{password, Provider, StoreError};

/// The session behind a cookie value, if it is live.
pub async fn find(p: &Provider, cookie: Option<&str>) -> Result<Option<Session>, StoreError> {
    match cookie {
        Some(c) if !c.is_empty() => p.store().get_session(&secret::hash_token(c), p.now()).await,
        _ => Ok(None),
    }
}

/// What a sign-in turned away for lack of room is told.
pub const BUSY: &str = "Too many sign-ins at once. Try again in a few seconds.";

/// Checks a username and password with argon2id, on a blocking thread,
/// in one of the provider's password slots: `temporarily_unavailable`
/// (with [`BUSY`]) when none came free within `password_hash_wait`.
/// An unknown user costs the same as a wrong password.
pub async fn check_password(
    p: &Provider,
    username: &str,
    password: Password,
) -> Result<Option<User>, OAuthError> {
    let user = p.store().get_user_by_username(username).await?;
    let stored = user.as_ref().map_or_else(
        || password::dummy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    let ok = p.passwords().verify(password, stored).await.map_err(|_| {
        tracing::warn!("password check turned away: every slot busy past the wait");
        OAuthError::new(ErrorCode::TemporarilyUnavailable, BUSY)
    })?;
    Ok(if ok { user } else { None })
}

/// Starts a session for `user`; returns the cookie value.
pub async fn start(p: &Provider, user: &User) -> Result<String, OAuthError> {
    let cookie = secret::random_token(32).map_err(OAuthError::server_error)?;
    let now = p.now();
    let session = Session {
        user_id: user.id.clone(),
        auth_time: now,
        expires_at: now + p.config().session_lifetime.as_secs() as i64,
    };
    p.store()
        .create_session(&secret::hash_token(&cookie), &session)
        .await?;
    Ok(cookie)
}

/// Ends the session behind a cookie value.
pub async fn end(p: &Provider, cookie: &str) -> Result<(), StoreError> {
    p.store().delete_session(&secret::hash_token(cookie)).await
}
