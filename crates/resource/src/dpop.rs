//! RFC 9449 §7: DPoP-bound access tokens at the resource.
//!
//! A request with `Authorization: DPoP <token>` must carry exactly one
//! `DPoP` header (§4.3 check 1) holding a proof that passes §4.3's checks
//! for *this* request (`htm` its method, `htu` its URL, `ath` the token's
//! hash, `iat` recent); the token must be bound to the proof's key
//! (`cnf.jkt`, §6.1 and §7.1); and the proof must not have been accepted
//! before (§11.1, [`crate::replay`], where each key may hold a bounded
//! share of the cache). The proof's own checks are
//! `proofkey_dpop::verify`'s; this module supplies what they compare
//! against and does what needs state.
//!
//! Resource-server nonces (§9) are not demanded, so the `nonce` claim of
//! a proof is not looked at.

use axum::http::{HeaderMap, HeaderName, Method, Uri};
use proofkey_dpop::{Expect, Proof, MAX_PROOF_LEN};

use crate::claims::AccessClaims;
use crate::error::{AuthError, InvalidDpopProof, InvalidToken};
use crate::replay::{NotRemembered, ReplayCache};

/// `proofkey_dpop::HEADER`, as a header name (they are lower case).
const DPOP: HeaderName = HeaderName::from_static("dpop");

/// The DPoP settings of a resource server, and its replay cache.
#[derive(Debug)]
pub(crate) struct Dpop {
    /// The origin (scheme, host, port) of the resource identifier: the
    /// public origin of this API.
    origin: String,
    /// The proof algorithms accepted (a subset of
    /// `proofkey_dpop::SUPPORTED_ALGS`).
    algs: Vec<&'static str>,
    /// How old a proof may be, in seconds.
    max_age: u64,
    /// How far in the future a proof's `iat` may be (clock skew).
    leeway: u64,
    replay: ReplayCache,
}

impl Dpop {
    pub(crate) fn new(
        origin: String,
        algs: Vec<&'static str>,
        max_age: u64,
        leeway: u64,
        replay_capacity: usize,
        replay_key_quota: usize,
    ) -> Self {
        Self {
            origin,
            algs,
            max_age,
            leeway,
            replay: ReplayCache::new(replay_capacity, replay_key_quota),
        }
    }

    /// The accepted algorithms: the challenges' `algs` (RFC 9449 §7.1)
    /// and the metadata's `dpop_signing_alg_values_supported`.
    pub(crate) fn algs(&self) -> &[&'static str] {
        &self.algs
    }

    /// The request's proof, checked (RFC 9449 §4.3 checks 1 to 9, 11 but
    /// the replay cache, and 12's `ath` against `token`).
    pub(crate) fn proof(
        &self,
        headers: &HeaderMap,
        method: &Method,
        uri: &Uri,
        token: &str,
        now: u64,
    ) -> Result<Proof, InvalidDpopProof> {
        let proof = one_proof(headers)?;
        let htu = self.htu(uri)?;
        let secs = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let expect = Expect {
            htm: method.as_str(),
            htu: &htu,
            algs: &self.algs,
            now: secs(now),
            max_age: secs(self.max_age),
            leeway: secs(self.leeway),
            access_token: Some(token),
        };
        Ok(proofkey_dpop::verify(proof, &expect)?)
    }

    /// RFC 9449 §4.3 check 9: the `htu` a proof for this request must
    /// carry.
    ///
    /// It is built from the **configured** resource identifier's origin
    /// (scheme, host and port, exactly as the RFC 9728 `resource_metadata`
    /// URL is) and the request's path, never from the `Host` header: that
    /// header is the client's to choose, and behind a reverse proxy or a
    /// TLS terminator it is not the URL the client used anyway. The API
    /// must therefore be reachable at the resource identifier's origin,
    /// with the paths clients use (a proxy that adds or strips a path
    /// prefix makes every proof fail). The query is ignored (§4.3), and
    /// both sides are normalised before they are compared.
    fn htu(&self, uri: &Uri) -> Result<String, InvalidDpopProof> {
        let path = uri.path();
        if !path.starts_with('/') {
            // `*` (OPTIONS *) has no URL a proof could name.
            return Err(InvalidDpopProof::WrongUrl);
        }
        Ok(format!("{}{path}", self.origin))
    }

    /// RFC 9449 §11.1: remembers the proof's `jti` (with its key) until it
    /// is too old to be accepted anyway, or refuses it as a replay; 429
    /// when its key already holds its quota of the cache, 503 when the
    /// cache is full of live entries.
    pub(crate) fn remember(&self, proof: &Proof, now: u64) -> Result<(), AuthError> {
        let iat = u64::try_from(proof.iat).unwrap_or(0);
        let expires = iat.saturating_add(self.max_age).saturating_add(self.leeway);
        match self.replay.remember(&proof.jkt, &proof.jti, expires, now) {
            Ok(()) => Ok(()),
            Err(NotRemembered::Replayed) => Err(InvalidDpopProof::Replayed.into()),
            Err(NotRemembered::OverQuota { retry_after }) => {
                // The thumbprint is public (it is in the token's `cnf`):
                // it tells the operator which client to look at.
                tracing::warn!(
                    jkt = %proof.jkt,
                    retry_after,
                    "DPoP key over its replay cache quota: its proofs refused until \
                     its entries expire (raise dpop_replay_key_quota?)"
                );
                Err(AuthError::DpopKeyQuotaExceeded { retry_after })
            }
            Err(NotRemembered::Full { retry_after }) => {
                tracing::warn!(
                    retry_after,
                    "DPoP replay cache full: proofs refused until entries expire \
                     (raise dpop_replay_capacity?)"
                );
                Err(AuthError::ReplayCacheFull { retry_after })
            }
        }
    }
}

/// RFC 9449 §4.3 check 1: exactly one `DPoP` header, of a bounded length.
fn one_proof(headers: &HeaderMap) -> Result<&str, InvalidDpopProof> {
    let mut values = headers.get_all(DPOP).iter();
    let Some(value) = values.next() else {
        return Err(InvalidDpopProof::Missing);
    };
    if values.next().is_some() {
        return Err(InvalidDpopProof::MultipleHeaders);
    }
    if value.len() > MAX_PROOF_LEN {
        return Err(InvalidDpopProof::TooLong);
    }
    value.to_str().map_err(|_| InvalidDpopProof::Malformed)
}

/// RFC 9449 §7.1, §6: the token must be bound (`cnf.jkt`) to the proof's
/// key. Thumbprints are public values, compared plainly.
pub(crate) fn check_binding(claims: &AccessClaims, proof: &Proof) -> Result<(), InvalidToken> {
    match &claims.dpop_jkt {
        None => Err(InvalidToken::NotDpopBound),
        Some(jkt) if *jkt == proof.jkt => Ok(()),
        Some(_) => Err(InvalidToken::DpopKeyMismatch),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    fn dpop() -> Dpop {
        Dpop::new("https://api.example".into(), vec!["ES256"], 60, 10, 10, 2)
    }

    #[test]
    fn htu_is_the_configured_origin_and_the_request_path() {
        let d = dpop();
        let uri: Uri = "/mcp/x?q=1".parse().unwrap();
        assert_eq!(d.htu(&uri).unwrap(), "https://api.example/mcp/x");
        // An absolute-form request target names a host: it is not used.
        let uri: Uri = "http://evil.example:8080/mcp".parse().unwrap();
        assert_eq!(d.htu(&uri).unwrap(), "https://api.example/mcp");
        let uri: Uri = "*".parse().unwrap();
        assert_eq!(d.htu(&uri), Err(InvalidDpopProof::WrongUrl));
    }

    #[test]
    fn exactly_one_bounded_dpop_header() {
        let mut h = HeaderMap::new();
        assert_eq!(one_proof(&h), Err(InvalidDpopProof::Missing));
        h.append("DPoP", HeaderValue::from_static("a.b.c"));
        assert_eq!(one_proof(&h), Ok("a.b.c"));
        h.append("dpop", HeaderValue::from_static("a.b.c"));
        assert_eq!(one_proof(&h), Err(InvalidDpopProof::MultipleHeaders));
        let mut h = HeaderMap::new();
        let long = "a".repeat(MAX_PROOF_LEN + 1);
        h.insert(DPOP, HeaderValue::from_str(&long).unwrap());
        assert_eq!(one_proof(&h), Err(InvalidDpopProof::TooLong));
    }

    #[test]
    fn a_proof_made_for_the_request_passes() {
        let d = dpop();
        let key = proofkey_dpop::DpopKey::generate().unwrap();
        let now = 1_700_000_000;
        let proof = key
            .proof("GET", "https://api.example/mcp", Some("tok"), None, now)
            .unwrap();
        let mut h = HeaderMap::new();
        h.insert(DPOP, HeaderValue::from_str(&proof).unwrap());
        let uri: Uri = "/mcp".parse().unwrap();
        let p = d.proof(&h, &Method::GET, &uri, "tok", now as u64).unwrap();
        assert_eq!(p.jkt, key.thumbprint());
        assert_eq!(
            d.proof(&h, &Method::POST, &uri, "tok", now as u64),
            Err(InvalidDpopProof::WrongMethod)
        );
        assert_eq!(
            d.proof(&h, &Method::GET, &uri, "other", now as u64),
            Err(InvalidDpopProof::TokenHashMismatch)
        );
        assert_eq!(d.remember(&p, now as u64).ok(), Some(()));
        assert!(matches!(
            d.remember(&p, now as u64 + 70),
            Err(AuthError::InvalidDpopProof(InvalidDpopProof::Replayed))
        ));
        // Kept until iat + max_age + leeway, then forgotten.
        assert!(d.remember(&p, now as u64 + 71).is_ok());
    }

    #[test]
    fn a_key_past_its_quota_is_told_to_retry_when_an_entry_expires() {
        let d = dpop();
        let key = proofkey_dpop::DpopKey::generate().unwrap();
        let now = 1_700_000_000;
        let mut h = HeaderMap::new();
        let uri: Uri = "/mcp".parse().unwrap();
        let mut proof = || {
            let jwt = key
                .proof("GET", "https://api.example/mcp", Some("tok"), None, now)
                .unwrap();
            h.insert(DPOP, HeaderValue::from_str(&jwt).unwrap());
            d.proof(&h, &Method::GET, &uri, "tok", now as u64).unwrap()
        };
        let (a, b, c) = (proof(), proof(), proof());
        assert!(d.remember(&a, now as u64).is_ok());
        assert!(d.remember(&b, now as u64).is_ok());
        let e = d.remember(&c, now as u64).unwrap_err();
        assert!(
            matches!(e, AuthError::DpopKeyQuotaExceeded { retry_after: 71 }),
            "{e:?}"
        );
        assert_eq!(e.status(), 429);
        assert!(d.remember(&c, now as u64 + 71).is_ok());
    }
}
