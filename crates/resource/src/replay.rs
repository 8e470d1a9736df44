//! RFC 9449 §11.1 (and §4.3 check 11): the `jti` replay cache, so that a
//! DPoP proof is accepted once.
//!
//! **Per process.** The cache is in memory: a resource server running as
//! several replicas accepts a proof once *per replica*. A deployment that
//! cannot live with that must route a client to one replica, or demand
//! resource-server nonces (RFC 9449 §9; not implemented here).
//!
//! **Bounded** (house rule 11): at most `capacity` proofs are remembered,
//! each until `iat + max_age + leeway`, after which the proof would be
//! refused as stale anyway. Expired entries are dropped first; when every
//! entry is still live, a new proof is *not* accepted (an unremembered
//! proof could be replayed) and the request gets 503 with `Retry-After`
//! (the time until the oldest entry expires) rather than 401, since the
//! proof may be good. Only proofs that passed every other check, for a
//! valid token bound to their key, are remembered: a stranger with a key
//! of their own cannot fill the cache without a token from the issuer.
//!
//! Entries are keyed by SHA-256 of the key's thumbprint and the `jti`, so
//! each takes the same few bytes whatever the `jti`'s length, and two
//! clients that pick the same `jti` do not collide.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

type Key = [u8; 32];

/// Why a proof was not remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotRemembered {
    /// Its `jti` (for this key) was remembered before and has not expired.
    Replayed,
    /// Every slot holds a live entry; the oldest expires in `retry_after`.
    Full { retry_after: u64 },
}

/// The cache: at most `capacity` entries.
#[derive(Debug)]
pub(crate) struct ReplayCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Key → expiry.
    expiry: HashMap<Key, u64>,
    /// (expiry, key), oldest first, to drop expired entries in order.
    by_expiry: BTreeSet<(u64, Key)>,
}

impl ReplayCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// Remembers the proof (`jkt`, `jti`) until `expires` (seconds since
    /// the epoch, inclusive), unless it is already remembered or there is no room.
    /// One lock for the check and the insert: of two concurrent requests
    /// with the same proof, exactly one gets `Ok`.
    pub(crate) fn remember(
        &self,
        jkt: &str,
        jti: &str,
        expires: u64,
        now: u64,
    ) -> Result<(), NotRemembered> {
        let key = key(jkt, jti);
        let mut e = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        e.drop_expired(now);
        if e.expiry.contains_key(&key) {
            return Err(NotRemembered::Replayed);
        }
        if e.expiry.len() >= self.capacity {
            let oldest = e.by_expiry.first().map_or(now, |(t, _)| *t);
            return Err(NotRemembered::Full {
                retry_after: oldest.saturating_add(1).saturating_sub(now).max(1),
            });
        }
        e.expiry.insert(key, expires);
        e.by_expiry.insert((expires, key));
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .expiry
            .len()
    }
}

impl Entries {
    /// Drops the entries whose expiry is before `now`; each entry is
    /// dropped once, so the cost is amortised over the inserts.
    fn drop_expired(&mut self, now: u64) {
        while let Some(&(t, key)) = self.by_expiry.first() {
            if t >= now {
                break;
            }
            self.by_expiry.pop_first();
            self.expiry.remove(&key);
        }
    }
}

/// SHA-256 of the thumbprint, a separator no thumbprint contains, and the
/// `jti`.
fn key(jkt: &str, jti: &str) -> Key {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(jkt.as_bytes());
    ctx.update(b"\n");
    ctx.update(jti.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_is_accepted_once_until_it_expires() {
        let c = ReplayCache::new(10);
        assert_eq!(c.remember("k", "j", 100, 0), Ok(()));
        assert_eq!(c.remember("k", "j", 100, 100), Err(NotRemembered::Replayed));
        // Another key may use the same jti.
        assert_eq!(c.remember("k2", "j", 100, 0), Ok(()));
        // Past its expiry the entry is gone (and the proof stale anyway).
        assert_eq!(c.remember("k", "j", 200, 101), Ok(()));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_full_cache_drops_expired_entries_first_then_refuses() {
        let c = ReplayCache::new(2);
        assert_eq!(c.remember("k", "a", 50, 0), Ok(()));
        assert_eq!(c.remember("k", "b", 80, 0), Ok(()));
        assert_eq!(
            c.remember("k", "c", 90, 10),
            Err(NotRemembered::Full { retry_after: 41 })
        );
        assert_eq!(
            c.remember("k", "c", 90, 50),
            Err(NotRemembered::Full { retry_after: 1 })
        );
        // "a" is remembered until 50 inclusive: room for one at 51.
        assert_eq!(c.remember("k", "c", 110, 51), Ok(()));
        assert_eq!(c.len(), 2);
        assert_eq!(
            c.remember("k", "d", 120, 79),
            Err(NotRemembered::Full { retry_after: 2 })
        );
        // A replay of a live entry is still a replay when full.
        assert_eq!(c.remember("k", "c", 110, 60), Err(NotRemembered::Replayed));
    }
}
