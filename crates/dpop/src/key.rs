//! A client's DPoP key (RFC 9449 §2): an ES256 key pair that signs proofs.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use zeroize::Zeroizing;

/// Why a key could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The stored form is not a P-256 PKCS#8 key.
    #[error("the stored DPoP key is not a P-256 PKCS#8 key")]
    Unreadable,
    /// The cryptographic library failed (no randomness, most likely).
    #[error("could not make a DPoP key or proof")]
    Crypto,
}

/// A DPoP key pair. Its `Debug` shows only the thumbprint; it has no
/// `Display` and no `Clone`; [`DpopKey::to_stored`] is the only way to its
/// private part (to keep it with the tokens it is bound to).
pub struct DpopKey {
    pair: EcdsaKeyPair,
    jwk: Value,
    jkt: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey").field("jkt", &self.jkt).finish()
    }
}

impl DpopKey {
    /// A fresh key from the OS's random source.
    pub fn generate() -> Result<Self, KeyError> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| KeyError::Crypto)?;
        Self::from_pair(pair)
    }

    /// A key kept by [`DpopKey::to_stored`].
    pub fn from_stored(stored: &str) -> Result<Self, KeyError> {
        let der = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(stored.trim())
                .map_err(|_| KeyError::Unreadable)?,
        );
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map_err(|_| KeyError::Unreadable)?;
        Self::from_pair(pair)
    }

    fn from_pair(pair: EcdsaKeyPair) -> Result<Self, KeyError> {
        let point = pair.public_key().as_ref();
        if point.len() != 65 {
            return Err(KeyError::Crypto);
        }
        let jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        });
        let jkt = crate::thumbprint(&jwk).map_err(|_| KeyError::Crypto)?;
        Ok(Self { pair, jwk, jkt })
    }

    /// The private key as base64url PKCS#8, to store with the tokens
    /// (a secret: never print it).
    pub fn to_stored(&self) -> Result<Zeroizing<String>, KeyError> {
        let doc = self.pair.to_pkcs8v1().map_err(|_| KeyError::Crypto)?;
        Ok(Zeroizing::new(URL_SAFE_NO_PAD.encode(doc.as_ref())))
    }

    /// The public key as a JWK (the proof's `jwk` header).
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    /// The key's RFC 7638 thumbprint (`dpop_jkt`, `cnf.jkt`).
    pub fn thumbprint(&self) -> &str {
        &self.jkt
    }

    /// A proof for one request (RFC 9449 §4.2): `htm`, `htu` (query and
    /// fragment removed), `iat` = `now`, a random `jti`, `ath` when an
    /// access token is sent with it, and the server's `nonce` if any.
    pub fn proof(
        &self,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<String, KeyError> {
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti).map_err(|_| KeyError::Crypto)?;
        let htu = match url::Url::parse(htu) {
            Ok(mut u) => {
                u.set_query(None);
                u.set_fragment(None);
                u.to_string()
            }
            Err(_) => htu.to_owned(),
        };
        let header = json!({"typ": crate::TYP, "alg": "ES256", "jwk": self.jwk});
        let mut claims = json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": htm,
            "htu": htu,
            "iat": now,
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(crate::access_token_hash(token));
        }
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| KeyError::Crypto)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(sig.as_ref())
        ))
    }
}
