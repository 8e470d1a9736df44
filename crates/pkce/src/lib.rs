//! RFC 7636 (Proof Key for Code Exchange) primitives, usable on their own by
//! any OAuth client or authorization server.
//!
//! * [`CodeVerifier`]: the client's one-time secret (§4.1), generated from the
//!   operating system's CSPRNG or parsed with the §4.1 ABNF check.
//! * [`CodeChallenge`] and [`Method`]: the value sent to the authorization
//!   endpoint (§4.2, §4.3). `S256` is the only method accepted by default;
//!   `plain` is recognised only so that it can be refused precisely, unless a
//!   server opts in with [`ChallengePolicy::allow_insecure_plain`].
//! * [`CodeChallenge::verify`]: the server's check at the token endpoint
//!   (§4.6), in constant time.
//!
//! ```
//! use proofkey_pkce::{CodeChallenge, CodeVerifier};
//!
//! // Client side: a fresh verifier and the challenge to send with /authorize.
//! let verifier = CodeVerifier::generate();
//! let challenge = CodeChallenge::s256(&verifier);
//! assert_eq!(challenge.method().as_str(), "S256");
//!
//! // Server side: the stored challenge against the verifier sent to /token.
//! let presented = CodeVerifier::parse(verifier.secret()).unwrap();
//! assert!(challenge.verify(&presented));
//! ```
//!
//! **Invariant:** this crate does no I/O beyond asking the OS for random bytes.

mod challenge;
mod method;
mod verifier;

pub use challenge::{ChallengeError, CodeChallenge, S256_CHALLENGE_LEN};
pub use method::{ChallengePolicy, Method};
pub use verifier::{
    CodeVerifier, VerifierError, DEFAULT_ENTROPY_BYTES, MAX_ENTROPY_BYTES, MAX_VERIFIER_LEN,
    MIN_ENTROPY_BYTES, MIN_VERIFIER_LEN,
};
