//! What a DPoP proof costs: making one (the client) and checking one (the
//! server, per token or UserInfo request; the replay cache's write aside).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use proofkey_dpop::{verify, DpopKey, Expect, SUPPORTED_ALGS};

const HTU: &str = "https://auth.example.com/token";
const NOW: i64 = 1_800_000_000;

fn proofs(c: &mut Criterion) {
    let key = DpopKey::generate().unwrap();
    c.bench_function("dpop/make ES256 proof", |b| {
        b.iter(|| key.proof("POST", HTU, None, None, NOW).unwrap())
    });
    let proof = key.proof("POST", HTU, None, None, NOW).unwrap();
    let expect = Expect {
        htm: "POST",
        htu: HTU,
        algs: SUPPORTED_ALGS,
        now: NOW,
        max_age: 60,
        leeway: 5,
        access_token: None,
    };
    c.bench_function("dpop/verify ES256 proof", |b| {
        b.iter(|| verify(&proof, &expect).unwrap())
    });
    let with_ath = key
        .proof("GET", HTU, Some("an-access-token"), None, NOW)
        .unwrap();
    let expect_ath = Expect {
        htm: "GET",
        access_token: Some("an-access-token"),
        ..expect
    };
    c.bench_function("dpop/verify ES256 proof with ath", |b| {
        b.iter(|| verify(&with_ath, &expect_ath).unwrap())
    });
}

criterion_group!(benches, proofs);
criterion_main!(benches);
