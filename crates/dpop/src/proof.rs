//! Checking a received DPoP proof (RFC 9449 §4.3).

use aws_lc_rs::signature::{self, VerificationAlgorithm};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

use crate::jwk::{public_key, PublicKey};
use crate::JwkError;

/// The proof algorithms this crate verifies (RFC 9449 §4.3 check 5: only
/// asymmetric ones; `none` and HMAC never).
pub const SUPPORTED_ALGS: &[&str] = &["ES256", "ES384", "EdDSA", "RS256", "PS256"];

/// The longest proof read: an RSA-8192 key in the header makes about
/// 3 KiB; anything longer is refused before it is decoded.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// The longest `jti` kept: a replay cache entry is made of it.
const MAX_JTI_LEN: usize = 256;

/// What the request a proof came with must look like.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    /// The request's method (`htm`, check 8), e.g. `POST`.
    pub htm: &'a str,
    /// The request's URI (`htu`, check 9); its query and fragment are
    /// ignored, and both sides are normalised (RFC 3986 §6.2.2, §6.2.3).
    pub htu: &'a str,
    /// The algorithms the receiver accepts (a subset of
    /// [`SUPPORTED_ALGS`]).
    pub algs: &'a [&'a str],
    /// Now, in seconds since the epoch.
    pub now: i64,
    /// How old a proof may be (check 11): `iat` no earlier than
    /// `now - max_age`.
    pub max_age: i64,
    /// How far in the future `iat` may be (the clocks' difference).
    pub leeway: i64,
    /// The access token the proof must be bound to by `ath` (check 12),
    /// when it comes with one.
    pub access_token: Option<&'a str>,
}

/// A proof that passed every check of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 thumbprint of its key (`jkt`).
    pub jkt: String,
    /// Its `jti`: the caller keeps it until `iat + max_age + leeway` and
    /// refuses it again (check 11, replay).
    pub jti: String,
    /// Its `iat`.
    pub iat: i64,
    /// Its `nonce`, for the caller to check when it demands one (check 10).
    pub nonce: Option<String>,
    /// Its algorithm.
    pub alg: String,
}

/// Why a proof was refused. Each is `invalid_dpop_proof` (RFC 9449 §5,
/// §7.1); the text is fit for `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Too long, not a JWS, or not JSON.
    #[error("the DPoP proof is not a well-formed JWT ({0})")]
    Malformed(&'static str),
    /// `typ` is not `dpop+jwt`.
    #[error("the DPoP proof's typ must be dpop+jwt")]
    Typ,
    /// The header names extensions that must be understood (`crit`, RFC
    /// 7515 §4.1.11): none is.
    #[error("the DPoP proof's header has crit extensions, which are not supported")]
    Crit,
    /// Not an accepted asymmetric algorithm.
    #[error("the DPoP proof's alg {0:?} is not accepted")]
    Alg(String),
    /// The `jwk` header is missing, private or unsupported.
    #[error("the DPoP proof's jwk: {0}")]
    Jwk(JwkError),
    /// The `jwk` does not suit the `alg`.
    #[error("the DPoP proof's jwk does not suit its alg")]
    KeyMismatch,
    /// The signature does not verify with the `jwk`.
    #[error("the DPoP proof's signature does not verify")]
    Signature,
    /// A required claim is missing or has the wrong type.
    #[error("the DPoP proof has no valid {0} claim")]
    Claim(&'static str),
    /// `htm` is not the request's method.
    #[error("the DPoP proof's htm does not match the request's method")]
    Htm,
    /// `htu` is not the request's URI.
    #[error("the DPoP proof's htu does not match the request's URI")]
    Htu,
    /// `iat` is outside the accepted window.
    #[error("the DPoP proof's iat is too old or in the future")]
    Iat,
    /// `ath` is missing or not the access token's hash.
    #[error("the DPoP proof's ath does not match the access token")]
    Ath,
}

/// Checks a proof (RFC 9449 §4.3, checks 2 to 9, 11 without the replay
/// cache, and 12's `ath`). Check 1 (exactly one `DPoP` header), the nonce
/// (10), the `jti` replay cache and the key's match with a token's
/// `cnf.jkt` are the caller's.
pub fn verify(proof: &str, expect: &Expect<'_>) -> Result<Proof, ProofError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::Malformed("too long"));
    }
    let mut parts = proof.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProofError::Malformed("not three parts"));
    };
    let decode = |x: &str| {
        URL_SAFE_NO_PAD
            .decode(x)
            .map_err(|_| ProofError::Malformed("not base64url"))
    };
    let header: Value = serde_json::from_slice(&decode(h)?)
        .map_err(|_| ProofError::Malformed("header is not JSON"))?;
    if header["typ"].as_str() != Some(crate::TYP) {
        return Err(ProofError::Typ);
    }
    if header.get("crit").is_some() {
        return Err(ProofError::Crit);
    }
    let alg = header["alg"].as_str().unwrap_or_default();
    if !SUPPORTED_ALGS.contains(&alg) || !expect.algs.contains(&alg) {
        return Err(ProofError::Alg(alg.chars().take(20).collect()));
    }
    let jwk = &header["jwk"];
    let key = public_key(jwk).map_err(ProofError::Jwk)?;

    // The claims are checked before the signature: they are cheap, and a
    // proof for another request, or an old one, is refused without the
    // cost of verifying it (up to RSA-8192). Nothing is trusted before the
    // signature passes; this only refuses earlier.
    let claims: Value = serde_json::from_slice(&decode(p)?)
        .map_err(|_| ProofError::Malformed("payload is not JSON"))?;
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
        .ok_or(ProofError::Claim("jti"))?;
    let htm = claims["htm"].as_str().ok_or(ProofError::Claim("htm"))?;
    let htu = claims["htu"].as_str().ok_or(ProofError::Claim("htu"))?;
    // RFC 7519 §2 NumericDate: seconds, possibly with a fraction.
    let iat = claims["iat"]
        .as_f64()
        .filter(|t| t.is_finite())
        .map(|t| t.floor() as i64)
        .ok_or(ProofError::Claim("iat"))?;
    if htm != expect.htm {
        return Err(ProofError::Htm);
    }
    if !same_uri(htu, expect.htu) {
        return Err(ProofError::Htu);
    }
    if iat < expect.now - expect.max_age || iat > expect.now + expect.leeway {
        return Err(ProofError::Iat);
    }
    if let Some(token) = expect.access_token {
        let ath = claims["ath"].as_str().ok_or(ProofError::Ath)?;
        let expected = crate::access_token_hash(token);
        if aws_lc_rs::constant_time::verify_slices_are_equal(ath.as_bytes(), expected.as_bytes())
            .is_err()
        {
            return Err(ProofError::Ath);
        }
    }
    let nonce = match &claims["nonce"] {
        Value::Null => None,
        Value::String(n) => Some(n.clone()),
        _ => return Err(ProofError::Claim("nonce")),
    };
    let signed = &proof.as_bytes()[..h.len() + 1 + p.len()];
    let sig = decode(s)?;
    check_signature(alg, &key, signed, &sig)?;
    let jkt = crate::thumbprint(jwk).map_err(ProofError::Jwk)?;
    Ok(Proof {
        jkt,
        jti: jti.to_owned(),
        iat,
        nonce,
        alg: alg.to_owned(),
    })
}

fn check_signature(
    alg: &str,
    key: &PublicKey,
    signed: &[u8],
    sig: &[u8],
) -> Result<(), ProofError> {
    let verify = |a: &'static dyn VerificationAlgorithm, public: &[u8]| {
        signature::UnparsedPublicKey::new(a, public)
            .verify(signed, sig)
            .map_err(|_| ProofError::Signature)
    };
    match (alg, key) {
        (
            "ES256",
            PublicKey::Ec {
                crv: "P-256",
                point,
            },
        ) => verify(&signature::ECDSA_P256_SHA256_FIXED, point),
        (
            "ES384",
            PublicKey::Ec {
                crv: "P-384",
                point,
            },
        ) => verify(&signature::ECDSA_P384_SHA384_FIXED, point),
        ("EdDSA", PublicKey::Ed25519(x)) => verify(&signature::ED25519, x),
        ("RS256" | "PS256", PublicKey::Rsa { n, e }) => {
            let a = if alg == "RS256" {
                &signature::RSA_PKCS1_2048_8192_SHA256
            } else {
                &signature::RSA_PSS_2048_8192_SHA256
            };
            signature::RsaPublicKeyComponents { n, e }
                .verify(a, signed, sig)
                .map_err(|_| ProofError::Signature)
        }
        _ => Err(ProofError::KeyMismatch),
    }
}

/// RFC 9449 §4.3 check 9: the URIs without query and fragment, after the
/// normalisation the `url` crate's parsing does (RFC 3986 §6.2.2, §6.2.3:
/// case of scheme and host, default port, dot segments, an empty path as
/// `/`). Percent-encodings are compared as written, so a proof that
/// encodes a character the other side does not is refused: fails closed.
fn same_uri(a: &str, b: &str) -> bool {
    let base = |s: &str| {
        url::Url::parse(s).ok().map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u
        })
    };
    match (base(a), base(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_compare_without_query_and_fragment() {
        assert!(same_uri(
            "https://a.example/token",
            "https://A.EXAMPLE:443/token?x=1#f"
        ));
        assert!(same_uri(
            "https://a.example/x/../token",
            "https://a.example/token"
        ));
        assert!(!same_uri(
            "https://a.example/token",
            "https://a.example/token/"
        ));
        assert!(!same_uri(
            "http://a.example/token",
            "https://a.example/token"
        ));
        assert!(!same_uri(
            "https://a.example:8443/token",
            "https://a.example/token"
        ));
        assert!(!same_uri("not a uri", "not a uri"));
    }
}
