//! RFC 7636 §4.6 verification cost: what the token endpoint pays per code.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use proofkey_pkce::{CodeChallenge, CodeVerifier, Method};

fn verification(c: &mut Criterion) {
    let verifier = CodeVerifier::generate();
    let wire = CodeChallenge::s256(&verifier).as_str();
    let stored = CodeChallenge::parse(&wire, Method::S256).unwrap();
    let presented = CodeVerifier::parse(verifier.secret()).unwrap();
    let long = CodeVerifier::generate_with_entropy(96).unwrap();
    let long_challenge = CodeChallenge::s256(&long);

    c.bench_function("verify S256, 43-char verifier", |b| {
        b.iter(|| black_box(&stored).verify(black_box(&presented)))
    });
    c.bench_function("verify S256, 128-char verifier", |b| {
        b.iter(|| black_box(&long_challenge).verify(black_box(&long)))
    });
    c.bench_function(
        "token endpoint: parse verifier + parse stored challenge + verify",
        |b| {
            b.iter(|| {
                let v = CodeVerifier::parse(black_box(presented.secret())).unwrap();
                let c = CodeChallenge::parse(black_box(&wire), Method::S256).unwrap();
                c.verify(&v)
            })
        },
    );
    c.bench_function("generate verifier + S256 challenge", |b| {
        b.iter(|| CodeChallenge::s256(&CodeVerifier::generate()))
    });
}

criterion_group!(benches, verification);
criterion_main!(benches);
