//! RFC 6749 §10.10: password guessing is prevented. Wrong passwords count
//! per account and per address in the store; growing delays, then a lock;
//! one answer for unknown users, wrong passwords and blocked accounts; a
//! sign-in resets the account's count; a blocked address gets 429 with
//! `Retry-After`; two nodes on one PostgreSQL database count together.
//! Time is the server's injected clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use proofkey_pkce::CodeVerifier;

const INVALID: &str = "username and password do not match";

async fn setup(tweak: impl FnOnce(&mut proofkey_core::Config)) -> TestServer {
    let s = TestServer::start_with(tweak).await;
    s.public_client("app", &[REDIRECT], true).await;
    s.user("alice").await;
    s.user("bob").await;
    s
}

/// One sign-in on a fresh login page: the answer page.
async fn sign_in(s: &TestServer, username: &str, password: &str) -> Page {
    let mut b = s.browser();
    let verifier = CodeVerifier::generate();
    let page = b
        .get(&AuthRequest::new("app", &verifier).url(&s.base))
        .await;
    b.login(&s.base, &page, username, password).await
}

fn signed_in(p: &Page) -> bool {
    p.status == 303 && p.location().is_some_and(|l| l.starts_with("/authorize?"))
}

fn refused(p: &Page) -> bool {
    p.status == 200 && p.body.contains(INVALID)
}

/// Ten wrong passwords, with the delays between them waited out, lock the
/// account: the right password is then refused with the same answer as a
/// wrong one, until the lockout has passed.
#[tokio::test]
async fn ten_wrong_passwords_lock_the_account() {
    let s = setup(|_| {}).await;
    for i in 1..=10 {
        assert!(refused(&sign_in(&s, "alice", "wrong").await), "attempt {i}");
        // Past any delay (the longest before the lock: 32 s), well within
        // the 15-minute window.
        s.clock.advance(64);
    }
    let locked = sign_in(&s, "alice", PASSWORD).await;
    assert!(refused(&locked), "locked: {}", locked.body);
    // Another account is not affected.
    assert!(signed_in(&sign_in(&s, "bob", PASSWORD).await));
    s.clock.advance(15 * 60);
    assert!(signed_in(&sign_in(&s, "alice", PASSWORD).await));
}

/// After three failures each further one delays the next attempt (1 s,
/// then 2 s, ...): an attempt inside the delay is refused unchecked, even
/// with the right password; after it, the right password works and
/// clears the count.
#[tokio::test]
async fn failures_past_three_delay_the_next_attempt() {
    let s = setup(|_| {}).await;
    for _ in 0..4 {
        assert!(refused(&sign_in(&s, "alice", "wrong").await));
    }
    let inside = sign_in(&s, "alice", PASSWORD).await;
    assert!(
        refused(&inside),
        "inside the 1 s delay: {} {:?}",
        inside.status,
        inside.location()
    );
    s.clock.advance(1);
    assert!(signed_in(&sign_in(&s, "alice", PASSWORD).await));
    // The count was cleared: four more failures, not one, make a delay.
    for _ in 0..3 {
        assert!(refused(&sign_in(&s, "alice", "wrong").await));
    }
    assert!(signed_in(&sign_in(&s, "alice", PASSWORD).await));
}

/// An unknown username is counted and locked exactly like a real one: the
/// answers do not tell them apart.
#[tokio::test]
async fn unknown_users_get_the_same_answers() {
    let s = setup(|c| c.login_delay = std::time::Duration::ZERO).await;
    for name in ["alice", "nobody"] {
        for _ in 0..10 {
            let p = sign_in(&s, name, "wrong").await;
            assert!(refused(&p), "{name}: {}", p.body);
        }
    }
    let real = sign_in(&s, "alice", PASSWORD).await;
    let unknown = sign_in(&s, "nobody", PASSWORD).await;
    assert!(refused(&real) && refused(&unknown));
    assert_eq!(real.status, unknown.status);
}

/// A spray (two wrong passwords for each of many accounts) from one
/// address blocks the address: 429 with `Retry-After`, whatever the
/// account, the right password included.
#[tokio::test]
async fn a_spray_from_one_address_blocks_it() {
    let s = setup(|c| {
        c.login_delay = std::time::Duration::ZERO;
        c.login_address_max_failures = 20;
    })
    .await;
    for i in 0..10 {
        for _ in 0..2 {
            assert!(refused(&sign_in(&s, &format!("user{i}"), "wrong").await));
        }
    }
    let blocked = sign_in(&s, "bob", PASSWORD).await;
    assert_eq!(blocked.status, 429, "{}", blocked.body);
    assert_eq!(blocked.headers["retry-after"], "900");
    assert!(blocked.body.contains("Too many failed sign-ins"));
    s.clock.advance(15 * 60);
    assert!(signed_in(&sign_in(&s, "bob", PASSWORD).await));
}

/// The device page signs in through the same defence.
#[tokio::test]
async fn the_device_page_counts_the_same_failures() {
    let s = setup(|c| c.login_delay = std::time::Duration::ZERO).await;
    for _ in 0..10 {
        let mut b = s.browser();
        let page = b.get(&format!("{}/device", s.base)).await;
        let mut form = page.hidden_fields();
        form.push(("user_code".into(), "BBBB-BBBB".into()));
        form.push(("username".into(), "alice".into()));
        form.push(("password".into(), "wrong".into()));
        let p = b.post(&format!("{}/device", s.base), &form).await;
        assert!(p.body.contains(INVALID), "{}", p.body);
    }
    assert!(
        refused(&sign_in(&s, "alice", PASSWORD).await),
        "locked by the device page"
    );
}

/// Two nodes on one PostgreSQL database: failures at node A lock the
/// account at node B too.
#[tokio::test]
async fn two_nodes_count_together_on_postgres() {
    let db = fresh_postgres_db().await;
    let url = format!("{}/{db}", pg_url());
    let fast = |c: &mut proofkey_core::Config| c.login_delay = std::time::Duration::ZERO;
    let a = TestServer::start_on(&url, fast, None).await;
    let b = TestServer::start_on(&url, fast, None).await;
    a.public_client("app", &[REDIRECT], true).await;
    a.user("alice").await;
    for i in 0..10 {
        let node = if i % 2 == 0 { &a } else { &b };
        assert!(refused(&sign_in(node, "alice", "wrong").await));
    }
    assert!(
        refused(&sign_in(&b, "alice", PASSWORD).await),
        "node B agrees"
    );
    assert!(refused(&sign_in(&a, "alice", PASSWORD).await), "node A too");
    drop(a);
    drop(b);
    drop_postgres_db(&db).await;
}

/// A browser whose requests say they were forwarded for `client`.
fn forwarded_browser(client: &str) -> Browser {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("x-forwarded-for", client.parse().unwrap());
    Browser {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(h)
            .build()
            .unwrap(),
        cookies: Default::default(),
    }
}

async fn sign_in_as_from(s: &TestServer, client: &str, username: &str, password: &str) -> Page {
    let mut b = forwarded_browser(client);
    let page = b
        .get(&AuthRequest::new("app", &CodeVerifier::generate()).url(&s.base))
        .await;
    b.login(&s.base, &page, username, password).await
}

/// Behind a trusted proxy, each forwarded client address is counted on
/// its own: a spray from one blocks that one only. From an untrusted peer
/// the header is ignored, so a spray cannot escape its block by writing
/// other addresses there.
#[tokio::test]
async fn forwarded_addresses_count_only_behind_trusted_proxies() {
    let spray = |c: &mut proofkey_core::Config| {
        c.login_delay = std::time::Duration::ZERO;
        c.login_address_max_failures = 5;
    };
    let s = setup(|c| {
        spray(c);
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    for i in 0..5 {
        let p = sign_in_as_from(&s, "203.0.113.1", &format!("user{i}"), "wrong").await;
        assert!(refused(&p));
    }
    let blocked = sign_in_as_from(&s, "203.0.113.1", "bob", PASSWORD).await;
    assert_eq!(blocked.status, 429);
    let other = sign_in_as_from(&s, "203.0.113.2", "bob", PASSWORD).await;
    assert!(signed_in(&other), "another client behind the proxy");

    let s = setup(spray).await;
    for i in 0..5 {
        let p = sign_in_as_from(&s, &format!("203.0.113.{i}"), &format!("user{i}"), "wrong").await;
        assert!(refused(&p));
    }
    let blocked = sign_in_as_from(&s, "203.0.113.99", "bob", PASSWORD).await;
    assert_eq!(blocked.status, 429, "the header is not believed");
}

/// A disabled account's right password is answered as a wrong one and
/// counted as one: the address is blocked after exactly as many attempts
/// either way, so the block's timing does not tell a right guess.
#[tokio::test]
async fn a_disabled_accounts_right_password_counts_as_a_wrong_one() {
    let s = setup(|c| {
        c.login_address_max_failures = 2;
        c.login_delay = std::time::Duration::ZERO;
    })
    .await;
    let now = proofkey_core::clock::Clock::now(&s.clock);
    s.store.disable_user("alice", now).await.unwrap();
    for i in 1..=2 {
        let p = sign_in(&s, "alice", PASSWORD).await;
        assert!(refused(&p), "attempt {i}: {} {}", p.status, p.body);
    }
    let blocked = sign_in(&s, "bob", PASSWORD).await;
    assert_eq!(
        blocked.status, 429,
        "the address is blocked: {}",
        blocked.body
    );
}
