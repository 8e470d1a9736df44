//! RFC 9449 §4.3: every check of a proof, one test per defect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    Ed25519KeyPair, KeyPair as _, RsaKeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use proofkey_dpop::{verify, DpopKey, Expect, ProofError, SUPPORTED_ALGS};
use serde_json::{json, Value};

const NOW: i64 = 1_700_000_000;
const HTU: &str = "https://as.example/token";

fn expect() -> Expect<'static> {
    Expect {
        htm: "POST",
        htu: HTU,
        algs: SUPPORTED_ALGS,
        now: NOW,
        max_age: 60,
        leeway: 5,
        access_token: None,
    }
}

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

/// Signs `header`.`claims` with `sign`.
fn jws(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

fn claims() -> Value {
    json!({"jti": "j-1", "htm": "POST", "htu": HTU, "iat": NOW})
}

fn ed25519() -> (Ed25519KeyPair, Value) {
    let pair = Ed25519KeyPair::generate().unwrap();
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())});
    (pair, jwk)
}

fn ed_proof(header_extra: Value, claims: Value) -> String {
    let (pair, jwk) = ed25519();
    let mut header = json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk});
    for (k, v) in header_extra.as_object().unwrap() {
        header[k] = v.clone();
    }
    jws(&header, &claims, |m| pair.sign(m).as_ref().to_vec())
}

#[test]
fn a_proof_made_by_dpop_key_verifies_and_names_its_key() {
    let key = DpopKey::generate().unwrap();
    let proof = key
        .proof(
            "POST",
            "https://as.example/token?x=1",
            None,
            Some("n1"),
            NOW,
        )
        .unwrap();
    let checked = verify(&proof, &expect()).unwrap();
    assert_eq!(checked.jkt, key.thumbprint());
    assert_eq!(checked.nonce.as_deref(), Some("n1"));
    assert_eq!(checked.iat, NOW);
    assert!(checked.jti.len() >= 20, "{}", checked.jti);
    // A second proof has another jti.
    let again = verify(&key.proof("POST", HTU, None, None, NOW).unwrap(), &expect()).unwrap();
    assert_ne!(again.jti, checked.jti);
}

#[test]
fn a_stored_key_comes_back_the_same_and_debug_shows_no_secret() {
    let key = DpopKey::generate().unwrap();
    let stored = key.to_stored().unwrap();
    let back = DpopKey::from_stored(&stored).unwrap();
    assert_eq!(back.thumbprint(), key.thumbprint());
    let shown = format!("{key:?}");
    assert!(!shown.contains(stored.as_str()), "{shown}");
    assert!(DpopKey::from_stored("not-a-key").is_err());
}

#[test]
fn eddsa_rs256_and_ps256_proofs_verify() {
    verify(&ed_proof(json!({}), claims()), &expect()).unwrap();
    let rsa = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let public = rsa.public_key();
    let n = public.modulus().big_endian_without_leading_zero().to_vec();
    let e = public.exponent().big_endian_without_leading_zero().to_vec();
    let jwk = json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)});
    let paddings: [(&str, &'static dyn aws_lc_rs::signature::RsaEncoding); 2] =
        [("RS256", &RSA_PKCS1_SHA256), ("PS256", &RSA_PSS_SHA256)];
    for (alg, padding) in paddings {
        let header = json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk});
        let proof = jws(&header, &claims(), |m| {
            let mut sig = vec![0; rsa.public_modulus_len()];
            rsa.sign(padding, &SystemRandom::new(), m, &mut sig)
                .unwrap();
            sig
        });
        verify(&proof, &expect()).unwrap_or_else(|e| panic!("{alg}: {e}"));
    }
}

#[test]
fn checks_the_method() {
    let mut c = claims();
    c["htm"] = json!("GET");
    assert_eq!(
        verify(&ed_proof(json!({}), c), &expect()),
        Err(ProofError::Htm)
    );
}

#[test]
fn checks_the_uri() {
    for other in [
        "https://as.example/token2",
        "https://evil.example/token",
        "http://as.example/token",
    ] {
        let mut c = claims();
        c["htu"] = json!(other);
        assert_eq!(
            verify(&ed_proof(json!({}), c), &expect()),
            Err(ProofError::Htu),
            "{other}"
        );
    }
}

#[test]
fn refuses_a_stale_or_future_iat() {
    for iat in [NOW - 61, NOW + 6] {
        let mut c = claims();
        c["iat"] = json!(iat);
        assert_eq!(
            verify(&ed_proof(json!({}), c), &expect()),
            Err(ProofError::Iat),
            "{iat}"
        );
    }
    for iat in [NOW - 60, NOW + 5] {
        let mut c = claims();
        c["iat"] = json!(iat);
        verify(&ed_proof(json!({}), c), &expect()).unwrap();
    }
}

#[test]
fn refuses_symmetric_and_unsigned_algorithms() {
    for alg in ["HS256", "none", "RS512"] {
        let header = json!({"typ": "dpop+jwt", "alg": alg, "jwk": {"kty": "oct", "k": "c2VjcmV0"}});
        let proof = jws(&header, &claims(), |_| Vec::new());
        assert!(
            matches!(verify(&proof, &expect()), Err(ProofError::Alg(_))),
            "{alg}"
        );
    }
    // Supported here, but not accepted by this receiver.
    let only_es256 = Expect {
        algs: &["ES256"],
        ..expect()
    };
    assert!(matches!(
        verify(&ed_proof(json!({}), claims()), &only_es256),
        Err(ProofError::Alg(_))
    ));
}

#[test]
fn takes_a_fractional_iat_and_refuses_crit() {
    let mut c = claims();
    c["iat"] = json!(NOW as f64 + 0.75);
    verify(&ed_proof(json!({}), c), &expect()).unwrap();
    assert_eq!(
        verify(&ed_proof(json!({"crit": ["exp"]}), claims()), &expect()),
        Err(ProofError::Crit)
    );
}

#[test]
fn refuses_a_private_key_in_the_header() {
    let (pair, mut jwk) = ed25519();
    jwk["d"] = json!(b64(&[9; 32]));
    let header = json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk});
    let proof = jws(&header, &claims(), |m| pair.sign(m).as_ref().to_vec());
    assert!(matches!(verify(&proof, &expect()), Err(ProofError::Jwk(_))));
}

#[test]
fn refuses_a_wrong_typ_a_missing_jwk_and_a_foreign_signature() {
    assert_eq!(
        verify(&ed_proof(json!({"typ": "JWT"}), claims()), &expect()),
        Err(ProofError::Typ)
    );
    let no_jwk = ed_proof(json!({"jwk": null}), claims());
    assert!(matches!(
        verify(&no_jwk, &expect()),
        Err(ProofError::Jwk(_))
    ));
    // Signed by one key, naming another.
    let (pair, _) = ed25519();
    let (_, other) = ed25519();
    let header = json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": other});
    let proof = jws(&header, &claims(), |m| pair.sign(m).as_ref().to_vec());
    assert_eq!(verify(&proof, &expect()), Err(ProofError::Signature));
    // An EC key with alg EdDSA.
    let key = DpopKey::generate().unwrap();
    let header = json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": key.public_jwk()});
    let proof = jws(&header, &claims(), |m| pair.sign(m).as_ref().to_vec());
    assert_eq!(verify(&proof, &expect()), Err(ProofError::KeyMismatch));
}

#[test]
fn refuses_missing_claims_and_malformed_input() {
    for missing in ["jti", "htm", "htu", "iat"] {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(missing);
        assert_eq!(
            verify(&ed_proof(json!({}), c), &expect()),
            Err(ProofError::Claim(match missing {
                "jti" => "jti",
                "htm" => "htm",
                "htu" => "htu",
                _ => "iat",
            }))
        );
    }
    let mut c = claims();
    c["jti"] = json!("x".repeat(257));
    assert_eq!(
        verify(&ed_proof(json!({}), c), &expect()),
        Err(ProofError::Claim("jti"))
    );
    for bad in ["", "a.b", "a.b.c.d", "!!!.!!!.!!!"] {
        assert!(
            matches!(verify(bad, &expect()), Err(ProofError::Malformed(_))),
            "{bad}"
        );
    }
    let huge = format!("{}.e30.", "A".repeat(proofkey_dpop::MAX_PROOF_LEN));
    assert_eq!(
        verify(&huge, &expect()),
        Err(ProofError::Malformed("too long"))
    );
}

#[test]
fn binds_to_the_access_token_by_ath() {
    let key = DpopKey::generate().unwrap();
    let with = Expect {
        htm: "GET",
        htu: "https://rs.example/x",
        access_token: Some("the-token"),
        ..expect()
    };
    let good = key
        .proof("GET", "https://rs.example/x", Some("the-token"), None, NOW)
        .unwrap();
    verify(&good, &with).unwrap();
    let other = key
        .proof("GET", "https://rs.example/x", Some("another"), None, NOW)
        .unwrap();
    assert_eq!(verify(&other, &with), Err(ProofError::Ath));
    let none = key
        .proof("GET", "https://rs.example/x", None, None, NOW)
        .unwrap();
    assert_eq!(verify(&none, &with), Err(ProofError::Ath));
}

/// RFC 9449 §7.1's example `ath`, for the token of its §7.1 example.
#[test]
fn ath_is_the_base64url_sha256_of_the_token() {
    assert_eq!(
        proofkey_dpop::access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}
