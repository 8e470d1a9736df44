//! What the token endpoint pays to sign, per algorithm: an RFC 9068 access
//! token (ES256 by default) and an OIDC ID token (RS256 unless the client
//! registered another), and what introspection pays to verify one.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use proofkey_core::keys::{generate, KeySet, SigningKey};
use proofkey_core::tokens::AccessTokenClaims;

fn claims() -> AccessTokenClaims<'static> {
    AccessTokenClaims {
        iss: "https://auth.example.com",
        exp: 1_800_000_600,
        aud: "https://auth.example.com",
        sub: "lV8a6ky-IjbvMeVKjXPRvg",
        client_id: "bench-cli",
        iat: 1_800_000_000,
        jti: "pY7PUcRbJ_pfIc7XJwO-4g",
        scope: "openid profile email",
        auth_time: Some(1_800_000_000),
        cnf: None,
    }
}

fn signing(c: &mut Criterion) {
    let stored: Vec<_> = ["ES256", "EdDSA", "RS256"]
        .iter()
        .map(|alg| generate(alg, format!("kid-{alg}"), 0, 0).unwrap())
        .collect();
    let set = KeySet::from_stored(&stored).unwrap();
    for s in &stored {
        let key = SigningKey::from_stored(s).unwrap();
        let alg = key.alg();
        c.bench_function(&format!("sign JWT {alg}"), |b| {
            b.iter(|| {
                key.sign_jwt(black_box("at+jwt"), black_box(&claims()))
                    .unwrap()
            })
        });
        let token = key.sign_jwt("at+jwt", &claims()).unwrap();
        c.bench_function(&format!("verify JWT {alg}"), |b| {
            b.iter(|| set.verify_jwt(black_box(&token)).unwrap())
        });
    }
}

criterion_group!(benches, signing);
criterion_main!(benches);
