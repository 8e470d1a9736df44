//! Password checks under a flood of sign-ins (issue 13): each check holds
//! argon2's 19 MiB block, so they run a few at a time, sized to the
//! machine, and a sign-in that cannot get its turn within the wait is
//! answered 503 with `Retry-After`. Tried against the real binary, whose
//! memory is the one measured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Browser, Server};

/// Signs in as bob at the device page (with a code that does not exist);
/// the answer.
fn device_sign_in(base: &str, password: &str) -> common::Page {
    let mut b = Browser::new();
    let page = b.get(&format!("{base}/device"));
    let mut form = page.hidden_fields();
    form.push(("user_code".into(), "BBBB-BBBB".into()));
    form.push(("username".into(), "bob".into()));
    form.push(("password".into(), password.into()));
    b.post(&format!("{base}/device"), &form)
}

fn wrong_password(base: &str) -> common::Page {
    device_sign_in(base, "not the password")
}

fn concurrently(base: &str, n: usize) -> Vec<common::Page> {
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let base = base.to_owned();
            std::thread::spawn(move || wrong_password(&base))
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// 64 sign-ins at once, all waiting their turn in two slots: every one is
/// answered, and the server's peak memory stays near its idle size plus
/// two argon2 blocks (measured: 24 MiB idle, 66 MiB peak), far below 64
/// blocks (1.2 GiB; before the slots, 96 took a server to 4.4 GB).
#[test]
fn sixty_four_concurrent_sign_ins_keep_memory_bounded() {
    let s = Server::start(&[
        "--password-hash-concurrency",
        "2",
        "--password-hash-wait",
        "60s",
    ]);
    s.admin(
        &["user", "create", "bob", "--password-stdin"],
        Some("secret-password\n"),
    );
    let pages = concurrently(&s.base, 64);
    for p in &pages {
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(
            p.body.contains("username and password do not match"),
            "{}",
            p.body
        );
    }
    let peak_mib = s.peak_rss_kib() / 1024;
    assert!(peak_mib < 128, "peak resident memory {peak_mib} MiB");
}

/// One check at a time and no wait: of 16 sign-ins at once, those that
/// find the slot taken are told to come back, with 503 and `Retry-After`.
#[test]
fn sign_ins_past_the_slots_get_503_with_retry_after() {
    let s = Server::start(&[
        "--password-hash-concurrency",
        "1",
        "--password-hash-wait",
        "0s",
    ]);
    s.admin(
        &["user", "create", "bob", "--password-stdin"],
        Some("secret-password\n"),
    );
    let pages = concurrently(&s.base, 16);
    let busy: Vec<_> = pages.iter().filter(|p| p.status == 503).collect();
    assert!(!busy.is_empty(), "no sign-in was turned away");
    for p in &busy {
        assert_eq!(p.retry_after.as_deref(), Some("1"));
        assert!(
            p.body.contains("The service is busy right now"),
            "{}",
            p.body
        );
    }
    for p in pages.iter().filter(|p| p.status != 503) {
        assert!(
            p.body.contains("username and password do not match"),
            "{}",
            p.body
        );
    }
}

/// `proofkey user unlock` lifts a lock made by wrong passwords, on the
/// running server's database.
#[test]
fn user_unlock_lifts_a_lock() {
    let s = Server::start(&[
        "--login-delay",
        "0s",
        "--login-address-max-failures",
        "1000",
    ]);
    s.admin(
        &["user", "create", "bob", "--password-stdin"],
        Some("secret-password\n"),
    );
    for _ in 0..10 {
        assert!(wrong_password(&s.base)
            .body
            .contains("username and password do not match"));
    }
    let locked = device_sign_in(&s.base, "secret-password");
    assert!(
        locked.body.contains("username and password do not match"),
        "locked"
    );
    let out = s.admin(
        &["user", "unlock", "bob", "--address", "127.0.0.1", "--json"],
        None,
    );
    let out: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out["account_cleared"], true);
    let open = device_sign_in(&s.base, "secret-password");
    assert!(
        !open.body.contains("username and password do not match"),
        "{}",
        open.body
    );
    assert!(
        open.body.contains("not valid"),
        "signed in, the code refused: {}",
        open.body
    );
}

/// `user set-password` signs out whoever knew the old password: the
/// user's sessions end (and their tokens are revoked), unless
/// --keep-sessions.
#[test]
fn set_password_ends_the_sessions() {
    let s = Server::start(&[]);
    s.admin(
        &["user", "create", "bob", "--password-stdin"],
        Some("secret-password\n"),
    );
    let signed_in_browser = || {
        let mut b = Browser::new();
        let page = b.get(&format!("{}/device", s.base));
        let mut form = page.hidden_fields();
        form.push(("user_code".into(), "BBBB-BBBB".into()));
        form.push(("username".into(), "bob".into()));
        form.push(("password".into(), "secret-password".into()));
        let p = b.post(&format!("{}/device", s.base), &form);
        assert!(p.body.contains("not valid"), "signed in: {}", p.body);
        b
    };
    let signed_in = |b: &mut Browser| {
        !b.get(&format!("{}/device", s.base))
            .body
            .contains("name=\"password\"")
    };
    let mut kept = signed_in_browser();
    let out = s.admin(
        &[
            "user",
            "set-password",
            "bob",
            "--password-stdin",
            "--keep-sessions",
            "--json",
        ],
        Some("another-password\n"),
    );
    let out: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out["sessions_ended"], 0);
    assert!(signed_in(&mut kept), "--keep-sessions keeps it");
    let out = s.admin(
        &["user", "set-password", "bob", "--password-stdin", "--json"],
        Some("a-third-password\n"),
    );
    let out: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out["sessions_ended"], 1);
    assert!(!signed_in(&mut kept), "the session ended");
}
