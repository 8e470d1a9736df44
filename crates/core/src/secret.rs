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
use zeroize::Zeroizing;

/// Declares a secret as a type (oauth2-rs's `new_secret_type!`): the value
/// is zeroed when dropped, `Debug` shows only the type's name, there is no
/// `Display` and no `Clone`, and [`expose`](ClientSecret::expose) is the
/// one way to the value, so that a log line or a `{:?}` cannot leak it.
macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Wraps a value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(Zeroizing::new(value.into()))
            }

            /// The value itself: for the wire and for hashing only.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_type!(
    /// A client secret (RFC 6749 §2.3.1), as presented or as generated.
    ClientSecret
);
secret_type!(
    /// The value of an `Authorization` request header, which carries
    /// client credentials (RFC 6749 §2.3.1).
    Credentials
);
secret_type!(
    /// A user's password, as typed (hashed with argon2id, never stored).
    Password
);
secret_type!(
    /// An authorization code (RFC 6749 §4.1.2), as issued: a
    /// [`time_ordered_token`]. (Its stored record is
    /// [`crate::model::AuthorizationCode`].)
    Code
);
secret_type!(
    /// A refresh token (RFC 6749 §1.5), as issued: a [`time_ordered_token`].
    /// It serializes as its value, for the token response.
    RefreshToken
);

impl Code {
    /// A fresh code.
    pub fn generate() -> Result<Self, getrandom::Error> {
        time_ordered_token().map(Self::new)
    }

    /// Its storage form ([`hash_token`]).
    pub fn hash(&self) -> String {
        hash_token(self.expose())
    }
}

impl RefreshToken {
    /// A fresh refresh token.
    pub fn generate() -> Result<Self, getrandom::Error> {
        time_ordered_token().map(Self::new)
    }

    /// Its storage form ([`hash_token`]).
    pub fn hash(&self) -> String {
        hash_token(self.expose())
    }
}

impl serde::Serialize for RefreshToken {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

/// A PKCS#8 private key (DER), zeroed when dropped, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKeyDer(Zeroizing<Vec<u8>>);

impl PrivateKeyDer {
    /// Wraps DER bytes.
    pub fn new(der: Vec<u8>) -> Self {
        Self(Zeroizing::new(der))
    }

    /// The DER bytes: to parse the key or to store it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for PrivateKeyDer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKeyDer(<redacted>)")
    }
}

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
    Ok(format!(
        "{micros:0w$x}{}",
        random_token(random_bytes)?,
        w = TIME_PART
    ))
}

/// Length of the clock part of [`time_ordered_id`] and
/// [`time_ordered_token`].
const TIME_PART: usize = 13;

/// Length of a [`time_ordered_token`]: the clock part and 256 random bits.
const TIME_ORDERED_TOKEN_LEN: usize = TIME_PART + 43;

/// A bearer secret (authorization code, refresh token) of 256 random bits,
/// behind the same clock part as [`time_ordered_id`], 56 characters in
/// all. [`hash_token`] keeps the clock part in front of the hash, so the
/// stored rows of tokens made one after another sit together in the
/// B-tree: inserting a code and consuming it moments later touch the index's
/// last pages, which one commit shares among many requests, where a random
/// key dirtied a page of its own twice per flow (docs/performance.md).
///
/// The clock part is no secret (it says when the token was issued, as a
/// JWT's `iat` would) and adds nothing to the token's strength, which is
/// the 256 random bits.
pub fn time_ordered_token() -> Result<String, getrandom::Error> {
    time_ordered_id(32)
}

/// The storage form of a high-entropy bearer value (code, token, session
/// id): its SHA-256, base64url. For a [`time_ordered_token`], the clock part
/// stays in front: 13 hexadecimal digits, then the SHA-256 of the whole
/// token. Tokens of any other shape (older 43-character codes and refresh
/// tokens, session ids, device codes) are hashed whole, so tokens issued
/// before time-ordered ones existed still match their rows.
pub fn hash_token(token: &str) -> String {
    let hash = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()));
    match time_part(token) {
        Some(time) => format!("{time}{hash}"),
        None => hash,
    }
}

/// The clock part of a [`time_ordered_token`]-shaped value.
fn time_part(token: &str) -> Option<&str> {
    if token.len() != TIME_ORDERED_TOKEN_LEN {
        return None;
    }
    token
        .get(..TIME_PART)
        .filter(|t| t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
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
    pub fn hash(&self, secret: &ClientSecret) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.0, secret.expose().as_bytes()))
    }

    /// Whether `secret` matches `stored`, in constant time.
    pub fn verify(&self, secret: &ClientSecret, stored: &str) -> bool {
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
    fn time_ordered_tokens_keep_their_clock_part_in_front_of_the_hash() {
        let a = time_ordered_token().unwrap();
        let b = time_ordered_token().unwrap();
        assert_eq!(a.len(), 56);
        let (ha, hb) = (hash_token(&a), hash_token(&b));
        assert_eq!(&ha[..13], &a[..13]);
        assert!(ha[..13] <= hb[..13]);
        // The rest is the SHA-256 of the whole token, not of its random part.
        assert_eq!(
            &ha[13..],
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, a.as_bytes()))
        );
        assert_ne!(ha, hb);
        // A change anywhere in the token changes its stored form.
        let mut altered = a.clone().into_bytes();
        altered[55] = if altered[55] == b'A' { b'B' } else { b'A' };
        assert_ne!(hash_token(std::str::from_utf8(&altered).unwrap()), ha);
    }

    #[test]
    fn other_tokens_are_hashed_whole() {
        // A 43-character token issued before time-ordered ones existed, one
        // of 56 characters whose start is not a clock part, and one with a
        // multi-byte character where the clock part would end.
        let old = random_token(32).unwrap();
        assert_eq!(hash_token(&old).len(), 43);
        let not_hex = format!("{}{}", "g".repeat(13), random_token(32).unwrap());
        assert_eq!(hash_token(&not_hex).len(), 43);
        let multibyte = format!("{}é{}", "0".repeat(12), "a".repeat(42));
        assert_eq!(multibyte.len(), 56);
        assert_eq!(hash_token(&multibyte).len(), 43);
    }

    #[test]
    fn keyed_hash_depends_on_the_key() {
        let a = SecretHasher::new(&[1; 32]);
        let b = SecretHasher::new(&[2; 32]);
        let s = ClientSecret::new("s");
        assert_ne!(a.hash(&s), b.hash(&s));
        assert!(a.verify(&s, &a.hash(&s)));
        assert!(!a.verify(&ClientSecret::new("t"), &a.hash(&s)));
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let code = Code::generate().unwrap();
        let refresh = RefreshToken::generate().unwrap();
        let shown = format!(
            "{code:?} {refresh:?} {:?} {:?} {:?}",
            ClientSecret::new("hunter2"),
            Password::new("hunter2"),
            PrivateKeyDer::new(b"hunter2".to_vec())
        );
        assert!(!shown.contains(code.expose()), "{shown}");
        assert!(!shown.contains(refresh.expose()), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(code.hash(), hash_token(code.expose()));
        assert_eq!(
            serde_json::to_string(&refresh).unwrap(),
            format!("\"{}\"", refresh.expose())
        );
    }
}
