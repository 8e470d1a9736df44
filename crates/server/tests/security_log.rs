//! Security events (issue 13): one structured line each at the
//! `proofkey::security` target, with the username, the client and the
//! address. Captured from the in-process server: the test runtime has one
//! thread, so the server's tasks log through the test's subscriber.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use proofkey_pkce::CodeVerifier;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The JSON events with this `event` field.
    fn events(&self, event: &str) -> Vec<serde_json::Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"] == "proofkey::security" && v["fields"]["event"] == event)
            .collect()
    }
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    (out, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn a_failed_sign_in_names_the_user_the_client_and_the_address() {
    let (log, _guard) = capture();
    let s = TestServer::start().await;
    s.public_client("app", &[REDIRECT], true).await;
    s.user("alice").await;
    let mut b = s.browser();
    let page = b
        .get(&AuthRequest::new("app", &CodeVerifier::generate()).url(&s.base))
        .await;
    b.login(&s.base, &page, "alice", "wrong").await;
    let events = log.events("sign_in_failed");
    assert_eq!(events.len(), 1, "{events:?}");
    let f = &events[0]["fields"];
    assert_eq!(f["username"], "alice");
    assert_eq!(f["client_id"], "app");
    assert_eq!(f["address"], "127.0.0.1");
    assert_eq!(f["failures"], 1);
}

#[tokio::test]
async fn a_code_replay_names_the_user_the_client_and_the_address() {
    let (log, _guard) = capture();
    let s = TestServer::start().await;
    s.public_client("app", &[REDIRECT], true).await;
    s.user("alice").await;
    let verifier = CodeVerifier::generate();
    let req = AuthRequest::new("app", &verifier);
    let page = s.browser().authorize(&s.base, &req, "alice").await;
    let code = code_of(&page, &s.base, &req.state);
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", "app"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.secret()),
    ];
    assert_eq!(s.token(&form).await.0, 200);
    assert_eq!(s.token(&form).await.0, 400);
    let events = log.events("authorization code replayed");
    assert_eq!(events.len(), 1, "{events:?}");
    let f = &events[0]["fields"];
    assert_eq!(f["username"], "alice");
    assert_eq!(f["client_id"], "app");
    assert_eq!(f["address"], "127.0.0.1");
}
