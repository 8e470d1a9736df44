//! The `code_verifier` (RFC 7636 §4.1).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use zeroize::Zeroizing;

/// Shortest verifier allowed by §4.1 (`43*128unreserved`).
pub const MIN_VERIFIER_LEN: usize = 43;
/// Longest verifier allowed by §4.1.
pub const MAX_VERIFIER_LEN: usize = 128;
/// Random octets in a default verifier: §4.1 recommends 32, which encode to
/// 43 base64url characters.
pub const DEFAULT_ENTROPY_BYTES: usize = 32;
/// Fewest random octets [`CodeVerifier::generate_with_entropy`] accepts (43 characters).
pub const MIN_ENTROPY_BYTES: usize = 32;
/// Most random octets [`CodeVerifier::generate_with_entropy`] accepts (128 characters).
pub const MAX_ENTROPY_BYTES: usize = 96;

/// Why a string or a byte count cannot make a `code_verifier`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifierError {
    /// §4.1: `code-verifier = 43*128unreserved`.
    #[error("code_verifier is {len} characters long; RFC 7636 §4.1 requires at least 43")]
    TooShort {
        /// Length of the rejected input, in bytes.
        len: usize,
    },
    /// §4.1: `code-verifier = 43*128unreserved`.
    #[error("code_verifier is {len} characters long; RFC 7636 §4.1 allows at most 128")]
    TooLong {
        /// Length of the rejected input, in bytes.
        len: usize,
    },
    /// §4.1: `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`.
    #[error(
        "code_verifier has a forbidden character {found:?} at position {position}; RFC 7636 §4.1 allows only A-Z a-z 0-9 - . _ ~"
    )]
    ForbiddenCharacter {
        /// The first character that is not `unreserved`.
        found: char,
        /// Its index in characters, counting from 0.
        position: usize,
    },
    /// The entropy asked of [`CodeVerifier::generate_with_entropy`] or
    /// [`CodeVerifier::from_entropy`] is outside 32 to 96 octets.
    #[error("a code_verifier is made of 32 to 96 random bytes, not {0}")]
    EntropyOutOfRange(usize),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Rng(String),
}

/// A PKCE `code_verifier`: the client's one-time secret (RFC 7636 §4.1).
///
/// It is deliberately awkward to leak: there is no `Clone` (a verifier is
/// used for exactly one authorization request), no `Display`, `Debug` prints
/// `CodeVerifier(<redacted>)`, and the memory is zeroed on drop. Read the
/// secret through [`CodeVerifier::secret`] when it must go on the wire.
pub struct CodeVerifier(Zeroizing<String>);

impl CodeVerifier {
    /// A fresh verifier of 32 random octets from the OS CSPRNG, base64url
    /// encoded without padding to 43 characters (§4.1, §7.1).
    ///
    /// # Panics
    /// Only if the operating system cannot provide random bytes at all, which
    /// leaves nothing safe to do; use [`CodeVerifier::try_generate`] to handle it.
    #[allow(clippy::expect_used)]
    pub fn generate() -> Self {
        Self::try_generate(DEFAULT_ENTROPY_BYTES)
            .expect("the operating system's random number generator failed")
    }

    /// A fresh verifier of `bytes` random octets (32 to 96) from the OS
    /// CSPRNG: 43 to 128 characters.
    pub fn generate_with_entropy(bytes: usize) -> Result<Self, VerifierError> {
        Self::try_generate(bytes)
    }

    /// Like [`CodeVerifier::generate_with_entropy`], the fallible form of
    /// [`CodeVerifier::generate`].
    pub fn try_generate(bytes: usize) -> Result<Self, VerifierError> {
        check_entropy(bytes)?;
        let mut buf = Zeroizing::new(vec![0u8; bytes]);
        getrandom::fill(&mut buf).map_err(|e| VerifierError::Rng(e.to_string()))?;
        Self::from_entropy(&buf)
    }

    /// A verifier made from caller-supplied random octets (32 to 96), for
    /// callers that bring their own CSPRNG. The octets must be uniformly random
    /// and used once.
    pub fn from_entropy(random: &[u8]) -> Result<Self, VerifierError> {
        check_entropy(random.len())?;
        Ok(Self(Zeroizing::new(URL_SAFE_NO_PAD.encode(random))))
    }

    /// Parses a verifier received from elsewhere (a token request, a command
    /// line), enforcing the §4.1 ABNF: 43 to 128 characters of
    /// `A-Z a-z 0-9 - . _ ~`. The error names the rule that failed.
    pub fn parse(s: &str) -> Result<Self, VerifierError> {
        validate(s)?;
        Ok(Self(Zeroizing::new(s.to_owned())))
    }

    /// The secret itself, to put in a token request. Named so that a reader
    /// sees where the secret leaves its wrapper.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier(<redacted>)")
    }
}

impl std::str::FromStr for CodeVerifier {
    type Err = VerifierError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn check_entropy(bytes: usize) -> Result<(), VerifierError> {
    if (MIN_ENTROPY_BYTES..=MAX_ENTROPY_BYTES).contains(&bytes) {
        Ok(())
    } else {
        Err(VerifierError::EntropyOutOfRange(bytes))
    }
}

/// `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"` (RFC 3986 §2.3, used
/// by RFC 7636 §4.1).
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The §4.1 ABNF check. Characters are checked before length so that a
/// non-ASCII input is reported for what it is rather than as a wrong length.
pub(crate) fn validate(s: &str) -> Result<(), VerifierError> {
    if let Some((position, found)) = s
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii() || !is_unreserved(*c as u8))
    {
        return Err(VerifierError::ForbiddenCharacter { found, position });
    }
    match s.len() {
        len if len < MIN_VERIFIER_LEN => Err(VerifierError::TooShort { len }),
        len if len > MAX_VERIFIER_LEN => Err(VerifierError::TooLong { len }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let v = CodeVerifier::generate();
        let shown = format!("{v:?}");
        assert_eq!(shown, "CodeVerifier(<redacted>)");
        assert!(!shown.contains(v.secret()));
    }

    #[test]
    fn default_verifier_is_43_characters_and_valid() {
        let v = CodeVerifier::generate();
        assert_eq!(v.secret().len(), 43);
        assert!(validate(v.secret()).is_ok());
    }

    #[test]
    fn two_generated_verifiers_differ() {
        assert_ne!(
            CodeVerifier::generate().secret(),
            CodeVerifier::generate().secret()
        );
    }

    #[test]
    fn entropy_bounds_map_to_length_bounds() {
        assert_eq!(
            CodeVerifier::generate_with_entropy(32)
                .unwrap()
                .secret()
                .len(),
            43
        );
        assert_eq!(
            CodeVerifier::generate_with_entropy(96)
                .unwrap()
                .secret()
                .len(),
            128
        );
        assert_eq!(
            CodeVerifier::generate_with_entropy(31).unwrap_err(),
            VerifierError::EntropyOutOfRange(31)
        );
        assert_eq!(
            CodeVerifier::generate_with_entropy(97).unwrap_err(),
            VerifierError::EntropyOutOfRange(97)
        );
    }
}
