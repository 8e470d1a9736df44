//! The issuer's JWK Set as this crate fetches it (RFC 8414 discovery,
//! RFC 7517 sets): cached, refetched on an unknown `kid` at most once per
//! interval however many such tokens arrive, rotated keys picked up,
//! withdrawn keys dropped, and every fetch bounded in size and time. The
//! stand-in issuer counts what it serves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;

use common::{assert_invalid_token, challenge, Api, Issuer, TestKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn setup() -> (Issuer, Api, TestKey) {
    let issuer = Issuer::start().await;
    let key = TestKey::es256("k1");
    issuer.publish(&key);
    let api = Api::start(&issuer).await;
    (issuer, api, key)
}

#[tokio::test]
async fn discovers_the_jwks_uri_once_and_keeps_the_set() {
    let (issuer, api, key) = setup().await;
    for _ in 0..10 {
        let token = key.sign(&api.claims(&issuer.base));
        assert_eq!(api.get("/mcp", &token).await.status(), 200);
    }
    assert_eq!(issuer.metadata_fetches(), 1);
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn a_configured_jwks_uri_skips_discovery() {
    let issuer = Issuer::start().await;
    let key = TestKey::es256("k1");
    issuer.publish(&key);
    let jwks = format!("{}/jwks.json", issuer.base);
    let api = Api::start_with(&issuer.base, |b| b.jwks_uri(&jwks)).await;
    let token = key.sign(&api.claims(&issuer.base));
    assert_eq!(api.get("/mcp", &token).await.status(), 200);
    assert_eq!(issuer.metadata_fetches(), 0);
    assert_eq!(issuer.jwks_fetches(), 1);
}

/// An unknown `kid` causes exactly one refetch; the token is then refused.
#[tokio::test]
async fn an_unknown_kid_causes_one_refetch_then_401() {
    let (issuer, api, key) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    assert_eq!(
        api.get("/mcp", &key.sign(&api.claims(&issuer.base)))
            .await
            .status(),
        200
    );
    assert_eq!(issuer.jwks_fetches(), 1);
    api.clock.advance(30);

    let stranger = TestKey::es256("not-published");
    let token = stranger.sign(&api.claims(&issuer.base));
    assert_invalid_token(api.get("/mcp", &token).await, "unknown key", &url).await;
    assert_eq!(issuer.jwks_fetches(), 2);
    // Within the interval, the same token does not cause another.
    assert_invalid_token(api.get("/mcp", &token).await, "unknown key", &url).await;
    assert_eq!(issuer.jwks_fetches(), 2);
    // The known key still works meanwhile, without a fetch.
    assert_eq!(
        api.get("/mcp", &key.sign(&api.claims(&issuer.base)))
            .await
            .status(),
        200
    );
    assert_eq!(issuer.jwks_fetches(), 2);
}

/// A flood of tokens with made-up `kid`s, all at once: one fetch per
/// interval, not one per token; the next interval allows one more.
#[tokio::test]
async fn a_burst_of_unknown_kids_costs_one_fetch_per_interval() {
    let (issuer, api, key) = setup().await;
    assert_eq!(
        api.get("/mcp", &key.sign(&api.claims(&issuer.base)))
            .await
            .status(),
        200
    );
    api.clock.advance(31);
    let before = issuer.jwks_fetches();

    let stranger = TestKey::es256("x");
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..64 {
        let header =
            serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": format!("random-{i}")});
        let token = stranger.sign_with_header(&header, &api.claims(&issuer.base));
        let (http, url) = (api.http.clone(), format!("{}/mcp", api.base));
        burst.spawn(async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    let statuses = burst.join_all().await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(issuer.jwks_fetches() - before, 1);

    // Sequential ones within the interval: none.
    for i in 0..10 {
        let header =
            serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": format!("seq-{i}")});
        let token = stranger.sign_with_header(&header, &api.claims(&issuer.base));
        assert_eq!(api.get("/mcp", &token).await.status(), 401);
    }
    assert_eq!(issuer.jwks_fetches() - before, 1);

    api.clock.advance(30);
    assert_eq!(
        api.get("/mcp", &stranger.sign(&api.claims(&issuer.base)))
            .await
            .status(),
        401
    );
    assert_eq!(issuer.jwks_fetches() - before, 2);
}

/// Key rotation: the issuer publishes a new key and signs with it; the
/// first token under it triggers the refetch and is accepted. The old key,
/// still published, keeps working.
#[tokio::test]
async fn a_rotated_key_is_accepted_after_a_refetch() {
    let (issuer, api, old) = setup().await;
    assert_eq!(
        api.get("/mcp", &old.sign(&api.claims(&issuer.base)))
            .await
            .status(),
        200
    );
    let new = TestKey::es256("k2");
    issuer.publish(&new);
    api.clock.advance(45);
    let resp = api.get("/mcp", &new.sign(&api.claims(&issuer.base))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(issuer.jwks_fetches(), 2);
    assert_eq!(
        api.get("/mcp", &old.sign(&api.claims(&issuer.base)))
            .await
            .status(),
        200
    );
    assert_eq!(
        api.get("/mcp", &new.sign(&api.claims(&issuer.base)))
            .await
            .status(),
        200
    );
    assert_eq!(issuer.jwks_fetches(), 2);
}

/// The documented price of the bound: a key first used within the
/// interval after a fetch is refused until the interval has passed.
#[tokio::test]
async fn a_key_used_within_the_interval_is_refused_until_it_passes() {
    let (issuer, api, old) = setup().await;
    assert_eq!(
        api.get("/mcp", &old.sign(&api.claims(&issuer.base)))
            .await
            .status(),
        200
    );
    let new = TestKey::es256("k2");
    issuer.publish(&new);
    api.clock.advance(10);
    assert_eq!(
        api.get("/mcp", &new.sign(&api.claims(&issuer.base)))
            .await
            .status(),
        401
    );
    assert_eq!(issuer.jwks_fetches(), 1);
    api.clock.advance(20);
    assert_eq!(
        api.get("/mcp", &new.sign(&api.claims(&issuer.base)))
            .await
            .status(),
        200
    );
    assert_eq!(issuer.jwks_fetches(), 2);
}

/// A key the issuer withdraws stops being accepted once the set is older
/// than its maximum age (5 min by default).
#[tokio::test]
async fn a_withdrawn_key_is_dropped_after_the_max_age() {
    let (issuer, api, old) = setup().await;
    let new = TestKey::es256("k2");
    issuer.publish(&new);
    let url = api.rs.resource_metadata_url().to_owned();
    // Long-lived tokens, so that only the key matters.
    let mut claims = api.claims(&issuer.base);
    claims["exp"] = (api.clock_now() + 7200).into();
    let token = old.sign(&claims);
    assert_eq!(api.get("/mcp", &token).await.status(), 200);
    issuer.withdraw("k1");
    api.clock.advance(299);
    assert_eq!(api.get("/mcp", &token).await.status(), 200);
    assert_eq!(issuer.jwks_fetches(), 1);
    api.clock.advance(1);
    assert_invalid_token(api.get("/mcp", &token).await, "unknown key", &url).await;
    assert_eq!(issuer.jwks_fetches(), 2);
    let mut claims = api.claims(&issuer.base);
    claims["exp"] = (api.clock_now() + 7200).into();
    assert_eq!(api.get("/mcp", &new.sign(&claims)).await.status(), 200);
}

/// A stale set whose refresh fails is kept: the issuer being down does not
/// turn good tokens away.
#[tokio::test]
async fn a_stale_set_is_kept_when_its_refresh_fails() {
    let issuer = Issuer::start().await;
    let key = TestKey::es256("k1");
    issuer.publish(&key);
    let relay = Relay::start(&issuer).await;
    let api = Api::start_with(&issuer.base, |b| b.jwks_uri(&relay.url)).await;
    assert_eq!(
        api.get("/mcp", &key.sign(&api.claims(&issuer.base)))
            .await
            .status(),
        200
    );
    assert_eq!(relay.served(), 1);
    relay.fail.store(true, Ordering::SeqCst);
    api.clock.advance(700);
    assert_eq!(
        api.get("/mcp", &key.sign(&api.claims(&issuer.base)))
            .await
            .status(),
        200
    );
    assert_eq!(relay.served(), 2, "the stale set's refresh was attempted");
    // And not again on every request while it fails.
    assert_eq!(
        api.get("/mcp", &key.sign(&api.claims(&issuer.base)))
            .await
            .status(),
        200
    );
    assert_eq!(relay.served(), 2);
}

/// No set yet and the issuer unreachable: 503, not 401 (the token may be
/// good); further tokens within the interval get 503 with Retry-After
/// without another attempt.
#[tokio::test]
async fn an_unreachable_issuer_is_503_not_401() {
    let (dead, listener) = dead_address().await;
    drop(listener);
    let key = TestKey::es256("k1");
    let api = Api::start_with(&dead, |b| b).await;
    let resp = api.get("/mcp", &key.sign(&api.claims(&dead))).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(challenge(&resp), "");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let resp = api.get("/mcp", &key.sign(&api.claims(&dead))).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "30");
    assert_eq!(api.handled(), 0);
}

/// RFC 8414 §3.3: metadata naming another issuer is not used.
#[tokio::test]
async fn metadata_for_another_issuer_is_refused() {
    let (issuer, api, key) = setup().await;
    *issuer.state.metadata_issuer.lock().unwrap() = Some("https://evil.example".into());
    let resp = api.get("/mcp", &key.sign(&api.claims(&issuer.base))).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(issuer.metadata_fetches(), 1);
    assert_eq!(issuer.jwks_fetches(), 0);
}

/// A JWK Set announcing a body over the cap is refused before reading it.
#[tokio::test]
async fn an_oversized_jwks_is_refused() {
    let hostile = serve_raw(|| {
        let body = format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(100 * 1024));
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    })
    .await;
    let api = Api::start_with("http://127.0.0.1:9", |b| {
        b.jwks_uri(&format!("{hostile}/jwks.json"))
    })
    .await;
    let key = TestKey::es256("k1");
    let resp = api
        .get("/mcp", &key.sign(&api.claims("http://127.0.0.1:9")))
        .await;
    assert_eq!(resp.status(), 503);
}

/// An endless body without a length is abandoned just past the cap: the
/// stand-in manages to write little more than the socket buffers hold,
/// not the gigabytes the HTTP timeout would allow.
#[tokio::test]
async fn an_endless_jwks_body_is_abandoned_early() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let writer = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        read_request_head(&mut sock).await;
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        let chunk = format!("4000\r\n{}\r\n", " ".repeat(0x4000));
        let mut written: usize = 0;
        // Bounded: 1 GiB at most, so that a failure cannot hang the test.
        while written < 1 << 30 {
            if sock.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
            written += 0x4000;
        }
        written
    });
    let api = Api::start_with("http://127.0.0.1:9", |b| {
        b.jwks_uri(&format!("http://{addr}/jwks.json"))
            .http_timeout(Duration::from_secs(30))
    })
    .await;
    let key = TestKey::es256("k1");
    let resp = api
        .get("/mcp", &key.sign(&api.claims("http://127.0.0.1:9")))
        .await;
    assert_eq!(resp.status(), 503);
    let written = tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .expect("the resource server kept reading")
        .unwrap();
    assert!(written < 64 << 20, "{written} bytes streamed");
}

/// A JWK Set that never comes is given up at the HTTP timeout.
#[tokio::test]
async fn a_stalled_jwks_is_given_up_at_the_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _stall = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        read_request_head(&mut sock).await;
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"keys\":")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(sock);
    });
    let api = Api::start_with("http://127.0.0.1:9", |b| {
        b.jwks_uri(&format!("http://{addr}/jwks.json"))
            .http_timeout(Duration::from_millis(300))
    })
    .await;
    let key = TestKey::es256("k1");
    let resp = tokio::time::timeout(
        Duration::from_secs(20),
        api.get("/mcp", &key.sign(&api.claims("http://127.0.0.1:9"))),
    )
    .await
    .expect("the resource server waited past its timeout");
    assert_eq!(resp.status(), 503);
}

/// Symmetric keys in the issuer's set are never used, even for a token
/// whose `alg` is an HMAC one.
#[tokio::test]
async fn symmetric_keys_in_the_set_are_ignored() {
    let (issuer, api, _) = setup().await;
    let url = api.rs.resource_metadata_url().to_owned();
    issuer.state.keys.lock().unwrap().push(serde_json::json!({
        "kty": "oct", "kid": "shared", "k": "c2hhcmVkLXNlY3JldC1zaGFyZWQtc2VjcmV0", "alg": "HS256"
    }));
    let token = common::sign_raw(
        &serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": "shared"}),
        &api.claims(&issuer.base),
        &jsonwebtoken::EncodingKey::from_secret(b"shared-secret-shared-secret"),
        jsonwebtoken::Algorithm::HS256,
    );
    assert_invalid_token(
        api.get("/mcp", &token).await,
        "algorithm is not accepted",
        &url,
    )
    .await;
    assert_eq!(issuer.jwks_fetches(), 0);
}

/// An address nothing listens on (the listener is returned to be dropped).
async fn dead_address() -> (String, TcpListener) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    (format!("http://{}", l.local_addr().unwrap()), l)
}

/// Answers every connection with `response()` then closes it.
async fn serve_raw(response: impl Fn() -> Vec<u8> + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            read_request_head(&mut sock).await;
            let _ = sock.write_all(&response()).await;
            let _ = sock.shutdown().await;
        }
    });
    format!("http://{addr}")
}

/// Reads up to the end of a request's head (bounded).
async fn read_request_head(sock: &mut tokio::net::TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
}

/// A JWK Set URL relaying the issuer's keys, or answering 500 once `fail`
/// is set; it counts its requests.
struct Relay {
    url: String,
    fail: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
}

impl Relay {
    async fn start(issuer: &Issuer) -> Self {
        let fail = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let (state, f, c) = (issuer.state.clone(), fail.clone(), count.clone());
        let relay = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (state, f, c) = (state.clone(), f.clone(), c.clone());
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    if f.load(Ordering::SeqCst) {
                        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    }
                    axum::Json(serde_json::json!({"keys": state.keys.lock().unwrap().clone()}))
                        .into_response()
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, relay).await.unwrap() });
        Self { url, fail, count }
    }

    fn served(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}
