//! Password hashing with argon2id (RFC 9106), for users only.
//!
//! Hashing is deliberately slow (tens of milliseconds) and holds a 19 MiB
//! block while it runs: callers on an async runtime go through
//! [`PasswordSlots`], which runs at most a few at once on blocking threads
//! and turns the rest away after a bounded wait.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use std::sync::Arc;
use subtle::ConstantTimeEq;

use crate::secret::Password;

/// A PHC string (`$argon2id$v=19$...`) for `password`, with a random salt.
pub fn hash(password: &Password) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string `stored`. A malformed stored
/// hash counts as a mismatch.
pub fn verify(password: &Password, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.expose().as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password, verified against when the username is
/// unknown so that a wrong username costs the same time as a wrong password
/// (no user enumeration by timing).
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = crate::secret::random_token(16).unwrap_or_default();
        hash(&Password::new(random)).unwrap_or_default()
    })
}

/// Room for password checks: a fixed number run at once (each holds
/// argon2's 19 MiB block and a core for tens of milliseconds), the others
/// wait their turn up to a bound, then are turned away. Without it, 96
/// concurrent logins once took a server to 4.4 GB and 105 threads.
///
/// Each running check works in a memory block of the slots' own, kept for
/// the next check rather than freed: the allocator would otherwise keep
/// the freed 19 MiB per thread arena (measured: ten sign-ins one after
/// another grew a server by 95 MiB), so memory stays at `concurrency`
/// blocks for good.
#[derive(Debug)]
pub struct PasswordSlots {
    permits: Arc<tokio::sync::Semaphore>,
    wait: std::time::Duration,
    /// Blocks not in use (at most one per slot).
    memory: std::sync::Mutex<Vec<Vec<Block>>>,
}

/// A gauge raised while this lives, lowered when it is dropped (however
/// the future holding it ends).
struct GaugeGuard(metrics::Gauge);

impl GaugeGuard {
    fn new(name: &'static str) -> Self {
        let gauge = metrics::gauge!(name);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// No slot came free within the wait: the caller answers 503 with
/// `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once")]
pub struct Busy;

impl PasswordSlots {
    /// `concurrency` checks at once; a check waits at most `wait` for room.
    pub fn new(concurrency: usize, wait: std::time::Duration) -> Self {
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
            wait,
            memory: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The number of checks the machine runs at once: its cores.
    pub fn machine_size() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// How long a check may wait for room.
    pub fn wait(&self) -> std::time::Duration {
        self.wait
    }

    /// [`verify`] on a blocking thread, once a slot is free.
    ///
    /// The slot is held by the blocking check itself, so that a request
    /// dropped meanwhile (a timeout, a client gone) frees it only when the
    /// check has ended: never more checks at once than slots.
    pub async fn verify(&self, password: Password, stored: String) -> Result<bool, Busy> {
        let waiting = GaugeGuard::new("proofkey_password_hash_waiting");
        let slot = tokio::time::timeout(self.wait, Arc::clone(&self.permits).acquire_owned()).await;
        drop(waiting);
        let Ok(Ok(slot)) = slot else {
            metrics::counter!("proofkey_password_hash_rejected_total").increment(1);
            return Err(Busy);
        };
        self.verify_in_slot(password, stored, slot).await
    }

    /// The check itself, once a slot is held; the slot and the gauge go with
    /// the blocking work.
    async fn verify_in_slot(
        &self,
        password: Password,
        stored: String,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<bool, Busy> {
        let mut memory = self
            .memory
            .lock()
            .ok()
            .and_then(|mut m| m.pop())
            .unwrap_or_default();
        let (ok, memory) = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let _in_progress = GaugeGuard::new("proofkey_password_hash_in_progress");
            let started = std::time::Instant::now();
            let ok = verify_in(&mut memory, &password, &stored);
            metrics::histogram!("proofkey_password_hash_duration_seconds")
                .record(started.elapsed());
            // What it holds derives from the password: cleared for the next.
            memory.fill(Block::default());
            (ok, memory)
        })
        .await
        .map_err(|_| Busy)?;
        if let Ok(mut m) = self.memory.lock() {
            m.push(memory);
        }
        Ok(ok)
    }
}

/// The most memory a stored hash may ask for: 256 MiB (the default is
/// 19 MiB, RFC 9106 §7.4's second recommendation as OWASP sizes it).
const MAX_BLOCKS: u32 = 256 * 1024;

/// [`verify`], working in `memory` (grown to the hash's size if smaller):
/// the PHC string's algorithm, version, parameters and salt, the output
/// compared in constant time.
fn verify_in(memory: &mut Vec<Block>, password: &Password, stored: &str) -> bool {
    let Ok(h) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Some(salt), Some(expected)) =
        (Algorithm::try_from(h.algorithm), h.salt, h.hash)
    else {
        return false;
    };
    let version = match h.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&h) else {
        return false;
    };
    let expected = expected.as_bytes();
    let Ok(params) = Params::new(
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        Some(expected.len()),
    ) else {
        return false;
    };
    if params.m_cost() > MAX_BLOCKS {
        return false;
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt,
            &mut out,
            &mut memory[..],
        )
        .is_ok()
        && bool::from(out.ct_eq(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let pw = |s: &str| Password::new(s);
        let h = hash(&pw("correct horse")).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(&pw("correct horse"), &h));
        assert!(!verify(&pw("wrong"), &h));
        assert!(!verify(&pw("x"), "not a hash"));
        assert!(PasswordHash::new(dummy_hash()).is_ok());
        assert!(!verify(&pw("x"), dummy_hash()));
    }

    /// One slot, held: the next check waits its bound, then is turned away;
    /// once the slot is free, checks run again.
    #[tokio::test]
    async fn checks_past_the_slots_are_turned_away() {
        let slots = PasswordSlots::new(1, std::time::Duration::from_millis(50));
        let held = slots.permits.acquire().await.unwrap();
        let stored = dummy_hash().to_owned();
        assert_eq!(
            slots.verify(Password::new("x"), stored.clone()).await,
            Err(Busy)
        );
        drop(held);
        assert_eq!(slots.verify(Password::new("x"), stored).await, Ok(false));
    }

    /// The slots' own verification agrees with the crate's, on right and
    /// wrong passwords, other parameters and malformed hashes, and reuses
    /// its memory.
    #[tokio::test]
    async fn verification_in_kept_memory_agrees_with_argon2() {
        let slots = PasswordSlots::new(1, std::time::Duration::from_secs(5));
        let h = hash(&Password::new("correct horse")).unwrap();
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"pw", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        for (pw, stored, want) in [
            ("correct horse", h.as_str(), true),
            ("correct horsf", h.as_str(), false),
            ("pw", small.as_str(), true),
            ("px", small.as_str(), false),
            ("pw", argon2i.as_str(), true),
            ("pw", "not a hash", false),
            ("pw", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ", false),
        ] {
            assert_eq!(verify(&Password::new(pw), stored), want, "{stored}");
            let got = slots.verify(Password::new(pw), stored.to_owned()).await;
            assert_eq!(got, Ok(want), "{pw} {stored}");
        }
        let kept = slots.memory.lock().unwrap();
        assert_eq!(kept.len(), 1, "one block set, reused");
        assert!(kept[0].len() >= 19 * 1024);
    }
}
