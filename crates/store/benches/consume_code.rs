//! RFC 6749 §4.1.2 single-use codes in the store: what an authorization
//! (a grant and its code, one transaction) and a redemption (finding the
//! code, then consuming it and storing an access and a refresh token in one
//! transaction) cost on a real SQLite file, and on PostgreSQL when
//! PROOFKEY_TEST_POSTGRES (or the machine's postgres://postgres@127.0.0.1:5432)
//! answers.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use proofkey_core::model::{
    AccessTokenRecord, AuthorizationCode, Grant, Issued, NewTokens, RefreshTokenRecord,
};
use proofkey_core::Store;

static NEXT: AtomicU64 = AtomicU64::new(0);

const NOW: i64 = 1_800_000_000;

fn grant_and_code() -> (Grant, AuthorizationCode) {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let grant = Grant {
        id: format!("g{n:016x}"),
        client_id: "bench-cli".into(),
        user_id: Some("user-1".into()),
        scope: "openid profile".into(),
        resources: String::new(),
        auth_time: Some(NOW),
        expires_at: NOW + 3_660,
        created_at: NOW,
    };
    let code = AuthorizationCode {
        code_hash: format!("{n:064x}"),
        grant_id: grant.id.clone(),
        client_id: "bench-cli".into(),
        redirect_uri: "http://127.0.0.1/callback".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        code_challenge_method: "S256".into(),
        scope: "openid profile".into(),
        resources: String::new(),
        nonce: None,
        user_id: "user-1".into(),
        auth_time: NOW,
        issued_at: NOW,
        expires_at: NOW + 60,
        dpop_jkt: None,
    };
    (grant, code)
}

/// The records of a token response with a refresh token.
fn tokens(grant_id: &str) -> NewTokens {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    NewTokens {
        access: AccessTokenRecord {
            jti: format!("j{n:016x}"),
            grant_id: grant_id.into(),
            client_id: "bench-cli".into(),
            user_id: "user-1".into(),
            scope: "openid profile".into(),
            expires_at: NOW + 600,
        },
        refresh: Some(RefreshTokenRecord {
            token_hash: format!("r{n:063x}"),
            grant_id: grant_id.into(),
            client_id: "bench-cli".into(),
            user_id: "user-1".into(),
            scope: "openid profile".into(),
            resources: String::new(),
            auth_time: NOW,
            issued_at: NOW,
            family_expires_at: NOW + 86_400,
            idle_expires_at: NOW + 86_400,
            access_jti: None,
            dpop_jkt: None,
        }),
    }
}

fn bench_store(c: &mut Criterion, name: &str, rt: &tokio::runtime::Runtime, store: Arc<dyn Store>) {
    c.bench_function(&format!("{name}: grant + code"), |b| {
        b.to_async(rt).iter(|| {
            let store = store.clone();
            async move {
                let (g, code) = grant_and_code();
                store.create_grant_with_code(&g, &code).await.unwrap()
            }
        })
    });
    c.bench_function(
        &format!("{name}: grant + code, then find + redeem and issue"),
        |b| {
            b.to_async(rt).iter(|| {
                let store = store.clone();
                async move {
                    let (g, code) = grant_and_code();
                    store.create_grant_with_code(&g, &code).await.unwrap();
                    let found = store.find_code(&code.code_hash).await.unwrap().unwrap();
                    let got = store
                        .redeem_code_and_issue(
                            &code.code_hash,
                            NOW + 1,
                            &tokens(&found.code.grant_id),
                        )
                        .await
                        .unwrap();
                    assert_eq!(got, Issued::Stored);
                }
            })
        },
    );
}

fn stores(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let sqlite = rt.block_on(proofkey_store::open(&url)).unwrap();
    rt.block_on(seed(&*sqlite));
    bench_store(c, "sqlite", &rt, sqlite);

    let pg = std::env::var("PROOFKEY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    match rt.block_on(proofkey_store::PgAdmin::connect(&pg)) {
        Ok(admin) => {
            let db = format!("proofkey_bench_{}", std::process::id());
            rt.block_on(admin.execute(&format!("DROP DATABASE IF EXISTS {db}")))
                .unwrap();
            rt.block_on(admin.execute(&format!("CREATE DATABASE {db}")))
                .unwrap();
            let url = format!("{}/{db}", pg.trim_end_matches('/'));
            let store = rt.block_on(proofkey_store::open(&url)).unwrap();
            rt.block_on(seed(&*store));
            bench_store(c, "postgres", &rt, store);
            // Its pool still holds connections: FORCE ends them (PostgreSQL 13+).
            let _ = rt.block_on(admin.execute(&format!("DROP DATABASE {db} WITH (FORCE)")));
        }
        Err(e) => eprintln!("PostgreSQL at {pg} not reachable, its benchmarks skipped: {e}"),
    }
}

/// The client and user the codes refer to (foreign keys).
async fn seed(store: &dyn Store) {
    use proofkey_core::model::{Client, ClientKind, User};
    store
        .create_client(&Client {
            id: "bench-cli".into(),
            name: "bench".into(),
            kind: ClientKind::Public,
            secret_hash: None,
            previous_secret: None,
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            scopes: vec!["openid".into(), "profile".into()],
            grant_types: vec!["authorization_code".into()],
            skip_consent: false,
            id_token_alg: "RS256".into(),
            created_at: 0,
            jwks: None,
            jwks_uri: None,
            post_logout_redirect_uris: vec![],
            rotate_refresh_tokens: true,
            always_issue_refresh_token: false,
            ..Client::default()
        })
        .await
        .unwrap();
    store
        .create_user(&User {
            id: "user-1".into(),
            username: "bench".into(),
            email: None,
            name: None,
            password_hash: "x".into(),
            created_at: 0,
            disabled_at: None,
        })
        .await
        .unwrap();
}

criterion_group!(benches, stores);
criterion_main!(benches);
