//! The audit's side of DPoP (RFC 9449): proofs for its token requests
//! (§5), made with keys of its own and carrying the server's nonce when it
//! demands one (§8).
//!
//! **Invariant:** a report never shows a proof itself (a proof replays for
//! as long as the server accepts its `iat`), only its `jti` and its key's
//! thumbprint.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use proofkey_dpop::DpopKey;
use serde_json::Value;

use crate::engine::{shown, Session, TokenAnswer};
use crate::report::Evidence;
use crate::AuditError;

/// The only algorithm the audit signs proofs with.
pub(crate) const ALG: &str = "ES256";

/// A fresh key.
pub(crate) fn key() -> Result<DpopKey, AuditError> {
    DpopKey::generate().map_err(|e| AuditError::Random(e.to_string()))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// One part of a compact JWS, decoded as JSON.
fn jws_part(jws: &str, index: usize) -> Option<Value> {
    let part = jws.split('.').nth(index)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// The claims of a JWT access token (RFC 9068), or `None` for an opaque
/// one.
pub(crate) fn jwt_claims(token: &str) -> Option<Value> {
    if token.split('.').count() != 3 || jws_part(token, 0)?.get("alg").is_none() {
        return None;
    }
    jws_part(token, 1).filter(Value::is_object)
}

/// A proof as a report shows it: its `jti` and its key's thumbprint.
pub(crate) fn shown_proof(proof: &str) -> String {
    let jti = jws_part(proof, 1)
        .and_then(|c| c.get("jti").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    let jkt = jws_part(proof, 0)
        .and_then(|h| h.get("jwk").cloned())
        .and_then(|jwk| proofkey_dpop::thumbprint(&jwk).ok())
        .unwrap_or_default();
    format!(
        " (header DPoP: a proof with jti={} by the key with thumbprint {})",
        shown("code", &jti),
        shown("code", &jkt)
    )
}

/// A key's thumbprint as a report shows it.
pub(crate) fn shown_key(key: &DpopKey) -> String {
    shown("code", key.thumbprint())
}

/// The nonce of a `DPoP-Nonce` header (RFC 9449 §8), if the answer has
/// one.
pub(crate) fn nonce(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get(proofkey_dpop::NONCE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
}

impl Session<'_> {
    /// A fresh proof by `key` for a POST to the token endpoint, with the
    /// server's latest nonce if it sent one.
    pub(crate) fn token_proof(&self, key: &DpopKey) -> Result<String, AuditError> {
        key.proof(
            "POST",
            self.ep.token.as_str(),
            None,
            self.dpop_nonce.as_deref(),
            now(),
        )
        .map_err(|e| AuditError::Random(e.to_string()))
    }

    /// POSTs `params` to the token endpoint with a fresh proof by `key`.
    /// When the server answers `use_dpop_nonce` with a new nonce (RFC 9449
    /// §8), the request is sent once more with a proof carrying it. Returns
    /// the proof sent last too, for the replay check.
    pub(crate) async fn token_with_proof(
        &mut self,
        params: &[(&str, &str)],
        key: &DpopKey,
    ) -> Result<(TokenAnswer, Evidence, String), AuditError> {
        let proof = self.token_proof(key)?;
        let sent_nonce = self.dpop_nonce.clone();
        let (answer, ev) = self.token_request(params, Some(&proof)).await?;
        let asked_for_nonce = matches!(
            &answer,
            TokenAnswer::Refused { status: 400, error } if error == "use_dpop_nonce"
        );
        if asked_for_nonce && self.dpop_nonce.is_some() && self.dpop_nonce != sent_nonce {
            let proof = self.token_proof(key)?;
            let (answer, ev) = self.token_request(params, Some(&proof)).await?;
            return Ok((answer, ev, proof));
        }
        Ok((answer, ev, proof))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_shown_proof_names_its_jti_and_key_but_is_not_the_proof() {
        let key = key().unwrap();
        let proof = key
            .proof("POST", "https://as.example/token", None, None, 1)
            .unwrap();
        let shown = shown_proof(&proof);
        assert!(!shown.contains(&proof));
        assert!(!shown.contains(proof.split('.').nth(2).unwrap()));
        let jkt = key.thumbprint();
        assert!(shown.contains(&jkt[..8]), "{shown}");
        assert!(shown.contains("jti="), "{shown}");
    }

    #[test]
    fn only_jws_shaped_tokens_have_claims() {
        let jwt = format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","typ":"at+jwt"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"cnf":{"jkt":"abc"}}"#)
        );
        assert_eq!(jwt_claims(&jwt).unwrap()["cnf"]["jkt"], "abc");
        assert!(jwt_claims("opaque-token").is_none());
        assert!(jwt_claims("a.b.c").is_none());
    }
}
