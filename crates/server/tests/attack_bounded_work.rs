//! Requests built to make the server work: every parser fed by a request
//! is linear and capped, so a hostile request costs about what a normal one
//! does (issue 13; RFC 6749 §3.3 scopes, §3.1 parameters). Times are
//! compared as ratios to a normal request on the same server, never to a
//! wall-clock bound.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use proofkey_core::model::{ClientKind, DEVICE_CODE_GRANT};

/// How many times a normal request's time a hostile one may take. Before
/// the fix, 100,000 scopes took 21 s against about 1 ms: 20,000 times.
const RATIO: u32 = 200;

async fn setup() -> TestServer {
    let s = TestServer::start().await;
    s.client_with("tv", ClientKind::Public, &[REDIRECT], |c| {
        c.grant_types = vec![DEVICE_CODE_GRANT.into()];
    })
    .await;
    s
}

/// The status a refusal that closed the connection before the client had
/// written its whole body is counted as: the server answered 413 and
/// closed, the client saw its write fail.
const CLOSED_EARLY: u16 = 0;

/// POSTs a raw form body; the status ([`CLOSED_EARLY`] if the server closed
/// the connection while the body was being sent), the JSON body (or Null)
/// and the time.
async fn post_raw(s: &TestServer, path: &str, body: String) -> (u16, serde_json::Value, Duration) {
    let started = Instant::now();
    let sent = s
        .http
        .post(s.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) if e.is_request() => {
            return (CLOSED_EARLY, serde_json::Value::Null, started.elapsed())
        }
        Err(e) => panic!("{e}"),
    };
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, body, started.elapsed())
}

/// The median time of a normal device authorization request.
async fn normal_time(s: &TestServer) -> Duration {
    let mut times = Vec::new();
    for _ in 0..7 {
        let (status, body, took) =
            post_raw(s, "/device_authorization", "client_id=tv&scope=".into()).await;
        assert_eq!(status, 200, "{body}");
        times.push(took);
    }
    times.sort();
    times[3]
}

fn scopes(n: usize) -> String {
    (0..n)
        .map(|i| format!("s{i}"))
        .collect::<Vec<_>>()
        .join("+")
}

/// The request of the attack: 100,000 scope tokens (672 KiB). It is larger
/// than any endpoint reads: 413, at once.
#[tokio::test]
async fn a_100000_scope_request_is_refused_at_once() {
    let s = setup().await;
    let normal = normal_time(&s).await;
    let (status, _, took) = post_raw(
        &s,
        "/device_authorization",
        format!("client_id=tv&scope={}", scopes(100_000)),
    )
    .await;
    assert!([413, CLOSED_EARLY].contains(&status), "{status}");
    assert!(took < normal * RATIO, "{took:?} against {normal:?}");
}

/// Under the body limit, as many scopes as fit (about 9,000, 60 KiB): the
/// scope parameter is refused by its length (`invalid_scope`), on every
/// endpoint that takes one, in about a normal request's time.
#[tokio::test]
async fn a_long_scope_parameter_is_refused_everywhere() {
    let s = setup().await;
    let normal = normal_time(&s).await;
    let many = scopes(9_000);
    assert!(many.len() < 64 * 1024 - 100);
    for (path, form) in [
        (
            "/device_authorization",
            format!("client_id=tv&scope={many}"),
        ),
        (
            "/token",
            format!("grant_type=client_credentials&client_id=tv&scope={many}"),
        ),
        (
            "/token",
            format!("grant_type=refresh_token&client_id=tv&refresh_token=x&scope={many}"),
        ),
    ] {
        let (status, body, took) = post_raw(&s, path, form).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(took < normal * RATIO, "{path}: {took:?} against {normal:?}");
        if path == "/device_authorization" {
            assert_eq!(body["error"], "invalid_scope", "{body}");
        }
    }
}

/// The authorization endpoint, whose query is limited by the header size
/// only: the same refusal, as an error redirect (the client and redirect
/// URI are valid).
#[tokio::test]
async fn a_long_scope_at_the_authorization_endpoint_is_refused() {
    let s = TestServer::start().await;
    s.public_client("app", &[REDIRECT], false).await;
    let verifier = proofkey_pkce::CodeVerifier::generate();
    let req = AuthRequest::new("app", &verifier).with("scope", &scopes(8_000).replace('+', " "));
    let normal = {
        let started = Instant::now();
        let page = s
            .browser()
            .get(&AuthRequest::new("app", &verifier).url(&s.base))
            .await;
        assert_eq!(page.status, 200);
        started.elapsed()
    };
    let started = Instant::now();
    let page = s.browser().get(&req.url(&s.base)).await;
    let took = started.elapsed();
    let params = page.redirect_params();
    assert_eq!(params["error"], "invalid_scope", "{params:?}");
    assert!(took < normal * RATIO, "{took:?} against {normal:?}");
}

/// Thousands of parameters: the first 64 are read, the request is
/// refused as `invalid_request`.
#[tokio::test]
async fn too_many_parameters_are_refused() {
    let s = setup().await;
    let normal = normal_time(&s).await;
    let pairs: Vec<String> = (0..5_000).map(|i| format!("p{i}=v")).collect();
    let (status, body, took) = post_raw(
        &s,
        "/device_authorization",
        format!("client_id=tv&{}", pairs.join("&")),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("more than 64 parameters"),
        "{body}"
    );
    assert!(took < normal * RATIO, "{took:?} against {normal:?}");
}

/// While two clients keep sending the attack's request (100,000 scopes),
/// `/healthz` answers about as fast as when nothing else runs. (Before the
/// fix, each such request held a worker thread for 21 s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_stays_fast_under_hostile_requests() {
    let s = setup().await;
    // A client of its own: the hostile requests' connections, which the
    // server closes after a 413, never come back from a shared pool as a
    // dead connection for the probe (reqwest's IncompleteMessage).
    let probe = http_client();
    let health = || async {
        let started = Instant::now();
        let r = probe.get(s.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        started.elapsed()
    };
    let median_of_7 = || async {
        let mut times = Vec::new();
        for _ in 0..7 {
            times.push(health().await);
        }
        times.sort();
        times[3]
    };
    let quiet = median_of_7().await;
    let done = std::sync::atomic::AtomicBool::new(false);
    let body = format!("client_id=tv&scope={}", scopes(100_000));
    let hostile = || async {
        let mut sent = 0;
        while !done.load(std::sync::atomic::Ordering::Relaxed) || sent == 0 {
            let (status, _, _) = post_raw(&s, "/device_authorization", body.clone()).await;
            assert!([413, CLOSED_EARLY].contains(&status), "{status}");
            sent += 1;
        }
    };
    let (_, _, busy) = tokio::join!(hostile(), hostile(), async {
        let busy = median_of_7().await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        busy
    });
    assert!(busy < quiet * RATIO, "{busy:?} against {quiet:?}");
}
