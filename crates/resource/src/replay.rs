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
//! **A quota per key.** One token (and its key) is enough to make fresh
//! proofs as fast as the network allows, and without a limit per key its
//! holder could fill the whole cache in seconds and have every other DPoP
//! client of the API refused with 503 for as long as the entries live,
//! again and again. So each key (its RFC 7638 thumbprint, `jkt`) may hold
//! at most `per_key` of the live entries ([`default_key_quota`] unless
//! configured); a proof beyond its key's quota is refused for that key
//! only ([`NotRemembered::OverQuota`]), and filling the cache takes
//! `capacity / per_key` keys, each with a token of its own from the issuer.
//!
//! Entries are keyed by SHA-256 of the key's thumbprint and the `jti`, so
//! each takes the same few bytes whatever the `jti`'s length, and two
//! clients that pick the same `jti` do not collide. The count of each key
//! is kept under SHA-256 of its thumbprint, only while the key has live
//! entries: it is removed with the key's last entry, so there are never
//! more counts than entries.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

/// SHA-256 of a thumbprint and a `jti`: one entry.
type Key = [u8; 32];
/// SHA-256 of a thumbprint: one proof key.
type Jkt = [u8; 32];

/// The default quota of each key: 5 % of the capacity, but at least 16 (a
/// client making a few requests at once is never refused by a small cache)
/// and at most the capacity (above it the quota would mean nothing).
/// With the default capacity (100 000) and entry lifetime (2 min), that
/// is 5 000 proofs, about 40 requests per second sustained, per key (an
/// agent's burst of tool calls fits); filling the cache takes 20 keys,
/// each with its own token.
pub(crate) fn default_key_quota(capacity: usize) -> usize {
    (capacity / 20).max(16).min(capacity)
}

/// Why a proof was not remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotRemembered {
    /// Its `jti` (for this key) was remembered before and has not expired.
    Replayed,
    /// Its key already holds its quota of live entries; no entry of that
    /// key expires sooner than in `retry_after` seconds (exact as long as
    /// none of the key's entries has expired yet, a lower bound after).
    OverQuota { retry_after: u64 },
    /// Every slot holds a live entry; the oldest expires in `retry_after`.
    Full { retry_after: u64 },
}

/// The cache: at most `capacity` entries, at most `per_key` of them for
/// any one key.
#[derive(Debug)]
pub(crate) struct ReplayCache {
    capacity: usize,
    per_key: usize,
    entries: Mutex<Entries>,
}

/// **Invariants** (kept under the lock): `expiry` and `by_expiry` hold the
/// same entries; `keys` holds exactly the keys with an entry, each with
/// its number of entries (never 0), so `keys.len() <= expiry.len() <=
/// capacity`.
#[derive(Debug, Default)]
struct Entries {
    /// Entry → its expiry and its key.
    expiry: HashMap<Key, Entry>,
    /// (expiry, entry), oldest first, to drop expired entries in order.
    by_expiry: BTreeSet<(u64, Key)>,
    /// Key → how many entries it holds.
    keys: HashMap<Jkt, Held>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    expires: u64,
    jkt: Jkt,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    /// Live entries of this key, at least 1.
    count: usize,
    /// No live entry of this key expires before this: the least expiry
    /// inserted, raised to each expiry dropped (entries are dropped in
    /// order of expiry, so the key's remaining ones expire no sooner).
    oldest: u64,
}

impl ReplayCache {
    /// A cache of `capacity` entries, `per_key` of them at most for one key
    /// (both at least 1; `per_key` at most `capacity`, as the builder
    /// checks).
    pub(crate) fn new(capacity: usize, per_key: usize) -> Self {
        Self {
            capacity,
            per_key,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// Remembers the proof (`jkt`, `jti`) until `expires` (seconds since
    /// the epoch, inclusive), unless it is already remembered, there is no
    /// room, or its key holds its quota, checked in that order: a replay
    /// is a replay whatever the room, and a full cache is the server's
    /// condition, answered alike to every key (so a quota equal to the
    /// capacity changes nothing).
    /// One lock for the checks and the insert: of two concurrent requests
    /// with the same proof, exactly one gets `Ok`, and a key never holds
    /// more than its quota. Costs O(log capacity), and each entry is
    /// dropped once (amortised over the inserts).
    pub(crate) fn remember(
        &self,
        jkt: &str,
        jti: &str,
        expires: u64,
        now: u64,
    ) -> Result<(), NotRemembered> {
        let key = key(jkt, jti);
        let holder = sha256(&[jkt.as_bytes()]);
        let mut e = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        e.drop_expired(now);
        if e.expiry.contains_key(&key) {
            return Err(NotRemembered::Replayed);
        }
        // Every live entry expires at `first` or later.
        let first = e.by_expiry.first().map_or(now, |(t, _)| *t);
        let until = |t: u64| t.saturating_add(1).saturating_sub(now).max(1);
        if e.expiry.len() >= self.capacity {
            return Err(NotRemembered::Full {
                retry_after: until(first),
            });
        }
        if let Some(held) = e.keys.get(&holder) {
            if held.count >= self.per_key {
                return Err(NotRemembered::OverQuota {
                    retry_after: until(held.oldest.max(first)),
                });
            }
        }
        e.insert(key, holder, expires);
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

    /// How many keys have a count.
    #[cfg(test)]
    fn keys(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys
            .len()
    }
}

impl Entries {
    fn insert(&mut self, key: Key, jkt: Jkt, expires: u64) {
        self.expiry.insert(key, Entry { expires, jkt });
        self.by_expiry.insert((expires, key));
        self.keys
            .entry(jkt)
            .and_modify(|h| {
                h.count += 1;
                h.oldest = h.oldest.min(expires);
            })
            .or_insert(Held {
                count: 1,
                oldest: expires,
            });
    }

    /// Drops the entries whose expiry is before `now`, and the count of a
    /// key with its last entry; each entry is dropped once, so the cost is
    /// amortised over the inserts.
    fn drop_expired(&mut self, now: u64) {
        while let Some(&(t, key)) = self.by_expiry.first() {
            if t >= now {
                break;
            }
            self.by_expiry.pop_first();
            let Some(Entry { expires, jkt }) = self.expiry.remove(&key) else {
                continue;
            };
            if let Some(held) = self.keys.get_mut(&jkt) {
                if held.count <= 1 {
                    self.keys.remove(&jkt);
                } else {
                    held.count -= 1;
                    held.oldest = held.oldest.max(expires);
                }
            }
        }
    }
}

/// SHA-256 of the thumbprint, a separator no thumbprint contains, and the
/// `jti`.
fn key(jkt: &str, jti: &str) -> Key {
    sha256(&[jkt.as_bytes(), b"\n", jti.as_bytes()])
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_is_accepted_once_until_it_expires() {
        let c = ReplayCache::new(10, 10);
        assert_eq!(c.remember("k", "j", 100, 0), Ok(()));
        assert_eq!(c.remember("k", "j", 100, 100), Err(NotRemembered::Replayed));
        // Another key may use the same jti.
        assert_eq!(c.remember("k2", "j", 100, 0), Ok(()));
        // Past its expiry the entry is gone (and the proof stale anyway).
        assert_eq!(c.remember("k", "j", 200, 101), Ok(()));
        assert_eq!(c.len(), 1);
        assert_eq!(c.keys(), 1);
    }

    #[test]
    fn a_full_cache_drops_expired_entries_first_then_refuses() {
        let c = ReplayCache::new(2, 2);
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

    /// The review's finding: one key cannot take the whole cache; past its
    /// quota its proofs are refused, and the other keys' still pass.
    #[test]
    fn a_key_over_its_quota_is_refused_and_other_keys_are_not() {
        let c = ReplayCache::new(100, 3);
        for (jti, expires) in [("a", 60), ("b", 50), ("c", 70)] {
            assert_eq!(c.remember("flood", jti, expires, 0), Ok(()));
        }
        // Its oldest entry ("b") is remembered until 50 inclusive.
        assert_eq!(
            c.remember("flood", "d", 80, 10),
            Err(NotRemembered::OverQuota { retry_after: 41 })
        );
        // A replay is still a replay, whatever the quota.
        assert_eq!(
            c.remember("flood", "a", 60, 10),
            Err(NotRemembered::Replayed)
        );
        for jti in ["a", "b", "c"] {
            assert_eq!(c.remember("other", jti, 80, 10), Ok(()));
        }
        assert_eq!(c.len(), 6);
        // The quota comes back as the key's entries expire, one by one.
        assert_eq!(c.remember("flood", "d", 100, 51), Ok(()));
        assert_eq!(
            c.remember("flood", "e", 100, 51),
            Err(NotRemembered::OverQuota { retry_after: 10 })
        );
        assert_eq!(c.remember("flood", "e", 100, 61), Ok(()));
    }

    /// The counts are bounded: a key's count goes with its last entry.
    #[test]
    fn counts_go_with_the_last_entry_of_their_key() {
        let c = ReplayCache::new(1000, 16);
        for k in 0..100 {
            for j in 0..5 {
                assert_eq!(
                    c.remember(&format!("k{k}"), &format!("j{j}"), 10 + j, 0),
                    Ok(())
                );
            }
        }
        assert_eq!((c.len(), c.keys()), (500, 100));
        // At 12, the entries expiring at 10 and 11 are gone: 3 per key left.
        assert_eq!(c.remember("k0", "j9", 30, 12), Ok(()));
        assert_eq!((c.len(), c.keys()), (301, 100));
        // At 15, every entry but k0's new one has expired.
        assert_eq!(c.remember("new", "j", 40, 15), Ok(()));
        assert_eq!((c.len(), c.keys()), (2, 2));
        assert_eq!(c.remember("new", "j2", 40, 41), Ok(()));
        assert_eq!((c.len(), c.keys()), (1, 1));
    }

    /// The wait is the key's own: until its oldest entry expires, not
    /// the cache's.
    #[test]
    fn the_wait_is_until_the_keys_oldest_entry_expires() {
        let c = ReplayCache::new(100, 2);
        assert_eq!(c.remember("other", "x", 10, 0), Ok(()));
        assert_eq!(c.remember("k", "a", 100, 0), Ok(()));
        assert_eq!(c.remember("k", "b", 90, 0), Ok(()));
        assert_eq!(
            c.remember("k", "c", 100, 0),
            Err(NotRemembered::OverQuota { retry_after: 91 })
        );
        assert_eq!(c.remember("k", "c", 100, 91), Ok(()));
    }

    /// A key whose oldest entry has expired gets a lower bound: the time
    /// until the oldest entry of the cache expires (never later than its
    /// own next one).
    #[test]
    fn the_wait_after_a_keys_oldest_entry_expired_is_a_lower_bound() {
        let c = ReplayCache::new(100, 2);
        assert_eq!(c.remember("k", "a", 10, 0), Ok(()));
        assert_eq!(c.remember("k", "b", 30, 0), Ok(()));
        assert_eq!(c.remember("other", "x", 20, 0), Ok(()));
        assert_eq!(c.remember("k", "c", 40, 11), Ok(()));
        // "b" (30) is k's oldest; the cache's is "x" (20).
        assert_eq!(
            c.remember("k", "d", 50, 12),
            Err(NotRemembered::OverQuota { retry_after: 9 })
        );
        assert_eq!(
            c.remember("k", "d", 50, 21),
            Err(NotRemembered::OverQuota { retry_after: 10 })
        );
        assert_eq!(c.remember("k", "d", 50, 31), Ok(()));
    }

    /// Many keys within their quotas still fill the cache: 503.
    #[test]
    fn many_keys_still_fill_the_cache() {
        let c = ReplayCache::new(6, 2);
        for k in ["k1", "k2", "k3"] {
            for j in ["a", "b"] {
                assert_eq!(c.remember(k, j, 100, 0), Ok(()));
            }
        }
        assert_eq!(
            c.remember("k4", "a", 100, 5),
            Err(NotRemembered::Full { retry_after: 96 })
        );
        // A full cache is full for every key, over its quota or not.
        assert_eq!(
            c.remember("k1", "c", 100, 5),
            Err(NotRemembered::Full { retry_after: 96 })
        );
        assert_eq!(c.remember("k4", "a", 200, 101), Ok(()));
    }

    #[test]
    fn the_default_quota_is_one_percent_at_least_16_at_most_the_capacity() {
        assert_eq!(default_key_quota(100_000), 5_000);
        assert_eq!(default_key_quota(10_000_000), 500_000);
        assert_eq!(default_key_quota(1_000), 50);
        assert_eq!(default_key_quota(200), 16);
        assert_eq!(default_key_quota(10), 10);
        assert_eq!(default_key_quota(1), 1);
    }
}
