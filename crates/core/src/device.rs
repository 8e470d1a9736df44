//! The device authorization grant, authorization server side (RFC 8628).
//!
//! §3.1–§3.2: the device authorization endpoint hands out a device code
//! (256 random bits, stored hashed) and a short user code; §3.3: the user
//! enters the user code on the verification page, logged in, and approves
//! or denies; §3.4–§3.5: the device polls the token endpoint (see
//! [`crate::grant::device_code`]).

use std::net::IpAddr;

use serde_json::{json, Value};

use crate::authorize::Params;
use crate::discovery::paths;
use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, DeviceCode, DeviceDecision, DeviceStatus, Session, DEVICE_CODE_GRANT};
use crate::session::SECURITY;
use crate::{scope, secret, throttle, Provider};

/// §6.1: 20 consonants, no vowels (no words) and no look-alikes: 8 of them
/// give 20^8 ≈ 2^34.6 codes.
pub const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code (shown as `XXXX-XXXX`).
pub const USER_CODE_LEN: usize = 8;
/// Wrong user codes one browser address may enter per window (§5.1: the
/// user code's entropy is protected by rate limiting).
pub const MAX_USER_CODE_FAILURES: u32 = 5;
/// The window, in seconds.
pub const USER_CODE_WINDOW: i64 = 300;

/// A fresh user code, `XXXX-XXXX`, uniformly drawn from the alphabet.
pub fn new_user_code() -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(USER_CODE_LEN + 1);
    let n = USER_CODE_ALPHABET.len() as u8;
    // Rejection sampling: bytes >= 240 would bias the modulo.
    let limit = 256 - (256 % n as u16) as u8 as u16;
    while out.len() < USER_CODE_LEN + 1 {
        let mut buf = [0u8; 16];
        getrandom::fill(&mut buf)?;
        for b in buf {
            if (b as u16) < limit && out.len() < USER_CODE_LEN + 1 {
                if out.len() == 4 {
                    out.push('-');
                }
                out.push(USER_CODE_ALPHABET[(b % n) as usize] as char);
            }
        }
    }
    Ok(out)
}

/// §6.1: case-insensitive, dashes and spaces ignored. `None` if what is
/// left is not a user code at all.
pub fn normalize_user_code(input: &str) -> Option<String> {
    let s: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (s.len() == USER_CODE_LEN && s.bytes().all(|b| USER_CODE_ALPHABET.contains(&b))).then_some(s)
}

/// `XXXX-XXXX` for a normalised code.
pub fn display_user_code(normalized: &str) -> String {
    format!("{}-{}", &normalized[..4], &normalized[4..])
}

/// Why a user code was not accepted on the verification page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserCodeError {
    /// Unknown, expired, or already used.
    #[error("That code is not valid. Check it and try again.")]
    Invalid,
    /// Too many wrong codes from this address.
    #[error("Too many attempts. Wait a few minutes and try again.")]
    TooManyAttempts,
    /// The store failed.
    #[error("The server is temporarily unavailable.")]
    Unavailable,
}

/// How wrong user codes from one address are limited: locked for the
/// window after [`MAX_USER_CODE_FAILURES`], no delays before (a code is
/// typed again quickly after a typo).
pub const USER_CODE_POLICY: crate::throttle::Policy = crate::throttle::Policy {
    max_failures: MAX_USER_CODE_FAILURES,
    lockout: USER_CODE_WINDOW,
    delay: 0,
};

/// §3.1–§3.2: a device authorization request from an authenticated
/// client allowed the device grant.
pub async fn authorization(
    p: &Provider,
    client: &Client,
    params: &Params,
) -> Result<Value, OAuthError> {
    if !client.may_use(DEVICE_CODE_GRANT) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the device authorization grant",
        ));
    }
    let requested = scope::parse_request(
        params
            .get("scope")
            .map_err(OAuthError::invalid_request)?
            .unwrap_or(""),
    )
    .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e))?;
    if let Some(bad) = requested.iter().find(|s| !client.scopes.contains(s)) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("scope {bad:?} is not available to this client"),
        ));
    }
    let resources =
        crate::resource::for_new_grant(p, client, &crate::resource::values(params)?, &requested)
            .await?;
    let device_code = secret::random_token(32).map_err(OAuthError::server_error)?;
    let user_code = new_user_code().map_err(OAuthError::server_error)?;
    let normalized = normalize_user_code(&user_code).unwrap_or_default();
    let now = p.now();
    let ttl = p.config().device_code_lifetime.as_secs() as i64;
    let interval = p.config().device_poll_interval.as_secs() as i64;
    p.store()
        .insert_device_code(&DeviceCode {
            device_code_hash: secret::hash_token(&device_code),
            user_code_hash: secret::hash_token(&normalized),
            client_id: client.id.clone(),
            scope: scope::join(&requested),
            resources,
            issued_at: now,
            expires_at: now + ttl,
            interval,
            status: DeviceStatus::Pending,
            user_id: None,
            auth_time: None,
            grant_id: None,
        })
        .await?;
    let verification_uri = format!("{}{}", p.config().issuer, paths::DEVICE);
    Ok(json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": format!("{verification_uri}?user_code={user_code}"),
        "expires_in": ttl,
        "interval": interval,
    }))
}

/// §3.3: the pending authorization for a user code typed on the
/// verification page. Wrong codes count against the browser's address
/// (per IPv4 address or IPv6 /64, in the store, so every node counts
/// together: §5.1); past the limit every code is refused until the window
/// ends.
pub async fn lookup(
    p: &Provider,
    user_code: &str,
    address: IpAddr,
) -> Result<(DeviceCode, Client), UserCodeError> {
    let now = p.now();
    let key = throttle::address_key("device", address);
    let unavailable = |_| UserCodeError::Unavailable;
    if throttle::blocked(p, &key)
        .await
        .map_err(unavailable)?
        .is_some()
    {
        tracing::warn!(target: SECURITY, event = "user_code_refused", reason = "address blocked", address = %address);
        return Err(UserCodeError::TooManyAttempts);
    }
    let found = match normalize_user_code(user_code) {
        None => None,
        Some(n) => p
            .store()
            .pending_device_code(&secret::hash_token(&n), now)
            .await
            .map_err(unavailable)?,
    };
    let Some(record) = found else {
        let f = throttle::fail(p, &key, &USER_CODE_POLICY)
            .await
            .map_err(unavailable)?;
        tracing::warn!(target: SECURITY, event = "user_code_guessed", address = %address, failures = f.count);
        if f.locked {
            tracing::warn!(target: SECURITY, event = "user_code_address_blocked", address = %address, until = f.blocked_until);
        }
        return Err(UserCodeError::Invalid);
    };
    let client = p
        .clients()
        .get(&record.client_id)
        .await
        .map_err(unavailable)?
        .ok_or(UserCodeError::Invalid)?;
    Ok((record, client))
}

/// §3.3: the user's decision. The code is looked up exactly as by
/// [`lookup`], through the same limiter under the same address, so
/// that no route can guess codes past it (§5.1): a blocked address gets
/// `TooManyAttempts` whatever it submits, and a wrong code counts as a
/// failure. Approving creates the grant the device's tokens will belong
/// to. `Invalid` if the code is unknown or no longer pending.
pub async fn decide(
    p: &Provider,
    user_code: &str,
    session: &Session,
    approve: bool,
    address: IpAddr,
) -> Result<(), UserCodeError> {
    let (pending, client) = lookup(p, user_code, address).await?;
    let now = p.now();
    let decision = if approve {
        DeviceDecision::Approve {
            grant_id: secret::time_ordered_id(10).map_err(|_| UserCodeError::Unavailable)?,
            user_id: session.user_id.clone(),
            auth_time: session.auth_time,
            // The device's tokens come at the latest when its code expires.
            expires_at: p
                .issuer()
                .grant_expiry(&client, &pending.scope, pending.expires_at),
        }
    } else {
        DeviceDecision::Deny
    };
    match p
        .store()
        .decide_device_code(&pending.user_code_hash, now, &decision)
        .await
    {
        Ok(true) => Ok(()),
        // Decided, expired or refused (the user's session ended) meanwhile.
        Ok(false) => Err(UserCodeError::Invalid),
        Err(_) => Err(UserCodeError::Unavailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_formatted_from_the_alphabet() {
        for _ in 0..100 {
            let c = new_user_code().unwrap();
            assert_eq!(c.len(), 9);
            assert_eq!(&c[4..5], "-");
            assert!(normalize_user_code(&c).is_some(), "{c}");
        }
    }

    #[test]
    fn user_codes_are_case_insensitive_and_ignore_dashes() {
        assert_eq!(
            normalize_user_code("wdjb-mjht").as_deref(),
            Some("WDJBMJHT")
        );
        assert_eq!(
            normalize_user_code(" WDJB MJHT ").as_deref(),
            Some("WDJBMJHT")
        );
        assert_eq!(normalize_user_code("WDJBMJHT").as_deref(), Some("WDJBMJHT"));
        assert_eq!(
            normalize_user_code("WDJB-MJHA"),
            None,
            "vowels are not in the alphabet"
        );
        assert_eq!(normalize_user_code("WDJB-MJH"), None);
        assert_eq!(display_user_code("WDJBMJHT"), "WDJB-MJHT");
    }
}
