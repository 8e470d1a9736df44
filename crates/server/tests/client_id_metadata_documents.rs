//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! MCP 2025-11-25): a `client_id` that is an https URL is fetched, checked
//! and used; every refusal the issue lists (http, a private address, an
//! oversized document, a mismatched `client_id`, a redirect not in the
//! document), host allow and deny lists, HTTP caching with a cap, and the
//! consent page.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use common::*;
use proofkey_pkce::CodeVerifier;
use serde_json::json;

/// The documents' host: each document's `client_id` is its own URL (read
/// from the `Host` header), except where a case says otherwise.
#[derive(Clone)]
struct Docs {
    fetches: Arc<AtomicUsize>,
    /// `slow-*.json` answers only once the test adds permits here.
    gate: Arc<tokio::sync::Semaphore>,
}

impl Default for Docs {
    fn default() -> Self {
        Self {
            fetches: Arc::default(),
            gate: Arc::new(tokio::sync::Semaphore::new(0)),
        }
    }
}

async fn doc(
    State(d): State<Docs>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> axum::response::Response {
    d.fetches.fetch_add(1, Ordering::SeqCst);
    let host = headers[header::HOST].to_str().unwrap().to_owned();
    let me = format!("https://{host}/{name}");
    let good = json!({
        "client_id": me,
        "client_name": "Example MCP client",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    });
    let cache = [(header::CACHE_CONTROL, "max-age=600")];
    match name.as_str() {
        "good.json" | "cached.json" => (cache, axum::Json(good)).into_response(),
        slow if slow.starts_with("slow-") => {
            let _ = d.gate.acquire().await.map(|p| p.forget());
            (cache, axum::Json(good)).into_response()
        }
        "nostore.json" => ([(header::CACHE_CONTROL, "no-store")], axum::Json(good)).into_response(),
        "mismatch.json" => {
            let mut d = good;
            d["client_id"] = json!(format!("https://{host}/other.json"));
            axum::Json(d).into_response()
        }
        "secret.json" => {
            let mut d = good;
            d["token_endpoint_auth_method"] = json!("client_secret_basic");
            axum::Json(d).into_response()
        }
        "big.json" => {
            let mut d = good;
            d["padding"] = json!("x".repeat(20_000));
            axum::Json(d).into_response()
        }
        "notjson.json" => "<html>hello</html>".into_response(),
        // A client acting on its own behalf: nobody vouched for it.
        "service.json" => {
            let mut d = good;
            d["token_endpoint_auth_method"] = json!("private_key_jwt");
            d["jwks_uri"] = json!(format!("https://{host}/jwks.json"));
            d["grant_types"] = json!(["client_credentials"]);
            axum::Json(d).into_response()
        }
        "logout.json" => {
            let mut d = good;
            d["post_logout_redirect_uris"] = json!(["com.evil.app:/x"]);
            axum::Json(d).into_response()
        }
        _ => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

const SNAKEOIL_KEY: &str = "/etc/ssl/private/ssl-cert-snakeoil.key";

/// Serves `app` over https on 127.0.0.1:0 with the snakeoil certificate;
/// returns `https://localhost:PORT`.
async fn https_server(app: axum::Router) -> String {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(SNAKEOIL_CERT)
        .expect("ssl-cert's snakeoil certificate (apt-get install ssl-cert)")
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(SNAKEOIL_KEY).expect("the snakeoil key (run as root)");
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req| {
                    let app = app.clone();
                    async move {
                        use tower::ServiceExt;
                        app.oneshot(req.map(axum::body::Body::new)).await
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    format!("https://localhost:{port}")
}

async fn docs_host() -> (String, Docs) {
    let docs = Docs::default();
    let app = axum::Router::new()
        .route("/{name}", axum::routing::get(doc))
        .with_state(docs.clone());
    (https_server(app).await, docs)
}

async fn server_with(tweak: impl FnOnce(&mut proofkey_core::Config)) -> TestServer {
    let s = TestServer::start_with(|c| {
        c.client_id_metadata.enabled = true;
        // The documents are served on this machine's loopback.
        c.client_id_metadata.allow_insecure_addresses = true;
        tweak(c);
    })
    .await;
    s.user("alice").await;
    s
}

/// The authorization endpoint's first answer for `client_id`.
async fn first_page(s: &TestServer, client_id: &str, redirect: &str) -> Page {
    let v = CodeVerifier::generate();
    let mut req = AuthRequest::new(client_id, &v);
    req.redirect_uri = redirect.into();
    s.browser().get(&req.url(&s.base)).await
}

async fn refused(s: &TestServer, client_id: &str) -> String {
    let page = first_page(s, client_id, REDIRECT).await;
    assert_eq!(page.status, 400, "{client_id}: {}", page.body);
    assert!(page.location().is_none(), "never redirected");
    page.body
}

#[tokio::test]
async fn a_document_client_signs_in_with_pkce_and_is_shown_as_unverified() {
    let (host, _) = docs_host().await;
    let s = server_with(|_| {}).await;
    let d: serde_json::Value = s
        .http
        .get(s.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["client_id_metadata_document_supported"], true);

    let id = format!("{host}/good.json");
    let v = CodeVerifier::generate();
    let req = AuthRequest::new(&id, &v);
    let mut b = s.browser();
    let login = b.get(&req.url(&s.base)).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let mut consent = b.login(&s.base, &login, "alice", PASSWORD).await;
    if consent.status == 303 {
        consent = b
            .get(&format!("{}{}", s.base, consent.location().unwrap()))
            .await;
    }
    assert!(consent.body.contains("not verified"), "{}", consent.body);
    assert!(
        consent.body.contains(&format!(
            "<h1>Allow an application from {} to use your account?</h1>",
            host.trim_start_matches("https://")
        )),
        "{}",
        consent.body
    );
    let done = b.decide(&s.base, &consent, "allow").await;
    let code = code_of(&done, &s.base, &req.state);
    let (status, _, body) = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", v.secret()),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["client_id"],
        id
    );
}

#[tokio::test]
async fn documents_are_refused_as_the_issue_lists() {
    let (host, _) = docs_host().await;
    let s = server_with(|_| {}).await;
    let http_host = host.replace("https://", "http://");
    for (id, says) in [
        (format!("{http_host}/good.json"), "https"),
        (format!("{host}/big.json"), "larger than"),
        (format!("{host}/mismatch.json"), "not its own URL"),
        (format!("{host}/secret.json"), "client_secret_basic"),
        (format!("{host}/notjson.json"), "not JSON"),
        (format!("{host}/service.json"), "client_credentials"),
        (format!("{host}/logout.json"), "com.evil.app"),
        (
            format!("{}/good.json", host.replace("localhost:", "localhost.:")),
            "dot",
        ),
        (format!("{host}/missing.json"), "404"),
        (format!("{host}/"), "path"),
        (format!("{host}/a/../good.json"), "normal form"),
    ] {
        let body = refused(&s, &id).await;
        assert!(body.contains(says), "{id}: wanted {says:?} in {body}");
    }
    // A redirect URI the document does not list.
    let page = first_page(
        &s,
        &format!("{host}/good.json"),
        "http://127.0.0.1/elsewhere",
    )
    .await;
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("redirect_uri is not registered"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let (host, docs) = docs_host().await;
    let s = server_with(|c| c.client_id_metadata.allow_insecure_addresses = false).await;
    let body = refused(&s, &format!("{host}/good.json")).await;
    assert!(body.contains("no public address"), "{body}");
    let literal = host.replace("localhost", "127.0.0.1");
    let body = refused(&s, &format!("{literal}/good.json")).await;
    assert!(body.contains("not public"), "{body}");
    assert_eq!(
        docs.fetches.load(Ordering::SeqCst),
        0,
        "nothing reached the host"
    );
}

#[tokio::test]
async fn hosts_can_be_allowed_and_denied() {
    let (host, docs) = docs_host().await;
    let s = server_with(|c| c.client_id_metadata.denied_hosts = vec!["localhost".into()]).await;
    let body = refused(&s, &format!("{host}/good.json")).await;
    assert!(body.contains("not accepted here"), "{body}");
    let s =
        server_with(|c| c.client_id_metadata.allowed_hosts = vec!["*.example.com".into()]).await;
    refused(&s, &format!("{host}/good.json")).await;
    assert_eq!(docs.fetches.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn off_by_default() {
    let (host, docs) = docs_host().await;
    let s = TestServer::start().await;
    let body = refused(&s, &format!("{host}/good.json")).await;
    assert!(body.contains("not accepted here"), "{body}");
    assert_eq!(docs.fetches.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn caching_is_honoured_with_a_cap_and_failures_are_not_refetched_at_once() {
    let (host, docs) = docs_host().await;
    let s =
        server_with(|c| c.client_id_metadata.cache_max = std::time::Duration::from_secs(300)).await;
    let count = || docs.fetches.load(Ordering::SeqCst);
    let cached = format!("{host}/cached.json");
    assert_eq!(first_page(&s, &cached, REDIRECT).await.status, 200);
    assert_eq!(first_page(&s, &cached, REDIRECT).await.status, 200);
    assert_eq!(count(), 1, "max-age=600 is honoured");
    s.clock.advance(301);
    assert_eq!(first_page(&s, &cached, REDIRECT).await.status, 200);
    assert_eq!(count(), 2, "capped at client_id_metadata_cache_max");

    let nostore = format!("{host}/nostore.json");
    first_page(&s, &nostore, REDIRECT).await;
    first_page(&s, &nostore, REDIRECT).await;
    assert_eq!(count(), 4, "no-store is fetched each time");

    let missing = format!("{host}/missing.json");
    for _ in 0..5 {
        refused(&s, &missing).await;
    }
    assert_eq!(count(), 5, "a failure is remembered");
    s.clock.advance(31);
    refused(&s, &missing).await;
    assert_eq!(count(), 6);
}

#[tokio::test]
async fn slow_documents_cannot_hold_up_the_others() {
    let (host, docs) = docs_host().await;
    let s = server_with(|_| {}).await;
    let count = || docs.fetches.load(Ordering::SeqCst);
    // A known client first.
    let known = format!("{host}/cached.json");
    assert_eq!(first_page(&s, &known, REDIRECT).await.status, 200);
    assert_eq!(count(), 1);

    // Eight documents that do not answer, and a second request for one
    // of them (it waits for the same fetch, and makes none).
    let mut waiting = Vec::new();
    for i in 0..proofkey_core::cimd::MAX_FETCHES {
        let url = AuthRequest::new(&format!("{host}/slow-{i}.json"), &CodeVerifier::generate())
            .url(&s.base);
        waiting.push(tokio::spawn(async move {
            http_client().get(url).send().await.unwrap().status()
        }));
    }
    for _ in 0..500 {
        if count() == 1 + proofkey_core::cimd::MAX_FETCHES {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        count(),
        1 + proofkey_core::cimd::MAX_FETCHES,
        "all eight fetching"
    );
    let again =
        AuthRequest::new(&format!("{host}/slow-0.json"), &CodeVerifier::generate()).url(&s.base);
    waiting.push(tokio::spawn(async move {
        http_client().get(again).send().await.unwrap().status()
    }));

    // A new document is refused for now, at once, not queued behind them.
    let body = refused(&s, &format!("{host}/good.json")).await;
    assert!(body.contains("too many"), "{body}");
    // The known client is not held up: its document is cached.
    assert_eq!(first_page(&s, &known, REDIRECT).await.status, 200);

    docs.gate.add_permits(100);
    for w in waiting {
        assert_eq!(w.await.unwrap(), 200);
    }
    assert_eq!(
        count(),
        1 + proofkey_core::cimd::MAX_FETCHES,
        "one fetch per document"
    );
    assert_eq!(
        first_page(&s, &format!("{host}/good.json"), REDIRECT)
            .await
            .status,
        200
    );
}
