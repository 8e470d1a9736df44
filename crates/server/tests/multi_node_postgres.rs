//! Several stateless nodes on one PostgreSQL database: codes, refresh
//! tokens and keys shared through the database only; a database outage
//! under a node.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use proofkey_core::model::ClientKind;
use proofkey_core::Clock as _;
use proofkey_pkce::CodeVerifier;

struct Cluster {
    a: TestServer,
    b: TestServer,
    db: String,
}

impl Cluster {
    async fn start() -> Cluster {
        let db = fresh_postgres_db().await;
        let url = format!("{}/{db}", pg_url());
        let a = TestServer::start_on(&url, |_| {}, None).await;
        let b = TestServer::start_on(&url, |_| {}, None).await;
        a.public_client("app", &[REDIRECT], true).await;
        a.user("alice").await;
        Cluster { a, b, db }
    }

    async fn stop(self) {
        let Cluster { a, b, db } = self;
        drop(a);
        drop(b);
        drop_postgres_db(&db).await;
    }
}

fn exchange<'a>(code: &'a str, verifier: &'a str) -> Vec<(String, String)> {
    [
        ("grant_type", "authorization_code"),
        ("client_id", "app"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

#[tokio::test]
async fn both_nodes_share_keys_from_the_database() {
    let c = Cluster::start().await;
    let jwks = |s: &TestServer| {
        let http = s.http.clone();
        let url = s.url("/jwks.json");
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(jwks(&c.a).await, jwks(&c.b).await);
    assert_eq!(jwks(&c.a).await["keys"].as_array().unwrap().len(), 3);
    c.stop().await;
}

#[tokio::test]
async fn a_code_issued_by_node_a_is_redeemed_at_node_b() {
    let c = Cluster::start().await;
    let (code, verifier) = code_for(&c.a, "app", "alice").await;
    let (status, _, body) =
        c.b.token(&[
            ("grant_type", "authorization_code"),
            ("client_id", "app"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.secret()),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    // Node A's access token works at node B's userinfo.
    let r =
        c.b.http
            .get(c.b.url("/userinfo"))
            .bearer_auth(body["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    c.stop().await;
}

#[tokio::test]
async fn sixteen_concurrent_redemptions_across_both_nodes_one_success() {
    let c = Cluster::start().await;
    let (code, verifier) = code_for(&c.a, "app", "alice").await;
    let form = exchange(&code, verifier.secret());
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let node = if i % 2 == 0 { &c.a } else { &c.b };
            let http = node.http.clone();
            let url = node.url("/token");
            let form = form.clone();
            tokio::spawn(async move {
                http.post(url)
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = vec![];
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    c.stop().await;
}

#[tokio::test]
async fn the_refresh_rotation_race_across_nodes_has_one_winner() {
    let c = Cluster::start().await;
    let body = tokens_for(&c.a, "app", "alice", "openid offline_access").await;
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let node = if i % 2 == 0 { &c.a } else { &c.b };
            let http = node.http.clone();
            let url = node.url("/token");
            let rt = rt.clone();
            tokio::spawn(async move {
                http.post(url)
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("client_id", "app"),
                        ("refresh_token", &rt),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = vec![];
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    c.stop().await;
}

#[tokio::test]
async fn a_key_rotation_is_published_by_both_nodes_then_used_then_the_old_key_retires() {
    let c = Cluster::start().await;
    let now = c.a.clock.now();
    let key =
        proofkey_core::keys::generate("ES256", "rotated-es256".into(), now, now + 600).unwrap();
    c.a.store.insert_key(&key).await.unwrap();
    let kids = |s: &TestServer| -> Vec<String> {
        s.provider.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    // The nodes' periodic reload (every 30 s in `proofkey serve`; faster
    // here) picks the key up without a restart.
    for node in [&c.a, &c.b] {
        tokio::spawn(proofkey_server::key_reloader(
            node.provider.clone(),
            Duration::from_millis(20),
        ));
    }
    for node in [&c.a, &c.b] {
        let mut seen = false;
        for _ in 0..200 {
            if kids(node).contains(&"rotated-es256".to_owned()) {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(seen, "the reloader publishes the new key before it is used");
    }
    let kid_of = |jwt: &str| jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap();
    let before = tokens_for(&c.b, "app", "alice", "openid").await;
    let old_kid = kid_of(before["access_token"].as_str().unwrap());
    assert_ne!(old_kid, "rotated-es256", "not used before activation");

    for node in [&c.a, &c.b] {
        node.clock.advance(601);
    }
    for node in [&c.a, &c.b] {
        let body = tokens_for(node, "app", "alice", "openid").await;
        assert_eq!(
            kid_of(body["access_token"].as_str().unwrap()),
            "rotated-es256"
        );
        assert!(
            kids(node).contains(&old_kid),
            "the old key stays while its tokens live"
        );
    }
    // Past the longest token lifetime (10 min) + 1 min: the old key retires.
    for node in [&c.a, &c.b] {
        node.clock.advance(661);
        assert!(!kids(node).contains(&old_kid));
    }
    c.stop().await;
}

/// A TCP proxy in front of PostgreSQL that the test can cut (connections
/// dropped, new ones closed at once: a database that is down), black-hole
/// (connections kept open, nothing forwarded either way, new ones accepted
/// and never answered: a network partition, where every query and every
/// connect waits), and restore (what was held is closed then).
struct Proxy {
    port: u16,
    mode: Arc<AtomicU8>,
    changed: tokio::sync::watch::Sender<u8>,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

const UP: u8 = 0;
const CUT: u8 = 1;
const BLACK_HOLE: u8 = 2;

impl Proxy {
    async fn start(upstream: std::net::SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(UP));
        let (changed, _) = tokio::sync::watch::channel(UP);
        let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (m, cs, ch) = (mode.clone(), conns.clone(), changed.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let mut watch = ch.subscribe();
                let task = match m.load(Ordering::SeqCst) {
                    CUT => {
                        drop(inbound);
                        continue;
                    }
                    // Held, silent, until the mode changes.
                    BLACK_HOLE => tokio::spawn(async move {
                        let _ = watch.changed().await;
                        drop(inbound);
                    }),
                    _ => tokio::spawn(async move {
                        let Ok(mut out) = tokio::net::TcpStream::connect(upstream).await else {
                            return;
                        };
                        let held = tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut out) => false,
                            _ = watch.wait_for(|m| *m != UP) => true,
                        };
                        // A partition keeps the sockets open and silent
                        // until it heals; a cut closes them.
                        if held && *watch.borrow() == BLACK_HOLE {
                            let _ = watch.changed().await;
                        }
                    }),
                };
                cs.lock().unwrap().push(task);
            }
        });
        Proxy {
            port,
            mode,
            changed,
            conns,
        }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        self.changed.send_replace(mode);
        self.conns.lock().unwrap().retain(|t| !t.is_finished());
    }
}

/// A client whose every request must be answered within `within`: a
/// request that waited for the database's acquire timeout (a minute here)
/// fails the test instead.
fn impatient(within: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(within)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Polls `/readyz` (each answer due well before the acquire timeout) until it says
/// `ready`, or gives up after `deadline`; returns the last status and body.
async fn readyz_until(node: &TestServer, ready: bool, deadline: Duration) -> (u16, String) {
    readyz_until_says(node, |status, _| (status == 200) == ready, deadline).await
}

/// Polls `/readyz` until `done(status, body)`, or gives up after `deadline`.
async fn readyz_until_says(
    node: &TestServer,
    done: impl Fn(u16, &str) -> bool,
    deadline: Duration,
) -> (u16, String) {
    // Generous against a loaded machine, and far below the acquire timeout
    // (a minute) a readiness that asked the database would wait.
    let http = impatient(Duration::from_secs(15));
    let until = std::time::Instant::now() + deadline;
    loop {
        let r = http.get(node.url("/readyz")).send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        if done(status, &body) || std::time::Instant::now() > until {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// PostgreSQL goes away under a node, twice (down, then a network
/// partition): `/readyz` turns not ready, each answer within a second, and
/// says why; every request that needs the database then fails at once
/// with 503 `temporarily_unavailable` and `Retry-After`, although the
/// acquire timeout is a minute; when the database comes back, the node
/// serves again without a restart.
#[tokio::test]
async fn the_database_goes_away_and_comes_back_under_a_node() {
    let db = fresh_postgres_db().await;
    let upstream: std::net::SocketAddr = {
        let u = url::Url::parse(&pg_url()).unwrap();
        format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(5432))
            .parse()
            .unwrap()
    };
    let proxy = Proxy::start(upstream).await;
    let user = url::Url::parse(&pg_url()).unwrap().username().to_owned();
    let via_proxy = format!("postgres://{user}@127.0.0.1:{}/{db}", proxy.port);
    let node = TestServer::start_on(
        &via_proxy,
        |c| c.database_acquire_timeout = Duration::from_secs(60),
        None,
    )
    .await;
    node.public_client("app", &[REDIRECT], true).await;
    node.user("alice").await;
    let body = tokens_for(&node, "app", "alice", "openid offline_access").await;
    let mut rt = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        readyz_until(&node, true, Duration::from_secs(5)).await.0,
        200
    );

    for (outage, mode) in [("down", CUT), ("partitioned", BLACK_HOLE)] {
        proxy.set(mode);
        // A partition is first silence ("does not answer in time"), then
        // an outage once the probe has waited twice.
        let (status, why) = readyz_until_says(
            &node,
            |_, body| body.contains("unreachable"),
            Duration::from_secs(20),
        )
        .await;
        assert_eq!(status, 503, "{outage}: {why}");
        assert!(
            why.starts_with("not ready: the database is unreachable"),
            "{outage}: {why}"
        );
        // Alive all along: a liveness probe never restarts it for this.
        let fast = impatient(Duration::from_secs(20));
        assert_eq!(
            fast.get(node.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );

        // Twenty requests at once, each answered at once.
        let refreshes = (0..20).map(|_| {
            let (fast, url, rt) = (fast.clone(), node.url("/token"), rt.clone());
            async move {
                let r = fast
                    .post(url)
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("client_id", "app"),
                        ("refresh_token", rt.as_str()),
                    ])
                    .send()
                    .await
                    .expect("answered at once, not after the acquire timeout (a minute)");
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                (
                    r.status().as_u16(),
                    retry_after,
                    r.json::<serde_json::Value>().await.unwrap(),
                )
            }
        });
        for (status, retry_after, b) in futures_join_all(refreshes).await {
            assert_eq!(
                (status, b["error"].as_str(), retry_after.as_deref()),
                (503, Some("temporarily_unavailable"), Some("5")),
                "{outage}: {b}"
            );
        }
        let page = fast
            .get(AuthRequest::new("other", &CodeVerifier::generate()).url(&node.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 503, "{outage}: the authorization page");
        assert!(page.headers().contains_key("retry-after"));

        proxy.set(UP);
        let (status, why) = readyz_until(&node, true, Duration::from_secs(10)).await;
        assert_eq!(
            status, 200,
            "{outage}: the node recovers when the database comes back: {why}"
        );
        let (status, _, b) = node
            .token(&[
                ("grant_type", "refresh_token"),
                ("client_id", "app"),
                ("refresh_token", &rt),
            ])
            .await;
        assert_eq!(status, 200, "{outage}: {b}");
        rt = b["refresh_token"].as_str().unwrap().to_owned();
    }
    drop(node);
    drop_postgres_db(&db).await;
}

/// PostgreSQL answers but refuses writes (here `default_transaction_read_only`,
/// as a standby after a failover would): token requests get 503
/// `temporarily_unavailable` with `Retry-After`, not a server error;
/// `/readyz` says writes are failing; the node refuses work until a test
/// write commits, and serves again once the database takes writes, without
/// a restart. The refresh token survives: nothing was consumed.
#[tokio::test]
async fn a_read_only_database_is_not_ready_and_comes_back() {
    let db = fresh_postgres_db().await;
    let url = format!("{}/{db}", pg_url());
    let node = TestServer::start_on(&url, |_| {}, None).await;
    node.public_client("app", &[REDIRECT], true).await;
    node.user("alice").await;
    let body = tokens_for(&node, "app", "alice", "openid offline_access").await;
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    let admin = proofkey_store::PgAdmin::connect(&pg_url()).await.unwrap();
    // New sessions read the database's default; end the old ones.
    let read_only = |on: bool| {
        format!(
            "ALTER DATABASE {db} SET default_transaction_read_only = {on}; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{db}' AND pid <> pg_backend_pid();"
        )
    };
    admin.execute(&read_only(true)).await.unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", "app"),
        ("refresh_token", rt.as_str()),
    ];
    let refresh = || node.token(&form);
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, headers, b) = refresh().await;
        if b["error"] == "temporarily_unavailable" {
            assert_eq!(status, 503, "{b}");
            assert!(headers.contains_key("retry-after"));
            break;
        }
        // A connection the test ended may answer one request with 503
        // first; never a server error, never a success.
        assert_ne!(status, 200, "a write went through a read-only database");
        assert!(std::time::Instant::now() < until, "{status} {b}");
    }
    let (status, why) = readyz_until_says(
        &node,
        |_, body| body.contains("writes are failing"),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        (status, why.as_str()),
        (503, "not ready: database writes are failing\n")
    );

    admin.execute(&read_only(false)).await.unwrap();
    let (status, why) = readyz_until(&node, true, Duration::from_secs(20)).await;
    assert_eq!(status, 200, "{why}");
    let (status, _, b) = refresh().await;
    assert_eq!(status, 200, "{b}");
    drop(admin);
    drop(node);
    drop_postgres_db(&db).await;
}

/// Runs every future at once (spawned), and returns their outputs in order.
async fn futures_join_all<F>(fs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn confidential_and_key_clients_work_across_nodes_too() {
    let c = Cluster::start().await;
    c.a.client(
        "web",
        ClientKind::Confidential,
        &[REDIRECT],
        true,
        "RS256",
        Some("web-secret"),
    )
    .await;
    let (code, verifier) = code_for(&c.a, "web", "alice").await;
    let resp =
        c.b.http
            .post(c.b.url("/token"))
            .basic_auth("web", Some("web-secret"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier.secret()),
            ])
            .send()
            .await
            .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "the secret hash key is shared through the database"
    );
    c.stop().await;
}
