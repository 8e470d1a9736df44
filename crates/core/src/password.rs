//! Password hashing with argon2id (RFC 9106), for users only.
//!
//! Hashing is deliberately slow (tens of milliseconds): callers on an async
//! runtime run it on a blocking thread.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

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
}
