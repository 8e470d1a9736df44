//! DPoP (RFC 9449): proofs of possession of a key, for sender-constrained
//! OAuth tokens. No I/O, no HTTP types, no storage: the authorization
//! server, the resource server and the client each use what they need.
//!
//! - [`verify`] checks a received proof (RFC 9449 §4.3) and returns its key's
//!   thumbprint, `jti`, `iat` and `nonce`. The replay cache (`jti`) and the
//!   nonce's validity are the caller's: they need storage and a secret.
//! - [`DpopKey`] is a client's key: it makes proofs (§4.2).
//! - [`thumbprint`] is the RFC 7638 JWK SHA-256 thumbprint (`cnf.jkt`,
//!   `dpop_jkt`); [`access_token_hash`] is `ath` (§4.2).

mod jwk;
mod key;
mod proof;

pub use jwk::{thumbprint, JwkError};
pub use key::{DpopKey, KeyError};
pub use proof::{verify, Expect, Proof, ProofError, MAX_PROOF_LEN, SUPPORTED_ALGS};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// `ath` (RFC 9449 §4.2): base64url SHA-256 of the access token's ASCII.
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        access_token.as_bytes(),
    ))
}

/// The header that carries a proof (RFC 9449 §4.1).
pub const HEADER: &str = "DPoP";
/// The header that carries a server's nonce (RFC 9449 §8, §9).
pub const NONCE_HEADER: &str = "DPoP-Nonce";
/// The `typ` of a proof (RFC 9449 §4.2).
pub const TYP: &str = "dpop+jwt";
