//! Guessing defence: counters of failed attempts, kept in the store so that
//! every node of a deployment counts together (RFC 6749 §10.10: the server
//! MUST prevent password guessing; RFC 8628 §5.1: user-code guessing).
//!
//! A counter has a key: an account (`user:NAME`, for any name typed,
//! existing or not, so that locks say nothing about which users exist), an
//! address (`addr:NETWORK`) or the device page's address
//! (`device:NETWORK`). Addresses are counted per IPv4 address and per IPv6
//! /64, the smallest network a client usually holds. After a few failures
//! each further one blocks the key for a growing delay; at the policy's
//! maximum it is locked for the lockout. Failures older than the lockout
//! are forgotten.

use std::net::IpAddr;

use crate::{Provider, StoreError};

/// Failures that cost nothing before delays start.
pub const FREE_FAILURES: u32 = 3;

/// How a kind of attempt is limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures (within the lockout) that lock the key.
    pub max_failures: u32,
    /// How long a lock lasts, in seconds; also the window failures are
    /// counted in.
    pub lockout: i64,
    /// The first delay, in seconds, after [`FREE_FAILURES`] failures; it
    /// doubles with each further failure (0: no delays, only the lock).
    pub delay: i64,
}

/// What a failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// Failures counted in the window, this one included.
    pub count: u32,
    /// This failure locked the key.
    pub locked: bool,
    /// Until when the key is blocked now, if it is.
    pub blocked_until: Option<i64>,
}

/// The key of an address: `prefix:` then the IPv4 address, or the IPv6
/// /64 (an IPv4-mapped IPv6 address counts as its IPv4 address).
pub fn address_key(prefix: &str, ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{prefix}:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("{prefix}:{v4}"),
            None => {
                let s = v6.segments();
                format!("{prefix}:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The key of an account, whatever was typed.
pub fn account_key(username: &str) -> String {
    format!("user:{username}")
}

/// Until when attempts under `key` are blocked, if they are now.
pub async fn blocked(p: &Provider, key: &str) -> Result<Option<i64>, StoreError> {
    p.store().blocked_until(key, p.now()).await
}

/// A rate limit on work anyone may ask for (open registration, pushed
/// requests): at most `max` per `window` seconds under `key`, counted in
/// the store before the work, so that every node agrees. `Ok(None)` to go
/// on; `Ok(Some(seconds))` to answer 429 with that `Retry-After`.
pub async fn admit(
    p: &Provider,
    key: &str,
    max: u32,
    window: i64,
) -> Result<Option<i64>, StoreError> {
    if let Some(until) = blocked(p, key).await? {
        return Ok(Some(until - p.now()));
    }
    let policy = Policy {
        max_failures: max,
        lockout: window,
        delay: 0,
    };
    let counted = fail(p, key, &policy).await?;
    Ok((counted.count > max).then(|| counted.blocked_until.unwrap_or(p.now() + window) - p.now()))
}

/// Counts a failure under `key` and blocks it as `policy` says.
pub async fn fail(p: &Provider, key: &str, policy: &Policy) -> Result<Failure, StoreError> {
    let now = p.now();
    let count = p.store().record_failure(key, now, policy.lockout).await?;
    let locked = count >= policy.max_failures;
    let block = if locked {
        Some(now + policy.lockout)
    } else if policy.delay > 0 && count > FREE_FAILURES {
        let doublings = (count - FREE_FAILURES - 1).min(20);
        Some(now + (policy.delay << doublings).min(policy.lockout))
    } else {
        None
    };
    if let Some(until) = block {
        p.store().block_failures(key, until).await?;
    }
    Ok(Failure {
        count,
        locked: locked && count == policy.max_failures,
        blocked_until: block,
    })
}

/// Forgets the failures under `key` (a successful sign-in, an
/// administrator unlocking); false if there were none.
pub async fn clear(p: &Provider, key: &str) -> Result<bool, StoreError> {
    p.store().clear_failures(key).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_keyed_per_ipv4_and_per_ipv6_64() {
        let k = |s: &str| address_key("addr", s.parse().unwrap());
        assert_eq!(k("192.0.2.7"), "addr:192.0.2.7");
        assert_eq!(k("2001:db8:1:2:3:4:5:6"), "addr:2001:db8:1:2::/64");
        assert_eq!(k("2001:db8:1:2:ffff::1"), k("2001:db8:1:2::9"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("::ffff:192.0.2.7"), "addr:192.0.2.7");
    }
}
