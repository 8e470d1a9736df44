//! Public JWKs in proofs (RFC 7517) and their thumbprints (RFC 7638).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

/// Why a JWK cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    /// Not an object with a supported `kty` (and `crv`) and its members.
    #[error("the jwk is not a supported public key ({0})")]
    Unsupported(&'static str),
    /// It carries private members (RFC 9449 §4.3 check 7).
    #[error("the jwk contains a private key")]
    Private,
}

/// Members that only a private (or symmetric) key has (RFC 7518 §6.2.2,
/// §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The public key a JWK describes, ready for verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// P-256 or P-384: the uncompressed point.
    Ec { crv: &'static str, point: Vec<u8> },
    /// RSA: modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// Ed25519.
    Ed25519(Vec<u8>),
}

fn member<'a>(jwk: &'a Value, name: &'static str) -> Result<&'a str, JwkError> {
    jwk[name].as_str().ok_or(JwkError::Unsupported(name))
}

fn bytes(jwk: &Value, name: &'static str) -> Result<Vec<u8>, JwkError> {
    URL_SAFE_NO_PAD
        .decode(member(jwk, name)?)
        .map_err(|_| JwkError::Unsupported(name))
}

/// Reads a public JWK: refuses private members, unknown key types and
/// members of the wrong size.
pub(crate) fn public_key(jwk: &Value) -> Result<PublicKey, JwkError> {
    let obj = jwk
        .as_object()
        .ok_or(JwkError::Unsupported("not an object"))?;
    if PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
        return Err(JwkError::Private);
    }
    match member(jwk, "kty")? {
        "EC" => {
            let (crv, len) = match member(jwk, "crv")? {
                "P-256" => ("P-256", 32),
                "P-384" => ("P-384", 48),
                _ => return Err(JwkError::Unsupported("crv")),
            };
            let (x, y) = (bytes(jwk, "x")?, bytes(jwk, "y")?);
            if x.len() != len || y.len() != len {
                return Err(JwkError::Unsupported("coordinate length"));
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            Ok(PublicKey::Ec { crv, point })
        }
        "RSA" => {
            let (n, e) = (bytes(jwk, "n")?, bytes(jwk, "e")?);
            // aws-lc-rs checks 2048..=8192 bits when verifying; refuse
            // anything larger before that, so no huge number is parsed.
            if n.len() > 1024 || e.len() > 8 {
                return Err(JwkError::Unsupported("RSA key size"));
            }
            Ok(PublicKey::Rsa { n, e })
        }
        "OKP" => {
            if member(jwk, "crv")? != "Ed25519" {
                return Err(JwkError::Unsupported("crv"));
            }
            let x = bytes(jwk, "x")?;
            if x.len() != 32 {
                return Err(JwkError::Unsupported("x length"));
            }
            Ok(PublicKey::Ed25519(x))
        }
        _ => Err(JwkError::Unsupported("kty")),
    }
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url: the
/// required members only (§3.2), in lexicographic order, without
/// whitespace. This is `cnf.jkt` and `dpop_jkt` (RFC 9449 §6.1, §10).
pub fn thumbprint(jwk: &Value) -> Result<String, JwkError> {
    let names: &[&str] = match (public_key(jwk)?, member(jwk, "kty")?) {
        (PublicKey::Ec { .. }, _) => &["crv", "kty", "x", "y"],
        (PublicKey::Rsa { .. }, _) => &["e", "kty", "n"],
        (PublicKey::Ed25519(_), _) => &["crv", "kty", "x"],
    };
    let mut canonical = String::from("{");
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        // serde_json writes a JSON string with the escapes RFC 7638 §3.3
        // asks for (none occur in base64url or the names, in practice).
        canonical.push_str(&Value::from(*name).to_string());
        canonical.push(':');
        canonical.push_str(&jwk[*name].to_string());
    }
    canonical.push('}');
    Ok(URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_bytes(),
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7638 §3.1's example key and thumbprint, verbatim.
    #[test]
    fn rfc7638_example() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn private_members_are_refused() {
        for m in PRIVATE_MEMBERS {
            let mut jwk =
                json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode([1u8; 32])});
            jwk[*m] = json!("AAAA");
            assert_eq!(public_key(&jwk), Err(JwkError::Private), "{m}");
        }
    }

    #[test]
    fn wrong_sizes_and_types_are_refused() {
        let b = |n: usize| URL_SAFE_NO_PAD.encode(vec![7u8; n]);
        for jwk in [
            json!({"kty": "EC", "crv": "P-256", "x": b(31), "y": b(32)}),
            json!({"kty": "EC", "crv": "P-521", "x": b(66), "y": b(66)}),
            json!({"kty": "OKP", "crv": "X25519", "x": b(32)}),
            json!({"kty": "oct", "k": b(32)}),
            json!({"kty": "RSA", "n": b(2048), "e": "AQAB"}),
            json!("EC"),
        ] {
            assert!(public_key(&jwk).is_err(), "{jwk}");
        }
    }
}
