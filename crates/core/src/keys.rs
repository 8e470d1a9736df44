//! Signing keys and JWS compact serialization (RFC 7515 §3.1, §7.1).
//!
//! Keys are parsed once at start-up and kept as ready `aws-lc-rs` key pairs,
//! so signing never re-parses DER. ES256 signs access tokens (fast); RS256
//! signs ID tokens only when a client gets one (OIDC Core §15.1 makes RS256
//! mandatory to support); EdDSA (Ed25519) is available for clients that
//! register it.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use aws_lc_rs::{digest, rsa};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use serde_json::json;

use crate::model::StoredKey;

/// Algorithms this server signs with.
pub const SUPPORTED_ALGS: &[&str] = &["RS256", "ES256", "EdDSA"];

/// A key or signing failure.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The algorithm is not one of [`SUPPORTED_ALGS`].
    #[error("unsupported signing algorithm {0:?}")]
    UnsupportedAlg(String),
    /// A stored key did not parse.
    #[error("signing key {kid} is unreadable: {reason}")]
    Unreadable {
        /// Its kid.
        kid: String,
        /// What the crypto library said.
        reason: String,
    },
    /// Generation or signing failed.
    #[error("cryptographic operation failed")]
    Crypto,
    /// No key for the algorithm.
    #[error("no signing key for {0}")]
    Missing(String),
}

/// Why a key may not be retired ([`check_retirement`]).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RetireError {
    /// No key has that `kid`.
    #[error("no signing key {0:?}")]
    Unknown(String),
    /// Without it no key of its algorithm would sign now.
    #[error("{kid} is the only {alg} key that signs now; retiring it would leave {alg} tokens unsigned. Add an active replacement first (--replace does it in the same command)")]
    LastSigner {
        /// The key's kid.
        kid: String,
        /// Its algorithm.
        alg: String,
    },
}

/// Whether the key `kid` may be retired at `now` (`proofkey keys retire`,
/// for a key that is compromised). A key not active yet may always go (it
/// has signed nothing, and nothing signs differently without it). An
/// active one only if another key of its algorithm is active then, which
/// signs in its place at once ([`KeySet::signer`]: the newest active
/// one); a key that is only published does not count, since until it
/// activates nothing could sign. Returns the key.
pub fn check_retirement<'a>(
    stored: &'a [StoredKey],
    kid: &str,
    now: i64,
) -> Result<&'a StoredKey, RetireError> {
    let key = stored
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| RetireError::Unknown(kid.to_owned()))?;
    let active = key.activates_at <= now;
    let replaced = stored
        .iter()
        .any(|k| k.kid != key.kid && k.alg == key.alg && k.activates_at <= now);
    if active && !replaced {
        return Err(RetireError::LastSigner {
            kid: key.kid.clone(),
            alg: key.alg.clone(),
        });
    }
    Ok(key)
}

enum Pair {
    Rsa(rsa::KeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A ready signing key.
pub struct SigningKey {
    kid: String,
    alg: &'static str,
    activates_at: i64,
    pair: Pair,
    jwk: serde_json::Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({} {})", self.alg, self.kid)
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Generates a new key of `alg` that signs from `activates_at` on,
/// returning its stored form.
pub fn generate(
    alg: &str,
    kid: String,
    now: i64,
    activates_at: i64,
) -> Result<StoredKey, KeyError> {
    let rng = SystemRandom::new();
    let der: Vec<u8> = match alg {
        "RS256" => {
            let kp = rsa::KeyPair::generate(rsa::KeySize::Rsa2048).map_err(|_| KeyError::Crypto)?;
            kp.as_der().map_err(|_| KeyError::Crypto)?.as_ref().to_vec()
        }
        "ES256" => EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| KeyError::Crypto)?
            .as_ref()
            .to_vec(),
        "EdDSA" => Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| KeyError::Crypto)?
            .as_ref()
            .to_vec(),
        other => return Err(KeyError::UnsupportedAlg(other.to_owned())),
    };
    Ok(StoredKey {
        kid,
        alg: alg.to_owned(),
        private_pkcs8: crate::secret::PrivateKeyDer::new(der),
        created_at: now,
        activates_at,
    })
}

impl SigningKey {
    /// Parses a stored key.
    pub fn from_stored(stored: &StoredKey) -> Result<Self, KeyError> {
        let unreadable = |reason: String| KeyError::Unreadable {
            kid: stored.kid.clone(),
            reason,
        };
        let (alg, pair, jwk) = match stored.alg.as_str() {
            "RS256" => {
                let kp = rsa::KeyPair::from_pkcs8(stored.private_pkcs8.expose())
                    .map_err(|e| unreadable(e.to_string()))?;
                let public = kp.public_key();
                let jwk = json!({
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                });
                ("RS256", Pair::Rsa(kp), jwk)
            }
            "ES256" => {
                let kp = EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    stored.private_pkcs8.expose(),
                )
                .map_err(|e| unreadable(e.to_string()))?;
                // Uncompressed SEC1 point: 0x04 || x (32) || y (32).
                let point = kp.public_key().as_ref();
                if point.len() != 65 {
                    return Err(unreadable("unexpected P-256 public key length".into()));
                }
                let jwk = json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "x": b64(&point[1..33]),
                    "y": b64(&point[33..65]),
                });
                ("ES256", Pair::Ec(kp), jwk)
            }
            "EdDSA" => {
                let kp = Ed25519KeyPair::from_pkcs8(stored.private_pkcs8.expose())
                    .map_err(|e| unreadable(e.to_string()))?;
                let jwk = json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": b64(kp.public_key().as_ref()),
                });
                ("EdDSA", Pair::Ed(kp), jwk)
            }
            other => return Err(KeyError::UnsupportedAlg(other.to_owned())),
        };
        let mut jwk = jwk;
        if let Some(obj) = jwk.as_object_mut() {
            obj.insert("kid".into(), json!(stored.kid));
            obj.insert("alg".into(), json!(alg));
            obj.insert("use".into(), json!("sig"));
        }
        Ok(Self {
            kid: stored.kid.clone(),
            alg,
            activates_at: stored.activates_at,
            pair,
            jwk,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWS algorithm.
    pub fn alg(&self) -> &'static str {
        self.alg
    }

    /// The public JWK (RFC 7517): public parameters, `kid`, `alg`, `use`.
    pub fn public_jwk(&self) -> &serde_json::Value {
        &self.jwk
    }

    /// A JWS in compact serialization with header `{alg, typ, kid}`.
    pub fn sign_jwt<C: Serialize>(&self, typ: &str, claims: &C) -> Result<String, KeyError> {
        self.sign_input(self.signing_input(typ, claims)?)
    }

    /// The JWS signing input (RFC 7515 §5.1): the encoded header `{alg,
    /// typ, kid}` and payload, joined by a dot.
    pub fn signing_input<C: Serialize>(&self, typ: &str, claims: &C) -> Result<String, KeyError> {
        let header = json!({"alg": self.alg, "typ": typ, "kid": self.kid});
        let header = serde_json::to_vec(&header).map_err(|_| KeyError::Crypto)?;
        let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Crypto)?;
        let mut input = String::with_capacity(1024);
        input.push_str(&b64(&header));
        input.push('.');
        input.push_str(&b64(&payload));
        Ok(input)
    }

    /// Whether a signature costs hundreds of microseconds (RSA), rather
    /// than tens (ECDSA P-256) or less (Ed25519): worth moving off the
    /// thread that serves requests.
    pub fn is_slow(&self) -> bool {
        matches!(self.pair, Pair::Rsa(_))
    }

    /// Signs a [`Self::signing_input`] of this key's and appends the
    /// signature: the compact JWS.
    pub fn sign_input(&self, mut input: String) -> Result<String, KeyError> {
        let sig = match &self.pair {
            Pair::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| KeyError::Crypto)?;
                sig
            }
            Pair::Ec(kp) => kp
                .sign(&SystemRandom::new(), input.as_bytes())
                .map_err(|_| KeyError::Crypto)?
                .as_ref()
                .to_vec(),
            Pair::Ed(kp) => kp.sign(input.as_bytes()).as_ref().to_vec(),
        };
        input.push('.');
        input.push_str(&b64(&sig));
        Ok(input)
    }

    /// OIDC Core §3.1.3.6 `at_hash` / `c_hash`: the left half of the hash of
    /// the ASCII value, with the hash of the JWS algorithm (SHA-256 for
    /// RS256 and ES256; SHA-512 for EdDSA with Ed25519).
    pub fn half_hash(&self, value: &str) -> String {
        let alg = match self.alg {
            "EdDSA" => &digest::SHA512,
            _ => &digest::SHA256,
        };
        let d = digest::digest(alg, value.as_bytes());
        let bytes = d.as_ref();
        b64(&bytes[..bytes.len() / 2])
    }
}

/// The keys in use: every published key, and the newest of each algorithm
/// for signing.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<SigningKey>,
}

impl KeySet {
    /// Parses stored keys, in the order they succeed one another: by
    /// activation time, then creation time, then kid. [`KeySet::signer`] and
    /// retirement rely on that order; the store's own order (creation
    /// second, then kid) would put a key rotated in the same second as the
    /// first start behind an older key whose random kid sorts later.
    pub fn from_stored(stored: &[StoredKey]) -> Result<Self, KeyError> {
        let mut ordered: Vec<&StoredKey> = stored.iter().collect();
        ordered.sort_by(|a, b| {
            (a.activates_at, a.created_at, &a.kid).cmp(&(b.activates_at, b.created_at, &b.kid))
        });
        Ok(Self {
            keys: ordered
                .into_iter()
                .map(SigningKey::from_stored)
                .collect::<Result<_, _>>()?,
        })
    }

    /// The key that signs with `alg` at `now`: the newest one already
    /// active. A key that is not active yet is published but never signs.
    pub fn signer(&self, alg: &str, now: i64) -> Result<&SigningKey, KeyError> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.alg == alg && k.activates_at <= now)
            .ok_or_else(|| KeyError::Missing(alg.to_owned()))
    }

    /// For each algorithm, how long its signing key has been signing at
    /// `now`, in seconds (the `proofkey_signing_key_age_seconds` gauge:
    /// rotation overdue shows here).
    pub fn signer_ages(&self, now: i64) -> Vec<(&'static str, i64)> {
        let mut ages: Vec<(&'static str, i64)> = Vec::new();
        for k in self.keys.iter().rev().filter(|k| k.activates_at <= now) {
            if !ages.iter().any(|(alg, _)| *alg == k.alg) {
                ages.push((k.alg, now - k.activates_at));
            }
        }
        ages
    }

    /// Algorithms for which a key exists.
    pub fn has(&self, alg: &str) -> bool {
        self.keys.iter().any(|k| k.alg == alg)
    }

    /// Whether `key` is retired at `now`: a newer key of its algorithm has
    /// been signing for longer than `retire_after` (the longest lifetime of
    /// a token it could have signed), so nothing it signed is still valid.
    fn retired(&self, index: usize, now: i64, retire_after: i64) -> bool {
        let key = &self.keys[index];
        self.keys[index + 1..]
            .iter()
            .filter(|n| n.alg == key.alg && n.activates_at <= now)
            .map(|n| n.activates_at)
            .min()
            .is_some_and(|succeeded_at| now >= succeeded_at + retire_after)
    }

    /// The JWK Set document (RFC 7517 §5): public keys only, every key not
    /// yet retired, future keys included.
    pub fn jwks(&self, now: i64, retire_after: i64) -> serde_json::Value {
        let keys: Vec<_> = (0..self.keys.len())
            .filter(|i| !self.retired(*i, now, retire_after))
            .map(|i| self.keys[i].jwk.clone())
            .collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kids in the JWK Set at `now`.
    fn published_kids(set: &KeySet, now: i64, retire_after: i64) -> Vec<String> {
        set.jwks(now, retire_after)["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn a_key_is_retired_only_while_another_of_its_alg_signs() {
        let old = generate("ES256", "old".into(), 0, 0).unwrap();
        let new = generate("ES256", "new".into(), 10, 100).unwrap();
        let rsa_key = generate("RS256", "rsa".into(), 0, 0).unwrap();
        let keys = [old, new, rsa_key];
        // "new" is only published at 50: "old" is the only ES256 signer.
        assert_eq!(
            check_retirement(&keys, "old", 50),
            Err(RetireError::LastSigner {
                kid: "old".into(),
                alg: "ES256".into()
            })
        );
        // A key that has not signed yet may go at any time.
        assert_eq!(check_retirement(&keys, "new", 50).unwrap().kid, "new");
        assert_eq!(check_retirement(&keys, "old", 100).unwrap().kid, "old");
        assert_eq!(check_retirement(&keys, "new", 100).unwrap().kid, "new");
        // Another algorithm's key does not stand in.
        assert!(matches!(
            check_retirement(&keys, "rsa", 100),
            Err(RetireError::LastSigner { .. })
        ));
        assert_eq!(
            check_retirement(&keys, "nope", 100),
            Err(RetireError::Unknown("nope".into()))
        );
        // Once gone, the other key signs and alone is published.
        let left: Vec<StoredKey> = keys.iter().filter(|k| k.kid != "old").cloned().collect();
        let set = KeySet::from_stored(&left).unwrap();
        assert_eq!(set.signer("ES256", 100).unwrap().kid(), "new");
        assert_eq!(published_kids(&set, 100, 660), ["rsa", "new"]);
    }

    #[test]
    fn a_key_rotated_in_the_same_second_signs_once_active_whatever_its_kid() {
        // Both created at 100; the rotated key's kid sorts before the first.
        let first = generate("ES256", "zzzz-first".into(), 100, 100).unwrap();
        let rotated = generate("ES256", "aaaa-rotated".into(), 100, 700).unwrap();
        let set = KeySet::from_stored(&[rotated, first]).unwrap();
        assert_eq!(set.signer("ES256", 699).unwrap().kid(), "zzzz-first");
        assert_eq!(set.signer("ES256", 700).unwrap().kid(), "aaaa-rotated");
        let kids = |now| published_kids(&set, now, 660);
        assert_eq!(kids(1359), ["zzzz-first", "aaaa-rotated"]);
        assert_eq!(kids(1360), ["aaaa-rotated"], "the old key retires");
    }

    #[test]
    fn generated_keys_parse_sign_and_publish_only_public_parts() {
        for alg in SUPPORTED_ALGS {
            let stored = generate(alg, format!("k-{alg}"), 0, 0).unwrap();
            let key = SigningKey::from_stored(&stored).unwrap();
            let jwt = key.sign_jwt("JWT", &json!({"a": 1})).unwrap();
            assert_eq!(jwt.split('.').count(), 3);
            let jwk = key.public_jwk();
            assert_eq!(jwk["alg"], *alg);
            assert_eq!(jwk["use"], "sig");
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(jwk.get(private).is_none(), "{alg} publishes {private}");
            }
        }
    }

    #[test]
    fn rotation_publishes_first_signs_later_and_retires_the_old_key() {
        let old = generate("ES256", "old".into(), 0, 0).unwrap();
        let new = generate("ES256", "new".into(), 100, 700).unwrap();
        let set = KeySet::from_stored(&[old, new]).unwrap();
        let kids = |now| published_kids(&set, now, 600);
        // Published at once, signing only from activation.
        assert_eq!(kids(100), ["old", "new"]);
        assert_eq!(set.signer("ES256", 699).unwrap().kid(), "old");
        assert_eq!(set.signer("ES256", 700).unwrap().kid(), "new");
        // The old key stays published while tokens it signed may live.
        assert_eq!(kids(1299), ["old", "new"]);
        assert_eq!(kids(1300), ["new"]);
    }

    #[test]
    fn half_hash_matches_oidc_example() {
        // OIDC Core A.3/A.4 style: left 128 bits of SHA-256, base64url.
        let stored = generate("ES256", "k".into(), 0, 0).unwrap();
        let key = SigningKey::from_stored(&stored).unwrap();
        let d = digest::digest(&digest::SHA256, b"token");
        assert_eq!(key.half_hash("token"), b64(&d.as_ref()[..16]));
    }
}

/// Why a JWT did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts with JSON header and payload.
    #[error("malformed token")]
    Malformed,
    /// No published key with that `kid` and `alg`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
}

impl KeySet {
    /// Verifies a JWS signed by one of these keys, returning its header
    /// `typ` and its payload. Claims are the caller's to check.
    pub fn verify_jwt(&self, token: &str) -> Result<(Option<String>, serde_json::Value), JwtError> {
        let mut parts = token.splitn(3, '.');
        let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(JwtError::Malformed);
        };
        let decode = |x: &str| URL_SAFE_NO_PAD.decode(x).map_err(|_| JwtError::Malformed);
        let header: serde_json::Value =
            serde_json::from_slice(&decode(h)?).map_err(|_| JwtError::Malformed)?;
        let kid = header["kid"].as_str().ok_or(JwtError::UnknownKey)?;
        let alg = header["alg"].as_str().ok_or(JwtError::UnknownKey)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid && k.alg == alg)
            .ok_or(JwtError::UnknownKey)?;
        let sig = decode(s)?;
        let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
        let ok = match &key.pair {
            Pair::Rsa(kp) => signature::UnparsedPublicKey::new(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                kp.public_key().as_ref(),
            )
            .verify(signed, &sig),
            Pair::Ec(kp) => signature::UnparsedPublicKey::new(
                &signature::ECDSA_P256_SHA256_FIXED,
                kp.public_key().as_ref(),
            )
            .verify(signed, &sig),
            Pair::Ed(kp) => {
                signature::UnparsedPublicKey::new(&signature::ED25519, kp.public_key().as_ref())
                    .verify(signed, &sig)
            }
        };
        ok.map_err(|_| JwtError::BadSignature)?;
        let payload = serde_json::from_slice(&decode(p)?).map_err(|_| JwtError::Malformed)?;
        Ok((header["typ"].as_str().map(str::to_owned), payload))
    }
}

/// Verifies a JWS against a client's registered JWK Set (RFC 7517), for
/// `private_key_jwt` (RFC 7523 §2.2). Supports RS256, ES256 and EdDSA
/// (Ed25519). The key is chosen by `kid` when the header has one, else every
/// key of a matching type is tried. Returns the payload.
pub fn verify_with_jwks(
    token: &str,
    jwks: &serde_json::Value,
) -> Result<serde_json::Value, JwtError> {
    let mut parts = token.splitn(3, '.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed);
    };
    let decode = |x: &str| URL_SAFE_NO_PAD.decode(x).map_err(|_| JwtError::Malformed);
    let header: serde_json::Value =
        serde_json::from_slice(&decode(h)?).map_err(|_| JwtError::Malformed)?;
    let alg = header["alg"].as_str().ok_or(JwtError::Malformed)?;
    let kid = header["kid"].as_str();
    let sig = decode(s)?;
    let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
    let keys = jwks["keys"].as_array().ok_or(JwtError::UnknownKey)?;
    let candidates = keys.iter().filter(|k| {
        kid.is_none_or(|kid| k["kid"].as_str() == Some(kid))
            && k["alg"].as_str().is_none_or(|a| a == alg)
            && k["use"].as_str().is_none_or(|u| u == "sig")
    });
    let mut tried = false;
    for k in candidates {
        let field = |name: &str| {
            k[name]
                .as_str()
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        };
        let ok = match (alg, k["kty"].as_str(), k["crv"].as_str()) {
            ("RS256", Some("RSA"), _) => {
                let (Some(n), Some(e)) = (field("n"), field("e")) else {
                    continue;
                };
                tried = true;
                signature::RsaPublicKeyComponents { n: &n, e: &e }
                    .verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed, &sig)
                    .is_ok()
            }
            ("ES256", Some("EC"), Some("P-256")) => {
                let (Some(x), Some(y)) = (field("x"), field("y")) else {
                    continue;
                };
                tried = true;
                let mut point = vec![0x04];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point)
                    .verify(signed, &sig)
                    .is_ok()
            }
            ("EdDSA", Some("OKP"), Some("Ed25519")) => {
                let Some(x) = field("x") else { continue };
                tried = true;
                signature::UnparsedPublicKey::new(&signature::ED25519, &x)
                    .verify(signed, &sig)
                    .is_ok()
            }
            _ => continue,
        };
        if ok {
            return serde_json::from_slice(&decode(p)?).map_err(|_| JwtError::Malformed);
        }
    }
    Err(if tried {
        JwtError::BadSignature
    } else {
        JwtError::UnknownKey
    })
}
