//! PostgreSQL over TLS (issue 13): the store connects with `sslmode`
//! `verify-full` and refuses a server whose certificate its root does not
//! vouch for, or that names another host. Runs against the machine's
//! PostgreSQL (Debian serves TLS with its "snakeoil" self-signed
//! certificate, for the name `localhost`, which as its own root verifies);
//! fails, not skips, when either is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sqlx::{Connection as _, Row as _};

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

fn pg_url() -> String {
    std::env::var("PROOFKEY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

#[tokio::test]
async fn the_store_connects_over_verified_tls() {
    assert!(
        std::path::Path::new(SNAKEOIL).exists(),
        "{SNAKEOIL} is needed: the server's certificate (apt-get install ssl-cert)"
    );
    let url = format!(
        "{}/postgres?sslmode=verify-full&sslrootcert={SNAKEOIL}",
        pg_url().replace("127.0.0.1", "localhost")
    );
    // The connection is encrypted...
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    let row = sqlx::query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert!(row.get::<bool, _>("ssl"), "not encrypted");
    // ...and the store opens (and migrates) through it, on a database of
    // its own: never the machine's `postgres` database, whose schema would
    // then hold this build's migrations for every later run.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let db = format!("proofkey_tls_{}_{nanos}", std::process::id());
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut c)
        .await
        .unwrap();
    let store_url = url.replacen("/postgres?", &format!("/{db}?"), 1);
    let store = proofkey_store::open(&store_url).await.unwrap();
    store.ping().await.unwrap();
    drop(store);
    sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(&mut c)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_certificate_its_root_does_not_vouch_for_is_refused() {
    // The public web's roots do not vouch for a self-signed certificate.
    let url = format!(
        "{}/postgres?sslmode=verify-ca&sslrootcert=/etc/ssl/certs/ca-certificates.crt",
        pg_url()
    );
    assert!(proofkey_store::open(&url).await.is_err());
    let url = format!(
        "{}/postgres?sslmode=verify-full&sslrootcert={SNAKEOIL}",
        pg_url()
    );
    // verify-full also checks the name: the certificate names localhost,
    // not 127.0.0.1.
    assert!(proofkey_store::open(&url).await.is_err());
}
