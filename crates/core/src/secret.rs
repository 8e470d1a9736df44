//! Random identifiers and the hashes under which secrets are stored.
//!
//! Codes, tokens and session ids are 256-bit random values: a plain SHA-256
//! is a sufficient one-way storage form (no dictionary to attack). Client
//! secrets are also generated with 256 bits, and stored as HMAC-SHA-256 under
//! a per-installation key, so a leaked table cannot be matched against
//! secrets of another installation. Passwords, the only low-entropy secrets,
//! use argon2id ([`crate::password`]).

use aws_lc_rs::{digest, hmac};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use subtle::ConstantTimeEq;

/// `bytes` random octets from the OS CSPRNG, base64url without padding.
pub fn random_token(bytes: usize) -> Result<String, getrandom::Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// A unique identifier that sorts by creation time: 13 hexadecimal digits
/// of the wall clock's microseconds, then `random_bytes` random octets
/// (base64url). Used for access-token `jti`s (RFC 9068 §2.2, RFC 7519
/// §4.1.7), which are unique, not secret, and stored under a B-tree key:
/// ids made one after another land on the same few pages, where random ids
/// would dirty a page of the index each (docs/performance.md).
///
/// The time part is a placement hint only, never read back, so it comes
/// from the system clock rather than the provider's injected clock; a clock
/// stepping back costs locality, never uniqueness (the random part
/// carries that: 80 bits for 10 octets).
pub fn time_ordered_id(random_bytes: usize) -> Result<String, getrandom::Error> {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    Ok(format!("{micros:013x}{}", random_token(random_bytes)?))
}

/// The storage form of a high-entropy bearer value (code, token, session id).
pub fn hash_token(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// HMAC-SHA-256 keyed hash of a client secret.
#[derive(Clone)]
pub struct SecretHasher(hmac::Key);

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHasher(<redacted>)")
    }
}

impl SecretHasher {
    /// A hasher keyed with `key` (at least 32 bytes).
    pub fn new(key: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    /// The stored form of `secret`.
    pub fn hash(&self, secret: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.0, secret.as_bytes()))
    }

    /// Whether `secret` matches `stored`, in constant time.
    pub fn verify(&self, secret: &str, stored: &str) -> bool {
        self.hash(secret).as_bytes().ct_eq(stored.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_256_bits() {
        let a = random_token(32).unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32).unwrap());
    }

    #[test]
    fn time_ordered_ids_sort_by_creation_and_stay_unique() {
        let ids: Vec<String> = (0..200).map(|_| time_ordered_id(10).unwrap()).collect();
        for pair in ids.windows(2) {
            assert_ne!(pair[0], pair[1]);
            // The clock part never goes back between two calls (a tie is
            // possible within one microsecond).
            assert!(
                pair[0][..13] <= pair[1][..13],
                "{} then {}",
                pair[0],
                pair[1]
            );
        }
        assert_eq!(ids[0].len(), 13 + 14);
    }

    #[test]
    fn keyed_hash_depends_on_the_key() {
        let a = SecretHasher::new(&[1; 32]);
        let b = SecretHasher::new(&[2; 32]);
        assert_ne!(a.hash("s"), b.hash("s"));
        assert!(a.verify("s", &a.hash("s")));
        assert!(!a.verify("t", &a.hash("s")));
    }
}
