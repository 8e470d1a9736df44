//! The introspection client's secret (house rule 12): redacted `Debug`, no
//! `Display`, no `Clone`, zeroed on drop.

use std::fmt;

use zeroize::Zeroizing;

/// A client secret, used only to authenticate to the introspection
/// endpoint (RFC 7662 §2.1, `client_secret_basic`).
///
/// It cannot be printed or cloned; [`ClientSecret::secret`] is the only way
/// to the value, and its memory is zeroed when it is dropped. (The
/// `Authorization` header built from it for each request is marked
/// sensitive, but lives in the HTTP client's buffers, which this crate does
/// not zero.)
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The secret itself.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_value() {
        let s = ClientSecret::new("hunter2");
        assert_eq!(format!("{s:?}"), "ClientSecret([redacted])");
        assert_eq!(s.secret(), "hunter2");
    }
}
