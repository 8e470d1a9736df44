//! DPoP at this server (RFC 9449): the proofs that come with token requests
//! (§5) and UserInfo requests (§7), their replay cache (§11.1), the
//! server's nonces (§8), and the key a token is then bound to (§6).
//!
//! The proof's own checks (§4.3) are `proofkey_dpop::verify`'s; here is
//! what needs the server: its clock, its policy, its store and its secret.
//!
//! **Invariant:** a proof is accepted once. Its `jti` is recorded, with its
//! `iat` and its key's thumbprint, in the store shared by every node, until
//! its `iat` leaves the accepted window; a second presentation, on any
//! node, finds it there.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use proofkey_dpop::{Expect, Proof};

use crate::config::DpopPolicy;
use crate::error::{ErrorCode, OAuthError};
use crate::Provider;

pub use proofkey_dpop::SUPPORTED_ALGS;

/// The server's DPoP nonces (RFC 9449 §8): stateless, so every node
/// issues and accepts the same ones. A nonce is the number of the period
/// it was made in and an HMAC of it under a per-installation key (kept in
/// the store, like the client secret key); the current and the previous
/// period's nonces are accepted.
pub struct Nonces {
    key: hmac::Key,
    period: i64,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

impl Nonces {
    /// Nonces under `secret`, changing every `period` seconds.
    pub fn new(secret: &[u8], period: i64) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            period: period.max(1),
        }
    }

    fn of_period(&self, n: i64) -> String {
        let n = n.to_be_bytes();
        let tag = hmac::sign(&self.key, &n);
        let mut raw = n.to_vec();
        raw.extend_from_slice(&tag.as_ref()[..16]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The nonce to send at `now` (in `DPoP-Nonce`).
    pub fn current(&self, now: i64) -> String {
        self.of_period(now.div_euclid(self.period))
    }

    /// Whether `nonce` is this period's, the previous one's, or the next
    /// one's (made by a node whose clock is a little ahead).
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        let n = now.div_euclid(self.period);
        [n, n - 1, n + 1].iter().any(|p| {
            aws_lc_rs::constant_time::verify_slices_are_equal(
                self.of_period(*p).as_bytes(),
                nonce.as_bytes(),
            )
            .is_ok()
        })
    }
}

/// The values of a request's `DPoP` header, as received. Its `Debug`
/// shows how many, not the proofs: an unused proof is good for a minute.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProofHeaders(pub Vec<String>);

impl std::fmt::Debug for ProofHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProofHeaders({} <redacted>)", self.0.len())
    }
}

/// How far apart the nodes' clocks may be, for the replay cache.
pub const CLOCK_SKEW: i64 = 60;

/// `invalid_dpop_proof` with this description.
pub fn invalid_proof(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, description)
}

/// Checks the `DPoP` header values of a request to this server (RFC 9449
/// §4.3), for a request of method `htm` to this server's endpoint at
/// `path` (a [`crate::discovery::paths`] constant: `htu` is built from the
/// issuer, never from the request's `Host`), with the access
/// token it carries if any (`ath`). No header: `None`. Otherwise the
/// proof, once it passed every check: exactly one header (check 1), the
/// proof's own checks, the server's nonce when the policy demands one
/// (`use_dpop_nonce`, §8), and a `jti` never seen before (§11.1).
pub async fn check(
    p: &Provider,
    headers: &[String],
    htm: &str,
    path: &str,
    access_token: Option<&str>,
) -> Result<Option<Proof>, OAuthError> {
    let proof = match headers {
        [] => return Ok(None),
        [one] => one,
        _ => {
            return Err(invalid_proof(
                "send exactly one DPoP header (RFC 9449 §4.3)",
            ))
        }
    };
    let htu = p.endpoint(path);
    let policy: DpopPolicy = p.config().dpop;
    let now = p.now();
    let max_age = policy.proof_max_age.as_secs() as i64;
    let proof = proofkey_dpop::verify(
        proof,
        &Expect {
            htm,
            htu: &htu,
            algs: SUPPORTED_ALGS,
            now,
            max_age,
            leeway: DpopPolicy::LEEWAY,
            access_token,
        },
    )
    .map_err(|e| invalid_proof(e.to_string()))?;
    if policy.nonce
        && !proof
            .nonce
            .as_deref()
            .is_some_and(|n| p.dpop_nonces().accepts(n, now))
    {
        return Err(OAuthError::new(
            ErrorCode::UseDpopNonce,
            "the DPoP proof must carry the nonce sent in the DPoP-Nonce header (RFC 9449 §8)",
        ));
    }
    // Kept a minute past the window this node accepts, so that a node
    // whose clock runs behind (and still accepts the proof) finds it.
    let remember_until = proof.iat + max_age + DpopPolicy::LEEWAY + CLOCK_SKEW;
    // Keyed by the proof's `iat` first (13 hex digits, like codes and
    // tokens: the rows of this second share the B-tree's last pages, not
    // random ones), then its key and `jti`. A replay is the same proof, so
    // the same `iat`: it finds its row.
    let scope = format!("dpop:{:013x}", proof.iat.max(0));
    let jti = format!("{}:{}", proof.jkt, proof.jti);
    if !p.store().record_jti(&scope, &jti, remember_until).await? {
        return Err(invalid_proof(
            "the DPoP proof has been used before (its jti was seen)",
        ));
    }
    Ok(Some(proof))
}

/// The `cnf` claim of a token bound to the key with thumbprint `jkt`
/// (RFC 9449 §6.1).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Confirmation<'a> {
    /// The JWK SHA-256 thumbprint.
    pub jkt: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_last_two_periods_and_are_keyed() {
        let n = Nonces::new(b"k", 300);
        let first = n.current(1_000_000);
        assert!(n.accepts(&first, 1_000_000));
        assert!(n.accepts(&first, 1_000_000 + 300));
        assert!(!n.accepts(&first, 1_000_000 + 600));
        assert!(n.accepts(&first, 1_000_000 - 300), "a node a little behind");
        assert!(!n.accepts(&first, 1_000_000 - 600));
        assert!(!Nonces::new(b"other", 300).accepts(&first, 1_000_000));
        assert!(!n.accepts("", 1_000_000));
        assert!(!n.accepts(&"A".repeat(10_000), 1_000_000));
    }
}
