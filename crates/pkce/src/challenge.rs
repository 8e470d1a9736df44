//! The `code_challenge` (RFC 7636 §4.2) and its verification (§4.6).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::method::{ChallengePolicy, Method};
use crate::verifier::{self, CodeVerifier, VerifierError};

/// Length of an `S256` challenge: 32 SHA-256 octets, base64url without
/// padding (§4.2, Appendix A).
pub const S256_CHALLENGE_LEN: usize = 43;

/// Why an authorization request's challenge is refused. A server answers
/// each of these with `invalid_request` (§4.4.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// §4.3: without `code_challenge_method` the method is `plain`, which is
    /// not accepted.
    #[error("code_challenge_method is missing, and its default 'plain' is not accepted; send code_challenge_method=S256")]
    MethodMissing,
    /// `plain` offers no protection against a code interceptor who saw the
    /// request (RFC 9700 §2.1.1).
    #[error("code_challenge_method 'plain' is not accepted; use S256")]
    PlainRefused,
    /// §4.3 registers only `S256` and `plain`.
    #[error("code_challenge_method {0:?} is not supported; use S256")]
    UnknownMethod(String),
    /// §4.2: an S256 challenge is the base64url encoding, without padding, of
    /// a 32-octet SHA-256 digest: exactly 43 characters.
    #[error("code_challenge is {len} characters long; an S256 challenge is exactly 43 base64url characters")]
    S256WrongLength {
        /// Length of the rejected challenge.
        len: usize,
    },
    /// §4.2 and Appendix A: base64url without padding, `A-Z a-z 0-9 - _`,
    /// encoding exactly 32 octets.
    #[error("code_challenge is not the base64url encoding of a SHA-256 digest (RFC 7636 §4.2)")]
    S256NotBase64url,
    /// With `plain` the challenge is a verifier and obeys the §4.1 ABNF.
    #[error("plain code_challenge is not a valid code_verifier: {0}")]
    PlainMalformed(VerifierError),
}

#[derive(Clone, PartialEq, Eq)]
enum Inner {
    /// The decoded SHA-256 digest; comparing digests avoids a base64 step per
    /// verification.
    S256([u8; 32]),
    Plain(String),
}

/// A `code_challenge` with its method: what the client sends to the
/// authorization endpoint and what the server stores with the code.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeChallenge(Inner);

impl std::fmt::Debug for CodeChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A plain challenge *is* the verifier; never print it.
        match &self.0 {
            Inner::S256(_) => write!(f, "CodeChallenge(S256, {})", self.as_str()),
            Inner::Plain(_) => f.write_str("CodeChallenge(plain, <redacted>)"),
        }
    }
}

impl CodeChallenge {
    /// The `S256` challenge of `verifier` (§4.2):
    /// `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`.
    pub fn s256(verifier: &CodeVerifier) -> Self {
        CodeChallenge(Inner::S256(digest(verifier.secret())))
    }

    /// Parses `code_challenge` as sent with `method` (§4.2). Format only; the
    /// method has been chosen already (see [`Method::from_request`]), so this
    /// is also how a server reloads a challenge it stored.
    pub fn parse(value: &str, method: Method) -> Result<Self, ChallengeError> {
        match method {
            Method::S256 => {
                if value.len() != S256_CHALLENGE_LEN {
                    return Err(ChallengeError::S256WrongLength { len: value.len() });
                }
                // The engine refuses padding and non-canonical trailing bits,
                // so exactly one string encodes each digest.
                let mut out = [0u8; 32];
                match URL_SAFE_NO_PAD.decode_slice(value, &mut out) {
                    Ok(32) => Ok(CodeChallenge(Inner::S256(out))),
                    _ => Err(ChallengeError::S256NotBase64url),
                }
            }
            Method::Plain => {
                verifier::validate(value).map_err(ChallengeError::PlainMalformed)?;
                Ok(CodeChallenge(Inner::Plain(value.to_owned())))
            }
        }
    }

    /// The authorization server's whole check of an authorization request's
    /// `code_challenge` and `code_challenge_method` (§4.3, §4.4.1) under
    /// `policy`. A missing `code_challenge` is the caller's concern: a server
    /// that requires PKCE answers it with `invalid_request`.
    pub fn from_request(
        value: &str,
        method: Option<&str>,
        policy: &ChallengePolicy,
    ) -> Result<Self, ChallengeError> {
        let method = Method::from_request(method, policy)?;
        Self::parse(value, method)
    }

    /// The method of this challenge.
    pub fn method(&self) -> Method {
        match self.0 {
            Inner::S256(_) => Method::S256,
            Inner::Plain(_) => Method::Plain,
        }
    }

    /// The challenge as sent on the wire in `code_challenge`.
    pub fn as_str(&self) -> String {
        match &self.0 {
            Inner::S256(d) => URL_SAFE_NO_PAD.encode(d),
            Inner::Plain(p) => p.clone(),
        }
    }

    /// §4.6: does `verifier` match this challenge? The comparison runs in
    /// constant time, so a timing observer learns nothing about how much of
    /// a guess was right.
    #[must_use]
    pub fn verify(&self, verifier: &CodeVerifier) -> bool {
        match &self.0 {
            Inner::S256(expected) => digest(verifier.secret()).ct_eq(expected).into(),
            Inner::Plain(expected) => verifier
                .secret()
                .as_bytes()
                .ct_eq(expected.as_bytes())
                .into(),
        }
    }
}

fn digest(verifier: &str) -> [u8; 32] {
    Sha256::digest(verifier.as_bytes()).into()
}
