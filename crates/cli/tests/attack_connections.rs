//! Slow and idle clients against the real binary (issue 13): sockets that
//! send half a header, or nothing, are closed after `header_read_timeout`;
//! at most `max_connections` are open at once, the rest wait in the
//! backlog and are served later; `SIGTERM` ends the process within
//! `shutdown_timeout` whatever the sockets do; the open-file limit is
//! raised at start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Server;

fn connect(base: &str) -> TcpStream {
    TcpStream::connect(base.trim_start_matches("http://")).unwrap()
}

/// Reads until the server closes the socket; false if it is still open
/// after `within`.
fn closed_within(mut s: TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// An idle socket, one that sent half a header, and a kept-alive one idle
/// after its first answer are all closed once the header timeout passes
/// (here 1 s; before, such sockets stayed open 30 s and more).
#[test]
fn idle_and_half_header_sockets_are_closed() {
    let s = Server::start(&["--header-read-timeout", "1s"]);
    let idle = connect(&s.base);
    let mut half = connect(&s.base);
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut kept = connect(&s.base);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    for (name, socket) in [
        ("idle", idle),
        ("half a header", half),
        ("kept alive", kept),
    ] {
        assert!(
            closed_within(socket, Duration::from_secs(10)),
            "{name}: still open"
        );
    }
}

/// 64 idle sockets against a cap of 16: the server holds at most 16 of
/// them (the rest wait in the backlog, costing it no file), and a real
/// request behind them is served once the idle ones time out.
#[test]
fn connections_past_the_cap_wait_in_the_backlog() {
    let s = Server::start(&["--max-connections", "16", "--header-read-timeout", "1s"]);
    let before = open_files(s.pid());
    let idle: Vec<TcpStream> = (0..64).map(|_| connect(&s.base)).collect();
    // Let the server accept what it will.
    std::thread::sleep(Duration::from_millis(300));
    let held = open_files(s.pid()) - before;
    assert!(held <= 16 + 2, "the server holds {held} sockets");
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let r = http.get(format!("{}/healthz", s.base)).send().unwrap();
    assert_eq!(r.status(), 200);
    drop(idle);
}

/// A socket with half a request header, and one in the middle of a slow
/// body, do not keep `SIGTERM` from ending the process: it exits within
/// `shutdown_timeout` (here 1 s; before, over 50 s).
#[test]
fn sigterm_ends_the_process_within_the_shutdown_timeout() {
    let mut s = Server::start(&["--shutdown-timeout", "1s", "--header-read-timeout", "60s"]);
    let mut half = connect(&s.base);
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut slow = connect(&s.base);
    slow.write_all(
        b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let status = s.sigterm_and_wait(Duration::from_secs(15));
    assert!(status.is_some(), "still running 15 s after SIGTERM");
    assert!(status.unwrap().success(), "{status:?}");
    eprintln!("exited {:?} after SIGTERM", started.elapsed());
}

/// A request whose body never completes is answered 408 after
/// `request_timeout`.
#[test]
fn a_slow_body_gets_408() {
    let s = Server::start(&["--request-timeout", "1s"]);
    let mut slow = connect(&s.base);
    slow.write_all(
        b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=",
    )
    .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = [0u8; 12];
    slow.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 408");
}

/// The open-file limit is raised to its hard limit at start (started here
/// with a soft limit of 256, below this machine's hard limit).
#[test]
fn the_open_file_limit_is_raised() {
    let s = Server::start_with_nofile(256, &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", s.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_ne!(fields[3], "256", "not raised: {line}");
    assert_eq!(fields[3], fields[4], "soft equals hard: {line}");
}
